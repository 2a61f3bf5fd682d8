"""docs/distortions.md documents every parameter of every chain."""

from __future__ import annotations

from pathlib import Path

import pytest

from emrestore.distortions import CHAINS

DOC = Path(__file__).resolve().parents[2] / "docs" / "distortions.md"


@pytest.mark.skipif(not DOC.exists(), reason="documentation not in this checkout")
@pytest.mark.parametrize("modality", sorted(CHAINS))
def test_every_parameter_is_documented(modality):
    text = DOC.read_text(encoding="utf-8")
    missing = [name for name in CHAINS[modality].parameter_names() if f"`{name}`" not in text]
    assert not missing, f"undocumented parameters: {missing}"
