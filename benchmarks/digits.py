"""Train scikit-learn's 8x8 digits with tinynet and with scikit-learn's MLPClassifier, under the
same plain-SGD settings, and compare test accuracy and training time.

    python -m benchmarks.digits [--epochs 100] [--hidden 32] [--batch-size 64]
        [--learning-rate 0.1] [--alpha 0.0] [--activation relu] [--dtype float64]
        [--repeats 3] [--seed 0]

Needs scikit-learn (``pip install scikit-learn``, or the ``bench`` extra), for the data, the
split and the contender.

Data: ``load_digits`` (1797 images, 64 pixels in 0..16, 10 classes), X scaled to [0, 1] by
X / 16, one fixed stratified split (``train_test_split(test_size=0.25, random_state=0)``: 1347
training rows, 450 test rows). tinynet gets one-hot targets (``np.eye(10)[labels]``) and its
labels are ``predict(X).argmax(axis=1)``; MLPClassifier gets the integer labels.

The settings, side by side (both: one hidden layer, all epochs run, rows reshuffled every epoch):

    MLPClassifier                                tinynet
    hidden_layer_sizes=(H,)                      Network([64, H, 10], bias=True)
    activation="relu" / "tanh" / "logistic"      activation="relu" / "tanh" / "sigmoid"
    softmax output, log-loss (multi-class)       output="softmax" (cross-entropy)
    solver="sgd", momentum=0,                    fit(momentum=0.0, nesterov=False)
      nesterovs_momentum=False,
      learning_rate="constant"
    batch_size=B, shuffle=True                   fit(batch_size=B, shuffle=True)
    max_iter=E, tol=0, n_iter_no_change=E,       fit(epochs=E)
      early_stopping=False
    learning_rate_init=lr                        fit(learning_rate=lr / B)
    alpha=a                                      fit(l2=a)
    Glorot-uniform weights, bound                init="xavier": sqrt(6 / (fan_in + fan_out)),
      sqrt(6 / (fan_in + fan_out)),                weights scaled by sqrt(1/3) for sigmoid;
      sqrt(2 / (fan_in + fan_out)) for logistic,   biases set here to uniform draws in the
      intercepts uniform in the same bound         same bound (tinynet starts them at zero)

Why learning_rate / B and l2 = alpha: on a batch of B rows sklearn's ``_backprop`` takes the
loss mean(l_n) + 0.5 * alpha * sum ||W||^2 / B, so its weight gradient is
(sum_n dl_n/dW + alpha * W) / B and its bias gradient sum_n dl_n/db / B, each applied as
``param -= learning_rate_init * grad``. tinynet's gradient of its documented batch loss
sum_n l_n + (l2 / 2) * sum ||W||^2 is the same sum without the division by B. So tinynet takes
the same steps with learning_rate = learning_rate_init / B and l2 = alpha; neither decays biases.
(Checked: from the same initial weights, without shuffling and with B dividing the rows, both
tinynet backends end 5 epochs within 3e-16 of MLPClassifier's weights, for each activation.)

What still differs: the random draws (same distributions, different generators, so the initial
weights and the shuffling order are not the same numbers), and the last, smaller batch of an
epoch when B does not divide the training rows (1347 = 21 * 64 + 3 by default): sklearn
averages its gradient over its own size (3 rows), tinynet's step keeps lr / B per row. Repeat r
uses seed + r for both implementations (the initial weights and the shuffling); the medians are
over the repeats, which run interleaved after one untimed 1-epoch warm-up of each. Times cover
building the model and training it, not the test predictions. The speed ratio is
MLPClassifier's median time over the implementation's (above 1: faster than MLPClassifier).
MLPClassifier and tinynet's numpy backend use numpy's BLAS, and so does tinynet's compiled core
when it finds the OpenBLAS numpy's wheel bundles (else scipy's: ``tinynet._core.blas_library()``
says which); each may run on several threads.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

import tinynet

try:
    from sklearn.datasets import load_digits  # type: ignore[import-untyped]
    from sklearn.exceptions import ConvergenceWarning  # type: ignore[import-untyped]
    from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]
    from sklearn.neural_network import MLPClassifier  # type: ignore[import-untyped]

    HAVE_SKLEARN = True
except ImportError:  # main says so; the module still imports, and --help works
    HAVE_SKLEARN = False

SKLEARN_ACTIVATION = {"relu": "relu", "tanh": "tanh", "sigmoid": "logistic"}


@dataclass
class Data:
    """The split: float inputs in [0, 1], integer labels, and one-hot training targets."""

    X_train: np.ndarray
    X_test: np.ndarray
    labels_train: np.ndarray
    labels_test: np.ndarray
    onehot_train: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.onehot_train = np.eye(10, dtype=self.X_train.dtype)[self.labels_train]


def load(dtype: type) -> Data:
    """The 8x8 digits scaled to [0, 1] in ``dtype``, split 3:1, stratified, seed 0."""
    X, labels = load_digits(return_X_y=True)
    X = (X / 16.0).astype(dtype)
    X_train, X_test, labels_train, labels_test = train_test_split(
        X, labels, test_size=0.25, random_state=0, stratify=labels
    )
    return Data(X_train, X_test, labels_train, labels_test)


# One run: (data, seed) -> (seconds to build and train, test accuracy).
Run = Callable[[Data, int], tuple[float, float]]


def tinynet_run(backend: str, args: argparse.Namespace) -> Run:
    """tinynet with ``backend``, set up as MLPClassifier is (see the module's docstring)."""
    layers = [64, args.hidden, 10]
    # sklearn's Glorot bound: factor 6, or 2 for the logistic activation.
    factor = 2.0 if args.activation == "sigmoid" else 6.0

    def run(data: Data, seed: int) -> tuple[float, float]:
        start = time.perf_counter()
        net = tinynet.Network(
            layers,
            activation=args.activation,
            output="softmax",
            bias=True,
            init="xavier",
            seed=seed,
            dtype=data.X_train.dtype.type,
            backend=backend,
        )
        if factor != 6.0:
            net.weights = [w * np.sqrt(factor / 6.0) for w in net.weights]
        rng = np.random.default_rng(seed)
        net.biases = [
            rng.uniform(-1.0, 1.0, fan_out) * np.sqrt(factor / (fan_in + fan_out))
            for fan_in, fan_out in itertools.pairwise(layers)
        ]
        net.fit(
            data.X_train,
            data.onehot_train,
            epochs=args.epochs,
            learning_rate=args.learning_rate / args.batch_size,
            batch_size=args.batch_size,
            shuffle=True,
            momentum=0.0,
            nesterov=False,
            l2=args.alpha,
            progress=False,
        )
        seconds = time.perf_counter() - start
        return seconds, float(np.mean(net.predict(data.X_test).argmax(axis=1) == data.labels_test))

    return run


def sklearn_run(args: argparse.Namespace) -> Run:
    """scikit-learn's MLPClassifier by plain SGD, all ``args.epochs`` epochs run."""

    def run(data: Data, seed: int) -> tuple[float, float]:
        start = time.perf_counter()
        clf = MLPClassifier(
            hidden_layer_sizes=(args.hidden,),
            activation=SKLEARN_ACTIVATION[args.activation],
            solver="sgd",
            alpha=args.alpha,
            batch_size=args.batch_size,
            learning_rate="constant",
            learning_rate_init=args.learning_rate,
            max_iter=args.epochs,
            shuffle=True,
            random_state=seed,
            tol=0.0,
            n_iter_no_change=args.epochs,
            momentum=0.0,
            nesterovs_momentum=False,
            early_stopping=False,
        )
        with warnings.catch_warnings():  # "Maximum iterations reached": we ask for exactly that
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(data.X_train, data.labels_train)
        seconds = time.perf_counter() - start
        if clf.n_iter_ != args.epochs:
            raise RuntimeError(f"MLPClassifier stopped after {clf.n_iter_} epochs")
        return seconds, float(np.mean(clf.predict(data.X_test) == data.labels_test))

    return run


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.digits", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=32, help="hidden units")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=0.1,
        help="sklearn's learning_rate_init (per sample); tinynet gets it / batch size",
    )
    parser.add_argument(
        "--alpha", type=float, default=0.0, help="sklearn's alpha = tinynet's l2 (default 0)"
    )
    parser.add_argument("--activation", choices=list(SKLEARN_ACTIVATION), default="relu")
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="repeat r uses seed + r")
    args = parser.parse_args(argv)
    for name in ("epochs", "hidden", "batch_size", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not HAVE_SKLEARN:
        parser.exit(
            1,
            "python -m benchmarks.digits needs scikit-learn, which tinynet does not "
            'install: python -m pip install scikit-learn (or "tinynet[bench]")\n',
        )

    data = load(np.dtype(args.dtype).type)
    factories: dict[str, Callable[[argparse.Namespace], Run]] = {
        "MLPClassifier (sklearn)": sklearn_run,
        "tinynet, cython backend": functools.partial(tinynet_run, "cython"),
        "tinynet, numpy backend": functools.partial(tinynet_run, "numpy"),
    }
    one_epoch = argparse.Namespace(**{**vars(args), "epochs": 1})
    for make in factories.values():  # untimed: first-call costs (imports, caches)
        make(one_epoch)(data, args.seed)
    contenders = {name: make(args) for name, make in factories.items()}

    times: dict[str, list[float]] = {name: [] for name in contenders}
    accuracies: dict[str, list[float]] = {name: [] for name in contenders}
    for r in range(args.repeats):  # interleaved, so that all share the machine's mood
        for name, run in contenders.items():
            seconds, accuracy = run(data, args.seed + r)
            times[name].append(seconds)
            accuracies[name].append(accuracy)

    n_train, n_test = len(data.X_train), len(data.X_test)
    print(
        f"8x8 digits, {n_train} training / {n_test} test rows, 64-{args.hidden}-10, "
        f"{args.activation} + softmax, {args.dtype}; plain SGD, batch {args.batch_size}, "
        f"learning rate {args.learning_rate:g} (tinynet: {args.learning_rate:g} / "
        f"{args.batch_size}), alpha {args.alpha:g}\n"
        f"medians of {args.repeats} repeats (seeds {args.seed}..{args.seed + args.repeats - 1}),"
        " (min-max) in brackets"
    )
    header = (
        f"{'':25}{'epochs':>7}  {'test accuracy':<24}{'training time s':<24}"
        f"{'ms/epoch':>8}{'vs MLP':>8}"
    )
    print(header)
    print("-" * len(header))
    reference = statistics.median(times["MLPClassifier (sklearn)"])
    for name in contenders:
        acc, secs = accuracies[name], times[name]
        median = statistics.median(secs)
        acc_text = f"{statistics.median(acc):.4f} ({min(acc):.4f}-{max(acc):.4f})"
        time_text = f"{median:.3f} ({min(secs):.3f}-{max(secs):.3f})"
        print(
            f"{name:25}{args.epochs:7d}  {acc_text:<24}{time_text:<24}"
            f"{median / args.epochs * 1e3:8.2f}{reference / median:7.1f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
