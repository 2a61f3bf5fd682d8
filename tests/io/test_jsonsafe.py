"""One JSON sanitiser: numpy values, non-finite floats, rounding, large arrays, None entries."""

import datetime as dt
import json
from pathlib import Path

import numpy as np

from emrestore.io.jsonsafe import json_safe
from emrestore.io.metadata import metadata_json_safe

VALUE = {"f": np.float32(0.1), "i": np.int64(3), "b": np.bool_(True), "t": (1, 2.0), "nan": float("nan"),
         "a": np.arange(3), 5: None, "p": Path("x/y"), "raw": b"ab", "d": dt.date(2026, 1, 2)}


def test_plain_json_comes_out_and_nan_becomes_null() -> None:
    safe = json_safe(VALUE)
    assert safe == {"f": float(np.float32(0.1)), "i": 3, "b": True, "t": [1, 2.0], "nan": None, "a": [0, 1, 2],
                    "5": None, "p": "x/y", "raw": "ab", "d": "2026-01-02"}
    assert type(safe["i"]) is int and type(safe["b"]) is bool
    json.dumps(safe, allow_nan=False)


def test_rounding_and_the_metadata_profile() -> None:
    assert json_safe({"x": [np.float64(1.23456789)]}, digits=6) == {"x": [1.234568]}
    meta = metadata_json_safe({**VALUE, "big": np.zeros((9, 9), np.float32)})
    assert meta["nan"] == "nan" and "5" not in meta
    assert meta["big"] == "<array (9, 9) float32>" and meta["a"] == [0, 1, 2]
