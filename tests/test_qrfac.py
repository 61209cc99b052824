"""Tests for MINPACK's Householder QR with column pivoting (``_qrfac``).

The factors are rebuilt in dense form (``kernel_helpers.factor``): R from the
upper triangle and ``rdiag``, Q from the Householder vectors left in the lower
trapezoid (``Q_j = I - u_j u_j^T / u_j[j]``), and checked against the defining
identity ``A[:, ipvt] = Q R`` and against LAPACK (``scipy.linalg.qr``).

Tolerances:

* Householder QR is columnwise backward stable (Higham, Thm 19.4): column j
  of ``A P - Q R`` is at most ~m n eps times column j of ``A P``, and
  ``Q^T Q - I`` is ~m n eps. We allow 10 m n eps (m, n <= 12), columnwise, so
  that badly scaled columns are held to their own scale.
* R itself is a forward quantity: for ``A = B S`` with column scaling S, R
  scales by the same S, so column j of R is accurate to ~kappa(B) eps times
  the norm of its input column. Gaussian B (m >= n <= 12) has kappa(B) below
  ~1e4 in practice, so the columnwise rtol of 1e-10 is loose but meaningful
  (an R off by a rotation or a wrong pivot is off by O(1)).
* Pivoting picks the largest downdated norm. MINPACK recomputes a downdated
  norm once it has shrunk below sqrt(20 eps) of its last exact value, so a
  downdated norm can be off by at most ~2.5% (relative error of its square
  ~eps / (20 eps)); the pivot property is checked with 3% slack.
"""
import numpy as np
import pytest
import scipy.linalg
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from kernel_helpers import (EPS, FLOAT_SENTINELS, Padded, assert_bitwise_equal,
                            factor, random_badly_scaled, random_full_rank,
                            random_low_rank)
from lmfit_core._qrfac import _qrfac_memview

SEEDS = st.integers(0, 2**32 - 1)
# (m, n) with 1 <= n <= m <= 12, as lmdif requires m >= n.
TALL = st.integers(1, 12).flatmap(lambda n: st.tuples(st.integers(n, 12), st.just(n)))
PIVOT_SLACK = 0.03


def check_reconstruction(a, qr):
    """A[:, ipvt] == Q R columnwise, and Q orthogonal."""
    m, n = a.shape
    ap = a[:, qr.ipvt]
    k = min(m, n)
    bound = 10 * m * max(n, 1) * EPS
    resid = np.linalg.norm(ap - qr.Q[:, :k] @ qr.R, axis=0)
    colnorm = np.linalg.norm(ap, axis=0)
    assert np.all(resid <= bound * colnorm), (resid, colnorm)
    assert np.abs(qr.Q.T @ qr.Q - np.eye(m)).max() <= bound


def check_ipvt_is_permutation(qr, n):
    assert qr.ipvt.dtype == np.int32
    assert_array_equal(np.sort(qr.ipvt), np.arange(n))


def check_pivot_property(qr, atol=0.0):
    """Max-norm pivoting: |R[j, j]| >= ||R[j:k+1, k]|| for every k > j.

    (This is what choosing the column of largest remaining norm at step j
    means; it also makes |rdiag| non-increasing.)
    """
    r = qr.R
    n = r.shape[1]
    for j in range(min(r.shape)):
        rest = np.linalg.norm(r[j:, j + 1:], axis=0) if j + 1 < n else np.zeros(0)
        # Only rows j..k of column k are nonzero, so the tail norm is it.
        assert np.all(rest <= (1 + PIVOT_SLACK) * abs(r[j, j]) + atol), (j, rest, r[j, j])
    d = np.abs(qr.rdiag[:min(r.shape)])
    assert np.all(d[1:] <= (1 + PIVOT_SLACK) * d[:-1] + atol), d


def check_acnorm(a, qr):
    # acnorm is enorm of each input column (see test_enorm.py for 1e-14).
    assert_allclose(qr.acnorm, np.linalg.norm(a, axis=0), rtol=1e-14, atol=0)


def check_against_lapack(a, qr, rtol=1e-10):
    """Same pivots and, up to the signs of its rows, the same R as LAPACK."""
    m, n = a.shape
    _, r_ref, p_ref = scipy.linalg.qr(a, pivoting=True, mode="economic")
    assert_array_equal(qr.ipvt, p_ref)
    signs = np.sign(qr.rdiag) * np.sign(np.diag(r_ref))
    tol = rtol * qr.acnorm[qr.ipvt]              # per column of A P
    assert np.all(np.abs(np.abs(qr.rdiag) - np.abs(np.diag(r_ref))) <= tol)
    assert np.all(np.abs(qr.R - signs[:, None] * r_ref) <= tol[None, :])


MATRICES = {
    "full_rank": lambda rng, m, n: random_full_rank(rng, m, n),
    "badly_scaled_columns": lambda rng, m, n: random_badly_scaled(rng, m, n)[0],
}


@pytest.mark.parametrize("kind", list(MATRICES))
@given(shape=TALL, seed=SEEDS)
def test_random_matrices(kind, shape, seed):
    a = MATRICES[kind](np.random.default_rng(seed), *shape)
    qr = factor(a)
    check_ipvt_is_permutation(qr, shape[1])
    check_acnorm(a, qr)
    check_reconstruction(a, qr)
    check_pivot_property(qr)
    check_against_lapack(a, qr)


def _rank_deficient(rng, m, n, rank, kind):
    if kind == "thin_factors":
        return random_low_rank(rng, m, n, rank)
    if kind == "duplicated_columns":
        base = rng.standard_normal((m, rank))
        cols = np.concatenate([np.arange(rank), rng.integers(0, rank, n - rank)])
        return base[:, rng.permutation(cols)] * rng.choice([-1.0, 1.0], n)
    a = rng.standard_normal((m, n))           # zero columns
    a[:, rng.choice(n, n - rank, replace=False)] = 0.0
    return a


@pytest.mark.parametrize("kind", ["thin_factors", "duplicated_columns", "zero_columns"])
@given(st.integers(2, 12).flatmap(
    lambda n: st.tuples(st.integers(n, 12), st.just(n), st.integers(1, n - 1))), SEEDS)
def test_rank_deficient(kind, shape, seed):
    m, n, rank = shape
    a = _rank_deficient(np.random.default_rng(seed), m, n, rank, kind)
    scale = np.linalg.norm(a)
    qr = factor(a)
    check_ipvt_is_permutation(qr, n)
    check_acnorm(a, qr)
    check_reconstruction(a, qr)
    # Past the rank the remaining norms are rounding noise (~eps ||A||).
    check_pivot_property(qr, atol=1e-13 * scale)
    # Only the leading rank x rank block of R is well defined; its diagonal
    # (the norms of successive projections) matches LAPACK's.
    _, r_ref, _ = scipy.linalg.qr(a, pivoting=True, mode="economic")
    assert_allclose(np.abs(qr.rdiag[:rank]), np.abs(np.diag(r_ref)[:rank]),
                    rtol=0, atol=1e-10 * scale)
    # The trailing diagonal reveals the rank.
    assert np.all(np.abs(qr.rdiag[rank:]) <= 1e-12 * scale), qr.rdiag
    if kind == "zero_columns":
        # Zero columns have zero norm: pivoted to the end, left exactly zero.
        zero = np.flatnonzero(qr.acnorm == 0.0)
        assert zero.size == n - rank
        assert set(qr.ipvt[rank:]) == set(zero)
        assert np.all(qr.rdiag[rank:] == 0.0)
        assert np.all(qr.R[:, rank:] == 0.0)


@given(TALL.filter(lambda s: s[1] >= 2), SEEDS, st.floats(-12, -8.5), st.floats(1, 3))
def test_nearly_dependent_columns_recompute_norms(shape, seed, log_noise, gap):
    # Columns k1 (and k2) are multiples of column 0 plus perturbations of
    # relative size 10**log_noise (and 10**(log_noise - gap)): after the step
    # that eliminates column 0, their downdated norms have lost more than
    # sqrt(20 eps) and are pure rounding noise unless recomputed from scratch;
    # the pivot property then decides between the two tiny columns correctly
    # only if they were.
    m, n = shape
    rng = np.random.default_rng(seed)
    a = random_full_rank(rng, m, n)
    ks = rng.choice(np.arange(1, n), size=min(2, n - 1), replace=False)
    for k, lg in zip(ks, (log_noise, log_noise - gap)):
        a[:, k] = rng.uniform(0.5, 2.0) * a[:, 0] \
            + 10.0**lg * np.linalg.norm(a[:, 0]) * rng.standard_normal(m)
    scale = np.linalg.norm(a)
    qr = factor(a)
    check_ipvt_is_permutation(qr, n)
    check_reconstruction(a, qr)
    check_pivot_property(qr, atol=1e-13 * scale)
    _, r_ref, _ = scipy.linalg.qr(a, pivoting=True, mode="economic")
    # Same diagonal magnitudes; the tiny one is only known to ~eps ||A||.
    assert_allclose(np.abs(qr.rdiag), np.abs(np.diag(r_ref)), rtol=1e-10,
                    atol=1e-13 * scale)


@given(TALL, SEEDS, st.booleans())
def test_without_pivoting_matches_unpivoted_qr(shape, seed, badly_scaled):
    rng = np.random.default_rng(seed)
    if badly_scaled:
        a, _ = random_badly_scaled(rng, *shape)
    else:
        a = random_full_rank(rng, *shape)
    qr = factor(a, pivot=False)
    assert_array_equal(qr.ipvt, np.arange(shape[1]))
    check_acnorm(a, qr)
    check_reconstruction(a, qr)
    r_ref = np.linalg.qr(a, mode="r")
    # QR is unique up to the signs of R's rows (full column rank).
    signs = np.sign(qr.rdiag) * np.sign(np.diag(r_ref))
    tol = 1e-10 * qr.acnorm
    assert np.all(np.abs(qr.R - signs[:, None] * r_ref) <= tol[None, :])


@given(TALL, SEEDS, st.booleans())
def test_offbyone_agrees_on_well_conditioned(shape, seed, pivot):
    # SciPy's off-by-one only matters in a norm recomputation, which a
    # well-conditioned matrix never triggers: both modes are bit-for-bit equal.
    a = random_full_rank(np.random.default_rng(seed), *shape)
    plain, compat = factor(a, pivot=pivot), factor(a, pivot=pivot, offbyone=True)
    for name in ("a", "ipvt", "rdiag", "acnorm"):
        assert_bitwise_equal(getattr(compat, name), getattr(plain, name), name)


@given(st.integers(1, 8).flatmap(lambda m: st.tuples(st.just(m), st.integers(m + 1, 12))),
       SEEDS)
def test_wide_matrix_reconstructs(shape, seed):
    # m < n (not used by lmdif): R is m x n upper trapezoidal.
    a = random_full_rank(np.random.default_rng(seed), *shape)
    qr = factor(a)
    check_ipvt_is_permutation(qr, shape[1])
    check_reconstruction(a, qr)


def test_no_columns():
    ipvt, rdiag, acnorm = _qrfac_memview(np.zeros((3, 0), order="F"))
    assert ipvt.shape == rdiag.shape == acnorm.shape == (0,)


def test_rejects_c_order():
    with pytest.raises(ValueError):
        _qrfac_memview(np.ones((3, 2)))


def _last_column_recompute_matrix(rng, m=7, n=4):
    """Column n-1 duplicates column 0 up to 1e-12: its norm is recomputed at
    k = n-1, where offbyone must not read the element past the array."""
    a = rng.standard_normal((m, n))
    a[:, 0] *= 10.0
    a[:, -1] = a[:, 0] + 1e-12 * rng.standard_normal(m)
    return a


@pytest.mark.parametrize("fill", FLOAT_SENTINELS)
@pytest.mark.parametrize("pivot,offbyone", [(True, False), (True, True), (False, False)])
@given(TALL, SEEDS, st.booleans())
def test_stays_inside_its_array(fill, pivot, offbyone, shape, seed, recompute_last):
    rng = np.random.default_rng(seed)
    if recompute_last:
        a = _last_column_recompute_matrix(rng)
    else:
        a = random_full_rank(rng, *shape)
    p = Padded(a, order="F", fill=fill)
    ipvt, rdiag, acnorm = _qrfac_memview(p.view, pivot, offbyone)
    p.assert_padding_intact()
    assert np.all(np.isfinite(p.view)) and np.all(np.isfinite(rdiag))
    ref = factor(a, pivot=pivot, offbyone=offbyone)
    assert_bitwise_equal(p.view, ref.a, "a")
    assert_bitwise_equal(ipvt, ref.ipvt, "ipvt")
    assert_bitwise_equal(rdiag, ref.rdiag, "rdiag")
    assert_bitwise_equal(acnorm, ref.acnorm, "acnorm")
