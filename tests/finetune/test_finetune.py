"""emrestore finetune: masking, adaptation that helps on held-out frames, exact resume, card, CLI, restore."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from emrestore.cli import main
from emrestore.finetune import FinetuneSettings, finetune
from emrestore.finetune.objectives import blind_spot_mask

#: A small shipped model (the `tiny` CGRDN with a full-resolution head): fast steps on a CPU.
MODEL = "lrtem"
#: Steps of the shared short run.
STEPS = 20


def _clean(size: int = 64, seed: int = 3) -> np.ndarray:
    """Smooth blobs on a background [e⁻/px]: a field with structure at several scales."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    image = np.full((size, size), 4.0)
    for _ in range(12):
        cy, cx = rng.uniform(0, size, 2)
        image += rng.uniform(4, 12) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rng.uniform(2, 6) ** 2))
    return image


#: Read noise of the test series [ADU] (signal-independent, as a CCD's at high counts).
SIGMA = 15.0


def _series(n: int, seed: int = 0) -> np.ndarray:
    """``n`` frames of one field (no drift): an offset, blobs and Gaussian noise of σ = SIGMA [ADU]."""
    rng = np.random.default_rng(seed)
    clean = 2000.0 + 8.0 * _clean()
    return (clean + rng.normal(0.0, SIGMA, (n, *clean.shape))).astype(np.float32)


@pytest.fixture(scope="module")
def adapted(tmp_path_factory):
    """A short run on frames 0–3 of an 8-frame series file; frames 4–7 stay held out."""
    root = tmp_path_factory.mktemp("finetune")
    series = _series(8)
    path = root / "series.npy"
    np.save(path, series)
    # lr 1e-4: from the lrtem of 2026-12-01 (noise-conditioned, expected-frame target) 20 steps at
    # 5e-4 overshoot (held-out excess 19.9 → 24.1 ADU²); at 1e-4 they lower it
    settings = FinetuneSettings(model=MODEL, steps=STEPS, minutes=None, lr=1e-4, batch=2, crop=48, synthetic_pool=4,
                                seed=1)
    result = finetune([path], root / "run", settings, frames={0: [0, 1, 2, 3]}, progress=False)
    return path, series, result


def test_blind_spot_mask_never_shows_masked_values():
    rng = np.random.default_rng(0)
    crops = rng.random((3, 32, 32)) * 1000.0  # distinct values: a copied one would be found
    masked, mask = blind_spot_mask(crops, np.random.default_rng(1), fraction=0.2)
    assert mask.shape == crops.shape and mask.dtype == bool
    assert (mask.reshape(3, -1).sum(axis=1) == round(0.2 * 32 * 32)).all()
    np.testing.assert_array_equal(masked[~mask], crops[~mask].astype(np.float32))
    for i in range(3):
        hidden = set(crops[i][mask[i]].astype(np.float32).tolist())
        assert hidden.isdisjoint(masked[i].ravel().tolist()), "a masked value is visible in the input"
    # the replacement comes from the neighbourhood (not a constant)
    assert np.std(masked[mask]) > 0


def test_finetune_changes_weights_and_lowers_heldout_loss(adapted):
    """Noise2Noise loss on frames never seen in adaptation: each restored held-out frame against
    the other held-out frames. Its floor is the noise variance SIGMA²; the excess over it (the
    restoration's own squared error) must shrink."""
    import onnx
    from onnx import numpy_helper

    from emrestore.model.registry import find_model
    from emrestore.restoration import load_model

    _, series, result = adapted
    base = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(find_model(MODEL).onnx_path)).graph.initializer}
    tuned = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(result.onnx_path)).graph.initializer}
    changed = [k for k in base if k in tuned and base[k].shape == tuned[k].shape
               and not np.allclose(base[k].astype(np.float32), tuned[k])]
    assert len(changed) > 10

    held = range(4, 8)

    def heldout_excess(model: str) -> float:
        restorer = load_model(model, progress=False)
        restored = {i: restorer.restore_array(series[i]) for i in held}
        return float(np.mean([np.mean((restored[i] - series[j]) ** 2) for i in held for j in held if i != j])
                     - SIGMA ** 2)

    before, after = heldout_excess(MODEL), heldout_excess(str(result.onnx_path))
    assert 0 < after < 0.99 * before, (before, after)


def test_card_records_inputs(adapted):
    path, _, result = adapted
    card = json.loads(result.card_path.read_text())
    ft = card["finetune"]
    assert card["tag"] == MODEL and card["modality"] == "tem" and card["name"].endswith("-finetuned")
    assert ft["base_model"]["name"] == MODEL
    (entry,) = ft["inputs"]
    assert entry["name"] == "series.npy"
    assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert entry["frames_used"] == [0, 1, 2, 3] and entry["series"] is True
    assert ft["objectives"]["active"] == ["n2n", "blind_spot", "synthetic"]
    assert ft["steps"] == STEPS and ft["settings"]["seed"] == 1
    assert card["onnx"]["file"] == "model.onnx" and card["onnx"]["max_abs_diff"] < 1e-2
    # the training config stays, so a fine-tuned model can itself be fine-tuned
    assert card["training"]["config"]["model"]["name"] == "tiny-r32"  # the shipped lrtem: tiny + full-resolution head
    # and so does the uncertainty map's calibration, marked as the base model's
    from emrestore.model.card import ModelCard
    from emrestore.restoration import load_model
    from emrestore.restoration.uncertainty import MapCalibration

    base = MapCalibration.from_card(load_model(MODEL, progress=False).info.card, MODEL)
    assert card["uncertainty"]["detail_weight"] == base.detail_weight and "base model" in card["uncertainty"]["note"]
    assert MapCalibration.from_card(ModelCard.from_dict(card), "ft").scale == base.scale


def test_restore_cli_uses_the_finetuned_model(adapted, tmp_path):
    from emrestore.io import read
    from emrestore.restoration import load_model

    _, series, result = adapted
    frame = tmp_path / "frame.npy"
    np.save(frame, series[4])
    assert main(["restore", str(frame), "--model", str(result.onnx_path), "-o", str(tmp_path / "out"), "-q"]) == 0
    (written,) = [p for p in (tmp_path / "out").iterdir() if "_uncertainty" not in p.name]
    restored = read(written).data
    np.testing.assert_allclose(restored, load_model(str(result.onnx_path), progress=False).restore_array(series[4]),
                               rtol=1e-4, atol=1e-3)
    shipped = load_model(MODEL, progress=False).restore_array(series[4])
    assert np.max(np.abs(restored - shipped)) > 1e-2


def test_resume_continues_exactly(tmp_path):
    series = _series(3, seed=5)
    kwargs = {"model": MODEL, "minutes": None, "lr": 5e-4, "w_synthetic": 0.0, "batch": 2, "crop": 32, "seed": 2}
    whole = finetune([series], tmp_path / "whole", FinetuneSettings(steps=4, **kwargs), progress=False)
    finetune([series], tmp_path / "split", FinetuneSettings(steps=2, **kwargs), progress=False)
    split = finetune([series], tmp_path / "split", FinetuneSettings(steps=4, **kwargs), resume=True, progress=False)
    assert split.steps == whole.steps == 4
    assert [r["loss"] for r in split.history] == [r["loss"] for r in whole.history]
    import torch

    a = torch.load(whole.out_dir / "checkpoints/last.pt", weights_only=False)["generator"]
    b = torch.load(split.out_dir / "checkpoints/last.pt", weights_only=False)["generator"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_other_inputs(tmp_path):
    from emrestore.errors import ParameterError

    kwargs = {"model": MODEL, "minutes": None, "w_synthetic": 0.0, "batch": 1, "crop": 32}
    finetune([_series(2, seed=1)], tmp_path / "run", FinetuneSettings(steps=1, **kwargs), progress=False)
    with pytest.raises(ParameterError, match="other inputs"):
        finetune([_series(2, seed=9)], tmp_path / "run", FinetuneSettings(steps=2, **kwargs), resume=True,
                 progress=False)


@pytest.mark.parametrize("args, message", [
    ([], "No frames to adapt on"),
    (["missing.npy"], "does not exist"),
    (["{frame}", "--model", "nosuchmodel"], "Unknown model"),
    (["{frame}", "--model", "model.onnx"], "does not exist"),
    (["{frame}", "--model", MODEL, "--resume"], "--resume needs --out"),
    (["{frame}", "--model", MODEL, "--out", "{out}", "--resume"], "Nothing to resume"),
    (["{frame}", "--model", MODEL, "--out", "{out}", "--minutes", "-1"], "--minutes must be > 0"),
    (["{frame}", "--model", MODEL, "--frames", "a,b"], "--frames"),
])
def test_cli_errors_are_one_line(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    frame = tmp_path / "frame.npy"
    np.save(frame, _series(1)[0])
    argv = [a.format(frame=frame, out=tmp_path / "run") for a in args]
    assert main(["finetune", *argv, "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_cli_runs_and_writes_model(tmp_path, capsys):
    frame = tmp_path / "frame.npy"
    np.save(frame, _series(1)[0])
    out = tmp_path / "run"
    assert main(["finetune", str(frame), "--model", MODEL, "--steps", "2", "--out", str(out), "--crop", "32",
                 "--w-synthetic", "0", "-q"]) == 0
    assert (out / "model.onnx").is_file() and (out / "model.json").is_file()
    card = json.loads((out / "model.json").read_text())
    assert card["finetune"]["objectives"]["active"] == ["blind_spot"]  # one frame: no Noise2Noise pair
    assert main(["finetune", str(frame), "--model", MODEL, "--steps", "2", "--out", str(out), "-q"]) == 2
    assert "already holds" in capsys.readouterr().err
