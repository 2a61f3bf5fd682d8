"""Acquisition metadata: from a vendor's tree to emrestore's flat dict and modality.

RosettaSciIO returns each file's full vendor tree (``original_metadata``) and a
``mapping`` that tells HyperSpy where each vendor entry goes in its standard tree
(``Acquisition_instrument.TEM.beam_energy`` ...). We apply that mapping ourselves (no
HyperSpy needed), then flatten the result into the few keys a microscopist reads, and
infer the modality (TEM, STEM or SEM) from whatever the vendor wrote.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from .jsonsafe import json_safe

#: Keys of :attr:`EMImage.metadata` that emrestore fills where the file has them.
STANDARD_KEYS = (
    "title",
    "instrument",
    "voltage_kV",
    "magnification",
    "camera_length_mm",
    "beam_current_nA",
    "dwell_time_us",
    "exposure_s",
    "detector",
    "acquisition_mode",
    "working_distance_mm",
    "date",
    "time",
    "original_dtype",
    "databar_height_px",
)


def get_path(tree: Mapping[str, Any], path: str) -> Any:
    """Return ``tree[a][b][c]`` for ``path = "a.b.c"``, or ``None`` if missing.

    Keys that themselves contain dots are matched greedily.
    """
    node: Any = tree
    parts = path.split(".")
    i = 0
    while i < len(parts):
        if not isinstance(node, Mapping):
            return None
        for j in range(len(parts), i, -1):
            key = ".".join(parts[i:j])
            if key in node:
                node = node[key]
                i = j
                break
        else:
            return None
    return node


def _set_path(tree: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = tree
    for key in parts[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[parts[-1]] = value


def apply_mapping(signal: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a RosettaSciIO signal's ``mapping`` to its ``original_metadata``.

    Parameters
    ----------
    signal : dict
        One signal dictionary as returned by a RosettaSciIO ``file_reader``.

    Returns
    -------
    dict
        The standard metadata tree (``General``, ``Signal``, ``Acquisition_instrument``,
        ...), as HyperSpy would build it.
    """
    tree: dict[str, Any] = _deepcopy_dict(signal.get("metadata") or {})
    original = signal.get("original_metadata") or {}
    for source, target in (signal.get("mapping") or {}).items():
        if not isinstance(target, tuple) or not target:
            continue
        destination, function = target[0], (target[1] if len(target) > 1 else None)
        value = get_path(original, source)
        if value is None:
            continue
        try:
            value = function(value) if function is not None else value
        except Exception:  # a vendor field the mapping function cannot convert
            continue
        if value is not None:
            _set_path(tree, destination, value)
    return tree


def _deepcopy_dict(tree: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deepcopy_dict(v) if isinstance(v, Mapping) else v for k, v in tree.items()}


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    text = str(value).strip()
    return text or None


def _unit_value(value: Any) -> tuple[float | None, str | None]:
    """Split Zeiss-style ``("Name", 50, "ns")`` tuples into (number, unit)."""
    if isinstance(value, (tuple, list)) and len(value) >= 2:
        number = _number(value[1])
        unit = _text(value[2]) if len(value) >= 3 else None
        return number, unit
    return _number(value), None


_TIME_TO_US = {"s": 1e6, "ms": 1e3, "us": 1.0, "µs": 1.0, "ns": 1e-3}


def flatten_metadata(tree: Mapping[str, Any], original: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten a standard metadata tree into :data:`STANDARD_KEYS` where present.

    Parameters
    ----------
    tree : dict
        HyperSpy-style metadata (after :func:`apply_mapping`).
    original : dict
        The vendor's original metadata (for fields the mapping does not carry).

    Returns
    -------
    dict
        JSON-serialisable flat metadata; keys absent from the file are left out.
    """
    flat: dict[str, Any] = {}
    general = tree.get("General", {}) if isinstance(tree.get("General"), Mapping) else {}
    instrument_tree = tree.get("Acquisition_instrument", {})
    if not isinstance(instrument_tree, Mapping):
        instrument_tree = {}
    # TEM (also STEM) or SEM section, whichever the file has.
    section: Mapping[str, Any] = {}
    for name in ("TEM", "SEM"):
        if isinstance(instrument_tree.get(name), Mapping):
            section = instrument_tree[name]
            break

    for key, source in (("title", general.get("title")), ("date", general.get("date")),
                        ("time", general.get("time"))):
        text = _text(source)
        if text:
            flat[key] = text
    instrument = _text(section.get("microscope"))
    if instrument:
        flat["instrument"] = instrument
    voltage = _number(section.get("beam_energy"))
    if voltage is not None and voltage > 0:
        # HyperSpy stores keV; some vendors' mappings leave volts.
        flat["voltage_kV"] = voltage / 1000.0 if voltage > 5000 else voltage
    magnification = _number(section.get("magnification"))
    if magnification is None:
        magnification = _zeiss_magnification(original)
    if magnification is not None and magnification > 0:
        flat["magnification"] = magnification
    camera_length = _number(section.get("camera_length"))
    if camera_length is not None and camera_length > 0:
        flat["camera_length_mm"] = camera_length
    current = _number(section.get("beam_current"))
    if current is not None and current > 0:
        flat["beam_current_nA"] = current
    mode = _text(section.get("acquisition_mode"))
    if mode:
        flat["acquisition_mode"] = mode
    wd = _number(section.get("working_distance"))
    if wd is not None and wd > 0:
        flat["working_distance_mm"] = wd
    dwell = _dwell_time_us(section, original)
    if dwell is not None:
        flat["dwell_time_us"] = dwell
    detector_tree = section.get("Detector", {}) if isinstance(section.get("Detector"), Mapping) else {}
    camera = detector_tree.get("Camera", {}) if isinstance(detector_tree.get("Camera"), Mapping) else {}
    exposure = _number(camera.get("exposure"))
    if exposure is not None and exposure > 0:
        flat["exposure_s"] = exposure
    detector = (
        _text(detector_tree.get("detector_type"))
        or _text(camera.get("Name"))
        or _vendor_detector(original)
    )
    if detector:
        flat["detector"] = detector
    return flat


def _zeiss_magnification(original: Mapping[str, Any]) -> float | None:
    value = get_path(original, "CZ_SEM.ap_mag")
    if value is None:
        return None
    number, unit = _unit_value(value)
    if number is None and isinstance(value, (tuple, list)) and len(value) >= 2:
        # e.g. ("Mag", "50.00 K X")
        text = str(value[1]).upper().replace("X", "").strip()
        factor = 1000.0 if text.endswith("K") else 1.0
        number = _number(text.rstrip("K").strip())
        return None if number is None else number * factor
    return number


def _dwell_time_us(section: Mapping[str, Any], original: Mapping[str, Any]) -> float | None:
    zeiss = get_path(original, "CZ_SEM.dp_dwell_time")
    if zeiss is not None:
        number, unit = _unit_value(zeiss)
        if number is not None and unit in _TIME_TO_US:
            return number * _TIME_TO_US[unit]
    fei = _number(get_path(original, "fei_metadata.Scan.Dwelltime"))
    if fei is not None and fei > 0:
        return fei * 1e6  # FEI writes seconds
    dwell = _number(section.get("dwell_time"))
    if dwell is not None and dwell > 0:
        # HyperSpy's SEM.dwell_time and TIA DwellTimePath are in seconds.
        return dwell * 1e6
    return None


def _vendor_detector(original: Mapping[str, Any]) -> str | None:
    for path in (
        "fei_metadata.Detectors.Name",
        "BinaryResult.Detector",
        "ObjectInfo.AcquireInfo.CameraNamePath",
        "ImageList.TagGroup0.ImageTags.QuickSaved.original name",
        "ImageList.TagGroup0.ImageTags.Acquisition.Device.Name",
        "CZ_SEM.dp_detector_channel",
    ):
        value = get_path(original, path)
        if isinstance(value, (tuple, list)) and len(value) >= 2:
            value = value[1]
        text = _text(value)
        if text:
            return text
    return None


#: Names of STEM detectors in a detector field or a title (whole words): HAADF, ADF, ABF, DF2/DF4, BF-S.
STEM_DETECTOR = re.compile(r"\b(HAADF|ADF|ABF|DF[24]|BF-S|DF-S)\b", re.IGNORECASE)


def infer_modality(tree: Mapping[str, Any], original: Mapping[str, Any]) -> str | None:
    """Infer "tem", "stem" or "sem" from a file's metadata, or ``None`` if unknown.

    Parameters
    ----------
    tree : dict
        HyperSpy-style metadata (after :func:`apply_mapping`).
    original : dict
        The vendor's original metadata.

    Notes
    -----
    Evidence is weighed in this order: an explicit acquisition mode
    (``"STEM ..."``, ``"TEM ..."``); scanning hardware (DigiScan tags, a scanning
    detector in Velox files); an SEM section or SEM vendor tags (FEI/Thermo SEM,
    Zeiss); a STEM detector named in the file's detector field or title (HAADF, ADF, ABF,
    ...: a HyperSpy file of a Velox HAADF frame keeps only a "TEM" section); a camera (TEM).
    """
    instrument = tree.get("Acquisition_instrument", {})
    instrument = instrument if isinstance(instrument, Mapping) else {}
    tem = instrument.get("TEM") if isinstance(instrument.get("TEM"), Mapping) else None
    sem = instrument.get("SEM") if isinstance(instrument.get("SEM"), Mapping) else None

    modes = []
    if tem is not None:
        modes.append(_text(tem.get("acquisition_mode")))
    modes.append(_text(get_path(original, "ImageList.TagGroup0.ImageTags.Microscope Info.Operation Mode")))
    modes.append(_text(get_path(original, "ObjectInfo.ExperimentalDescription.Mode")))
    for mode in modes:
        if not mode:
            continue
        upper = mode.upper()
        if "STEM" in upper or "SCANNING" in upper:
            return "stem"
        if upper.startswith("TEM") or upper in ("IMAGING", "TEM"):
            return "tem"
    # Velox: Optics.OperatingMode is "1" in TEM and "2" in STEM
    operating = _text(get_path(original, "Optics.OperatingMode"))
    if operating in ("1", "2") and isinstance(original.get("BinaryResult"), Mapping):
        return "stem" if operating == "2" else "tem"
    if get_path(original, "ImageList.TagGroup0.ImageTags.DigiScan") is not None:
        return "stem"
    unit = _text(get_path(original, "BinaryResult.AcquisitionUnit"))
    if unit:
        if "SCAN" in unit.upper():
            return "stem"
        if "CAMERA" in unit.upper():
            return "tem"
    if sem is not None or "CZ_SEM" in original or get_path(original, "fei_metadata.EBeam") is not None:
        return "sem"
    detectors = (_text(get_path(original, "BinaryResult.Detector")), _text(get_path(tree, "General.title")))
    if any(STEM_DETECTOR.search(text) for text in detectors if text):
        return "stem"  # an annular / bright-field scanning detector (Velox "HAADF", a title "ABF")
    if tem is not None:
        return "tem"
    return None


#: Largest numpy array written into file metadata as numbers (larger ones as a summary).
METADATA_ARRAY_ITEMS = 64


def metadata_json_safe(value: Any) -> Any:
    """``value`` ready for a file's JSON metadata (:func:`~emrestore.io.jsonsafe.json_safe`).

    NaN and ±inf become text, arrays of more than :data:`METADATA_ARRAY_ITEMS` elements a
    ``"<array SHAPE DTYPE>"`` summary, and ``None`` entries of mappings are dropped.
    """
    return json_safe(value, non_finite="text", max_array_items=METADATA_ARRAY_ITEMS, drop_none=True)


# ------------------------------------------------------------------ restoration record
#: Where the restoration record lives: ``EMImage.metadata["restoration"]``, and in a
#: HyperSpy metadata tree (a signal, an ``.hspy`` file) ``metadata.emrestore.restoration``.
RESTORATION_KEY = "restoration"
#: emrestore's section of a HyperSpy metadata tree.
EMRESTORE_SECTION = "emrestore"
#: Where emrestore < 0.x put the record on HyperSpy signals; still read.
_LEGACY_SIGNAL_PATH = "Processing.emrestore"


def set_restoration_record(target: Any, record: Mapping[str, Any]) -> None:
    """Write the restoration record (model, hash, settings, ...) in its one place.

    Parameters
    ----------
    target : EMImage, hyperspy signal or RosettaSciIO signal dict
        ``EMImage``: ``metadata["restoration"]``; HyperSpy signal:
        ``metadata.emrestore.restoration``; RosettaSciIO dict (what the HSPY writer takes):
        ``["metadata"]["emrestore"]["restoration"]``. An existing record is replaced.
    record : dict
        What :meth:`emrestore.Restorer.provenance` returns (plus any extra entries).
    """
    record = dict(record)
    if hasattr(target, "axes_manager") and hasattr(target.metadata, "set_item"):  # HyperSpy
        if target.metadata.has_item(f"{EMRESTORE_SECTION}.{RESTORATION_KEY}"):
            target.metadata.get_item(EMRESTORE_SECTION).__delattr__(RESTORATION_KEY)
        target.metadata.set_item(f"{EMRESTORE_SECTION}.{RESTORATION_KEY}", metadata_json_safe(record))
        return
    if isinstance(target, dict) and "data" in target:  # a RosettaSciIO signal dictionary
        section = target.setdefault("metadata", {}).setdefault(EMRESTORE_SECTION, {})
        section[RESTORATION_KEY] = metadata_json_safe(record)
        return
    metadata = getattr(target, "metadata", None)
    if isinstance(metadata, dict):  # EMImage
        metadata[RESTORATION_KEY] = record
        return
    raise TypeError(f"Cannot record a restoration on a {type(target).__name__}.")


def restoration_record(source: Any) -> dict[str, Any] | None:
    """Read back the restoration record from wherever :func:`set_restoration_record` put it.

    Parameters
    ----------
    source : EMImage, hyperspy signal or RosettaSciIO signal dict
        A restored image or signal, or one read back from a file emrestore wrote.

    Returns
    -------
    dict or None
        The record as JSON-ready values (``None`` entries left out, so that a record read
        from a file equals the one written), or ``None`` if ``source`` was not restored.
    """
    record: Any = None
    if hasattr(source, "axes_manager") and hasattr(source.metadata, "get_item"):  # HyperSpy
        for path in (f"{EMRESTORE_SECTION}.{RESTORATION_KEY}",
                     f"{EMRESTORE_SECTION}.metadata.{RESTORATION_KEY}", _LEGACY_SIGNAL_PATH):
            if source.metadata.has_item(path):
                record = source.metadata.get_item(path)
                record = record.as_dictionary() if hasattr(record, "as_dictionary") else record
                break
    elif isinstance(source, Mapping) and "data" in source:
        tree = source.get("metadata") or {}
        record = (get_path(tree, f"{EMRESTORE_SECTION}.{RESTORATION_KEY}")
                  or get_path(tree, f"{EMRESTORE_SECTION}.metadata.{RESTORATION_KEY}"))
    else:
        metadata = getattr(source, "metadata", None)
        if isinstance(metadata, Mapping):
            record = metadata.get(RESTORATION_KEY)
    return metadata_json_safe(dict(record)) if isinstance(record, Mapping) else None
