#!/usr/bin/env bash
# Benchmark of BENCHMARKS.md (notebooks): wall time of an MNIST Table-1 sweep through `latentlab sweep`
# with 1 worker and with 2 workers, same grid, and a check that both give identical numbers.
# Usage: bash benchmarks/bench_sweep.sh [GRID] [OUT]
#   GRID defaults to the reduced notebooks/grids/mnist_bench.yaml (2 seeds x 3 strategies x 3 rounds);
#   pass notebooks/grids/mnist_table1.yaml for the full table (5 seeds x 3 strategies x 10 rounds).
# Uses the generator cache (~/.cache/latentlab or $LATENTLAB_CACHE): train the VAE once beforehand
# (any `latentlab run --dataset mnist ...` with the default generator settings) so both timings exclude it.
set -euo pipefail
GRID=${1:-notebooks/grids/mnist_bench.yaml}
OUT=${2:-runs/bench_sweep}
LL=${LATENTLAB:-latentlab}
rm -rf "$OUT/w1" "$OUT/w2"
mkdir -p "$OUT"
for w in 1 2; do
  t0=$(date +%s.%N)
  $LL sweep notebooks/01_mnist.ipynb --grid "$GRID" --out "$OUT/w$w" --workers $w --quiet > "$OUT/w$w.log" 2>&1
  t1=$(date +%s.%N)
  echo "workers=$w wall_s=$(python3 -c "print(round($t1-$t0,1))") grid=$GRID load=$(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/timings.txt"
done
if cmp -s "$OUT/w1/results.csv" "$OUT/w2/results.csv"; then echo "results.csv identical for 1 and 2 workers" | tee -a "$OUT/timings.txt";
else echo "results.csv DIFFER between 1 and 2 workers" | tee -a "$OUT/timings.txt"; fi
