"""TinyNetClassifier and TinyNetRegressor against scikit-learn's MLPClassifier and
MLPRegressor, all four with their default parameters: cross-validated scores and fit times.

    python -m benchmarks.sklearn_mlp [--quick] [--datasets NAME[,NAME]] [--folds 5]
        [--repeats 1] [--seed 0]

Needs scikit-learn (``pip install scikit-learn``, or the ``bench`` extra), for the data, the
folds and the contenders. ``--quick`` is a smoke run of a second or two (iris, diabetes and
linnerud, 3 folds); the default run takes a few minutes.

Datasets (``--datasets`` names):

- ``digits`` (1797 x 64, 10 classes), ``breast_cancer`` (569 x 30, 2 classes), ``wine``
  (178 x 13, 3 classes), ``iris`` (150 x 4, 3 classes): scikit-learn's bundled data sets;
  classifiers, scored by accuracy.
- ``diabetes`` (442 x 10): regression, the target standardised (to mean 0, sd 1) so that the
  default learning rate suits its scale; ``linnerud`` (20 x 3): regression of 3 targets at
  once (multi-output), as loaded. Regressors, scored by R^2 (averaged over the targets).
- ``make_classification``: 20000 x 20 (10 informative features, 2 classes, seed 0).
- ``make_regression``: 20000 x 20 (10 informative features, noise 10, seed 0), the target
  standardised as diabetes'.

Protocol: 5-fold cross-validation (``StratifiedKFold`` for the classifiers, ``KFold`` for the
regressors, rows shuffled with ``random_state=0``); each model is
``make_pipeline(StandardScaler(), estimator)``, so X is standardised on each training fold.
Fold i fits both estimators with ``random_state=seed + i``, their other parameters left at
their defaults (``hidden_layer_sizes=(100,)``, adam, relu, ``batch_size="auto"``,
``max_iter=200``, ``tol=1e-4``, ``n_iter_no_change=10``, no early stopping). The two fit the
same fold one after the other, the first of the two alternating from fit to fit, so that a
drift in the machine's speed hits both; with ``--repeats`` r each fold is fitted r times by
each (the same fit: the seeds are fixed). One untimed fit of each on a few rows goes first
(imports, caches). A fit time covers the pipeline's ``fit`` (the scaler's share is well under
a millisecond), not the scoring.

The table: mean and sample standard deviation of the folds' test scores; the median fit time
over the folds (and repeats); the median epochs run (``n_iter_``); the speed-up, scikit-learn's
median time over tinynet's; and how many fits raised a ``ConvergenceWarning`` (they are
silenced, counted per dataset: those that ran out of ``max_iter`` before ``tol`` stopped them).

The targets, each printed as PASS or MISS (never asserted): on every dataset tinynet's mean
score is at most one of scikit-learn's fold standard deviations below scikit-learn's mean;
tinynet fits at least 3x as fast on every dataset, and at least 5x on the median dataset.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

import tinynet

try:
    import sklearn  # type: ignore[import-untyped]
    from sklearn import datasets
    from sklearn.base import BaseEstimator  # type: ignore[import-untyped]
    from sklearn.exceptions import ConvergenceWarning  # type: ignore[import-untyped]
    from sklearn.model_selection import KFold, StratifiedKFold  # type: ignore[import-untyped]
    from sklearn.neural_network import MLPClassifier, MLPRegressor  # type: ignore[import-untyped]
    from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

    from tinynet.sklearn import TinyNetClassifier, TinyNetRegressor

    HAVE_SKLEARN = True
except ImportError:  # main says so; the module still imports, and --help works
    HAVE_SKLEARN = False

SCORE_SD_MARGIN = 1.0  # tinynet's mean may trail scikit-learn's by this many fold sds
MIN_SPEEDUP = 3.0  # on every dataset
MEDIAN_SPEEDUP = 5.0  # on the median dataset


@dataclass(frozen=True)
class Dataset:
    """One benchmark problem: how to load it and what kind of estimator it takes."""

    name: str
    load: Callable[[], tuple[np.ndarray, np.ndarray]]
    classification: bool


def standardised(y: np.ndarray) -> np.ndarray:
    """``y`` with mean 0 and standard deviation 1."""
    return (y - y.mean()) / y.std()


def _bundled(loader: str) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    """scikit-learn's ``datasets.<loader>(return_X_y=True)``, looked up when called."""
    return lambda: getattr(datasets, loader)(return_X_y=True)


def _diabetes() -> tuple[np.ndarray, np.ndarray]:
    X, y = datasets.load_diabetes(return_X_y=True)
    return X, standardised(y)


def _generated_classification() -> tuple[np.ndarray, np.ndarray]:
    return datasets.make_classification(
        n_samples=20000, n_features=20, n_informative=10, random_state=0
    )


def _generated_regression() -> tuple[np.ndarray, np.ndarray]:
    X, y = datasets.make_regression(
        n_samples=20000, n_features=20, n_informative=10, noise=10.0, random_state=0
    )
    return X, standardised(y)


# By ``--datasets`` name, in the table's order.
DATASETS = {
    d.name: d
    for d in (
        Dataset("digits", _bundled("load_digits"), True),
        Dataset("breast_cancer", _bundled("load_breast_cancer"), True),
        Dataset("wine", _bundled("load_wine"), True),
        Dataset("iris", _bundled("load_iris"), True),
        Dataset("diabetes", _diabetes, False),
        Dataset("linnerud", _bundled("load_linnerud"), False),
        Dataset("make_classification", _generated_classification, True),
        Dataset("make_regression", _generated_regression, False),
    )
}
QUICK = ("iris", "diabetes", "linnerud")
CONTENDERS = ("sklearn", "tinynet")


def estimator(contender: str, classification: bool, seed: int) -> BaseEstimator:
    """A contender's estimator with its default parameters but ``random_state``."""
    if contender == "sklearn":
        return (MLPClassifier if classification else MLPRegressor)(random_state=seed)
    return (TinyNetClassifier if classification else TinyNetRegressor)(random_state=seed)


@dataclass
class Fits:
    """One contender's fits on one dataset."""

    scores: list[float] = field(default_factory=list)  # one per fold
    seconds: list[float] = field(default_factory=list)  # one per fit (folds x repeats)
    epochs: list[int] = field(default_factory=list)
    warned: int = 0  # fits that raised a ConvergenceWarning

    @property
    def mean(self) -> float:
        """The mean score over the folds."""
        return statistics.fmean(self.scores)

    @property
    def sd(self) -> float:
        """The sample standard deviation of the folds' scores."""
        return statistics.stdev(self.scores) if len(self.scores) > 1 else 0.0

    @property
    def ms(self) -> float:
        """The median fit time, in milliseconds."""
        return statistics.median(self.seconds) * 1e3


def timed_fit(model: BaseEstimator, X: np.ndarray, y: np.ndarray) -> tuple[float, bool]:
    """Fit ``model``; the seconds it took and whether it raised a ConvergenceWarning (which
    is silenced; any other warning is shown)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
    converged = True
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            converged = False
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return seconds, not converged


def run_dataset(
    dataset: Dataset, X: np.ndarray, y: np.ndarray, folds: int, repeats: int, seed: int
) -> dict[str, Fits]:
    """Cross-validate both contenders on ``dataset``'s ``X`` and ``y``, interleaved."""
    splitter = (StratifiedKFold if dataset.classification else KFold)(
        n_splits=folds, shuffle=True, random_state=0
    )
    fits = {name: Fits() for name in CONTENDERS}
    turn = 0
    for i, (train, test) in enumerate(splitter.split(X, y)):
        for r in range(repeats):
            order = CONTENDERS if turn % 2 == 0 else CONTENDERS[::-1]
            turn += 1
            for name in order:
                model = make_pipeline(
                    StandardScaler(), estimator(name, dataset.classification, seed + i)
                )
                seconds, warned = timed_fit(model, X[train], y[train])
                fit = fits[name]
                fit.seconds.append(seconds)
                fit.warned += warned
                fit.epochs.append(getattr(model[-1], "n_iter_", -1))
                if r == 0:
                    fit.scores.append(float(model.score(X[test], y[test])))
    return fits


def warm_up() -> None:
    """One untimed fit of each estimator on a few rows: imports and first-call costs."""
    X, y = datasets.load_iris(return_X_y=True)
    X, y = X[::10], y[::10]
    for name in CONTENDERS:
        for classification in (True, False):
            timed_fit(estimator(name, classification, 0), X, y if classification else X[:, 0])


def environment() -> str:
    """What is measured, with what."""
    load = f", load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    return (
        f"tinynet {tinynet.__version__}, scikit-learn {sklearn.__version__}, numpy "
        f"{np.__version__}, Python {platform.python_version()}, {os.cpu_count()} CPUs{load}"
    )


def fmt_score(fits: Fits) -> str:
    """Mean ± sd of the folds' scores."""
    return f"{fits.mean:.4f} ± {fits.sd:.4f}"


def fmt_ms(ms: float) -> str:
    """Milliseconds to 3 significant digits, or whole."""
    return f"{ms:.3g}" if ms < 1000 else f"{ms:.0f}"


def fmt_epochs(fits: Fits) -> str:
    """The median epochs run, or '-' if the estimator does not say (no ``n_iter_``)."""
    return "-" if min(fits.epochs) < 0 else f"{statistics.median(fits.epochs):g}"


def markdown(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    """A Markdown table; the first ``left`` columns align left, the others right."""
    rule = ["---" if i < left else "---:" for i in range(len(header))]
    return "\n".join("| " + " | ".join(row) + " |" for row in [header, rule, *rows])


def verdict(ok: bool) -> str:
    """PASS or MISS."""
    return "PASS" if ok else "MISS"


def report(results: dict[str, tuple[Dataset, tuple[int, ...], dict[str, Fits]]]) -> str:
    """The table and the targets' verdicts."""
    header = ["dataset", "rows x features", "score", "sklearn score", "tinynet score"]
    header += ["sklearn fit ms", "tinynet fit ms", "speedup", "epochs sklearn / tinynet"]
    header += ["ConvergenceWarnings sklearn / tinynet"]
    rows, speedups, score_misses, slow = [], [], [], []
    for name, (dataset, shape, fits) in results.items():
        sk, tn = fits["sklearn"], fits["tinynet"]
        speedup = sk.ms / tn.ms
        speedups.append(speedup)
        if tn.mean < sk.mean - SCORE_SD_MARGIN * sk.sd:
            score_misses.append(f"{name} ({tn.mean:.4f} < {sk.mean:.4f} - {sk.sd:.4f})")
        if speedup < MIN_SPEEDUP:
            slow.append(f"{name} ({speedup:.2f}x)")
        rows.append(
            [
                name,
                " x ".join(map(str, shape)),
                "accuracy" if dataset.classification else "R^2",
                fmt_score(sk),
                fmt_score(tn),
                fmt_ms(sk.ms),
                fmt_ms(tn.ms),
                f"{speedup:.2f}x",
                f"{fmt_epochs(sk)} / {fmt_epochs(tn)}",
                f"{sk.warned} / {tn.warned} of {len(sk.seconds)}",
            ]
        )
    median = statistics.median(speedups)
    lines = [
        markdown(header, rows, left=3),
        "",
        "Targets:",
        f"- {verdict(not score_misses)}: tinynet's mean score within {SCORE_SD_MARGIN:g} "
        "sd of the folds (scikit-learn's) of scikit-learn's mean on every dataset"
        + (f"; below it: {', '.join(score_misses)}" if score_misses else ""),
        f"- {verdict(not slow)}: fit at least {MIN_SPEEDUP:g}x faster on every dataset"
        + (f"; slower: {', '.join(slow)}" if slow else f" (least {min(speedups):.2f}x)"),
        f"- {verdict(median >= MEDIAN_SPEEDUP)}: fit at least {MEDIAN_SPEEDUP:g}x faster on "
        f"the median dataset ({median:.2f}x)",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; ``--datasets`` becomes a list of names."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sklearn_mlp", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: {', '.join(QUICK)} (unless --datasets), 3 folds (unless --folds)",
    )
    parser.add_argument("--datasets", metavar="NAME[,NAME]", help=f"of: {', '.join(DATASETS)}")
    parser.add_argument("--folds", type=int, help="cross-validation folds (default 5; 3 quick)")
    parser.add_argument(
        "--repeats", type=int, default=1, help="fits of each fold by each estimator (default 1)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="fold i fits with random_state seed + i"
    )
    args = parser.parse_args(argv)
    if args.datasets:
        args.datasets = [name.strip() for name in args.datasets.split(",")]
    else:
        args.datasets = list(QUICK if args.quick else DATASETS)
    unknown = [name for name in args.datasets if name not in DATASETS]
    if unknown:
        parser.error(f"unknown dataset {', '.join(unknown)}; datasets: {', '.join(DATASETS)}")
    if args.folds is None:
        args.folds = 3 if args.quick else 5
    if args.folds < 2:
        parser.error("--folds must be at least 2")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if not HAVE_SKLEARN:
        parser.exit(
            1,
            "python -m benchmarks.sklearn_mlp needs scikit-learn, which tinynet does not "
            'install: python -m pip install scikit-learn (or "tinynet[bench]")\n',
        )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its table and verdicts; returns the exit status (0: the
    targets are reported, not enforced)."""
    args = parse_args(argv)
    print(environment())
    print(
        f"{args.folds}-fold cross-validation, {args.repeats} fit(s) per fold and estimator, "
        f"default parameters, random_state {args.seed} + fold; medians of the fit times",
        flush=True,
    )
    warm_up()
    results = {}
    start = time.perf_counter()
    for name in args.datasets:
        dataset = DATASETS[name]
        X, y = dataset.load()
        fits = run_dataset(dataset, X, y, args.folds, args.repeats, args.seed)
        results[name] = (dataset, X.shape, fits)
        print(f"  {time.perf_counter() - start:6.1f} s: {name}", file=sys.stderr, flush=True)
    print()
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
