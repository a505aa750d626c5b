#!/usr/bin/env bash
# MNIST under the BatchBALD protocol (BENCHMARKS.md, section mnist-batchbald): 20 class-balanced
# initial labels, acquisition size 10, up to 300 labels (29 rounds), 5 seeds; every strategy of a seed
# starts from the same 20 items; the peer library's BALD (baal, strategy baal-bald) runs in the same
# results.csv as latentlab's strategies, so one code computes the paired differences.
# Target recipe for every strategy alike: LeNet with dropout (MC dropout for BALD/BatchBALD), seeded
# shift-rotate augmentation, cosine rate per round; training length and warm/cold start chosen by
# `latentlab tune` on 1,000 validation items (random sampling), never on test.
# Latent strategies use the VAE and alpha 0.1 / loss on the real x chosen on validation for Table 1
# (benchmarks/results/mnist_tuned/tune-snn/tune.json).
# Usage: bash benchmarks/mnist_batchbald_protocol.sh [OUT] [DATA_ROOT] [WORKERS] [DEVICE] [extra flags...]
set -euo pipefail
export OMP_NUM_THREADS=1
OUT=${1:-runs/mnist_batchbald}
DATA=${2:-../shared/data}
W=${3:-2}
DEV=${4:-cpu}
shift $(( $# < 4 ? $# : 4 ))
LL=${LATENTLAB:-latentlab}
STRATEGIES=${STRATEGIES:-random,entropy,margin,least-confidence,bald,batchbald,coreset,badge,baal-bald,snn,snn-hard,uncertainty-ascent,diverse-entropy}
STEPS_GRID=${STEPS_GRID:-250,500,1000}
ROUNDS=${ROUNDS:-29}
common=(--dataset mnist --data-root "$DATA" --target lenet-dropout --augment shift-rotate --schedule cosine
        --balanced-initial --initial 20 --per-round 10 --val 1000 --candidates 10000 --mc-samples 20
        --epochs 10 --gen-epochs 30 --alpha 0.1 --loss-on real --workers "$W" --device "$DEV" --quiet)
uptime
$LL tune "${common[@]}" --strategy random --seeds 0,1,2 --rounds 8 \
  --grid "min_steps=$STEPS_GRID" warm_start=true,false --out "$OUT/tune-training" "$@"
$LL run "${common[@]}" --resume --strategy "$STRATEGIES" --seeds 0,1,2,3,4 --rounds "$ROUNDS" \
  --config "$OUT/tune-training/tune.json" --out "$OUT/protocol" "$@"
$LL compare "$OUT/protocol"
uptime
