"""The benchmark suite, ``python -m tinynet bench``: the compiled core against the blog's
algorithm in plain numpy (and PyTorch and numba, when installed) at four problem sizes, in
both dtypes, with threads and memory. See :mod:`benchmarks.suite`.

It needs nothing beyond tinynet's own dependencies; the ``bench`` extra adds matplotlib (the
plot) and threadpoolctl (``--blas-threads``), the ``peers`` extra PyTorch and numba.
"""
