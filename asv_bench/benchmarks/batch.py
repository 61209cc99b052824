"""Benchmarks of batched fitting: ``leastsq_batch`` next to a loop over SciPy's ``leastsq``.

The problems are those of ``python -m lmfit_core.bench --batch``: exponential
decays with a vectorised NumPy model, and compiled Gaussians (1-D on a
background, and 2-D spots on 5 x 5 pixels) on one and two threads.
"""
import warnings

import numpy as np

from .common import (Benchmark, batch_callbacks, gauss_curves, need,  # noqa: F401
                     safe_import, setup, skip)

with safe_import():
    from lmfit_core import leastsq_batch

with safe_import():
    from lmfit_core.bench import _decay_batch

with safe_import():
    from lmfit_core.bench import DECAY_GROUP

with safe_import():
    from lmfit_core.bench import DECAY_GROUP_2THREADS

with safe_import():
    from lmfit_core import _examples

with safe_import():
    from scipy import LowLevelCallable
    from scipy.optimize import leastsq as scipy_leastsq


class DecayBatch(Benchmark):
    """K exponential decays (m=100, n=3), finite differences: batch vs SciPy loop.

    ``lmfit_core-groups`` fits the problems in groups of ``DECAY_GROUP``
    (250, ``chunk_size``), which keeps the model's arrays in cache;
    ``lmfit_core-groups-2threads`` fits them in groups of
    ``DECAY_GROUP_2THREADS`` (125) on two threads (the engines of some
    groups run while the model evaluates another group's points).
    """

    params = [[100, 2000], ["lmfit_core", "lmfit_core-groups",
                            "lmfit_core-groups-2threads", "scipy"]]
    param_names = ["K", "implementation"]
    timeout = 300

    def setup(self, K, implementation):
        need(globals(), "leastsq_batch", "_decay_batch", "scipy_leastsq")
        if implementation == "lmfit_core-groups":
            need(globals(), "DECAY_GROUP")
        if implementation == "lmfit_core-groups-2threads":
            need(globals(), "DECAY_GROUP_2THREADS")
        self.rows, one, self.x0 = _decay_batch(K)
        self.funcs = [one(k) for k in range(K)]

    def _run(self, implementation):
        if implementation == "lmfit_core":
            return leastsq_batch(self.rows, self.x0).nfev
        if implementation == "lmfit_core-groups":
            return leastsq_batch(self.rows, self.x0, chunk_size=DECAY_GROUP).nfev
        if implementation == "lmfit_core-groups-2threads":
            return leastsq_batch(self.rows, self.x0, chunk_size=DECAY_GROUP_2THREADS,
                                 threads=2).nfev
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.array([scipy_leastsq(f, x, full_output=True)[2]["nfev"]
                             for f, x in zip(self.funcs, self.x0)])

    def time_batch(self, K, implementation):
        self._run(implementation)

    def peakmem_batch(self, K, implementation):
        self._run(implementation)

    def track_total_nfev(self, K, implementation):
        return int(self._run(implementation).sum())


class CompiledBatch(Benchmark):
    """10,000 compiled fits with analytic Jacobians, on 1 and 2 threads."""

    params = [["gauss1d", "gauss2d"], [1, 2]]
    param_names = ["model", "threads"]
    timeout = 300

    def setup(self, model, threads):
        need(globals(), "leastsq_batch", "_examples", "LowLevelCallable")
        if not hasattr(_examples, "CurveSet"):
            skip("no batch models on this commit")
        K = 10_000
        if model == "gauss1d":
            t, Y, self.x0 = gauss_curves(_examples, K)
            self.data = _examples.CurveSet(t, Y)
            self.m, self.options = 100, {}
        else:
            rng = np.random.default_rng(5)
            truth = np.column_stack([rng.uniform(50, 150, K), rng.uniform(1.5, 2.5, K),
                                     rng.uniform(1.5, 2.5, K), rng.uniform(0.8, 1.2, K),
                                     rng.uniform(5, 15, K)])
            Z = np.array([_examples.gauss2d_model(p) for p in truth])
            Z += np.sqrt(np.maximum(Z, 1.0)) * rng.normal(size=Z.shape)
            self.data = _examples.CurveSet(None, Z)
            self.x0 = truth * rng.choice([0.9, 1.1], size=truth.shape)
            self.m, self.options = 25, dict(ftol=1e-4, xtol=1e-4)
        self.f, self.j = batch_callbacks(_examples, LowLevelCallable,
                                         "gauss" if model == "gauss1d" else "gauss2d",
                                         self.data)

    def _run(self, threads):
        return leastsq_batch(self.f, self.x0, args=(self.m,), Dfun=self.j,
                             threads=threads, **self.options)

    def time_batch(self, model, threads):
        self._run(threads)

    def track_converged(self, model, threads):
        return int(self._run(threads).success.sum())
