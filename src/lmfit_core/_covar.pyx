"""cov_x from the final QR factors, computed as SciPy's ``leastsq`` does.

SciPy inverts ``R`` (LAPACK ``trtri``), permutes its rows back with ``ipvt``
and returns ``R^-1 R^-T``; it returns None when ``R`` has an exact zero on its
diagonal. This module does the same without LAPACK, so that SciPy stays out of
the runtime dependencies.
"""
import numpy as np

cimport numpy as cnp

from lmfit_core._typedefs cimport intp_t

cnp.import_array()


cdef int invert_upper(intp_t n, const double* r, intp_t ldr, double* inv) noexcept nogil:
    # inv (row-major n x n) = R^-1 for the upper triangle of the column-major r.
    # Returns j + 1 when R[j, j] == 0 (LAPACK's info), else 0.
    cdef intp_t i, j, k
    cdef double ssum
    for j in range(n):
        if r[j + j * ldr] == 0.0:
            return <int>(j + 1)
    for j in range(n):
        for i in range(n):
            inv[i * n + j] = 0.0
        inv[j * n + j] = 1.0 / r[j + j * ldr]
        for i in range(j - 1, -1, -1):
            ssum = 0.0
            for k in range(i + 1, j + 1):
                ssum += r[i + k * ldr] * inv[k * n + j]
            inv[i * n + j] = -ssum / r[i + i * ldr]
    return 0


def covariance(cnp.ndarray fjac, cnp.ndarray ipvt):
    """The ``cov_x`` of ``leastsq``: ``(J^T J)^-1`` from the final ``R`` and ``ipvt``.

    Parameters
    ----------
    fjac : ndarray of float64, shape (n, m), C-contiguous
        ``infodict['fjac']``: the transpose of the column-major ``m x n``
        factor whose upper triangle is ``R``.
    ipvt : ndarray of int32, shape (n,), contiguous
        0-based column permutation of the factorisation.

    Returns
    -------
    ndarray of float64, shape (n, n), or None
        ``P R^-1 R^-T P^T``, or None when ``R`` is exactly singular.

    Raises
    ------
    TypeError
        If `fjac` or `ipvt` is not a contiguous array of that type.
    ValueError
        If the shapes do not match.
    """
    # Pointers, not memoryviews, and the GIL kept: for the small n of most
    # fits, acquiring buffers and releasing the GIL cost more than the work.
    if not (cnp.PyArray_TYPE(fjac) == cnp.NPY_DOUBLE and cnp.PyArray_NDIM(fjac) == 2
            and cnp.PyArray_IS_C_CONTIGUOUS(fjac)):
        raise TypeError("fjac must be a C-contiguous float64 array of shape (n, m)")
    if not (cnp.PyArray_TYPE(ipvt) == cnp.NPY_INT32 and cnp.PyArray_NDIM(ipvt) == 1
            and cnp.PyArray_IS_C_CONTIGUOUS(ipvt)):
        raise TypeError("ipvt must be a contiguous int32 array of shape (n,)")
    cdef intp_t n = cnp.PyArray_DIMS(ipvt)[0], m = cnp.PyArray_DIMS(fjac)[1]
    if cnp.PyArray_DIMS(fjac)[0] != n or m < n:
        raise ValueError("fjac must have shape (n, m) with m >= n")
    cdef cnp.npy_intp dims[2]
    dims[0] = dims[1] = n
    cdef cnp.ndarray cov = cnp.PyArray_EMPTY(2, dims, cnp.NPY_DOUBLE, 0)
    if n == 0:
        return cov
    cdef double small[64]
    cdef double* inv = small
    cdef int info
    cdef cnp.ndarray scratch
    cdef const double* r = <const double*>cnp.PyArray_DATA(fjac)
    cdef const int* perm = <const int*>cnp.PyArray_DATA(ipvt)
    cdef double* out = <double*>cnp.PyArray_DATA(cov)
    if n * n > 64:
        scratch = np.empty(n * n)
        inv = <double*>cnp.PyArray_DATA(scratch)
        with nogil:
            info = covariance_into(n, r, m, perm, inv, out)
    else:
        info = covariance_into(n, r, m, perm, inv, out)
    if info != 0:
        return None
    return cov


cdef int covariance_into(intp_t n, const double* r, intp_t ldr, const int* ipvt,
                         double* inv, double* cov) noexcept nogil:
    # cov (row-major n x n) = P R^-1 R^-T P^T, the nogil form of covariance()
    # for batches; inv is n*n scratch. Returns LAPACK's info (nonzero when R
    # is exactly singular, and then cov is left untouched).
    cdef intp_t a, b, k
    cdef double ssum
    cdef int info = invert_upper(n, r, ldr, inv)
    if info != 0:
        return info
    # Row ipvt[i] of P R^-1 is row i of R^-1.
    for a in range(n):
        for b in range(a + 1):
            ssum = 0.0
            for k in range(n):
                ssum += inv[a * n + k] * inv[b * n + k]
            cov[ipvt[a] * n + ipvt[b]] = ssum
            cov[ipvt[b] * n + ipvt[a]] = ssum
    return 0
