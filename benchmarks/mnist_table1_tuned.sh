#!/usr/bin/env bash
# MNIST Table 1, rerun honestly (BENCHMARKS.md): every setting chosen on a validation set.
#   1. target-training length (min steps per round) chosen by `latentlab tune` on random sampling;
#   2. SNN's alpha and loss-on chosen by `latentlab tune` with that training length;
#   3. Table 1: random, snn, snn-random-dir (same alpha), entropy; 300 + 300 per round, 10 rounds,
#      5 seeds, the full 10,000-image test set, 1,000 validation items held out of the pool.
# The test metric of the tuning runs is never read. Every run uses one torch thread per process.
# Usage: bash benchmarks/mnist_table1_tuned.sh [OUT] [DATA_ROOT] [WORKERS]
set -euo pipefail
export OMP_NUM_THREADS=1
OUT=${1:-runs/mnist_tuned}
DATA=${2:-../shared/data}
W=${3:-2}
LL=${LATENTLAB:-latentlab}
common=(--dataset mnist --data-root "$DATA" --initial 300 --per-round 300 --val 1000 --epochs 10
        --gen-epochs 30 --workers "$W" --quiet)
$LL tune "${common[@]}" --strategy random --seeds 0,1,2 --rounds 3 --grid min_steps=150,300,600 \
  --out "$OUT/tune-training"
steps=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['choice']['loop.train.min_steps'])" \
  "$OUT/tune-training/tune.json")
echo "chosen min steps per round: $steps"
$LL tune "${common[@]}" --strategy snn --seeds 0,1,2 --rounds 3 --min-steps "$steps" \
  --grid alpha=0.1,0.2,0.5,1.0 loss_on=decoded,real --out "$OUT/tune-snn"
$LL run "${common[@]}" --resume --strategy random,snn,snn-random-dir,entropy --seeds 0,1,2,3,4 --rounds 10 \
  --min-steps "$steps" --config "$OUT/tune-snn/tune.json" --out "$OUT/table1"
$LL compare "$OUT/table1"
