#!/usr/bin/env bash
# The GPU study of issue 22 as one script: CIFAR-10 (the JPEG copy, or
# torchvision's CIFAR-10 with DATASET=cifar10), ResNet-18 with and without
# batch norm, B's default arms (docs/DEFINITIONS.md 9; L2 penalty and
# decoupled, dropout before the classifier and in the conv stack), the study
# preset's 10 seeds, the function-level measures on (input-gradient spectrum
# every epoch: Config.input_grad_images), then C on each B run. Each run
# folder holds its report.html with the verdict table. Run from the
# repository root on the GPU machine:
#
#   bash benchmarks/gpu_study.sh OUT_DIR [DATA_ROOT]
#
# Not yet measured: no GPU was at hand when it was written. Its CPU-shrunk
# form (same commands, --quick, 2 seeds, the small CNN) checks the script
# itself and runs on a 2-core CPU in minutes:
#
#   CPU=1 bash benchmarks/gpu_study.sh /tmp/gpu_study_cpu
#
# Sizes: 2 norms x 5 arms x 10 seeds x 50 epochs of ResNet-18 on 50,000
# images, 4 jobs per GPU. NOBN_LR (default 0.05) is the learning rate of the
# no-batch-norm network: without normalisation the batch-norm preset's 0.2
# is too large for a network whose residual branches start at zero (Fixup).
set -euo pipefail
out=${1:?usage: bash benchmarks/gpu_study.sh OUT_DIR [DATA_ROOT]}
data_root=${2:-}
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
mkdir -p "$out"

if [ "${CPU:-0}" = 1 ]; then
  run=(--device cpu --quick --seeds 2 --workers 1)
  model=${MODEL:-small_cnn}
else
  run=(--device cuda --preset study --jobs-per-gpu 4)
  model=${MODEL:-resnet18}
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
fi
data=()
if [ -n "$data_root" ]; then
  data=(--dataset "${DATASET:-cifar10-jpeg}" --data-root "$data_root")
elif [ "${CPU:-0}" = 1 ]; then
  data=(--dataset synthetic)
fi

for norm in batch none; do
  dir="$out/${model}_${norm}"
  lr=()
  [ "$norm" = none ] && lr=(--set "lr=${NOBN_LR:-0.05}")
  echo "== B: $model, norm=$norm -> $dir"
  SECONDS=0
  $py main.py --experiment b "${run[@]}" "${data[@]}" --set "model=$model" --set "norm=$norm" \
    "${lr[@]}" --progress off --out "$dir" 2>&1 | tee "$dir.b.log" | tail -n 40
  echo "B wall time: $SECONDS s"
  b_run=$(ls -dt "$dir"/*/ | head -n 1)
  echo "== C on $b_run"
  SECONDS=0
  $py main.py --experiment c "${run[@]}" --from-run "$b_run" --progress off --out "$dir" 2>&1 \
    | tee "$dir.c.log" | tail -n 30
  echo "C wall time: $SECONDS s"
done
echo "== verdict tables: $out/*/*/report.html"
