"""``emrestore distort`` through :func:`emrestore.cli.main`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emrestore import EMImage, read, write
from emrestore.cli import main


@pytest.fixture
def clean_file(tmp_path, lattice):
    path = tmp_path / "clean.tif"
    write(EMImage(lattice.astype(np.float32), pixel_size=0.025, unit="nm", modality="stem"), path)
    return path


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("modality", ["tem", "stem", "sem"])
def test_distort_writes_both_outputs_with_calibration(tmp_path, clean_file, capsys, modality):
    out = tmp_path / f"noisy_{modality}.tif"
    status, stdout, _ = run_cli(capsys, "distort", str(clean_file), str(out),
                                "--modality", modality, "--seed", "3")
    assert status == 0
    target_file = tmp_path / f"noisy_{modality}_target.tif"
    assert out.exists() and target_file.exists()
    params = json.loads(stdout)
    assert params["modality"] == modality and params["seed"] == 3
    for path in (out, target_file):
        image = read(path)
        assert image.pixel_size == pytest.approx(0.025) and image.unit == "nm"
        assert image.shape == (96, 128)
    degraded = read(out).data
    replay = {k: v for k, v in params.items() if k not in ("modality", "seed")}
    from emrestore.distortions import distort

    again, _, _ = distort(read(clean_file), modality, seed=3, **replay)
    assert np.array_equal(again.data, degraded)


def test_distort_set_fixes_parameters(tmp_path, clean_file, capsys):
    out = tmp_path / "fixed.npy"
    status, stdout, _ = run_cli(
        capsys, "distort", str(clean_file), str(out), "--modality", "tem", "--seed", "1",
        "--set", "dose_e_per_px=25", "--set", "counting_camera=true",
        "--set", "adc_bits=12", "--set", "display_applied=false",
    )
    assert status == 0
    params = json.loads(stdout)
    assert params["dose_e_per_px"] == 25.0 and params["counting_camera"] is True
    assert params["adc_bits"] == 12
    assert (tmp_path / "fixed_target.npy").exists()
    target = np.load(tmp_path / "fixed_target.npy")
    dark_kept = 0.0 if params["dark_subtracted"] else params["dark_e_per_px"]  # counting: 1 ADU/e
    # the detector PSF the target keeps moves a little intensity at the reflect-padded edges
    assert np.allclose(target.mean(), 25.0 + dark_kept, rtol=5e-3)


def test_distort_modality_from_the_file(tmp_path, clean_file, capsys):
    status, stdout, _ = run_cli(capsys, "distort", str(clean_file), str(tmp_path / "o.tif"))
    assert status == 0
    params = json.loads(stdout)
    assert params["modality"] == "stem" and isinstance(params["seed"], int)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--set", "dose=3"], "Unknown parameter"),
        (["--set", "dose_e_per_px=-3"], "dose_e_per_px"),
        (["--set", "adc_bits=10"], "adc_bits"),
        (["--set", "novalue"], "name=value"),
    ],
)
def test_distort_bad_parameters_exit_2(tmp_path, clean_file, capsys, extra, message):
    out = tmp_path / "bad.tif"
    status, _, stderr = run_cli(capsys, "distort", str(clean_file), str(out),
                                "--modality", "stem", "--seed", "0", *extra)
    assert status == 2
    assert message in stderr and "Traceback" not in stderr
    assert not out.exists()


def test_distort_refuses_to_overwrite(tmp_path, clean_file, capsys):
    out = tmp_path / "o.tif"
    assert run_cli(capsys, "distort", str(clean_file), str(out), "--modality", "tem")[0] == 0
    status, _, stderr = run_cli(capsys, "distort", str(clean_file), str(out), "--modality", "tem")
    assert status == 2 and "exists" in stderr.lower()
    (tmp_path / "o.tif").unlink()  # only the target is left: still refused, nothing written
    status, _, stderr = run_cli(capsys, "distort", str(clean_file), str(out), "--modality", "tem")
    assert status == 2 and "o_target.tif" in stderr and not out.exists()
    assert run_cli(capsys, "distort", str(clean_file), str(out), "--modality", "tem",
                   "--overwrite")[0] == 0
    status, _, _ = run_cli(capsys, "distort", str(clean_file), str(clean_file), "--modality", "tem",
                           "--overwrite")
    assert status == 2  # never replaces the input


def test_distort_needs_a_modality(tmp_path, capsys):
    path = tmp_path / "plain.npy"
    np.save(path, np.ones((32, 32), np.float32))
    status, _, stderr = run_cli(capsys, "distort", str(path), str(tmp_path / "o.npy"))
    assert status == 2 and "--modality" in stderr
