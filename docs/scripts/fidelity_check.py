"""Fidelity check of the fast HR-TEM / HR-STEM paths against abTEM multislice (needs abTEM).

Usage::

    PYTHONPATH=src python docs/scripts/fidelity_check.py [--stem]

Prints a Markdown table (see docs/ground-truth-hr.md). ``--stem`` adds the HAADF scans,
which take several minutes on two cores.
"""

from __future__ import annotations

import argparse
import time

from emrestore.optics.validation import hrstem_fidelity, hrtem_fidelity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stem", action="store_true")
    args = parser.parse_args()
    print("| path | specimen | thickness nm | potential | fast slices Å | Pearson r | shift px | column peak offset px (Å) | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for structure, uvw in (("SrTiO3", (0, 0, 1)), ("Au", (1, 1, 0))):
        for t in (3.0, 10.0):
            for potential in ("moliere", "lobato"):
                t0 = time.perf_counter()
                n = hrtem_fidelity(structure, uvw, t, fast_slice_A=None, potential=potential)["numbers"]
                za = "".join(str(v) for v in uvw)
                print(f"| HR-TEM | {structure} [{za}] | {t:g} | {potential} | {n['fast_slice_A']:.1f} | "
                      f"{n['pearson_r']:.3f} | {n['shift_px']:.0f} | {n['column_peak_offset_px']:.3f} "
                      f"({n['column_peak_offset_px'] * n['pixel_A']:.3f}) | {time.perf_counter() - t0:.0f} |")
    if args.stem:
        for structure, uvw in (("SrTiO3", (0, 0, 1)), ("Au", (1, 1, 0))):
            t0 = time.perf_counter()
            n = hrstem_fidelity(structure, uvw, 2.0)["numbers"]
            za = "".join(str(v) for v in uvw)
            print(f"| HR-STEM HAADF | {structure} [{za}] | 2 | Z^1.7 vs multislice | – | {n['pearson_r']:.3f} | "
                  f"{n['shift_px']:.0f} | {n['column_peak_offset_px']:.3f} "
                  f"({n['column_peak_offset_px'] * n['pixel_A']:.3f}) | {time.perf_counter() - t0:.0f} |")


if __name__ == "__main__":
    main()
