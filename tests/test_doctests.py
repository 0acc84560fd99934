"""The ``Example:`` blocks of the public docstrings run as doctests."""
import doctest
import importlib

import pytest

MODULES = ["bbbcore._native", "bbbcore.ops.random", "bbbcore.twophoton.timing",
           "bbbcore.twophoton.simulate", "bbbcore.diffusion.classic", "bbbcore.diffusion.dle",
           "bbbcore.diffusion.estimate", "bbbcore.diffusion.train", "bbbcore.diffusion.evaluate",
           "bbbcore.augment", "bbbcore.augment.functional", "bbbcore.augment.transforms",
           "bbbcore.augment.dictionary", "bbbcore.transport.geometry", "bbbcore.transport.simulate",
           "bbbcore.vessels", "bbbcore.vessels.model", "bbbcore.vessels.losses", "bbbcore.vessels.data",
           "bbbcore.vessels.inference", "bbbcore.vessels.phantoms", "bbbcore.vessels.metrics",
           "bbbcore.vessels.analysis"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no docstring example"
    assert result.failed == 0
