"""Tests for the Levenberg-Marquardt parameter (``_lmpar``).

Setup as in lmdif (see test_qrsolv.py): ``A P = Q R`` by qrfac with pivoting,
``qtb = (Q^T b)[:n]``, a positive scaling d and a trust radius delta chosen
relative to the Gauss-Newton step, ``delta = ||D x_gn|| * 10**U(-6, 1)``.

MINPACK's contract, checked here:

* ``par == 0`` exactly when the Gauss-Newton step is acceptable,
  ``||D x_gn|| <= 1.1 delta``, and then x is that step;
* otherwise ``par > 0`` with ``| ||D x|| - delta | <= 0.1 delta`` (random
  well-posed problems converge long before the 10-iteration cap), and x solves
  ``[A; sqrt(par) D] x ~ [b; 0]`` -- bit for bit the x of ``qrsolv`` called with
  ``sqrt(par) d``, which is how lmpar computes it.

Tolerances: x against the dense solve as in test_qrsolv.py (LS perturbation
bound on the column-equilibrated stacked matrix). The 10% acceptance test is
evaluated by the kernel with enorm and by us with NumPy; the two norms agree
to ~n eps, so a relative margin of 1e-12 on the boundary is ample.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel_helpers import (FLOAT_SENTINELS, INT_SENTINELS, Padded,
                            assert_bitwise_equal, qr_problem, r_fortran,
                            random_badly_scaled, random_full_rank,
                            stacked_lstsq)
from lmfit_core._lmpar import _lmpar_memview
from lmfit_core._qrsolv import _qrsolv_memview

SEEDS = st.integers(0, 2**32 - 1)
TALL = st.integers(1, 10).flatmap(lambda n: st.tuples(st.integers(n, 12), st.just(n)))
MARGIN = 1e-12


def make_problem(rng, m, n, kind):
    """(A, b, d, gn): d > 0, and gn = (x_gn, c, tol) the Gauss-Newton step as
    lmpar defines it, with its column scaling and error bound (stacked_lstsq)."""
    b = rng.standard_normal(m)
    d = 10.0**rng.uniform(-1, 1, n)
    if kind == "badly_scaled":
        a, scales = random_badly_scaled(rng, m, n, -6, 6)
        d *= scales
    else:
        a = random_full_rank(rng, m, n)
    zero = np.zeros(n, dtype=bool)
    if kind == "zero_column" and n > 1:
        # R gets an exact zero on its diagonal (the zero column pivots last):
        # lmpar's Gauss-Newton step is the basic solution, and parl = 0.
        zero[rng.integers(n)] = True
        a[:, zero] = 0.0
    x_gn, c = np.zeros(n), np.ones(n)
    x_gn[~zero], c[~zero], tol = stacked_lstsq(a[:, ~zero], b, np.zeros((~zero).sum()))
    return a, b, d, (x_gn, c, tol)


def check_lmpar_result(a, b, d, gn, qr, qtb, delta, par, x, sdiag, r_out):
    x_gn, c_gn, tol_gn = gn
    dxn_gn = np.linalg.norm(d * x_gn)
    assert par >= 0.0 and np.isfinite(par)
    assert np.all(np.isfinite(x))
    if par == 0.0:
        # Gauss-Newton step accepted: it must be (nearly) inside the region ...
        assert dxn_gn <= 1.1 * delta * (1 + MARGIN), (dxn_gn, delta)
        assert np.linalg.norm(c_gn * (x - x_gn)) <= tol_gn, (x, x_gn)
        assert np.all(x[x_gn == 0.0] == 0.0)   # the basic solution's zeros
        return
    # ... and rejected only when it is outside.
    assert dxn_gn >= 1.1 * delta * (1 - MARGIN), (dxn_gn, delta, par)
    dxn = np.linalg.norm(d * x)
    assert abs(dxn - delta) <= 0.1 * delta * (1 + MARGIN), (dxn, delta, par)
    # x is the regularised solution for this par ...
    x_ref, c, tol = stacked_lstsq(a, b, np.sqrt(par) * d)
    assert np.linalg.norm(c * (x - x_ref)) <= tol, (x, x_ref, tol)
    # ... exactly as qrsolv computes it, with the same S left in r.
    r2 = r_fortran(qr)
    x2, sdiag2 = _qrsolv_memview(r2, qr.ipvt, np.sqrt(par) * d, qtb)
    assert_bitwise_equal(x, x2, "x")
    assert_bitwise_equal(sdiag, sdiag2, "sdiag")
    assert_bitwise_equal(r_out, r2, "r")


@pytest.mark.parametrize("kind", ["full_rank", "badly_scaled", "zero_column"])
@given(TALL, SEEDS, st.floats(-6, 1))
def test_trust_region_contract(kind, shape, seed, log_ratio):
    m, n = shape
    rng = np.random.default_rng(seed)
    a, b, d, gn = make_problem(rng, m, n, kind)
    qr, qtb = qr_problem(a, b)
    if kind == "zero_column" and n > 1:
        assert qr.rdiag[-1] == 0.0
    delta = np.linalg.norm(d * gn[0]) * 10.0**log_ratio
    r_in = r_fortran(qr)
    r = r_in.copy(order="F")
    par, x, sdiag = _lmpar_memview(r, qr.ipvt, d, qtb, delta)
    assert_bitwise_equal(np.triu(r), np.triu(r_in), "triu(r)")
    check_lmpar_result(a, b, d, gn, qr, qtb, delta, par, x, sdiag, r)


@given(TALL, SEEDS, st.floats(-4, -0.5), st.floats(-3, 3))
def test_initial_par_does_not_change_the_contract(shape, seed, log_ratio, log_par0):
    # lmdif passes the previous par as the starting value; any start in or out
    # of [parl, paru] must still end inside the 10% band.
    m, n = shape
    rng = np.random.default_rng(seed)
    a, b, d, gn = make_problem(rng, m, n, "full_rank")
    qr, qtb = qr_problem(a, b)
    delta = np.linalg.norm(d * gn[0]) * 10.0**log_ratio
    r = r_fortran(qr)
    par0 = 10.0**log_par0 * np.linalg.norm(a)**2 / np.max(d)**2
    par, x, sdiag = _lmpar_memview(r, qr.ipvt, d, qtb, delta, par0)
    check_lmpar_result(a, b, d, gn, qr, qtb, delta, par, x, sdiag, r)
    assert par > 0.0


@given(TALL, SEEDS)
def test_large_radius_gives_gauss_newton(shape, seed):
    m, n = shape
    a, b, d, gn = make_problem(np.random.default_rng(seed), m, n, "full_rank")
    qr, qtb = qr_problem(a, b)
    delta = 2.0 * np.linalg.norm(d * gn[0]) + 1e-300
    par, x, _ = _lmpar_memview(r_fortran(qr), qr.ipvt, d, qtb, delta, 123.0)
    assert par == 0.0                     # even with a nonzero starting par
    assert np.linalg.norm(gn[1] * (x - gn[0])) <= gn[2]


def test_scalar_case_by_hand():
    # n = 1: x(par) = r q / (r^2 + par d^2); with r = 2, q = 4, d = 1 the
    # Gauss-Newton step is 2, and delta = 0.5 needs par ~ 12 (x = 0.5).
    r = np.asfortranarray([[2.0]])
    par, x, _ = _lmpar_memview(r, np.zeros(1, np.int32), np.ones(1), np.array([4.0]), 0.5)
    assert abs(abs(x[0]) - 0.5) <= 0.05
    assert abs(x[0] - 8.0 / (4.0 + par)) <= 1e-15
    par, x, _ = _lmpar_memview(r, np.zeros(1, np.int32), np.ones(1), np.array([4.0]), 2.1)
    assert par == 0.0 and x[0] == 2.0


def test_empty_and_shape_checks():
    par, x, sdiag = _lmpar_memview(np.zeros((0, 0), order="F"), np.zeros(0, np.int32),
                                   np.zeros(0), np.zeros(0), 1.0, 0.5)
    assert par == 0.5 and x.shape == sdiag.shape == (0,)
    with pytest.raises(ValueError):
        _lmpar_memview(np.asfortranarray(np.eye(3)), np.arange(2, dtype=np.int32),
                       np.ones(3), np.ones(3), 1.0)


@pytest.mark.parametrize("fill_float,fill_int", list(zip(FLOAT_SENTINELS, INT_SENTINELS * 2)))
@given(TALL, SEEDS, st.sampled_from(["full_rank", "zero_column"]), st.floats(-4, 1))
def test_stays_inside_its_arrays(fill_float, fill_int, shape, seed, kind, log_ratio):
    m, n = shape
    a, b, d, gn = make_problem(np.random.default_rng(seed), m, n, kind)
    qr, qtb = qr_problem(a, b)
    delta = np.linalg.norm(d * gn[0]) * 10.0**log_ratio
    r_ref = r_fortran(qr)
    ref = _lmpar_memview(r_ref, qr.ipvt, d, qtb, delta)

    r_p = Padded(r_fortran(qr), order="F", fill=fill_float)
    ipvt_p = Padded(qr.ipvt, fill=fill_int)
    d_p = Padded(d, fill=fill_float)
    qtb_p = Padded(qtb, fill=fill_float)
    par, x, sdiag = _lmpar_memview(r_p.view, ipvt_p.view, d_p.view, qtb_p.view, delta)
    for p in (r_p, ipvt_p, d_p, qtb_p):
        p.assert_padding_intact()
    assert np.isfinite(par) and np.all(np.isfinite(x)) and np.all(np.isfinite(sdiag))
    assert np.all(np.isfinite(np.triu(r_p.view)))
    assert_bitwise_equal(np.float64(par), np.float64(ref[0]), "par")
    assert_bitwise_equal(x, ref[1], "x")
    assert_bitwise_equal(sdiag, ref[2], "sdiag")
    if par != 0.0:                        # below the diagonal only when qrsolv ran
        assert_bitwise_equal(r_p.view, r_ref, "r")
