#!/usr/bin/env bash
# Benchmark of BENCHMARKS.md (fem section): IVUS-like Table 1 row, random vs SI, 5 seeds, FEM labels.
# Target: Table S6 net ("s6"); generator: the MLP VAE of Tables S11/S12 (latent 2, the paper's text).
# Sizes fit ~30 min on a shared, heavily loaded 2-core machine: 10 initial + 10 per round, 5 rounds, 5 seeds.
# FEM labels are cached by mask content ($LATENTLAB_CACHE/labels/fem-*), so a rerun solves nothing twice;
# LATENTLAB_LABEL_WORKERS processes label each batch; torch runs single-threaded (OMP_NUM_THREADS=1).
# Usage: bash benchmarks/vessels_table.sh [OUT] [SEEDS]
set -euo pipefail
OUT=${1:-runs/vessels_table}
SEEDS=${2:-0,1,2,3,4}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} LATENTLAB_LABEL_WORKERS=${LATENTLAB_LABEL_WORKERS:-2}
exec nice -n 10 latentlab run --dataset vessels --strategy random,si --target s6 \
  --rounds 5 --initial 10 --per-round 10 --seeds "$SEEDS" --alpha 0.2 \
  --epochs 10 --min-steps 60 --batch-size 32 --lr 1e-3 \
  --gen-epochs 30 --gen-min-steps 1500 --latent-dim 2 --out "$OUT" --resume --quiet
