"""The benchmark's peer: MINPACK (cminpack) driven from numba, on lmfit_core's Gaussian.

The embedding and batch issues set their targets against MINPACK called
through numba ``cfunc`` callbacks, among others. ``cminpack-numba`` (PyPI,
builds with a C compiler; pulls in numba) is the one of those that installs
from the package registry alone, so ``python -m lmfit_core.bench`` runs it in
the same process as lmfit_core: a ratio from one run says more on a noisy
machine than a number measured on another day. Optional: ``load`` returns None
without it.

The model is ``_examples``' Gaussian on a background, the same formulas and
order of operations, with the abscissae frozen into the compiled code and the
data as the callback's user data; the fits take the same steps (same nfev).
"""
import numpy as np


def load(t):
    """The peer's fits of Gaussians on the abscissae `t`, or None if it is not installed.

    Returns
    -------
    dict or None
        ``"lmdif"`` and ``"lmder"``: ``fit(y, x0)`` for one fit called from
        Python; ``"lmder_loop"``: ``fits(Y, X0)``, a numba-compiled loop over
        the rows of ``Y`` (one fit each, analytic Jacobian).
    """
    try:
        import cminpack_numba as cm
        import numba
    except ImportError:
        return None
    t = np.ascontiguousarray(t, dtype=float)

    @numba.cfunc(cm.lmdif_sig)
    def residuals(udata, m, n, p, fvec, iflag):
        y = numba.carray(udata, (m,), dtype=np.float64)
        a, c, w, b = p[0], p[1], p[2], p[3]
        s = -0.5 / (w * w)
        for i in range(m):
            u = t[i] - c
            fvec[i] = a * np.exp(s * u * u) + b - y[i]
        return 0

    @numba.cfunc(cm.lmder_sig)
    def residuals_jacobian(udata, m, n, p, fvec, fjac, ldfjac, iflag):
        y = numba.carray(udata, (m,), dtype=np.float64)
        a, c, w, b = p[0], p[1], p[2], p[3]
        s = -0.5 / (w * w)
        w2 = 1.0 / (w * w)
        if iflag == 1:
            for i in range(m):
                u = t[i] - c
                fvec[i] = a * np.exp(s * u * u) + b - y[i]
        elif iflag == 2:
            for i in range(m):
                u = t[i] - c
                g = np.exp(s * u * u)
                fjac[i] = g
                fjac[i + ldfjac] = a * g * u * w2
                fjac[i + 2 * ldfjac] = a * g * u * u * w2 / w
                fjac[i + 3 * ldfjac] = 1.0
        return 0

    dif, der, m = residuals.address, residuals_jacobian.address, t.size

    @numba.njit
    def lmder_loop(Y, X0):
        x = np.empty_like(X0)
        nfev = np.empty(Y.shape[0], dtype=np.int64)
        for k in range(Y.shape[0]):
            out = cm.lmder(der, m, X0[k], udata=Y[k])
            x[k] = out[0]
            nfev[k] = out[-3]
        return x, nfev

    def fit_dif(y, x0):
        return cm.lmdif(dif, m, x0, udata=y)

    def fit_der(y, x0):
        return cm.lmder(der, m, x0, udata=y)

    return {"lmdif": fit_dif, "lmder": fit_der, "lmder_loop": lmder_loop}
