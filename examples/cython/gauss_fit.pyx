"""Fit a Gaussian on a constant background with lmfit_core's Cython API.

The model, with parameters p = (a, c, w, b), is

    f(t) = a * exp(-(t - c)**2 / (2 w**2)) + b

and the residuals are f(t_i) - y_i. The residual and Jacobian callbacks are
plain C functions (``noexcept nogil``) that find the data through a ``void*``
user-data pointer, so the whole fit runs without the GIL.

    fit(t, y, x0)           one curve
    fit_many(t, Y, X0)      the rows of Y, in one nogil loop sharing one work buffer
    fit_parallel(t, Y, X0)  the rows of Y in a prange loop, each fit with its own buffers
    api_version()           LM_API_VERSION of the lmfit_core headers compiled against
"""
import numpy as np

from cython.parallel cimport prange, threadid
from libc.math cimport exp
from libc.stdlib cimport free, malloc

from lmfit_core.cython_lm cimport (LM_API_VERSION, lm_result_t, lm_work_size, lmder,
                                   lmdif)

cdef enum:
    # What the residual function returns to stop a fit early: any negative
    # int works, and lmdif/lmder return it as info.
    FIT_STOPPED = -1

STOPPED = FIT_STOPPED   # the same code, for Python


# The user data: everything the callbacks need, reached through void* udata.
# (lmfit_core's tests compare these fits bit for bit with lmfit_core._examples,
# which computes the same model with the same expressions: keep them in step.)
ctypedef struct curve_t:
    const double* t          # m abscissae
    const double* y          # m observations
    Py_ssize_t stop_after    # > 0: refuse the call after this many evaluations
    Py_ssize_t calls         # evaluations so far (counted when stop_after > 0)


cdef int residuals(Py_ssize_t m, Py_ssize_t n, const double* p, double* fvec,
                   void* udata) noexcept nogil:
    """fvec[i] = f(t_i; p) - y_i for all m points; return 0, or FIT_STOPPED."""
    cdef curve_t* d = <curve_t*>udata
    cdef double a = p[0], c = p[1], w = p[2], b = p[3], u
    cdef double s = -0.5 / (w * w)
    cdef Py_ssize_t i
    if d.stop_after > 0:
        # Stopping on a condition of your own (a time limit, a cancel flag,
        # bad parameters ...): return a negative number.
        if d.calls >= d.stop_after:
            return FIT_STOPPED
        d.calls += 1
    for i in range(m):
        u = d.t[i] - c
        fvec[i] = a * exp(s * u * u) + b - d.y[i]
    return 0


cdef int jacobian(Py_ssize_t m, Py_ssize_t n, const double* p, double* fjac,
                  Py_ssize_t ldfjac, void* udata) noexcept nogil:
    """d fvec[i] / d p[j] into fjac[i + j * ldfjac]: column-major, a column per p[j]."""
    cdef const curve_t* d = <const curve_t*>udata
    cdef double a = p[0], c = p[1], w = p[2], u, g
    cdef double s = -0.5 / (w * w), w2 = 1.0 / (w * w)
    cdef Py_ssize_t i
    for i in range(m):
        u = d.t[i] - c
        g = exp(s * u * u)
        fjac[i] = g                                      # d/da
        fjac[i + ldfjac] = a * g * u * w2                # d/dc
        fjac[i + 2 * ldfjac] = a * g * u * u * w2 / w    # d/dw
        fjac[i + 3 * ldfjac] = 1.0                       # d/db
    return 0


cdef lm_result_t fit_one(curve_t* curve, Py_ssize_t m, double* x, double* fvec,
                         double* work, bint analytic) noexcept nogil:
    """One fit from x (overwritten with the solution), with leastsq's defaults."""
    cdef lm_result_t res
    # Arguments: tolerances ftol, xtol, gtol; maxfev (0: the default); epsfcn
    # (lmdif only; 0: machine epsilon); diag (NULL: automatic scaling); factor;
    # then the optional outputs fjac/ldfjac, ipvt, qtf (NULL: not wanted, kept
    # in work); the caller's work array; and the result struct.
    if analytic:
        lmder(residuals, jacobian, curve, m, 4, x, fvec, 1.49012e-8, 1.49012e-8, 0.0,
              0, NULL, 100.0, NULL, 0, NULL, NULL, work, &res)
    else:
        lmdif(residuals, curve, m, 4, x, fvec, 1.49012e-8, 1.49012e-8, 0.0,
              0, 0.0, NULL, 100.0, NULL, 0, NULL, NULL, work, &res)
    return res


def fit(t, y, x0, bint analytic=True, Py_ssize_t stop_after=0):
    """Fit the Gaussian to (t, y) from x0 = (a, c, w, b).

    analytic selects lmder (with `jacobian`) or lmdif (finite differences).
    stop_after > 0 makes the residual function stop the fit, returning
    STOPPED, when asked for more than that many evaluations.

    Returns (x, info, nfev, njev): info is MINPACK's (1-4 converged, 5-8 not),
    or STOPPED.
    """
    cdef const double[::1] tv = np.ascontiguousarray(t, dtype=np.float64)
    cdef const double[::1] yv = np.ascontiguousarray(y, dtype=np.float64)
    cdef double[::1] x = np.array(x0, dtype=np.float64).ravel()
    cdef Py_ssize_t m = tv.shape[0]
    if yv.shape[0] != m or m < 4 or x.shape[0] != 4:
        raise ValueError("need t and y of equal length >= 4 and x0 of length 4")
    cdef double[::1] fvec = np.empty(m)
    cdef double[::1] work = np.empty(lm_work_size(m, 4))   # (NULL: lmdif allocates)
    cdef curve_t curve = curve_t(t=&tv[0], y=&yv[0], stop_after=stop_after, calls=0)
    cdef lm_result_t res
    with nogil:
        res = fit_one(&curve, m, &x[0], &fvec[0], &work[0], analytic)
    return np.asarray(x), res.info, res.nfev, res.njev


def fit_many(t, Y, X0, bint analytic=True):
    """Fit each row of Y (K curves over the same t), from the rows of X0 (K x 4, or 4).

    Returns arrays X (K x 4), info, nfev and njev (K each).
    """
    cdef const double[::1] tv = np.ascontiguousarray(t, dtype=np.float64)
    cdef const double[:, ::1] Yv = np.ascontiguousarray(Y, dtype=np.float64)
    cdef Py_ssize_t K = Yv.shape[0], m = tv.shape[0], k
    if Yv.shape[1] != m or m < 4:
        raise ValueError("need Y of shape (K, len(t)) with len(t) >= 4")
    X = np.array(np.broadcast_to(X0, (K, 4)), dtype=np.float64, order="C")   # a copy
    info = np.empty(K, dtype=np.intc)
    nfev = np.empty(K, dtype=np.intp)
    njev = np.empty(K, dtype=np.intp)
    cdef double[:, ::1] Xv = X
    cdef int[::1] infov = info
    cdef Py_ssize_t[::1] nfevv = nfev, njevv = njev
    # One residual vector and one work buffer serve every fit of this loop.
    # (Fits running in parallel each need their own: see fit_parallel.)
    cdef double[::1] fvec = np.empty(m)
    cdef double[::1] work = np.empty(lm_work_size(m, 4))
    cdef curve_t curve = curve_t(t=&tv[0], y=NULL, stop_after=0, calls=0)
    cdef lm_result_t res
    with nogil:
        for k in range(K):
            curve.y = &Yv[k, 0]
            res = fit_one(&curve, m, &Xv[k, 0], &fvec[0], &work[0], analytic)
            infov[k] = res.info
            nfevv[k] = res.nfev
            njevv[k] = res.njev
    return X, info, nfev, njev


cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int gauss_fit_openmp(void) { return 1; }
    static int gauss_fit_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int gauss_fit_openmp(void) { return 0; }
    static int gauss_fit_max_threads(void) { return 1; }
    #endif
    """
    int gauss_fit_openmp() noexcept nogil
    int gauss_fit_max_threads() noexcept nogil


def fit_parallel(t, Y, X0, bint analytic=True, int num_threads=0):
    """Fit each row of Y as fit_many does, the fits spread over OpenMP threads.

    Each fit gets its own residual vector, work buffer and user data (the
    curves' t and y are shared and only read). num_threads <= 0: OpenMP's
    default (OMP_NUM_THREADS, else one per core). Without OpenMP (a compiler
    that lacks it) the loop runs on the calling thread.

    Returns X, info, nfev and njev as fit_many does, and the OpenMP thread
    number that ran each fit.
    """
    cdef const double[::1] tv = np.ascontiguousarray(t, dtype=np.float64)
    cdef const double[:, ::1] Yv = np.ascontiguousarray(Y, dtype=np.float64)
    cdef Py_ssize_t K = Yv.shape[0], m = tv.shape[0], k
    if Yv.shape[1] != m or m < 4:
        raise ValueError("need Y of shape (K, len(t)) with len(t) >= 4")
    if num_threads <= 0:
        num_threads = gauss_fit_max_threads()
    X = np.array(np.broadcast_to(X0, (K, 4)), dtype=np.float64, order="C")   # a copy
    info = np.empty(K, dtype=np.intc)
    nfev = np.empty(K, dtype=np.intp)
    njev = np.empty(K, dtype=np.intp)
    thread = np.empty(K, dtype=np.intc)
    cdef double[:, ::1] Xv = X
    cdef int[::1] infov = info, threadv = thread
    cdef Py_ssize_t[::1] nfevv = nfev, njevv = njev
    # Per fit: residuals, work, user data and result (fits running at once
    # must not share any of them).
    cdef double[:, ::1] F = np.empty((K, m))
    cdef double[:, ::1] W = np.empty((K, lm_work_size(m, 4)))
    cdef curve_t* curves = <curve_t*>malloc(max(K, 1) * sizeof(curve_t))
    cdef lm_result_t* results = <lm_result_t*>malloc(max(K, 1) * sizeof(lm_result_t))
    if curves == NULL or results == NULL:
        free(curves)
        free(results)
        raise MemoryError()
    try:
        for k in prange(K, nogil=True, schedule="dynamic", num_threads=num_threads):
            curves[k].t = &tv[0]
            curves[k].y = &Yv[k, 0]
            curves[k].stop_after = 0
            curves[k].calls = 0
            results[k] = fit_one(&curves[k], m, &Xv[k, 0], &F[k, 0], &W[k, 0], analytic)
            infov[k] = results[k].info
            nfevv[k] = results[k].nfev
            njevv[k] = results[k].njev
            threadv[k] = threadid()
    finally:
        free(curves)
        free(results)
    return X, info, nfev, njev, thread


def openmp_enabled():
    """Whether this module was compiled with OpenMP (fit_parallel runs in parallel)."""
    return bool(gauss_fit_openmp())


def api_version():
    """LM_API_VERSION of the lmfit_core.cython_lm headers this module was built with."""
    return LM_API_VERSION
