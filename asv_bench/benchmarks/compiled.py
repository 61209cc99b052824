"""Benchmarks of compiled callbacks: lmfit_core next to MINPACK driven from numba.

The problem is the 1-D Gaussian on a background of ``python -m lmfit_core.bench
--compiled`` (m = 100, n = 4, noise, start off the truth, default
tolerances). The peers are those the embedding and batch targets name,
``cminpack-numba`` and ``minpack-numba`` (numba ``cfunc`` callbacks, the same
model); a peer that is not installed is skipped.
"""
import numpy as np

from .common import (Benchmark, batch_callbacks, gauss_curves, need,  # noqa: F401
                     safe_import, setup, skip)

with safe_import():
    from lmfit_core import leastsq, leastsq_batch

with safe_import():
    from lmfit_core import _examples

with safe_import():
    from lmfit_core import _bench_peers

with safe_import():
    from scipy import LowLevelCallable

PEERS = ["cminpack-numba", "minpack-numba"]
T = np.linspace(-5, 5, 100)
X0 = np.array([1.5, 0.0, 1.5, 0.3])


def _peer(implementation):
    need(globals(), "_bench_peers")
    peers = _bench_peers.load(T)
    if implementation not in peers:
        skip(f"{implementation} is not installed")
    return peers[implementation]


class CompiledFit(Benchmark):
    """One fit called from Python, with a compiled residual (and Jacobian)."""

    params = [["lmfit_core-capi", "lmfit_core-leastsq", *PEERS], ["lmdif", "lmder"]]
    param_names = ["implementation", "jacobian"]

    def setup(self, implementation, jacobian):
        need(globals(), "_examples", "leastsq", "LowLevelCallable")
        y = (_examples.gauss_model([2.0, 0.3, 1.1, 0.5], T)
             + 0.05 * np.random.default_rng(0).normal(size=T.size))
        analytic = jacobian == "lmder"
        if implementation == "lmfit_core-capi":
            data = _examples.CurveData(T, y)
            self.fit = lambda: _examples.fit_gauss(data, X0, analytic)
        elif implementation == "lmfit_core-leastsq":
            data = _examples.CurveData(T, y)
            f = LowLevelCallable.from_cython(_examples, "gauss_residuals", data.user_data)
            j = LowLevelCallable.from_cython(_examples, "gauss_jacobian", data.user_data)
            dfun = j if analytic else None
            self.fit = lambda: leastsq(f, X0, args=(T.size,), Dfun=dfun)
            self.data = data                    # the callbacks' user data
        else:
            fit = _peer(implementation)[jacobian]
            fit(y, X0)                          # numba compiles on the first call
            self.fit = lambda: fit(y, X0)

    def time_fit(self, implementation, jacobian):
        self.fit()


class GaussBatchPeers(Benchmark):
    """10,000 compiled Gaussians with analytic Jacobians on one thread."""

    params = [["lmfit_core", *PEERS]]
    param_names = ["implementation"]
    timeout = 300

    def setup(self, implementation):
        need(globals(), "_examples", "leastsq_batch", "LowLevelCallable")
        t, Y, X = gauss_curves(_examples, 10_000)
        if implementation == "lmfit_core":
            if not hasattr(_examples, "CurveSet"):
                skip("no batch models on this commit")
            data = _examples.CurveSet(t, Y)
            f, j = batch_callbacks(_examples, LowLevelCallable, "gauss", data)
            self.run = lambda: leastsq_batch(f, X, args=(T.size,), Dfun=j, threads=1).nfev
            self.data = data                    # the callbacks' user data
        else:
            loop = _peer(implementation)["lmder_loop"]
            loop(Y[:2], X[:2])                  # compile before timing
            self.run = lambda: loop(Y, X)[1]

    def time_batch(self, implementation):
        self.run()

    def track_total_nfev(self, implementation):
        return int(np.sum(self.run()))

    track_total_nfev.unit = "evaluations"


class RosenbrockEngine(Benchmark):
    """MINPACK's own cost: Rosenbrock's fit (54 evaluations) with its residuals a
    numba cfunc, so that the callbacks cost almost nothing; each engine's lmdif
    in a numba-compiled loop of 100 fits (lmfit_core's through its Cython API)."""

    params = [["lmfit_core", *PEERS]]
    param_names = ["implementation"]

    def setup(self, implementation):
        need(globals(), "_bench_peers")
        if not hasattr(_bench_peers, "rosenbrock_engines"):
            skip("no Rosenbrock engines on this commit")
        engines = _bench_peers.rosenbrock_engines()
        if implementation not in engines:
            skip(f"{implementation} is not installed")
        self.fits = engines[implementation]
        self.fits(2)                            # numba compiles on the first call

    def time_100_fits(self, implementation):
        self.fits(100)

    def track_nfev(self, implementation):
        return int(self.fits(1))

    track_nfev.unit = "evaluations"
