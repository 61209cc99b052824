"""qrfac: Householder QR factorisation with column pivoting (MINPACK).

The order of operations is MINPACK's, so that ``R``, ``ipvt`` and the Householder
vectors are bit-for-bit those of SciPy's ``leastsq`` on the same input.
"""
import numpy as np

from libc.math cimport fmax, sqrt

from lmfit_core._enorm cimport enorm
from lmfit_core._typedefs cimport intp_t

cdef extern from "float.h":
    double DBL_EPSILON


cdef void qrfac(intp_t m, intp_t n, double* a, intp_t lda, bint pivot, int* ipvt,
                double* rdiag, double* acnorm, double* wa, bint offbyone) noexcept nogil:
    # a is column-major (m x n, leading dimension lda). On return its upper
    # triangle holds R without its diagonal (which is in rdiag), and the lower
    # trapezoid the Householder vectors u_j, scaled so that u_j[j] = pi_j.
    #
    # offbyone is for parity tests only: SciPy's C translation (up to 1.17.1)
    # recomputes a downdated column norm over m - j entries instead of
    # m - j - 1, reading one element past the column. With offbyone set, the
    # recomputation adds that element (the first of the next column) as SciPy
    # does, except past the last column, where SciPy reads outside its array.
    cdef intp_t i, j, k, kmax, minmn
    cdef double ajnorm, ssum, temp
    cdef double* aj
    cdef double* ak

    for j in range(n):
        acnorm[j] = enorm(m, a + j * lda)
        rdiag[j] = acnorm[j]
        wa[j] = rdiag[j]
        if pivot:
            ipvt[j] = <int>j

    minmn = m if m < n else n
    for j in range(minmn):
        if pivot:
            # Bring the column of largest remaining norm into the pivot position.
            kmax = j
            for k in range(j, n):
                if rdiag[k] > rdiag[kmax]:
                    kmax = k
            if kmax != j:
                aj = a + j * lda
                ak = a + kmax * lda
                for i in range(m):
                    temp = aj[i]
                    aj[i] = ak[i]
                    ak[i] = temp
                rdiag[kmax] = rdiag[j]
                wa[kmax] = wa[j]
                k = ipvt[j]
                ipvt[j] = ipvt[kmax]
                ipvt[kmax] = <int>k

        # Householder transformation that maps column j to a multiple of e_j.
        aj = a + j * lda
        ajnorm = enorm(m - j, aj + j)
        if ajnorm == 0.0:
            rdiag[j] = -ajnorm
            continue
        if aj[j] < 0.0:
            ajnorm = -ajnorm
        for i in range(j, m):
            aj[i] /= ajnorm
        aj[j] += 1.0

        # Apply it to the remaining columns and downdate their norms.
        for k in range(j + 1, n):
            ak = a + k * lda
            ssum = 0.0
            for i in range(j, m):
                ssum += aj[i] * ak[i]
            temp = ssum / aj[j]
            for i in range(j, m):
                ak[i] -= temp * aj[i]
            if pivot and rdiag[k] != 0.0:
                temp = ak[j] / rdiag[k]
                rdiag[k] *= sqrt(fmax(0.0, 1.0 - temp * temp))
                temp = rdiag[k] / wa[k]
                if 0.05 * (temp * temp) <= DBL_EPSILON:
                    # Too much cancellation: recompute the norm from scratch.
                    rdiag[k] = enorm(m - j - 1 + (offbyone and k < n - 1), ak + j + 1)
                    wa[k] = rdiag[k]
        rdiag[j] = -ajnorm


def _qrfac_memview(double[::1, :] a, bint pivot=True, bint offbyone=False):
    """Householder QR of `a` with optional column pivoting, in place.

    Computes ``a[:, ipvt] = Q @ R`` with the diagonal of ``R`` of
    non-increasing magnitude when `pivot` is true, exactly as MINPACK's
    ``qrfac``.

    Parameters
    ----------
    a : ndarray of float64, shape (m, n), Fortran order
        On input the matrix to factor. On output the strict upper triangle
        holds the strict upper triangle of ``R`` and the lower trapezoid the
        Householder vectors that define ``Q``.
    pivot : bool, optional
        Whether to pivot columns (default True).
    offbyone : bool, optional
        Reproduce the column-norm recomputation of SciPy <= 1.17.1 (tests
        only; default False).

    Returns
    -------
    ipvt : ndarray of int32, shape (n,)
        0-based permutation: column ``j`` of ``a @ P`` is column ``ipvt[j]``
        of the input (identity when `pivot` is false).
    rdiag : ndarray of float64, shape (n,)
        The diagonal of ``R``.
    acnorm : ndarray of float64, shape (n,)
        Euclidean norms of the columns of the input matrix.
    """
    cdef intp_t m = a.shape[0], n = a.shape[1]
    ipvt = np.arange(n, dtype=np.int32)
    rdiag = np.empty(n)
    acnorm = np.empty(n)
    wa = np.empty(n)
    cdef int[::1] ipvt_v = ipvt
    cdef double[::1] rdiag_v = rdiag, acnorm_v = acnorm, wa_v = wa
    if n == 0:
        return ipvt, rdiag, acnorm
    with nogil:
        qrfac(m, n, &a[0, 0], m, pivot, &ipvt_v[0], &rdiag_v[0], &acnorm_v[0],
              &wa_v[0], offbyone)
    return ipvt, rdiag, acnorm
