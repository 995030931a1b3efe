"""The compiled core as built: what importing tinynet says when it is missing, and a release
build's size (no debug information)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import section_names

import tinynet
from tinynet import _core

PACKAGE = Path(tinynet.__file__).resolve().parent

# A stand-in for a core that exists but fails to load, as one whose shared library is missing.
BROKEN_CORE = """
raise ImportError("libmissing.so.1: cannot open shared object file", name="tinynet._core")
"""


def import_copy(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Import the copy of tinynet in `tmp_path` in a new Python, as from a checkout's top.

    Parameters
    ----------
    tmp_path : Path
        The folder holding the copy, ``tinynet/``.

    Returns
    -------
    subprocess.CompletedProcess
        The finished import, its output captured.
    """
    # The current folder comes first on sys.path (PYTHONPATH too, in case PYTHONSAFEPATH is
    # set). -S leaves out site-packages, as for a checkout never installed: an editable
    # install's import hook would otherwise find its own tinynet._core for the copy.
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-S", "-c", "import tinynet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def copy_without_core(tmp_path: Path) -> Path:
    """The Python files of tinynet in ``tmp_path/tinynet``, not the core."""
    for folder in (PACKAGE,):
        dest = tmp_path / folder.relative_to(PACKAGE.parent)
        dest.mkdir()
        for source in folder.glob("*.py"):
            shutil.copy2(source, dest / source.name)
    return tmp_path


def test_import_without_the_core_says_how_to_build_it(copy_without_core: Path):
    result = import_copy(copy_without_core)
    assert result.returncode != 0
    assert "tinynet._core, was not found" in result.stderr, result.stderr
    assert str(copy_without_core.resolve() / "tinynet") in result.stderr, result.stderr
    assert "python -m pip install -e ." in result.stderr, result.stderr
    assert "circular import" not in result.stderr, result.stderr


def test_import_names_a_core_built_for_another_python(copy_without_core: Path):
    other = "_core.cpython-39-x86_64-linux-gnu.so"
    (copy_without_core / "tinynet" / other).write_bytes(b"")
    result = import_copy(copy_without_core)
    assert result.returncode != 0
    assert f"(found only {other})" in result.stderr, result.stderr


def test_import_keeps_other_errors_of_the_core(copy_without_core: Path):
    (copy_without_core / "tinynet" / "_core.py").write_text(BROKEN_CORE)
    result = import_copy(copy_without_core)
    assert result.returncode != 0
    assert "ImportError: libmissing.so.1: cannot open shared object file" in result.stderr
    assert "was not found" not in result.stderr, result.stderr
    if sys.version_info >= (3, 11):  # exception notes
        assert "python -m pip install -e ." in result.stderr, result.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads a Linux (ELF) core")
def test_release_core_has_no_debug_information():
    """setup.py compiles the release core with -g0 and links it with --strip-debug."""
    if _core.BOUNDS_CHECKED:
        pytest.skip("the bounds-checked build keeps its debug information")
    path = Path(_core.__file__)
    names = section_names(path.read_bytes())
    assert ".text" in names, names
    debug = [name for name in names if name.startswith(".debug")]
    assert not debug, f"{path} has debug information: {debug}; rebuild: pip install -e ."
