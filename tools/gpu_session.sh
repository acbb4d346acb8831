#!/usr/bin/env bash
# The whole device session as one call of the device tool (docs/benchmarks.md, "GPU"):
#   run: bash tools/gpu_session.sh     carry: [".whl"]     timeout_s: 590
# Installs the wheels the device image lacks (fetched into .whl/ by
# tools/fetch_device_wheels.sh), runs the GPU-marked tests, times the capture ops at
# 224 px and batch 256, then runs benchmarks.gpu with what is left of the call's time.
# Everything it prints and measures lands in $OUT.
set -u -o pipefail
out=${OUT:?OUT names the folder whose files come back}
deadline=${DEADLINE_S:-570}  # seconds after the start by which everything has finished
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    nproc
    timeout 120 python3 -m pytest -q -m gpu -p no:cacheprovider tests/training/test_models.py \
        tests/training/test_augment.py tests/training/test_metrics.py \
        tests/training/test_capture.py
} 2>&1 | tee "$out/gpu-tests.txt"
timeout 120 python3 -m benchmarks.augment_ops --device cuda --sizes 224 --batch 256 --reps 10 \
    2>&1 | tee "$out/augment-ops.md"
timeout $((deadline - SECONDS)) python3 -m benchmarks.gpu --out "$out/gpu" \
    --train-minutes "${TRAIN_MINUTES:-2}" 2>&1 | tee "$out/gpu.log"
