"""The examples in the docstrings run and print what they show."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module_name", ["tinynet", "tinynet.network", "tinynet.callbacks", "tinynet.sklearn"]
)
def test_doctests(module_name):
    if module_name == "tinynet.sklearn":
        pytest.importorskip("sklearn")
    module = importlib.import_module(module_name)
    failed, attempted = doctest.testmod(module, report=True)
    assert attempted > 0, f"{module_name} has no doctests"
    assert failed == 0, f"{failed} of {attempted} doctest examples failed in {module_name}"
