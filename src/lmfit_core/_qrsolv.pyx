"""qrsolv: the regularised least-squares solve of MINPACK, by Givens rotations.

Given ``A P = Q R`` and a diagonal ``D``, solves ``A x = b, D x = 0`` in the
least-squares sense, and leaves the triangular factor ``S`` of
``P^T (A^T A + D D) P = S^T S`` behind for ``lmpar``.
"""
import numpy as np

from libc.math cimport fabs, sqrt

from lmfit_core._typedefs cimport intp_t


cdef void qrsolv(intp_t n, double* r, intp_t ldr, const int* ipvt, const double* diag,
                 const double* qtb, double* x, double* sdiag, double* wa) noexcept nogil:
    # r is column-major (n x n, leading dimension ldr). Its full upper triangle
    # is read and left unchanged; its strict lower triangle receives S^T.
    cdef intp_t i, j, k, l, nsing
    cdef double cs, sn, cotan, tn, qtbpj, ssum, temp
    cdef double* rk

    # Copy R^T into the lower triangle; keep diag(R) in x and Q^T b in wa.
    for j in range(n):
        for i in range(j, n):
            r[i + j * ldr] = r[j + i * ldr]
        x[j] = r[j + j * ldr]
        wa[j] = qtb[j]

    # Eliminate the diagonal matrix D row by row with Givens rotations.
    for j in range(n):
        l = ipvt[j]
        if diag[l] != 0.0:
            for k in range(j, n):
                sdiag[k] = 0.0
            sdiag[j] = diag[l]
            # The rotations change only one element of (Q^T b, 0) past the
            # first n, which starts at zero.
            qtbpj = 0.0
            for k in range(j, n):
                if sdiag[k] == 0.0:
                    continue
                rk = r + k * ldr
                if fabs(rk[k]) < fabs(sdiag[k]):
                    cotan = rk[k] / sdiag[k]
                    sn = 0.5 / sqrt(0.25 + 0.25 * (cotan * cotan))
                    cs = sn * cotan
                else:
                    tn = sdiag[k] / rk[k]
                    cs = 0.5 / sqrt(0.25 + 0.25 * (tn * tn))
                    sn = cs * tn
                rk[k] = cs * rk[k] + sn * sdiag[k]
                temp = cs * wa[k] + sn * qtbpj
                qtbpj = -sn * wa[k] + cs * qtbpj
                wa[k] = temp
                for i in range(k + 1, n):
                    temp = cs * rk[i] + sn * sdiag[i]
                    sdiag[i] = -sn * rk[i] + cs * sdiag[i]
                    rk[i] = temp
        # Keep the diagonal of S and restore that of R.
        sdiag[j] = r[j + j * ldr]
        r[j + j * ldr] = x[j]

    # Solve S z = (Q^T b)'; a singular S gets a least-squares solution.
    nsing = n
    for j in range(n):
        if sdiag[j] == 0.0 and nsing == n:
            nsing = j
        if nsing < n:
            wa[j] = 0.0
    for k in range(nsing):
        j = nsing - 1 - k
        ssum = 0.0
        for i in range(j + 1, nsing):
            ssum += r[i + j * ldr] * wa[i]
        wa[j] = (wa[j] - ssum) / sdiag[j]

    # Undo the permutation: x = P z.
    for j in range(n):
        x[ipvt[j]] = wa[j]


def _qrsolv_memview(double[::1, :] r, const int[::1] ipvt, const double[::1] diag,
                    const double[::1] qtb):
    """Solve ``A x = b, D x = 0`` in the least-squares sense from a pivoted QR.

    Parameters
    ----------
    r : ndarray of float64, shape (n, n), Fortran order
        On input the upper triangle holds ``R`` of ``A P = Q R``. On output the
        upper triangle is unchanged and the strict lower triangle holds the
        strict upper triangle of ``S`` (transposed), where
        ``P^T (A^T A + D D) P = S^T S``.
    ipvt : ndarray of int32, shape (n,)
        The 0-based permutation of ``qrfac``: column ``j`` of ``P`` is column
        ``ipvt[j]`` of the identity.
    diag : ndarray of float64, shape (n,)
        The diagonal of ``D``.
    qtb : ndarray of float64, shape (n,)
        The first ``n`` entries of ``Q^T b``.

    Returns
    -------
    x : ndarray of float64, shape (n,)
        The least-squares solution.
    sdiag : ndarray of float64, shape (n,)
        The diagonal of ``S``.
    """
    cdef intp_t n = r.shape[0]
    if r.shape[1] != n or ipvt.shape[0] != n or diag.shape[0] != n or qtb.shape[0] != n:
        raise ValueError("r must be (n, n) and ipvt, diag, qtb of length n")
    x = np.empty(n)
    sdiag = np.empty(n)
    wa = np.empty(n)
    cdef double[::1] x_v = x, sdiag_v = sdiag, wa_v = wa
    if n == 0:
        return x, sdiag
    with nogil:
        qrsolv(n, &r[0, 0], n, &ipvt[0], &diag[0], &qtb[0], &x_v[0], &sdiag_v[0],
               &wa_v[0])
    return x, sdiag
