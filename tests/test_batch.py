"""leastsq_batch: every problem of a batch is fitted as leastsq fits it alone.

Both engines are checked against ``leastsq`` problem by problem:

* the lockstep driver of vectorised Python models (finite differences, ``Dfun``
  in both layouts), on a mixed batch where some problems converge easily, some
  start far away, some are NaN at x0 (``ier`` 9 where leastsq raises), some
  step onto NaN and recover, and some run out of evaluations; on the
  Moré-Garbow-Hillstrom problems from several starts; with ``diag``;
* the compiled driver (the Gaussians of ``_examples`` and ctypes callbacks),
  serial and threaded, in chunks;

then the independence of the problems, the number of Python calls, progress
reports and clean stops, and errors.
"""
import ctypes
import os
import signal
import sys
import threading
import warnings

import numpy as np
import pytest
import tqdm  # noqa: F401 - a test dependency: progress=True must reach the bar
from numpy.testing import assert_allclose, assert_array_equal
from scipy import LowLevelCallable

from lmfit_core import BatchResult, ImproperInputError, _examples, _problems, leastsq
from lmfit_core import leastsq_batch
from lmfit_core._enorm import _enorm_memview as enorm
from lmfit_core.batch import IER_NONFINITE_F0, IER_NONFINITE_JAC, IER_NOT_FINISHED

RESULT_FIELDS = ("x", "ier", "nfev", "njev", "fnorm")


# -- a vectorised model: exponential decay on an offset ------------------------

T = np.linspace(0.0, 4.0, 40)


def decay_data(K, seed=0):
    """K noisy curves ``a exp(-b t) + c``, one row each."""
    rng = np.random.default_rng(seed)
    truth = np.column_stack([rng.uniform(1, 3, K), rng.uniform(0.3, 2, K),
                             rng.uniform(-0.2, 0.2, K)])
    Y = truth[:, :1] * np.exp(-truth[:, 1:2] * T) + truth[:, 2:]
    return Y + 0.01 * rng.normal(size=Y.shape)


class Decay:
    """``a exp(-b t) + c - Y[k]`` row by row; NaN outside the model's domain b >= 0.

    ``rows``/``jac_rows``/``jac_cols`` are the vectorised forms for
    leastsq_batch; ``alone(k)`` gives the same arithmetic for problem k alone
    (a batch of one row), for leastsq.
    """

    def __init__(self, Y):
        self.Y = Y

    def rows(self, p, k):
        with np.errstate(all="ignore"):
            b = p[:, 1:2]
            return np.where(b >= 0, p[:, :1] * np.exp(-b * T) + p[:, 2:3], np.nan) - self.Y[k]

    def jac_rows(self, p, k):
        with np.errstate(all="ignore"):
            e = np.exp(-p[:, 1:2] * T)
            return np.stack([e, -p[:, :1] * T * e, np.ones_like(e)], axis=2)

    def jac_cols(self, p, k):
        return np.ascontiguousarray(self.jac_rows(p, k).transpose(0, 2, 1))

    def alone(self, k, jacobian="fd", record=None):
        """(func, Dfun, col_deriv) of problem k for leastsq; `record` collects
        whether each residual vector was finite."""
        kk = np.array([k])

        def func(x):
            f = self.rows(x[None, :], kk)[0]
            if record is not None:
                record.append(bool(np.isfinite(f).all()))
            return f
        if jacobian == "fd":
            return func, None, False
        if jacobian == "rows":
            return func, (lambda x: self.jac_rows(x[None, :], kk)[0]), False
        return func, (lambda x: self.jac_cols(x[None, :], kk)[0]), True

    def batch_dfun(self, jacobian):
        """(Dfun, col_deriv) for leastsq_batch."""
        return {"fd": (None, False), "rows": (self.jac_rows, False),
                "col_deriv": (self.jac_cols, True)}[jacobian]


# The mixed batch: which problem is which kind.
EASY = [0, 1, 2, 3]
FAR, FLAT, NAN_DATA, NAN_START, NAN_TRIAL, DEGENERATE, DEGENERATE2, SLOW = range(4, 12)


def mixed_batch():
    """(model, X0) of 12 problems of every kind."""
    Y = decay_data(12)
    Y[NAN_DATA, 7] = np.nan                 # NaN data: NaN residuals at x0
    X0 = np.array([
        [1.0, 1.0, 0.0], [2.0, 0.5, 0.1], [0.5, 2.0, -0.1], [1.5, 1.0, 0.0],  # easy
        [50.0, 8.0, 3.0],        # far from the truth (one NaN trial on the way)
        [1.0, 1e-3, 0.0],        # nearly flat start
        [1.0, 1.0, 0.0],         # NaN data
        [1.0, -0.5, 0.0],        # outside the domain: NaN at x0
        [0.1, 0.01, 0.0],        # the first step crosses b = 0 (NaN), then converges
        [5.0, 1e-3, 0.0],        # many NaN trials, a degenerate solution b ~ 0
        [30.0, 0.1, 0.0],        # the same
        [0.1, 0.1, 0.0],         # slow
    ])
    return Decay(Y), X0


def small_maxfev(jacobian):
    # Small enough that the slow problems stop at maxfev (ier 5) while the
    # easy ones still converge.
    return 30 if jacobian == "fd" else 12


def leastsq_alone(func, x0, Dfun=None, **options):
    """leastsq's full output for one problem, or the ValueError it raises."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            return leastsq(func, x0, Dfun=Dfun, full_output=True, **options)
        except ValueError as exc:
            return exc


def assert_problem_matches(res, k, ref, x0):
    """Problem k of `res` is `ref`, leastsq's full output (or its ValueError)."""
    where = f"problem {k}"
    if isinstance(ref, ValueError):
        # leastsq raises where the batch records 9 or 10 and goes on.
        if "at x0" in str(ref):
            assert res.ier[k] == IER_NONFINITE_F0, (where, res.ier[k], ref)
            assert (res.nfev[k], res.njev[k]) == (1, 0), where
            assert_array_equal(res.x[k], x0, err_msg=where)
            assert res.message(k) == "func returned NaN or inf at the starting point."
        else:
            assert "not finite" in str(ref) or "NaN or inf" in str(ref), ref
            assert res.ier[k] == IER_NONFINITE_JAC, (where, res.ier[k], ref)
            assert res.message(k) == "The Jacobian has NaN or inf entries."
        assert not res.success[k]
        if res.cov_x is not None:
            assert np.isnan(res.cov_x[k]).all(), where
        return
    x, cov_x, info, mesg, ier = ref
    assert res.ier[k] == ier, (where, res.ier[k], ier)
    assert res.nfev[k] == info["nfev"], (where, res.nfev[k], info["nfev"])
    assert res.njev[k] == info.get("njev", 0), where
    assert_array_equal(res.x[k], x, err_msg=where)
    # MINPACK's enorm (overflow-safe), as the engine computes it: exactly.
    assert res.fnorm[k] == enorm(info["fvec"]), where
    assert res.message(k) == mesg, where
    assert res.success[k] == (ier in (1, 2, 3, 4)), where
    if res.cov_x is not None:
        if cov_x is None:
            assert np.isnan(res.cov_x[k]).all(), where
        else:
            assert_allclose(res.cov_x[k], cov_x, rtol=1e-10, atol=0, err_msg=where)


def assert_same_results(a, b, rows_a=slice(None), rows_b=slice(None)):
    """Equal x, ier, nfev, njev, fnorm (and cov_x) of the selected problems."""
    for name in RESULT_FIELDS:
        assert_array_equal(getattr(a, name)[rows_a], getattr(b, name)[rows_b],
                           err_msg=name)
    if a.cov_x is not None and b.cov_x is not None:
        assert_array_equal(a.cov_x[rows_a], b.cov_x[rows_b], err_msg="cov_x")


# -- 1. mixed batches equal leastsq per problem ------------------------------

@pytest.mark.parametrize("limit", ["default", "small"])
@pytest.mark.parametrize("jacobian", ["fd", "rows", "col_deriv"])
def test_mixed_batch_equals_leastsq_per_problem(jacobian, limit):
    model, X0 = mixed_batch()
    maxfev = 0 if limit == "default" else small_maxfev(jacobian)
    dfun, col_deriv = model.batch_dfun(jacobian)
    X0_given = X0.copy()
    res = leastsq_batch(model.rows, X0, Dfun=dfun, col_deriv=col_deriv, maxfev=maxfev,
                        cov=True)
    assert_array_equal(X0, X0_given)          # the start points are not modified
    assert isinstance(res, BatchResult) and len(res) == 12 and not res.stopped
    assert res.x.shape == (12, 3) and res.cov_x.shape == (12, 3, 3)
    assert res.fnorm.shape == res.ier.shape == res.nfev.shape == res.njev.shape == (12,)
    nan_trials = {}
    for k in range(12):
        record = []
        func, jac, cd = model.alone(k, jacobian, record)
        ref = leastsq_alone(func, X0[k], Dfun=jac, col_deriv=cd, maxfev=maxfev)
        assert_problem_matches(res, k, ref, X0[k])
        nan_trials[k] = record[0] and not all(record[1:])
    # The batch really holds every kind of problem.
    assert res.ier[NAN_DATA] == res.ier[NAN_START] == IER_NONFINITE_F0
    assert res.success[EASY].all()
    assert nan_trials[NAN_TRIAL] and nan_trials[DEGENERATE] and nan_trials[DEGENERATE2]
    if limit == "default":
        # A NaN trial point is a rejected step, not the end of the fit.
        assert res.success[[FAR, NAN_TRIAL, DEGENERATE, DEGENERATE2]].all()
    else:
        assert (res.ier == 5).sum() >= 2
        assert res.message(int(np.flatnonzero(res.ier == 5)[0])) == (
            f"Number of calls to function has reached maxfev = {maxfev}.")
    if jacobian == "fd":
        assert (res.njev == 0).all()
    else:
        assert (res.njev[res.success] > 0).all()
    assert f"ier={IER_NONFINITE_F0}: 2" in repr(res)


@pytest.mark.parametrize("jacobian", ["fd", "rows"])
def test_options_are_leastsq_options(jacobian):
    # Every option reaches each fit as leastsq's would; residuals in float32
    # set the default epsfcn to float32's epsilon, as in leastsq.
    model, X0 = mixed_batch()
    dfun, _ = model.batch_dfun(jacobian)

    def rows32(p, k):
        return model.rows(p, k).astype(np.float32)
    for func, options in [
            (model.rows, dict(ftol=1e-4, xtol=1e-3, gtol=1e-3, factor=0.5)),
            (model.rows, dict(epsfcn=1e-7, maxfev=-1)),
            (rows32, dict())]:
        res = leastsq_batch(func, X0, Dfun=dfun, **options)
        for k in range(12):
            kk = np.array([k])
            jac = None if dfun is None else (lambda x: dfun(x[None, :], kk)[0])
            ref = leastsq_alone(lambda x: func(x[None, :], kk)[0], X0[k], Dfun=jac,
                                **options)
            assert_problem_matches(res, k, ref, X0[k])


@pytest.mark.parametrize("jacobian", ["fd", "rows"])
def test_nonfinite_jacobian_is_ier_10_for_that_problem_only(jacobian):
    # Problem 1 has a finite start but a non-finite Jacobian: with finite
    # differences its residuals are NaN for c > 0 (it starts at c = 0, so
    # the step in c leaves the domain); with Dfun, Dfun returns NaN for it.
    model, _ = mixed_batch()
    X0 = np.tile([1.0, 1.0, 0.0], (4, 1))
    X0[2] = [2.0, 0.5, 0.1]

    def rows(p, k):
        f = model.rows(p, k)
        f[(k == 1) & (p[:, 2] > 0)] = np.nan
        return f

    def jac(p, k):
        J = model.jac_rows(p, k)
        J[k == 1, 3, 0] = np.nan
        return J
    dfun = jac if jacobian == "rows" else None
    res = leastsq_batch(rows, X0, Dfun=dfun, cov=True)
    assert res.ier[1] == IER_NONFINITE_JAC
    assert res.success[[0, 2, 3]].all()
    for k in range(4):
        kk = np.array([k])
        ref = leastsq_alone(lambda x: rows(x[None, :], kk)[0], X0[k],
                            Dfun=None if dfun is None else (lambda x: jac(x[None, :], kk)[0]))
        assert_problem_matches(res, k, ref, X0[k])
    assert isinstance(leastsq_alone(lambda x: rows(x[None, :], np.array([1]))[0], X0[1]),
                      ValueError)


# -- 2. Moré-Garbow-Hillstrom problems, one row per start ---------------------

def _mgh_cases(max_n):
    cases = {}
    for run_id, problem, factor in _problems.parity_runs():
        if problem.n <= max_n:
            cases.setdefault(problem.case_id, (problem, []))[1].append(factor)
    return [(case_id, problem, factors) for case_id, (problem, factors) in cases.items()]


MGH = _mgh_cases(max_n=10)


def mgh_rows(problem):
    """A vectorised func/Dfun calling problem.fcn/problem.jac row by row."""
    def rows(p, k):
        with np.errstate(all="ignore"):
            return np.array([problem.fcn(x) for x in p])

    def jac_rows(p, k):
        with np.errstate(all="ignore"):
            return np.array([problem.jac(x) for x in p])
    return rows, jac_rows


@pytest.mark.parametrize("case_id, problem, factors", MGH, ids=[c[0] for c in MGH])
def test_mgh_problem_from_several_starts(case_id, problem, factors):
    rows, jac_rows = mgh_rows(problem)
    # Each start twice, in different places: rows of one problem do not meet.
    X0 = np.array([problem.x0(f) for f in factors] * 2)
    for dfun in (None, jac_rows):
        res = leastsq_batch(rows, X0, Dfun=dfun, cov=True)
        for i in range(len(factors)):
            ref = leastsq_alone(problem.fcn, X0[i],
                                Dfun=None if dfun is None else problem.jac)
            assert_problem_matches(res, i, ref, X0[i])
        assert_same_results(res, res, slice(0, len(factors)), slice(len(factors), None))


def test_mgh_selection_is_substantial():
    assert len(MGH) >= 20 and sum(len(c[2]) for c in MGH) >= 60


# -- 3. one problem's failure does not affect another -------------------------

@pytest.mark.parametrize("limit", ["default", "small"])
@pytest.mark.parametrize("jacobian", ["fd", "rows"])
def test_each_problem_alone_equals_it_in_the_mixed_batch(jacobian, limit):
    model, X0 = mixed_batch()
    dfun, _ = model.batch_dfun(jacobian)
    maxfev = 0 if limit == "default" else small_maxfev(jacobian)
    together = leastsq_batch(model.rows, X0, Dfun=dfun, maxfev=maxfev, cov=True)
    assert IER_NONFINITE_F0 in together.ier
    if limit == "small":
        assert 5 in together.ier
    for k in range(12):
        def shifted(f, k=k):
            return None if f is None else (lambda p, kk: f(p, kk + k))
        alone = leastsq_batch(shifted(model.rows), X0[k:k + 1], Dfun=shifted(dfun),
                              maxfev=maxfev, cov=True)
        assert_same_results(together, alone, slice(k, k + 1))
    # Nor does the order of the problems, nor their company.
    order = np.random.default_rng(1).permutation(12)
    permuted = leastsq_batch(lambda p, kk: model.rows(p, order[kk]), X0[order],
                             Dfun=None if dfun is None else (
                                 lambda p, kk: dfun(p, order[kk])),
                             maxfev=maxfev, cov=True)
    assert_same_results(together, permuted, order)
    good = np.array(EASY + [FAR])
    subset = leastsq_batch(lambda p, kk: model.rows(p, good[kk]), X0[good],
                           Dfun=None if dfun is None else (lambda p, kk: dfun(p, good[kk])),
                           maxfev=maxfev, cov=True)
    assert_same_results(together, subset, good)


# -- 4. compiled models -------------------------------------------------------

TG = np.linspace(-5, 5, 100)
TRUE = np.array([2.0, 0.3, 1.1, 0.5])


def gauss_rows(Y):
    """The Gaussian as a vectorised Python model, row by row through
    ``_examples.gauss_model`` (the compiled arithmetic, libm's exp)."""
    def rows(p, k):
        return np.array([_examples.gauss_model(q, TG) for q in p]) - Y[k]
    return rows


def gauss_jac_rows(p, k):
    """The Jacobians of `gauss_rows`, shape (r, M, 4), by the compiled code."""
    return np.array([_examples.gauss_model_jacobian(q, TG) for q in p])


def curve_set(K, seed, nan_rows=()):
    rng = np.random.default_rng(seed)
    Y = _examples.gauss_model(TRUE, TG) + 0.05 * rng.normal(size=(K, TG.size))
    Y[list(nan_rows), 11] = np.nan
    data = _examples.CurveSet(TG, Y)
    f = LowLevelCallable.from_cython(_examples, "gauss_batch_residuals", data.user_data)
    j = LowLevelCallable.from_cython(_examples, "gauss_batch_jacobian", data.user_data)
    X0 = np.tile([1.5, 0.0, 1.5, 0.3], (K, 1)) * rng.uniform(0.8, 1.2, (K, 4))
    return data, f, j, X0


@pytest.fixture(scope="module")
def curves():
    # 40 noisy curves, two of them with a NaN point (ier 9).
    return curve_set(40, 7, nan_rows=(5, 17))


@pytest.mark.parametrize("limited", [False, True], ids=["default", "maxfev"])
@pytest.mark.parametrize("analytic", [False, True], ids=["lmdif", "lmder"])
def test_compiled_batch_equals_compiled_leastsq(curves, analytic, limited):
    data, f, j, X0 = curves
    # These fits take 26-36 evaluations with differences, 6-8 with the Jacobian.
    maxfev = (6 if analytic else 12) if limited else 0
    res = leastsq_batch(f, X0, args=(data.m,), Dfun=j if analytic else None,
                        maxfev=maxfev, cov=True)
    assert res.cov_x.shape == (40, 4, 4)
    for k in range(40):
        one = _examples.CurveData(TG, data.Y[k])
        f1 = LowLevelCallable.from_cython(_examples, "gauss_residuals", one.user_data)
        j1 = LowLevelCallable.from_cython(_examples, "gauss_jacobian", one.user_data)
        ref = leastsq_alone(f1, X0[k], args=(one.m,), Dfun=j1 if analytic else None,
                            maxfev=maxfev)
        assert_problem_matches(res, k, ref, X0[k])
    assert (res.ier[[5, 17]] == IER_NONFINITE_F0).all()
    if maxfev:
        assert 5 in res.ier
    else:
        assert res.success.sum() == 38
        # cov_x is symmetric positive definite where the fits converged.
        cov = res.cov_x[res.success]
        assert_allclose(cov, cov.transpose(0, 2, 1), rtol=1e-12, atol=0)
        assert (np.linalg.eigvalsh(cov) > 0).all()


@pytest.mark.parametrize("analytic", [False, True], ids=["lmdif", "lmder"])
def test_compiled_batch_matches_python_batch(analytic):
    # The same arithmetic in the compiled model and in the vectorised one: the
    # two batch engines give the same fits, bit for bit.
    data, f, j, X0 = curve_set(40, 3)
    compiled = leastsq_batch(f, X0, args=(data.m,), Dfun=j if analytic else None)
    vectorised = leastsq_batch(gauss_rows(data.Y), X0,
                               Dfun=gauss_jac_rows if analytic else None)
    assert compiled.success.all()
    assert_same_results(compiled, vectorised)


def test_threads_and_chunks_give_the_serial_result():
    K = 256                                   # enough problems for two threads
    data, f, j, X0 = curve_set(K, 8, nan_rows=(3, 200))
    for dfun in (None, j):
        serial = leastsq_batch(f, X0, args=(data.m,), Dfun=dfun, threads=1, cov=True)
        assert (serial.ier[[3, 200]] == IER_NONFINITE_F0).all()
        assert serial.success.sum() == K - 2
        for threads, chunk in [(2, None), (2, 7), (2, 1), (1, 7)]:
            res = leastsq_batch(f, X0, args=(data.m,), Dfun=dfun, threads=threads,
                                chunk_size=chunk, cov=True)
            assert_same_results(res, serial)
            assert_array_equal(np.isnan(res.cov_x), np.isnan(serial.cov_x))


@pytest.mark.parametrize("analytic", [False, True], ids=["lmdif", "lmder"])
def test_compiled_2d_gaussians_converge(analytic):
    rng = np.random.default_rng(2)
    K = 30
    truth = np.column_stack([rng.uniform(50, 150, K), rng.uniform(1.5, 2.5, K),
                             rng.uniform(1.5, 2.5, K), rng.uniform(0.8, 1.2, K),
                             rng.uniform(5, 15, K)])
    spots = _examples.CurveSet(None, np.array([_examples.gauss2d_model(p) for p in truth]))
    f = LowLevelCallable.from_cython(_examples, "gauss2d_batch_residuals", spots.user_data)
    j = LowLevelCallable.from_cython(_examples, "gauss2d_batch_jacobian", spots.user_data)
    # Every parameter 10% off, up or down.
    X0 = truth * np.where(rng.random(truth.shape) < 0.5, 0.9, 1.1)
    res = leastsq_batch(f, X0, args=(25,), Dfun=j if analytic else None)
    assert res.success.all(), res.ier
    assert_allclose(res.x, truth, rtol=1e-6)
    assert (res.fnorm < 1e-6).all()


def test_compiled_signatures_and_args_are_checked(curves):
    data, f, j, X0 = curves
    one = _examples.CurveData(TG, data.Y[0])
    single_f = LowLevelCallable.from_cython(_examples, "gauss_residuals", one.user_data)
    single_j = LowLevelCallable.from_cython(_examples, "gauss_jacobian", one.user_data)
    batch_sig = r"int \(Py_ssize_t, Py_ssize_t, Py_ssize_t, const double \*, double \*"
    with pytest.raises(TypeError, match=r"leastsq_batch: the compiled func has "
                       r"signature .*; it must be '" + batch_sig):
        leastsq_batch(single_f, X0, args=(data.m,))
    with pytest.raises(TypeError, match="leastsq_batch: the compiled Dfun has signature"):
        leastsq_batch(f, X0, args=(data.m,), Dfun=single_j)
    with pytest.raises(TypeError, match="leastsq_batch: the compiled func has signature"):
        leastsq_batch(j, X0, args=(data.m,))         # a Jacobian given as func
    with pytest.raises(TypeError, match=r"leastsq_batch: .*args=\(M,\)"):
        leastsq_batch(f, X0)
    with pytest.raises(TypeError, match=r"args=\(M,\)"):
        leastsq_batch(f, X0, args=(data.m, 1))
    with pytest.raises(TypeError, match="number of residuals as an integer"):
        leastsq_batch(f, X0, args=(100.0,))
    with pytest.raises(TypeError, match="must not exceed"):
        leastsq_batch(f, X0, args=(3,))


# ctypes callbacks of the batch signatures: Python code behind C pointers.
BATCH_FUNC = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_ssize_t, ctypes.c_ssize_t,
                              ctypes.c_ssize_t, ctypes.POINTER(ctypes.c_double),
                              ctypes.POINTER(ctypes.c_double), ctypes.c_void_p)
BATCH_JAC = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_ssize_t, ctypes.c_ssize_t,
                             ctypes.c_ssize_t, ctypes.POINTER(ctypes.c_double),
                             ctypes.POINTER(ctypes.c_double), ctypes.c_ssize_t,
                             ctypes.c_void_p)


def c_batch_residuals(fcn, stop=None):
    """A ctypes batch func writing fcn(x); stop(k, call) may return a negative code."""
    calls = {}

    def callback(k, m, n, x, fvec, udata):
        calls[k] = calls.get(k, 0) + 1
        if stop is not None:
            rc = stop(k, calls[k])
            if rc:
                return rc
        with np.errstate(all="ignore"):
            np.ctypeslib.as_array(fvec, shape=(m,))[:] = fcn(
                np.ctypeslib.as_array(x, shape=(n,)).copy())
        return 0
    return BATCH_FUNC(callback)


def c_batch_jacobian(jac):
    def callback(k, m, n, x, fjac, ldfjac, udata):
        cols = np.ctypeslib.as_array(fjac, shape=(n, ldfjac))
        with np.errstate(all="ignore"):
            cols[:, :m] = jac(np.ctypeslib.as_array(x, shape=(n,)).copy()).T
        return 0
    return BATCH_JAC(callback)


MGH_SMALL = _mgh_cases(max_n=4)


@pytest.mark.parametrize("case_id, problem, factors", MGH_SMALL,
                         ids=[c[0] for c in MGH_SMALL])
def test_compiled_mgh_equals_leastsq(case_id, problem, factors):
    X0 = np.array([problem.x0(f) for f in factors])
    f = c_batch_residuals(problem.fcn)
    j = c_batch_jacobian(problem.jac)
    for dfun in (None, j):
        res = leastsq_batch(f, X0, args=(problem.m,), Dfun=dfun, cov=True)
        for i in range(len(factors)):
            ref = leastsq_alone(problem.fcn, X0[i],
                                Dfun=None if dfun is None else problem.jac)
            assert_problem_matches(res, i, ref, X0[i])


def test_compiled_callback_stop_ends_only_its_fit():
    problem = _problems.get_problem("rosenbrock_n2_m2")
    X0 = np.array([problem.x0(f) for f in (1, 10, 100)] * 3)
    full = leastsq_batch(c_batch_residuals(problem.fcn), X0, args=(2,), cov=True)
    assert full.success.all()
    # Problem 1 refuses at its 5th evaluation, problem 4 at its first.
    codes = {1: (5, -3), 4: (1, -9)}

    def stop(k, call):
        at, rc = codes.get(k, (0, 0))
        return rc if call == at else 0
    res = leastsq_batch(c_batch_residuals(problem.fcn, stop), X0, args=(2,), cov=True)
    assert res.ier[1] == -3 and res.ier[4] == -9
    assert "returned -3" in res.message(1)
    assert not res.success[[1, 4]].any()
    assert np.isnan(res.cov_x[[1, 4]]).all()
    assert 0 < res.nfev[1] < full.nfev[1]
    assert np.isfinite(res.x[1]).all()
    assert_array_equal(res.x[4], X0[4])
    others = np.array([0, 2, 3, 5, 6, 7, 8])
    assert_same_results(res, full, others, others)


def test_compiled_fit_refused_at_x0_has_no_fnorm():
    problem = _problems.get_problem("rosenbrock_n2_m2")
    X0 = np.array([problem.x0(1)] * 2)
    res = leastsq_batch(c_batch_residuals(problem.fcn, lambda k, call: -2 * (k == 0)),
                        X0, args=(2,))
    assert res.ier[0] == -2 and res.nfev[0] == 0
    assert np.isnan(res.fnorm[0])


# -- 5. progress and clean stops ----------------------------------------------

def progress_cases():
    """(name, solve(**kw), K) for each engine."""
    model = Decay(decay_data(40, seed=5))
    X0 = np.tile([1.0, 1.0, 0.0], (40, 1)) * np.random.default_rng(4).uniform(
        0.5, 1.5, (40, 3))
    data, f, j, GX0 = curve_set(40, 9)
    return {
        "python": lambda **kw: leastsq_batch(model.rows, X0, **kw),
        "python-dfun": lambda **kw: leastsq_batch(model.rows, X0, Dfun=model.jac_rows,
                                                  **kw),
        "compiled": lambda **kw: leastsq_batch(f, GX0, args=(data.m,), threads=1,
                                               chunk_size=5, **kw),
        "_keep": data,     # the compiled model's data must outlive the callables
        "_model": model,
        "_X0": X0,
    }


@pytest.fixture(scope="module")
def solvers():
    return progress_cases()


@pytest.mark.parametrize("engine", ["python", "python-dfun", "compiled"])
def test_progress_reports_every_fit(solvers, engine):
    solve = solvers[engine]
    full = solve()
    reports = []
    res = solve(progress=lambda done, total: reports.append((done, total)))
    assert_same_results(res, full)
    assert not res.stopped
    done = [d for d, _ in reports]
    assert done == sorted(done) and done[-1] == 40 and done[0] >= 0
    assert {t for _, t in reports} == {40}
    if engine == "compiled":
        assert done == list(range(5, 41, 5))       # one report per chunk
    else:
        assert len(reports) > 3                    # one report per round


@pytest.mark.parametrize("engine", ["python", "python-dfun", "compiled"])
def test_progress_false_stops_cleanly(solvers, engine):
    solve = solvers[engine]
    full = solve(cov=True)
    assert full.success.all()

    def stop_early(done, total):
        return False if done > 0 else None        # None (not False) goes on
    res = solve(progress=stop_early, cov=True)
    assert res.stopped and not full.stopped
    unfinished = res.ier == IER_NOT_FINISHED
    finished = ~unfinished
    assert unfinished.any() and finished.any()
    assert_same_results(res, full, finished, finished)
    assert not res.success[unfinished].any()
    assert np.isnan(res.cov_x[unfinished]).all()
    assert (res.nfev[unfinished] <= full.nfev[unfinished]).all()
    assert np.isfinite(res.x[unfinished]).all()
    k = int(np.flatnonzero(unfinished)[0])
    assert res.message(k) == "The batch was stopped before this fit ended."
    assert "stopped" in repr(res)
    if engine.startswith("python"):
        # The last accepted iterate, and the norm of its residuals.
        model = solvers["_model"]
        fn = np.linalg.norm(model.rows(res.x, np.arange(40)), axis=1)
        assert_allclose(res.fnorm, fn, rtol=1e-12)
        assert (res.nfev[unfinished] > 0).all()


def test_progress_reports_of_a_threaded_compiled_batch():
    data, f, j, X0 = curve_set(256, 10)
    full = leastsq_batch(f, X0, args=(data.m,), threads=2, chunk_size=1)
    reports = []
    res = leastsq_batch(f, X0, args=(data.m,), threads=2, chunk_size=1,
                        progress=lambda done, total: reports.append(done))
    assert_same_results(res, full)
    assert reports == sorted(reports) and reports[-1] == 256


@pytest.fixture(scope="module")
def long_threaded_batch():
    # Long enough (about 0.2 s on two threads) that the first progress report,
    # due after 5 ms, comes while most fits have not started.
    data, f, j, X0 = curve_set(16000, 10)
    full = leastsq_batch(f, X0, args=(data.m,), threads=2)
    return data, f, X0, full


def test_progress_false_stops_a_threaded_compiled_batch_cleanly(long_threaded_batch):
    data, f, X0, full = long_threaded_batch
    reports = []

    def stop(done, total):
        reports.append(done)
        return False
    res = leastsq_batch(f, X0, args=(data.m,), threads=2, chunk_size=8, progress=stop)
    assert res.stopped and len(reports) == 1
    unfinished = res.ier == IER_NOT_FINISHED
    # The fits the threads had taken when the stop came finish, no others start.
    assert 0 < (~unfinished).sum() < 16000 and (~unfinished).sum() >= reports[0]
    assert_same_results(res, full, ~unfinished, ~unfinished)
    assert_array_equal(res.x[unfinished], X0[unfinished])
    assert np.isnan(res.fnorm[unfinished]).all()
    assert (res.nfev[unfinished] == 0).all()


def test_an_error_in_the_progress_callback_of_a_threaded_batch_propagates(
        long_threaded_batch):
    data, f, X0, full = long_threaded_batch
    x0 = X0.copy()

    def fail(done, total):
        raise KeyError("progress callback failed")
    with pytest.raises(KeyError, match="progress callback failed"):
        leastsq_batch(f, X0, args=(data.m,), threads=2, progress=fail)
    assert_array_equal(X0, x0)
    # The threads were joined: the next batch runs alone and in full.
    assert_same_results(leastsq_batch(f, X0, args=(data.m,), threads=2), full)


@pytest.mark.parametrize("engine", ["python", "compiled"])
def test_progress_bar_with_tqdm(solvers, engine, capsys):
    solve = solvers[engine]
    ref = solve()
    capsys.readouterr()
    assert_same_results(solve(progress=True), ref)
    err = capsys.readouterr().err
    assert "leastsq_batch" in err and "40/40" in err and "100%" in err
    assert_same_results(solve(progress=False), ref)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("engine", ["python", "compiled"])
def test_progress_without_tqdm_writes_a_line(solvers, engine, monkeypatch, capsys):
    solve = solvers[engine]
    ref = solve()
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)   # import tqdm.auto fails
    capsys.readouterr()
    assert_same_results(solve(progress=True), ref)
    err = capsys.readouterr().err
    assert err.startswith("\rleastsq_batch: ") and err.endswith("\n")
    assert "\rleastsq_batch: 40/40 fits\n" in err and "%" not in err


# -- 6. errors ------------------------------------------------------------------

@pytest.fixture(scope="module")
def small():
    model = Decay(decay_data(3))
    return model, np.tile([1.0, 1.0, 0.0], (3, 1))


@pytest.mark.parametrize("x0, match", [
    (np.array([1.0, 1.0, 0.0]), r"x0 must have shape \(K, n\).*\(3,\)"),
    (np.ones((2, 3, 1)), r"x0 must have shape \(K, n\)"),
    (np.ones((3, 0)), "x0 must contain at least one parameter"),
    ([[1.0, 1.0, np.nan], [1.0, 1.0, 0.0]], r"x0 must be finite \(problems \[0\]"),
    ([[1.0, 1.0, 0.0], [np.inf, 1.0, 0.0]], r"x0 must be finite \(problems \[1\]"),
    ([[1 + 1j, 1.0, 0.0]], "x0 must be real"),
    ([["a", "b", "c"]], "x0 must be an array of real numbers"),
])
def test_bad_x0_is_named(small, x0, match):
    model, _ = small
    with pytest.raises(ImproperInputError, match=match):
        leastsq_batch(model.rows, x0)


@pytest.mark.parametrize("diag, match", [
    ([1.0, 2.0], r"diag must have shape \(n,\) or \(K, n\) = \(3, 3\), got \(2,\)"),
    (np.ones((2, 3)), r"diag must have shape .* got \(2, 3\)"),
    (np.ones((3, 3, 1)), "diag must have shape"),
    ([1.0, -2.0, 1.0], "diag must hold positive finite"),
    ([1.0, 0.0, 1.0], "diag must hold positive finite"),
    ([[1.0, 1.0, 1.0], [1.0, np.nan, 1.0], [1.0, 1.0, 1.0]], "diag must hold positive"),
    ([1.0, np.inf, 1.0], "diag must hold positive finite"),
    ([1j, 1.0, 1.0], "diag must be real"),
])
def test_bad_diag_is_named(small, diag, match):
    model, X0 = small
    with pytest.raises(ImproperInputError, match=match):
        leastsq_batch(model.rows, X0, diag=diag)


@pytest.mark.parametrize("options, match", [
    (dict(ftol=-1.0), "leastsq_batch: ftol"),
    (dict(xtol=np.nan), "leastsq_batch: xtol"),
    (dict(gtol=-1e-3), "leastsq_batch: gtol"),
    (dict(factor=0.0), "leastsq_batch: factor"),
    (dict(maxfev=2.5), "leastsq_batch: maxfev"),
    (dict(epsfcn=np.nan), "leastsq_batch: epsfcn"),
])
def test_bad_options_are_named(small, options, match):
    model, X0 = small
    with pytest.raises(ImproperInputError, match=match):
        leastsq_batch(model.rows, X0, **options)


def test_bad_callbacks_and_progress(small, curves):
    model, X0 = small
    with pytest.raises(TypeError, match="leastsq_batch: func must be callable, got float"):
        leastsq_batch(3.0, X0)
    with pytest.raises(TypeError, match="leastsq_batch: Dfun must be callable or None"):
        leastsq_batch(model.rows, X0, Dfun="jac")
    data, f, j, GX0 = curves
    with pytest.raises(TypeError, match="func and Dfun must both be compiled"):
        leastsq_batch(f, GX0, args=(data.m,), Dfun=lambda p, k: None)
    with pytest.raises(TypeError, match="func and Dfun must both be compiled"):
        leastsq_batch(model.rows, X0, Dfun=j)
    for bad in ("yes", 1, [None]):
        with pytest.raises(TypeError, match="leastsq_batch: progress must be None, True "
                           "or a callable"):
            leastsq_batch(model.rows, X0, progress=bad)
        with pytest.raises(TypeError, match="progress must be"):
            leastsq_batch(f, GX0, args=(data.m,), progress=bad)
    with pytest.raises(ImproperInputError, match="leastsq_batch: threads must be >= 1"):
        leastsq_batch(f, GX0, args=(data.m,), threads=0)
    with pytest.raises(ImproperInputError, match="leastsq_batch: chunk_size must be >= 1"):
        leastsq_batch(f, GX0, args=(data.m,), chunk_size=0)


def test_wrong_shapes_from_the_model(small):
    model, X0 = small
    rows, jac_rows = model.rows, model.jac_rows
    # On the first call.
    with pytest.raises(ValueError, match=r"func returned an array of shape \(3, 40, 1\) "
                       r"for 3 parameter rows"):
        leastsq_batch(lambda p, k: rows(p, k)[:, :, None], X0)
    with pytest.raises(ValueError, match=r"func returned an array of shape \(2, 40\)"):
        leastsq_batch(lambda p, k: rows(p, k)[:2], X0)
    with pytest.raises(TypeError, match="must not exceed func output vector length M=2"):
        leastsq_batch(lambda p, k: rows(p, k)[:, :2], X0)
    with pytest.raises(TypeError, match="must be real"):
        leastsq_batch(lambda p, k: rows(p, k) + 0j, X0)

    # Later: M changes, or a row is missing.
    def later(change):
        calls = [0]

        def f(p, k):
            calls[0] += 1
            out = rows(p, k)
            return out if calls[0] < 3 else change(out)
        return f
    with pytest.raises(ValueError, match=r"shape \(\d+, 39\).*must return shape "
                       r"\(\d+, 40\).*with M fixed"):
        leastsq_batch(later(lambda out: out[:, :-1]), X0)
    with pytest.raises(ValueError, match="func returned an array of shape"):
        leastsq_batch(later(lambda out: out[1:]), X0)
    # Dfun: wrong shape, wrong layout for col_deriv, later wrong shape.
    with pytest.raises(ValueError, match=r"Dfun returned an array of shape \(3, 39, 3\); "
                       r"it must return shape \(3, 40, 3\)"):
        leastsq_batch(rows, X0, Dfun=lambda p, k: jac_rows(p, k)[:, :-1])
    with pytest.raises(ValueError, match=r"must return shape \(3, 3, 40\) "
                       r"\(col_deriv=True\)"):
        leastsq_batch(rows, X0, Dfun=jac_rows, col_deriv=True)
    calls = [0]

    def jac_later(p, k):
        calls[0] += 1
        J = jac_rows(p, k)
        return J if calls[0] < 2 else J[:, :, :2]
    with pytest.raises(ValueError, match="Dfun returned an array of shape"):
        leastsq_batch(rows, X0 * [1.0, 0.5, 1.0], Dfun=jac_later)
    assert calls[0] == 2


class ModelFailure(Exception):
    pass


def failing_at(fail_at, error):
    """(calls, counted): ``counted(name, f)`` is `f` counting its calls in
    ``calls[name]``, raising `error` at call ``fail_at = (name, number)``."""
    calls = {"func": 0, "Dfun": 0}

    def counted(name, f):
        def g(p, k):
            calls[name] += 1
            if (name, calls[name]) == fail_at:
                raise error
            return f(p, k)
        return g
    return calls, counted


@pytest.mark.parametrize("where", ["func first", "func later", "Dfun"])
def test_exceptions_from_the_model_propagate_unchanged(small, where):
    model, X0 = small
    error = ModelFailure("from the model")
    fail_at = {"func first": ("func", 1), "func later": ("func", 4),
               "Dfun": ("Dfun", 2)}[where]
    calls, counted = failing_at(fail_at, error)
    dfun = counted("Dfun", model.jac_rows) if where == "Dfun" else None
    with pytest.raises(ModelFailure) as info:
        leastsq_batch(counted("func", model.rows), X0, Dfun=dfun)
    assert info.value is error
    assert calls[fail_at[0]] == fail_at[1]


def test_arrays_of_the_caller_are_not_modified(small):
    # The model may return (views of) arrays it keeps, and x0 and diag are
    # the caller's: the batch copies what it stores.
    model, X0 = small
    kept = []

    def f(p, k):
        out = model.rows(p, k)
        kept.append((out, out.copy()))
        return out

    def j(p, k):
        out = model.jac_rows(p, k)
        kept.append((out, out.copy()))
        return out
    diag = np.array([[1.0, 2.0, 3.0]] * 3)
    given = X0.copy(), diag.copy()
    leastsq_batch(f, X0, Dfun=j, diag=diag)
    leastsq_batch(f, X0, diag=diag[0])
    for out, copy in kept:
        assert_array_equal(out, copy)
    assert_array_equal(X0, given[0])
    assert_array_equal(diag, given[1])


# -- 7. diag --------------------------------------------------------------------

@pytest.mark.parametrize("jacobian", ["fd", "rows", "col_deriv"])
@pytest.mark.parametrize("diag_shape", ["shared", "per_problem"])
def test_diag_equals_leastsq(diag_shape, jacobian):
    K = 6
    model = Decay(decay_data(K, seed=3))
    X0 = np.tile([1.0, 1.0, 0.0], (K, 1))
    X0[4] = [20.0, 4.0, 1.0]
    diag = np.array([2.0, 0.5, 1.0])
    D = diag if diag_shape == "shared" else np.outer(np.linspace(0.2, 5.0, K), diag)
    dfun, col_deriv = model.batch_dfun(jacobian)
    res = leastsq_batch(model.rows, X0, Dfun=dfun, col_deriv=col_deriv, diag=D,
                        factor=10.0, cov=True)
    plain = leastsq_batch(model.rows, X0, Dfun=dfun, col_deriv=col_deriv, factor=10.0)
    assert not np.array_equal(res.nfev, plain.nfev)      # diag does matter here
    for k in range(K):
        func, jac, cd = model.alone(k, jacobian)
        ref = leastsq_alone(func, X0[k], Dfun=jac, col_deriv=cd,
                            diag=D if D.ndim == 1 else D[k], factor=10.0)
        assert_problem_matches(res, k, ref, X0[k])


def test_diag_per_problem_on_the_compiled_path(curves):
    data, f, j, X0 = curves
    D = np.outer(np.linspace(0.5, 2.0, 40), [1.0, 2.0, 1.0, 0.5])
    res = leastsq_batch(f, X0, args=(data.m,), Dfun=j, diag=D)
    for k in range(0, 40, 7):
        one = _examples.CurveData(TG, data.Y[k])
        f1 = LowLevelCallable.from_cython(_examples, "gauss_residuals", one.user_data)
        j1 = LowLevelCallable.from_cython(_examples, "gauss_jacobian", one.user_data)
        ref = leastsq_alone(f1, X0[k], args=(one.m,), Dfun=j1, diag=D[k])
        assert_problem_matches(res, k, ref, X0[k])


# -- 8. Python calls per round do not grow with K ------------------------------

def counting(f, log):
    def g(p, k):
        log.append((p.shape[0], k.copy()))
        return f(p, k)
    return g


@pytest.mark.parametrize("jacobian", ["fd", "rows"])
def test_python_calls_do_not_grow_with_K(jacobian):
    model = Decay(decay_data(1, seed=6))
    dfun, _ = model.batch_dfun(jacobian)
    counts = {}
    for K in (1, 10, 200):
        fcalls, jcalls = [], []
        tiled = Decay(np.repeat(model.Y, K, axis=0))    # the same data K times
        res = leastsq_batch(counting(tiled.rows, fcalls), np.tile([1.0, 1.0, 0.0], (K, 1)),
                            Dfun=None if dfun is None else counting(tiled.jac_rows, jcalls))
        assert res.success.all()
        counts[K] = (len(fcalls), len(jcalls))
        # Each call carries every problem: K rows, or K n rows for a difference round.
        assert fcalls[0][0] == K and fcalls[0][1].tolist() == list(range(K))
        assert all(r in (K, 3 * K) for r, _ in fcalls)
        assert all(r == K for r, _ in jcalls)
    assert counts[10] == counts[200] == counts[1]
    assert counts[1][0] >= 4
    if dfun is not None:
        assert counts[1][1] >= 2


def test_python_calls_are_the_longest_fit_alone():
    # Finite differences: every round has func requests, so a batch makes as
    # many calls as its longest fit makes alone.
    model, X0 = mixed_batch()
    log = []
    leastsq_batch(counting(model.rows, log), X0)
    alone = []
    for k in range(12):
        own = []
        leastsq_batch(counting(lambda p, kk, k=k: model.rows(p, kk + k), own), X0[k:k + 1])
        alone.append(len(own))
    assert len(log) == max(alone) and min(alone) < max(alone)


def test_rows_of_a_problem_come_together_with_its_index():
    model = Decay(decay_data(4))
    log = []
    leastsq_batch(counting(model.rows, log), np.tile([1.0, 1.0, 0.0], (4, 1)))
    assert log[0][0] == 4 and log[0][1].tolist() == [0, 1, 2, 3]
    # The first difference round: n rows per problem, together.
    assert log[1][0] == 12
    assert log[1][1].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]


def calling_threads(f, log):
    """`f`, recording each call's rows, problems and calling thread."""
    def g(p, k):
        log.append((p.shape[0], k.copy(), threading.get_ident()))
        return f(p, k)
    return g


@pytest.mark.parametrize("jacobian", ["fd", "rows", "col_deriv"])
@pytest.mark.parametrize("group, threads", [(1, 1), (5, 1), (12, 1), (100, 1),
                                            (1, 2), (5, 2)])
def test_groups_of_a_vectorised_batch_give_the_one_group_result(jacobian, group, threads):
    model, X0 = mixed_batch()                   # 12 problems of every kind
    dfun, col_deriv = model.batch_dfun(jacobian)
    maxfev = small_maxfev(jacobian)
    whole = leastsq_batch(model.rows, X0, Dfun=dfun, col_deriv=col_deriv, maxfev=maxfev,
                          cov=True)
    fcalls, jcalls = [], []
    res = leastsq_batch(calling_threads(model.rows, fcalls), X0,
                        Dfun=None if dfun is None else calling_threads(dfun, jcalls),
                        col_deriv=col_deriv, maxfev=maxfev, cov=True, chunk_size=group,
                        threads=threads)
    assert_same_results(res, whole)
    assert (res.ier == 5).any() and (res.ier == IER_NONFINITE_F0).any()
    # Each call holds the rows of one group only, by their indices in the
    # batch, and comes from this thread. On one thread the groups come one
    # after the other; on two, several are in flight and their calls alternate.
    assert {ident for _, _, ident in fcalls + jcalls} == {threading.get_ident()}
    groups = [np.unique(k // group) for _, k, _ in fcalls + jcalls]
    assert all(g.size == 1 for g in groups)
    order = [int(g[0]) for _, k, _ in fcalls for g in [np.unique(k // group)]]
    assert (order == sorted(order)) == (threads == 1)
    assert set(order) == set(range(-(-12 // group)))
    assert fcalls[0][1].tolist() == list(range(min(group, 12)))
    if threads > 1:
        # Each problem is leastsq's alone, whatever the order of the rounds.
        for k in range(12):
            func, Dfun, cd = model.alone(k, jacobian)
            ref = leastsq_alone(func, X0[k], Dfun, col_deriv=cd, maxfev=maxfev)
            assert_problem_matches(res, k, ref, X0[k])


def test_stopping_a_grouped_batch_leaves_the_later_groups_unstarted(solvers):
    solve = solvers["python"]                   # 40 problems
    full = solve(cov=True)

    def stop_in_the_second_group(done, total):
        return done < 15
    res = solve(progress=stop_in_the_second_group, cov=True, chunk_size=10)
    assert res.stopped
    assert_same_results(res, full, slice(0, 10), slice(0, 10))   # the first group
    second = res.ier[10:20]
    assert (second == IER_NOT_FINISHED).any() and (second != IER_NOT_FINISHED).any()
    # The groups after it never started: their start points, no evaluations.
    assert (res.ier[20:] == IER_NOT_FINISHED).all()
    assert (res.nfev[20:] == 0).all() and (res.njev[20:] == 0).all()
    assert np.isnan(res.fnorm[20:]).all() and np.isnan(res.cov_x[20:]).all()
    assert_array_equal(res.x[20:], solvers["_X0"][20:])


def test_the_residual_count_of_every_group_is_checked():
    model = Decay(decay_data(4))
    X0 = np.tile([1.0, 1.0, 0.0], (4, 1))

    def longer_later(p, k):
        f = model.rows(p, k)
        return f if k[0] < 2 else np.hstack([f, f[:, :1]])
    with pytest.raises(ValueError, match=r"it must return shape \(2, 40\)"):
        leastsq_batch(longer_later, X0, chunk_size=2)
    with pytest.raises(ImproperInputError, match="chunk_size must be >= 1"):
        leastsq_batch(model.rows, X0, chunk_size=0)


@pytest.mark.parametrize("group", [None, 3])
def test_an_empty_batch_returns_empty_results(group, curves):
    model = Decay(decay_data(1))
    calls = []
    res = leastsq_batch(counting(model.rows, calls), np.empty((0, 3)), cov=True,
                        chunk_size=group)
    assert len(res) == 0 and res.x.shape == (0, 3) and res.cov_x.shape == (0, 3, 3)
    assert res.ier.shape == res.nfev.shape == res.fnorm.shape == (0,)
    assert [rows for rows, _ in calls] == [0]     # one call, to check the model
    data, f, j, _ = curves
    res = leastsq_batch(f, np.empty((0, 4)), args=(data.m,), Dfun=j)
    assert len(res) == 0 and res.x.shape == (0, 4)


def test_a_single_threaded_compiled_batch_returns_to_python_between_slices(
        long_threaded_batch, monkeypatch):
    # Without progress reports the fits still run in slices of
    # _INTERRUPT_FITS, so that a KeyboardInterrupt (raised between two Python
    # calls) can stop a long batch.
    import lmfit_core.batch as batch_module
    data, f, X0, full = long_threaded_batch
    slices = []

    class Recording(batch_module.CompiledBatch):
        def run(self, most=-1):
            count = super().run(most)
            slices.append((most, count))
            return count
    monkeypatch.setattr(batch_module, "CompiledBatch", Recording)
    res = leastsq_batch(f, X0, args=(data.m,), threads=1)
    assert_same_results(res, full)
    most = batch_module._INTERRUPT_FITS
    assert {m for m, _ in slices} == {most}
    assert sum(c for _, c in slices) == 16000 and len(slices) == -(-16000 // most)


def test_ctrl_c_stops_a_single_threaded_compiled_batch(long_threaded_batch):
    # A real SIGINT while the fits run: KeyboardInterrupt, the caller's start
    # points untouched, and the next batch runs as before.
    data, f, X0, full = long_threaded_batch
    x0 = X0.copy()
    timer = threading.Timer(0.01, signal.pthread_kill, (threading.get_ident(),
                                                        signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            for _ in range(50):     # until the signal comes (a batch takes > 0.1 s)
                leastsq_batch(f, X0, args=(data.m,), threads=1)
    finally:
        timer.join()
    assert_array_equal(X0, x0)
    assert_same_results(leastsq_batch(f, X0, args=(data.m,), threads=1), full)


@pytest.mark.parametrize("col_deriv", [False, True])
def test_a_one_parameter_dfun_may_return_one_row_per_problem(col_deriv):
    Y = np.exp(-np.array([0.5, 1.0, 2.0])[:, None] * T)

    def rows(p, k):
        return np.exp(-p[:, :1] * T) - Y[k]

    def jac(p, k):
        return -T * np.exp(-p[:, :1] * T)          # (r, M), not (r, M, 1)

    def jac3(p, k):
        J = jac(p, k)
        return J[:, None, :] if col_deriv else J[:, :, None]
    X0 = np.ones((3, 1))
    res = leastsq_batch(rows, X0, Dfun=jac, col_deriv=col_deriv)
    assert_same_results(res, leastsq_batch(rows, X0, Dfun=jac3, col_deriv=col_deriv))
    assert res.success.all() and (res.njev > 0).all()
    assert_allclose(res.x[:, 0], [0.5, 1.0, 2.0], rtol=1e-7)


def _threaded_batch_in_child(queue):
    data, f, j, X0 = curve_set(64, 12)
    queue.put(leastsq_batch(f, X0, args=(data.m,), Dfun=j, threads=2).x)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
# Forking a process that runs threads is what this test is about (Python 3.12
# and later warn about it).
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_threaded_batches_run_in_a_forked_child():
    # The batch threads are started once per process; a child made by fork
    # has none of them and must start its own rather than wait for them.
    import multiprocessing
    data, f, j, X0 = curve_set(64, 12)
    ref = leastsq_batch(f, X0, args=(data.m,), Dfun=j, threads=2)   # parent's pool
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_threaded_batch_in_child, args=(queue,))
    child.start()
    try:
        x = queue.get(timeout=60)
    finally:
        child.join(timeout=60)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0
    assert_array_equal(x, ref.x)


# -- 9. a vectorised model on two threads: groups in flight -------------------
# (the results and the calls of the model: test_groups_of_a_vectorised_batch_...)

def test_two_threads_without_chunk_size_fit_three_groups():
    model, X0 = mixed_batch()                   # 12 problems: groups of 4
    whole = leastsq_batch(model.rows, X0, cov=True)
    log = []
    res = leastsq_batch(counting(model.rows, log), X0, cov=True, threads=2)
    assert_same_results(res, whole)
    assert [k.tolist() for _, k in log[:3]] == [[0, 1, 2, 3], [4, 5, 6, 7],
                                                [8, 9, 10, 11]]
    assert all(np.unique(k // 4).size == 1 for _, k in log)


def test_a_round_no_thread_takes_runs_on_the_calling_thread(monkeypatch):
    # With the batch threads all busy (here: never started), the calling
    # thread runs each posted round itself when it wants its requests.
    import lmfit_core.batch as batch_module
    model, X0 = mixed_batch()
    whole = leastsq_batch(model.rows, X0, cov=True)
    monkeypatch.setattr(batch_module, "_start_on_threads", lambda fn, threads: [])
    res = leastsq_batch(model.rows, X0, cov=True, chunk_size=4, threads=2)
    assert_same_results(res, whole)


def test_a_handoff_round_posted_and_collected_on_one_thread():
    from lmfit_core._batch import Handoff, Lockstep
    model = Decay(decay_data(2))
    x = np.tile([1.0, 1.0, 0.0], (2, 1))
    f0 = model.rows(x, np.arange(2))
    engine = Lockstep(x, f0, np.empty((2, 3)), 1, 1e-8, 1e-8, 0.0, 800,
                      np.finfo(float).eps, 100.0, False)
    xf, kf, _, _ = engine.advance()
    handoff = Handoff()
    with pytest.raises(RuntimeError, match="no round was posted"):
        handoff.collect_next()
    handoff.post("first group", engine, model.rows(xf, kf), None, False)
    assert handoff.posted == 1
    with pytest.raises(RuntimeError, match="round is posted already"):
        handoff.post("again", engine, model.rows(xf, kf), None, False)
    owner, (xf2, kf2, xj2, _) = handoff.collect_next()  # run here: nobody serves
    assert owner == "first group"
    assert xf2.shape == (2, 3) and kf2.tolist() == [0, 1] and xj2.shape == (0, 3)
    assert handoff.posted == 0
    # close drops a round no thread has taken: it is not run.
    nfev = engine.results(False)[1].copy()
    handoff.post("again", engine, model.rows(xf2, kf2), None, False)
    handoff.close()
    assert handoff.posted == 0
    assert_array_equal(engine.results(False)[1], nfev)
    engine.advance(model.rows(xf2, kf2))       # the dropped round, run here
    assert (engine.results(False)[1] > nfev).all()
    with pytest.raises(RuntimeError, match="no round was posted"):
        handoff.collect_next()
    handoff.serve()                             # returns at once once closed


def test_stopping_a_batch_on_two_threads(solvers):
    solve = solvers["python"]                   # 40 problems
    full = solve(cov=True)
    reports = []

    def stop_soon(done, total):
        reports.append(done)
        return done < 8
    res = solve(progress=stop_soon, cov=True, chunk_size=5, threads=2)
    assert res.stopped and reports == sorted(reports) and reports[-1] >= 8
    finished = res.ier != IER_NOT_FINISHED
    assert_same_results(res, full, finished, finished)
    assert finished.sum() >= reports[-1] and not finished.all()
    # A few groups are in flight at a time; a group starts when one ends, so
    # the last of the eight had not started: start points, no evaluations.
    unstarted = res.nfev == 0
    assert unstarted[35:].all()
    assert (res.ier[unstarted] == IER_NOT_FINISHED).all()
    assert (res.njev[unstarted] == 0).all()
    assert_array_equal(res.x[unstarted], solvers["_X0"][unstarted])
    assert np.isnan(res.fnorm[unstarted]).all() and np.isnan(res.cov_x[~finished]).all()


@pytest.mark.parametrize("engine", ["python", "python-dfun"])
def test_progress_on_two_threads_reports_every_fit(solvers, engine):
    solve = solvers[engine]
    full = solve()
    reports = []
    res = solve(progress=lambda done, total: reports.append(done), chunk_size=7,
                threads=2)
    assert_same_results(res, full)
    assert reports == sorted(reports) and reports[-1] == 40 and len(reports) > 6


@pytest.mark.parametrize("where", ["a group's start", "rounds in flight", "Dfun"])
def test_an_error_of_the_model_on_two_threads_propagates(where):
    model, X0 = mixed_batch()
    whole = leastsq_batch(model.rows, X0, Dfun=model.jac_rows)
    error = ModelFailure("from the model")
    # Four groups of three: calls 1 to 3 start the first three groups, the
    # rounds of the groups already called for are in flight from call 5 on.
    fail_at = {"a group's start": ("func", 2), "rounds in flight": ("func", 9),
               "Dfun": ("Dfun", 3)}[where]
    calls, counted = failing_at(fail_at, error)
    with pytest.raises(ModelFailure) as info:
        leastsq_batch(counted("func", model.rows), X0, Dfun=counted("Dfun", model.jac_rows),
                      chunk_size=3, threads=2)
    assert info.value is error and calls[fail_at[0]] == fail_at[1]
    # The rounds in flight were finished and the second thread let go: the
    # next batch runs on two threads as before.
    res = leastsq_batch(model.rows, X0, Dfun=model.jac_rows, chunk_size=3, threads=2)
    assert_same_results(res, whole)


def test_many_batches_on_two_threads_give_the_one_thread_result():
    # Rounds handed between the threads hundreds of times, in every order
    # the two threads' timing gives.
    model, X0 = mixed_batch()
    whole = leastsq_batch(model.rows, X0, Dfun=model.jac_rows, cov=True)
    for group in [1, 2, 3] * 20:
        res = leastsq_batch(model.rows, X0, Dfun=model.jac_rows, cov=True,
                            chunk_size=group, threads=2)
        assert_same_results(res, whole)


def test_batches_of_several_python_threads_at_once():
    # Each batch's rounds go to the shared batch threads, which may all be
    # busy with another batch (then the calling thread runs its rounds):
    # every result is still the serial one.
    from concurrent.futures import ThreadPoolExecutor
    model, X0 = mixed_batch()
    data, f, j, GX0 = curve_set(256, 11)
    whole = leastsq_batch(model.rows, X0, Dfun=model.jac_rows, cov=True)
    compiled = leastsq_batch(f, GX0, args=(data.m,), Dfun=j, threads=1)

    def python_batches(group):
        return [leastsq_batch(model.rows, X0, Dfun=model.jac_rows, cov=True,
                              chunk_size=group, threads=2) for _ in range(10)]

    def compiled_batches(_):
        return [leastsq_batch(f, GX0, args=(data.m,), Dfun=j, threads=2)
                for _ in range(10)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        jobs = [pool.submit(python_batches, g) for g in (1, 2, 3)]
        jobs.append(pool.submit(compiled_batches, None))
        results = [job.result(timeout=120) for job in jobs]
    for res in [r for batches in results[:3] for r in batches]:
        assert_same_results(res, whole)
    for res in results[3]:
        assert_same_results(res, compiled)


@pytest.mark.parametrize("jacobian", ["fd", "rows", "col_deriv"])
def test_a_model_that_reuses_its_output_arrays_on_two_threads(jacobian):
    # A model may fill and return the same arrays at every call (or views of
    # arrays it keeps). On two threads a group's round may still be reading
    # the previous answers while the model is called for another group:
    # those answers must not be the model's arrays.
    model, X0 = mixed_batch()
    dfun, col_deriv = model.batch_dfun(jacobian)
    whole = leastsq_batch(model.rows, X0, Dfun=dfun, col_deriv=col_deriv, cov=True)
    kept = {}

    def reusing(name, f):
        def g(p, k):
            out = f(p, k)
            buf = kept.setdefault(name, np.empty((64,) + out.shape[1:]))
            view = buf[:out.shape[0]]
            view[...] = out
            return view if name == "func" else buf[:out.shape[0]]
        return g
    res = leastsq_batch(reusing("func", model.rows), X0,
                        Dfun=None if dfun is None else reusing("Dfun", dfun),
                        col_deriv=col_deriv, cov=True, chunk_size=2, threads=2)
    assert_same_results(res, whole)
