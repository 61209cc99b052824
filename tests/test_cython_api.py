"""Compiled callbacks: leastsq with C function pointers, and the public Cython API.

The compiled example models live in ``lmfit_core._examples`` (built with the
package, like SciPy's ``_zeros`` examples); the MINPACK test problems reach
the C-callback driver through ctypes function pointers that wrap the Python
residuals, so both paths do the same arithmetic and must agree exactly.
"""
import ctypes
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import LowLevelCallable

from lmfit_core import _examples, _problems, leastsq
from lmfit_core._enorm import _enorm_memview

FUNC = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_ssize_t, ctypes.c_ssize_t,
                        ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double),
                        ctypes.c_void_p)
JAC = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_ssize_t, ctypes.c_ssize_t,
                       ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double),
                       ctypes.c_ssize_t, ctypes.c_void_p)


def c_residuals(pyfunc):
    """A ctypes function pointer computing pyfunc's residuals."""
    def callback(m, n, x, fvec, udata):
        with np.errstate(all="ignore"):
            np.ctypeslib.as_array(fvec, shape=(m,))[:] = pyfunc(
                np.ctypeslib.as_array(x, shape=(n,)).copy())
        return 0
    return FUNC(callback)


def c_jacobian(pyjac):
    """A ctypes function pointer writing pyjac's (m, n) Jacobian column-major."""
    def callback(m, n, x, fjac, ldfjac, udata):
        cols = np.ctypeslib.as_array(fjac, shape=(n, ldfjac))
        cols[:, :m] = pyjac(np.ctypeslib.as_array(x, shape=(n,)).copy()).T
        return 0
    return JAC(callback)


RUNS = [(f"{run_id}-{path}", problem, factor, path)
        for run_id, problem, factor in _problems.parity_runs()
        for path in ("lmdif", "lmder")]


@pytest.mark.parametrize("run, problem, factor, path", RUNS, ids=[r[0] for r in RUNS])
def test_compiled_path_equals_python_path_on_mgh(run, problem, factor, path):
    x0 = problem.x0(factor)
    dfun = problem.jac if path == "lmder" else None
    with np.errstate(all="ignore"):
        ref = leastsq(problem.fcn, x0, Dfun=dfun, full_output=True)
    cfunc = c_residuals(problem.fcn)
    cjac = c_jacobian(problem.jac) if dfun is not None else None
    got = leastsq(cfunc, x0, args=(problem.m,), Dfun=cjac, full_output=True)
    assert got[4] == ref[4] and got[3] == ref[3]
    assert got[2]["nfev"] == ref[2]["nfev"]
    assert got[2].get("njev") == ref[2].get("njev")
    assert_array_equal(got[0], ref[0])
    for key in ("fvec", "fjac", "ipvt", "qtf"):
        assert_array_equal(got[2][key], ref[2][key])
    if ref[1] is None:
        assert got[1] is None
    else:
        assert_array_equal(got[1], ref[1])
    # Without full_output the driver keeps fjac, ipvt and qtf in its work array.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        x, ier = leastsq(cfunc, x0, args=(problem.m,), Dfun=cjac)
    assert ier == ref[4]
    assert_array_equal(x, ref[0])


def _gauss_data(seed=0, stop_at=0):
    rng = np.random.default_rng(seed)
    t = np.linspace(-5, 5, 100)
    y = _examples.gauss_model([2.0, 0.3, 1.1, 0.5], t) + 0.05 * rng.normal(size=t.size)
    return _examples.CurveData(t, y, stop_at=stop_at)


def _callables(data):
    f = LowLevelCallable.from_cython(_examples, "gauss_residuals", data.user_data)
    j = LowLevelCallable.from_cython(_examples, "gauss_jacobian", data.user_data)
    return f, j


def _python_gauss(data):
    # The same model from Python (the compiled arithmetic, called from NumPy).
    return (lambda p: _examples.gauss_model(p, data.t) - data.y,
            lambda p: _examples.gauss_model_jacobian(p, data.t))


X0 = np.array([1.5, 0.0, 1.5, 0.3])


@pytest.mark.parametrize("analytic", [False, True])
def test_low_level_callable_equals_cython_api(analytic):
    data = _gauss_data()
    f, j = _callables(data)
    x, cov, info, mesg, ier = leastsq(f, X0, args=(data.m,), Dfun=j if analytic else None,
                                      full_output=True)
    x_api, info_api, nfev, njev, fnorm = _examples.fit_gauss(data, X0, analytic)
    assert ier == info_api == 1
    assert info["nfev"] == nfev and info.get("njev", 0) == njev
    assert_array_equal(x, x_api)
    assert fnorm == _enorm_memview(info["fvec"])


def test_capsule_and_python_model_agree():
    # The same model through a bare PyCapsule and from Python (gauss_model runs
    # the compiled arithmetic): the same fit, bit for bit.
    data = _gauss_data(1)
    capsule = _examples.__pyx_capi__["gauss_residuals"]
    with pytest.raises(TypeError, match="args=\\(M,\\)"):
        leastsq(capsule, X0)
    f, _ = _callables(data)
    x_c, ier_c = leastsq(f, X0, args=(data.m,))
    x_py, ier_py = leastsq(_python_gauss(data)[0], X0)
    assert ier_c == ier_py
    np.testing.assert_array_equal(x_c, x_py)


def test_callback_requested_stop():
    data = _gauss_data(stop_at=5)
    x, info, nfev, njev, fnorm = _examples.fit_gauss(data, X0, analytic=False)
    assert info == -7
    data = _gauss_data(stop_at=5)
    f, _ = _callables(data)
    with pytest.raises(RuntimeError, match="stopped the fit.*-7"):
        leastsq(f, X0, args=(data.m,))


def test_wrong_signatures_are_rejected():
    data = _gauss_data()
    f, j = _callables(data)
    with pytest.raises(TypeError, match="signature"):
        leastsq(j, X0, args=(data.m,))                 # a Jacobian given as func
    with pytest.raises(TypeError, match="signature"):
        leastsq(f, X0, args=(data.m,), Dfun=f)         # a residual given as Dfun
    bad = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_int,
                           ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double),
                           ctypes.c_void_p)(lambda *a: 0)
    with pytest.raises(TypeError, match="signature"):
        leastsq(bad, X0, args=(data.m,))
    with pytest.raises(TypeError, match="both be compiled"):
        leastsq(f, X0, args=(data.m,), Dfun=lambda p: np.zeros((data.m, 4)))
    with pytest.raises(TypeError, match="number of residuals"):
        leastsq(f, X0, args=("100",))
    with pytest.raises(TypeError, match="must not exceed"):
        leastsq(f, X0, args=(3,))


def test_capsules_accepted_before_do_not_admit_others():
    # A capsule name accepted once for a role is recognised by a string
    # comparison afterwards; other names, and the same name for another
    # role, still go through the signature check.
    data = _gauss_data()
    f, j = _callables(data)
    for _ in range(2):
        assert leastsq(f, X0, args=(data.m,))[1] in (1, 2, 3, 4)
        with pytest.raises(TypeError, match="signature"):
            leastsq(j, X0, args=(data.m,))
        with pytest.raises(TypeError, match="signature"):
            leastsq(f, X0, args=(data.m,), Dfun=f)
        assert leastsq(f, X0, args=(data.m,), Dfun=j)[1] in (1, 2, 3, 4)


def test_ctypes_declarations_are_checked_each_call():
    # The signature of a ctypes pointer is remembered per declaration: the
    # same declaration is accepted for func and refused for Dfun every time,
    # and a declaration ctypes cannot name is refused.
    def residuals(p):
        return p - np.arange(4.0)
    good = c_residuals(residuals)
    for _ in range(2):
        x = leastsq(good, np.ones(4), args=(4,))[0]
        assert_allclose(x, np.arange(4.0))
        with pytest.raises(TypeError, match="signature"):
            leastsq(good, np.ones(4), args=(4,), Dfun=good)
    undeclared = ctypes.cast(good, ctypes.CFUNCTYPE(None))
    floats = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_ssize_t, ctypes.c_ssize_t,
                              ctypes.POINTER(ctypes.c_float),
                              ctypes.POINTER(ctypes.c_float), ctypes.c_void_p)(lambda *a: 0)
    for bad in (undeclared, floats):
        with pytest.raises(TypeError, match="restype and argtypes"):
            leastsq(bad, np.ones(4), args=(4,))


def test_compiled_nonfinite_at_x0_raises():
    t = np.linspace(0, 1, 10)
    data = _examples.CurveData(t, np.full(10, np.nan))
    f, _ = _callables(data)
    with pytest.raises(ValueError, match="non-finite residuals at x0"):
        leastsq(f, X0, args=(data.m,))


def _fit_curve(seed):
    data = _gauss_data(seed)
    f, j = _callables(data)
    out = leastsq(f, X0, args=(data.m,), Dfun=j if seed % 2 else None, full_output=True)
    return out[0], out[2]["nfev"], out[4]


def test_threads_give_serial_results():
    serial = [_fit_curve(s) for s in range(24)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(_fit_curve, range(24)))
    for (x_s, nfev_s, ier_s), (x_t, nfev_t, ier_t) in zip(serial, threaded):
        assert_array_equal(x_s, x_t)
        assert nfev_s == nfev_t and ier_s == ier_t


def test_get_include_holds_the_public_pxd():
    import os

    import lmfit_core
    assert os.path.isfile(os.path.join(lmfit_core.get_include(), "lmfit_core",
                                       "cython_lm.pxd"))


@pytest.mark.parametrize("analytic", [False, True])
def test_fits_looped_in_c_equal_one_fit_each_from_threads(analytic):
    # fit_gauss_many (the thread benchmark's loop in C) runs fit_gauss's fit
    # `count` times: count times its nfev, from one thread or from several.
    data = _gauss_data(2)
    nfev = _examples.fit_gauss(data, X0, analytic)[2]
    assert _examples.fit_gauss_many(data, X0, 7, analytic) == 7 * nfev
    with ThreadPoolExecutor(max_workers=2) as pool:
        totals = list(pool.map(lambda c: _examples.fit_gauss_many(data, X0, c, analytic),
                               [5, 9, 3]))
    assert totals == [5 * nfev, 9 * nfev, 3 * nfev]
    assert _examples.fit_gauss_many(data, X0, 0, analytic) == 0
    with pytest.raises(ValueError, match="4 entries"):
        _examples.fit_gauss_many(data, X0[:3], 1, analytic)


# leastsq's front end for compiled callbacks (cython_lm.leastsq_compiled) checks
# the usual arguments in C and hands anything else to the Python path's checks:
# every form of an argument must give what the Python path gives.

ARGUMENT_FORMS = {
    "x0 list": dict(x0=[1.5, 0.0, 1.5, 0.3]),
    "x0 int array": dict(x0=np.array([2, 0, 1, 0])),
    "x0 float32": dict(x0=X0.astype(np.float32)),
    "x0 big-endian": dict(x0=X0.astype(">f8")),
    "x0 2-D": dict(x0=X0.reshape(2, 2)),
    "x0 strided": dict(x0=np.repeat(X0, 2)[::2]),
    "tolerances numpy": dict(ftol=np.float64(1e-10), xtol=np.float32(1e-6), gtol=np.float64(0)),
    "tolerances int": dict(ftol=0, xtol=1, gtol=0),
    "factor float": dict(factor=0.5),
    "factor numpy int": dict(factor=np.int64(10)),
    "maxfev numpy int": dict(maxfev=np.int64(7)),
    "maxfev negative": dict(maxfev=-3),
    "epsfcn float": dict(epsfcn=1e-10),
    "epsfcn numpy": dict(epsfcn=np.float32(1e-8)),
    "diag list": dict(diag=[1.0, 2.0, 0.5, 1.0]),
    "args bare int": dict(args="M"),
    "args numpy int": dict(args=("np.M",)),
}


@pytest.mark.parametrize("analytic", [False, True])
@pytest.mark.parametrize("form", list(ARGUMENT_FORMS))
def test_compiled_argument_forms_equal_python_path(form, analytic):
    data = _gauss_data(3)
    f, j = _callables(data)
    func, jac = _python_gauss(data)
    kw = dict(ARGUMENT_FORMS[form])
    x0 = kw.pop("x0", X0)
    args = kw.pop("args", (data.m,))
    args = {"M": data.m, ("np.M",): (np.int64(data.m),)}.get(args, args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = leastsq(func, x0, Dfun=jac if analytic else None, full_output=True, **kw)
        got = leastsq(f, x0, args=args, Dfun=j if analytic else None, full_output=True,
                      **kw)
        x, ier = leastsq(f, x0, args=args, Dfun=j if analytic else None, **kw)
    assert got[3] == ref[3] and got[4] == ref[4] == ier
    assert got[2]["nfev"] == ref[2]["nfev"]
    assert_array_equal(got[0], ref[0])
    assert_array_equal(x, ref[0])
    assert x.dtype == np.float64 and x.shape == (4,)
    for key in ("fvec", "fjac", "ipvt", "qtf"):
        assert_array_equal(got[2][key], ref[2][key])


BAD_ARGUMENTS = {
    "x0 empty": dict(x0=[]),
    "x0 nan": dict(x0=[1.0, np.nan, 1.0, 0.0]),
    "x0 complex": dict(x0=X0 + 1j),
    "x0 text": dict(x0="abc"),
    "ftol negative": dict(ftol=-1.0),
    "xtol nan": dict(xtol=np.nan),
    "gtol text": dict(gtol="small"),
    "factor zero": dict(factor=0),
    "factor nan": dict(factor=np.nan),
    "maxfev float": dict(maxfev=1.5),
    "epsfcn nan": dict(epsfcn=np.nan),
    "diag short": dict(diag=[1.0, 1.0]),
    "diag negative": dict(diag=[1.0, -1.0, 1.0, 1.0]),
}


@pytest.mark.parametrize("form", list(BAD_ARGUMENTS))
def test_compiled_argument_errors_are_the_python_paths(form):
    # The same exception, with the same message, as the Python path raises.
    data = _gauss_data(4)
    f, j = _callables(data)
    func, jac = _python_gauss(data)
    kw = dict(BAD_ARGUMENTS[form])
    x0 = kw.pop("x0", X0)
    with pytest.raises((TypeError, ValueError)) as ref:
        leastsq(func, x0, Dfun=jac, **kw)
    with pytest.raises((TypeError, ValueError)) as got:
        leastsq(f, x0, args=(data.m,), Dfun=j, **kw)
    assert type(got.value) is type(ref.value)
    assert str(got.value) == str(ref.value)


@pytest.mark.parametrize("args, match", [
    ((100, 2), "takes no Python arguments"),
    (("100",), "must give the number of residuals as an integer"),
    ((3,), "N=4 must not exceed func output vector length M=3"),
    ((np.int64(3),), "N=4 must not exceed func output vector length M=3"),
])
def test_compiled_args_must_give_m(args, match):
    f, j = _callables(_gauss_data(4))
    with pytest.raises(TypeError, match=match):
        leastsq(f, X0, args=args, Dfun=j)


def test_compiled_fit_warns_at_the_caller():
    data = _gauss_data(5)
    f, _ = _callables(data)
    func, _ = _python_gauss(data)
    with pytest.warns(RuntimeWarning) as got:
        x, ier = leastsq(f, X0, args=(data.m,), maxfev=5)
    with pytest.warns(RuntimeWarning) as ref:
        leastsq(func, X0, maxfev=5)
    assert ier == 5
    assert str(got[0].message) == str(ref[0].message)
    assert got[0].filename == __file__


def test_compiled_tall_fit_with_dfun_equals_python_path():
    # Tall problems with Dfun: fjac holds R and zeros on both paths.
    rng = np.random.default_rng(6)
    t = np.linspace(-5, 5, 9000)
    data = _examples.CurveData(t, _examples.gauss_model([2.0, 0.3, 1.1, 0.5], t)
                               + 0.05 * rng.normal(size=t.size))
    f, j = _callables(data)
    func, jac = _python_gauss(data)
    ref = leastsq(func, X0, Dfun=jac, full_output=True)
    got = leastsq(f, X0, args=(data.m,), Dfun=j, full_output=True)
    assert got[4] == ref[4] and got[2]["nfev"] == ref[2]["nfev"]
    assert_array_equal(got[0], ref[0])
    assert_array_equal(got[1], ref[1])
    for key in ("fvec", "fjac", "ipvt", "qtf"):
        assert_array_equal(got[2][key], ref[2][key])
    assert not got[2]["fjac"][:, 4:].any()
