#!/usr/bin/env bash
# Benchmark (a)+(b) of BENCHMARKS.md: MNIST Table 1, LeNet, 10 rounds x 5 seeds, random vs snn vs entropy.
# 300 initial + 300 per round: chosen so the random row starts where the paper's does (91.0 at t=1).
# Usage: bash benchmarks/mnist_table1.sh [OUT] [DATA_ROOT]
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # one thread: the published numbers used it (threads change the last digits)
OUT=${1:-runs/mnist_table1}
DATA=${2:-../shared/data}
exec latentlab run --dataset mnist --data-root "$DATA" --strategy random,snn,entropy,snn-random-dir \
  --rounds 10 --initial 300 --per-round 300 --seeds 0,1,2,3,4 --alpha 0.2 --epochs 10 --min-steps 300 \
  --gen-epochs 30 --out "$OUT" --resume --quiet
