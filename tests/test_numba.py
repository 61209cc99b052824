"""numba ``cfunc`` callbacks: ``leastsq`` and ``leastsq_batch`` take them as C functions.

A numba ``cfunc`` is what most Python users write when they want a compiled
residual without a build step. Its ``ctypes`` attribute is a function pointer
with declared argument types, which lmfit_core checks against its signatures;
its user data can come through ``scipy.LowLevelCallable``. The fits must be
exactly those of the same model compiled with ``numba.njit`` and called as a
Python function (the same machine code for the arithmetic, so the same bits).
"""
import ctypes

import numba
import numpy as np
import pytest
from numba import carray, types
from numpy.testing import assert_array_equal
from scipy import LowLevelCallable

from lmfit_core import leastsq, leastsq_batch

M = 100
T = np.linspace(-5.0, 5.0, M)
_rng = np.random.default_rng(11)
CURVES = (2.0 * np.exp(-0.5 * ((T - 0.3) / 1.1) ** 2) + 0.5
          + 0.05 * _rng.normal(size=(6, M)))
CURVES[3] *= 3.0
CURVES[4, ::7] += 2.0
# Row 0: the abscissae; row 1 + k: curve k (the callbacks' user data).
DATA = np.ascontiguousarray(np.vstack([T, CURVES]))
X0 = np.array([1.5, 0.0, 1.5, 0.3])

# lmfit_core's signatures (cython_lm.FUNC_SIGNATURE, JAC_SIGNATURE); a batch
# callback takes the problem index first.
_DOUBLES = types.CPointer(types.double)
FUNC_SIG = types.intc(types.intp, types.intp, _DOUBLES, _DOUBLES, types.voidptr)
JAC_SIG = types.intc(types.intp, types.intp, _DOUBLES, _DOUBLES, types.intp,
                     types.voidptr)
BATCH_FUNC_SIG = types.intc(types.intp, *FUNC_SIG.args)
BATCH_JAC_SIG = types.intc(types.intp, *JAC_SIG.args)


@numba.njit
def gauss_residuals(p, t, y, out):
    for i in range(t.size):
        u = (t[i] - p[1]) / p[2]
        out[i] = p[0] * np.exp(-0.5 * u * u) + p[3] - y[i]


@numba.njit
def gauss_jacobian(p, t, out, ld):
    # column-major, leading dimension ld (out has ld * 4 entries)
    for i in range(t.size):
        u = (t[i] - p[1]) / p[2]
        g = np.exp(-0.5 * u * u)
        out[i] = g
        out[i + ld] = p[0] * g * u / p[2]
        out[i + 2 * ld] = p[0] * g * u * u / p[2]
        out[i + 3 * ld] = 1.0


@numba.cfunc(FUNC_SIG)
def curve1_residuals(m, n, p, fvec, udata):
    d = carray(udata, (DATA.shape[0], m), dtype=np.float64)
    gauss_residuals(carray(p, (n,)), d[0], d[1], carray(fvec, (m,)))
    return 0


@numba.cfunc(JAC_SIG)
def curve_jacobian(m, n, p, fjac, ldfjac, udata):
    d = carray(udata, (DATA.shape[0], m), dtype=np.float64)
    gauss_jacobian(carray(p, (n,)), d[0], carray(fjac, (ldfjac * n,)), ldfjac)
    return 0


@numba.cfunc(FUNC_SIG)
def global_residuals(m, n, p, fvec, udata):
    # no user data: the curve is a global, frozen into the compiled code
    gauss_residuals(carray(p, (n,)), T, CURVES[0], carray(fvec, (m,)))
    return 0


@numba.cfunc(BATCH_FUNC_SIG)
def batch_residuals(k, m, n, p, fvec, udata):
    d = carray(udata, (DATA.shape[0], m), dtype=np.float64)
    gauss_residuals(carray(p, (n,)), d[0], d[k + 1], carray(fvec, (m,)))
    return 0


@numba.cfunc(BATCH_JAC_SIG)
def batch_jacobian(k, m, n, p, fjac, ldfjac, udata):
    d = carray(udata, (DATA.shape[0], m), dtype=np.float64)
    gauss_jacobian(carray(p, (n,)), d[0], carray(fjac, (ldfjac * n,)), ldfjac)
    return 0


@numba.cfunc(FUNC_SIG)
def stop_when_narrow(m, n, p, fvec, udata):
    # A callback's own stop: a negative return ends the fit.
    if p[2] < 1.2:
        return -3
    gauss_residuals(carray(p, (n,)), T, CURVES[0], carray(fvec, (m,)))
    return 0


@numba.cfunc(types.intc(types.intc, types.intc, _DOUBLES, _DOUBLES, types.voidptr))
def int32_residuals(m, n, p, fvec, udata):
    return 0


def with_data(cfunc):
    """The cfunc as a LowLevelCallable whose user data is DATA."""
    return LowLevelCallable(cfunc.ctypes, ctypes.c_void_p(DATA.ctypes.data))


def python_func(k):
    def func(p):
        out = np.empty(M)
        gauss_residuals(p, T, CURVES[k], out)
        return out
    return func


def python_jac(p):
    out = np.empty(4 * M)
    gauss_jacobian(p, T, out, M)
    return out.reshape(4, M)


def assert_same_fit(got, want):
    x, cov, info, mesg, ier = got
    assert_array_equal(x, want[0])
    assert ier == want[4] and mesg == want[3]
    if want[1] is None:
        assert cov is None
    else:
        assert_array_equal(cov, want[1])
    assert info.keys() == want[2].keys()
    for key in info:
        assert_array_equal(info[key], want[2][key], err_msg=key)


@pytest.mark.parametrize("analytic", [False, True])
def test_cfunc_with_user_data_equals_the_python_path(analytic):
    jac = dict(Dfun=with_data(curve_jacobian), col_deriv=True) if analytic else {}
    py_jac = dict(Dfun=python_jac, col_deriv=True) if analytic else {}
    got = leastsq(with_data(curve1_residuals), X0, args=(M,), full_output=True, **jac)
    want = leastsq(python_func(0), X0, full_output=True, **py_jac)
    assert got[4] in (1, 2, 3, 4)
    assert_same_fit(got, want)


def test_bare_cfunc_object_is_accepted():
    # The cfunc itself (its .ctypes pointer, NULL user data).
    got = leastsq(global_residuals, X0, args=(M,), full_output=True)
    assert_same_fit(got, leastsq(python_func(0), X0, full_output=True))


def test_cfunc_stop_raises():
    with pytest.raises(RuntimeError):
        leastsq(stop_when_narrow, X0, args=(M,))


@pytest.mark.parametrize("solver, cfunc", [
    (leastsq, int32_residuals),          # int where Py_ssize_t is wanted
    (leastsq, batch_residuals),          # a batch callback for one fit
    (leastsq, curve_jacobian),           # a Jacobian as func
    (leastsq_batch, global_residuals),   # a one-fit callback for a batch
])
def test_cfunc_of_another_signature_is_rejected(solver, cfunc):
    x0 = X0 if solver is leastsq else np.tile(X0, (2, 1))
    with pytest.raises(TypeError, match="signature"):
        solver(cfunc, x0, args=(M,))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("analytic", [False, True])
def test_batch_of_cfuncs_equals_leastsq_per_problem(threads, analytic):
    K = CURVES.shape[0]
    jac = dict(Dfun=with_data(batch_jacobian)) if analytic else {}
    res = leastsq_batch(with_data(batch_residuals), np.tile(X0, (K, 1)), args=(M,),
                        threads=threads, **jac)
    for k in range(K):
        x, _, info, _, ier = leastsq(python_func(k), X0, full_output=True,
                                     **(dict(Dfun=python_jac, col_deriv=True)
                                        if analytic else {}))
        assert_array_equal(res.x[k], x)
        assert res.ier[k] == ier and res.nfev[k] == info["nfev"]
