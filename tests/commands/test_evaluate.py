"""``emrestore evaluate``'s saved results still load after their classes moved."""

from __future__ import annotations

import pickle

import pytest

from emrestore.commands.evaluate import load_results
from emrestore.evaluation.real_data import MethodScore
from emrestore.finetune.frame_split import FinetuneSplitResult


def _saved_under(tmp_path, value, old: bytes, new: bytes):
    """``value`` pickled (protocol 0: module names as text) as if its class lived in module ``old``."""
    data = pickle.dumps({"real_data": value}, protocol=0).replace(new, old)
    path = tmp_path / "results.pkl"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("value", "old", "new"), [
    (MethodScore("raw input", "baseline", 30.0, 0.9, 31.0), b"emrestore.evaluation.report", b"emrestore.evaluation.real_data"),
    (FinetuneSplitResult(None, "lrtem", 2, {}, (8, 8), []), b"emrestore.evaluation.finetune_split",
     b"emrestore.finetune.frame_split"),
])
def test_results_saved_before_a_class_moved_still_load(tmp_path, value, old, new):
    loaded = load_results(_saved_under(tmp_path, value, old, new))["real_data"]
    assert type(loaded) is type(value) and loaded == value


def test_unknown_classes_still_fail(tmp_path):
    path = _saved_under(tmp_path, MethodScore("x", "model", 1.0, 0.5), b"emrestore.evaluation.report.Nothing",
                        b"emrestore.evaluation.real_data\nMethodScore")
    with pytest.raises(AttributeError):
        load_results(path)


def test_the_report_names_every_option_that_changes_what_it_holds():
    import argparse

    from emrestore.commands.evaluate import add_parser, command_line

    parser = add_parser(argparse.ArgumentParser().add_subparsers())
    args = parser.parse_args(["--real-series", "data", "--finetune-steps", "100", "--cache", "/tmp/c",
                              "--save-results", "r.pkl"])
    assert command_line(args) == "emrestore evaluate --real-series data --finetune-steps 100"
    assert command_line(parser.parse_args([])) == "emrestore evaluate"
