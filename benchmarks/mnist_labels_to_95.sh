#!/usr/bin/env bash
# Benchmark (b) of BENCHMARKS.md: labels needed to reach 95% MNIST test accuracy, 100-label steps.
# Each run stops at the first round whose test accuracy reaches 95% (or at 2,000 labels).
# Usage: bash benchmarks/mnist_labels_to_95.sh [OUT] [DATA_ROOT]
set -euo pipefail
OUT=${1:-runs/mnist_to95}
DATA=${2:-../shared/data}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec latentlab run --dataset mnist --data-root "$DATA" --strategy random,snn,entropy \
  --rounds 20 --initial 100 --per-round 100 --seeds 0,1,2 --alpha 0.2 --epochs 10 --min-steps 300 \
  --target-metric 95 --budget 2000 --candidates 10000 --out "$OUT" --resume --quiet
