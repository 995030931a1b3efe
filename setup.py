"""Build of tinynet's compiled core: one C++ extension, its Cython directives set here once.

Set ``TINYNET_DEBUG_BUILD=1`` when building to compile the core with bounds and wraparound
checks on (slower; for running the test suite against out-of-bounds mistakes).
"""

import glob
import os
import sys
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG_BUILD = os.environ.get("TINYNET_DEBUG_BUILD", "") not in ("", "0")

compiler_directives = {
    "language_level": 3,
    "boundscheck": DEBUG_BUILD,
    "wraparound": DEBUG_BUILD,
    "initializedcheck": DEBUG_BUILD,
    "cdivision": True,
    "embedsignature": True,
}

if sys.platform == "win32":
    extra_compile_args = ["/O2", "/std:c++17"]
else:
    # -fno-math-errno: exp need not set errno, which lets the compiler vectorise around it.
    # -fno-wrapv undoes the -fwrapv in CPython's CFLAGS: with wrapping signed indices the
    # compiler cannot simplify the kernels' small loops (measured: 1.4x slower on the XOR).
    # No -ffast-math: it would reorder the sums the reference's numbers depend on.
    # -ffp-contract=fast: the compiler fuses a * b + c into one multiply-add where the
    # instruction set has them, in the kernels compiled for x86-64-v3 and v4 (csrc/
    # tinynet_platform.hh), not in the SSE2 baseline: results may differ between the baseline
    # and those two by rounding (v3 and v4 agree bit for bit). Every kernel of a fit runs in
    # its plan's instruction set, its arithmetic inlined into functions compiled for that
    # set, so that within one set every road fuses the same multiply-adds and gives the same
    # bits. clang's default, "on", fuses only within one expression, and the ensemble's lanes
    # spell the other roads' expressions as several operator calls; with "fast" clang fuses
    # in its code generator, across statements, as GCC does. avoid-fma-max-bits=0 keeps the
    # x86 tunings that split chains of multiply-adds from doing so for some vector widths
    # and not others. MSVC builds (/fp:precise, SSE2, one instruction set) fuse nothing.
    # The inlining limits let GCC inline the whole forward pass into the epoch loop, twice
    # (training and validation); below them the loop measured 5% slower on the XOR.
    extra_compile_args = [
        "-O3",
        "-std=c++17",
        "-fno-math-errno",
        "-fno-wrapv",
        "-ffp-contract=fast",
        "--param=avoid-fma-max-bits=0",
        "--param=max-inline-insns-single=2000",
        "--param=inline-unit-growth=400",
    ]

# Release builds carry no debug information (CPython's CFLAGS often hold -g; the -g0 after
# them wins), which is most of an unstripped core's size; the bounds-checked build keeps it,
# for debuggers and sanitizers. On Linux the linker strips what objects bring in regardless
# (macOS's linker keeps debug information out of the module already).
extra_link_args = []
if sys.platform != "win32":
    extra_compile_args.append("-g" if DEBUG_BUILD else "-g0")
    # A fit's batch helper is a std::thread (csrc/tinynet_helper.hh).
    extra_compile_args.append("-pthread")
    extra_link_args.append("-pthread")
    if not DEBUG_BUILD and sys.platform.startswith("linux"):
        extra_link_args.append("-Wl,--strip-debug")

# Neither Cython nor setuptools rebuilds when only the directives or the flags change, so the
# build's kind and flags are recorded, and a build that differs regenerates the C++ and
# recompiles everything.
BUILD_KIND = "\n".join(
    ["bounds-checked" if DEBUG_BUILD else "release", *extra_compile_args, *extra_link_args]
)
KIND_FILE = Path(__file__).resolve().parent / "build" / "tinynet-build-kind"
try:
    KIND_CHANGED = KIND_FILE.read_text() != BUILD_KIND
except OSError:
    KIND_CHANGED = True


class BuildExt(build_ext):
    """build_ext, recording the build's kind when done. (A change of kind needs no more:
    cythonize, forced, writes a new _core.cpp, and build_ext recompiles what is older.)"""

    def run(self):
        super().run()
        KIND_FILE.parent.mkdir(exist_ok=True)
        KIND_FILE.write_text(BUILD_KIND)


extensions = [
    Extension(
        "tinynet._core",
        sources=["tinynet/_core.pyx"],
        include_dirs=["csrc"],
        # Every header, by pattern, so that a new or renamed one is not left out.
        depends=[*sorted(glob.glob("csrc/*.hh")), "tinynet/_kernels.pxd"],
        language="c++",
        extra_compile_args=extra_compile_args,
        extra_link_args=extra_link_args,
        # Read back as tinynet._core.BOUNDS_CHECKED, so a test run can say what it tested.
        define_macros=[("TINYNET_BOUNDS_CHECKED", "1" if DEBUG_BUILD else "0")],
    )
]

setup(
    ext_modules=cythonize(extensions, compiler_directives=compiler_directives, force=KIND_CHANGED),
    cmdclass={"build_ext": BuildExt},
)
