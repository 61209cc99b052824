"""Helpers shared by the kernel tests (test_enorm.py ... test_covar.py).

* MINPACK's QR in dense form: ``R`` from ``qrfac``'s output, ``Q`` rebuilt from
  its Householder vectors, ``Q^T b`` by applying the reflectors.
* Dense references for the regularised least-squares problems of ``qrsolv``
  and ``lmpar``, with the forward-error bound that sets their tolerances.
* Arrays that sit in the middle of a larger buffer filled with a sentinel, to
  catch kernels that read or write outside their arrays.
"""
from collections import namedtuple

import numpy as np

from lmfit_core._qrfac import _qrfac_memview

EPS = np.finfo(float).eps

# Values that poison a result if a kernel reads them: NaN propagates, a huge
# value dominates any norm or pivot choice, and a plain value changes sums.
FLOAT_SENTINELS = (np.nan, 1e300, -7.25)
INT_SENTINELS = (2**30, -(2**30))


# --------------------------------------------------------------------------
# Padded buffers
# --------------------------------------------------------------------------
class Padded:
    """A contiguous array in the middle of a sentinel-filled buffer.

    ``Padded(arr, order="F")`` copies `arr` into ``self.view``, which is C- or
    F-contiguous (as `order` asks) and is bordered by `pad` elements of `fill`
    on both sides within ``self.buf``.
    """

    def __init__(self, arr, order="C", pad=17, fill=np.nan):
        arr = np.asarray(arr)
        self.pad = pad
        self.size = arr.size
        self.fill = fill
        self.buf = np.full(2 * pad + arr.size, fill, dtype=arr.dtype)
        flat = self.buf[pad:pad + arr.size]
        if arr.ndim == 2 and order == "F":
            view = flat.reshape(arr.shape[::-1]).T
            assert view.flags.f_contiguous
        else:
            view = flat.reshape(arr.shape)
            assert view.flags.c_contiguous
        view[...] = arr
        assert np.shares_memory(view, self.buf)
        self.view = view

    def assert_padding_intact(self):
        before = self.buf[:self.pad]
        after = self.buf[self.pad + self.size:]
        expected = np.full(self.pad, self.fill, dtype=self.buf.dtype)
        equal_nan = self.buf.dtype.kind == "f"
        assert np.array_equal(before, expected, equal_nan=equal_nan), \
            "kernel wrote before the start of its array"
        assert np.array_equal(after, expected, equal_nan=equal_nan), \
            "kernel wrote past the end of its array"


def assert_bitwise_equal(got, expected, name=""):
    """Same shape and bit pattern (so NaN == NaN and -0.0 != 0.0)."""
    got = np.asarray(got)
    expected = np.asarray(expected)
    assert got.shape == expected.shape, (name, got.shape, expected.shape)
    assert got.dtype == expected.dtype, (name, got.dtype, expected.dtype)
    assert got.tobytes() == expected.tobytes(), \
        f"{name}: not bit-for-bit equal\n got={got!r}\n expected={expected!r}"


# --------------------------------------------------------------------------
# MINPACK's QR in dense form
# --------------------------------------------------------------------------
QR = namedtuple("QR", "a ipvt rdiag acnorm R Q")


def r_from_qrfac(a_out, rdiag):
    """The k x n upper-trapezoidal R (k = min(m, n)) left by qrfac."""
    m, n = a_out.shape
    k = min(m, n)
    r = np.triu(a_out[:k, :])
    r[np.arange(k), np.arange(k)] = rdiag[:k]
    return r


def householder_reflectors(a_out):
    """The Householder vectors u_j (length m, zero above j) of qrfac's output.

    MINPACK stores u_j in ``a[j:, j]`` scaled so that ``u_j[j] = pi_j`` and
    ``Q_j = I - u_j u_j^T / pi_j``; ``pi_j == 0`` (a zero column) means no
    reflection at step j.
    """
    m, n = a_out.shape
    out = []
    for j in range(min(m, n)):
        u = np.zeros(m)
        u[j:] = a_out[j:, j]
        out.append(u)
    return out


def apply_qt(a_out, b):
    """Q^T b = Q_{k-1} ... Q_1 Q_0 b, as lmdif forms qtf."""
    y = np.array(b, dtype=float)
    for j, u in enumerate(householder_reflectors(a_out)):
        if u[j] != 0.0:
            y -= u * (u @ y / u[j])
    return y


def q_from_qrfac(a_out):
    """The full m x m orthogonal Q = Q_0 Q_1 ... Q_{k-1}."""
    m = a_out.shape[0]
    q = np.eye(m)
    for j, u in enumerate(householder_reflectors(a_out)):
        if u[j] != 0.0:
            q -= np.outer(q @ u, u / u[j])
    return q


def factor(a, pivot=True, offbyone=False):
    """Run qrfac on a Fortran copy of `a`; return the factors in dense form."""
    work = np.asfortranarray(np.array(a, dtype=float))
    ipvt, rdiag, acnorm = _qrfac_memview(work, pivot=pivot, offbyone=offbyone)
    return QR(work, ipvt, rdiag, acnorm, r_from_qrfac(work, rdiag), q_from_qrfac(work))


def r_fortran(qr):
    """The n x n R of a factorisation (m >= n), as a fresh Fortran array."""
    n = qr.a.shape[1]
    return np.asfortranarray(qr.R[:n, :n].copy())


def qr_problem(a, b):
    """Factor `a` with qrfac (pivoting) and form qtb = (Q^T b)[:n], as lmdif does.

    Returns ``(qr, qtb)``; ``r_fortran(qr)`` gives a fresh R for a kernel call.
    """
    qr = factor(a)
    return qr, apply_qt(qr.a, b)[:a.shape[1]]


def s_from_qrsolv(r_out, sdiag):
    """The upper-triangular S whose transpose qrsolv leaves below r's diagonal."""
    s = np.triu(np.asarray(r_out).T, 1)
    s[np.diag_indices_from(s)] = sdiag
    return s


# --------------------------------------------------------------------------
# Dense least-squares references
# --------------------------------------------------------------------------
def stacked_lstsq(a, b, d):
    """Reference for [A; D] x ~ [b; 0] (D = diag(d)), in column-scaled form.

    Returns ``(x, colnorms, tol)``: the solution, the column norms c of the
    stacked matrix, and a bound on ``||c * (x_got - x)||``.

    Both kernels involved (Householder QR, Givens rotations) are columnwise
    backward stable, so their forward error is governed by the condition of
    the column-equilibrated matrix [A; D] / c, not of [A; D]: badly scaled
    columns cost nothing. The reference is solved in that scaled form too.
    """
    m, n = a.shape
    big = np.vstack([a, np.diag(d)])
    rhs = np.concatenate([b, np.zeros(n)])
    c = np.linalg.norm(big, axis=0)
    assert np.all(c > 0), "stacked matrix has a zero column"
    y = np.linalg.lstsq(big / c, rhs, rcond=None)[0]
    return y / c, c, lstsq_tolerance(big / c, rhs, y)


def lstsq_tolerance(big, rhs, x, factor=100.0):
    """Forward-error bound for a backward-stable least-squares solve.

    Perturbation theory (Higham, Thm 20.1) bounds the relative error of x by
    about eps * (kappa + kappa**2 * ||r|| / (||A|| ||x||)); two stable solvers
    (Givens in qrsolv, SVD in lstsq) each stay within a modest multiple.
    Returns an absolute tolerance on ||x_got - x_ref||.
    """
    sv = np.linalg.svd(big, compute_uv=False)
    kappa = sv[0] / sv[-1]
    resid = np.linalg.norm(big @ x - rhs)
    # eps * (kappa ||x|| + kappa**2 ||r|| / ||A||), plus a floor for x ~ 0.
    err = EPS * (kappa * np.linalg.norm(x) + kappa**2 * resid / sv[0])
    return factor * (err + EPS * np.linalg.norm(rhs) / sv[0])


# --------------------------------------------------------------------------
# Random test matrices
# --------------------------------------------------------------------------
def random_full_rank(rng, m, n):
    return rng.standard_normal((m, n))


def random_low_rank(rng, m, n, rank):
    """Product of thin factors: exactly rank-`rank` up to rounding."""
    return rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n))


def random_badly_scaled(rng, m, n, lo=-8.0, hi=8.0):
    """Gaussian matrix with column scales 10**U(lo, hi); returns (A, scales)."""
    scales = 10.0 ** rng.uniform(lo, hi, n)
    return rng.standard_normal((m, n)) * scales, scales
