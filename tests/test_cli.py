"""``python -m tinynet``: prints the blog's results and the speed against the blog's loop."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tinynet

# The posts' printed numbers (README.md, "What `python -m tinynet` prints", results 1-3).
BLOG_LINES = [
    "Error:0.496410031903",
    "Error:0.00858452565325",
    "Error:0.00578945986251",
    "Error:0.00462917677677",
    "Error:0.00395876528027",
    "Error:0.00351012256786",
]
BLOG_NUMBERS = [
    # two-layer output
    "0.00966449",
    "0.00786506",
    "0.99358898",
    "0.99211957",
    # three-layer output
    "0.00260572",
    "0.99672209",
    "0.99701711",
    "0.00386759",
    # single neuron: starting weights, final weights, new situation
    "-0.16595599",
    "0.44064899",
    "-0.99977125",
    "9.67299303",
    "-0.2078435",
    "-4.62963669",
    "0.99993704",
]


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -W error -m tinynet *args`` from an empty directory, importing the same
    tinynet as this test session (in development, the one built in place)."""
    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(tinynet.__file__))
    env["PYTHONPATH"] = os.pathsep.join([package_parent, *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.run(
        [sys.executable, "-W", "error", "-m", "tinynet", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_prints_the_blog_results(tmp_path):
    result = run_cli(tmp_path, "--no-speed")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert f"tinynet {tinynet.__version__}" in lines
    assert [line for line in lines if line.startswith("Error:")] == BLOG_LINES
    numbers = set(re.findall(r"-?\d+\.\d+", result.stdout))
    missing = [number for number in BLOG_NUMBERS if number not in numbers]
    assert not missing, f"not printed: {missing}\n{result.stdout}"
    assert "speed-up" not in result.stdout


def printed_ms(stdout: str, name: str) -> float:
    """The milliseconds printed on the line that starts with ``name``."""
    match = re.search(rf"^\s*{re.escape(name)}\s+([\d.]+) ms", stdout, re.MULTILINE)
    assert match, f"no time for {name!r}:\n{stdout}"
    return float(match.group(1))


def printed_speed_up(stdout: str, against: str) -> float:
    """The speed-up printed ``against`` a baseline."""
    match = re.search(rf"speed-up\s+([\d.]+)x against {re.escape(against)}$", stdout, re.MULTILINE)
    assert match, f"no speed-up against {against!r}:\n{stdout}"
    return float(match.group(1))


def test_cli_prints_the_speed_up_against_the_blogs_loop(tmp_path):
    result = run_cli(tmp_path, "--repeats", "1")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "Error:0.00858452565325" in result.stdout
    # Speed itself is measured in benchmarks/, never asserted in a test: only that the
    # report's ratios are those of its times, the first against the blog's own loop.
    core = printed_ms(result.stdout, "compiled core")
    blog = printed_ms(result.stdout, "the blog's numpy loop")
    reference = printed_ms(result.stdout, "tinynet's numpy reference")
    speed_ups = re.findall(r"^\s*speed-up.*$", result.stdout, re.MULTILINE)
    assert "against the blog's numpy loop" in speed_ups[0], result.stdout
    for baseline, against in (
        (blog, "the blog's numpy loop"),
        (reference, "tinynet's numpy reference"),
    ):
        assert printed_speed_up(result.stdout, against) == pytest.approx(baseline / core, rel=0.01)


def test_cli_rejects_zero_repeats(tmp_path):
    result = run_cli(tmp_path, "--repeats", "0")
    assert result.returncode == 2
    assert "--repeats must be at least 1" in result.stderr


def test_cli_help_names_the_bench_command(tmp_path):
    result = run_cli(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    assert "python -m tinynet bench" in result.stdout
    assert "--no-speed" in result.stdout


def test_cli_bench_is_only_a_first_argument(tmp_path):
    """``bench`` after an option is a mistake, not the blog's demo run silently."""
    result = run_cli(tmp_path, "--no-speed", "bench")
    assert result.returncode == 2
    assert "unrecognized arguments: bench" in result.stderr


def test_cli_bench_passes_its_options_to_the_suite(tmp_path):
    result = run_cli(tmp_path, "bench", "--help")
    assert result.returncode == 0, result.stderr
    assert "python -m tinynet bench" in result.stdout
    assert "--only" in result.stdout
    result = run_cli(tmp_path, "bench", "--only", "nonsense")
    assert result.returncode == 2
    assert "unknown case nonsense" in result.stderr


def test_cli_bench_runs_a_case_and_prints_its_table(tmp_path):
    result = run_cli(tmp_path, "bench", "--quick", "--only", "memory")
    assert result.returncode == 0, result.stderr
    assert "Memory of one epoch" in result.stdout
    assert "mnist-batch" in result.stdout
    assert list(tmp_path.iterdir()) == []  # no plot unless asked for
