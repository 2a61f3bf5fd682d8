"""The uncertainty map's calibration: read from the model card, checked, used by every path."""

from __future__ import annotations

import numpy as np
import pytest

from emrestore.errors import ParameterError
from emrestore.model.card import ModelCard
from emrestore.restoration import load_model, shipped_models
from emrestore.restoration.uncertainty import DEFAULT_CALIBRATION, MapCalibration
from emrestore.restoration.uncertainty.calibration import METHOD_VERSION


def test_every_shipped_model_carries_a_calibration_of_the_current_map():
    """A change of the map's definition must come with a new fit (tools/calibrate_uncertainty.py)."""
    for info in shipped_models():
        section = info.card.uncertainty
        assert section["method"] == METHOD_VERSION, info.name
        cal = MapCalibration.from_card(info.card, info.name)
        assert 0.05 < cal.detail_weight < 5 and 0.1 < cal.scale < 3, (info.name, cal)
        assert "frames 0-27" in section["fitted_on"]
    # the default is what the shipped models have in the median
    cals = [MapCalibration.from_card(i.card, i.name) for i in shipped_models()]
    assert DEFAULT_CALIBRATION.detail_weight == pytest.approx(np.median([c.detail_weight for c in cals]), abs=0.01)
    assert DEFAULT_CALIBRATION.scale == pytest.approx(np.median([c.scale for c in cals]), abs=0.01)


def test_a_card_without_a_calibration_gets_the_default_and_a_bad_one_is_refused():
    assert MapCalibration.from_card(ModelCard()) is DEFAULT_CALIBRATION
    good = ModelCard.from_dict({"uncertainty": {"detail_weight": 0.5, "scale": 0.8, "fitted_on": "x"}})
    cal = MapCalibration.from_card(good, "m")
    assert (cal.detail_weight, cal.scale) == (0.5, 0.8) and "m" in cal.source
    for bad in ({"detail_weight": -1, "scale": 1}, {"detail_weight": 1, "scale": 0}, {"scale": 1},
                {"detail_weight": float("nan"), "scale": 1}, [1, 2]):
        with pytest.raises(ParameterError, match="uncertainty|calibration"):
            MapCalibration.from_card(ModelCard.from_dict({"uncertainty": bad}), "m")


def test_a_calibration_fitted_for_another_map_version_is_not_applied():
    old = ModelCard.from_dict({"uncertainty": {"method": "uncertainty-2", "detail_weight": 3.0, "scale": 2.0}})
    with pytest.warns(UserWarning, match="uncertainty-2.*calibrate_uncertainty"):
        assert MapCalibration.from_card(old, "m") is DEFAULT_CALIBRATION
    same = ModelCard.from_dict({"uncertainty": {"method": METHOD_VERSION, "detail_weight": 3.0, "scale": 2.0}})
    assert MapCalibration.from_card(same, "m").detail_weight == 3.0


def test_the_restorer_uses_the_models_own_calibration():
    restorer = load_model("lrtem", progress=False)
    own = MapCalibration.from_card(restorer.info.card, "lrtem")
    assert own != DEFAULT_CALIBRATION
    x = np.random.default_rng(0).poisson(50.0, (64, 64)).astype(np.float32)
    m = restorer.uncertainty(x, restorer.restore_array(x))
    assert m.calibration == own and m.record()["calibration"]["detail_weight"] == own.detail_weight
