#!/usr/bin/env bash
# One call of the lent GPU machine (the device tool): three benchmark jobs side by side on one GPU and
# 16 cores, each with its own deadline, results copied to $OUT as they appear (run folders stay in
# /tmp: checkpoints are large). MODE=smoke runs every job at tiny sizes (~1-2 min) to check the set-up;
# MODE=full runs the real sizes. Needs .devdata/ (MNIST IDX + the CIFAR-10 JPEG tar) and .whl/
# (wheels the device image lacks) carried along.
# Usage: bash benchmarks/gpu_session.sh smoke|full [SECONDS]
set -u
MODE=${1:-smoke}
LIMIT=${2:-500}
R=$PWD
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
export PYTHONPATH=$R LATENTLAB_CACHE=/tmp/llcache OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
export LATENTLAB="python -m latentlab" PYTHON=python
RUNS=/tmp/gpu_runs
DATA=$R/.devdata
python -m pip install -q --no-deps .whl/*.whl > "$OUT/pip.log" 2>&1
{ date -u; nvidia-smi -L; nproc; python -c "import torch, sys; print(sys.version, torch.__version__, torch.cuda.get_device_name(0))"; } > "$OUT/machine.txt" 2>&1
python benchmarks/gpu_probe.py > "$OUT/probe.txt" 2>&1 || true
DEADLINE=$((LIMIT - 45))
if [ "$MODE" = smoke ]; then
  DEADLINE=$((LIMIT - 20))
  C_EXTRA=(--n-pool 600 --n-test 200 --val 100 --gen-epochs 1 --rounds 2 --initial 20 --per-round 20)
  M_EXTRA=(--n-pool 1000 --n-test 300 --val 100 --gen-epochs 1 --candidates 300 --rounds 2)
  P_EXTRA=(--n-pool 1000 --n-test 300 --val 100 --rounds 2 --initial 50 --per-round 50 --min-steps 10)
  export STEPS_GRID=5,10 ALPHA_GRID=0.1,0.2 GEN_EPOCHS=1 ROUNDS=2 LATENT16=1
else
  C_EXTRA=() M_EXTRA=() P_EXTRA=()
  export GEN_EPOCHS=${GEN_EPOCHS:-3} LATENT16=1
fi
collect() {  # small result files only, in one archive (the device tool returns few, shallow files)
  tar czf "$OUT/results.tgz.tmp" -C "$RUNS" --exclude='*.pt' --exclude='*.npz' --exclude='*.lock' . 2>/dev/null \
    && mv "$OUT/results.tgz.tmp" "$OUT/results.tgz"
}
mkdir -p "$RUNS"
if [ "$MODE" = smoke ]; then MSTEPS=5,10 PROUNDS=2; else MSTEPS=250,500 PROUNDS=10; fi
( timeout "$DEADLINE" bash benchmarks/cifar10_table.sh "$RUNS/cifar_cpu" "$DATA" 4 cuda "${C_EXTRA[@]}" ) > "$OUT/cifar_cpu.log" 2>&1 &
( STEPS_GRID=$MSTEPS timeout "$DEADLINE" bash benchmarks/mnist_batchbald_protocol.sh "$RUNS/mnist_bb" "$DATA" 10 cuda "${M_EXTRA[@]}" ) > "$OUT/mnist_bb.log" 2>&1 &
( ROUNDS=$PROUNDS timeout "$DEADLINE" bash benchmarks/cifar10_paper_profile.sh "$RUNS/cifar_paper" "$DATA" 2 cuda "${P_EXTRA[@]}" ) > "$OUT/cifar_paper.log" 2>&1 &
( while sleep 20; do collect; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader >> "$OUT/gpu_util.txt"; uptime >> "$OUT/load.txt"; done ) &
COPIER=$!
wait %1 %2 %3
kill $COPIER 2>/dev/null
collect
date -u >> "$OUT/machine.txt"
ls -la "$OUT"; tar tzf "$OUT/results.tgz" | wc -l
for f in "$OUT"/*.log; do echo "== $f"; tail -n 5 "$f"; done
