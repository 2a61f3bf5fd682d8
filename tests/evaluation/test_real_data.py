"""The real-data benchmark: registration, Bragg spots, file facts, frame-split and near-clean scoring, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from emrestore.cli import main
from emrestore.errors import ParameterError
from emrestore.evaluation.lattice import MIN_SPOTS, find_spots, lattice_fidelity, transfer_limit_cycles_per_px
from emrestore.evaluation.real_data import (
    PASS_THROUGH_DB,
    applicable_models,
    central_crop,
    score_frame,
    own_noise_psnr,
    run_real_benchmark,
    score_near_clean,
    score_series,
)
from emrestore.evaluation.real_files import (
    KNOWN_FILES,
    MANIFEST_NAME,
    discover,
    read_manifest,
)
from emrestore.evaluation.real_report import series_lines
from emrestore.evaluation.registration import difference_noise_variance, register_series
from emrestore.io.metadata import infer_modality


def _smooth_field(rng, size=96):
    return ndimage.gaussian_filter(rng.random((size, size)), 3) * 50 + 10


def _lattice(size=128, period=8.0, width=1.2):
    y, x = np.mgrid[:size, :size]
    return np.exp(-((x % period - period / 2) ** 2 + (y % period - period / 2) ** 2) / (2 * width ** 2))


def _fourier_shift(image, shift):
    return np.real(np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(image), shift)))


# ---------------------------------------------------------------------------- registration
def test_registration_recovers_subpixel_drift_and_crops_wrapped_pixels():
    rng = np.random.default_rng(1)
    base = _smooth_field(rng)
    drifts = [(0, 0), (2.3, -4.7), (-3.55, 1.2)]
    frames = np.stack([_fourier_shift(base, d) for d in drifts])
    reg = register_series(frames)
    assert np.allclose(reg.shifts_px, -np.array(drifts), atol=0.1)
    # every registered frame shows the first one's field
    for frame in reg.frames:
        assert np.abs(frame - reg.frames[0]).max() < 0.05 * np.ptp(base)
    assert reg.frames.shape[1] <= 96 - 3 - 3 and reg.frames.shape[2] <= 96 - 5 - 2
    # a restored frame k moves like frame k
    assert np.allclose(reg.align(frames[1], 1), reg.frames[1])
    assert np.allclose(reg.others_mean(0), reg.frames[1:].mean(axis=0))


def test_registration_refuses_single_frames_and_unrelated_fields():
    rng = np.random.default_rng(2)
    with pytest.raises(ParameterError, match="series"):
        register_series(rng.random((32, 32)))
    base = _smooth_field(rng, 64)
    with pytest.raises(ParameterError, match="one field"):
        register_series(np.stack([base, np.roll(base, 30, axis=1)]))


def test_difference_noise_variance_of_a_known_noise():
    rng = np.random.default_rng(3)
    base = _smooth_field(rng, 128)
    frames = base + rng.normal(0, 2.0, (4, 128, 128))
    assert difference_noise_variance(register_series(frames)) == pytest.approx(4.0, rel=0.08)


# ---------------------------------------------------------------------------- Bragg spots
def test_spots_of_a_lattice_and_none_in_noise():
    rng = np.random.default_rng(4)
    noisy = _lattice() + rng.normal(0, 0.2, (128, 128))
    spots = find_spots(noisy)
    assert len(spots) >= 8
    assert spots.period_px.max() == pytest.approx(8.0, abs=0.1)
    assert len(find_spots(rng.normal(0, 1, (256, 256)))) < MIN_SPOTS


def test_a_maximum_on_a_streak_is_not_a_spot():
    # Row-to-row gain changes smear every spot into a streak along the slow-scan axis; a local
    # maximum on a streak (a noise bump on it) is not a Bragg spot: a spot stands
    # STREAK_CONTRAST × above the power STREAK_OFFSET_BINS away along each axis.
    from emrestore.evaluation.lattice import STREAK_CONTRAST, STREAK_OFFSET_BINS, _peaks

    ratio = np.ones((64, 64))
    ratio[20, 40] = 50.0                      # an isolated spot
    ratio[10:31, 50] = 20.0                   # a streak along the rows' axis …
    ratio[20, 50] = 1.5 * 20.0                # … with a bump on it, above the spot threshold
    found = {tuple(p) for p in _peaks(ratio, 8.0)}
    assert (20, 40) in found and (20, 50) not in found
    ratio[20, 50] = STREAK_CONTRAST * 20.0 * 1.01   # a spot that does stand out of the streak
    assert (20, 50) in {tuple(p) for p in _peaks(ratio, 8.0)}
    assert STREAK_OFFSET_BINS < 10            # the streak above reaches that far either side


def test_row_and_column_structure_is_not_a_lattice():
    # A function of the row plus one of the column (line interference, column readout) puts
    # peaks only on the spectrum's axes, where they can line up on the nodes of a lattice.
    rng = np.random.default_rng(6)
    y, x = np.mgrid[:256, :256]
    rows = sum(np.cos(2 * np.pi * n * y / 28.0) for n in (1, 2, 3, 5, 7))
    columns = sum(np.cos(2 * np.pi * n * x / 36.0) for n in (1, 2, 3))
    frame = rows + columns + rng.normal(0, 0.2, (256, 256))
    assert len(find_spots(frame)) == 0
    # The same structure with a crystal lattice on top is a lattice.
    assert len(find_spots(frame + 2 * np.tile(_lattice(), (2, 2)))) >= 8


def test_identity_keeps_every_spot_blur_removes_the_outer_ones():
    rng = np.random.default_rng(5)
    noisy = _lattice() + rng.normal(0, 0.2, (128, 128))
    same = lattice_fidelity(noisy, noisy)
    assert same.share_survived == 1.0 and same.share_outer_survived == 1.0 and len(same.appeared) == 0
    blurred = lattice_fidelity(noisy, ndimage.gaussian_filter(noisy, 1.5))
    assert blurred.share_outer_survived == 0.0
    assert blurred.share_survived < 1.0
    json.dumps(blurred.to_json())


def test_spots_beyond_the_optics_are_left_out_of_the_limited_score():
    rng = np.random.default_rng(5)
    noisy = _lattice() + rng.normal(0, 0.2, (128, 128))
    blurred = lattice_fidelity(noisy, ndimage.gaussian_filter(noisy, 1.0))
    cycles = blurred.spots.radius / blurred.spots.size
    assert blurred.within(None) is blurred and len(blurred.within(0.5).spots) == len(blurred.spots)
    inner = blurred.within(float(np.median(cycles)))  # the blur removed the outer half: what is left survives more
    assert 0 < len(inner.spots) < len(blurred.spots) and inner.share_survived > blurred.share_survived
    assert inner.outer.sum() < blurred.outer.sum() and np.all(inner.spots.radius <= blurred.spots.radius.max())
    # 2α/λ of a 35 mrad, 300 kV probe is 35.6 nm⁻¹: 0.356 cycles/px at 10 pm/px, twice that at 20 pm
    assert transfer_limit_cycles_per_px("stem", 0.01) == pytest.approx(0.356, abs=0.002)
    assert transfer_limit_cycles_per_px("stem", 0.02) == pytest.approx(2 * transfer_limit_cycles_per_px("stem", 0.01))
    assert transfer_limit_cycles_per_px("stem", None) is None and transfer_limit_cycles_per_px("sem", 0.01) is None


def test_an_invented_periodicity_is_counted_as_appeared():
    rng = np.random.default_rng(6)
    noisy = _lattice() + rng.normal(0, 0.2, (128, 128))
    y, x = np.mgrid[:128, :128]
    painted = noisy + 0.5 * np.cos(2 * np.pi * (x / 5.3 + y / 11.0))
    result = lattice_fidelity(noisy, painted)
    assert len(result.appeared) >= 1
    with pytest.raises(ParameterError, match="shape"):
        lattice_fidelity(noisy, noisy[:64])


# ---------------------------------------------------------------------------- files and manifest
def test_discovery_roles_manifest_and_sources(tmp_path):
    rng = np.random.default_rng(7)
    np.save(tmp_path / "series.npy", rng.random((3, 48, 48)).astype(np.float32))
    np.save(tmp_path / "clean.npy", rng.random((48, 48)).astype(np.float32))
    (tmp_path / "sub").mkdir()
    np.save(tmp_path / "sub" / "single.npy", rng.random((48, 48)).astype(np.float32))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / MANIFEST_NAME).write_text('["clean.npy"]\nrole = "near-clean"\nmodality = "tem"\n'
                                          'pixel_size_nm = 0.05\nnote = "a test frame"\n')
    files, skipped = discover(tmp_path)
    by = {f.name: f for f in files}
    assert set(by) == {"series.npy", "clean.npy", "sub/single.npy"} and skipped == []
    assert by["series.npy"].role == "series" and by["series.npy"].frames == 3
    clean = by["clean.npy"]
    assert clean.role == "near-clean" and clean.image.modality == "tem" and clean.image.pixel_size_nm == 0.05
    assert clean.sources == {"modality": "manifest", "pixel_size": "manifest", "role": "manifest"}
    assert by["sub/single.npy"].role == "single" and by["sub/single.npy"].sources["modality"] == "unknown"
    assert "near-clean; tem (manifest)" in clean.describe()


def test_a_bad_manifest_names_the_entry_and_the_fix(tmp_path):
    (tmp_path / MANIFEST_NAME).write_text('["a.npy"]\nrole = "reference"\n')
    with pytest.raises(ParameterError, match="role 'reference' is unknown"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text('["a.npy"\n')
    with pytest.raises(ParameterError, match="not valid TOML"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text('["a.npy"]\npixel_size_nm = -1\n')
    with pytest.raises(ParameterError, match="positive"):
        read_manifest(tmp_path)
    (tmp_path / "plain").mkdir()
    assert read_manifest(tmp_path / "plain") == (KNOWN_FILES, "built-in manifest")


def test_built_in_manifest_entries_are_valid(tmp_path):
    (tmp_path / MANIFEST_NAME).write_text("\n".join(
        f'["{name}"]\n' + "\n".join(f"{k} = {json.dumps(v)}" for k, v in entry.items())
        for name, entry in KNOWN_FILES.items()))
    entries, name = read_manifest(tmp_path)
    assert name == MANIFEST_NAME and entries == KNOWN_FILES


def test_central_crop():
    assert central_crop((1000, 300), 512) == (slice(244, 756), slice(0, 300))


# ---------------------------------------------------------------------------- scoring
def test_frame_split_scores_of_a_synthetic_series(tmp_path):
    rng = np.random.default_rng(8)
    base = _smooth_field(rng, 64)
    frames = np.stack([_fourier_shift(base, d) for d in [(0, 0), (1.5, -2), (-1, 0.5), (0.5, 2.5)]])
    frames = (frames + rng.normal(0, 2.0, frames.shape)).astype(np.float32)
    np.save(tmp_path / "series.npy", frames)
    (real,), _ = discover(tmp_path)
    assert [t for t, _ in applicable_models(real)] == ["hrstem", "lrstem"]  # unknown: assumed HR-STEM
    result = score_series(real, bm3d=False)
    raw = result.method("raw input")
    assert result.frame_noise_var == pytest.approx(4.0, rel=0.25)
    assert result.reference_noise_var == pytest.approx(result.frame_noise_var / 3)
    # against a noise-free reference the raw frame's error is its own noise
    peak = np.ptp(result.example["reference"])
    assert raw.psnr_corrected_db == pytest.approx(10 * np.log10(peak ** 2 / result.frame_noise_var), abs=1.0)
    assert raw.psnr_corrected_db > raw.psnr_db
    assert result.method("Gaussian (oracle σ)").psnr_db > raw.psnr_db  # a smooth field: smoothing helps
    models = [m for m in result.methods if m.kind == "model"]
    assert [m.chosen for m in models] == [True, False] and all(np.isfinite(m.psnr_db) for m in models)
    assert set(result.example) == {"raw", "reference", "emrestore hrstem", "emrestore lrstem"}
    # one corrected PSNR per frame, whose mean is the reported one
    assert all(len(m.corrected_per_frame_db) == 4 for m in result.methods)
    assert np.mean(raw.corrected_per_frame_db) == pytest.approx(raw.psnr_corrected_db)
    assert len(set(raw.corrected_per_frame_db)) > 1
    json.dumps(result.to_json())
    # the report gives each method's per-frame spread against the tuned Gaussian
    gauss = result.method("Gaussian (oracle σ)")
    diffs = np.subtract(raw.corrected_per_frame_db, gauss.corrected_per_frame_db)
    table = "\n".join(series_lines([result], tmp_path, "figs"))
    row = next(line for line in table.splitlines() if line.startswith("| series.npy"))
    assert row.endswith(f"| {diffs.min():+.2f} … {diffs.max():+.2f} |")
    gauss_row = next(line for line in table.splitlines() if "| Gaussian (oracle σ) |" in line)
    assert gauss_row.endswith("|  |")


def test_near_clean_ladder_and_pass_through(tmp_path):
    np.save(tmp_path / "clean.npy", (_lattice(96) * 100 + 20).astype(np.float32))
    (tmp_path / MANIFEST_NAME).write_text('["clean.npy"]\nrole = "near-clean"\nmodality = "stem"\n'
                                          'pixel_size_nm = 0.02\n')
    (real,), _ = discover(tmp_path)
    result = score_near_clean(real, doses=(2.0, 1e4), bm3d=False)
    assert [m.name for m in result.pass_through] == ["emrestore hrstem", "emrestore lrstem"]
    assert set(result.ladder) == {2.0, 1e4}
    low, high = ({m.name: m.psnr_db for m in result.ladder[d]} for d in (2.0, 1e4))
    assert high["raw input"] > low["raw input"] + 1  # scan distortions (the same at both doses) stay
    assert all(np.isfinite(v) for v in low.values())
    assert result.examples[0.0]["input"].shape == (96, 96)
    assert result.own_noise_psnr_db > 50  # a noise-free frame: far above any pass-through threshold
    json.dumps(result.to_json())
    assert PASS_THROUGH_DB == 35.0


@pytest.mark.parametrize("sigma", [0.5, 2.0])
def test_own_noise_psnr_reads_the_noise_a_frame_carries(sigma):
    rng = np.random.default_rng(12)
    lattice = _lattice(256) * 100 + 20
    frame = lattice + rng.normal(0, sigma, lattice.shape)
    expected = 20 * np.log10(np.ptp(frame) / sigma)
    assert own_noise_psnr(frame) == pytest.approx(expected, abs=0.5)
    assert own_noise_psnr(lattice) > expected + 10


def test_whole_frames_score_spots_only_where_there_is_a_lattice(tmp_path):
    rng = np.random.default_rng(9)
    np.save(tmp_path / "noise.npy", rng.random((64, 64)).astype(np.float32))
    np.save(tmp_path / "lattice.npy", (_lattice(128) + rng.normal(0, 0.1, (128, 128))).astype(np.float32))
    by = {f.name: f for f in discover(tmp_path)[0]}
    noise = score_frame(by["noise.npy"])
    assert not noise.is_lattice and set(noise.spectral_gain) == {"emrestore hrstem", "emrestore lrstem"}
    result = score_frame(by["lattice.npy"])
    assert result.chosen == "emrestore hrstem" and set(result.fidelity) == {"emrestore hrstem", "emrestore lrstem"}
    assert result.restored.shape == (128, 128) and result.seconds > 0
    assert result.transfer_limit is None  # no pixel size: every spot is scored
    assert result.within_limit("emrestore hrstem") is result.fidelity["emrestore hrstem"]
    json.dumps(result.to_json())


def _candidate(tmp_path, tag, run="run-a"):
    """A shipped model copied as a training run's ``model.onnx`` (its card beside it)."""
    import shutil

    from emrestore.model.registry import find_model

    shipped = find_model(tag).onnx_path
    folder = tmp_path / run
    folder.mkdir()
    shutil.copy(shipped, folder / "model.onnx")
    shutil.copy(shipped.with_suffix(".json"), folder / "model.json")
    return folder / "model.onnx"


def test_candidate_models_are_scored_beside_the_shipped_ones_on_their_modality_only(tmp_path):
    rng = np.random.default_rng(9)
    data = tmp_path / "data"
    data.mkdir()
    np.save(data / "lattice.npy", (_lattice(128) + rng.normal(0, 0.1, (128, 128))).astype(np.float32))
    (real,), _ = discover(data)  # no calibration: HR-STEM assumed
    stem, tem = _candidate(tmp_path, "hrstem"), _candidate(tmp_path, "hrtem", "run-b")
    assert applicable_models(real, [stem, tem]) == [("hrstem", True), ("lrstem", False), (str(stem), False)]
    result = score_frame(real, candidates=[stem, tem])
    label = "emrestore model (run-a)"
    assert result.chosen == "emrestore hrstem" and set(result.fidelity) == {"emrestore hrstem", "emrestore lrstem", label}
    # the same weights as the shipped hrstem: the same restoration, scored the same
    assert result.fidelity[label].to_json() == result.fidelity["emrestore hrstem"].to_json()
    assert result.spectral_gain[label] == pytest.approx(result.spectral_gain["emrestore hrstem"])
    # two candidates whose rows would merge are refused before any work
    twin = tmp_path / "other"
    twin.mkdir()
    twin = _candidate(twin, "hrstem")  # other/run-a/model.onnx: the same row label
    with pytest.raises(ParameterError, match="share the row"):
        run_real_benchmark([str(data)], bm3d=False, progress=False, candidates=[stem, twin])


# ---------------------------------------------------------------------------- command line
def test_cli_real_only_writes_the_real_data_section(tmp_path, capsys):
    rng = np.random.default_rng(10)
    data = tmp_path / "real"
    data.mkdir()
    base = _smooth_field(rng, 48)
    np.save(data / "series.npy", (base + rng.normal(0, 1, (3, 48, 48))).astype(np.float32))
    np.save(data / "lattice.npy", (_lattice(64) + rng.normal(0, 0.1, (64, 64))).astype(np.float32))
    out = tmp_path / "report"
    assert main(["evaluate", "--real-series", str(data), "--real-only", "--bm3d-images", "0",
                 "--out", str(out), "--quiet"]) == 0
    text = (out / "evaluation.md").read_text()
    assert "## Real data" in text and "frame-split scoring" in text and "lattice fidelity" in text
    without = text[text.index("Frames without a lattice"):]
    assert "| series.npy |" in without and "| lattice.npy |" not in without
    assert "## Simulated evaluation sets" not in text
    summary = text[text.index("Summary per modality"):text.index("| file | facts (source) | frames |")]
    assert "| unknown | 1 |" in summary and "files where emrestore beats both" in summary
    assert f"--real-series {data}" in text and "--real-only" in text
    saved = json.loads((out / "evaluation" / "evaluation.json").read_text())
    assert saved["real_data"]["series"][0]["file"] == "series.npy"
    assert len(list((out / "evaluation").glob("realseries_*.jpg"))) == 1
    assert [p.name for p in (out / "evaluation").glob("realframe_*.jpg")] == ["realframe_lattice-npy.jpg"]
    assert "real    series.npy" in capsys.readouterr().out


def test_cli_scores_a_model_file_on_the_real_files(tmp_path, capsys):
    rng = np.random.default_rng(11)
    data = tmp_path / "real"
    data.mkdir()
    np.save(data / "series.npy", (_smooth_field(rng, 48) + rng.normal(0, 1, (3, 48, 48))).astype(np.float32))
    candidate = _candidate(tmp_path, "hrstem")
    out = tmp_path / "report"
    assert main(["evaluate", "--real-series", str(data), "--real-only", "--bm3d-images", "0", "--tag", "hrstem",
                 "--model", str(candidate), "--out", str(out), "--quiet"]) == 0
    text = (out / "evaluation.md").read_text()
    rows = {line.split("|")[4].strip(): line for line in text.splitlines() if line.startswith("| ")
            and len(line.split("|")) > 6 and "emrestore" in line.split("|")[4]}
    assert {"**emrestore hrstem** (auto)", "**emrestore model (run-a)**"} <= set(rows)
    # the same weights as the shipped model: the same frame-split scores
    assert rows["**emrestore model (run-a)**"].split("|")[5:8] == rows["**emrestore hrstem** (auto)"].split("|")[5:8]
    assert "real    series.npy" in capsys.readouterr().out


def test_cli_real_data_errors(tmp_path, capsys):
    assert main(["evaluate", "--real-only"]) == 2
    assert "--real-only needs --real-series" in capsys.readouterr().err
    assert main(["evaluate", "--real-series", str(tmp_path / "missing"), "--real-only"]) != 0
    err = capsys.readouterr().err
    assert "is not a folder" in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------------- reader fix, real files
def test_a_named_stem_detector_makes_the_modality_stem():
    tree = {"Acquisition_instrument": {"TEM": {"beam_energy": 300.0}}, "General": {"title": "HAADF"}}
    assert infer_modality(tree, {}) == "stem"
    assert infer_modality({"Acquisition_instrument": {"TEM": {}}}, {"BinaryResult": {"Detector": "DF4"}}) == "stem"
    assert infer_modality({"Acquisition_instrument": {"TEM": {}}, "General": {"title": "BF image"}}, {}) == "tem"


def test_real_files_facts(shared):
    from emrestore import read

    assert read(shared("real-series/Cropped_PTO-SRO_Aligned.hspy")).modality == "stem"
    folder = shared("real-series/STO_ADF.hdf5").parent
    by = {f.name: f for f in discover(folder)[0]}
    sto = by["STO_ADF.hdf5"]
    assert sto.role == "near-clean" and sto.sources["pixel_size"] == "manifest"
    assert len(find_spots(sto.image.data)) >= 20
    tem = by["64x64x5_TEM_preview.emi"]
    assert tem.role == "series" and tem.frames == 5
    assert np.abs(register_series(tem.image.data).shifts_px).max() < 0.5
