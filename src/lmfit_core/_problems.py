"""Nonlinear least-squares test problems with analytic Jacobians.

This module is the single source of test problems for ``lmfit_core``. The
unit tests, the demo (``python -m lmfit_core``) and the asv benchmarks all
use it, so every consumer runs exactly the same problems.

It provides

* the 18 Moré–Garbow–Hillstrom problems in the form used by the MINPACK-1
  test drivers for ``lmdif``/``lmder`` (subroutines ``ssqfcn``, ``ssqjac``
  and ``initpt``), as :class:`Problem` instances for the 28 driver cases
  (:data:`MGH_CASES`), together with the 53 driver runs (:func:`mgh_runs`)
  and an extended set of 84 runs (:func:`parity_runs`);
* four real data sets from the NIST StRD nonlinear regression collection,
  ``Misra1a``, ``Thurber``, ``BoxBOD`` and ``MGH17`` (:data:`NIST_PROBLEMS`),
  with their certified parameter values and residual sums of squares.

Every problem has the callables expected by :func:`scipy.optimize.leastsq`:
``fcn(x, *args)`` returns the ``m`` residuals and ``jac(x, *args)`` returns
the ``(m, n)`` Jacobian with one row per residual (``col_deriv=False``).
Extra positional arguments are accepted and ignored. ``x`` is never
modified, and each call returns new float64 arrays.

Only NumPy is needed; SciPy is not imported.

Notes
-----
Each run is identified by ``f"{case_id}_x{int(factor)}"``, for example
``"rosenbrock_n2_m2_x10"``. The MINPACK driver starts each case from
``factor * x_standard`` with ``factor = 1, 10, 100`` for the first
``ntries`` tries. For the Watson function, whose standard start is zero,
``initpt`` instead sets every component to ``factor`` when ``factor != 1``.

References
----------
.. [1] J. J. Moré, B. S. Garbow and K. E. Hillstrom, "Testing unconstrained
   optimization software", ACM Trans. Math. Software 7 (1981), 17-41.
.. [2] J. J. Moré, B. S. Garbow and K. E. Hillstrom, "User guide for
   MINPACK-1", Argonne National Laboratory report ANL-80-74 (1980).
.. [3] NIST Statistical Reference Datasets, nonlinear regression,
   https://www.itl.nist.gov/div898/strd/nls/nls_main.shtml (public domain).

Examples
--------
>>> from lmfit_core._problems import get_problem
>>> p = get_problem("rosenbrock_n2_m2")
>>> p.x0()
array([-1.2,  1. ])
>>> p.fcn(p.x0()).shape, p.jac(p.x0()).shape
((2,), (2, 2))
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "Problem",
    "MGH_CASES",
    "NIST_PROBLEMS",
    "mgh_runs",
    "parity_runs",
    "get_problem",
]

#: Start-point factors used by the MINPACK driver, in order of the tries.
FACTORS = (1.0, 10.0, 100.0)


def _frozen(values) -> np.ndarray:
    """Return *values* as a read-only float64 array (for shared tables)."""
    arr = np.array(values, dtype=np.float64)
    arr.setflags(write=False)
    return arr


# ---------------------------------------------------------------------------
# Base classes
# ---------------------------------------------------------------------------


class Problem:
    """Base class of a nonlinear least-squares problem ``min ||fcn(x)||^2``.

    Parameters
    ----------
    n, m : int, optional
        Number of parameters and residuals. These can be left out for
        problems of fixed size (those with ``dims`` set).
    ntries : int, optional
        How many driver start points (factors 1, 10, 100) apply to the case.

    Attributes
    ----------
    name : str
        Short snake_case identifier, e.g. ``"rosenbrock"``.
    title : str
        Human-readable title.
    nprob : int
        MINPACK problem number (1..18), or 0 for a data set.
    n, m, ntries : int
        Problem size and number of driver tries.
    """

    name: str = ""
    title: str = ""
    nprob: int = 0
    #: ``(n, m)`` for problems of fixed size, ``None`` if the size can vary.
    dims: tuple[int, int] | None = None

    def __init__(self, n: int | None = None, m: int | None = None,
                 ntries: int = 1):
        if self.dims is not None:
            n = self.dims[0] if n is None else n
            m = self.dims[1] if m is None else m
        if n is None or m is None:
            raise TypeError(f"{type(self).__name__} needs n and m")
        n, m = int(n), int(m)
        if not self._valid_dims(n, m):
            raise ValueError(
                f"{type(self).__name__}: invalid dimensions n={n}, m={m}")
        self.n, self.m, self.ntries = n, m, int(ntries)

    def _valid_dims(self, n: int, m: int) -> bool:
        if self.dims is not None:
            return (n, m) == tuple(self.dims)
        return 1 <= n <= m

    @property
    def case_id(self) -> str:
        """Unique id of the case, ``f"{name}_n{n}_m{m}"``."""
        return f"{self.name}_n{self.n}_m{self.m}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.case_id}>"

    # Public leastsq-style callables -----------------------------------

    def fcn(self, x, *args) -> np.ndarray:
        """Residual vector at *x*, shape ``(m,)``; extra args are ignored."""
        return self._fcn(self._as_params(x))

    def jac(self, x, *args) -> np.ndarray:
        """Jacobian at *x*, shape ``(m, n)``, row ``i`` = grad of ``f_i``."""
        return self._jac(self._as_params(x))

    def x0(self, factor: float = 1.0) -> np.ndarray:
        """Standard start point times *factor* (MINPACK ``initpt``)."""
        x = self._start()
        if factor != 1.0:
            x = x * factor
        return x

    # Hooks for subclasses ------------------------------------------------

    def _as_params(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.n,):
            raise ValueError(
                f"{self.case_id}: expected x of shape ({self.n},), "
                f"got {x.shape}")
        return x

    def _start(self) -> np.ndarray:
        """Return a new array holding the standard start point."""
        raise NotImplementedError

    def _fcn(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _jac(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class _LinearProblem(Problem):
    """Linear residuals ``f(x) = A x - 1`` with a constant matrix ``A``."""

    def __init__(self, n=None, m=None, ntries=1):
        super().__init__(n, m, ntries)
        self._matrix = self._build_matrix(self.n, self.m)
        self._matrix.setflags(write=False)

    @staticmethod
    def _build_matrix(n: int, m: int) -> np.ndarray:
        raise NotImplementedError

    def _start(self):
        return np.ones(self.n)

    def _fcn(self, x):
        return self._matrix @ x - 1.0

    def _jac(self, x):
        return self._matrix.copy()


class _CurveFitProblem(Problem):
    """Residuals ``sign * (y - model(t, x))`` over a fixed data table.

    Subclasses set the abscissae ``t``, observations ``y``, the number of
    parameters ``n_params``, and implement ``_model`` and ``_model_jac``.
    ``sign = -1`` gives ``model - y`` residuals (as in the Meyer problem).
    """

    t: np.ndarray
    y: np.ndarray
    n_params: int
    sign: float = 1.0

    @property
    def dims(self) -> tuple[int, int]:
        return (self.n_params, self.y.size)

    def _model(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _model_jac(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _fcn(self, x):
        return self.sign * (self.y - self._model(x))

    def _jac(self, x):
        return -self.sign * self._model_jac(x)


# ---------------------------------------------------------------------------
# Moré–Garbow–Hillstrom problems (MINPACK-1 numbering)
# ---------------------------------------------------------------------------


class LinearFullRank(_LinearProblem):
    """Linear function, full rank (MGH #32; MINPACK problem 1).

    ``f_i = x_i - 2/m * sum(x) - 1`` for ``i <= n``, else
    ``-2/m * sum(x) - 1``. Start: all ones.
    """

    name, title, nprob = "linear_full_rank", "Linear function - full rank", 1

    @staticmethod
    def _build_matrix(n, m):
        return np.eye(m, n) - 2.0 / m


class LinearRank1(_LinearProblem):
    """Linear function, rank 1 (MGH #33; MINPACK problem 2).

    ``f_i = i * sum_j j x_j - 1``. Start: all ones.
    """

    name, title, nprob = "linear_rank1", "Linear function - rank 1", 2

    @staticmethod
    def _build_matrix(n, m):
        return np.outer(np.arange(1.0, m + 1), np.arange(1.0, n + 1))


class LinearRank1ZeroColumnsRows(_LinearProblem):
    """Linear function, rank 1 with zero columns and rows (MGH #34; MINPACK 3).

    ``f_i = (i - 1) * sum_{j=2}^{n-1} j x_j - 1`` for ``i < m`` and
    ``f_m = -1``. Start: all ones.
    """

    name = "linear_rank1_zero_cols_rows"
    title = "Linear function - rank 1 with zero columns and rows"
    nprob = 3

    @staticmethod
    def _build_matrix(n, m):
        a = np.zeros((m, n))
        a[1:m - 1, 1:n - 1] = np.outer(np.arange(1.0, m - 1),
                                       np.arange(2.0, n))
        return a


class Rosenbrock(Problem):
    """Rosenbrock function (MGH #1; MINPACK problem 4). Start (-1.2, 1)."""

    name, title, nprob, dims = "rosenbrock", "Rosenbrock", 4, (2, 2)

    def _start(self):
        return np.array([-1.2, 1.0])

    def _fcn(self, x):
        return np.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])

    def _jac(self, x):
        return np.array([[-20.0 * x[0], 10.0], [-1.0, 0.0]])


class HelicalValley(Problem):
    """Helical valley function (MGH #7; MINPACK problem 5). Start (-1, 0, 0).

    The angle uses MINPACK's branch rule (``atan(x2/x1)/(2 pi)``, plus 1/2
    for ``x1 < 0``, and ``sign(1/4, x2)`` for ``x1 = 0``), not ``arctan2``.
    """

    name, title, nprob, dims = "helical_valley", "Helical valley", 5, (3, 3)

    def _start(self):
        return np.array([-1.0, 0.0, 0.0])

    @staticmethod
    def _theta(x1: float, x2: float) -> float:
        if x1 == 0.0:
            return math.copysign(0.25, x2)
        theta = math.atan(x2 / x1) / (2.0 * math.pi)
        return theta + 0.5 if x1 < 0.0 else theta

    def _fcn(self, x):
        x1, x2, x3 = x
        r = math.hypot(x1, x2)
        return np.array([10.0 * (x3 - 10.0 * self._theta(x1, x2)),
                         10.0 * (r - 1.0),
                         x3])

    def _jac(self, x):
        x1, x2, _ = x
        r2 = x1 * x1 + x2 * x2
        r = math.sqrt(r2)
        c = 100.0 / (2.0 * math.pi * r2)
        return np.array([[c * x2, -c * x1, 10.0],
                         [10.0 * x1 / r, 10.0 * x2 / r, 0.0],
                         [0.0, 0.0, 1.0]])


class PowellSingular(Problem):
    """Powell singular function (MGH #13; MINPACK problem 6).

    Start (3, -1, 0, 1).
    """

    name, title, nprob, dims = "powell_singular", "Powell singular", 6, (4, 4)

    def _start(self):
        return np.array([3.0, -1.0, 0.0, 1.0])

    def _fcn(self, x):
        x1, x2, x3, x4 = x
        return np.array([x1 + 10.0 * x2,
                         math.sqrt(5.0) * (x3 - x4),
                         (x2 - 2.0 * x3) ** 2,
                         math.sqrt(10.0) * (x1 - x4) ** 2])

    def _jac(self, x):
        x1, x2, x3, x4 = x
        s5 = math.sqrt(5.0)
        d3 = 2.0 * (x2 - 2.0 * x3)
        d4 = 2.0 * math.sqrt(10.0) * (x1 - x4)
        return np.array([[1.0, 10.0, 0.0, 0.0],
                         [0.0, 0.0, s5, -s5],
                         [0.0, d3, -2.0 * d3, 0.0],
                         [d4, 0.0, 0.0, -d4]])


class FreudensteinRoth(Problem):
    """Freudenstein and Roth function (MGH #2; MINPACK problem 7).

    Start (0.5, -2).
    """

    name, title, nprob, dims = ("freudenstein_roth", "Freudenstein and Roth",
                                7, (2, 2))

    def _start(self):
        return np.array([0.5, -2.0])

    def _fcn(self, x):
        x1, x2 = x
        return np.array([-13.0 + x1 + ((5.0 - x2) * x2 - 2.0) * x2,
                         -29.0 + x1 + ((1.0 + x2) * x2 - 14.0) * x2])

    def _jac(self, x):
        x2 = x[1]
        return np.array([[1.0, x2 * (10.0 - 3.0 * x2) - 2.0],
                         [1.0, x2 * (2.0 + 3.0 * x2) - 14.0]])


class Bard(_CurveFitProblem):
    """Bard function (MGH #8; MINPACK problem 8). Start (1, 1, 1).

    ``f_i = y_i - (x1 + u_i / (v_i x2 + w_i x3))`` with ``u_i = i``,
    ``v_i = 16 - i`` and ``w_i = min(u_i, v_i)``.
    """

    name, title, nprob, n_params = "bard", "Bard", 8, 3
    t = _frozen(np.arange(1, 16))
    y = _frozen([0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58,
                 0.73, 0.96, 1.34, 2.10, 4.39])
    _v = _frozen(16.0 - t)
    _w = _frozen(np.minimum(t, 16.0 - t))

    def _start(self):
        return np.ones(3)

    def _model(self, x):
        return x[0] + self.t / (x[1] * self._v + x[2] * self._w)

    def _model_jac(self, x):
        q = self.t / (x[1] * self._v + x[2] * self._w) ** 2
        return np.column_stack([np.ones_like(q), -q * self._v, -q * self._w])


class KowalikOsborne(_CurveFitProblem):
    """Kowalik and Osborne function (MGH #15; MINPACK problem 9).

    ``f_i = y_i - x1 (u_i^2 + u_i x2) / (u_i^2 + u_i x3 + x4)``.
    Start (0.25, 0.39, 0.415, 0.39).
    """

    name, title, nprob, n_params = ("kowalik_osborne", "Kowalik and Osborne",
                                    9, 4)
    t = _frozen([4.0, 2.0, 1.0, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833,
                 0.0714, 0.0625])
    y = _frozen([0.1957, 0.1947, 0.1735, 0.16, 0.0844, 0.0627, 0.0456,
                 0.0342, 0.0323, 0.0235, 0.0246])

    def _start(self):
        return np.array([0.25, 0.39, 0.415, 0.39])

    def _model(self, x):
        u = self.t
        return x[0] * u * (u + x[1]) / (u * (u + x[2]) + x[3])

    def _model_jac(self, x):
        u = self.t
        num = u * (u + x[1])
        den = u * (u + x[2]) + x[3]
        d4 = -x[0] * num / den ** 2
        return np.column_stack([num / den, x[0] * u / den, u * d4, d4])


class Meyer(_CurveFitProblem):
    """Meyer function (MGH #10; MINPACK problem 10).

    ``f_i = x1 exp(x2 / (t_i + x3)) - y_i`` with ``t_i = 45 + 5 i``.
    Start (0.02, 4000, 250).
    """

    name, title, nprob, n_params = "meyer", "Meyer", 10, 3
    sign = -1.0
    t = _frozen(45.0 + 5.0 * np.arange(1, 17))
    y = _frozen([34780.0, 28610.0, 23650.0, 19630.0, 16370.0, 13720.0,
                 11540.0, 9744.0, 8261.0, 7030.0, 6005.0, 5147.0, 4427.0,
                 3820.0, 3307.0, 2872.0])

    def _start(self):
        return np.array([0.02, 4000.0, 250.0])

    def _model(self, x):
        return x[0] * np.exp(x[1] / (self.t + x[2]))

    def _model_jac(self, x):
        den = self.t + x[2]
        e = np.exp(x[1] / den)
        d2 = x[0] * e / den
        return np.column_stack([e, d2, -x[1] / den * d2])


class Watson(Problem):
    """Watson function (MGH #20; MINPACK problem 11), ``m = 31``.

    Start: zero. MINPACK's ``initpt`` sets every component to ``factor``
    when ``factor != 1`` (instead of multiplying the zero start).
    """

    name, title, nprob = "watson", "Watson", 11

    def __init__(self, n=None, m=31, ntries=1):
        super().__init__(n, m, ntries)
        t = np.arange(1, 30) / 29.0
        j = np.arange(self.n)
        powers = t[:, None] ** j                       # t_i^j
        deriv = np.zeros_like(powers)                  # j * t_i^(j-1)
        deriv[:, 1:] = j[1:] * powers[:, :-1]
        powers.setflags(write=False)
        deriv.setflags(write=False)
        self._powers, self._deriv = powers, deriv

    def _valid_dims(self, n, m):
        return 2 <= n <= 31 and m == 31

    def _start(self):
        return np.zeros(self.n)

    def x0(self, factor: float = 1.0) -> np.ndarray:
        if factor == 1.0:
            return self._start()
        return np.full(self.n, float(factor))

    def _fcn(self, x):
        s2 = self._powers @ x
        f = np.empty(31)
        f[:29] = self._deriv @ x - s2 ** 2 - 1.0
        f[29] = x[0]
        f[30] = x[1] - x[0] ** 2 - 1.0
        return f

    def _jac(self, x):
        s2 = self._powers @ x
        jac = np.zeros((31, self.n))
        jac[:29] = self._deriv - 2.0 * s2[:, None] * self._powers
        jac[29, 0] = 1.0
        jac[30, :2] = (-2.0 * x[0], 1.0)
        return jac


class Box3D(Problem):
    """Box three-dimensional function (MGH #12; MINPACK problem 12).

    ``f_i = exp(-t_i x1) - exp(-t_i x2) + (exp(-i) - exp(-t_i)) x3`` with
    ``t_i = i / 10``, ``n = 3``, any ``m >= 3``. Start (0, 10, 20).
    """

    name, title, nprob = "box_3d", "Box 3-dimensional", 12

    def __init__(self, n=3, m=None, ntries=1):
        super().__init__(n, m, ntries)
        i = np.arange(1.0, self.m + 1)
        self._t = _frozen(i / 10.0)
        self._c = _frozen(np.exp(-i) - np.exp(-self._t))

    def _valid_dims(self, n, m):
        return n == 3 and m >= n

    def _start(self):
        return np.array([0.0, 10.0, 20.0])

    def _fcn(self, x):
        t = self._t
        return np.exp(-t * x[0]) - np.exp(-t * x[1]) + self._c * x[2]

    def _jac(self, x):
        t = self._t
        return np.column_stack([-t * np.exp(-t * x[0]),
                                t * np.exp(-t * x[1]),
                                self._c])


class JennrichSampson(Problem):
    """Jennrich and Sampson function (MGH #6; MINPACK problem 13).

    ``f_i = 2 + 2 i - exp(i x1) - exp(i x2)``, ``n = 2``, any ``m >= 2``.
    Start (0.3, 0.4).
    """

    name, title, nprob = "jennrich_sampson", "Jennrich and Sampson", 13

    def __init__(self, n=2, m=None, ntries=1):
        super().__init__(n, m, ntries)
        self._i = _frozen(np.arange(1.0, self.m + 1))

    def _valid_dims(self, n, m):
        return n == 2 and m >= n

    def _start(self):
        return np.array([0.3, 0.4])

    def _fcn(self, x):
        i = self._i
        return 2.0 + 2.0 * i - np.exp(i * x[0]) - np.exp(i * x[1])

    def _jac(self, x):
        i = self._i
        return np.column_stack([-i * np.exp(i * x[0]), -i * np.exp(i * x[1])])


class BrownDennis(Problem):
    """Brown and Dennis function (MGH #16; MINPACK problem 14).

    ``f_i = (x1 + t_i x2 - exp(t_i))^2 + (x3 + sin(t_i) x4 - cos(t_i))^2``
    with ``t_i = i / 5``, ``n = 4``, any ``m >= 4``. Start (25, 5, -5, -1).
    """

    name, title, nprob = "brown_dennis", "Brown and Dennis", 14

    def __init__(self, n=4, m=None, ntries=1):
        super().__init__(n, m, ntries)
        t = np.arange(1.0, self.m + 1) / 5.0
        self._t = _frozen(t)
        self._exp, self._sin, self._cos = (_frozen(np.exp(t)),
                                           _frozen(np.sin(t)),
                                           _frozen(np.cos(t)))

    def _valid_dims(self, n, m):
        return n == 4 and m >= n

    def _start(self):
        return np.array([25.0, 5.0, -5.0, -1.0])

    def _terms(self, x):
        a = x[0] + self._t * x[1] - self._exp
        b = x[2] + self._sin * x[3] - self._cos
        return a, b

    def _fcn(self, x):
        a, b = self._terms(x)
        return a ** 2 + b ** 2

    def _jac(self, x):
        a, b = self._terms(x)
        return np.column_stack([2.0 * a, 2.0 * a * self._t,
                                2.0 * b, 2.0 * b * self._sin])


class Chebyquad(Problem):
    """Chebyquad function (MGH #35; MINPACK problem 15), any ``m >= n``.

    ``f_i = (1/n) sum_j T_i(2 x_j - 1) + [i even] / (i^2 - 1)`` with the
    Chebyshev polynomials ``T_i``. Start ``x_j = j / (n + 1)``.
    """

    name, title, nprob = "chebyquad", "Chebyquad", 15

    def _start(self):
        return np.arange(1.0, self.n + 1) / (self.n + 1)

    def _chebyshev(self, x):
        """Rows ``T_i(y)`` and ``U_{i-1}(y)``, ``i = 1..m``, ``y = 2x - 1``."""
        y = 2.0 * x - 1.0
        t_rows = np.empty((self.m, self.n))
        u_rows = np.empty((self.m, self.n))
        t_prev, t_cur = np.ones_like(y), y            # T_0, T_1
        u_prev, u_cur = np.zeros_like(y), np.ones_like(y)  # U_-1, U_0
        for k in range(self.m):
            t_rows[k], u_rows[k] = t_cur, u_cur
            t_prev, t_cur = t_cur, 2.0 * y * t_cur - t_prev
            u_prev, u_cur = u_cur, 2.0 * y * u_cur - u_prev
        return t_rows, u_rows

    def _fcn(self, x):
        t_rows, _ = self._chebyshev(x)
        f = t_rows.mean(axis=1)
        i = np.arange(2, self.m + 1, 2)
        f[i - 1] += 1.0 / (i.astype(np.float64) ** 2 - 1.0)
        return f

    def _jac(self, x):
        # d/dx T_i(2x - 1) = 2 i U_{i-1}(2x - 1)
        _, u_rows = self._chebyshev(x)
        i = np.arange(1.0, self.m + 1)
        return (2.0 / self.n) * i[:, None] * u_rows


class BrownAlmostLinear(Problem):
    """Brown almost-linear function (MGH #27; MINPACK problem 16), ``m = n``.

    ``f_i = x_i + sum(x) - (n + 1)`` for ``i < n``, ``f_n = prod(x) - 1``.
    Start: all 0.5.
    """

    name, title, nprob = "brown_almost_linear", "Brown almost-linear", 16

    def _valid_dims(self, n, m):
        return 1 <= n == m

    def _start(self):
        return np.full(self.n, 0.5)

    def _fcn(self, x):
        f = x + (x.sum() - (self.n + 1))
        f[-1] = np.prod(x) - 1.0
        return f

    def _jac(self, x):
        jac = np.ones((self.n, self.n)) + np.eye(self.n)
        # d prod / d x_j = product of all other components (exact at zeros)
        before = np.concatenate(([1.0], np.cumprod(x[:-1])))
        after = np.concatenate((np.cumprod(x[:0:-1])[::-1], [1.0]))
        jac[-1] = before * after
        return jac


class Osborne1(_CurveFitProblem):
    """Osborne 1 function (MGH #17; MINPACK problem 17).

    ``f_i = y_i - (x1 + x2 exp(-x4 t_i) + x3 exp(-x5 t_i))`` with
    ``t_i = 10 (i - 1)``. Start (0.5, 1.5, -1, 0.01, 0.02).
    """

    name, title, nprob, n_params = "osborne1", "Osborne 1", 17, 5
    t = _frozen(10.0 * np.arange(33))
    y = _frozen([0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850,
                 0.818, 0.784, 0.751, 0.718, 0.685, 0.658, 0.628, 0.603,
                 0.580, 0.558, 0.538, 0.522, 0.506, 0.490, 0.478, 0.467,
                 0.457, 0.448, 0.438, 0.431, 0.424, 0.420, 0.414, 0.411,
                 0.406])

    def _start(self):
        return np.array([0.5, 1.5, -1.0, 0.01, 0.02])

    def _model(self, x):
        t = self.t
        return x[0] + x[1] * np.exp(-x[3] * t) + x[2] * np.exp(-x[4] * t)

    def _model_jac(self, x):
        t = self.t
        e4, e5 = np.exp(-x[3] * t), np.exp(-x[4] * t)
        return np.column_stack([np.ones_like(t), e4, e5,
                                -t * x[1] * e4, -t * x[2] * e5])


class Osborne2(_CurveFitProblem):
    """Osborne 2 function (MGH #19; MINPACK problem 18).

    ``f_i = y_i - (x1 exp(-x5 t_i)
    + sum_{k=2}^{4} x_k exp(-x_{k+4} (t_i - x_{k+7})^2))`` with
    ``t_i = (i - 1) / 10``.
    Start (1.3, 0.65, 0.65, 0.7, 0.6, 3, 5, 7, 2, 4.5, 5.5).
    """

    name, title, nprob, n_params = "osborne2", "Osborne 2", 18, 11
    t = _frozen(np.arange(65) / 10.0)
    y = _frozen([1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847,
                 0.786, 0.725, 0.746, 0.679, 0.608, 0.655, 0.616, 0.606,
                 0.602, 0.626, 0.651, 0.724, 0.649, 0.649, 0.694, 0.644,
                 0.624, 0.661, 0.612, 0.558, 0.533, 0.495, 0.500, 0.423,
                 0.395, 0.375, 0.372, 0.391, 0.396, 0.405, 0.428, 0.429,
                 0.523, 0.562, 0.607, 0.653, 0.672, 0.708, 0.633, 0.668,
                 0.645, 0.632, 0.591, 0.559, 0.597, 0.625, 0.739, 0.710,
                 0.729, 0.720, 0.636, 0.581, 0.428, 0.292, 0.162, 0.098,
                 0.054])

    def _start(self):
        return np.array([1.3, 0.65, 0.65, 0.7, 0.6, 3.0, 5.0, 7.0, 2.0,
                         4.5, 5.5])

    def _terms(self, x):
        """Exponential decay and the three Gaussian peaks (with offsets)."""
        decay = np.exp(-x[4] * self.t)
        d = self.t[:, None] - x[8:11]          # t_i - centre_k
        peaks = np.exp(-x[5:8] * d ** 2)       # shape (65, 3)
        return decay, d, peaks

    def _model(self, x):
        decay, _, peaks = self._terms(x)
        return x[0] * decay + peaks @ x[1:4]

    def _model_jac(self, x):
        decay, d, peaks = self._terms(x)
        amp, width = x[1:4], x[5:8]
        return np.column_stack([decay,
                                peaks,
                                -self.t * x[0] * decay,
                                -amp * d ** 2 * peaks,
                                2.0 * amp * width * d * peaks])


# ---------------------------------------------------------------------------
# NIST StRD nonlinear regression data sets
# ---------------------------------------------------------------------------


class _NistProblem(_CurveFitProblem):
    """NIST StRD data set with residuals ``y - model(x)``.

    Attributes
    ----------
    starts : tuple of ndarray
        NIST "Start 1" and "Start 2" parameter vectors.
    certified_values : ndarray
        Certified parameter estimates.
    certified_rss : float
        Certified residual sum of squares.
    certified_starts : tuple of int
        The starts (1, 2) from which MINPACK's ``lmdif`` and ``lmder`` reach
        the certified values; from the others they stop, SciPy's as well, at
        a point of larger residual sum of squares.
    """

    nprob = 0
    starts: tuple[np.ndarray, np.ndarray]
    certified_values: np.ndarray
    certified_rss: float
    certified_starts: tuple[int, ...] = (1, 2)

    def _start(self):
        return self.starts[0].copy()

    def x0_start(self, k: int) -> np.ndarray:
        """Return NIST start point *k* (1 or 2) as a new array."""
        if k not in (1, 2):
            raise ValueError(f"NIST start must be 1 or 2, got {k!r}")
        return self.starts[k - 1].copy()


class Misra1a(_NistProblem):
    """NIST StRD ``Misra1a`` (lower difficulty): ``y = b1 (1 - exp(-b2 x))``.

    Source: Misra, D., NIST (1978), dental research monomolecular adsorption
    study; 14 observations, 2 parameters.
    """

    name, title, n_params = "misra1a", "NIST Misra1a", 2
    t = _frozen([77.6, 114.9, 141.1, 190.8, 239.9, 289.0, 332.8, 378.4,
                 434.8, 477.3, 536.8, 593.1, 689.1, 760.0])
    y = _frozen([10.07, 14.73, 17.94, 23.93, 29.61, 35.18, 40.02, 44.82,
                 50.76, 55.05, 61.01, 66.40, 75.47, 81.78])
    starts = (_frozen([500.0, 1.0e-4]), _frozen([250.0, 5.0e-4]))
    certified_values = _frozen([2.3894212918e+02, 5.5015643181e-04])
    certified_rss = 1.2455138894e-01

    def _model(self, x):
        return -x[0] * np.expm1(-x[1] * self.t)

    def _model_jac(self, x):
        return np.column_stack([-np.expm1(-x[1] * self.t),
                                x[0] * self.t * np.exp(-x[1] * self.t)])


class Thurber(_NistProblem):
    """NIST StRD ``Thurber`` (higher difficulty), rational cubic/cubic model.

    ``y = (b1 + b2 x + b3 x^2 + b4 x^3) / (1 + b5 x + b6 x^2 + b7 x^3)``.
    Source: Thurber, R., NIST (197?), semiconductor electron mobility
    modelling; 37 observations, 7 parameters.
    """

    name, title, n_params = "thurber", "NIST Thurber", 7
    t = _frozen([-3.067, -2.981, -2.921, -2.912, -2.840, -2.797, -2.702,
                 -2.699, -2.633, -2.481, -2.363, -2.322, -1.501, -1.460,
                 -1.274, -1.212, -1.100, -1.046, -0.915, -0.714, -0.566,
                 -0.545, -0.400, -0.309, -0.109, -0.103, 0.010, 0.119,
                 0.377, 0.790, 0.963, 1.006, 1.115, 1.572, 1.841, 2.047,
                 2.200])
    y = _frozen([80.574, 84.248, 87.264, 87.195, 89.076, 89.608, 89.868,
                 90.101, 92.405, 95.854, 100.696, 101.060, 401.672, 390.724,
                 567.534, 635.316, 733.054, 759.087, 894.206, 990.785,
                 1090.109, 1080.914, 1122.643, 1178.351, 1260.531, 1273.514,
                 1288.339, 1327.543, 1353.863, 1414.509, 1425.208, 1421.384,
                 1442.962, 1464.350, 1468.705, 1447.894, 1457.628])
    starts = (_frozen([1000.0, 1000.0, 400.0, 40.0, 0.7, 0.3, 0.03]),
              _frozen([1300.0, 1500.0, 500.0, 75.0, 1.0, 0.4, 0.05]))
    certified_values = _frozen([1.2881396800e+03, 1.4910792535e+03,
                                5.8323836877e+02, 7.5416644291e+01,
                                9.6629502864e-01, 3.9797285797e-01,
                                4.9727297349e-02])
    certified_rss = 5.6427082397e+03
    _vander = _frozen(t[:, None] ** np.arange(4))   # columns 1, x, x^2, x^3

    def _num_den(self, x):
        return self._vander @ x[:4], 1.0 + self._vander[:, 1:] @ x[4:]

    def _model(self, x):
        num, den = self._num_den(x)
        return num / den

    def _model_jac(self, x):
        num, den = self._num_den(x)
        return np.hstack([self._vander / den[:, None],
                          -(num / den ** 2)[:, None] * self._vander[:, 1:]])


class BoxBOD(_NistProblem):
    """NIST StRD ``BoxBOD`` (higher difficulty): ``y = b1 (1 - exp(-b2 x))``.

    Source: Box, Hunter and Hunter (1978), biochemical oxygen demand against
    incubation time; 6 observations, 2 parameters.
    """

    name, title, n_params = "boxbod", "NIST BoxBOD", 2
    t = _frozen([1.0, 2.0, 3.0, 5.0, 7.0, 10.0])
    y = _frozen([109.0, 149.0, 149.0, 191.0, 213.0, 224.0])
    starts = (_frozen([1.0, 1.0]), _frozen([100.0, 0.75]))
    certified_values = _frozen([2.1380940889e+02, 5.4723748542e-01])
    certified_rss = 1.1680088766e+03
    certified_starts = (2,)

    def _model(self, x):
        return -x[0] * np.expm1(-x[1] * self.t)

    def _model_jac(self, x):
        return np.column_stack([-np.expm1(-x[1] * self.t),
                                x[0] * self.t * np.exp(-x[1] * self.t)])


class MGH17(_NistProblem):
    """NIST StRD ``MGH17`` (higher difficulty), Osborne's two exponentials.

    ``y = b1 + b2 exp(-x b4) + b3 exp(-x b5)``, the data of MGH #17 (Osborne 1)
    on ``x = 0, 10, ..., 320``; 33 observations, 5 parameters. From Start 1
    the first steps reach negative rates, where both exponentials overflow
    and the residuals are NaN: MINPACK rejects those trial points.
    """

    name, title, n_params = "mgh17", "NIST MGH17", 5
    t = _frozen(10.0 * np.arange(33))
    y = _frozen([0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818,
                 0.784, 0.751, 0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558,
                 0.538, 0.522, 0.506, 0.490, 0.478, 0.467, 0.457, 0.448, 0.438,
                 0.431, 0.424, 0.420, 0.414, 0.411, 0.406])
    starts = (_frozen([50.0, 150.0, -100.0, 1.0, 2.0]),
              _frozen([0.5, 1.5, -1.0, 0.01, 0.02]))
    certified_values = _frozen([3.7541005211e-01, 1.9358469127e+00,
                                -1.4646871366e+00, 1.2867534640e-02,
                                2.2122699662e-02])
    certified_rss = 5.4648946975e-05
    certified_starts = (2,)

    def _model(self, x):
        with np.errstate(over="ignore", invalid="ignore"):
            return (x[0] + x[1] * np.exp(-self.t * x[3])
                    + x[2] * np.exp(-self.t * x[4]))

    def _model_jac(self, x):
        e4, e5 = np.exp(-self.t * x[3]), np.exp(-self.t * x[4])
        return np.column_stack([np.ones_like(self.t), e4, e5,
                                -self.t * x[1] * e4, -self.t * x[2] * e5])


# ---------------------------------------------------------------------------
# Registries
# ---------------------------------------------------------------------------

_MGH_CLASSES = {cls.nprob: cls for cls in (
    LinearFullRank, LinearRank1, LinearRank1ZeroColumnsRows, Rosenbrock,
    HelicalValley, PowellSingular, FreudensteinRoth, Bard, KowalikOsborne,
    Meyer, Watson, Box3D, JennrichSampson, BrownDennis, Chebyquad,
    BrownAlmostLinear, Osborne1, Osborne2)}

#: MINPACK-1 lmdif/lmder driver cases ``(nprob, n, m, ntries)``, in order.
MGH_DRIVER_TABLE = (
    (1, 5, 10, 1), (1, 5, 50, 1), (2, 5, 10, 1), (2, 5, 50, 1),
    (3, 5, 10, 1), (3, 5, 50, 1), (4, 2, 2, 3), (5, 3, 3, 3), (6, 4, 4, 3),
    (7, 2, 2, 3), (8, 3, 15, 3), (9, 4, 11, 3), (10, 3, 16, 2),
    (11, 6, 31, 3), (11, 9, 31, 3), (11, 12, 31, 3), (12, 3, 10, 1),
    (13, 2, 10, 1), (14, 4, 20, 3), (15, 1, 8, 3), (15, 8, 8, 1),
    (15, 9, 9, 1), (15, 10, 10, 1), (16, 10, 10, 3), (16, 30, 30, 1),
    (16, 40, 40, 1), (17, 5, 33, 1), (18, 11, 65, 1),
)

#: The 28 MINPACK driver cases, in driver order.
MGH_CASES: list[Problem] = [_MGH_CLASSES[nprob](n, m, ntries)
                            for nprob, n, m, ntries in MGH_DRIVER_TABLE]

#: NIST StRD data sets (``nprob == 0``).
NIST_PROBLEMS: list[Problem] = [Misra1a(), Thurber(), BoxBOD(), MGH17()]

_BY_CASE_ID = {p.case_id: p for p in MGH_CASES + NIST_PROBLEMS}


def _runs(factors_for) -> list[tuple[str, Problem, float]]:
    return [(f"{p.case_id}_x{int(factor)}", p, factor)
            for p in MGH_CASES for factor in factors_for(p)]


def mgh_runs() -> list[tuple[str, Problem, float]]:
    """The 53 MINPACK driver runs as ``(run_id, problem, factor)``.

    Each case is run from factors ``1, 10, 100`` for its first ``ntries``.
    """
    return _runs(lambda p: FACTORS[:p.ntries])


def parity_runs() -> list[tuple[str, Problem, float]]:
    """All 28 cases times factors ``(1, 10, 100)``: 84 runs."""
    return _runs(lambda p: FACTORS)


def get_problem(case_id: str) -> Problem:
    """Return the MGH case or NIST problem with the given ``case_id``."""
    try:
        return _BY_CASE_ID[case_id]
    except KeyError:
        raise KeyError(f"unknown problem case_id {case_id!r}") from None

