#!/bin/sh
# Run the test suite against a build of the compiled core instrumented with AddressSanitizer
# and UndefinedBehaviorSanitizer (GCC or Clang on Linux), with Cython's bounds checks on
# (TINYNET_DEBUG_BUILD=1).
#
#   tools/asan.sh [pytest arguments]        e.g. tools/asan.sh -x tests/test_kernels.py
#
# Uses the python on PATH (or $PYTHON), which needs numpy, scipy, Cython, setuptools>=77, pytest
# and hypothesis. SANITIZE=address runs ASan alone. The instrumented tinynet/_core*.so is
# left in place and imports only with the ASan runtime preloaded: rebuild with
# `python setup.py build_ext --inplace` (or `pip install -e .`) afterwards.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
SANITIZE=${SANITIZE:-address,undefined}

# -fno-sanitize-recover makes undefined behaviour fatal. The build's log (Cython's many
# bounds-check performance hints) is shown only if it fails.
log=$(mktemp)
if ! TINYNET_DEBUG_BUILD=1 \
    CFLAGS="-fsanitize=$SANITIZE -fno-sanitize-recover=all -fno-omit-frame-pointer -g" \
    LDFLAGS="-fsanitize=$SANITIZE" \
    "$PYTHON" setup.py build_ext --inplace --force >"$log" 2>&1; then
    cat "$log"; rm -f "$log"; exit 1
fi
rm -f "$log"

# Python is not instrumented, so the ASan runtime must be loaded before everything else
# (without it the import fails: "ASan runtime does not come first in initial library list").
# Subprocesses (the command-line tests) inherit all of this.
LD_PRELOAD=$("${CC:-gcc}" -print-file-name=libasan.so)
# detect_leaks=0: CPython and numpy keep memory they allocate at import until exit, which
# LeakSanitizer would report (and fail the run) after every passing suite.
# abort_on_error=1: die by SIGABRT, so that Python's faulthandler names the running test.
# allocator_may_return_null=1: an impossible allocation (the tests ask for a network of 2**40
# inputs) fails as it does without ASan, with numpy's MemoryError, instead of aborting.
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1
export LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS

# --capture=sys: pytest's default (fd) capture would swallow the sanitizer's report, which
# is written to file descriptor 2 just before the process dies.
exec "$PYTHON" -m pytest -p no:cacheprovider --capture=sys "$@"
