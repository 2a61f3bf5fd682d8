"""The real files of a real-data benchmark: what each is, and where each fact about it comes from.

A folder of real micrographs holds three kinds of file, scored differently
(:mod:`emrestore.evaluation.real_data`):

* **series** — several frames of one field (frame-split scoring against the mean of the others);
* **near-clean** — a frame with little noise (an aligned sum, a long dwell): real content that
  the forward model degrades at known doses, and that must pass through a restorer unchanged;
* **single** — one frame, no reference: its Bragg spots are checked and it is shown.

Files say how many frames they hold; whether a single frame is near-clean, and the modality
or pixel size of files that do not store them (PNG, a HyperSpy file whose scale has no unit),
comes from a manifest: ``emrestore-real.toml`` in the folder when there is one, else the
built-in :data:`KNOWN_FILES` for the public test files this project benchmarks on. Every
fact records its source, and the report states it.

A manifest entry is a table named after the file (its path relative to the folder)::

    ["STO_ADF.hdf5"]
    role = "near-clean"          # or "series", "single"
    modality = "stem"            # "tem", "stem", "sem"
    pixel_size_nm = 0.00933
    note = "SrTiO3 [001] ADF-STEM"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ParameterError
from ..image import MODALITIES, EMImage

#: Manifest file looked for in a real-data folder.
MANIFEST_NAME = "emrestore-real.toml"
#: Roles of a real file.
ROLES = ("series", "near-clean", "single")
#: Most frames of a series used for frame-split scoring (the first ones).
MAX_SERIES_FRAMES = 8

#: What the public files of ``../shared/data/real-series`` and ``../shared/data/real`` do not store
#: (sources: the README of those folders and the files' own publications).
KNOWN_FILES: dict[str, dict[str, Any]] = {
    "STO_ADF.hdf5": {"role": "near-clean", "modality": "stem", "pixel_size_nm": 0.009326270238006416,
                     "note": "SrTiO3 [001] ADF-STEM (atomap); the file's scale has no unit: nm"},
    "STO_ABF.hdf5": {"role": "near-clean", "modality": "stem", "pixel_size_nm": 0.009326270238006416,
                     "note": "SrTiO3 [001] ABF-STEM (atomap); the file's scale has no unit: nm"},
    "Cropped_PTO-SRO_Aligned.hspy": {"role": "near-clean", "modality": "stem",
                                     "note": "PbTiO3/SrRuO3 HAADF-STEM, aligned sum of frames (TEMUL)"},
    "hrstem_example.ser": {"modality": "stem", "note": "HAADF-STEM (TIA .ser without its .emi)"},
    "atomsegnet/03_afterimage_8nm_crp.png": {"modality": "stem", "pixel_size_nm": 8.0 / 730,
                                             "note": "8-bit HAADF-STEM, ≈ 8 nm field (AtomSegNet)"},
    "atomsegnet/10_dso_8nm_none_none.png": {"modality": "stem", "pixel_size_nm": 8.0 / 1024,
                                            "note": "8-bit HAADF-STEM of DyScO3, ≈ 8 nm field (AtomSegNet)"},
    "atomsegnet/Si110_5nmX25us_03_none_none.png": {"modality": "stem", "pixel_size_nm": 5.0 / 512,
                                                   "note": "8-bit HAADF-STEM of Si [110], ≈ 5 nm field, "
                                                           "25 µs dwell (AtomSegNet)"},
    "atomsegnet/Grain_boundry_gold_512px.png": {"modality": "stem",
                                                "note": "8-bit HAADF-STEM of a Au grain boundary (AtomSegNet); "
                                                        "pixel size not stored"},
    "atomsegnet/11133.png": {"modality": "stem", "note": "8-bit HAADF-STEM (AtomSegNet); pixel size not stored"},
    "atomsegnet/12028.png": {"modality": "stem", "note": "8-bit HAADF-STEM (AtomSegNet); pixel size not stored"},
}


@dataclass
class RealFile:
    """One real file of a benchmark folder, with the facts the benchmark uses.

    Attributes
    ----------
    name : str
        Path relative to the benchmark folder.
    image : EMImage
        As read, with the manifest's modality / pixel size applied where the file lacks them.
    role : {"series", "near-clean", "single"}
    sources : dict
        Where each fact came from: ``{"modality": "file" | "manifest" | "unknown", ...}``.
    note : str
        The manifest's description, if any.
    """

    name: str
    image: EMImage
    role: str
    sources: dict[str, str] = field(default_factory=dict)
    note: str = ""

    @property
    def frames(self) -> int:
        return self.image.frames

    def describe(self) -> str:
        """One line: role, modality, pixel size and where they came from."""
        pixel = f"{self.image.pixel_size_nm:.4g} nm/px" if self.image.pixel_size_nm else "pixel size unknown"
        return (f"{self.role}; {self.image.modality or 'modality unknown'} ({self.sources.get('modality')}); "
                f"{pixel} ({self.sources.get('pixel_size')})")


def read_manifest(folder: Path) -> tuple[dict[str, dict[str, Any]], str]:
    """The folder's manifest (``emrestore-real.toml``) or the built-in one, and its name."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return KNOWN_FILES, "built-in manifest"
    try:
        entries = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ParameterError(f"{path} is not valid TOML: {exc}.", "Fix the manifest or remove it.") from exc
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            raise ParameterError(f"{path}: entry {name!r} is not a table.",
                                 f'Write it as ["{name}"] followed by role/modality/pixel_size_nm lines.')
        if entry.get("role", "series") not in ROLES:
            raise ParameterError(f"{path}: {name}: role {entry['role']!r} is unknown.", f"Use one of {', '.join(ROLES)}.")
        if entry.get("modality", "stem") not in MODALITIES:
            raise ParameterError(f"{path}: {name}: modality {entry['modality']!r} is unknown.",
                                 "Use tem, stem or sem.")
        size = entry.get("pixel_size_nm", 1.0)
        if not isinstance(size, (int, float)) or not size > 0:
            raise ParameterError(f"{path}: {name}: pixel_size_nm must be a positive number.",
                                 "Give the pixel size in nm, e.g. pixel_size_nm = 0.05.")
    return entries, path.name


def _files(folder: Path) -> list[Path]:
    from ..restoration.inputs import expand_inputs  # readable files only, a .ser behind its .emi skipped

    found, _ = expand_inputs([str(folder)])
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found += _files(sub)
    return found


def discover(folder: str | Path) -> tuple[list[RealFile], list[tuple[str, str]]]:
    """Every readable image file in ``folder`` (and its sub-folders), with its role and facts.

    Returns
    -------
    files : list of RealFile
    skipped : list of (name, reason)
        Files that cannot be read as an image (a spectrum, a corrupt file), with the error.
    """
    from ..errors import EMRestoreError
    from ..io import read

    root = Path(folder)
    if not root.is_dir():
        raise ParameterError(f"{root} is not a folder.", "Point --real-series at a folder of real micrographs.")
    manifest, _ = read_manifest(root)
    files, skipped = [], []
    for path in _files(root):
        name = path.relative_to(root).as_posix()
        try:
            image = read(path)
        except EMRestoreError as exc:
            skipped.append((name, str(exc).split("\n")[0]))
            continue
        files.append(_describe(name, image, manifest.get(name, {})))
    return files, skipped


def _describe(name: str, image: EMImage, entry: dict[str, Any]) -> RealFile:
    """Apply a manifest entry to a file's image; record where each fact came from."""
    sources = {"modality": "file" if image.modality else "unknown",
               "pixel_size": "file" if image.pixel_size_nm else "unknown"}
    changes: dict[str, Any] = {}
    if "modality" in entry and entry["modality"] != image.modality:
        sources["modality"] = "manifest" if image.modality is None else f"manifest (file says {image.modality})"
        changes["modality"] = entry["modality"]
    if image.pixel_size_nm is None and "pixel_size_nm" in entry:
        changes.update(pixel_size=float(entry["pixel_size_nm"]), unit="nm")
        sources["pixel_size"] = "manifest"
    data = image.data
    role = entry.get("role") or ("series" if image.is_series else "single")
    if role == "series" and not image.is_series:
        role = "single"
    if image.is_series:
        data = data[:MAX_SERIES_FRAMES] if role == "series" else data[0]
    sources["role"] = "manifest" if "role" in entry else "file"
    image = replace(image, data=data, **changes)
    return RealFile(name, image, role, sources, str(entry.get("note", "")))
