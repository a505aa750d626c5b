#!/usr/bin/env bash
# CIFAR-10 at the cpu profile, redone with every setting chosen on a validation set (BENCHMARKS.md,
# section cifar10). The profile's target recipe: VGG16-BN at width 1/8, crop-flip augmentation,
# cosine learning rate per round, batch-norm statistics recomputed after training.
#   1. target steps per round: `latentlab tune` on random sampling (validation accuracy only);
#   2. SNN's alpha: `latentlab tune` with that training length;
#   3. the table: random, snn, snn-random-dir (same alpha), entropy; 3 seeds, 10 rounds,
#      200 + 9 x 200 labels, the profile's stratified 2,000-image test set, 1,000 validation items.
# Test metrics of the tuning runs are never read. Every process runs torch on one thread.
# Usage: bash benchmarks/cifar10_table.sh [OUT] [DATA_ROOT] [WORKERS] [DEVICE] [extra run flags...]
# (extra flags go to every call and win over the profile and tune.json: smoke tests shrink sizes so)
set -euo pipefail
export OMP_NUM_THREADS=1
OUT=${1:-runs/cifar10_tuned}
DATA=${2:-../shared/data}
W=${3:-2}
DEV=${4:-cpu}
shift $(( $# < 4 ? $# : 4 ))
LL=${LATENTLAB:-latentlab}
STEPS_GRID=${STEPS_GRID:-150,300,600}
ALPHA_GRID=${ALPHA_GRID:-0.1,0.2,0.5}
common=(--dataset cifar10 --data-root "$DATA" --profile cpu --val 1000 --workers "$W" --device "$DEV" --quiet)
uptime
$LL tune "${common[@]}" --strategy random --seeds 0,1 --rounds 4 --grid "min_steps=$STEPS_GRID" \
  --out "$OUT/tune-training" "$@"
steps=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['choice']['loop.train.min_steps'])" \
  "$OUT/tune-training/tune.json")
echo "chosen min steps per round: $steps"
$LL tune "${common[@]}" --strategy snn --seeds 0,1 --rounds 4 --min-steps "$steps" \
  --grid "alpha=$ALPHA_GRID" --out "$OUT/tune-snn" "$@"
$LL run "${common[@]}" --resume --strategy random,snn,snn-random-dir,entropy --seeds 0,1,2 \
  --min-steps "$steps" --config "$OUT/tune-snn/tune.json" --out "$OUT/table" "$@"
$LL compare "$OUT/table"
if [ "${LATENT16:-0}" = 1 ]; then  # the documented option: the same protocol with a 16-D latent
  $LL run "${common[@]}" --resume --strategy random,snn --seeds 0,1,2 --latent-dim 16 \
    --min-steps "$steps" --config "$OUT/tune-snn/tune.json" --out "$OUT/table-d16" "$@"
fi
uptime
