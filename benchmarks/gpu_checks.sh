#!/usr/bin/env bash
# Every GPU check the project has, as one script that fits in about 10 minutes
# on one H100/H200: the CUDA tests, benchmark 6 (ResNet-18 engine vs bare
# loop vs the card's bf16 matmul), experiment B's gpu preset for a few
# epochs on all four arms, and N concurrent B jobs on the GPU against one
# alone (benchmark 9). Run from the repository root on the GPU machine:
#
#   bash benchmarks/gpu_checks.sh OUT_DIR [DATA_ROOT]
#
# FULL=1 adds the whole GPU preset of B plus C (4 arms x 3 seeds x 50 epochs,
# then C) as one command with 4 jobs per GPU, and its wall time (target:
# under 8 minutes on one H100/H200); it does not fit the 10 minutes with the
# rest, so run it on its own: FULL=1 ONLY_FULL=1 bash benchmarks/gpu_checks.sh OUT
#
# The study itself (ResNet-18 with and without batch norm, B's default arms,
# 10 seeds, function-level measures, then C) is benchmarks/gpu_study.sh.
#
# DATA_ROOT is passed to --data-root for B (the folder of the JPEG copy of
# CIFAR-10, or a torchvision CIFAR-10 root); without it B uses the default
# dataset choice. Logs and JSON land in OUT_DIR.
set -u
out=${1:?usage: bash benchmarks/gpu_checks.sh OUT_DIR [DATA_ROOT]}
data_root=${2:-}
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
mkdir -p "$out"

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
$py -c "import torch, torchvision, numpy; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'numpy', numpy.__version__, 'cuda', torch.version.cuda)"

full_preset() {
  echo "== 6. the whole GPU preset, B + C, one command each, 4 jobs per GPU"
  SECONDS=0; timeout 590 $py main.py --experiment b --device cuda --jobs-per-gpu 4 \
    --progress off --out /tmp/gpu_full "${data_flags[@]}" 2>&1 | tail -n 30
  echo "full GPU preset B: $SECONDS s"
  timeout 300 $py main.py --experiment c --device cuda --jobs-per-gpu 4 --progress off \
    --out /tmp/gpu_full 2>&1 | tail -n 20
  echo "full GPU preset B + C: $SECONDS s"
}
data_flags=()
[ -n "$data_root" ] && data_flags=(--dataset cifar10-jpeg --data-root "$data_root")
if [ "${ONLY_FULL:-0}" = 1 ]; then full_preset; exit 0; fi

echo "== 1. CUDA tests"
timeout 90 $py -m pytest -q -p no:cacheprovider -k cuda \
  tests/test_filters.py tests/test_noise.py tests/test_spectrum.py tests/test_training.py \
  tests/test_report.py tests/test_exp_a.py 2>&1 | tail -n 15

echo "== 2. bench_gpu, eager"
timeout 100 $py benchmarks/bench_gpu.py --no-compile --epochs 1 --repeats 3 \
  --out "$out" 2>&1 | tee "$out/bench_gpu_eager.log"

echo "== 3. experiment B, gpu preset, 3 epochs, 4 arms, seed 0"
SECONDS=0; timeout 180 $py main.py --experiment b --device cuda --epochs 3 --seeds 1 \
  "${data_flags[@]}" --out /tmp/gpu_runs 2>&1 | tee "$out/exp_b_gpu.log" | tail -n 60
echo "experiment B wall time: $SECONDS s"
run=$(ls -d /tmp/gpu_runs/*/ 2>/dev/null | tail -n 1)
[ -n "$run" ] && cp "$run/summary.json" "$out/exp_b_gpu_summary.json" 2>/dev/null
[ -n "$run" ] && cp "$run/metrics.jsonl" "$out/exp_b_gpu_metrics.jsonl" 2>/dev/null

echo "== 4. bench_gpu with torch.compile (compile time reported apart)"
timeout 170 $py benchmarks/bench_gpu.py --epochs 1 --repeats 2 --budget-s 140 \
  --out /tmp/bench_compiled 2>&1 | tee "$out/bench_gpu_compiled.log"
cp /tmp/bench_compiled/bench_gpu.json "$out/bench_gpu_compiled.json" 2>/dev/null
echo "== 5. N concurrent B jobs per GPU vs one alone (benchmark 9; ResNet-18, 2 epochs)"
timeout 240 $py benchmarks/bench_contention.py --jobs 1,2,4 --device cuda --epochs 2 \
  2>&1 | tee "$out/bench_contention_jobs.log" | grep -v "^  \[exp B\]" | tail -n 12

[ "${FULL:-0}" = 1 ] && full_preset
echo "== done"
