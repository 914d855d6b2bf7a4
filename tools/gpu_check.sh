#!/usr/bin/env bash
# The GPU run in one command, for a machine with an NVIDIA GPU and torch but no network (see shared/GPU.md).
# Here, once:  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#                --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#                -d .whl array-api-compat
# There (carry .whl):  bash tools/gpu_check.sh     -> $OUT/gpu-tests.txt, $OUT/gpu-bench.txt, $OUT/gpu.json
set -uo pipefail
OUT=${OUT:-/tmp/nnnotes-gpu}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi -L
python3 -m pytest -q -m gpu -p no:cacheprovider tests 2>&1 | tee "$OUT/gpu-tests.txt"
python3 -m nnnotes.cli verify --device cuda 2>&1 | tee "$OUT/gpu-verify.txt"
python3 -m nnnotes.cli bench --device cuda --json "$OUT/gpu.json" 2>&1 | tee "$OUT/gpu-bench.txt"
