#!/usr/bin/env bash
# `make gpu-wheels`: download here the wheels the offline GPU check needs (scripts/gpu_requirements.txt, CPython 3.12,
# manylinux x86-64) into DEST (default gpu_wheels/, git-ignored), build deepspeed's pure-Python wheel, and refuse a
# folder over 64 MiB (what can travel with the repository to the GPU machine).
#   bash scripts/gpu_wheels.sh [DEST]
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-gpu_wheels}
DEEPSPEED=deepspeed==0.19.8
LIMIT=$((64 * 1024 * 1024))
PY=${PYTHON:-.venv/bin/python}  # any Python with torch, setuptools and wheel: builds deepspeed's wheel (no ops)
rm -rf "$DEST"; mkdir -p "$DEST"
TARGET=(--only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 --platform manylinux_2_28_x86_64
        --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
        --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 --platform any)
$PY -m pip download -q --no-deps "${TARGET[@]}" -d "$DEST" -r scripts/gpu_requirements.txt
SDIST=$(mktemp -d)
$PY -m pip download -q --no-deps --no-binary deepspeed "$DEEPSPEED" -d "$SDIST"
DS_BUILD_OPS=0 $PY -m pip wheel -q --no-deps --no-build-isolation "$SDIST"/deepspeed-*.tar.gz -w "$DEST"
rm -rf "$SDIST"
SIZE=$(du -cb "$DEST"/*.whl | tail -1 | cut -f1)
echo "$DEST: $(ls "$DEST" | wc -l) wheels, $SIZE bytes ($((SIZE / 1024 / 1024)) MiB; limit 64 MiB)"
if (( SIZE > LIMIT )); then echo "error: $DEST is over 64 MiB" >&2; exit 1; fi
