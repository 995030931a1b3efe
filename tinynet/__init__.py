"""tinynet: the network of "A Neural Network in 11 lines of Python", compiled with Cython.

>>> import numpy as np, tinynet
>>> X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
>>> net = tinynet.Network([3, 4, 1], seed=1).fit(X, [0, 1, 1, 0], epochs=60000)
>>> net.predict(X).round(2).ravel().tolist()
[0.0, 1.0, 1.0, 0.0]
"""

# The compiled core first: without it every other module fails to import, and Python's own
# message for `from tinynet import _core` then blames a circular import. (Imported by its full
# name, a missing core is a ModuleNotFoundError naming it.)
try:
    import tinynet._core as _core  # noqa: F401 (imported to check it loads)
except ImportError as error:
    from pathlib import Path

    _folder = Path(__file__).resolve().parent
    _hint = (
        "From a checkout, build it with `python -m pip install -e .` at the checkout's top, "
        "and again after changing a .pyx or csrc/ file."
    )
    # Only a missing module gets the new message; any other failure (a shared library not
    # found, a symbol missing from a stale build) keeps its own, with the hint added.
    if isinstance(error, ModuleNotFoundError) and error.name == "tinynet._core":
        # A core built for another Python or platform has another file name.
        _others = sorted(p.name for p in _folder.glob("_core*") if p.suffix in (".so", ".pyd"))
        _found = f" (found only {', '.join(_others)})" if _others else ""
        raise ImportError(
            f"tinynet's compiled core, the extension module tinynet._core, was not found next "
            f"to tinynet/__init__.py in {_folder}{_found}. {_hint}"
        ) from error
    if hasattr(error, "add_note"):  # Python 3.11+
        error.add_note(_hint)
    raise

from tinynet import schedules
from tinynet.callbacks import EarlyStopping, ReduceLROnPlateau
from tinynet.ensemble import Ensemble
from tinynet.network import Network, load
from tinynet.optimizers import LBFGS, SGD, Adam, AdamW, RMSprop

__all__ = [
    "LBFGS",
    "SGD",
    "Adam",
    "AdamW",
    "EarlyStopping",
    "Ensemble",
    "Network",
    "RMSprop",
    "ReduceLROnPlateau",
    "__version__",
    "load",
    "schedules",
]
__version__ = "0.1.0"
