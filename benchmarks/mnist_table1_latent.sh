#!/usr/bin/env bash
# Table-1 protocol rows for the latent strategies beyond the paper (BENCHMARKS.md, section
# mnist-latent): 300 + 300 per round, rounds t = 1..5 (the t = 2..5), 3 seeds, the settings
# chosen on validation for the MNIST Table 1 (600 steps per round, alpha 0.1, loss on the real x;
# benchmarks/results/mnist_tuned), entropy and random in the same run. Every scoring strategy
# scores the same seeded 10,000-item candidate subset size.
# Usage: bash benchmarks/mnist_table1_latent.sh [OUT] [DATA_ROOT] [WORKERS] [DEVICE]
set -euo pipefail
export OMP_NUM_THREADS=1
OUT=${1:-runs/mnist_latent}
DATA=${2:-../shared/data}
W=${3:-2}
DEV=${4:-cpu}
LL=${LATENTLAB:-latentlab}
uptime
$LL run --dataset mnist --data-root "$DATA" --initial 300 --per-round 300 --rounds 5 --val 1000 --epochs 10 \
  --min-steps 600 --alpha 0.1 --loss-on real --gen-epochs 30 --candidates 10000 --seeds 0,1,2 \
  --strategy random,entropy,snn,snn-hard,uncertainty-ascent,diverse-entropy,latent-coreset \
  --workers "$W" --device "$DEV" --resume --quiet --out "$OUT"
$LL compare "$OUT" --baseline entropy
uptime
