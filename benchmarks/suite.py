"""The benchmark suite, run from the top of a checkout: ``python benchmarks/suite.py``.

The same as ``python -m tinynet bench`` (see :mod:`tinynet.bench.suite` for the cases and
options), except that the speed-up plot goes to ``benchmarks/speedup.png``, the README's.
"""

import sys
from pathlib import Path

from tinynet.bench.suite import main

if __name__ == "__main__":
    plot = str(Path(__file__).with_name("speedup.png"))
    sys.exit(main(prog="python benchmarks/suite.py", default_plot=plot))
