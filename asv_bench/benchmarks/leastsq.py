"""Benchmarks of ``leastsq``: lmfit_core next to SciPy, and the QR kernel.

The problems come from ``lmfit_core._problems``, the module the tests and the
demo use, so the benchmarks fit exactly the problems whose results the parity
tests check. Problem ids are written out here rather than computed, so that
the parameter grid is known even on a commit where the import fails.
"""
import warnings

import numpy as np

# The package itself is imported unguarded: if it cannot be imported the
# suite must fail, not skip every benchmark. Only parts that older commits
# may lack are guarded.
from lmfit_core import leastsq as lmfit_core_leastsq

from .common import Benchmark, safe_import, setup, skip  # noqa: F401

with safe_import():
    from lmfit_core._problems import get_problem

with safe_import():
    from lmfit_core._qrfac import _qrfac_memview

with safe_import():
    from lmfit_core._qrtall import _qr_tall_memview

with safe_import():
    from scipy.optimize import leastsq as scipy_leastsq


IMPLEMENTATIONS = ["lmfit_core", "scipy"]
JACOBIANS = ["lmdif", "lmder"]

#: A cross-section of the MINPACK test cases (small and larger, easy and
#: hard, one rank-deficient family) and one NIST StRD data set, each from
#: its standard starting point (factor 1).
PROBLEMS = [
    "rosenbrock_n2_m2",
    "helical_valley_n3_m3",
    "bard_n3_m15",
    "kowalik_osborne_n4_m11",
    "meyer_n3_m16",
    "watson_n9_m31",
    "osborne1_n5_m33",
    "osborne2_n11_m65",
    "brown_almost_linear_n30_m30",
    "thurber_n7_m37",
]


def _solver(implementation):
    """The ``leastsq`` of `implementation`; skip the benchmark if it is missing."""
    name = {"lmfit_core": "lmfit_core_leastsq", "scipy": "scipy_leastsq"}[implementation]
    solver = globals().get(name)
    if solver is None:
        skip(f"{implementation} is not importable")
    return solver


def _fit(solver, func, x0, dfun, col_deriv=False):
    """One fit with full output; warnings for ier 5-8 and overflow are muted."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return solver(func, x0, Dfun=dfun, col_deriv=col_deriv, full_output=True)


class LeastSq(Benchmark):
    """Fit one test problem with one implementation and one Jacobian source.

    ``lmdif``: forward-difference Jacobian (no ``Dfun``); ``lmder``: the
    problem's analytic Jacobian as ``Dfun``, rows per residual.
    """

    params = [PROBLEMS, IMPLEMENTATIONS, JACOBIANS]
    param_names = ["problem", "implementation", "jacobian"]

    def setup(self, problem, implementation, jacobian):
        self.solver = _solver(implementation)
        if "get_problem" not in globals():
            skip("lmfit_core._problems is not importable")
        p = get_problem(problem)
        self.func = p.fcn
        self.dfun = p.jac if jacobian == "lmder" else None
        self.x0 = p.x0(1.0)

    def time_leastsq(self, problem, implementation, jacobian):
        _fit(self.solver, self.func, self.x0, self.dfun)

    def track_nfev(self, problem, implementation, jacobian):
        return _fit(self.solver, self.func, self.x0, self.dfun)[2]["nfev"]

    track_nfev.unit = "evaluations"

    def peakmem_leastsq(self, problem, implementation, jacobian):
        _fit(self.solver, self.func, self.x0, self.dfun)


class Overhead(Benchmark):
    """A residual that costs almost nothing, so the solver's own time shows.

    Exponential decay ``a exp(-k t) + c`` with m = 100 residuals and n = 3
    parameters, fitted with forward differences (``lmdif``) or with an
    analytic Jacobian (``lmder``).
    """

    params = [IMPLEMENTATIONS, JACOBIANS]
    param_names = ["implementation", "jacobian"]

    def setup(self, implementation, jacobian):
        self.solver = _solver(implementation)
        t = np.linspace(0.0, 5.0, 100)
        rng = np.random.default_rng(1)
        y = 3.0 * np.exp(-1.1 * t) + 0.3 + 0.01 * rng.normal(size=t.size)
        ones = np.ones_like(t)

        def func(p):
            return p[0] * np.exp(-p[1] * t) + p[2] - y

        def dfun(p):
            e = np.exp(-p[1] * t)
            return np.column_stack([e, -p[0] * t * e, ones])

        self.func = func
        self.dfun = dfun if jacobian == "lmder" else None
        self.x0 = np.array([1.0, 0.5, 0.0])

    def time_leastsq(self, implementation, jacobian):
        _fit(self.solver, self.func, self.x0, self.dfun)

    def track_nfev(self, implementation, jacobian):
        return _fit(self.solver, self.func, self.x0, self.dfun)[2]["nfev"]

    track_nfev.unit = "evaluations"


class Kernels(Benchmark):
    """The QR kernels alone: MINPACK's ``qrfac`` and the one-pass ``qr_tall``.

    ``qrfac`` overwrites its input, so each timed call first copies the matrix
    into a preallocated Fortran-ordered buffer: an O(m n) copy next to the
    O(m n^2) factorisation. ``qr_tall`` only reads it.
    """

    params = [[(100, 3), (1000, 9), (10000, 20), (200000, 6)]]
    param_names = ["shape"]

    def setup(self, shape):
        if "_qrfac_memview" not in globals():
            skip("lmfit_core._qrfac._qrfac_memview is not importable")
        m, n = shape
        rng = np.random.default_rng(2)
        # Columns of different scales, so pivoting reorders them.
        self.a = np.asfortranarray(rng.normal(size=(m, n)) * np.logspace(0, 3, n))
        self.work = np.empty_like(self.a, order="F")
        self.f = rng.normal(size=m)

    def time_qrfac(self, shape):
        np.copyto(self.work, self.a)
        _qrfac_memview(self.work, True)

    def time_qr_tall(self, shape):
        if "_qr_tall_memview" not in globals():
            skip("lmfit_core._qrtall is not importable on this commit")
        _qr_tall_memview(self.a, self.f)
