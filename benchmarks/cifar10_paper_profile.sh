#!/usr/bin/env bash
# CIFAR-10 at the paper profile (Tables S1-S4, S8; Section 4.2): full VGG16-BN, the 64-channel
# alpha-GAN, the 50,000-image pool and the 10,000-image test set, 1,000 + 1,000 labels per round,
# on a GPU. Rounds and generator epochs are reduced (ROUNDS, GEN_EPOCHS) to fit a lent machine's
# ~10 minutes; the numbers say so. Then the generator-quality table of the trained alpha-GAN.
# Usage: bash benchmarks/cifar10_paper_profile.sh [OUT] [DATA_ROOT] [WORKERS] [DEVICE] [extra run flags...]
set -euo pipefail
export OMP_NUM_THREADS=1
OUT=${1:-runs/cifar10_paper}
DATA=${2:-../shared/data}
W=${3:-4}
DEV=${4:-cuda}
shift $(( $# < 4 ? $# : 4 ))
LL=${LATENTLAB:-latentlab}
PY=${PYTHON:-python}
ROUNDS=${ROUNDS:-6}
GEN_EPOCHS=${GEN_EPOCHS:-10}
ALPHA=${ALPHA:-0.2}
uptime
$LL run --dataset cifar10 --data-root "$DATA" --profile paper --strategy random,snn,snn-random-dir,entropy \
  --seeds 0 --rounds "$ROUNDS" --gen-epochs "$GEN_EPOCHS" --alpha "$ALPHA" --workers "$W" \
  --device "$DEV" --resume --quiet --out "$OUT/table" "$@"
if [ -f benchmarks/generator_quality.py ]; then
  $PY benchmarks/generator_quality.py --profile paper --device "$DEV" --gen-epochs "$GEN_EPOCHS" \
    --data-root "$DATA" --out "$OUT/generator" || echo "generator quality failed"
fi
uptime
