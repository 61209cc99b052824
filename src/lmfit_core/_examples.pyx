"""Compiled example models for the C-callback paths (tests and benchmarks).

``gauss_residuals``/``gauss_jacobian``: a 1-D Gaussian on a constant
background, ``p[0] * exp(-(t - p[1])**2 / (2 p[2]**2)) + p[3] - y``, with the
data in a ``curve_data_t`` passed as user data. :class:`CurveData` owns such
data and hands out the pointer as a PyCapsule, so the functions can be given to
``leastsq`` as ``scipy.LowLevelCallable.from_cython(_examples, name,
data.user_data)``. :func:`fit_gauss` runs one fit through the public Cython API.
"""
import numpy as np

cimport numpy as cnp
from cpython.pycapsule cimport PyCapsule_New
from libc.math cimport exp
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from lmfit_core.cython_lm cimport lm_result_t, lm_work_size, lmder, lmdif

cnp.import_array()


cdef inline void gauss_eval(Py_ssize_t m, const double* t, const double* y,
                            const double* p, double* fvec) noexcept nogil:
    # fvec = a exp(-(t - c)^2 / (2 w^2)) + b - y, p = (a, c, w, b).
    cdef double a = p[0], c = p[1], w = p[2], b = p[3], u
    cdef double s = -0.5 / (w * w)
    cdef Py_ssize_t i
    for i in range(m):
        u = t[i] - c
        fvec[i] = a * exp(s * u * u) + b - y[i]


cdef inline void gauss_derivatives(Py_ssize_t m, const double* t, const double* p,
                                   double* fjac, Py_ssize_t ldfjac) noexcept nogil:
    # The Jacobian of gauss_eval, column-major.
    cdef double a = p[0], c = p[1], w = p[2], u, g
    cdef double s = -0.5 / (w * w), w2 = 1.0 / (w * w)
    cdef Py_ssize_t i
    for i in range(m):
        u = t[i] - c
        g = exp(s * u * u)
        fjac[i] = g
        fjac[i + ldfjac] = a * g * u * w2
        fjac[i + 2 * ldfjac] = a * g * u * u * w2 / w
        fjac[i + 3 * ldfjac] = 1.0


cdef int gauss_residuals(Py_ssize_t m, Py_ssize_t n, const double* p, double* fvec,
                         void* udata) noexcept nogil:
    cdef curve_data_t* d = <curve_data_t*>udata
    if d.stop_at > 0:
        d.calls += 1
        if d.calls >= d.stop_at:
            return -7
    gauss_eval(m, d.t, d.y, p, fvec)
    return 0


cdef int gauss_jacobian(Py_ssize_t m, Py_ssize_t n, const double* p, double* fjac,
                        Py_ssize_t ldfjac, void* udata) noexcept nogil:
    gauss_derivatives(m, (<const curve_data_t*>udata).t, p, fjac, ldfjac)
    return 0


cdef class _ModelData:
    """What the example data classes share: the user-data pointer and m."""
    cdef void* ptr
    cdef Py_ssize_t npoints

    @property
    def m(self):
        """Number of points (residuals) of a problem."""
        return self.npoints

    @property
    def user_data(self):
        """A PyCapsule holding the address of the C struct (valid while self lives)."""
        return PyCapsule_New(self.ptr, NULL, NULL)

    @property
    def address(self):
        """The address of the C struct, as an integer."""
        return <size_t>self.ptr


cdef class CurveData(_ModelData):
    """Owns the arrays ``t`` and ``y`` of one curve and a ``curve_data_t`` over them.

    Parameters
    ----------
    t, y : array_like
        Abscissae and observations, of equal length ``m``.
    stop_at : int, optional
        If positive, ``gauss_residuals`` stops the fit (returns -7) at its
        `stop_at`-th call (for tests of callback-requested stops).
    """
    cdef curve_data_t data
    cdef readonly object t
    cdef readonly object y

    def __init__(self, t, y, Py_ssize_t stop_at=0):
        self.t = np.ascontiguousarray(t, dtype=np.float64)
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        if self.t.shape != self.y.shape or self.t.ndim != 1:
            raise ValueError("t and y must be 1-D arrays of the same length")
        cdef const double[::1] tv = self.t
        cdef const double[::1] yv = self.y
        self.data.m = tv.shape[0]
        self.data.t = &tv[0]
        self.data.y = &yv[0]
        self.data.stop_at = stop_at
        self.data.calls = 0
        self.ptr = &self.data
        self.npoints = self.data.m


def _params(p, Py_ssize_t n):
    p = np.ascontiguousarray(p, dtype=np.float64)
    if p.shape != (n,):
        raise ValueError(f"p must have {n} entries, got shape {p.shape}")
    return p


def gauss_model(p, t):
    """The Gaussian on a background, ``p[0] exp(-(t-p[1])^2/(2 p[2]^2)) + p[3]``, at `t`.

    Evaluated by the compiled model's own code (libm's ``exp``, the same
    operations), so that data made with it, and Python references built on
    it, are the same on every machine: NumPy's ``exp`` may differ from libm's
    in the last bit (it has SIMD versions), which finite differences magnify.
    """
    cdef const double[::1] pv = _params(p, 4)
    cdef const double[::1] tv = np.ascontiguousarray(t, dtype=np.float64).ravel()
    zeros = np.zeros(tv.shape[0])
    out = np.empty(tv.shape[0])
    cdef const double[::1] zv = zeros
    cdef double[::1] ov = out
    if tv.shape[0]:
        gauss_eval(tv.shape[0], &tv[0], &zv[0], &pv[0], &ov[0])
    return out


def gauss_model_jacobian(p, t):
    """The Jacobian of `gauss_model` at `p`, shape ``(t.size, 4)``, by the compiled code."""
    cdef const double[::1] pv = _params(p, 4)
    cdef const double[::1] tv = np.ascontiguousarray(t, dtype=np.float64).ravel()
    cdef Py_ssize_t m = tv.shape[0]
    jac = np.empty((4, m))
    cdef double[:, ::1] jv = jac
    if m:
        gauss_derivatives(m, &tv[0], &pv[0], &jv[0, 0], m)
    return jac.T


def fit_gauss(CurveData data, x0, bint analytic=True, double ftol=1.49012e-8,
              double xtol=1.49012e-8, double gtol=0.0, Py_ssize_t maxfev=0):
    """Fit the Gaussian to `data` through the public Cython API, without the GIL.

    The residuals and the engine's workspace are allocated (and freed) in the
    section without the GIL, so that fits from several threads hold it only
    to read their arguments and build their result.

    Returns
    -------
    x : ndarray, shape (4,)
    info, nfev, njev : int
    fnorm : float
    """
    cdef cnp.ndarray x = np.array(x0, dtype=np.float64)
    if x.ndim != 1 or x.shape[0] != 4:
        raise ValueError("x0 must have 4 entries")
    cdef double* xp = <double*>cnp.PyArray_DATA(x)
    cdef Py_ssize_t m = data.data.m
    cdef double* buf
    cdef lm_result_t res
    with nogil:
        # fvec (m) then the work array
        buf = <double*>malloc((m + lm_work_size(m, 4)) * sizeof(double))
        if buf != NULL:
            if analytic:
                lmder(gauss_residuals, gauss_jacobian, &data.data, m, 4, xp, buf,
                      ftol, xtol, gtol, maxfev, NULL, 100.0, NULL, 0, NULL, NULL,
                      buf + m, &res)
            else:
                lmdif(gauss_residuals, &data.data, m, 4, xp, buf, ftol, xtol,
                      gtol, maxfev, 0.0, NULL, 100.0, NULL, 0, NULL, NULL, buf + m,
                      &res)
            free(buf)
    if buf == NULL:
        raise MemoryError("fit_gauss: could not allocate the work arrays")
    return x, res.info, res.nfev, res.njev, res.fnorm


def fit_gauss_many(CurveData data, x0, Py_ssize_t count, bint analytic=True):
    """Run `count` fits of `fit_gauss` from `x0` in one section without the GIL.

    The loop a downstream package runs in C: from several Python threads
    these fits share nothing but the read-only data, and no thread waits for
    the GIL between fits (one Python call per fit makes every fit take and
    drop it). For benchmarks of the engine's thread scaling.

    Returns
    -------
    nfev : int
        The evaluations of all `count` fits (each fit's nfev is the same).
    """
    cdef cnp.ndarray start = np.array(x0, dtype=np.float64)
    if start.ndim != 1 or start.shape[0] != 4:
        raise ValueError("x0 must have 4 entries")
    cdef const double* sp = <const double*>cnp.PyArray_DATA(start)
    cdef Py_ssize_t m = data.data.m, i, total = 0
    cdef double x[4]
    cdef lm_result_t res
    cdef double* buf
    with nogil:
        buf = <double*>malloc((m + lm_work_size(m, 4)) * sizeof(double))
        if buf != NULL:
            for i in range(count):
                memcpy(x, sp, 4 * sizeof(double))
                if analytic:
                    lmder(gauss_residuals, gauss_jacobian, &data.data, m, 4, x, buf,
                          1.49012e-8, 1.49012e-8, 0.0, 0, NULL, 100.0, NULL, 0, NULL,
                          NULL, buf + m, &res)
                else:
                    lmdif(gauss_residuals, &data.data, m, 4, x, buf, 1.49012e-8,
                          1.49012e-8, 0.0, 0, 0.0, NULL, 100.0, NULL, 0, NULL, NULL,
                          buf + m, &res)
                total += res.nfev
            free(buf)
    if buf == NULL:
        raise MemoryError("fit_gauss_many: could not allocate the work arrays")
    return total


# -- batch models: the callbacks take the problem index k first -----------------

cdef int gauss_batch_residuals(Py_ssize_t k, Py_ssize_t m, Py_ssize_t n, const double* p,
                               double* fvec, void* udata) noexcept nogil:
    # The 1-D Gaussian on a background, against curve k of a curve_set_t.
    cdef const curve_set_t* d = <const curve_set_t*>udata
    gauss_eval(m, d.t, d.y + k * m, p, fvec)
    return 0


cdef int gauss_batch_jacobian(Py_ssize_t k, Py_ssize_t m, Py_ssize_t n, const double* p,
                              double* fjac, Py_ssize_t ldfjac, void* udata) noexcept nogil:
    gauss_derivatives(m, (<const curve_set_t*>udata).t, p, fjac, ldfjac)
    return 0


cdef inline void gauss2d_factors(const double* p, double* gx, double* gy) noexcept nogil:
    # The spot is separable, exp(s (dx^2 + dy^2)) = exp(s dx^2) exp(s dy^2):
    # five factors along x and five along y, ten exponentials instead of 25.
    cdef double x0 = p[1], y0 = p[2], w = p[3], d
    cdef double s = -0.5 / (w * w)
    cdef int c
    for c in range(5):
        d = <double>c - x0
        gx[c] = exp(s * (d * d))
        d = <double>c - y0
        gy[c] = exp(s * (d * d))


cdef inline void gauss2d_eval(Py_ssize_t m, const double* z, const double* p,
                               double* fvec) noexcept nogil:
    # p = (amplitude, x centre, y centre, width, background) on the pixel grid
    # x = i % 5, y = i // 5 of a 5 x 5 spot (m = 25): Gpufit's GAUSS_2D.
    cdef double a = p[0], b = p[4], ay
    cdef double gx[5]
    cdef double gy[5]
    cdef int r, c, i
    gauss2d_factors(p, gx, gy)
    for r in range(5):
        ay = a * gy[r]
        for c in range(5):
            i = 5 * r + c
            fvec[i] = ay * gx[c] + b - z[i]


cdef int gauss2d_batch_residuals(Py_ssize_t k, Py_ssize_t m, Py_ssize_t n, const double* p,
                                 double* fvec, void* udata) noexcept nogil:
    # The 2-D Gaussian spot against spot k of a curve_set_t (m = 25).
    gauss2d_eval(m, (<const curve_set_t*>udata).y + k * m, p, fvec)
    return 0


cdef int gauss2d_batch_jacobian(Py_ssize_t k, Py_ssize_t m, Py_ssize_t n, const double* p,
                                double* fjac, Py_ssize_t ldfjac, void* udata) noexcept nogil:
    cdef double a = p[0], x0 = p[1], y0 = p[2], w = p[3], dx, dy, g, ag
    cdef double w2 = 1.0 / (w * w)
    cdef double gx[5]
    cdef double gy[5]
    cdef int r, c, i
    gauss2d_factors(p, gx, gy)
    for r in range(5):
        dy = <double>r - y0
        for c in range(5):
            i = 5 * r + c
            dx = <double>c - x0
            g = gy[r] * gx[c]
            ag = a * g * w2
            fjac[i] = g
            fjac[i + ldfjac] = ag * dx
            fjac[i + 2 * ldfjac] = ag * dy
            fjac[i + 3 * ldfjac] = ag * (dx * dx + dy * dy) / w
            fjac[i + 4 * ldfjac] = 1.0
    return 0


cdef class CurveSet(_ModelData):
    """Owns K curves sharing abscissae (or K 5 x 5 spots) and a ``curve_set_t`` over them.

    Parameters
    ----------
    t : array_like of shape (m,), or None
        Shared abscissae (None for the 2-D Gaussian, whose grid is implicit).
    Y : array_like, shape (K, m)
        Observations, one row per problem.
    """
    cdef curve_set_t data
    cdef readonly object t
    cdef readonly object Y

    def __init__(self, t, Y):
        self.Y = np.ascontiguousarray(Y, dtype=np.float64)
        if self.Y.ndim != 2 or self.Y.shape[1] == 0:
            raise ValueError("Y must be a 2-D array (K, m) with m > 0")
        cdef const double[:, ::1] yv = self.Y
        cdef const double[::1] tv
        self.data.K = yv.shape[0]
        self.data.m = yv.shape[1]
        self.data.y = &yv[0, 0] if yv.shape[0] > 0 else NULL
        self.data.t = NULL
        if t is not None:
            self.t = np.ascontiguousarray(t, dtype=np.float64)
            if self.t.shape != (self.data.m,):
                raise ValueError("t must be 1-D with one entry per column of Y")
            tv = self.t
            self.data.t = &tv[0]
        elif self.data.m != 25:
            raise ValueError("without t, Y must hold 5 x 5 spots (m = 25)")
        self.ptr = &self.data
        self.npoints = self.data.m


def gauss2d_model(p):
    """The 5 x 5 Gaussian spot, flattened row by row: p = (a, x0, y0, w, b).

    Evaluated by the compiled model's code, as `gauss_model` is.
    """
    cdef const double[::1] pv = _params(p, 5)
    zeros = np.zeros(25)
    out = np.empty(25)
    cdef const double[::1] zv = zeros
    cdef double[::1] ov = out
    gauss2d_eval(25, &zv[0], &pv[0], &ov[0])
    return out
