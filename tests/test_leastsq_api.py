"""The SciPy-compatible surface of lmfit_core.leastsq: signature, returns,
messages, warnings, errors, and the deliberate improvements over SciPy."""
import inspect
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import optimize

from lmfit_core import ImproperInputError, leastsq
from parity import assert_same_fit, run_both


def residuals(p, y, x):
    a, b, c = p
    return y - (a * x**2 + b * x + c)


def residuals_jacobian(p, y, x):
    return -np.vstack([x**2, x, np.ones_like(x)]).T


@pytest.fixture
def quad():
    x = np.linspace(0, 10, 40)
    rng = np.random.default_rng(123)
    y = 3.1 * x**2 + 42 * x - 304.2 + 0.01 * rng.standard_normal(x.shape)
    return y, x


def test_signature_matches_scipy():
    ours = inspect.signature(leastsq).parameters
    theirs = inspect.signature(optimize.leastsq).parameters
    assert list(ours) == list(theirs)
    for name in theirs:
        assert ours[name].default == theirs[name].default, name
        assert ours[name].kind == theirs[name].kind, name


def test_short_and_full_output(quad):
    x, ier = leastsq(residuals, [0, 0, 0], args=quad)
    assert ier in (1, 2, 3, 4)
    assert_allclose(x, [3.1, 42, -304.2], atol=0.05)
    out = leastsq(residuals, [0, 0, 0], args=quad, full_output=True)
    assert len(out) == 5
    x, cov_x, info, mesg, ier = out
    assert list(info) == ["fvec", "nfev", "fjac", "ipvt", "qtf"]
    assert info["fvec"].shape == (40,) and info["fjac"].shape == (3, 40)
    assert info["ipvt"].dtype == np.int32 and info["qtf"].shape == (3,)
    assert isinstance(info["nfev"], int) and cov_x.shape == (3, 3)
    out = leastsq(residuals, [0, 0, 0], args=quad, Dfun=residuals_jacobian,
                  full_output=True)
    assert list(out[2]) == ["fvec", "nfev", "njev", "fjac", "ipvt", "qtf"]


@pytest.mark.parametrize("dfun", [None, residuals_jacobian])
def test_full_output_equals_scipy(quad, dfun):
    ref, got = run_both(residuals, np.zeros(3), Dfun=dfun, args=quad)
    assert_same_fit(ref, got)


def test_col_deriv_uses_transposed_layout(quad):
    def jac_cols(p, y, x):
        return np.ascontiguousarray(residuals_jacobian(p, y, x).T)
    ref, got = run_both(residuals, np.zeros(3), Dfun=jac_cols, col_deriv=True, args=quad)
    assert_same_fit(ref, got)


def _padded(a):
    # `a` as a strided view into a larger array: neither C nor F contiguous.
    big = np.full((2 * a.shape[0], 3 * a.shape[1]), np.nan)
    big[::2, 1::3] = a
    return big[::2, 1::3]


@pytest.mark.parametrize("layout", [np.ascontiguousarray, np.asfortranarray, _padded,
                                    lambda a: a.tolist(),
                                    lambda a: np.round(a).astype(np.int64)],
                         ids=["C", "F", "strided", "list", "int64"])
@pytest.mark.parametrize("col_deriv", [False, True])
def test_dfun_in_any_memory_layout_or_dtype_equals_scipy(quad, layout, col_deriv):
    # The driver copies Dfun's array into fjac by its strides; every layout
    # (and a list or integers) must give SciPy's fit of the same values.
    def jac(p, y, x):
        j = residuals_jacobian(p, y, x)
        return layout(j.T if col_deriv else j)
    ref, got = run_both(residuals, np.zeros(3), Dfun=jac, col_deriv=col_deriv, args=quad)
    assert_same_fit(ref, got)


@pytest.mark.parametrize("x0, shape", [(0, (1,)), ([[0.0]], (1,)), (np.zeros((1, 3)), (3,)),
                                       ([0, 0, 0], (3,))])
def test_x0_is_flattened_and_result_is_1d(quad, x0, shape):
    y, t = quad
    n = int(np.prod(shape))

    def f(p):
        return y - np.polyval(np.r_[np.zeros(3 - n), p], t)

    x, ier = leastsq(f, x0)
    assert x.shape == shape and x.dtype == np.float64


def test_docstring_example():
    x, ier = leastsq(lambda x: 2 * (x - 3) ** 2 + 1, 0)
    assert x.shape == (1,) and ier == 1
    assert_allclose(x, optimize.leastsq(lambda x: 2 * (x - 3) ** 2 + 1, 0)[0], rtol=0)


def test_integer_x0_and_args_not_tuple():
    y = np.array([1.0, 2.0, 3.0])
    x, ier = leastsq(lambda p, yy: yy - p[0], 0, args=y)
    assert_allclose(x, [2.0])


def test_input_untouched(quad):
    p0 = np.array([0.0, 0.0, 0.0])
    leastsq(residuals, p0, args=quad, full_output=True)
    assert_array_equal(p0, 0.0)


def test_float32_residuals_use_float32_epsfcn():
    # SciPy's gh-1447: epsfcn defaults to the eps of the dtype func returns.
    x = np.array([1.475, 1.429, 1.409, 1.419, 1.455, 1.519, 1.472, 1.368, 1.286,
                  1.231], dtype=np.float32)
    y = np.array([0.0168, 0.0193, 0.0211, 0.0202, 0.0171, 0.0151, 0.0185, 0.0258,
                  0.034, 0.0396], dtype=np.float32)

    def func(p):
        return p[0] * np.exp(-(x - p[1]) ** 2 / (2.0 * p[2] ** 2)) + p[3] - y

    p0 = np.array([1.0, 1.0, 1.0, 1.0])
    ref, got = run_both(func, p0)
    assert_same_fit(ref, got)
    assert got[4] in (1, 2, 3, 4)


def test_n_greater_than_m_is_scipys_type_error():
    with pytest.raises(TypeError, match="Improper input: func input vector length N="):
        leastsq(lambda x: 2 * (x[0] - 3) ** 2 + 1, x0=[0, 1])


@pytest.mark.parametrize("col_deriv", [False, True])
def test_wrong_shape_dfun_is_type_error(col_deriv):
    def residuals(x):
        return np.array([x[0] - 1.0, x[1] - 2.0, x[0] * x[1]])

    def jacobian(x):
        return np.zeros((3, 3))

    with pytest.raises(TypeError) as ref:
        optimize.leastsq(residuals, [0, 1], Dfun=jacobian, col_deriv=col_deriv)
    with pytest.raises(TypeError) as got:
        leastsq(residuals, [0, 1], Dfun=jacobian, col_deriv=col_deriv)
    # SciPy's words, up to the shape found (SciPy runs its sentences together).
    expected = str(ref.value).split(" but it is ")[0].replace(".Shape", ". Shape")
    assert str(got.value).startswith(expected + " but it is (3, 3)")


def test_func_returning_2d_is_type_error():
    with pytest.raises(TypeError, match="1-D array"):
        leastsq(lambda x: np.zeros((3, 2)), [0.0])


def test_one_parameter_dfun_may_return_a_vector():
    t = np.arange(5.0)
    ref, got = run_both(lambda p: np.exp(-p[0] * t) - np.exp(-0.5 * t), [1.0],
                        Dfun=lambda p: -t * np.exp(-p[0] * t))
    assert_same_fit(ref, got)


def test_default_maxfev_and_message():
    def f(x):
        return np.array([x[0] ** 2 + 1.0, x[1] - 1.0, np.sin(x[0]) + x[1]])

    for maxfev, dfun, expected in [(0, None, 600), (-1, None, 600),
                                   (0, lambda x: np.array([[2 * x[0], 0], [0, 1],
                                                           [np.cos(x[0]), 1]]), 300)]:
        ref, got = run_both(f, [3.0, 2.0], maxfev=maxfev, Dfun=dfun, xtol=0, ftol=0)
        assert_same_fit(ref, got)


def test_maxfev_warning_without_full_output():
    def f(x):
        return np.array([x[0] ** 2 - 2, x[1] - 3, x[0] * x[1]])

    with pytest.warns(RuntimeWarning) as record:
        x, ier = leastsq(f, [10.0, 10.0], maxfev=5)
    assert ier == 5
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        optimize.leastsq(f, [10.0, 10.0], maxfev=5)
    assert str(record[0].message) == str(theirs[0].message)
    assert record[0].filename == __file__


@pytest.mark.parametrize("ftol, xtol, gtol", [(0, 0, 0), (1e-30, 1e-30, 1e-30),
                                              (1e-3, 1e-3, 0), (1e-2, 1e-4, 0)])
def test_every_ier_code_matches_scipy(ftol, xtol, gtol):
    from lmfit_core import _problems
    seen = set()
    for run_id, problem, factor in _problems.parity_runs()[::3]:
        ref, got = run_both(problem.fcn, problem.x0(factor), ftol=ftol, xtol=xtol,
                            gtol=gtol)
        assert got[4] == ref[4] or run_id.startswith(("linear_rank1", "chebyquad",
                                                       "brown_almost", "box_3d"))
        seen.add(got[4])
    assert len(seen) >= 2


def test_ier_8_and_4():
    jac = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    b = np.array([0.0, 0.0, 1.0])
    ref, got = run_both(lambda x: jac @ x - b, [1e-17, 0.0], ftol=0, xtol=0, gtol=0)
    assert_same_fit(ref, got)
    assert got[4] == 8
    ref, got = run_both(lambda x: jac @ x - b, [1.0, 2.0], gtol=0.5)
    assert_same_fit(ref, got)
    assert got[4] == 4


def test_ier_2_3_6_7_occur_and_match():
    from lmfit_core import _problems
    codes = set()
    for case, tol in [("linear_full_rank_n5_m10", (1e-3, 1e-3)),
                      ("linear_full_rank_n5_m10", (0, 1e-8)),
                      ("linear_full_rank_n5_m10", (0, 0)),
                      ("rosenbrock_n2_m2", (0, 1e-8)),
                      ("bard_n3_m15", (0, 0))]:
        p = _problems.get_problem(case)
        for fac in (1, 10):
            ref, got = run_both(p.fcn, p.x0(fac), ftol=tol[0], xtol=tol[1])
            assert_same_fit(ref, got)
            codes.add(got[4])
    assert {2, 3, 6, 7} <= codes


def test_cov_x_none_when_singular_or_failed():
    f = lambda x: np.array([x[0] - 1.0, x[0] - 2.0, 2 * x[0]])  # noqa: E731
    ref, got = run_both(f, [0.0, 5.0])          # x[1] has no effect: R singular
    assert got[1] is None and ref[1] is None
    ref, got = run_both(lambda x: np.array([x[0] ** 2 + 1, x[1]]), [3.0, 1.0], maxfev=3)
    assert got[4] == 5 and got[1] is None


def test_diag_scaling_matches_scipy(quad):
    ref, got = run_both(residuals, np.ones(3), args=quad, diag=[1.0, 10.0, 0.1],
                        factor=1.0)
    assert_same_fit(ref, got)


# Improvements over SciPy -------------------------------------------------------

def test_func_called_exactly_nfev_times_and_dfun_njev_times(quad):
    calls = {"f": 0, "j": 0}

    def f(p, *args):
        calls["f"] += 1
        return residuals(p, *args)

    def j(p, *args):
        calls["j"] += 1
        return residuals_jacobian(p, *args)

    info = leastsq(f, np.zeros(3), args=quad, full_output=True)[2]
    assert calls["f"] == info["nfev"]
    calls.update(f=0, j=0)
    info = leastsq(f, np.zeros(3), args=quad, Dfun=j, full_output=True)[2]
    assert calls["f"] == info["nfev"] and calls["j"] == info["njev"]


def test_func_gets_a_fresh_array_each_call(quad):
    seen = []

    def f(p, *args):
        seen.append((p, p.copy()))
        return residuals(p, *args)

    leastsq(f, np.zeros(3), args=quad)
    assert len({id(p) for p, _ in seen}) == len(seen)
    for p, snapshot in seen:
        assert_array_equal(p, snapshot)


@pytest.mark.parametrize("keep", ["view", "weakref", "reshape", "retype", "nothing"])
def test_func_never_sees_its_array_change_behind_its_back(quad, keep):
    # The driver refills the previous x array only when the callback kept no
    # trace of it; whatever it keeps must keep its values, and every call gets
    # a plain (N,) float64 array.
    import weakref
    kept, shapes = [], []

    def check_kept():
        for held, snapshot in kept:
            held = held() if keep == "weakref" else held
            if held is not None:
                assert_array_equal(held, snapshot)

    def f(p, *args):
        check_kept()            # during the fit, while the driver holds arrays
        shapes.append((p.shape, p.dtype, p.flags.writeable))
        value = residuals(p, *args)
        if keep == "view":
            kept.append((p[1:], p[1:].copy()))
        elif keep == "weakref":
            kept.append((weakref.ref(p), p.copy()))
        elif keep == "reshape":
            _set_in_place(p, "shape", (3, 1))
        elif keep == "retype":
            _set_in_place(p, "dtype", np.int64)
        return value

    x, ier = leastsq(f, np.zeros(3), args=quad)
    ref = leastsq(residuals, np.zeros(3), args=quad)
    assert_array_equal(x, ref[0])
    assert ier == ref[1]
    assert all(s == ((3,), np.float64, True) for s in shapes)
    check_kept()


def _set_in_place(arr, attr, value):
    # A callback that changes its array's shape or dtype in place, which NumPy
    # 2.5 deprecates: the driver must cope for as long as NumPy allows it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        setattr(arr, attr, value)


def test_nonfinite_at_x0_raises_naming_func():
    with pytest.raises(ValueError, match="func returned non-finite"):
        leastsq(lambda x: np.array([np.nan, x[0]]), [1.0])


def test_nonfinite_trial_is_a_rejected_step():
    # sqrt is NaN for negative arguments: steps that cross zero must be rejected.
    t = np.linspace(0, 1, 20)
    y = np.sqrt(0.3) * t

    def f(p):
        with np.errstate(invalid="ignore"):
            return np.sqrt(p[0]) * t - y

    seen_nan = []

    def g(p):
        r = f(p)
        seen_nan.append(not np.isfinite(r).all())
        return r

    x, cov, info, mesg, ier = leastsq(g, [4.0], full_output=True)
    assert any(seen_nan)
    assert ier in (1, 2, 3, 4)
    assert np.isfinite(x).all() and np.isfinite(info["fvec"]).all()
    assert_allclose(x, [0.3], rtol=1e-6)


def test_nonfinite_dfun_raises_naming_column():
    with pytest.raises(ValueError, match=r"Dfun returned NaN or inf.*x\[1\]"):
        leastsq(lambda x: np.array([x[0], x[1], 1.0]), [1.0, 1.0],
                Dfun=lambda x: np.array([[1.0, 0.0], [0.0, np.inf], [0.0, 0.0]]))


def test_nonfinite_fd_jacobian_raises():
    def f(x):
        return np.array([x[0], 1.0 / (x[1] - 1.0) if x[1] != 1.0 else x[1], 1.0]) \
            if x[1] <= 1.0 else np.array([x[0], np.inf, 1.0])

    with pytest.raises(ValueError, match="finite-difference Jacobian is not finite in column 1"):
        leastsq(f, [1.0, 1.0])


def test_func_changing_length_later_raises_value_error():
    calls = []

    def f(x):
        calls.append(1)
        return np.zeros(3) + x[0] if len(calls) < 3 else np.zeros(4)

    with pytest.raises(ValueError, match="must not change"):
        leastsq(f, [1.0])


@pytest.mark.parametrize("kwargs, match", [
    (dict(x0=[]), "x0 must contain"),
    (dict(x0=[1j, 2]), "x0 must be real"),
    (dict(x0=["a"]), "x0 must be an array of real numbers"),
    (dict(x0=[np.nan]), "x0 must be finite"),
    (dict(diag=[-1.0]), "diag must hold positive"),
    (dict(diag=[np.inf]), "diag must hold finite"),
    (dict(diag=[1.0, 2.0]), "diag must have N=1"),
    (dict(ftol=-1.0), "ftol must be >= 0, got -1.0"),
    (dict(xtol=np.nan), "xtol must be >= 0, got nan"),
    (dict(gtol="x"), "gtol must be a real number"),
    (dict(factor=0.0), "factor must be positive"),
    (dict(factor=np.nan), "factor must be positive, got nan"),
    (dict(maxfev=10.5), "maxfev must be an integer"),
    (dict(epsfcn=np.nan), "epsfcn must not be NaN"),
])
def test_improper_input_names_the_argument(kwargs, match):
    call = dict(func=lambda x: np.array([x[0] - 1.0, x[0]]), x0=[0.0])
    call.update(kwargs)
    with pytest.raises(ImproperInputError, match=match) as excinfo:
        leastsq(**call)
    assert isinstance(excinfo.value, TypeError) and isinstance(excinfo.value, ValueError)


MINPACK_IMPROPER = [dict(ftol=-1.0), dict(xtol=-1e-3), dict(gtol=-1), dict(factor=0),
                    dict(factor=-2.0), dict(diag=[0.0, 1.0]), dict(diag=[1.0, -1.0])]


@pytest.mark.parametrize("kwargs", MINPACK_IMPROPER, ids=str)
@pytest.mark.parametrize("with_dfun", [False, True])
def test_input_minpack_refuses_is_scipys_ier_0_with_full_output(kwargs, with_dfun):
    # MINPACK's own input checks (info = 0): SciPy returns ier = 0 and its
    # message with full_output, and raises TypeError without.
    def f(p):
        return np.array([p[0] - 1.0, p[1] - 2.0, p[0] * p[1]])

    def jac(p):
        return np.array([[1.0, 0.0], [0.0, 1.0], [p[1], p[0]]])

    dfun = jac if with_dfun else None
    x0 = np.array([0.5, 0.25])
    ref = optimize.leastsq(f, x0, Dfun=dfun, full_output=True, **kwargs)
    got = leastsq(f, x0, Dfun=dfun, full_output=True, **kwargs)
    assert got[4] == ref[4] == 0
    assert got[3] == ref[3] == "Improper input parameters."
    assert_array_equal(got[0], x0)
    assert got[0] is not x0
    assert got[1] is None and ref[1] is None
    assert list(got[2]) == list(ref[2])
    assert_array_equal(got[2]["fvec"], ref[2]["fvec"])
    assert got[2]["nfev"] == 1       # the call made (SciPy reports 0)
    for key in ("fjac", "ipvt", "qtf"):
        assert got[2][key].shape == ref[2][key].shape
        assert got[2][key].dtype == ref[2][key].dtype
    with pytest.raises(TypeError):
        optimize.leastsq(f, x0, Dfun=dfun, **kwargs)
    with pytest.raises(ImproperInputError, match=str(next(iter(kwargs)))):
        leastsq(f, x0, Dfun=dfun, **kwargs)


@pytest.mark.parametrize("kwargs", [dict(ftol=np.inf), dict(xtol=np.inf),
                                    dict(gtol=np.inf), dict(factor=np.inf)], ids=str)
def test_infinite_tolerances_and_factor_run_as_in_scipy(quad, kwargs):
    ref, got = run_both(residuals, np.zeros(3), args=quad, **kwargs)
    assert_same_fit(ref, got)


@pytest.mark.parametrize("with_dfun", [False, True])
def test_empty_x0_with_full_output_is_scipys_ier_0(with_dfun):
    # Every parameter held fixed: SciPy returns ier = 0 with fvec = func(x0);
    # lmfit's conf_interval2d of a two-parameter model relies on it.
    calls = []

    def func(x, c):
        calls.append(x.size)
        return np.array([1.0, 2.0, 3.0]) * c

    dfun = (lambda x, c: np.zeros((3, 0))) if with_dfun else None
    x, cov_x, info, mesg, ier = leastsq(func, [], args=(2.0,), Dfun=dfun,
                                        full_output=True)
    ref = optimize.leastsq(func, [], args=(2.0,), Dfun=dfun, full_output=True)
    assert ier == ref[4] == 0
    assert mesg == ref[3] == "Improper input parameters."
    assert cov_x is None and ref[1] is None
    assert x.shape == ref[0].shape == (0,)
    assert sorted(info) == sorted(ref[2])
    for key in ("fvec", "fjac", "ipvt", "qtf"):
        assert info[key].shape == ref[2][key].shape
        assert info[key].dtype == ref[2][key].dtype
        assert_array_equal(info[key], ref[2][key])
    assert info["nfev"] == 1 and ref[2]["nfev"] == 0     # calls made (SciPy: 0)
    calls.clear()
    leastsq(func, [], args=(2.0,), Dfun=dfun, full_output=True)
    assert calls == [0]
    with pytest.raises(ImproperInputError, match="x0 must contain at least one"):
        leastsq(func, [], args=(2.0,), Dfun=dfun)
    with pytest.raises(TypeError, match="Improper input parameters"):
        optimize.leastsq(func, [], args=(2.0,), Dfun=dfun)


def test_non_callables_and_complex_output():
    with pytest.raises(TypeError, match="func must be callable"):
        leastsq(3, [0.0])
    with pytest.raises(TypeError, match="Dfun must be callable"):
        leastsq(lambda x: x, [0.0], Dfun=3)
    with pytest.raises(TypeError, match="complex"):
        leastsq(lambda x: x + 1j, [0.0])
    with pytest.raises(TypeError, match="residuals of func must be an array of real numbers"):
        leastsq(lambda x: np.array(["a", "b"]), [0.0])
    calls = []

    def later_complex(x):
        calls.append(1)
        return x - 1 if len(calls) < 2 else x + 1j

    with pytest.raises(TypeError, match="complex"):
        leastsq(later_complex, [0.0])


def _ier_cases():
    from lmfit_core import _problems
    jac = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    b = np.array([0.0, 0.0, 1.0])
    lin = _problems.get_problem("linear_full_rank_n5_m10")
    return [
        (lambda x: jac @ x - b, [1e-17, 0.0], dict(ftol=0, xtol=0, gtol=0), 8),
        (lin.fcn, lin.x0(1), dict(ftol=0, xtol=0, gtol=0), 6),
        (lin.fcn, lin.x0(10), dict(ftol=0, xtol=0, gtol=0), 7),
    ]


@pytest.mark.parametrize("case", range(3))
def test_ier_6_7_8_warn_like_scipy_without_full_output(case):
    func, x0, options, ier = _ier_cases()[case]
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        x_ref, ier_ref = optimize.leastsq(func, x0, **options)
    with pytest.warns(RuntimeWarning) as ours:
        x, ier_got = leastsq(func, x0, **options)
    assert ier_got == ier_ref == ier
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]
    assert_array_equal(x, x_ref)
