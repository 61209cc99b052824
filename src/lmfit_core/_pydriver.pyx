"""The Python-callback driver: answers the engine's requests by calling ``func``/``Dfun``.

It holds the GIL while it calls Python and releases it while the engine works
on large problems. All state of a fit lives in a stack-allocated
``lm_state_t`` and in NumPy arrays, so an exception raised by a callback simply
propagates: the fit is abandoned, nothing leaks, and other fits (in other
threads, or nested inside ``func``) are unaffected.
"""
import numpy as np

cimport numpy as cnp
from libc.math cimport isfinite
from libc.string cimport memcpy

from lmfit_core._engine cimport (LM_DONE, LM_ERR_F0_NONFINITE, LM_ERR_JAC_NONFINITE,
                                 LM_EVAL_F, LM_EVAL_FD, LM_EVAL_JAC, lm_advance, lm_fd_point, lm_init, lm_state_t,
                                 lm_work_size)
from lmfit_core._typedefs cimport intp_t

cnp.import_array()

# The engine's error codes, for the Python layer.
ERR_F0_NONFINITE = LM_ERR_F0_NONFINITE
ERR_JAC_NONFINITE = LM_ERR_JAC_NONFINITE

# Release the GIL around the engine's own work only when that work outweighs
# the cost of releasing it (m * n counts the entries of the Jacobian).
cdef enum:
    NOGIL_MIN_SIZE = 4096


cdef str _callable_name(object f, str argname):
    name = getattr(f, "__name__", None)
    return f"{argname} ({name!r})" if name else argname


def real_array(object value, str what, type error=TypeError):
    """`value` as an ndarray of real numbers (bool, integer or float), else `error`.

    Complex values are refused, never truncated to their real part. The array
    keeps its dtype (the caller may need it); `what` names the value in the
    message.
    """
    try:
        arr = np.asarray(value)
    except Exception as exc:
        raise error(f"leastsq: {what} must be an array of real numbers, got "
                    f"{type(value).__name__}") from exc
    if arr.dtype.kind == "c":
        raise error(f"leastsq: {what} must be real, got complex values")
    if arr.dtype.kind not in "biuf":
        raise error(f"leastsq: {what} must be an array of real numbers, got an "
                    f"array of dtype {arr.dtype}")
    return arr


cdef int store_residuals(object res, double* out, intp_t m, object func) except -1:
    """Copy the residuals returned by func into out[0:m], checking their count."""
    # cnp.ndarray is the type object itself (np.ndarray would be a module
    # attribute lookup at every call).
    if (type(res) is cnp.ndarray
            and cnp.PyArray_TYPE(<cnp.ndarray>res) == cnp.NPY_DOUBLE
            and cnp.PyArray_NDIM(<cnp.ndarray>res) == 1
            and cnp.PyArray_DIMS(<cnp.ndarray>res)[0] == m
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>res)):
        memcpy(out, cnp.PyArray_DATA(<cnp.ndarray>res), m * sizeof(double))
        return 0
    what = _callable_name(func, "func")
    arr = np.ascontiguousarray(real_array(res, f"the residuals of {what}"),
                               dtype=np.float64)
    if arr.ndim > 1:
        raise TypeError(f"leastsq: {what} must return a 1-D array of M residuals, "
                        f"got an array of shape {arr.shape}")
    if arr.size != m:
        raise ValueError(f"leastsq: {what} returned {arr.size} residuals where it "
                         f"returned M={m} at x0; the number of residuals must not "
                         "change during the fit")
    memcpy(out, cnp.PyArray_DATA(<cnp.ndarray>arr), m * sizeof(double))
    return 0


cdef object checked_jacobian(object res, intp_t m, intp_t n, bint col_deriv,
                             object Dfun, bint first):
    """The Jacobian returned by Dfun as a float64 array of shape (n, m) if
    col_deriv else (m, n), not copied when it already is one."""
    cdef intp_t rows = n if col_deriv else m
    cdef intp_t cols = m if col_deriv else n
    cdef cnp.ndarray arr
    if type(res) is cnp.ndarray and cnp.PyArray_TYPE(<cnp.ndarray>res) == cnp.NPY_DOUBLE:
        arr = <cnp.ndarray>res
    else:
        arr = np.ascontiguousarray(
            real_array(res, f"the Jacobian of {_callable_name(Dfun, 'Dfun')}"),
            dtype=np.float64)
    if (cnp.PyArray_NDIM(arr) == 2 and cnp.PyArray_DIMS(arr)[0] == rows
            and cnp.PyArray_DIMS(arr)[1] == cols):
        return arr
    if (m == 1 or n == 1) and arr.ndim <= 2 and arr.size == m * n:
        # With one row or one column both layouts hold the same sequence.
        return arr.reshape((rows, cols))
    # SciPy's wording (its _check_func), so that code matching SciPy's
    # message matches this one; the layout asked for follows it.
    name = getattr(Dfun, "__name__", None)
    named = f" '{name}'" if name else ""
    msg = (f"leastsq: there is a mismatch between the input and output shape of "
           f"the 'Dfun' argument{named}. Shape should be {(rows, cols)} but it is "
           f"{(<object>arr).shape} (col_deriv={bool(col_deriv)}).")
    if first:
        raise TypeError(msg)
    raise ValueError(msg + " The shape of the Jacobian must not change during the fit.")


cdef int store_jacobian(object res, double* fjac, intp_t m, intp_t n,
                        bint col_deriv, object Dfun, bint first) except -1:
    """Copy the Jacobian returned by Dfun into fjac (column-major m x n J,
    leading dimension m), whatever the strides of the returned array."""
    cdef cnp.ndarray arr = checked_jacobian(res, m, n, col_deriv, Dfun, first)
    cdef const char* src = <const char*>cnp.PyArray_DATA(arr)
    cdef Py_ssize_t s0 = cnp.PyArray_STRIDES(arr)[0], s1 = cnp.PyArray_STRIDES(arr)[1]
    # Strides of J's row index i and column index j within arr.
    cdef Py_ssize_t si = s1 if col_deriv else s0
    cdef Py_ssize_t sj = s0 if col_deriv else s1
    cdef intp_t i, j
    cdef const char* col
    if si == sizeof(double):
        for j in range(n):
            memcpy(fjac + j * m, src + j * sj, m * sizeof(double))
        return 0
    for j in range(n):
        col = src + j * sj
        for i in range(m):
            fjac[i + j * m] = (<const double*>(col + i * si))[0]
    return 0


cdef object lend_jacobian(object res, lm_state_t* s, bint col_deriv, object Dfun,
                          bint first):
    """Point the engine at the Jacobian returned by Dfun (tall problems: read,
    not copied). Returns the array, which must live until the next request."""
    arr = np.ascontiguousarray(checked_jacobian(res, s.m, s.n, col_deriv, Dfun, first))
    s.jac_src = <const double*>cnp.PyArray_DATA(<cnp.ndarray>arr)
    if col_deriv:
        s.jac_rs, s.jac_cs = 1, s.m
    else:
        s.jac_rs, s.jac_cs = s.n, 1
    return arr


def all_finite(cnp.ndarray v):
    """Whether every entry of the contiguous float64 array `v` is finite."""
    cdef Py_ssize_t i, size = cnp.PyArray_SIZE(v)
    cdef const double* p
    if not (cnp.PyArray_TYPE(v) == cnp.NPY_DOUBLE and cnp.PyArray_IS_C_CONTIGUOUS(v)):
        raise TypeError("all_finite: v must be a contiguous float64 array")
    p = <const double*>cnp.PyArray_DATA(v)
    for i in range(size):
        if not isfinite(p[i]):
            return False
    return True


cdef inline object call(object f, cnp.ndarray xa, tuple args):
    # Without extra arguments, a one-argument call avoids building a new tuple.
    if not args:
        return f(xa)
    return f(xa, *args)


cdef extern from "_unshared.h":
    bint lmfit_array_is_unshared(object obj)


cdef extern from *:
    """
    /* Whether the point array handed to the previous call is unshared (see
       _unshared.h) and is still the plain 1-D float64 array of n entries it
       was created as: then nobody can see it again, and the next call may get
       it refilled instead of a new array. A callback that keeps it (or a
       view, a memoryview, a weak reference of it) or reshapes it makes the
       driver allocate a fresh one. */
    static int lmfit_point_is_free(PyObject *obj, npy_intp n)
    {
        PyArrayObject *a = (PyArrayObject *)obj;
        const int flags = NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED
                          | NPY_ARRAY_WRITEABLE;
        return lmfit_array_is_unshared(obj)
            && PyArray_NDIM(a) == 1 && PyArray_DIMS(a)[0] == n
            && PyArray_TYPE(a) == NPY_DOUBLE && (PyArray_FLAGS(a) & flags) == flags;
    }
    """
    bint lmfit_point_is_free(object obj, cnp.npy_intp n)


cdef inline cnp.ndarray point_array(object prev, intp_t n):
    # The array for the next call's x: every call gets an array no one else
    # holds, so a callback may keep or modify it freely. The previous one is
    # reused when the callback kept no reference to it (an allocation less
    # per call).
    cdef cnp.npy_intp dim = n
    if prev is not None and lmfit_point_is_free(prev, n):
        return <cnp.ndarray>prev
    return cnp.PyArray_EMPTY(1, &dim, cnp.NPY_DOUBLE, 0)


cdef inline cnp.ndarray new_point(object prev, const double* src, intp_t n):
    cdef cnp.ndarray xa = point_array(prev, n)
    memcpy(cnp.PyArray_DATA(xa), src, n * sizeof(double))
    return xa


def drive(object func, object Dfun, tuple args, bint col_deriv,
          cnp.ndarray x, cnp.ndarray fvec, cnp.ndarray fjac, cnp.ndarray diag,
          int mode, cnp.ndarray ipvt, cnp.ndarray qtf, double ftol, double xtol,
          double gtol, Py_ssize_t maxfev, double epsfcn, double factor,
          bint scipy_qrfac=False):
    """Run one Levenberg-Marquardt fit whose residuals come from Python.

    All arrays are C-contiguous and owned by the caller: `x` (n), `fvec` (m,
    holding ``func(x)`` on entry; that call counts as the first evaluation),
    `fjac` (shape (n, m), i.e. the column-major m x n Jacobian), `diag` (n,
    read when ``mode == 2``, written otherwise), `ipvt` (n, int32), `qtf` (n).
    They hold MINPACK's outputs on return. `scipy_qrfac` (tests only) makes
    qrfac recompute column norms as SciPy <= 1.17.1 does (see ``_qrfac``).

    Returns
    -------
    info, nfev, njev, error, error_index : int
        MINPACK's info code, the evaluation counts, and the engine's error
        code (``LM_ERR_*``) with the offending Jacobian column.
    """
    cdef intp_t n = cnp.PyArray_SIZE(x), m = cnp.PyArray_SIZE(fvec), j
    cdef cnp.npy_intp work_size = lm_work_size(m, n)
    cdef cnp.ndarray work = cnp.PyArray_EMPTY(1, &work_size, cnp.NPY_DOUBLE, 0)
    cdef lm_state_t s
    cdef int req
    cdef bint release = m * n >= NOGIL_MIN_SIZE
    cdef bint analytic = Dfun is not None
    cdef double* fjac_data = <double*>cnp.PyArray_DATA(fjac)

    lm_init(&s, m, n, <double*>cnp.PyArray_DATA(x), <double*>cnp.PyArray_DATA(fvec),
            fjac_data, m, <double*>cnp.PyArray_DATA(diag), mode,
            <int*>cnp.PyArray_DATA(ipvt), <double*>cnp.PyArray_DATA(qtf),
            <double*>cnp.PyArray_DATA(work), ftol, xtol, gtol, maxfev, epsfcn,
            factor, analytic, True)
    s.scipy_qrfac = scipy_qrfac
    xa = None
    while True:
        if release:
            with nogil:
                req = lm_advance(&s)
        else:
            req = lm_advance(&s)
        if req == LM_DONE:
            break
        elif req == LM_EVAL_F:
            xa = new_point(xa, s.x_req, n)
            res = call(func, xa, args)
            store_residuals(res, s.f_req, m, func)
            res = None
        elif req == LM_EVAL_FD:
            for j in range(n):
                xa = point_array(xa, n)
                lm_fd_point(&s, j, <double*>cnp.PyArray_DATA(xa))
                res = call(func, xa, args)
                store_residuals(res, fjac_data + j * m, m, func)
                res = None
        elif req == LM_EVAL_JAC:
            xa = new_point(xa, s.x_req, n)
            res = call(Dfun, xa, args)
            if s.tall:
                res = lend_jacobian(res, &s, col_deriv, Dfun, s.njev == 0)
            else:
                store_jacobian(res, fjac_data, m, n, col_deriv, Dfun, s.njev == 0)
    return s.info, s.nfev, s.njev, s.error, s.error_index
