"""qrfac: Householder QR factorisation with column pivoting (MINPACK).

The order of operations is MINPACK's, so that ``R``, ``ipvt`` and the Householder
vectors are bit-for-bit those of SciPy's ``leastsq`` on the same input.
"""
import numpy as np

from libc.math cimport sqrt

from lmfit_core._enorm cimport LMFIT_ENORM_RDWARF, LMFIT_ENORM_RGIANT, enorm
from lmfit_core._typedefs cimport intp_t

cdef extern from "float.h":
    double DBL_EPSILON

cdef extern from "_simd.h" nogil:
    void lmfit_div(intp_t n, double* x, double d)
    void lmfit_sub_scaled(intp_t n, double t, const double* x, double* y)
    bint lmfit_unscaled(intp_t n, const double* x, double rdwarf, double agiant)
    void lmfit_sumsq_columns(intp_t m, const double* a, intp_t lda, int width,
                             double* out)


cdef inline void column_dots8(intp_t m, intp_t j, const double* u, double** cols,
                              int width, double* sums) noexcept nogil:
    # column_dots for 5 to 8 columns in one pass; missing columns read u
    # (valid memory, results dropped).
    cdef intp_t i
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, v
    cdef double s4 = 0.0, s5 = 0.0, s6 = 0.0, s7 = 0.0
    cdef const double* a0 = cols[0]
    cdef const double* a1 = cols[1]
    cdef const double* a2 = cols[2]
    cdef const double* a3 = cols[3]
    cdef const double* a4 = cols[4]
    cdef const double* a5 = <const double*>cols[5] if width > 5 else u
    cdef const double* a6 = <const double*>cols[6] if width > 6 else u
    cdef const double* a7 = <const double*>cols[7] if width > 7 else u
    for i in range(j, m):
        v = u[i]
        s0 += v * a0[i]
        s1 += v * a1[i]
        s2 += v * a2[i]
        s3 += v * a3[i]
        s4 += v * a4[i]
        s5 += v * a5[i]
        s6 += v * a6[i]
        s7 += v * a7[i]
    sums[0] = s0
    sums[1] = s1
    sums[2] = s2
    sums[3] = s3
    sums[4] = s4
    sums[5] = s5
    sums[6] = s6
    sums[7] = s7


cdef inline void column_dots(intp_t m, intp_t j, const double* u, double** cols,
                             int width, double* sums) noexcept nogil:
    # sums[c] = sum(u[i] * cols[c][i] for i in j..m-1), each in order of i;
    # the independent sums hide each other's addition latency.
    cdef intp_t i
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, v
    cdef const double* a0 = cols[0]
    cdef const double* a1 = cols[1] if width > 1 else NULL
    cdef const double* a2 = cols[2] if width > 2 else NULL
    cdef const double* a3 = cols[3] if width > 3 else NULL
    if width > 4:
        column_dots8(m, j, u, cols, width, sums)
        return
    if width == 4:
        for i in range(j, m):
            v = u[i]
            s0 += v * a0[i]
            s1 += v * a1[i]
            s2 += v * a2[i]
            s3 += v * a3[i]
    elif width == 3:
        for i in range(j, m):
            v = u[i]
            s0 += v * a0[i]
            s1 += v * a1[i]
            s2 += v * a2[i]
    elif width == 2:
        for i in range(j, m):
            v = u[i]
            s0 += v * a0[i]
            s1 += v * a1[i]
    else:
        for i in range(j, m):
            s0 += u[i] * a0[i]
    sums[0] = s0
    sums[1] = s1
    sums[2] = s2
    sums[3] = s3


cdef inline int balanced_width(intp_t count) noexcept nogil:
    # Columns per pass when `count` columns are summed in passes of at most
    # eight: as even as possible (9 as 5 + 4, not 8 + 1, whose lone chain
    # would cost as much as the eight).
    cdef intp_t passes = (count + 7) // 8
    return <int>((count + passes - 1) // passes)


cdef inline void column_norms(intp_t m, const double* a, intp_t lda, int width,
                              double* norms) noexcept nogil:
    # The enorm of `width` (1 to 8) adjacent columns. Columns whose entries
    # are all zero or in enorm's intermediate range have the square root of
    # their plain sum of squares in order as enorm; those are summed side by
    # side (independent chains hide each other's latency), the rest by enorm.
    cdef double agiant = LMFIT_ENORM_RGIANT / <double>m
    cdef double sums[8]
    cdef int c
    cdef bint plain = True
    for c in range(width):
        if not lmfit_unscaled(m, a + c * lda, LMFIT_ENORM_RDWARF, agiant):
            plain = False
            break
    if plain:
        lmfit_sumsq_columns(m, a, lda, width, sums)
        for c in range(width):
            norms[c] = sqrt(sums[c])
    else:
        for c in range(width):
            norms[c] = enorm(m, a + c * lda)


cdef inline void downdate_norm(intp_t m, intp_t n, intp_t j, intp_t k, double* ak,
                               double* rdiag, double* wa, bint offbyone) noexcept nogil:
    # MINPACK's cheap update of the norm of column k below row j, recomputed
    # from scratch when cancellation has made it unreliable.
    cdef double temp = ak[j] / rdiag[k]
    temp = 1.0 - temp * temp
    # fmax(0.0, temp) without a call (NaN gives 0.0, as fmax does)
    rdiag[k] *= sqrt(temp if temp > 0.0 else 0.0)
    temp = rdiag[k] / wa[k]
    if 0.05 * (temp * temp) <= DBL_EPSILON:
        rdiag[k] = enorm(m - j - 1 + (offbyone and k < n - 1), ak + j + 1)
        wa[k] = rdiag[k]


cdef void qrfac(intp_t m, intp_t n, double* a, intp_t lda, bint pivot, int* ipvt,
                double* rdiag, double* acnorm, double* wa, bint offbyone,
                double* b) noexcept nogil:
    # a is column-major (m x n, leading dimension lda). On return its upper
    # triangle holds R without its diagonal (which is in rdiag), and the lower
    # trapezoid the Householder vectors u_j, scaled so that u_j[j] = pi_j.
    #
    # b (m entries, or NULL) is overwritten with Q^T b: the reflections are
    # applied to it as to the columns of a, in the same pass (the engine's
    # qtf; the same operations, in the same order, as applying u_1, u_2, ...
    # afterwards, MINPACK's way).
    #
    # offbyone is for parity tests only: SciPy's C translation (up to 1.17.1)
    # recomputes a downdated column norm over m - j entries instead of
    # m - j - 1, reading one element past the column. With offbyone set, the
    # recomputation adds that element (the first of the next column) as SciPy
    # does, except past the last column, where SciPy reads outside its array.
    cdef intp_t i, j, k, kk, kmax, minmn
    cdef int width, limit
    cdef double ajnorm, temp
    cdef double sums[8]
    cdef double* cols[8]
    cdef intp_t ks[8]
    cdef bint pending_b
    cdef double* aj
    cdef double* ak

    j = 0
    while j < n:
        width = balanced_width(n - j)
        column_norms(m, a + j * lda, lda, width, acnorm + j)
        j += width
    for j in range(n):
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
        # At j = 0 the column is untouched, and its enorm is the acnorm
        # computed above (the same sum, in the same order).
        aj = a + j * lda
        ajnorm = acnorm[ipvt[0]] if j == 0 and pivot else enorm(m - j, aj + j)
        if ajnorm == 0.0:
            rdiag[j] = -ajnorm
            continue
        if aj[j] < 0.0:
            ajnorm = -ajnorm
        lmfit_div(m - j, aj + j, ajnorm)
        aj[j] += 1.0

        # Apply it to the remaining columns (and b) and downdate their norms.
        # The dot products of up to eight columns with u_j are formed in one
        # pass, each summed in MINPACK's order, so the results are bit-for-bit
        # MINPACK's while the independent sums hide each other's latency.
        k = j + 1
        pending_b = b != NULL
        while k < n or pending_b:
            width = 0
            limit = balanced_width(n - k + pending_b)
            while width < limit and k < n:
                cols[width] = a + k * lda
                ks[width] = k
                width += 1
                k += 1
            if width < limit and pending_b:
                cols[width] = b
                ks[width] = -1
                width += 1
                pending_b = False
            column_dots(m, j, aj, cols, width, sums)
            # The columns are independent: all their updates, then all the
            # downdates, so that the latencies of one column's divisions and
            # square root overlap the next column's. SciPy's recomputation
            # (offbyone) reads the next column, so there each column is
            # downdated right after its update, as SciPy goes.
            for kk in range(width):
                sums[kk] = sums[kk] / aj[j]
            for kk in range(width):
                lmfit_sub_scaled(m - j, sums[kk], aj + j, cols[kk] + j)
                if offbyone and ks[kk] >= 0 and pivot and rdiag[ks[kk]] != 0.0:
                    downdate_norm(m, n, j, ks[kk], cols[kk], rdiag, wa, True)
            if pivot and not offbyone:
                for kk in range(width):
                    if ks[kk] >= 0 and rdiag[ks[kk]] != 0.0:
                        downdate_norm(m, n, j, ks[kk], cols[kk], rdiag, wa, False)
        rdiag[j] = -ajnorm


def _qrfac_memview(double[::1, :] a, bint pivot=True, bint offbyone=False,
                   double[::1] b=None):
    """Householder QR of `a` with optional column pivoting, in place.

    Computes ``a[:, ipvt] = Q @ R`` with the diagonal of ``R`` of
    non-increasing magnitude when `pivot` is true, exactly as MINPACK's
    ``qrfac``; optionally overwrites `b` with ``Q^T b`` as ``lmdif`` forms
    ``qtf``.

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
    b : ndarray of float64, shape (m,), optional
        Contiguous vector, overwritten with ``Q^T b``: the reflections
        ``Q_0, Q_1, ...`` applied in turn, with the operations (in the same
        order) of MINPACK's ``lmdif`` when it forms ``qtf`` after ``qrfac``.
        Default None: no right-hand side.

    Returns
    -------
    ipvt : ndarray of int32, shape (n,)
        0-based permutation: column ``j`` of ``a @ P`` is column ``ipvt[j]``
        of the input (identity when `pivot` is false).
    rdiag : ndarray of float64, shape (n,)
        The diagonal of ``R``.
    acnorm : ndarray of float64, shape (n,)
        Euclidean norms of the columns of the input matrix.

    Raises
    ------
    ValueError
        If `b` is given and its length is not ``m``.
    """
    cdef intp_t m = a.shape[0], n = a.shape[1]
    cdef double* b_ptr = NULL
    if b is not None:
        if b.shape[0] != m:
            raise ValueError(f"b must have length m = {m}, not {b.shape[0]}")
        if m > 0:
            b_ptr = &b[0]
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
              &wa_v[0], offbyone, b_ptr)
    return ipvt, rdiag, acnorm
