#!/usr/bin/env bash
# CIFAR-10, cpu profile: random vs snn vs entropy, 3 seeds, 10 rounds (BENCHMARKS.md, cifar10 section).
#
# One process per seed, in parallel, each on one thread: on a 2-core machine shared with other jobs,
# torch's 2-thread kernels spin against each other (measured: alpha-GAN step 0.76 s with 1 thread vs
# 2-17 s with 2 threads at load 10-15). The per-seed folders are merged into one results.csv /
# summary.md / learning_curves.png by benchmarks/merge_runs.py. Resumable: rerun continues.
# The first call trains the alpha-GAN (or loads it from ~/.cache/latentlab); run it once alone first
# (SEEDS=0) so that the three processes do not train it three times.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/work/bench/cifar10_cpu}
DATA=${DATA:-../shared/data}
SEEDS=${SEEDS:-"0 1 2"}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
uptime
for s in $SEEDS; do
  nice -n 10 .venv/bin/latentlab run --dataset cifar10 --data-root "$DATA" --profile cpu \
      --strategy random,snn,entropy --seeds "$s" --out "$OUT/seed$s" --resume --quiet "$@" \
      > "$OUT.seed$s.log" 2>&1 &
done
wait
uptime
.venv/bin/python benchmarks/merge_runs.py "$OUT" "$OUT"/seed*
