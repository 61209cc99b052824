"""Tests for the shared test problems in ``lmfit_core._problems``."""

import numpy as np
import pytest

from lmfit_core import _problems

ALL_PROBLEMS = _problems.MGH_CASES + _problems.NIST_PROBLEMS


def _ids(problems):
    return [p.case_id for p in problems]


# "INITIAL L2 NORM OF THE RESIDUALS" for all 53 runs of MINPACK-1's lmder
# driver (reference output shipped with cminpack as
# examples/ref/lmddrv.fortran.ref), keyed by run_id.
MINPACK_INITIAL_NORMS = {
    "linear_full_rank_n5_m10_x1": 5.0000000e+00,
    "linear_full_rank_n5_m50_x1": 8.0622577e+00,
    "linear_rank1_n5_m10_x1": 2.9152187e+02,
    "linear_rank1_n5_m50_x1": 3.1016004e+03,
    "linear_rank1_zero_cols_rows_n5_m10_x1": 1.2603968e+02,
    "linear_rank1_zero_cols_rows_n5_m50_x1": 1.7489500e+03,
    "rosenbrock_n2_m2_x1": 4.9193496e+00,
    "rosenbrock_n2_m2_x10": 1.3400631e+03,
    "rosenbrock_n2_m2_x100": 1.4300005e+05,
    "helical_valley_n3_m3_x1": 5.0000000e+01,
    "helical_valley_n3_m3_x10": 1.0295630e+02,
    "helical_valley_n3_m3_x100": 9.9126182e+02,
    "powell_singular_n4_m4_x1": 1.4662878e+01,
    "powell_singular_n4_m4_x10": 1.2709839e+03,
    "powell_singular_n4_m4_x100": 1.2688790e+05,
    "freudenstein_roth_n2_m2_x1": 2.0012496e+01,
    "freudenstein_roth_n2_m2_x10": 1.2432834e+04,
    "freudenstein_roth_n2_m2_x100": 1.1426455e+07,
    "bard_n3_m15_x1": 6.4561363e+00,
    "bard_n3_m15_x10": 3.6141853e+01,
    "bard_n3_m15_x100": 3.8411468e+02,
    "kowalik_osborne_n4_m11_x1": 7.2891510e-02,
    "kowalik_osborne_n4_m11_x10": 2.9793701e+00,
    "kowalik_osborne_n4_m11_x100": 2.9959062e+01,
    "meyer_n3_m16_x1": 4.1153467e+04,
    "meyer_n3_m16_x10": 4.1682169e+06,
    "watson_n6_m31_x1": 5.4772256e+00,
    "watson_n6_m31_x10": 6.4331258e+03,
    "watson_n6_m31_x100": 6.7425604e+05,
    "watson_n9_m31_x1": 5.4772256e+00,
    "watson_n9_m31_x10": 1.2088127e+04,
    "watson_n9_m31_x100": 1.2691093e+06,
    "watson_n12_m31_x1": 5.4772256e+00,
    "watson_n12_m31_x10": 1.9220759e+04,
    "watson_n12_m31_x100": 2.0189180e+06,
    "box_3d_n3_m10_x1": 3.2111584e+01,
    "jennrich_sampson_n2_m10_x1": 6.4585650e+01,
    "brown_dennis_n4_m20_x1": 2.8154384e+03,
    "brown_dennis_n4_m20_x10": 5.5507335e+05,
    "brown_dennis_n4_m20_x100": 6.1211252e+07,
    "chebyquad_n1_m8_x1": 1.8862380e+00,
    "chebyquad_n1_m8_x10": 5.3833444e+09,
    "chebyquad_n1_m8_x100": 1.1808873e+18,
    "chebyquad_n8_m8_x1": 1.9651386e-01,
    "chebyquad_n9_m9_x1": 1.6994993e-01,
    "chebyquad_n10_m10_x1": 1.8374783e-01,
    "brown_almost_linear_n10_m10_x1": 1.6530216e+01,
    "brown_almost_linear_n10_m10_x10": 9.7656240e+06,
    "brown_almost_linear_n10_m10_x100": 9.7656250e+16,
    "brown_almost_linear_n30_m30_x1": 8.3476044e+01,
    "brown_almost_linear_n40_m40_x1": 1.2802636e+02,
    "osborne1_n5_m33_x1": 9.3756402e-01,
    "osborne2_n11_m65_x1": 1.4468654e+00,
}

DRIVER_TABLE = [
    (1, 5, 10, 1), (1, 5, 50, 1), (2, 5, 10, 1), (2, 5, 50, 1),
    (3, 5, 10, 1), (3, 5, 50, 1), (4, 2, 2, 3), (5, 3, 3, 3), (6, 4, 4, 3),
    (7, 2, 2, 3), (8, 3, 15, 3), (9, 4, 11, 3), (10, 3, 16, 2),
    (11, 6, 31, 3), (11, 9, 31, 3), (11, 12, 31, 3), (12, 3, 10, 1),
    (13, 2, 10, 1), (14, 4, 20, 3), (15, 1, 8, 3), (15, 8, 8, 1),
    (15, 9, 9, 1), (15, 10, 10, 1), (16, 10, 10, 3), (16, 30, 30, 1),
    (16, 40, 40, 1), (17, 5, 33, 1), (18, 11, 65, 1),
]


def fd_steps(x):
    """Central-difference steps: eps**(1/3) relative to |x_j| (1 at zero)."""
    scale = np.where(x == 0.0, 1.0, np.abs(x))
    return np.cbrt(np.finfo(np.float64).eps) * scale


def central_difference_jacobian(fcn, x):
    """Central-difference Jacobian of *fcn* at *x* (rows = residuals)."""
    x = np.asarray(x, dtype=np.float64)
    steps = fd_steps(x)
    columns = []
    for j, h in enumerate(steps):
        xp, xm = x.copy(), x.copy()
        xp[j] += h
        xm[j] -= h
        columns.append((fcn(xp) - fcn(xm)) / (xp[j] - xm[j]))
    return np.column_stack(columns)


def perturbed_point(problem):
    """A fixed point near the standard start, away from special values."""
    x = problem.x0()
    rng = np.random.default_rng(sum(map(ord, problem.case_id)))
    return x + 0.02 * rng.uniform(-1.0, 1.0, x.size) * np.maximum(np.abs(x),
                                                                  0.5)


# --------------------------------------------------------------------------
# Case tables and identifiers
# --------------------------------------------------------------------------


def test_mgh_cases_follow_driver_table():
    got = [(p.nprob, p.n, p.m, p.ntries) for p in _problems.MGH_CASES]
    assert got == DRIVER_TABLE


def test_run_counts_and_ids():
    runs = _problems.mgh_runs()
    assert len(runs) == 53
    assert len(_problems.parity_runs()) == 84
    assert {run_id for run_id, _, _ in runs} == set(MINPACK_INITIAL_NORMS)
    for run_id, problem, factor in runs + _problems.parity_runs():
        assert run_id == f"{problem.case_id}_x{int(factor)}"
        assert factor in (1.0, 10.0, 100.0)


def test_mgh_runs_use_leading_factors():
    factors = {}
    for _, problem, factor in _problems.mgh_runs():
        factors.setdefault(problem.case_id, []).append(factor)
    for problem in _problems.MGH_CASES:
        expected = [1.0, 10.0, 100.0][:problem.ntries]
        assert factors[problem.case_id] == expected


def test_case_ids_unique_and_lookup():
    ids = _ids(ALL_PROBLEMS)
    assert len(set(ids)) == len(ids)
    for problem in ALL_PROBLEMS:
        assert _problems.get_problem(problem.case_id) is problem
        assert problem.case_id == f"{problem.name}_n{problem.n}_m{problem.m}"
        assert problem.title
    with pytest.raises(KeyError):
        _problems.get_problem("no_such_problem_n1_m1")


def test_problem_numbers():
    assert sorted({p.nprob for p in _problems.MGH_CASES}) == list(range(1, 19))
    assert all(p.nprob == 0 and p.ntries == 1 for p in _problems.NIST_PROBLEMS)


# --------------------------------------------------------------------------
# Shapes, dtypes and calling conventions
# --------------------------------------------------------------------------


@pytest.mark.parametrize("problem", ALL_PROBLEMS, ids=_ids(ALL_PROBLEMS))
def test_shapes_dtype_finite_at_x0(problem):
    x0 = problem.x0()
    assert x0.shape == (problem.n,) and x0.dtype == np.float64
    f = problem.fcn(x0)
    jac = problem.jac(x0)
    assert f.shape == (problem.m,) and f.dtype == np.float64
    assert jac.shape == (problem.m, problem.n) and jac.dtype == np.float64
    assert np.all(np.isfinite(f)) and np.all(np.isfinite(jac))


@pytest.mark.parametrize("run", _problems.parity_runs(),
                         ids=[r[0] for r in _problems.parity_runs()])
def test_finite_at_all_parity_starts(run):
    _, problem, factor = run
    x = problem.x0(factor)
    assert np.all(np.isfinite(problem.fcn(x)))
    assert np.all(np.isfinite(problem.jac(x)))


@pytest.mark.parametrize("problem", ALL_PROBLEMS, ids=_ids(ALL_PROBLEMS))
def test_calling_conventions(problem):
    x = perturbed_point(problem)
    x_before = x.copy()
    f = problem.fcn(x)
    jac = problem.jac(x)
    # extra positional arguments are ignored, as with leastsq's ``args``
    np.testing.assert_array_equal(problem.fcn(x, 1.0, "extra"), f)
    np.testing.assert_array_equal(problem.jac(x, 1.0, "extra"), jac)
    np.testing.assert_array_equal(x, x_before)
    # fresh arrays every call, never views of x or of shared state
    f2, jac2 = problem.fcn(x), problem.jac(x)
    for out in (f, jac):
        assert not np.shares_memory(out, x)
    assert not np.shares_memory(f, f2) and not np.shares_memory(jac, jac2)
    f2[...] = np.nan
    jac2[...] = np.nan
    np.testing.assert_array_equal(problem.fcn(x), f)
    np.testing.assert_array_equal(problem.jac(x), jac)
    # plain sequences are accepted
    np.testing.assert_array_equal(problem.fcn(list(x)), f)


@pytest.mark.parametrize("problem", ALL_PROBLEMS, ids=_ids(ALL_PROBLEMS))
def test_x0_returns_fresh_array(problem):
    x = problem.x0()
    x[...] = 123.0
    assert not np.all(problem.x0() == 123.0)


@pytest.mark.parametrize("problem", _problems.MGH_CASES[:1] +
                         _problems.NIST_PROBLEMS[:1])
def test_wrong_length_rejected(problem):
    with pytest.raises(ValueError):
        problem.fcn(np.ones(problem.n + 1))


# --------------------------------------------------------------------------
# Analytic Jacobians against finite differences
# --------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["x0", "perturbed"])
@pytest.mark.parametrize("problem", ALL_PROBLEMS, ids=_ids(ALL_PROBLEMS))
def test_jacobian_matches_finite_differences(problem, where):
    x = problem.x0() if where == "x0" else perturbed_point(problem)
    analytic = problem.jac(x)
    numeric = central_difference_jacobian(problem.fcn, x)
    # Error measured relative to each column's scale; the absolute floor
    # (about 100 times eps * |f| / h) covers round-off in the quotient.
    col_scale = np.abs(analytic).max(axis=0)
    f_scale = np.abs(problem.fcn(x)).max() + 1.0
    tol = (1e-6 * (np.abs(analytic) + col_scale)
           + 2e-14 * f_scale / fd_steps(x))
    bad = np.abs(analytic - numeric) > tol
    assert not bad.any(), (
        f"{problem.case_id}: Jacobian mismatch at {np.argwhere(bad)[:5]}")


# --------------------------------------------------------------------------
# Known values from MINPACK
# --------------------------------------------------------------------------


@pytest.mark.parametrize("case_id, expected", [
    ("rosenbrock_n2_m2", [-1.2, 1.0]),
    ("helical_valley_n3_m3", [-1.0, 0.0, 0.0]),
    ("powell_singular_n4_m4", [3.0, -1.0, 0.0, 1.0]),
    ("freudenstein_roth_n2_m2", [0.5, -2.0]),
    ("meyer_n3_m16", [0.02, 4000.0, 250.0]),
    ("osborne1_n5_m33", [0.5, 1.5, -1.0, 0.01, 0.02]),
    ("chebyquad_n8_m8", np.arange(1, 9) / 9.0),
    ("watson_n6_m31", np.zeros(6)),
])
def test_standard_start_points(case_id, expected):
    np.testing.assert_array_equal(_problems.get_problem(case_id).x0(),
                                  expected)


def test_start_factor_scales_start():
    problem = _problems.get_problem("rosenbrock_n2_m2")
    np.testing.assert_array_equal(problem.x0(10.0), [-12.0, 10.0])
    np.testing.assert_array_equal(problem.x0(100.0), [-120.0, 100.0])


@pytest.mark.parametrize("n", [6, 9, 12])
def test_watson_start_rule(n):
    problem = _problems.get_problem(f"watson_n{n}_m31")
    np.testing.assert_array_equal(problem.x0(), np.zeros(n))
    np.testing.assert_array_equal(problem.x0(10.0), np.full(n, 10.0))
    np.testing.assert_array_equal(problem.x0(100.0), np.full(n, 100.0))


@pytest.mark.parametrize("run_id, expected",
                         sorted(MINPACK_INITIAL_NORMS.items()))
def test_initial_norm_matches_minpack_output(run_id, expected):
    runs = {rid: (p, factor) for rid, p, factor in _problems.mgh_runs()}
    problem, factor = runs[run_id]
    assert np.linalg.norm(problem.fcn(problem.x0(factor))) == pytest.approx(
        expected, rel=1e-6)


def test_known_minima():
    """Residuals vanish at the known zero-residual solutions."""
    zero_residual = {
        "rosenbrock_n2_m2": [1.0, 1.0],
        "helical_valley_n3_m3": [1.0, 0.0, 0.0],
        "powell_singular_n4_m4": [0.0, 0.0, 0.0, 0.0],
        "box_3d_n3_m10": [1.0, 10.0, 1.0],
        "brown_almost_linear_n10_m10": np.ones(10),
    }
    for case_id, x in zero_residual.items():
        f = _problems.get_problem(case_id).fcn(x)
        np.testing.assert_allclose(f, 0.0, atol=1e-14, err_msg=case_id)


# --------------------------------------------------------------------------
# NIST StRD data sets
# --------------------------------------------------------------------------


@pytest.mark.parametrize("problem", _problems.NIST_PROBLEMS,
                         ids=_ids(_problems.NIST_PROBLEMS))
def test_nist_certified_rss(problem):
    r = problem.fcn(problem.certified_values)
    assert r @ r == pytest.approx(problem.certified_rss, rel=1e-6)


@pytest.mark.parametrize("problem", _problems.NIST_PROBLEMS,
                         ids=_ids(_problems.NIST_PROBLEMS))
def test_nist_starts(problem):
    assert len(problem.starts) == 2
    np.testing.assert_array_equal(problem.x0(), problem.starts[0])
    np.testing.assert_array_equal(problem.x0(10.0), 10.0 * problem.starts[0])
    for k in (1, 2):
        np.testing.assert_array_equal(problem.x0_start(k),
                                      problem.starts[k - 1])
    with pytest.raises(ValueError):
        problem.x0_start(3)
    assert problem.certified_values.shape == (problem.n,)


def test_nist_known_values():
    misra = _problems.get_problem("misra1a_n2_m14")
    thurber = _problems.get_problem("thurber_n7_m37")
    np.testing.assert_array_equal(misra.x0_start(1), [500.0, 1e-4])
    np.testing.assert_array_equal(misra.x0_start(2), [250.0, 5e-4])
    np.testing.assert_array_equal(
        thurber.x0_start(1), [1000.0, 1000.0, 400.0, 40.0, 0.7, 0.3, 0.03])
    np.testing.assert_array_equal(
        thurber.x0_start(2), [1300.0, 1500.0, 500.0, 75.0, 1.0, 0.4, 0.05])
    assert misra.certified_rss == 1.2455138894e-01
    assert thurber.certified_rss == 5.6427082397e+03
    # residual = y - model: at b = 0 the model vanishes, leaving y
    np.testing.assert_array_equal(misra.fcn([0.0, 0.0]), misra.y)
