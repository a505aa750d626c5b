#!/usr/bin/env bash
# Same seed, same results.csv? Small runs of every pool-scoring strategy whose hashes are compared
# before and after a change to the inference path (issue 22, item 2).
# Usage: bash benchmarks/results_identity.sh LABEL [DATA_ROOT]   -> benchmarks/results/perf/identity/LABEL.txt
# Compare two labels: diff benchmarks/results/perf/identity/{before,after}.txt
# Extra environment (e.g. LATENTLAB_FAST_INFERENCE=0) is passed through to latentlab.
set -euo pipefail
LABEL=${1:?label, e.g. before or after}
DATA=${2:-../shared/data}
export OMP_NUM_THREADS=1
OUTDIR=benchmarks/results/perf/identity
TMP=$(mktemp -d)
LL=${LL:-.venv/bin/latentlab}
mkdir -p "$OUTDIR"
common=(--rounds 4 --initial 50 --per-round 50 --seeds 0,1 --quiet --gen-epochs 30 --gen-min-steps 3000)
$LL run --dataset digits --strategy random,snn,entropy,margin,least-confidence,coreset,badge,uncertainty-ascent,diverse-entropy \
  "${common[@]}" --out "$TMP/digits" >/dev/null
$LL run --dataset digits --target lenet-dropout --strategy bald,batchbald --mc-samples 10 "${common[@]}" \
  --out "$TMP/digits-mc" >/dev/null
if [ -d "$DATA/mnist" ]; then
  $LL run --dataset mnist --data-root "$DATA" --n-pool 6000 --n-test 2000 --strategy random,snn,entropy \
    --rounds 3 --initial 100 --per-round 100 --seeds 0 --quiet --gen-epochs 30 --gen-min-steps 3000 \
    --out "$TMP/mnist" >/dev/null
fi
{
  echo "# $LABEL $(date -Iseconds) $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg)"
  for f in "$TMP"/*/results.csv; do echo "$(sha256sum "$f" | cut -c1-16)  $(basename "$(dirname "$f")")/results.csv"; done
} | tee "$OUTDIR/$LABEL.txt"
for f in "$TMP"/*/results.csv; do cp "$f" "$OUTDIR/$LABEL-$(basename "$(dirname "$f")").csv"; done
rm -rf "$TMP"
