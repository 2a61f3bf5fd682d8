"""Report figures: PSNR against dose, the side-by-side on one grey scale, scale bars on calibrated panels."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("matplotlib")

from emrestore.evaluation import evaluate_tag, validation_pairs, write_report  # noqa: E402
from emrestore.evaluation.columns import ColumnEvaluation, ImageColumns  # noqa: E402
from emrestore.evaluation.figures import (  # noqa: E402
    SCALE_BAR_GID,
    bar_length_nm,
    grey,
    grey_range,
    pyplot,
    scale_bar,
)
from emrestore.evaluation.scoring import comparison_indices  # noqa: E402
from emrestore.evaluation.sim_figures import (  # noqa: E402
    REPRODUCE_TOLERANCE_DB,
    comparison_columns,
    comparison_figure,
    dose_figure,
)

HAVE_BM3D = importlib.util.find_spec("bm3d") is not None


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory):
    """A tiny lrstem evaluation: 5 images of 64² px, BM3D on 2, the shipped lrstem model."""
    cache = tmp_path_factory.mktemp("cache")
    valset = validation_pairs("lrstem", n=5, size=64, cache_dir=cache, progress=False)
    return evaluate_tag(valset, ["lrstem"], bm3d_images=2, cache_dir=cache, progress=False)


def _written(path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.load()
        return image.size


def test_scale_bar_is_a_round_length_and_only_where_calibrated():
    plt = pyplot()
    fig, ax = plt.subplots()
    ax.imshow(np.zeros((200, 200)))
    assert scale_bar(ax, None, 200) is None and scale_bar(ax, 0.0, 200) is None
    assert not [line for line in ax.lines if line.get_gid() == SCALE_BAR_GID]
    bar = scale_bar(ax, 0.05, 200)  # 10 nm wide: about 2 nm
    assert bar.length_nm == pytest.approx(2.0) and bar.label == "2 nm" and bar.length_px == pytest.approx(40)
    (line,) = [line for line in ax.lines if line.get_gid() == SCALE_BAR_GID]
    assert np.ptp(line.get_xdata()) == pytest.approx(40)
    assert scale_bar(ax, 0.002, 256).label == "100 pm"  # 512 pm wide
    assert bar_length_nm(3.0, 1000) == pytest.approx(500.0)
    plt.close(fig)


def test_grey_maps_the_references_percentiles_to_black_and_white():
    rng = np.random.default_rng(0)
    reference = rng.normal(10, 2, (64, 64))
    low, high = grey_range(reference)
    assert low == pytest.approx(np.percentile(reference, 0.5)) and high == pytest.approx(np.percentile(reference, 99.5))
    brighter = grey(reference + 2, reference)
    assert brighter.mean() > grey(reference, reference).mean() + 0.1  # a brighter image looks brighter


def test_side_by_side_shares_the_truths_grey_scale_and_carries_scale_bars(evaluation, tmp_path):
    indices = comparison_indices(evaluation.valset, evaluation.methods)
    assert set(indices) <= set(evaluation.examples["emrestore lrstem"])  # the model's images were kept
    record = comparison_figure(evaluation, indices, tmp_path / "side.jpg")
    width, height = _written(record.path)
    assert width > 600 and height > 300
    vs = evaluation.valset
    per_row = len(record.panels) // len(indices)
    assert per_row * len(indices) == len(record.panels)
    titles = [p.title.split("\n")[0] for p in record.panels[:per_row]]
    assert titles[0] == "raw input" and titles[-1] == "truth (target)" and "emrestore lrstem" in titles
    assert "Gaussian (oracle σ)" in titles
    if HAVE_BM3D:
        assert "BM3D (oracle σ)" in titles
    for row, i in enumerate(indices):
        panels = record.panels[row * per_row:(row + 1) * per_row]
        truth_range = grey_range(vs.targets[i])
        for panel in panels:  # every panel of the row on its truth's grey scale
            assert panel.grey_range == pytest.approx(truth_range), panel.title
            assert panel.scale_bar is not None, panel.title
            assert panel.scale_bar.length_px == pytest.approx(panel.scale_bar.length_nm / vs.pixel_size_nm[i])


@pytest.mark.skipif(not HAVE_BM3D, reason="bm3d is not installed")
def test_baseline_images_of_the_side_by_side_reproduce_their_cached_scores(evaluation):
    bm3d = next(m for m in evaluation.methods if m.name.startswith("BM3D"))
    for i in np.flatnonzero(bm3d.evaluated):
        columns = {label: value for label, _, value in comparison_columns(evaluation, int(i))}
        assert columns["BM3D (oracle σ)"] == pytest.approx(bm3d.psnr_db[i], abs=REPRODUCE_TOLERANCE_DB)
        gaussian = next(m for m in evaluation.methods if m.name.startswith("Gaussian"))
        assert columns["Gaussian (oracle σ)"] == pytest.approx(gaussian.psnr_db[i], abs=REPRODUCE_TOLERANCE_DB)


def test_dose_figure_plots_every_method_against_dose(evaluation, tmp_path):
    record = dose_figure(evaluation, tmp_path / "dose.png")
    assert _written(record.path)[0] > 400
    n = len(evaluation.valset)
    assert record.curves["PSNR: raw input"] == n and record.curves["PSNR: emrestore lrstem"] == n
    assert record.curves["PSNR: Gaussian (oracle σ)"] == n and record.curves["PSNR: non-local means (oracle h)"] == n
    assert "PSNR: median 3×3" not in record.curves
    if HAVE_BM3D:
        assert record.curves["PSNR: BM3D (oracle σ)"] == 2
    assert not [k for k in record.curves if k.startswith("atomic columns")]  # lrstem measures no columns


def test_dose_figure_adds_column_precision_where_columns_were_measured(evaluation, tmp_path):
    vs = evaluation.valset
    scored = np.array([True, True, False, True, True])
    image = ImageColumns(found=0.9, spurious=0.1, rms_pm=12.0, intensity_error=0.2, n_visible=30, n_detected=31,
                         fits_converged=0.9)
    columns = ColumnEvaluation("lrstem", np.asarray(vs.doses), scored,
                               {"clean target": [image if s else None for s in scored],
                                "raw input": [image if s else None for s in scored]})
    evaluation.columns = columns
    try:
        record = dose_figure(evaluation, tmp_path / "dose.png")
    finally:
        evaluation.columns = None
    assert record.curves["atomic columns (4 images): raw input"] == 4
    assert record.curves["atomic columns (4 images): clean target"] == 4


def test_report_embeds_dose_and_side_by_side_figures(evaluation, tmp_path):
    path = write_report([evaluation], [], tmp_path / "docs", {"cpu_model": "test", "threads": 2, "git_commit": "abc",
                                                              "load_average_5min": 3.5})
    text = path.read_text()
    assert "2 threads, load average 3.5 while measuring" in text
    figures = tmp_path / "docs" / "evaluation"
    for name in ("lrstem_dose.png", "lrstem_side-by-side.jpg"):
        assert f"(evaluation/{name})" in text
        assert _written(figures / name)[0] > 400
    assert not list(figures.glob("*.part*"))  # written atomically, nothing left behind


# ---------------------------------------------------------------------------- real data
def _lattice(size: int, period: float = 8.0, width: float = 1.2) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    return np.exp(-((x % period - period / 2) ** 2 + (y % period - period / 2) ** 2) / (2 * width ** 2))


def _assert_calibrated(record, pixel_nm: float) -> None:
    assert record.panels and _written(record.path)[0] > 300
    for panel in record.panels:
        assert panel.pixel_size_nm == pytest.approx(pixel_nm) and panel.scale_bar is not None, panel.title


def test_real_data_figures_carry_scale_bars_where_calibrated(tmp_path):
    from emrestore.evaluation.real_data import (
        score_frame,
        score_near_clean,
        score_series,
    )
    from emrestore.evaluation.real_files import MANIFEST_NAME, discover
    from emrestore.evaluation.real_report import (
        frame_figure,
        near_clean_figure,
        series_figure,
    )

    rng = np.random.default_rng(3)
    clean = (_lattice(64) * 100 + 20).astype(np.float32)
    np.save(tmp_path / "clean.npy", clean)
    np.save(tmp_path / "series.npy", (clean + rng.normal(0, 5, (3, 64, 64))).astype(np.float32))
    np.save(tmp_path / "plain.npy", (clean + rng.normal(0, 5, (64, 64))).astype(np.float32))
    (tmp_path / MANIFEST_NAME).write_text(
        '["clean.npy"]\nrole = "near-clean"\nmodality = "stem"\npixel_size_nm = 0.02\n'
        '["series.npy"]\nmodality = "stem"\npixel_size_nm = 0.02\n')
    by = {f.name: f for f in discover(tmp_path)[0]}
    out = tmp_path / "figures"
    _assert_calibrated(near_clean_figure(score_near_clean(by["clean.npy"], doses=(1.0,), bm3d=False),
                                         out / "clean.jpg"), 0.02)
    _assert_calibrated(series_figure(score_series(by["series.npy"], bm3d=False), out / "series.jpg"), 0.02)
    _assert_calibrated(frame_figure(score_frame(by["clean.npy"]), out / "frame.jpg"), 0.02)
    uncalibrated = frame_figure(score_frame(by["plain.npy"]), out / "plain.jpg")
    assert uncalibrated.panels and all(p.scale_bar is None for p in uncalibrated.panels)


def test_restored_real_file_figure_has_scale_bars(tmp_path):
    import emrestore
    from emrestore.evaluation.real_examples import real_file_figure

    rng = np.random.default_rng(4)
    image = emrestore.EMImage(rng.poisson(30, (96, 80)).astype(np.float32), pixel_size=0.05, unit="nm",
                              modality="stem")
    restored = emrestore.restore(image, progress=False)
    record = real_file_figure(image, restored, tmp_path / "real.jpg", zoom=48)
    _assert_calibrated(record, 0.05)
    assert len(record.panels) == 4
    assert all(p.grey_range == pytest.approx(grey_range(image.data)) for p in record.panels)  # the input's scale
