"""qr_tall: the QR data the engine needs from a tall Jacobian, in one pass over it.

MINPACK's ``qrfac`` sweeps the whole ``m x n`` Jacobian once per column (a
norm, then a dot product and an update per remaining column), so a Jacobian
much larger than the cache is read from memory about ``n**2`` times. For tall
Jacobians (``m >> n``) the engine only needs ``R``, the pivots, the column
norms and the first ``n`` entries of ``Q^T f``. ``qr_tall`` gets them in one
pass: it reduces ``[J | f]`` row block by row block onto an ``(n+1) x (n+1)``
triangle (Householder reflections of the triangle stacked on each block, all
in cache), then factors the ``n x n`` triangle of ``J`` with MINPACK's
pivoted ``qrfac``. Column norms are invariant under orthogonal
transformations, so the pivots are those ``qrfac`` would pick on ``J`` in
exact arithmetic; results agree with the direct factorisation to rounding,
not bit for bit, which is why the engine keeps ``qrfac`` for small problems.
"""
import numpy as np

from libc.string cimport memcpy, memset

from lmfit_core._qrfac cimport qrfac
from lmfit_core._typedefs cimport intp_t

cdef extern from *:
    """
    /* Rows per block: QR_TALL_BLOCK_BYTES of [J | f] (about L1) for narrow
       matrices, at least 128 rows (an L2-sized block) for wide ones. */
    #define QR_TALL_BLOCK_BYTES 32768
    """
    intp_t QR_TALL_BLOCK_BYTES


cdef intp_t qr_tall_block_rows(intp_t n) noexcept nogil:
    cdef intp_t b = QR_TALL_BLOCK_BYTES // (8 * (n + 1))
    return b if b >= 128 else 128


cdef bint qr_tall_applies(intp_t m, intp_t n) noexcept nogil:
    """Whether the engine factors an m x n Jacobian with qr_tall.

    Only Jacobians far taller than wide with many rows, where qrfac's repeated
    sweeps cost most (measured faster from 8192 x 16 to 40000 x 200); the
    MINPACK test problems and every small or medium problem keep qrfac's
    exact order of operations.
    """
    return m >= 8192 and m >= 32 * n


cdef intp_t qr_tall_work_size(intp_t m, intp_t n) noexcept nogil:
    """Doubles of work qr_tall needs: the triangle, a block, and 2n for qrfac."""
    cdef intp_t n1 = n + 1
    return n1 * n1 + qr_tall_block_rows(n) * n1 + 2 * n


cdef extern from "_qrtall_block.h" nogil:
    # [T; W] -> [T'; 0] by Householder reflections (see the header).
    void qrtall_reduce_block(intp_t n1, intp_t b, double* T, double* W)


cdef void qr_tall(intp_t m, intp_t n, const double* a, intp_t rs, intp_t cs,
                  const double* f, double* r, intp_t ldr, int* ipvt, double* rdiag,
                  double* acnorm, double* qtf, double* work) noexcept nogil:
    """R, pivots, column norms and Q^T f of the m x n matrix a.

    Entry (i, j) of a is a[i * rs + j * cs]: column-major with rs = 1 and
    cs = the leading dimension, row-major with cs = 1.

    On return the n x n upper triangle of r (leading dimension ldr >= n)
    holds R without its diagonal (in rdiag) and the strict lower triangle the
    Householder vectors of the small pivoted factorisation, as qrfac leaves
    them; ipvt, rdiag, acnorm as from qrfac; qtf the first n entries of
    Q^T f. a and f are only read. work: qr_tall_work_size(m, n) doubles.
    """
    cdef intp_t n1 = n + 1, bmax = qr_tall_block_rows(n)
    cdef double* T = work
    cdef double* W = T + n1 * n1
    cdef double* wa = W + bmax * n1
    cdef intp_t r0, b, i, j
    cdef const double* row

    memset(T, 0, n1 * n1 * sizeof(double))
    r0 = 0
    while r0 < m:
        b = bmax if m - r0 >= bmax else m - r0
        if rs == 1:
            for j in range(n):
                memcpy(W + j * b, a + r0 + j * cs, b * sizeof(double))
        else:
            for i in range(b):
                row = a + (r0 + i) * rs
                for j in range(n):
                    W[i + j * b] = row[j * cs]
        memcpy(W + n * b, f + r0, b * sizeof(double))
        qrtall_reduce_block(n1, b, T, W)
        r0 += b

    # The triangle of J into r, then MINPACK's pivoted QR of it, which also
    # turns qtf = (Q1^T f)[:n] into Q2^T (Q1^T f)[:n].
    for j in range(n):
        for i in range(n):
            r[i + j * ldr] = T[i + j * n1] if i <= j else 0.0
        qtf[j] = T[j + n * n1]
    qrfac(n, n, r, ldr, True, ipvt, rdiag, acnorm, wa, False, qtf)


def tall(Py_ssize_t m, Py_ssize_t n):
    """Whether the engine factors m x n Jacobians with qr_tall (not qrfac)."""
    return qr_tall_applies(m, n)


def _qr_tall_memview(double[::1, :] a, double[::1] f):
    """qr_tall on a Fortran-ordered ``a`` (m, n) and ``f`` (m,) (tests).

    Returns
    -------
    r : ndarray, shape (n, n), Fortran order
        Upper triangle: R off the diagonal; lower: reflectors of the small QR.
    ipvt, rdiag, acnorm, qtf : ndarray, shape (n,)
    """
    cdef intp_t m = a.shape[0], n = a.shape[1]
    if f.shape[0] != m or n == 0 or m < n:
        raise ValueError("a must be (m, n) with m >= n >= 1 and f of length m")
    r = np.zeros((n, n), order="F")
    ipvt = np.empty(n, dtype=np.int32)
    rdiag, acnorm, qtf = np.empty(n), np.empty(n), np.empty(n)
    work = np.empty(qr_tall_work_size(m, n))
    cdef double[::1, :] rv = r
    cdef int[::1] iv = ipvt
    cdef double[::1] dv = rdiag, cv = acnorm, qv = qtf, wv = work
    with nogil:
        qr_tall(m, n, &a[0, 0], 1, m, &f[0], &rv[0, 0], n, &iv[0], &dv[0], &cv[0],
                &qv[0], &wv[0])
    return r, ipvt, rdiag, acnorm, qtf
