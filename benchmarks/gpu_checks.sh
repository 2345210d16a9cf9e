#!/usr/bin/env bash
# Every GPU check the project has, as one script that fits in about 8 minutes
# on one H100/H200: the CUDA tests, benchmark 6 (ResNet-18 engine vs bare
# loop vs the card's bf16 matmul), and experiment B's gpu preset for a few
# epochs on all four arms. Run from the repository root on the GPU machine:
#
#   bash benchmarks/gpu_checks.sh OUT_DIR [DATA_ROOT]
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

echo "== 1. CUDA tests"
timeout 90 $py -m pytest -q -p no:cacheprovider -k cuda \
  tests/test_filters.py tests/test_noise.py tests/test_spectrum.py tests/test_training.py \
  tests/test_report.py tests/test_exp_a.py 2>&1 | tail -n 15

echo "== 2. bench_gpu, eager"
timeout 100 $py benchmarks/bench_gpu.py --no-compile --epochs 1 --repeats 3 \
  --out "$out" 2>&1 | tee "$out/bench_gpu_eager.log"

echo "== 3. experiment B, gpu preset, 3 epochs, 4 arms, seed 0"
data_flags=()
[ -n "$data_root" ] && data_flags=(--dataset cifar10-jpeg --data-root "$data_root")
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
echo "== done"
