"""qr_tall (the one-pass factorisation of tall Jacobians) and leastsq on tall problems.

The kernel must give MINPACK's quantities to rounding: |R| (rows may change
sign together with qtf), the pivots, the column norms, and qtf = (Q^T f)[:n];
checked against MINPACK's qrfac and NumPy's QR on random, badly scaled and
rank-deficient matrices. Then leastsq, which uses the kernel for tall problems,
against scipy.optimize.leastsq: same ier and nfev, x to rounding.
"""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import leastsq as scipy_leastsq

from lmfit_core import leastsq
from lmfit_core._qrfac import _qrfac_memview
from lmfit_core._qrtall import _qr_tall_memview, tall


def factor_tall(a, f):
    r, ipvt, rdiag, acnorm, qtf = _qr_tall_memview(np.asfortranarray(a), f.copy())
    R = np.triu(r)
    R[np.diag_indices_from(R)] = rdiag
    return R, ipvt, acnorm, qtf


def factor_minpack(a):
    b = np.asfortranarray(a.copy())
    ipvt, rdiag, acnorm = _qrfac_memview(b)
    n = a.shape[1]
    R = np.triu(b[:n])
    R[np.diag_indices_from(R)] = rdiag
    return R, ipvt, acnorm


def aligned(R, qtf=None):
    """R (and qtf) with rows signed so that R's diagonal is non-negative."""
    s = np.where(np.diag(R) < 0, -1.0, 1.0)
    return (s[:, None] * R, None if qtf is None else s * qtf)


def safe_norms(a):
    s = np.abs(a).max(axis=0)
    s[s == 0] = 1.0
    return np.linalg.norm(a / s, axis=0) * s, s


def check_against_references(a, f, rtol=1e-10):
    """Compare with NumPy on the column-normalised matrix (no overflow there)."""
    m, n = a.shape
    R, ipvt, acnorm, qtf = factor_tall(a, f)
    assert sorted(ipvt) == list(range(n))
    norms, s = safe_norms(a)
    assert_allclose(acnorm, norms, rtol=1e-12)
    s = s[ipvt]
    An = a[:, ipvt] / s                  # A P D^-1 = Q (R D^-1)
    Rs = R / s
    assert_allclose(Rs.T @ Rs, An.T @ An, rtol=rtol, atol=rtol * n)
    Q, R_np = np.linalg.qr(An)
    Rn, qn = aligned(R_np, Q.T @ f)
    Rt, qt = aligned(Rs, qtf)
    assert_allclose(Rt, Rn, rtol=1e-8, atol=1e-10 * np.abs(Rn).max())
    assert_allclose(qt, qn, rtol=1e-8, atol=1e-10 * np.abs(qn).max())
    return R, ipvt, acnorm


SHAPES = st.tuples(st.integers(1, 3000), st.integers(1, 12)).filter(lambda s: s[0] >= s[1])


@settings(max_examples=40, deadline=None)
@given(SHAPES, st.integers(0, 2**32 - 1))
def test_random_matrices_against_minpack_and_numpy(shape, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=shape) * rng.uniform(0.5, 2.0, shape[1])
    f = rng.normal(size=shape[0])
    R, ipvt, acnorm = check_against_references(a, f)
    R_mp, ipvt_mp, acnorm_mp = factor_minpack(a)
    assert_allclose(acnorm, acnorm_mp, rtol=1e-12)
    # Pivots agree where the norms that decide them are well separated.
    norms = np.sort(np.abs(np.diag(R_mp)))
    if np.all(np.diff(norms) > 1e-6 * norms[-1]):
        assert list(ipvt) == list(ipvt_mp)
        assert_allclose(aligned(R)[0], aligned(R_mp)[0], rtol=1e-8,
                        atol=1e-10 * np.abs(R_mp).max())


@pytest.mark.parametrize("m", [8192, 20000])
def test_badly_scaled_columns_neither_overflow_nor_vanish(m):
    rng = np.random.default_rng(1)
    scales = np.array([1e-150, 1e150, 1.0, 1e-300, 1e200])
    a = rng.normal(size=(m, scales.size)) * scales
    f = rng.normal(size=m)
    R, ipvt, acnorm = check_against_references(a, f)
    assert np.isfinite(R).all() and (np.abs(np.diag(R)) > 0).all()


def test_zero_columns_and_rank_deficiency():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(9000, 5))
    a[:, 1] = 0.0
    a[:, 3] = 2.0 * a[:, 0]
    R, ipvt, acnorm, qtf = factor_tall(a, rng.normal(size=9000))
    assert acnorm[1] == 0.0
    assert list(ipvt[-1:]) == [1]           # the zero column comes last
    d = np.abs(np.diag(R))
    assert d[-1] == 0.0 and d[-2] < 1e-12 * d[0]
    assert np.isfinite(R).all() and np.isfinite(qtf).all()


def test_nonfinite_column_is_reported_in_its_norm():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(9000, 4))
    a[4567, 2] = np.nan
    _, _, acnorm, _ = factor_tall(a, rng.normal(size=9000))
    assert np.isfinite(acnorm[:2]).all() and not np.isfinite(acnorm[2])


def test_where_the_engine_takes_the_tall_path():
    for m, n in [(200000, 6), (8192, 16), (8192, 256), (20000, 100), (40000, 200)]:
        assert tall(m, n), (m, n)
    for m, n in [(8191, 3), (8192, 257), (1000, 9), (65, 11), (20000, 700)]:
        assert not tall(m, n), (m, n)


# -- leastsq on tall problems --------------------------------------------------

M = 20000


def bumps(n, seed=0):
    # Bumps of different widths: distinct column norms, so the pivots do not
    # hang on rounding (with ties both libraries may pick either column).
    t = np.linspace(0, 1, M)
    centres = (np.arange(n) + 0.5) / n
    widths = (1.0 + 0.3 * np.arange(n)) / (2 * n)
    basis = np.exp(-0.5 * ((t[None, :] - centres[:, None]) / widths[:, None]) ** 2)
    truth = np.linspace(1, 2, n)
    y = truth @ basis + 1e-3 * np.random.default_rng(seed).normal(size=M)
    return t, basis, y


def nonlinear(n=4, seed=1):
    # Gaussian peaks with free centres: a nonlinear tall problem.
    t = np.linspace(-1, 1, M)
    rng = np.random.default_rng(seed)
    truth = np.array([1.0, -0.3, 0.8, 0.4])[:n]

    def model(p):
        return p[0] * np.exp(-((t - p[1]) / 0.2) ** 2) + p[2] * np.exp(-((t - p[3]) / 0.3) ** 2)

    def jac(p):
        g1 = np.exp(-((t - p[1]) / 0.2) ** 2)
        g2 = np.exp(-((t - p[3]) / 0.3) ** 2)
        return np.column_stack([g1, p[0] * g1 * 2 * (t - p[1]) / 0.04,
                                g2, p[2] * g2 * 2 * (t - p[3]) / 0.09])
    y = model(truth) + 0.01 * rng.normal(size=M)
    return (lambda p: model(p) - y), jac, truth * np.array([1.2, 1.1, 0.8, 1.1])


def both(func, x0, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return (scipy_leastsq(func, x0, full_output=True, **kw),
                leastsq(func, x0, full_output=True, **kw))


def R_of(fjac, n):
    """R from leastsq's (n, M) fjac; rows of R signed to a non-negative diagonal."""
    return aligned(np.triu(fjac[:, :n].T))[0]


def check_same(ref, got, rtol=1e-9, rtol_r=1e-8):
    """Same steps as SciPy: nfev, njev, pivots; x, cov_x, R and qtf to rounding.

    ier must agree up to the ftol test (1/3, 2/3): on a linear problem the
    last step's reductions are rounding noise, and R agrees only to the
    rounding of the final Jacobian (a finite-difference one amplifies it).
    """
    x_r, cov_r, info_r, _, ier_r = ref
    x_g, cov_g, info_g, _, ier_g = got
    n = x_r.size
    assert ier_g == ier_r or {ier_g, ier_r} in ({1, 3}, {2, 3})
    assert info_g["nfev"] == info_r["nfev"]
    assert info_g.get("njev") == info_r.get("njev")
    assert_allclose(x_g, x_r, rtol=rtol)
    assert_allclose(cov_g, cov_r, rtol=1e-7)
    assert list(info_g["ipvt"]) == list(info_r["ipvt"])
    R_r, R_g = R_of(info_r["fjac"], n), R_of(info_g["fjac"], n)
    assert_allclose(R_g, R_r, rtol=rtol_r, atol=rtol_r * 1e-2 * np.abs(R_r).max())
    sign_r = np.sign(np.diag(np.triu(info_r["fjac"][:, :n].T)))
    sign_g = np.sign(np.diag(np.triu(info_g["fjac"][:, :n].T)))
    # qtf is near zero at a least-squares solution: compare against ||fvec||.
    assert_allclose(sign_g * info_g["qtf"], sign_r * info_r["qtf"], rtol=1e-7,
                    atol=0.1 * rtol_r * np.linalg.norm(info_r["fvec"]))


@pytest.mark.parametrize("layout", ["col_deriv", "rows", "finite_differences"])
@pytest.mark.parametrize("n", [3, 6])
def test_linear_tall_problems_match_scipy(layout, n):
    assert tall(M, n)
    _, basis, y = bumps(n)
    func = lambda p: p @ basis - y  # noqa: E731
    kw = {}
    if layout == "col_deriv":
        kw = dict(Dfun=lambda p: basis, col_deriv=True)
    elif layout == "rows":
        basis_t = np.ascontiguousarray(basis.T)
        kw = dict(Dfun=lambda p: basis_t)
    ref, got = both(func, np.ones(n), **kw)
    check_same(ref, got, rtol_r=1e-6 if layout == "finite_differences" else 1e-8)
    fjac = got[2]["fjac"]
    if layout != "finite_differences":
        assert not fjac[:, n:].any()        # R only; nothing else is kept


@pytest.mark.parametrize("layout", ["rows", "finite_differences"])
def test_nonlinear_tall_problem_matches_scipy(layout):
    func, jac, x0 = nonlinear()
    ref, got = both(func, x0, Dfun=jac if layout == "rows" else None)
    assert got[4] in (1, 2, 3, 4) and got[2]["nfev"] > 4
    check_same(ref, got, rtol=1e-8, rtol_r=1e-6 if layout == "finite_differences" else 1e-8)


@pytest.mark.parametrize("layout", ["finite_differences", "rows", "col_deriv"])
def test_singular_tall_jacobian_is_factored_as_minpack_does(layout):
    # A bump seen by one point of 10000 (astropy's Sersic2D fit on a 1..1e10
    # grid is such a case): J has one nonzero row, so it has rank 1. qrfac
    # leaves exact zeros on the diagonal of R; the one-pass reduction leaves
    # rounding there, and the steps built on it wandered off (the width went
    # from 2 to 12-17 while SciPy keeps it). Such a J is factored by qrfac.
    m = 10000
    t = np.arange(m) * 1e3
    y = 0.01 * np.random.default_rng(8).normal(size=m)
    y[0] = 1.7

    def func(p):
        return p[0] * np.exp(-((t - p[1]) ** 2 + p[2] ** 2) / p[3] ** 2) - y

    def jac(p):
        g = np.exp(-((t - p[1]) ** 2 + p[2] ** 2) / p[3] ** 2)
        a = 2 * p[0] * g / p[3] ** 2
        return np.column_stack([g, a * (t - p[1]), -a * p[2],
                                a * ((t - p[1]) ** 2 + p[2] ** 2) / p[3]])
    x0 = np.array([1.0, 0.3, 0.5, 2.0])
    assert tall(m, 4) and (jac(x0) != 0).any(axis=1).sum() == 1
    kw = {}
    if layout == "rows":
        kw = dict(Dfun=jac)
    elif layout == "col_deriv":
        kw = dict(Dfun=lambda p: np.ascontiguousarray(jac(p).T), col_deriv=True)
    ref, got = both(func, x0, **kw)
    assert got[4] == ref[4] and got[2]["nfev"] == ref[2]["nfev"]
    assert got[2].get("njev") == ref[2].get("njev")
    assert_allclose(got[0], ref[0], rtol=1e-13)
    assert_array_equal(got[0][1:], x0[1:])
    if layout != "finite_differences":
        assert not got[2]["fjac"][:, 4:].any()        # R only, as on the fast path


def test_any_jacobian_array_works_and_is_left_alone():
    _, basis, y = bumps(4)
    func = lambda p: p @ basis - y  # noqa: E731
    J = np.ascontiguousarray(basis.T)
    before = J.copy()
    base = leastsq(func, np.ones(4), Dfun=lambda p: J, full_output=True)
    assert_allclose(J, before, rtol=0, atol=0)
    for other in (np.asfortranarray(J), J[::1, ::1].T.T, np.repeat(J, 2, axis=1)[:, ::2]):
        got = leastsq(func, np.ones(4), Dfun=lambda p, o=other: o, full_output=True)
        assert got[4] == base[4] and got[2]["nfev"] == base[2]["nfev"]
        assert_array_equal(got[0], base[0])
    # float32 is converted to float64: the fit of the rounded Jacobian, exactly.
    J32 = J.astype(np.float32)
    got = leastsq(func, np.ones(4), Dfun=lambda p: J32, full_output=True)
    ref = leastsq(func, np.ones(4), Dfun=lambda p: J32.astype(np.float64), full_output=True)
    assert got[4] == ref[4] and got[2]["nfev"] == ref[2]["nfev"]
    assert_array_equal(got[0], ref[0])


def test_errors_on_the_tall_path():
    _, basis, y = bumps(4)
    func = lambda p: p @ basis - y  # noqa: E731
    with pytest.raises(TypeError, match="mismatch between the input and output shape"):
        leastsq(func, np.ones(4), Dfun=lambda p: basis[:3])
    bad = basis.copy()
    bad[2, 777] = np.nan
    with pytest.raises(ValueError, match=r"x\[2\]"):
        leastsq(func, np.ones(4), Dfun=lambda p: bad, col_deriv=True)


def test_tiny_and_subnormal_columns():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(9000, 4))
    a[:, 1] *= 1e-310                     # subnormal entries
    a[:4500, 3] = 0.0
    a[4500:, 3] *= 1e-200                 # squares underflow
    R, ipvt, acnorm, qtf = factor_tall(a, rng.normal(size=9000))
    assert np.isfinite(R).all() and np.isfinite(qtf).all()
    assert_allclose(acnorm, safe_norms(a)[0], rtol=1e-12)
    assert (np.abs(np.diag(R)) > 0).all()


def test_narrow_bumps_whose_tails_underflow():
    # n = 64 bumps of width 1/n on 8192 points: most entries of each column
    # underflow to zero or are subnormal.
    m, n = 8192, 64
    assert tall(m, n)
    t = np.linspace(0, 1, m)
    centres = (np.arange(n) + 0.5) / n
    basis = np.exp(-0.5 * ((t[None, :] - centres[:, None]) * n * (1 + 0.01 * np.arange(n))[:, None]) ** 2)
    y = np.linspace(1, 2, n) @ basis + 1e-3 * np.random.default_rng(5).normal(size=m)
    ref, got = both(lambda p: p @ basis - y, np.ones(n), Dfun=lambda p: basis,
                    col_deriv=True)
    assert got[4] in (1, 2, 3, 4)
    assert got[2]["nfev"] == ref[2]["nfev"]
    assert_allclose(got[0], ref[0], rtol=1e-9)


@pytest.mark.parametrize("analytic", [False, True], ids=["lmdif", "lmder"])
def test_compiled_callbacks_on_the_tall_path(analytic):
    # The same Gaussian, compiled and from Python, on 9000 points: both paths use
    # qr_tall and must agree; fjac holds R only with a Jacobian.
    from scipy import LowLevelCallable

    from lmfit_core import _examples
    t = np.linspace(-5, 5, 9000)
    y = _examples.gauss_model([2.0, 0.3, 1.1, 0.5], t) + 0.05 * np.random.default_rng(6).normal(size=t.size)
    assert tall(t.size, 4)
    data = _examples.CurveData(t, y)
    f = LowLevelCallable.from_cython(_examples, "gauss_residuals", data.user_data)
    j = LowLevelCallable.from_cython(_examples, "gauss_jacobian", data.user_data)
    x0 = np.array([1.5, 0.0, 1.5, 0.3])
    got = leastsq(f, x0, args=(t.size,), Dfun=j if analytic else None, full_output=True)

    # The same arithmetic from Python (gauss_model runs the compiled code).
    ref = leastsq(lambda p: _examples.gauss_model(p, t) - y, x0,
                  Dfun=(lambda p: _examples.gauss_model_jacobian(p, t)) if analytic else None,
                  full_output=True)
    assert got[4] == ref[4] and got[2]["nfev"] == ref[2]["nfev"]
    assert_array_equal(got[0], ref[0])
    if analytic:
        assert not got[2]["fjac"][:, 4:].any()


# -- the panel step (eight columns at a time) in each version this CPU runs ----

from lmfit_core._qrtall import _limit_panel_version, _panel_versions  # noqa: E402


@pytest.fixture(params=_panel_versions())
def panel_version(request):
    _limit_panel_version(request.param)
    yield request.param
    _limit_panel_version(4)


WIDE = st.tuples(st.integers(40, 1500), st.integers(7, 40)).filter(lambda s: s[0] >= s[1])


# The fixture only selects the version: nothing to reset between examples.
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=WIDE, seed=st.integers(0, 2**32 - 1))
def test_panels_and_blocks_against_numpy(panel_version, shape, seed):
    # n >= 7: several panels and (m > 256) several blocks; columns scaled over
    # many orders of magnitude, some beyond the range scaled by powers of two.
    rng = np.random.default_rng(seed)
    m, n = shape
    a = rng.normal(size=(m, n)) * 10.0 ** rng.uniform(-200, 200, n)
    f = rng.normal(size=m) * 10.0 ** rng.uniform(-5, 5)
    check_against_references(a, f)


def test_versions_agree_to_rounding(panel_version):
    rng = np.random.default_rng(7)
    a = rng.normal(size=(5000, 45)) * rng.uniform(0.5, 2.0, 45)
    f = rng.normal(size=5000)
    R, ipvt, acnorm = check_against_references(a, f, rtol=1e-12)
    _limit_panel_version(0)
    R0, ipvt0, acnorm0 = check_against_references(a, f, rtol=1e-12)
    assert list(ipvt) == list(ipvt0)
    assert_allclose(aligned(R)[0], aligned(R0)[0], rtol=1e-10, atol=1e-12 * np.abs(R0).max())


def test_wide_nonfinite_and_zero_columns(panel_version):
    rng = np.random.default_rng(8)
    a = rng.normal(size=(3000, 30))
    a[:, 11] = 0.0
    a[:, 17] = 3.0 * a[:, 2]
    R, ipvt, acnorm, qtf = factor_tall(a, rng.normal(size=3000))
    assert acnorm[11] == 0.0 and ipvt[-1] == 11
    assert np.isfinite(R).all() and np.isfinite(qtf).all()
    d = np.abs(np.diag(R))
    assert d[-1] == 0.0 and d[-2] < 1e-12 * d[0]
    a[1234, 20] = np.inf
    _, _, acnorm, _ = factor_tall(a, rng.normal(size=3000))
    assert np.isfinite(acnorm[:20]).all() and not np.isfinite(acnorm[20])
