"""The benchmark's peers: MINPACK driven from numba, on lmfit_core's Gaussian.

The embedding and batch issues set their targets against MINPACK called
through numba ``cfunc`` callbacks: ``cminpack-numba`` (cminpack, C; PyPI,
builds with a C compiler) and ``minpack-numba`` (MINPACK's Fortran; PyPI,
builds only where gfortran is installed). ``python -m lmfit_core.bench`` runs
those that are installed in the same process as lmfit_core: a ratio from one
run says more on a noisy machine than a number measured on another day.

The model is ``_examples``' Gaussian on a background, the same formulas and
order of operations, with the abscissae frozen into the compiled code and the
curve as the callback's user data; the fits take the same steps (same nfev).
"""
import importlib

import numpy as np


# Peers already compiled, per abscissae: numba compiles each peer's callbacks
# and loop for about a second, and the script asks twice.
_LOADED = {}


def load(t):
    """The installed peers' fits of Gaussians on the abscissae `t`.

    Returns
    -------
    dict
        Peer name -> ``{"lmdif": fit, "lmder": fit, "lmder_loop": fits}``:
        ``fit(y, x0)`` runs one fit called from Python; ``fits(Y, X0)`` is a
        numba-compiled loop over the rows of ``Y`` (one fit each, analytic
        Jacobian) returning ``(x, nfev)``. Empty when numba is not installed.
    """
    t = np.ascontiguousarray(t, dtype=float)
    key = t.tobytes()
    if key not in _LOADED:
        _LOADED[key] = _compile(t)
    return _LOADED[key]


def _compile(t):
    try:
        import numba
    except ImportError:
        return {}
    m = t.size

    @numba.njit(inline="always")
    def residuals(p, y, fvec):
        a, c, w, b = p[0], p[1], p[2], p[3]
        s = -0.5 / (w * w)
        for i in range(m):
            u = t[i] - c
            fvec[i] = a * np.exp(s * u * u) + b - y[i]

    @numba.njit(inline="always")
    def jacobian(p, fjac, ldfjac):
        a, c, w = p[0], p[1], p[2]
        s = -0.5 / (w * w)
        w2 = 1.0 / (w * w)
        for i in range(m):
            u = t[i] - c
            g = np.exp(s * u * u)
            fjac[i] = g
            fjac[i + ldfjac] = a * g * u * w2
            fjac[i + 2 * ldfjac] = a * g * u * u * w2 / w
            fjac[i + 3 * ldfjac] = 1.0

    @numba.njit(inline="always")
    def curve(udata):
        return numba.carray(udata, (m,), dtype=np.float64)

    @numba.njit(inline="always")
    def gauss(p, fvec, udata):
        residuals(p, curve(udata), fvec)

    peers = {}
    for peer, lib in _installed():
        f_dif = _lmdif_callback(numba, lib, gauss)
        if peer == "cminpack-numba":
            @numba.cfunc(lib.lmder_sig)
            def f_der(udata, m_, n, p, fvec, fjac, ldfjac, iflag):
                if iflag == 1:
                    residuals(p, curve(udata), fvec)
                elif iflag == 2:
                    jacobian(p, fjac, ldfjac)
                return 0
        else:
            @numba.cfunc(lib.lmder_sig)
            def f_der(m_, n, p, fvec, fjac, ldfjac, iflag, udata):
                if iflag[0] == 1:
                    residuals(p, curve(udata), fvec)
                elif iflag[0] == 2:
                    jacobian(p, fjac, ldfjac)
        peers[peer] = _fits(numba, lib, m, f_dif.address, f_der.address)
    return peers


def _installed():
    """(peer name, module) of each installed numba-driven MINPACK."""
    for name in ("cminpack_numba", "minpack_numba"):
        try:
            yield name.replace("_", "-"), importlib.import_module(name)
        except ImportError:
            continue


def _lmdif_callback(numba, lib, kernel):
    """The cfunc `lib`'s lmdif calls, running ``kernel(x, fvec, udata)`` (njit).

    cminpack's callback is ``int fcn(void *p, int m, int n, const double *x,
    double *fvec, int iflag)``, MINPACK's ``void fcn(int m, int n, const
    double *x, double *fvec, int *iflag, void *p)``.
    """
    if lib.__name__ == "cminpack_numba":
        @numba.cfunc(lib.lmdif_sig)
        def fcn(udata, m, n, x, fvec, iflag):
            kernel(x, fvec, udata)
            return 0
    else:
        @numba.cfunc(lib.lmdif_sig)
        def fcn(m, n, x, fvec, iflag, udata):
            kernel(x, fvec, udata)
    return fcn


def _fits(numba, lib, m, dif, der):
    lmdif, lmder = lib.lmdif, lib.lmder

    @numba.njit
    def lmder_loop(Y, X0):
        x = np.empty_like(X0)
        nfev = np.empty(Y.shape[0], dtype=np.int64)
        for k in range(Y.shape[0]):
            out = lmder(der, m, X0[k], udata=Y[k])
            x[k] = out[0]
            nfev[k] = out[5]
        return x, nfev

    return {"lmdif": lambda y, x0: lmdif(dif, m, x0, udata=y),
            "lmder": lambda y, x0: lmder(der, m, x0, udata=y),
            "lmder_loop": lmder_loop}


def rosenbrock_engines():
    """Engines fitting Rosenbrock's function with compiled residuals.

    The residuals are a numba ``cfunc``, so that the callbacks cost almost
    nothing and a fit's time is the engine's: MINPACK's arithmetic and the
    driver around it. Each fit starts at (-1.2, 1) with leastsq's defaults.

    Returns
    -------
    dict
        Implementation (``"lmfit_core"`` and each installed peer's name) ->
        ``fits(k)``, a numba-compiled loop of k fits returning the nfev of the
        last: lmfit_core's ``lmdif`` (the public Cython API's, called through
        the function pointer Cython exports) and the peers' ``lmdif``. Empty
        when numba is not installed.
    """
    try:
        import numba
        from numba import types
    except ImportError:
        return {}
    x0 = np.array([-1.2, 1.0])
    udata = np.zeros(1)

    @numba.njit(inline="always")
    def rosenbrock(x, fvec, data):
        fvec[0] = 10.0 * (x[1] - x[0] ** 2)
        fvec[1] = 1.0 - x[0]

    @numba.cfunc(types.intc(types.intp, types.intp, types.CPointer(types.double),
                            types.CPointer(types.double), types.voidptr))
    def ours(m, n, x, fvec, data):
        rosenbrock(x, fvec, data)
        return 0

    lmdif = _cython_api_lmdif()
    func = ours.address
    eps = float(np.finfo(float).eps)

    @numba.njit
    def our_fits(k):
        # (numba freezes global arrays into the compiled code: these are local.)
        x = np.empty(2)
        fvec = np.empty(2)
        result = np.zeros(5, dtype=np.int64)    # lm_result_t: info, nfev, ...
        for _ in range(k):
            x[:] = x0
            lmdif(func, 0, 2, 2, x.ctypes.data, fvec.ctypes.data, 1.49012e-8,
                  1.49012e-8, 0.0, 0, eps, 0, 100.0, 0, 0, 0, 0, 0, result.ctypes.data)
        return result[1]

    engines = {"lmfit_core": our_fits}
    for peer, lib in _installed():
        engines[peer] = _loop(numba, lib.lmdif, _lmdif_callback(numba, lib, rosenbrock).address,
                              x0, udata)
    return engines


def _loop(numba, lmdif, address, x0, udata):
    @numba.njit
    def fits(k):
        nfev = 0
        for _ in range(k):
            nfev = lmdif(address, 2, x0.copy(), udata=udata)[5]
        return nfev
    return fits


def _cython_api_lmdif():
    """lmfit_core's public ``lmdif`` (``cython_lm.pxd``) as a ctypes function,
    which numba-compiled code can call: the function pointer Cython exports
    for ``cimport`` users, with every pointer argument as an address."""
    import ctypes

    from lmfit_core import cython_lm

    capsule = cython_lm.__pyx_capi__["lmdif"]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    address = get_pointer(capsule, get_name(capsule))
    p, i, d = ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_double
    # func, udata, m, n, x, fvec, ftol, xtol, gtol, maxfev, epsfcn, diag,
    # factor, fjac, ldfjac, ipvt, qtf, work, result
    prototype = ctypes.CFUNCTYPE(ctypes.c_int, p, p, i, i, p, p, d, d, d, i, d, p, d, p, i,
                                 p, p, p, p)
    return prototype(address)
