"""Building the command line imports no heavy library: every command starts quickly.

Checked by what is imported, not by timing (a loaded machine cannot fail it): PyTorch
(seconds), the evaluation package (scipy.ndimage, about a second), napari, Dask and HyperSpy
(optional extras: on a core install an import at parser time would break every command) are
imported only by the commands that use them, when they run.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "emrestore.evaluation", "napari", "PyQt6", "dask", "distributed", "hyperspy",
         "matplotlib.pyplot", "skimage", "flask")


def test_building_the_parser_imports_no_heavy_library():
    code = (
        "import json, sys\n"
        "import emrestore.cli as cli\n"
        "cli.build_parser()\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
