"""Packaging: ``python -m build`` makes an sdist and a binary wheel from a clean copy of the
checkout, and the wheel works when installed into a fresh virtual environment.

Slow (the build compiles the core once, about a minute), so deselected by default; run it with
``python -m pytest -m slow tests/test_packaging.py``. It needs the ``build`` package, and pip
must be able to fetch the build requirements and numpy and scipy (from its cache or an index).
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from helpers import section_names

import tinynet

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

# The distribution's name on the package index, where "tinynet" is an unrelated project; the
# sdist's and wheel's file names spell it with an underscore.
DISTRIBUTION = "tinynet-backprop"
FILE_NAME = DISTRIBUTION.replace("-", "_")

# Left out when the checkout is copied without git: what builds, tests and tools leave behind.
IGNORED = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
    "*.so",
    "*.pyd",
    "_core.cpp",
    "_core.html",
)

# Run by the fresh environment's Python from an empty directory, so that it imports the
# installed wheel, installed under the distribution's name (its first argument): the blog's
# three-layer XOR to 12 significant digits, and a save and load.
SMOKE_TEST = """
import importlib.metadata, importlib.util, sys, tempfile
from pathlib import Path
import numpy as np
import tinynet
from tinynet import _core

assert Path(tinynet.__file__).is_relative_to(sys.prefix), tinynet.__file__
assert importlib.util.find_spec("Cython") is None, "Cython is installed"
assert not _core.BOUNDS_CHECKED
assert importlib.metadata.version(sys.argv[1]) == tinynet.__version__
X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
y = np.array([[0, 1, 1, 0]]).T
net = tinynet.Network([3, 4, 1], seed=1).fit(X, y, epochs=59999)
mae = net.history["mae"][10000]
assert f"{mae:.12g}" == "0.00858452565325", mae
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "xor.npz"
    net.save(path)
    again = tinynet.load(path)
np.testing.assert_array_equal(again.predict(X), net.predict(X))
print("smoke test passed:", tinynet.__version__, "numpy", np.__version__)
"""


def run(*args: str | Path, cwd: Path, timeout: float) -> str:
    """Run a command with this environment less PYTHONPATH and the debug-build switch; its
    output, or a failed test showing it."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TINYNET_DEBUG_BUILD")}
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{args} exited with {result.returncode}:\n{output[-5000:]}"
    return output


def copy_checkout(dest: Path) -> None:
    """The checkout's files as a clean clone has them, plus files not yet committed (git's
    ignored files left out); without git, the working tree less build and test leftovers."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        shutil.copytree(ROOT, dest, ignore=IGNORED, dirs_exist_ok=True)
        return
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():  # not deleted in the working tree
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The sdist and the wheel that ``python -m build`` makes from a copy of the checkout."""
    try:  # by its metadata: a checkout's build/ folder imports as a namespace package
        importlib.metadata.version("build")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the 'build' package is not installed (python -m pip install build)")
    if not (ROOT / "setup.py").is_file():
        pytest.skip(f"not a source checkout: no setup.py in {ROOT}")
    source = tmp_path_factory.mktemp("checkout")
    copy_checkout(source)
    outdir = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", outdir, source, cwd=source, timeout=900)
    (sdist,) = outdir.glob(f"{FILE_NAME}-*.tar.gz")
    (wheel,) = outdir.glob(f"{FILE_NAME}-*.whl")
    return sdist, wheel


def test_sdist_has_every_source_file(dists):
    sdist, _ = dists
    with tarfile.open(sdist) as archive:
        top = f"{FILE_NAME}-{tinynet.__version__}/"
        members = {name.removeprefix(top) for name in archive.getnames()}
    required = {"README.md", "setup.py", "pyproject.toml", "MANIFEST.in", "tinynet/py.typed"}
    sources = [
        *(ROOT / "csrc").iterdir(),
        *(ROOT / "tests").glob("*.py"),
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "benchmarks").glob("*.py"),
    ]
    for pattern in ("*.py", "*.pyx", "*.pxd", "*.pyi"):
        sources += (ROOT / "tinynet").rglob(pattern)
    required |= {path.relative_to(ROOT).as_posix() for path in sources if path.is_file()}
    assert any(name.endswith(".hh") for name in required)
    assert required <= members, f"missing from the sdist: {sorted(required - members)}"
    generated = {name for name in members if name.endswith((".cpp", ".so", ".pyd"))}
    assert not generated, f"generated files in the sdist: {sorted(generated)}"


def test_wheel_is_a_binary_wheel_with_the_core(dists):
    _, wheel = dists
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    assert wheel.name.startswith(f"{FILE_NAME}-{tinynet.__version__}-{tag}-{tag}-"), wheel.name
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert any(n.startswith("tinynet/_core.") and n.endswith((".so", ".pyd")) for n in names)
    shipped = {"tinynet/py.typed", "tinynet/_core.pyi", "tinynet/__main__.py", "tinynet/_blog.py"}
    assert shipped <= names, f"missing from the wheel: {sorted(shipped - names)}"
    # The benchmarks stay in the checkout and the sdist.
    assert not any(name.startswith("benchmarks/") for name in names)
    assert "tinynet/_core.cpp" not in names


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads a Linux (ELF) core")
def test_wheel_core_has_no_debug_information(dists):
    """setup.py builds release cores with -g0 and links them with --strip-debug."""
    _, wheel = dists
    with zipfile.ZipFile(wheel) as archive:
        (core,) = (
            n for n in archive.namelist() if n.startswith("tinynet/_core.") and n.endswith(".so")
        )
        names = section_names(archive.read(core))
    assert ".text" in names, names
    debug = [name for name in names if name.startswith(".debug")]
    assert not debug, f"{core} has debug information: {debug}"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="manylinux is Linux's")
def test_wheel_is_manylinux(dists, tmp_path):
    """auditwheel finds no library outside the manylinux policy (the tag it reports follows
    the build machine's glibc; cibuildwheel builds in the manylinux_2_28 image)."""
    if shutil.which("auditwheel") is None:
        pytest.skip("auditwheel is not installed (python -m pip install auditwheel)")
    _, wheel = dists
    output = " ".join(run("auditwheel", "show", wheel, cwd=tmp_path, timeout=120).split())
    assert 'is consistent with the following platform tag: "manylinux_' in output, output


def test_wheel_works_in_a_fresh_environment(dists, tmp_path):
    _, wheel = dists
    run(sys.executable, "-m", "venv", tmp_path / "venv", cwd=tmp_path, timeout=300)
    bin_dir = "Scripts" if os.name == "nt" else "bin"
    python = tmp_path / "venv" / bin_dir / ("python.exe" if os.name == "nt" else "python")
    # Binaries only: nothing, the wheel's dependencies included, is compiled here.
    run(python, "-m", "pip", "install", "--only-binary=:all:", wheel, cwd=tmp_path, timeout=600)
    (tmp_path / "smoke_test.py").write_text(SMOKE_TEST)
    output = run(python, "-W", "error", "smoke_test.py", DISTRIBUTION, cwd=tmp_path, timeout=300)
    assert "smoke test passed" in output
    output = run(python, "-W", "error", "-m", "tinynet", "--no-speed", cwd=tmp_path, timeout=300)
    assert f"tinynet {tinynet.__version__}" in output
    assert "Error:0.00858452565325" in output.splitlines()
