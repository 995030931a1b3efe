"""tinynet: the network of "A Neural Network in 11 lines of Python", compiled with Cython.

>>> import numpy as np, tinynet
>>> X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
>>> net = tinynet.Network([3, 4, 1], seed=1).fit(X, [0, 1, 1, 0], epochs=60000)
>>> net.predict(X).round(2).ravel().tolist()
[0.0, 1.0, 1.0, 0.0]
"""

from tinynet.callbacks import EarlyStopping
from tinynet.network import Network, load

__all__ = ["EarlyStopping", "Network", "__version__", "load"]
__version__ = "0.1.0"
