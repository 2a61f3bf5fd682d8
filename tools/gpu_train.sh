#!/usr/bin/env bash
# One prepared command for a lent GPU machine (docs/models.md, "A GPU lease"):
#   tools/gpu_train.sh --tags hrstem lrstem hrsem lrsem --minutes 9 --out "$OUT" [--init-from-shipped]
# Installs what the machine lacks from wheels carried in .whl/ (tools/fetch_gpu_wheels.sh makes
# them here), then runs python -m emrestore.training.lease with the arguments given.
# Dry run on a CPU: tools/gpu_train.sh --device cpu --preset tiny --minutes 1 --out /tmp/lease ...
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c "import ase, tqdm, tifffile, PIL, scipy, torch" 2>/dev/null; then
    if compgen -G ".whl/*.whl" >/dev/null; then
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/emrestore-site .whl/*.whl
        export PYTHONPATH="/tmp/emrestore-site${PYTHONPATH:+:$PYTHONPATH}"
    else
        echo "gpu_train.sh: a package is missing and no wheels are in .whl/ (run tools/fetch_gpu_wheels.sh here first)" >&2
        exit 2
    fi
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
exec "$PYTHON" -m emrestore.training.lease "$@"
