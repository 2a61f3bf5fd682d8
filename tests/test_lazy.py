"""Lazy package attributes load their module on first use and then stay."""

import sys

import pytest

from emrestore.lazy import lazy_getattr


def test_lazy_name_is_loaded_once_and_others_raise():
    namespace: dict = {}
    getattr_ = lazy_getattr("emrestore", {"ParameterError": ".errors"}, namespace)
    with pytest.raises(AttributeError, match="module 'emrestore' has no attribute 'Nope'"):
        getattr_("Nope")
    value = getattr_("ParameterError")
    assert value is sys.modules["emrestore.errors"].ParameterError and namespace["ParameterError"] is value


def test_training_package_loads_the_trainer_on_first_use():
    import emrestore.training as training

    assert training.Trainer.__module__ == "emrestore.training.trainer"
    assert training.lr_factor.__module__ == "emrestore.training.schedule"
