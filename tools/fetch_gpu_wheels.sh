#!/usr/bin/env bash
# Download, here (where pip reaches the registry), the wheels the GPU machine's Python 3.12 lacks
# for tools/gpu_train.sh, into .whl/ (ignored by git; name it in the device call's carry).
# The machine's image has torch, numpy, scipy, pillow, tifffile, tqdm, onnx and onnxruntime
# (/work/.library/device/KINDS.md); training and the bank renderers also need ASE.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "ase==3.29.0"
ls -la .whl
