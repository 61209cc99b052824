"""Shared helpers of the lmfit_core asv suite.

Every benchmark module imports :func:`setup` from here; asv runs a module-level
``setup`` before each benchmark of the module, so every benchmark starts from
the same random state.
"""
import os

import numpy as np


def setup(*args, **kwargs):
    """Seed NumPy's global random state before each benchmark."""
    np.random.seed(1234)


class safe_import:
    """Context manager that lets a benchmark module import on old commits.

    Benchmarks run against past commits too, which may lack a module or name
    that a benchmark needs. Inside ``with safe_import():`` an ``ImportError``
    is suppressed (the names simply stay undefined, and benchmarks check for
    them in ``setup``); ``error`` records that one happened. Set
    ``LMFIT_CORE_ALLOW_BENCH_IMPORT_ERRORS=0`` to let import errors through.
    """

    def __enter__(self):
        self.error = False
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            return False
        self.error = True
        allow = os.environ.get("LMFIT_CORE_ALLOW_BENCH_IMPORT_ERRORS", "1")
        return allow.lower() not in ("0", "false") and issubclass(exc_type, ImportError)


class Benchmark:
    """Base class: the timing attributes shared by the suite.

    asv reads these class attributes; subclasses override them where a
    benchmark is much slower or faster than a typical fit.
    """

    # Seconds before asv abandons one benchmark with one parameter set.
    timeout = 120
    warmup_time = 0.1


def skip(reason):
    """Skip the current benchmark (asv treats NotImplementedError as a skip)."""
    raise NotImplementedError(reason)


def need(namespace, *names):
    """Skip unless each of `names` was imported into `namespace` (a module's globals()).

    With :class:`safe_import`, a name a commit lacks stays undefined.
    """
    for name in names:
        if name not in namespace:
            skip(f"{name} is not importable on this commit")


def gauss_curves(examples, K):
    """The 1-D problems of the compiled batches: (t, Y, X0) for K noisy Gaussians.

    `examples` is ``lmfit_core._examples``; a Gaussian on a background at 100
    points, its own noise per curve, one start point off the truth, as in
    ``python -m lmfit_core.bench --batch``.
    """
    rng = np.random.default_rng(5)
    t = np.linspace(-5, 5, 100)
    Y = examples.gauss_model([2.0, 0.3, 1.1, 0.5], t) + 0.05 * rng.normal(size=(K, t.size))
    return t, Y, np.tile([1.5, 0.0, 1.5, 0.3], (K, 1))


def batch_callbacks(examples, low_level_callable, name, data):
    """The compiled batch residuals and Jacobian ``{name}_batch_*`` of `examples` on `data`."""
    return tuple(low_level_callable.from_cython(examples, f"{name}_batch_{kind}",
                                                data.user_data)
                 for kind in ("residuals", "jacobian"))
