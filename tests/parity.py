"""Helpers shared by the parity tests: run SciPy and lmfit_core side by side."""
import ctypes
import warnings

import numpy as np
import scipy
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import leastsq as scipy_leastsq

from lmfit_core._leastsq import _leastsq

FIELDS = ("fvec", "fjac", "qtf")


def _malloc_usable_size():
    """glibc's malloc_usable_size, when NumPy's data come straight from malloc."""
    if np._core.multiarray.get_handler_name() != "default_allocator":
        return None
    try:
        usable = ctypes.CDLL(None).malloc_usable_size
    except (OSError, AttributeError):
        return None
    usable.restype = ctypes.c_size_t
    usable.argtypes = [ctypes.c_void_p]
    return usable


_USABLE_SIZE = _malloc_usable_size()
#: Whether `zero_heap_past_arrays` can make SciPy's read past fjac deterministic.
HEAP_ZEROING = _USABLE_SIZE is not None


def zero_heap_past_arrays(nbytes):
    """Leave freed NumPy buffers of `nbytes` bytes whose slack past the end is zero.

    SciPy's qrfac (up to 1.17.1) reads one double past its fjac array (see
    ``SCIPY_QRFAC_OFFBYONE``): whatever the heap holds there. Buffers of the
    same size, allocated, zeroed beyond their end up to the block's usable
    size and freed just before SciPy allocates fjac, are the ones NumPy's
    cache and malloc hand back to it, so the stray value is 0 (the value the
    emulation adds) instead of leftovers from earlier tests.
    """
    if not HEAP_ZEROING or nbytes <= 0 or nbytes % 8:
        return
    buffers = [np.empty(nbytes // 8) for _ in range(16)]
    for buffer in buffers:
        address = buffer.ctypes.data
        slack = _USABLE_SIZE(address) - nbytes
        if slack > 0:
            ctypes.memset(address + nbytes, 0, slack)
    del buffer, buffers


def _zeroing_heap_after_first_call(func, n):
    """`func`, zeroing the heap for fjac after SciPy's first (shape-checking) call."""
    first = True

    def wrapped(x, *args):
        nonlocal first
        f = func(x, *args)
        if first:
            first = False
            zero_heap_past_arrays(np.size(f) * n * 8)
        return f

    return wrapped


def run_both(func, x0, *, Dfun=None, compat=False, **options):
    """(SciPy's full output, lmfit_core's full output) for one problem."""
    kwargs = dict(args=(), Dfun=Dfun, col_deriv=False, ftol=1.49012e-08,
                  xtol=1.49012e-08, gtol=0.0, maxfev=0, epsfcn=None, factor=100,
                  diag=None)
    kwargs.update(options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = scipy_leastsq(_zeroing_heap_after_first_call(func, np.size(x0)),
                            x0, full_output=True, **kwargs)
        got = _leastsq(func, x0, kwargs["args"], kwargs["Dfun"], True,
                       kwargs["col_deriv"], kwargs["ftol"], kwargs["xtol"],
                       kwargs["gtol"], kwargs["maxfev"], kwargs["epsfcn"],
                       kwargs["factor"], kwargs["diag"], scipy_qrfac=compat)
    return ref, got


def _scaled_close(actual, desired, rtol, name):
    desired = np.asarray(desired, dtype=float)
    scale = max(1.0, float(np.max(np.abs(desired)))) if desired.size else 1.0
    assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale, err_msg=name)


def assert_same_fit(ref, got, rtol=1e-12):
    """Equal ier, nfev, njev, mesg, ipvt; x, fvec, fjac, qtf, cov_x to rounding."""
    x_r, cov_r, info_r, mesg_r, ier_r = ref
    x_g, cov_g, info_g, mesg_g, ier_g = got
    assert ier_g == ier_r
    assert mesg_g == mesg_r
    assert info_g["nfev"] == info_r["nfev"]
    assert info_g.get("njev") == info_r.get("njev")
    assert list(info_g) == list(info_r)
    assert_array_equal(info_g["ipvt"], info_r["ipvt"])
    assert info_g["ipvt"].dtype == info_r["ipvt"].dtype
    _scaled_close(x_g, x_r, rtol, "x")
    for key in FIELDS:
        assert np.shape(info_g[key]) == np.shape(info_r[key]), key
        _scaled_close(info_g[key], info_r[key], rtol, key)
    if cov_r is None:
        assert cov_g is None
    else:
        # Two inversions of the same R agree to about cond(R) * eps.
        n = x_r.size
        r = np.triu(info_r["fjac"].T[:n, :])
        tol = max(1e-12, 50 * np.finfo(float).eps * np.linalg.cond(r))
        assert cov_g is not None
        _scaled_close(cov_g, cov_r, tol, "cov_x")


def same_fit(ref, got):
    try:
        assert_same_fit(ref, got)
    except AssertionError:
        return False
    return True


def emulation_matches_scipy(ref, fit):
    """Whether the emulated off-by-one run equals SciPy's run `ref`.

    ``fit(compat)`` runs both libraries on the problem, lmfit_core emulating
    SciPy's read when `compat` is true. SciPy's extra read past the last
    column picks up whatever the heap holds there. With that slack zeroed
    first (glibc, NumPy's default allocator) SciPy adds 0 there, as the
    emulation does, and matches it; where the allocator hands SciPy a block
    other than the zeroed ones, or without zeroing, the emulation must equal
    one of a few more SciPy runs.
    """
    _, emulated = fit(True)
    if same_fit(ref, emulated):
        return True, emulated
    for _ in range(3 if HEAP_ZEROING else 5):
        if same_fit(fit(False)[0], emulated):
            return True, emulated
    return False, emulated


def _scipy_qrfac_reads_past_column():
    """Whether this SciPy's qrfac has the off-by-one norm recomputation.

    SciPy's C translation of MINPACK (up to 1.17.1) recomputes a downdated
    column norm over one entry too many. On this matrix the extra entry
    changes the pivot order, which shows in ``ipvt`` after one QR (a huge
    gtol stops the fit right after the first factorisation).
    """
    rng = np.random.default_rng(0)
    for _ in range(200):
        jac = rng.normal(size=(6, 4)) * rng.uniform(0.1, 3, size=4)
        jac[:, 1] = jac[:, 0] * 0.9 + 1e-9 * rng.normal(size=6)
        jac[:, 0] *= 1.2
        b = rng.normal(size=6)
        ref, exact = run_both(lambda x: jac @ x - b, np.ones(4),
                              Dfun=lambda x: jac, gtol=1e10)
        _, emulated = run_both(lambda x: jac @ x - b, np.ones(4),
                               Dfun=lambda x: jac, gtol=1e10, compat=True)
        if not np.array_equal(exact[2]["ipvt"], emulated[2]["ipvt"]):
            return np.array_equal(ref[2]["ipvt"], emulated[2]["ipvt"])
    raise AssertionError("no probe matrix separates the two norm recomputations")


SCIPY_QRFAC_OFFBYONE = _scipy_qrfac_reads_past_column()
SCIPY_VERSION = scipy.__version__
