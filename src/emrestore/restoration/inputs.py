"""Which files a list of inputs (file names, folders, glob patterns) names for restoration.

Shared by ``emrestore restore``, ``emrestore info``, the evaluation on real files and any
caller that takes the same inputs (e.g. a Dask run over a folder).
"""

from __future__ import annotations

import glob
from pathlib import Path


def expand_inputs(patterns: list[str]) -> tuple[list[Path], list[str]]:
    """Files to restore from file names, folders and glob patterns.

    Folders contribute the files directly inside them that emrestore can read, except
    earlier outputs (``*_restored.*``) and TIA ``.ser`` files whose ``.emi`` is present
    (the ``.emi`` is read instead). Returns (files, patterns that gave nothing: a glob
    matching no file, or a folder without a file to restore; :func:`nothing_found` says why).
    """
    from ..io.api import READ_FORMATS

    readable = {ext for fmt in READ_FORMATS for ext in fmt.extensions}
    files: list[Path] = []
    unmatched: list[str] = []
    for pattern in patterns:
        path = Path(pattern).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in readable)
            emi_stems = {p.stem for p in found if p.suffix.lower() == ".emi"}
            found = [p for p in found
                     if "_restored" not in p.stem and not p.stem.endswith("_uncertainty")
                     and not (p.suffix.lower() == ".ser" and p.stem.rsplit("_", 1)[0] in emi_stems)]
            files.extend(found)
            if not found:
                unmatched.append(pattern)
        elif path.exists():
            files.append(path)
        elif any(ch in pattern for ch in "*?["):
            matched = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
            if matched:
                files.extend(matched)
            else:
                unmatched.append(pattern)
        else:
            files.append(path)  # reported as missing by read()
    unique = list(dict.fromkeys(files))
    return unique, unmatched


def nothing_found(pattern: str) -> str:
    """One line saying why ``pattern`` (a folder or glob) gave no file to restore."""
    from ..io.api import READ_FORMATS

    path = Path(pattern).expanduser()
    if not path.is_dir():
        return f"{pattern}: no file matches."
    readable = {ext for fmt in READ_FORMATS for ext in fmt.extensions}
    entries = list(path.iterdir())
    if not entries:
        return f"{pattern}: nothing to restore: the folder is empty. Fix: Give the folder that holds the images."
    outputs = [p for p in entries if p.is_file() and p.suffix.lower() in readable and "_restored" in p.stem]
    folders = [p for p in entries if p.is_dir()]
    others = [p for p in entries if p.is_file() and p.suffix.lower() not in readable]
    reasons = []
    if outputs:
        reasons.append(f"{len(outputs)} earlier output{'s' if len(outputs) > 1 else ''} (*_restored.*), "
                       f"which {'are' if len(outputs) > 1 else 'is'} not restored again")
    if others:
        reasons.append(f"{len(others)} file{'s' if len(others) > 1 else ''} of a kind emrestore does not "
                       f"read (e.g. {others[0].name})")
    if folders:
        reasons.append(f"{len(folders)} subfolder{'s' if len(folders) > 1 else ''}, which are not searched")
    return (f"{pattern}: nothing to restore: the folder holds only {'; '.join(reasons) or 'unreadable entries'}. "
            f"Fix: Give the folder with the original images, or name a file to restore it again.")
