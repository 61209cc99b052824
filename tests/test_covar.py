"""Tests for ``cov_x`` from the final QR factors (``_covar.covariance``).

``covariance(fjac, ipvt)`` takes leastsq's ``infodict['fjac']`` (shape (n, m),
the transpose of the column-major m x n array whose upper triangle is R) and
the 0-based ``ipvt``, and must return SciPy's ``P R^-1 R^-T P^T`` (rows of
``R^-1`` permuted by ipvt), or None when R has an exact zero on its diagonal.

Tolerances: two triangular inversions of the same R (LAPACK trtri and the
kernel's column-by-column back substitution) agree to ~n kappa(R) eps
relative to ||R^-1||, so ``cov`` agrees to ~2 n kappa(R) eps relative to
max|cov|; random Gaussian problems (n <= 10) have kappa(R) of at most ~1e3,
well inside the 1e-10 used. Against ``inv(J^T J)`` (itself computed with error
~kappa(J)**2 eps) the bound is 100 n kappa(J)**2 eps.
"""
import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.optimize
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from kernel_helpers import (EPS, FLOAT_SENTINELS, INT_SENTINELS, Padded,
                            assert_bitwise_equal, factor, random_full_rank)
from lmfit_core._covar import covariance

SEEDS = st.integers(0, 2**32 - 1)
TALL = st.integers(1, 10).flatmap(lambda n: st.tuples(st.integers(n, 14), st.just(n)))


def scipy_fit(a, b):
    """leastsq on the linear residual A x - b: (cov_x, fjac, ipvt)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _, cov_x, info, _, _ = scipy.optimize.leastsq(
            lambda x: a @ x - b, np.zeros(a.shape[1]), full_output=True)
    return cov_x, info["fjac"], info["ipvt"]


def scipy_cov_formula(fjac, ipvt):
    """SciPy's cov_x, recomputed: trtri of triu(fjac.T[:n]), rows permuted."""
    n = len(ipvt)
    r = np.triu(np.transpose(fjac)[:n, :])
    inv_r, info = scipy.linalg.lapack.dtrtri(r)
    if info != 0:
        return None
    inv_r[ipvt] = inv_r.copy()
    return inv_r @ inv_r.T


def fjac_from_qrfac(a):
    """(fjac, ipvt) as lmdif leaves them: qrfac's array with rdiag put back on
    the diagonal, transposed to (n, m); below the diagonal the Householder
    vectors, which covariance must ignore."""
    qr = factor(a)
    work = qr.a.copy(order="F")
    n = a.shape[1]
    work[np.arange(n), np.arange(n)] = qr.rdiag
    return np.ascontiguousarray(work.T), qr.ipvt


@given(TALL, SEEDS)
def test_matches_scipy(shape, seed):
    m, n = shape
    rng = np.random.default_rng(seed)
    a = random_full_rank(rng, m, n)
    b = rng.standard_normal(m)
    cov_x, fjac, ipvt = scipy_fit(a, b)
    assert fjac.shape == (n, m) and fjac.flags.c_contiguous and ipvt.dtype == np.int32
    ref = scipy_cov_formula(fjac, ipvt)
    got = covariance(fjac, ipvt)
    assert got is not None and got.shape == (n, n)
    scale = np.abs(ref).max()
    assert_allclose(got, ref, rtol=1e-10, atol=1e-10 * scale)
    assert_allclose(got, cov_x, rtol=1e-10, atol=1e-10 * scale)
    assert_allclose(got, got.T, rtol=0, atol=4 * n * EPS * scale)    # G G^T


@given(TALL, SEEDS)
def test_equals_inverse_of_normal_matrix(shape, seed):
    m, n = shape
    a = random_full_rank(np.random.default_rng(seed), m, n)
    fjac, ipvt = fjac_from_qrfac(a)
    got = covariance(fjac, ipvt)
    ref = np.linalg.inv(a.T @ a)
    kappa = np.linalg.cond(a)
    tol = 100 * n * kappa**2 * EPS
    assert_allclose(got, ref, rtol=tol, atol=tol * np.abs(ref).max())
    # Positive definite: it is the inverse of one.
    assert np.all(np.linalg.eigvalsh(got) > 0)


@given(TALL, SEEDS)
def test_reads_only_the_upper_triangle_of_r(shape, seed):
    m, n = shape
    rng = np.random.default_rng(seed)
    fjac, ipvt = fjac_from_qrfac(random_full_rank(rng, m, n))
    ref = covariance(fjac, ipvt)
    junk = fjac.copy()
    # fjac[j, i] is element (i, j) of the column-major array: i > j is below
    # R's diagonal (and rows i >= n lie outside R altogether).
    below = np.arange(m)[None, :] > np.arange(n)[:, None]
    junk[below] = np.where(rng.random(below.sum()) < 0.5, np.nan, 1e300)
    assert_bitwise_equal(covariance(junk, ipvt), ref, "cov")


@given(TALL, SEEDS, st.data())
def test_none_for_exact_zero_on_the_diagonal(shape, seed, data):
    m, n = shape
    rng = np.random.default_rng(seed)
    fjac, ipvt = fjac_from_qrfac(random_full_rank(rng, m, n))
    k = data.draw(st.integers(0, n - 1))
    fjac[k, k] = data.draw(st.sampled_from([0.0, -0.0]))
    assert covariance(fjac, ipvt) is None
    assert scipy_cov_formula(fjac, ipvt) is None          # SciPy agrees
    # A tiny but nonzero diagonal is not singular for either.
    fjac[k, k] = 1e-150
    assert covariance(fjac, ipvt) is not None


@given(st.integers(2, 8).flatmap(lambda n: st.tuples(st.integers(n, 12), st.just(n))), SEEDS)
def test_none_like_scipy_for_zero_column(shape, seed):
    # A zero column makes qrfac's R exactly singular: leastsq returns
    # cov_x = None, and so must covariance on the same fjac and ipvt.
    m, n = shape
    rng = np.random.default_rng(seed)
    a = random_full_rank(rng, m, n)
    a[:, rng.integers(n)] = 0.0
    cov_x, fjac, ipvt = scipy_fit(a, rng.standard_normal(m))
    assert cov_x is None
    assert covariance(fjac, ipvt) is None


def test_by_hand():
    # R = [[2, 1], [0, 4]] with ipvt = [1, 0]: A P = Q R, so J^T J = P R^T R P^T.
    fjac = np.array([[2.0, 0.0, 9.0], [1.0, 4.0, 9.0]])   # (n, m) = (2, 3)
    ipvt = np.array([1, 0], dtype=np.int32)
    r = np.array([[2.0, 1.0], [0.0, 4.0]])
    p = np.eye(2)[:, ipvt]
    expected = p @ np.linalg.inv(r.T @ r) @ p.T
    assert_allclose(covariance(fjac, ipvt), expected, rtol=4 * EPS)


def test_empty_and_shape_checks():
    got = covariance(np.zeros((0, 3)), np.zeros(0, np.int32))
    assert got.shape == (0, 0)
    with pytest.raises(ValueError):
        covariance(np.zeros((3, 2)), np.arange(3, dtype=np.int32))  # m < n
    with pytest.raises(ValueError):
        covariance(np.zeros((2, 4)), np.arange(3, dtype=np.int32))


@pytest.mark.parametrize("fill_float,fill_int", list(zip(FLOAT_SENTINELS, INT_SENTINELS * 2)))
@given(TALL, SEEDS)
def test_stays_inside_its_arrays(fill_float, fill_int, shape, seed):
    m, n = shape
    fjac, ipvt = fjac_from_qrfac(random_full_rank(np.random.default_rng(seed), m, n))
    ref = covariance(fjac, ipvt)
    fjac_p, ipvt_p = Padded(fjac, fill=fill_float), Padded(ipvt, fill=fill_int)
    got = covariance(fjac_p.view, ipvt_p.view)
    fjac_p.assert_padding_intact()
    ipvt_p.assert_padding_intact()
    assert np.all(np.isfinite(got))
    assert_bitwise_equal(got, ref, "cov")
