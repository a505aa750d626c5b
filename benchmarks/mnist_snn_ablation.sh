#!/usr/bin/env bash
# SNN ablation on MNIST (BENCHMARKS.md): step length alpha and where the loss is evaluated.
# Same protocol as mnist_table1.sh (300 + 300 per round, LeNet, warm start), 4 rounds, seeds 0-2;
# compare with the random row of mnist_table1 (same seeds => same initial sets and weights).
# Usage: bash benchmarks/mnist_snn_ablation.sh [OUT_PREFIX] [DATA_ROOT]
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
OUT=${1:-runs/mnist_ablation}
DATA=${2:-../shared/data}
common=(--dataset mnist --data-root "$DATA" --strategy snn --rounds 4 --initial 300 --per-round 300
        --seeds 0,1,2 --epochs 10 --min-steps 300 --gen-epochs 30 --resume --quiet)
latentlab run "${common[@]}" --alpha 0.1 --out "$OUT/alpha0.1"
latentlab run "${common[@]}" --alpha 0.5 --out "$OUT/alpha0.5"
latentlab run "${common[@]}" --alpha 0.2 --loss-on real --out "$OUT/real-alpha0.2"
