"""lmpar: the Levenberg-Marquardt parameter for a trust-region radius (MINPACK).

Finds ``par >= 0`` such that the solution ``x`` of ``A x = b,
sqrt(par) D x = 0`` has ``||D x||`` within 10% of ``delta`` (or ``par = 0``
when the Gauss-Newton step is already inside the region), by MINPACK's
safeguarded Newton iteration on ``phi(par) = ||D x(par)|| - delta``.
"""
import numpy as np

from libc.math cimport fabs, fmax, fmin, sqrt

from lmfit_core._enorm cimport enorm
from lmfit_core._qrsolv cimport qrsolv
from lmfit_core._typedefs cimport intp_t

cdef extern from "float.h":
    double DBL_MIN


cdef void lmpar(intp_t n, double* r, intp_t ldr, const int* ipvt, const double* diag,
                const double* qtb, double delta, double* par, double* x, double* sdiag,
                double* wa1, double* wa2) noexcept nogil:
    cdef intp_t i, it, j, k, l, nsing
    cdef double dxnorm, fp, gnorm, parc, parl, paru, ssum, temp
    cdef double dwarf = DBL_MIN

    # Gauss-Newton direction; a least-squares solution when R is singular.
    nsing = n
    for j in range(n):
        wa1[j] = qtb[j]
        if r[j + j * ldr] == 0.0 and nsing == n:
            nsing = j
        if nsing < n:
            wa1[j] = 0.0
    for k in range(nsing):
        j = nsing - 1 - k
        wa1[j] /= r[j + j * ldr]
        temp = wa1[j]
        for i in range(j):
            wa1[i] -= r[i + j * ldr] * temp
    for j in range(n):
        x[ipvt[j]] = wa1[j]

    # Accept the Gauss-Newton step if it lies (nearly) inside the region.
    for j in range(n):
        wa2[j] = diag[j] * x[j]
    dxnorm = enorm(n, wa2)
    fp = dxnorm - delta
    if fp <= 0.1 * delta:
        par[0] = 0.0
        return

    # Lower bound parl from the Newton step (zero if R is rank deficient).
    parl = 0.0
    if nsing == n:
        for j in range(n):
            l = ipvt[j]
            wa1[j] = diag[l] * (wa2[l] / dxnorm)
        for j in range(n):
            ssum = 0.0
            for i in range(j):
                ssum += r[i + j * ldr] * wa1[i]
            wa1[j] = (wa1[j] - ssum) / r[j + j * ldr]
        temp = enorm(n, wa1)
        parl = ((fp / delta) / temp) / temp

    # Upper bound paru from the scaled gradient.
    for j in range(n):
        ssum = 0.0
        for i in range(j + 1):
            ssum += r[i + j * ldr] * qtb[i]
        wa1[j] = ssum / diag[ipvt[j]]
    gnorm = enorm(n, wa1)
    paru = gnorm / delta
    if paru == 0.0:
        paru = dwarf / fmin(delta, 0.1)

    # Start from the input par, clamped to [parl, paru].
    par[0] = fmin(fmax(par[0], parl), paru)
    if par[0] == 0.0:
        par[0] = gnorm / dxnorm

    it = 0
    while True:
        it += 1
        if par[0] == 0.0:
            par[0] = fmax(dwarf, 0.001 * paru)
        temp = sqrt(par[0])
        for j in range(n):
            wa1[j] = temp * diag[j]
        qrsolv(n, r, ldr, ipvt, wa1, qtb, x, sdiag, wa2)
        for j in range(n):
            wa2[j] = diag[j] * x[j]
        dxnorm = enorm(n, wa2)
        temp = fp
        fp = dxnorm - delta

        # Done when ||D x|| is within 10% of delta, or in the exceptional case
        # parl == 0 with phi negative and not increasing, or after 10 steps.
        if fabs(fp) <= 0.1 * delta or (parl == 0.0 and fp <= temp and temp < 0.0) \
                or it == 10:
            return

        # Newton correction.
        for j in range(n):
            l = ipvt[j]
            wa1[j] = diag[l] * (wa2[l] / dxnorm)
        for j in range(n):
            wa1[j] /= sdiag[j]
            temp = wa1[j]
            for i in range(j + 1, n):
                wa1[i] -= r[i + j * ldr] * temp
        temp = enorm(n, wa1)
        parc = ((fp / delta) / temp) / temp

        if fp > 0.0:
            parl = fmax(parl, par[0])
        if fp < 0.0:
            paru = fmin(paru, par[0])
        par[0] = fmax(parl, par[0] + parc)


def _lmpar_memview(double[::1, :] r, const int[::1] ipvt, const double[::1] diag,
                   const double[::1] qtb, double delta, double par=0.0):
    """Levenberg-Marquardt parameter for the trust region ``||D x|| <= delta``.

    Parameters
    ----------
    r : ndarray of float64, shape (n, n), Fortran order
        On input the upper triangle holds ``R`` of ``A P = Q R`` (from
        ``qrfac``). On output the upper triangle is unchanged and the strict
        lower triangle holds ``S^T`` as left by ``qrsolv``.
    ipvt : ndarray of int32, shape (n,)
        0-based column permutation of the factorisation.
    diag : ndarray of float64, shape (n,)
        Positive diagonal of the scaling matrix ``D``.
    qtb : ndarray of float64, shape (n,)
        The first ``n`` entries of ``Q^T b``.
    delta : float
        Trust-region radius, positive.
    par : float, optional
        Initial estimate of the parameter (default 0).

    Returns
    -------
    par : float
        The parameter: zero if the Gauss-Newton step satisfies
        ``||D x|| <= 1.1 delta``, otherwise positive with
        ``| ||D x|| - delta | <= 0.1 delta`` (unless 10 iterations ran out).
    x : ndarray of float64, shape (n,)
        Solution of ``A x = b, sqrt(par) D x = 0`` in the least-squares sense.
    sdiag : ndarray of float64, shape (n,)
        Diagonal of ``S`` (undefined when ``par`` is returned as 0 at once).
    """
    cdef intp_t n = r.shape[0]
    if r.shape[1] != n or ipvt.shape[0] != n or diag.shape[0] != n or qtb.shape[0] != n:
        raise ValueError("r must be (n, n) and ipvt, diag, qtb of length n")
    x = np.empty(n)
    sdiag = np.zeros(n)
    wa1 = np.empty(n)
    wa2 = np.empty(n)
    cdef double[::1] x_v = x, sdiag_v = sdiag, wa1_v = wa1, wa2_v = wa2
    cdef double p = par
    if n == 0:
        return p, x, sdiag
    with nogil:
        lmpar(n, &r[0, 0], n, &ipvt[0], &diag[0], &qtb[0], delta, &p, &x_v[0],
              &sdiag_v[0], &wa1_v[0], &wa2_v[0])
    return p, x, sdiag
