"""The C-callback driver: lmfit_core's public Cython API (see ``cython_lm.pxd``).

``lmdif`` and ``lmder`` run the reverse-communication engine and answer its
requests by calling C function pointers, all without the GIL. ``leastsq``
uses the same driver for compiled callbacks (``scipy.LowLevelCallable``,
ctypes function pointers, numba ``cfunc``).
"""
from libc.float cimport DBL_EPSILON
from libc.math cimport NAN, isfinite
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, strcmp

from lmfit_core._engine cimport (LM_DONE, LM_ERR_F0_NONFINITE, LM_ERR_JAC_NONFINITE,
                                 LM_EVAL_F, LM_EVAL_FD, lm_advance, lm_fd_point,
                                 lm_init, lm_state_t, lm_stop)
from lmfit_core._engine cimport lm_work_size as engine_work_size

cdef enum:
    LM_INFO_NOMEM = -1000

INFO_NONFINITE_F0 = LM_INFO_NONFINITE_F0
INFO_NONFINITE_JAC = LM_INFO_NONFINITE_JAC


cdef Py_ssize_t lm_work_size(Py_ssize_t m, Py_ssize_t n) noexcept nogil:
    # engine (3n + m), one finite-difference point (n), and room for each
    # optional output: fjac (m n), diag (n), qtf (n), ipvt (n ints in n doubles).
    return engine_work_size(m, n) + m * n + 4 * n


cdef int fit(lm_func_t func, lm_jac_t jac, void* udata, Py_ssize_t m, Py_ssize_t n,
             double* x, double* fvec, double ftol, double xtol, double gtol,
             Py_ssize_t maxfev, double epsfcn, const double* diag, double factor,
             double* fjac, Py_ssize_t ldfjac, int* ipvt, double* qtf, double* work,
             lm_result_t* result, bint have_f0) noexcept nogil:
    """lmdif (jac == NULL) or lmder; with have_f0, fvec already holds f(x)."""
    cdef lm_state_t s
    cdef bint own_work = work == NULL
    cdef double* xp
    cdef double* scale
    cdef Py_ssize_t j, off
    cdef int req, rc = 0, info

    if result != NULL:
        result.info = 0
        result.nfev = result.njev = 0
        result.fnorm = NAN
        result.bad_column = -1
    if n <= 0 or m < n or func == NULL:
        return 0
    if own_work:
        work = <double*>malloc(lm_work_size(m, n) * sizeof(double))
        if work == NULL:
            if result != NULL:
                result.info = LM_INFO_NOMEM
            return LM_INFO_NOMEM
    off = engine_work_size(m, n)
    xp = work + off
    off += n
    scale = work + off
    off += n
    if fjac == NULL:
        fjac = work + off
        ldfjac = m
        off += m * n
    if qtf == NULL:
        qtf = work + off
        off += n
    if ipvt == NULL:
        ipvt = <int*>(work + off)
    if diag != NULL:
        memcpy(scale, diag, n * sizeof(double))
    if maxfev <= 0:
        maxfev = (100 if jac != NULL else 200) * (n + 1)

    if lm_init(&s, m, n, x, fvec, fjac, ldfjac, scale, 2 if diag != NULL else 1,
               ipvt, qtf, work, ftol, xtol, gtol, maxfev, epsfcn, factor,
               jac != NULL, have_f0):
        while True:
            req = lm_advance(&s)
            if req == LM_DONE:
                break
            if req == LM_EVAL_F:
                rc = func(m, n, s.x_req, s.f_req, udata)
            elif req == LM_EVAL_FD:
                for j in range(n):
                    lm_fd_point(&s, j, xp)
                    rc = func(m, n, xp, fjac + j * ldfjac, udata)
                    if rc < 0:
                        break
            else:
                rc = jac(m, n, s.x_req, fjac, ldfjac, udata)
            if rc < 0:
                lm_stop(&s, rc)

    info = s.info
    if s.error == LM_ERR_F0_NONFINITE:
        info = LM_INFO_NONFINITE_F0
    elif s.error == LM_ERR_JAC_NONFINITE:
        info = LM_INFO_NONFINITE_JAC
    if result != NULL:
        result.info = info
        result.nfev = s.nfev
        result.njev = s.njev
        result.fnorm = s.fnorm
        result.bad_column = s.error_index
    if own_work:
        free(work)
    return info


cdef int lmdif(lm_func_t func, void* udata, Py_ssize_t m, Py_ssize_t n, double* x,
               double* fvec, double ftol, double xtol, double gtol, Py_ssize_t maxfev,
               double epsfcn, const double* diag, double factor, double* fjac,
               Py_ssize_t ldfjac, int* ipvt, double* qtf, double* work,
               lm_result_t* result) noexcept nogil:
    return fit(func, NULL, udata, m, n, x, fvec, ftol, xtol, gtol, maxfev, epsfcn,
               diag, factor, fjac, ldfjac, ipvt, qtf, work, result, False)


cdef int lmder(lm_func_t func, lm_jac_t jac, void* udata, Py_ssize_t m, Py_ssize_t n,
               double* x, double* fvec, double ftol, double xtol, double gtol,
               Py_ssize_t maxfev, const double* diag, double factor, double* fjac,
               Py_ssize_t ldfjac, int* ipvt, double* qtf, double* work,
               lm_result_t* result) noexcept nogil:
    if jac == NULL:  # improper input, reported by fit as info 0
        return fit(NULL, NULL, udata, m, n, x, fvec, ftol, xtol, gtol, maxfev, 0.0,
                   diag, factor, fjac, ldfjac, ipvt, qtf, work, result, False)
    return fit(func, jac, udata, m, n, x, fvec, ftol, xtol, gtol, maxfev, 0.0, diag,
               factor, fjac, ldfjac, ipvt, qtf, work, result, False)


# -- compiled callbacks in leastsq ---------------------------------------------
# leastsq accepts a C residual function (and Jacobian) as a scipy.LowLevelCallable,
# a PyCapsule (e.g. from a Cython module's __pyx_capi__), a ctypes function
# pointer, or an object with a ``ctypes`` attribute holding one (numba cfunc).
import ctypes
import warnings

from cpython.function cimport PyFunction_Check
from cpython.method cimport PyMethod_Check
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.pycapsule cimport (PyCapsule_CheckExact, PyCapsule_GetContext,
                                PyCapsule_GetName, PyCapsule_GetPointer)

import numpy as np

cimport numpy as cnp

from lmfit_core._qrtall import tall

cnp.import_array()

FUNC_SIGNATURE = "int (Py_ssize_t, Py_ssize_t, const double *, double *, void *)"
JAC_SIGNATURE = ("int (Py_ssize_t, Py_ssize_t, const double *, double *, Py_ssize_t, "
                 "void *)")

# Names of a signed integer the size of Py_ssize_t, as signature strings spell it.
_SSIZE_NAMES = {"Py_ssize_t", "ssize_t", "intptr_t", "npy_intp", "int64_t", "long long"}
if ctypes.sizeof(ctypes.c_long) == ctypes.sizeof(ctypes.c_ssize_t):
    _SSIZE_NAMES.add("long")
_CTYPES_NAMES = {ctypes.c_int: "int", ctypes.c_double: "double",
                 ctypes.c_void_p: "void *", ctypes.POINTER(ctypes.c_double): "double *"}
for _t in (ctypes.c_ssize_t, ctypes.c_long, ctypes.c_longlong, ctypes.c_int64):
    if ctypes.sizeof(_t) == ctypes.sizeof(ctypes.c_ssize_t):
        _CTYPES_NAMES[_t] = "Py_ssize_t"


def _normalize_signature(str signature):
    # "int (Py_ssize_t, Py_ssize_t, double const *, double *, void *)" ->
    # ("int", ("ssize", "ssize", "double*", "double*", "void*")); const ignored.
    head, sep, rest = signature.partition("(")
    if not sep or not rest.rstrip().endswith(")"):
        return None
    out = []
    body = rest.rstrip()
    for arg in body[:len(body) - 1].split(","):
        words = arg.replace("*", " * ").split()
        words = [w for w in words if w != "const"]
        stars = words.count("*")
        base = " ".join(w for w in words if w != "*")
        if base in _SSIZE_NAMES:
            base = "ssize"
        out.append(base + "*" * stars)
    return head.strip(), tuple(out)


# Batch callbacks (leastsq_batch) take the problem index first.
BATCH_FUNC_SIGNATURE = ("int (Py_ssize_t, Py_ssize_t, Py_ssize_t, const double *, "
                        "double *, void *)")
BATCH_JAC_SIGNATURE = ("int (Py_ssize_t, Py_ssize_t, Py_ssize_t, const double *, "
                       "double *, Py_ssize_t, void *)")

_SIGNATURES = {"func": FUNC_SIGNATURE, "Dfun": JAC_SIGNATURE,
               "batch func": BATCH_FUNC_SIGNATURE, "batch Dfun": BATCH_JAC_SIGNATURE}
_EXPECTED = {role: _normalize_signature(sig) for role, sig in _SIGNATURES.items()}
_CHECKED = {}   # (signature, role) -> bool: parsing is slow next to a small fit


# role -> the capsule names accepted for it so far, as bytes: a capsule whose
# name is one of them is accepted by a string comparison in C, without the
# Python string and the dictionary key a check of its signature would build.
_ACCEPTED = {role: [] for role in _SIGNATURES}


cdef bint _signature_matches(str signature, str role) except -1:
    key = (signature, role)
    ok = _CHECKED.get(key)
    if ok is None:
        ok = _CHECKED[key] = _normalize_signature(signature) == _EXPECTED[role]
        if ok:
            _ACCEPTED[role].append(signature.encode())
    return ok


cdef bint _accepted_before(const char* name, str role) except -1:
    cdef bytes known
    for known in _ACCEPTED[role]:
        if strcmp(name, known) == 0:
            return True
    return False


def is_compiled(obj):
    """Whether `obj` is a compiled callback (not a Python callable)."""
    if PyFunction_Check(obj) or PyMethod_Check(obj):
        return False            # the common case, without a failed getattr
    if PyCapsule_CheckExact(obj):
        return True
    if isinstance(obj, tuple) and type(obj).__name__ == "LowLevelCallable":
        return True
    if isinstance(obj, ctypes._CFuncPtr):
        return True
    return isinstance(getattr(obj, "ctypes", None), ctypes._CFuncPtr)


def compiled_target(object obj, str role):
    """(function address, user-data address) of a compiled callback for `role`.

    `role` is "func" or "Dfun" (signature FUNC_SIGNATURE or JAC_SIGNATURE),
    or "batch func" or "batch Dfun" (BATCH_FUNC_SIGNATURE, BATCH_JAC_SIGNATURE);
    any 64-bit integer spelling of Py_ssize_t is accepted, const is optional.
    """
    cdef size_t addr, udata
    _target(obj, role, &addr, &udata)
    return addr, udata


cdef object _capsule_of(object obj):
    # The capsule of a PyCapsule or scipy.LowLevelCallable, else None.
    cdef object capsule = None
    if PyCapsule_CheckExact(obj):
        capsule = obj
    elif (isinstance(obj, tuple) and type(obj).__name__ == "LowLevelCallable"
          and PyTuple_GET_SIZE(obj) > 0):
        capsule = <object>PyTuple_GET_ITEM(obj, 0)
    return capsule if capsule is not None and PyCapsule_CheckExact(capsule) else None


cdef int _target(object obj, str role, size_t* addr_out, size_t* udata_out) except -1:
    # compiled_target's work, its results through pointers.
    # Capsules (a LowLevelCallable holds one) are the common case and cost a
    # few C calls here: next to a fit of some microseconds, the Python-level
    # work of the general path would show.
    cdef object capsule = _capsule_of(obj)
    cdef const char* name
    cdef size_t addr, udata
    if capsule is not None:
        name = PyCapsule_GetName(capsule)
        if name == NULL:
            raise TypeError(f"{_caller(role)}: the capsule given as "
                            f"{_role_name(role)} carries no signature (its "
                            "name is NULL)")
        addr = <size_t>PyCapsule_GetPointer(capsule, name)
        udata = <size_t>PyCapsule_GetContext(capsule)
        # None: a name accepted before for this role, with nothing to check.
        signature = None if _accepted_before(name, role) else name.decode()
    else:
        fptr = obj if isinstance(obj, ctypes._CFuncPtr) else getattr(obj, "ctypes", None)
        if not isinstance(fptr, ctypes._CFuncPtr):
            raise TypeError(f"{_caller(role)}: {_role_name(role)} is not a "
                            "compiled callback (a PyCapsule, a scipy.LowLevelCallable "
                            "or a ctypes function pointer)")
        signature = _ctypes_signature(fptr, role)
        # A ctypes function pointer's buffer holds the function's address (what
        # ctypes.cast reads, at a tenth of its cost).
        addr = (<size_t*><size_t>ctypes.addressof(fptr))[0]
        udata = 0
    if signature is not None and not _signature_matches(signature, role):
        raise TypeError(f"{_caller(role)}: the compiled {_role_name(role)} has "
                        f"signature {signature!r}; it must be {_SIGNATURES[role]!r}")
    if addr == 0:
        raise TypeError(f"{_caller(role)}: the compiled {_role_name(role)} is a "
                        "NULL function pointer")
    addr_out[0] = addr
    udata_out[0] = udata
    return 0


_CTYPES_SIGNATURES = {}  # (restype, argtypes) -> signature string


cdef str _ctypes_signature(object fptr, str role):
    # The signature of a ctypes function pointer, spelled as a capsule's name;
    # remembered per declaration (numba gives every cfunc the same ctypes types).
    key = (fptr.restype, fptr.argtypes)
    signature = _CTYPES_SIGNATURES.get(key)
    if signature is None:
        try:
            names = [_CTYPES_NAMES[fptr.restype]] + [_CTYPES_NAMES[t] for t in fptr.argtypes]
        except (KeyError, TypeError):
            raise TypeError(f"{_caller(role)}: the ctypes function given as "
                            f"{_role_name(role)} must be declared with "
                            f"restype and argtypes matching {_SIGNATURES[role]}")
        signature = _CTYPES_SIGNATURES[key] = f"{names[0]} ({', '.join(names[1:])})"
    return signature


cdef str _caller(str role):
    return "leastsq_batch" if role.startswith("batch") else "leastsq"


cdef str _role_name(str role):
    return role.rpartition(" ")[2]          # "batch Dfun" -> "Dfun"


ctypedef struct _pair_t:
    # A compiled func and Dfun may each carry their own user data.
    lm_func_t func
    void* func_data
    lm_jac_t jac
    void* jac_data


cdef int _pair_func(Py_ssize_t m, Py_ssize_t n, const double* x, double* fvec,
                    void* udata) noexcept nogil:
    cdef _pair_t* p = <_pair_t*>udata
    return p.func(m, n, x, fvec, p.func_data)


cdef int _pair_jac(Py_ssize_t m, Py_ssize_t n, const double* x, double* fjac,
                   Py_ssize_t ldfjac, void* udata) noexcept nogil:
    cdef _pair_t* p = <_pair_t*>udata
    return p.jac(m, n, x, fjac, ldfjac, p.jac_data)


cdef inline void* _data_or_null(object arr):
    # The data of an optional array (None: NULL, the driver's work array then).
    return NULL if arr is None else cnp.PyArray_DATA(<cnp.ndarray>arr)


# -- leastsq's front end for compiled callbacks ------------------------------------
# A fit with compiled callbacks takes some microseconds, and leastsq's argument
# handling written in Python (about 1.4 us) would be a tenth of it. Here the
# usual arguments (float64 x0, float options, args=(M,), capsules) are checked in
# C; anything else, and every error, goes through the Python path's own helpers
# in lmfit_core._leastsq (imported at first use, as that module imports this one),
# so both paths accept the same input and word their errors alike.

cdef object _front_module = None
_LARGEST_M = 2 ** 62      # args=(M,) beyond it: the Python path's checks and errors


cdef object _front():
    global _front_module
    if _front_module is None:
        from lmfit_core import _leastsq
        _front_module = _leastsq
    return _front_module


cdef inline bint _is_tolerance(object v):
    # A float >= 0 (NaN fails), which _check_options would return unchanged.
    return type(v) is float and <double>v >= 0.0


cdef inline bint _is_factor(object v):
    # A positive float, or an int that a double holds exactly (the default 100).
    if type(v) is float:
        return <double>v > 0.0
    return type(v) is int and 0 < v <= 9007199254740992


def leastsq_compiled(func, x0, args, Dfun, full_output, ftol, xtol, gtol, maxfev,
                     epsfcn, factor, diag, int stacklevel):
    """``leastsq`` for a compiled `func` (and `Dfun`): checks, the fit, the results.

    Arguments as for ``leastsq`` (`col_deriv` does not apply: a compiled
    Jacobian is written column by column), `func` and `Dfun` checked by
    ``_leastsq._check_callbacks``. `stacklevel` is that of a warning issued by
    the calling Python function itself: this function adds no frame.
    """
    cdef _pair_t pair
    cdef lm_result_t res
    cdef cnp.ndarray x, fvec
    cdef Py_ssize_t n, m, run_maxfev, default_maxfev, i
    cdef double c_ftol, c_xtol, c_gtol, c_factor, c_epsfcn
    cdef const double* xp
    cdef size_t func_addr, func_data, jac_addr = 0, jac_data = 0
    cdef double* fjac_p
    cdef const double* diag_p
    cdef int* ipvt_p
    cdef double* qtf_p
    cdef lm_jac_t jac

    # The order of the checks is the Python path's, so the first fault found
    # is the same.
    if (type(x0) is np.ndarray and cnp.PyArray_TYPE(<cnp.ndarray>x0) == cnp.NPY_DOUBLE
            and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>x0)):
        x = <cnp.ndarray>cnp.PyArray_Flatten(<cnp.ndarray>x0, cnp.NPY_CORDER)
    else:
        x = _front()._real_vector(x0, "x0")
    n = cnp.PyArray_SIZE(x)
    xp = <const double*>cnp.PyArray_DATA(x)
    if n == 0:
        raise _front().ImproperInputError("leastsq: x0 must contain at least one "
                                          "parameter")
    for i in range(n):
        if not isfinite(xp[i]):
            raise _front().ImproperInputError(
                "leastsq: x0 must be finite, got " + np.array2string(x, threshold=10))
    if not isinstance(args, tuple):
        args = (args,)
    if not (_is_tolerance(ftol) and _is_tolerance(xtol) and _is_tolerance(gtol)
            and _is_factor(factor) and type(maxfev) is int
            and (epsfcn is None or (type(epsfcn) is float and epsfcn == epsfcn))):
        ftol, xtol, gtol, factor, maxfev, epsfcn = _front()._check_options(
            "leastsq", ftol, xtol, gtol, factor, maxfev, epsfcn)
    scale = None if diag is None else _front()._check_diag(diag, n)[1]

    # SciPy's defaults: 0 means the default here, a negative value in MINPACK's
    # wrapper; both end at the same count, but the message shows the given value.
    default_maxfev = (200 if Dfun is None else 100) * (n + 1)
    if maxfev == 0:
        maxfev = default_maxfev
    run_maxfev = default_maxfev if maxfev < 0 else maxfev
    if (type(args) is tuple and PyTuple_GET_SIZE(args) == 1
            and type(<object>PyTuple_GET_ITEM(args, 0)) is int
            and n <= <object>PyTuple_GET_ITEM(args, 0) < _LARGEST_M):
        m = <object>PyTuple_GET_ITEM(args, 0)
    else:
        m = _front()._compiled_residual_count(args, n)
    _target(func, "func", &func_addr, &func_data)
    if Dfun is not None:
        _target(Dfun, "Dfun", &jac_addr, &jac_data)
    c_epsfcn = DBL_EPSILON if epsfcn is None else epsfcn
    c_ftol, c_xtol, c_gtol, c_factor = ftol, xtol, gtol, factor

    fvec = cnp.PyArray_EMPTY(1, <cnp.npy_intp*>&m, cnp.NPY_DOUBLE, 0)
    # The outputs only infodict shows are not allocated without full_output.
    fjac, ipvt, qtf = ((np.empty((n, m)), np.empty(n, dtype=np.int32), np.empty(n))
                       if full_output else (None, None, None))
    fjac_p = <double*>_data_or_null(fjac)
    diag_p = <const double*>_data_or_null(scale)
    ipvt_p = <int*>_data_or_null(ipvt)
    qtf_p = <double*>_data_or_null(qtf)
    pair.func = <lm_func_t>func_addr
    pair.func_data = <void*>func_data
    pair.jac = <lm_jac_t>jac_addr
    pair.jac_data = <void*>jac_data
    jac = _pair_jac if jac_addr != 0 else <lm_jac_t>NULL
    with nogil:
        fit(_pair_func, jac, &pair, m, n, <double*>xp, <double*>cnp.PyArray_DATA(fvec),
            c_ftol, c_xtol, c_gtol, run_maxfev, c_epsfcn, diag_p, c_factor, fjac_p, m,
            ipvt_p, qtf_p, NULL, &res, False)

    if res.info == LM_INFO_NOMEM:
        raise MemoryError("leastsq: could not allocate the work array")
    if res.info == LM_INFO_NONFINITE_F0 or res.info == LM_INFO_NONFINITE_JAC:
        raise _front()._nonfinite_error(res.info == LM_INFO_NONFINITE_F0,
                                        res.bad_column, Dfun is not None, x, fvec)
    if res.info < 0:
        raise RuntimeError(f"leastsq: the compiled callback stopped the fit "
                           f"(it returned {res.info})")
    if not full_output:
        if 5 <= res.info <= 8:      # LEASTSQ_FAILURE
            warnings.warn(_front()._message(res.info, ftol, xtol, gtol, maxfev),
                          RuntimeWarning, stacklevel=stacklevel)
        return x, res.info
    if jac_addr != 0 and tall(m, n):
        fjac[:, n:] = 0.0      # as on the Python path: R only (see leastsq's Notes)
    return _front()._full_output(x, fvec, False, fjac, ipvt, qtf, res.info, res.nfev,
                                 None if Dfun is None else res.njev,
                                 ftol, xtol, gtol, maxfev)
