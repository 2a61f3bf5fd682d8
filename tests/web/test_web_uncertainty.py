"""The web app returns the restoration's uncertainty map: a calibrated TIFF and the overlay frame."""

from __future__ import annotations

import numpy as np
from webclient import get, npy_bytes, post_form

import emrestore


def test_restore_offers_the_uncertainty_map(server, tmp_path):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:96, :128]
    clean = 200 + 80 * np.cos(2 * np.pi * x / 6) * np.cos(2 * np.pi * y / 6)
    data = rng.poisson(clean).astype(np.float32)
    result = post_form(server.url, "/api/restore", files={"file": ("lattice.npy", npy_bytes(data))}).json()
    assert result["uncertainty"]["units"].startswith("input intensity units")
    reply = get(server.url, result["uncertainty_tif"] + "?download=1")
    assert reply.status == 200 and reply.headers["content-type"] == "image/tiff"
    assert "lattice_uncertainty.tif" in reply.headers["content-disposition"]
    (tmp_path / "u.tif").write_bytes(reply.body)
    umap = emrestore.read(tmp_path / "u.tif")
    assert umap.shape == (96, 128) and np.ptp(umap.data) > 0 and np.all(umap.data >= 0)
    assert umap.metadata["uncertainty"]["method"].startswith("uncertainty")
    raw = get(server.url, result["uncertainty_f32"])
    assert raw.status == 200
    frame = np.frombuffer(raw.body, "<f4").reshape(result["uncertainty_display"]["shape"])
    np.testing.assert_allclose(frame, umap.data, rtol=1e-6)
    page = get(server.url, "/")
    assert b"show-uncertainty" in page.body and b"cv-uncertainty" in page.body
