"""qr_tall: the QR data the engine needs from a tall Jacobian, in one pass over it.

MINPACK's ``qrfac`` sweeps the whole ``m x n`` Jacobian once per column (a
norm, then a dot product and an update per remaining column), so a Jacobian
much larger than the cache is read from memory about ``n**2`` times. For tall
Jacobians (``m >> n``) the engine only needs ``R``, the pivots, the column
norms and the first ``n`` entries of ``Q^T f``. ``qr_tall`` gets them in one
pass: it reduces ``[J | f]`` row block by row block onto an ``(n+1) x (n+1)``
triangle (Householder reflections of the triangle stacked on each block, all
in cache; eight columns at a time, their reflectors applied to the columns
on the right as two register-tiled matrix products, see ``_qrtall_block.h``),
then factors the ``n x n`` triangle of ``J`` with MINPACK's pivoted
``qrfac``. Column norms are invariant under orthogonal
transformations, so the pivots are those ``qrfac`` would pick on ``J`` in
exact arithmetic; results agree with the direct factorisation to rounding,
not bit for bit, which is why the engine keeps ``qrfac`` for small problems.
"""
import numpy as np

from libc.stdint cimport uint64_t
from libc.string cimport memset

from lmfit_core._qrfac cimport qrfac
from lmfit_core._typedefs cimport intp_t

cdef extern from *:
    """
    /* Rows per block: QR_TALL_BLOCK_BYTES of the padded [J | f] (about L1)
       for narrow matrices, at least 256 rows for wide ones (the block then
       sits in L2, and the eight-row vectors of the panel step run long). */
    #define QR_TALL_BLOCK_BYTES 32768
    #define QR_TALL_MIN_ROWS 256
    /* Columns of the block QR_TALL_LD_PAD rows apart beyond its rows: a
       power-of-two stride would put the panel's columns in the same cache
       sets. */
    #define QR_TALL_LD_PAD 8
    """
    intp_t QR_TALL_BLOCK_BYTES
    intp_t QR_TALL_MIN_ROWS
    intp_t QR_TALL_LD_PAD


cdef extern from "_qrtall_block.h" nogil:
    intp_t QRTALL_NB
    # [R; W] -> [R'; 0] by Householder reflections (see the header).
    int qrtall_isa_limit
    int qrtall_cpu_level()
    void qrtall_load_block(intp_t n, intp_t r0, intp_t b, intp_t bp, intp_t ldw,
                           const double* a,
                           intp_t rs, intp_t cs, const double* f, double* W,
                           uint64_t* wmax)
    void qrtall_reduce_block(intp_t n1, intp_t n1p, intp_t bp, intp_t ldw, double* R,
                             double* W,
                             const uint64_t* wmax, double* work)


cdef inline intp_t _padded(intp_t k) noexcept nogil:
    """k rounded up to a multiple of the panel width (and of the vector length)."""
    return (k + QRTALL_NB - 1) // QRTALL_NB * QRTALL_NB


cdef intp_t qr_tall_block_rows(intp_t n) noexcept nogil:
    cdef intp_t b = QR_TALL_BLOCK_BYTES // (8 * _padded(n + 1)) // QRTALL_NB * QRTALL_NB
    return b if b >= QR_TALL_MIN_ROWS else QR_TALL_MIN_ROWS


cdef bint qr_tall_applies(intp_t m, intp_t n) noexcept nogil:
    """Whether the engine factors an m x n Jacobian with qr_tall.

    Only Jacobians far taller than wide with many rows, where qrfac's repeated
    sweeps cost most (measured faster from 8192 x 16 to 40000 x 200); the
    MINPACK test problems and every small or medium problem keep qrfac's
    exact order of operations.
    """
    return m >= 8192 and m >= 32 * n


cdef intp_t qr_tall_work_size(intp_t m, intp_t n) noexcept nogil:
    """Doubles of work qr_tall needs: the padded triangle and block, the block
    step's work, 2n for qrfac and n1p column maxima (64-bit integers)."""
    cdef intp_t n1p = _padded(n + 1)
    return (n1p * n1p + (qr_tall_block_rows(n) + QR_TALL_LD_PAD) * n1p
            + (QRTALL_NB + 2) * n1p + 2 * n)


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
    # [J | f] goes through the block step b rows at a time, padded with zero
    # rows to bp and with zero columns to n1p (zeros change no reflector).
    cdef intp_t n1 = n + 1, n1p = _padded(n + 1), bp = qr_tall_block_rows(n)
    cdef intp_t ldw = bp + QR_TALL_LD_PAD
    cdef double* T = work
    cdef double* W = T + n1p * n1p
    cdef double* wblock = W + ldw * n1p
    cdef double* wa = wblock + (QRTALL_NB + 1) * n1p
    cdef uint64_t* wmax = <uint64_t*>(wa + 2 * n)
    cdef intp_t r0, b, i, j

    memset(T, 0, n1p * n1p * sizeof(double))
    memset(W, 0, ldw * n1p * sizeof(double))
    r0 = 0
    while r0 < m:
        b = bp if m - r0 >= bp else m - r0
        qrtall_load_block(n, r0, b, bp, ldw, a, rs, cs, f, W, wmax)
        qrtall_reduce_block(n1, n1p, bp, ldw, T, W, wmax, wblock)
        r0 += b

    # The triangle of J into r, then MINPACK's pivoted QR of it, which also
    # turns qtf = (Q1^T f)[:n] into Q2^T (Q1^T f)[:n].
    for j in range(n):
        for i in range(n):
            r[i + j * ldr] = T[i + j * n1p] if i <= j else 0.0
        qtf[j] = T[j + n * n1p]
    qrfac(n, n, r, ldr, True, ipvt, rdiag, acnorm, wa, False, qtf)


def tall(Py_ssize_t m, Py_ssize_t n):
    """Whether the engine factors m x n Jacobians with qr_tall (not qrfac)."""
    return qr_tall_applies(m, n)


def _panel_versions():
    """The panel step's versions this CPU runs, widest first: 4 (AVX-512), 3
    (AVX2), 0 (baseline) (tests)."""
    return [v for v in (4, 3) if v <= qrtall_cpu_level()] + [0]


def _limit_panel_version(int level):
    """Use no wider panel version than ``level`` (tests; not thread-safe)."""
    global qrtall_isa_limit
    qrtall_isa_limit = level


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
