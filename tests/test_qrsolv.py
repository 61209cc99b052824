"""Tests for MINPACK's regularised least-squares solve by Givens rotations (``_qrsolv``).

Setup as in lmdif: ``A P = Q R`` from ``_qrfac_memview`` with pivoting, and
``qtb = (Q^T b)[:n]`` by applying its Householder reflectors to b. Then
``qrsolv(R, ipvt, d, qtb)`` must return the least-squares solution of
``[A; D] x ~ [b; 0]`` (D = diag(d)) and leave the triangular S with
``S^T S = P^T (A^T A + D^2) P`` in r's strict lower triangle and ``sdiag``.

Tolerances:

* x: the dense reference is solved in column-equilibrated form, and the error
  ``||c (x - x_ref)||`` (c = column norms of [A; D]) is bounded by LS
  perturbation theory, eps (kappa ||x|| + kappa^2 ||res|| / ||A||) with
  kappa of the equilibrated matrix, times 100 (see ``stacked_lstsq``).
* S^T S: Givens rotations are backward stable, so entry (i, j) of
  ``S^T S - P^T (A^T A + D^2) P`` is ~n eps c_i c_j (c the column norms of
  the stacked matrix); we allow 20 (n + 2) eps c_i c_j.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from kernel_helpers import (EPS, FLOAT_SENTINELS, INT_SENTINELS, Padded,
                            assert_bitwise_equal, qr_problem,
                            r_fortran, random_badly_scaled, random_full_rank,
                            random_low_rank, s_from_qrsolv, stacked_lstsq)
from lmfit_core._qrsolv import _qrsolv_memview

SEEDS = st.integers(0, 2**32 - 1)
TALL = st.integers(1, 12).flatmap(lambda n: st.tuples(st.integers(n, 12), st.just(n)))


def make_problem(rng, m, n, kind):
    """(A, b, d) with [A; D] of full column rank."""
    b = rng.standard_normal(m) * 10.0**rng.uniform(-2, 2)
    d = 10.0**rng.uniform(-2, 2, n)
    if kind == "full_rank":
        a = random_full_rank(rng, m, n)
    elif kind == "badly_scaled":
        a, scales = random_badly_scaled(rng, m, n)
        d *= scales                          # D on the scale of its column
    elif kind == "some_d_zero":
        a = random_full_rank(rng, m, n)
        d[rng.random(n) < 0.5] = 0.0
    elif kind == "d_zero":
        a = random_full_rank(rng, m, n)
        d[:] = 0.0
    elif kind == "rank_deficient_a":          # R singular, [A; D] is not
        a = random_low_rank(rng, m, n, max(1, n // 2))
        a[:, rng.integers(n)] = 0.0
    else:
        raise ValueError(kind)
    return a, b, d


def check_s_factor(a, d, qr, r_out, sdiag):
    n = a.shape[1]
    s = s_from_qrsolv(r_out, sdiag)
    p = qr.ipvt
    m_ref = (a.T @ a + np.diag(d * d))[np.ix_(p, p)]
    c = np.sqrt(np.diag(m_ref))
    err = np.abs(s.T @ s - m_ref) / np.outer(c, c)
    assert err.max() <= 20 * (n + 2) * EPS, err.max()


@pytest.mark.parametrize("kind", ["full_rank", "badly_scaled", "some_d_zero", "d_zero",
                                  "rank_deficient_a"])
@given(TALL, SEEDS)
def test_matches_dense_regularised_lstsq(kind, shape, seed):
    m, n = shape
    a, b, d = make_problem(np.random.default_rng(seed), m, n, kind)
    qr, qtb = qr_problem(a, b)
    # (Sanity of the setup: the reflectors give Q^T b.)
    assert_allclose(qtb, (qr.Q.T @ b)[:n], rtol=0, atol=50 * m * EPS * np.linalg.norm(b))
    r_in = r_fortran(qr)
    r = r_in.copy(order="F")
    x, sdiag = _qrsolv_memview(r, qr.ipvt, d, qtb)

    # The upper triangle (with the diagonal) of r is left as it was.
    assert_bitwise_equal(np.triu(r), np.triu(r_in), "triu(r)")

    x_ref, c, tol = stacked_lstsq(a, b, d)
    assert np.linalg.norm(c * (x - x_ref)) <= tol, (x, x_ref, tol)
    check_s_factor(a, d, qr, r, sdiag)
    if kind == "d_zero":
        # No rotations: S is R itself.
        assert_bitwise_equal(s_from_qrsolv(r, sdiag), np.triu(r_in), "S == R")


@given(TALL.filter(lambda s: s[1] >= 2), SEEDS)
def test_singular_system_gets_basic_solution(shape, seed):
    # A zero column with no damping on it makes [A; D] singular: it is pivoted
    # last, S has a zero there, and qrsolv must zero that component and solve
    # for the rest (no division by zero).
    m, n = shape
    rng = np.random.default_rng(seed)
    a = random_full_rank(rng, m, n)
    b = rng.standard_normal(m)
    d = 10.0**rng.uniform(-2, 2, n)
    k = int(rng.integers(n))
    a[:, k] = 0.0
    d[k] = 0.0
    qr, qtb = qr_problem(a, b)
    assert qr.ipvt[-1] == k
    x, sdiag = _qrsolv_memview(r_fortran(qr), qr.ipvt, d, qtb)
    assert np.all(np.isfinite(x))
    assert sdiag[-1] == 0.0
    assert x[k] == 0.0
    keep = np.arange(n) != k
    x_ref, c, tol = stacked_lstsq(a[:, keep], b, d[keep])
    assert np.linalg.norm(c * (x[keep] - x_ref)) <= tol


def test_identity_case_by_hand():
    # A = I (3x3), b = [1, 2, 3], D = 2 I: x = b / (1 + 4), S = sqrt(5) I.
    a = np.eye(3)
    qr, qtb = qr_problem(a, np.array([1.0, 2.0, 3.0]))
    r = r_fortran(qr)
    x, sdiag = _qrsolv_memview(r, qr.ipvt, np.full(3, 2.0), qtb)
    assert_allclose(x, np.array([1.0, 2.0, 3.0]) / 5.0, rtol=4 * EPS)
    assert_allclose(np.abs(sdiag), np.sqrt(5.0), rtol=4 * EPS)


def test_empty_and_shape_checks():
    x, sdiag = _qrsolv_memview(np.zeros((0, 0), order="F"), np.zeros(0, np.int32),
                               np.zeros(0), np.zeros(0))
    assert x.shape == sdiag.shape == (0,)
    r = np.asfortranarray(np.eye(3))
    ok = (np.arange(3, dtype=np.int32), np.ones(3), np.ones(3))
    with pytest.raises(ValueError):
        _qrsolv_memview(np.asfortranarray(np.ones((3, 2))), *ok)
    with pytest.raises(ValueError):
        _qrsolv_memview(r, np.arange(2, dtype=np.int32), ok[1], ok[2])
    with pytest.raises(ValueError):
        _qrsolv_memview(r, ok[0], np.ones(4), ok[2])
    with pytest.raises(ValueError):
        _qrsolv_memview(r, ok[0], ok[1], np.ones(2))


@pytest.mark.parametrize("fill_float,fill_int", list(zip(FLOAT_SENTINELS, INT_SENTINELS * 2)))
@given(TALL, SEEDS, st.sampled_from(["full_rank", "some_d_zero", "rank_deficient_a"]))
def test_stays_inside_its_arrays(fill_float, fill_int, shape, seed, kind):
    m, n = shape
    a, b, d = make_problem(np.random.default_rng(seed), m, n, kind)
    qr, qtb = qr_problem(a, b)
    r_ref = r_fortran(qr)
    x_ref, sdiag_ref = _qrsolv_memview(r_ref, qr.ipvt, d, qtb)

    r_p = Padded(r_fortran(qr), order="F", fill=fill_float)
    ipvt_p = Padded(qr.ipvt, fill=fill_int)
    d_p = Padded(d, fill=fill_float)
    qtb_p = Padded(qtb, fill=fill_float)
    x, sdiag = _qrsolv_memview(r_p.view, ipvt_p.view, d_p.view, qtb_p.view)
    for p in (r_p, ipvt_p, d_p, qtb_p):
        p.assert_padding_intact()
    assert np.all(np.isfinite(x)) and np.all(np.isfinite(sdiag))
    assert np.all(np.isfinite(r_p.view))
    assert_bitwise_equal(x, x_ref, "x")
    assert_bitwise_equal(sdiag, sdiag_ref, "sdiag")
    assert_bitwise_equal(r_p.view, r_ref, "r")
    # Read-only inputs stay as they were.
    assert_array_equal(ipvt_p.view, qr.ipvt)
    assert_bitwise_equal(d_p.view, d, "diag")
    assert_bitwise_equal(qtb_p.view, qtb, "qtb")
