"""The forward-difference Jacobian of MINPACK's ``fdjac2``, split in three steps.

``fdjac2`` loops over the columns, evaluating ``f(x + h_j e_j)`` in turn. The
engine instead asks its driver for the whole block of ``n`` evaluations at once
(so a vectorised driver can make them in one call): ``fdjac_steps`` gives the
steps, ``fdjac_point`` the ``j``-th point, the driver writes ``f`` at that point
into column ``j`` of ``fjac``, and ``fdjac_columns`` turns the block into
difference quotients. The numbers are those of ``fdjac2``.
"""
import numpy as np

from libc.math cimport fabs, fmax, sqrt
from libc.string cimport memcpy

from lmfit_core._typedefs cimport intp_t

cdef extern from "float.h":
    double DBL_EPSILON

cdef extern from "_simd.h" nogil:
    void lmfit_diff_quotient(intp_t n, const double* x, const double* f, double* y,
                             double d)


cdef void fdjac_steps(intp_t n, const double* x, double epsfcn, double* h) noexcept nogil:
    # h_j = sqrt(max(epsfcn, eps)) * |x_j|, or the bare factor when x_j == 0.
    cdef double eps = sqrt(fmax(epsfcn, DBL_EPSILON))
    cdef intp_t j
    for j in range(n):
        h[j] = eps * fabs(x[j])
        if h[j] == 0.0:
            h[j] = eps


cdef void fdjac_point(intp_t n, const double* x, const double* h, intp_t j,
                      double* xp) noexcept nogil:
    # xp = x + h_j e_j, rounded exactly as fdjac2 perturbs x in place.
    memcpy(xp, x, n * sizeof(double))
    xp[j] = x[j] + h[j]


cdef void fdjac_columns(intp_t m, intp_t n, const double* fvec, const double* fblock,
                        intp_t ldblock, double* fjac, intp_t ldfjac,
                        const double* h) noexcept nogil:
    # Column j of fjac = (f(x + h_j e_j) - f(x)) / h_j, where f(x + h_j e_j)
    # is column j of fblock (leading dimension ldblock): fjac itself when the
    # driver wrote the evaluations there, or where the driver holds them.
    cdef intp_t j
    for j in range(n):
        lmfit_diff_quotient(m, fvec, fblock + j * ldblock, fjac + j * ldfjac, h[j])


def _fdjac_memview(func, const double[::1] x, const double[::1] fvec, double epsfcn=0.0):
    """Forward-difference Jacobian of `func` at `x`, as MINPACK's ``fdjac2``.

    Parameters
    ----------
    func : callable
        ``func(x) -> ndarray of shape (m,)``.
    x : ndarray of float64, shape (n,)
        The point; left unchanged.
    fvec : ndarray of float64, shape (m,)
        ``func(x)``.
    epsfcn : float, optional
        Assumed relative error of `func`; the step is
        ``sqrt(max(epsfcn, eps)) * |x_j|`` (or that factor alone when
        ``x_j == 0``).

    Returns
    -------
    fjac : ndarray of float64, shape (m, n), Fortran order
        The difference quotients.
    h : ndarray of float64, shape (n,)
        The steps used.
    """
    cdef intp_t n = x.shape[0], m = fvec.shape[0], j
    fjac = np.empty((m, n), order="F")
    h = np.empty(n)
    xp = np.empty(n)
    cdef double[::1, :] fjac_v = fjac
    cdef double[::1] h_v = h, xp_v = xp
    if n == 0:
        return fjac, h
    fdjac_steps(n, &x[0], epsfcn, &h_v[0])
    for j in range(n):
        fdjac_point(n, &x[0], &h_v[0], j, &xp_v[0])
        fjac[:, j] = func(xp.copy())
    fdjac_columns(m, n, &fvec[0], &fjac_v[0, 0], m, &fjac_v[0, 0], m, &h_v[0])
    return fjac, h
