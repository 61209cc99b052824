"""``leastsq``: the SciPy-compatible front end of the engine.

Argument checking, SciPy's messages, ``cov_x`` and ``infodict`` live here;
the numbers come from the engine through the Python-callback driver. Fits
with compiled callbacks go to ``cython_lm.leastsq_compiled``, which checks the
usual arguments in C and uses the helpers here for the rest.
"""
import mmap
import operator
import warnings

import numpy as np

from lmfit_core._covar import covariance
from lmfit_core._qrtall import tall
from lmfit_core._pydriver import (ERR_F0_NONFINITE, ERR_JAC_NONFINITE, all_finite, drive,
                                  real_array)
from lmfit_core.cython_lm import is_compiled, leastsq_compiled

__all__ = ["leastsq", "ImproperInputError", "LEASTSQ_SUCCESS", "LEASTSQ_FAILURE"]

_EPS = float(np.finfo(np.float64).eps)
_F8 = np.dtype(np.float64)

LEASTSQ_SUCCESS = (1, 2, 3, 4)
LEASTSQ_FAILURE = (5, 6, 7, 8)


class ImproperInputError(TypeError, ValueError):
    """An argument of `leastsq` is not valid.

    SciPy reports improper input with ``ier = 0`` and a ``TypeError``; this
    exception is a ``TypeError`` for code written against SciPy and a
    ``ValueError`` for code that expects one, and its message names the
    argument at fault.
    """


def _minpack_refuses(message):
    """ImproperInputError for an option MINPACK itself refuses with info = 0
    (negative tolerance, factor <= 0, diag entry <= 0): with full_output,
    leastsq returns SciPy's ``ier = 0`` result for it instead of raising."""
    exc = ImproperInputError(message)
    exc.minpack_info_0 = True
    return exc


def _message(info, ftol, xtol, gtol, maxfev):
    """SciPy's text for `info`, word for word (callers match on it)."""
    if info == 1:
        return ("Both actual and predicted relative reductions "
                f"in the sum of squares\n  are at most {ftol:f}")
    if info == 2:
        return ("The relative error between two consecutive "
                f"iterates is at most {xtol:f}")
    if info == 3:
        return ("Both actual and predicted relative reductions in "
                f"the sum of squares\n  are at most {ftol:f} and the "
                "relative error between two consecutive "
                f"iterates is at \n  most {xtol:f}")
    if info == 4:
        return ("The cosine of the angle between func(x) and any "
                "column of the\n  Jacobian is at most "
                f"{gtol:f} in absolute value")
    if info == 5:
        return f"Number of calls to function has reached maxfev = {maxfev}."
    if info == 6:
        return (f"ftol={ftol:f} is too small, no further reduction "
                "in the sum of squares\n  is possible.")
    if info == 7:
        return (f"xtol={xtol:f} is too small, no further improvement in "
                "the approximate\n  solution is possible.")
    if info == 8:
        return (f"gtol={gtol:f} is too small, func(x) is orthogonal to the "
                "columns of\n  the Jacobian to machine precision.")
    return "Improper input parameters."


def _real_vector(value, name):
    """`value` flattened to a new float64 vector; complex or non-numeric is an error."""
    if type(value) is np.ndarray and (value.dtype is _F8 or value.dtype == _F8):
        return value.flatten()
    arr = real_array(value, name, ImproperInputError)
    return np.array(arr, dtype=np.float64, order="C").reshape(-1)


def _compiled_residual_count(args, n, caller="leastsq"):
    """M for a compiled func, which takes its data as user data: args == (M,)."""
    if len(args) != 1:
        raise TypeError(f"{caller}: a compiled func takes no Python arguments: pass "
                        "the number of residuals as args=(M,) and the data as the "
                        "callback's user data")
    try:
        m = operator.index(args[0])
    except TypeError as exc:
        raise TypeError(f"{caller}: with a compiled func, args=(M,) must give the "
                        f"number of residuals as an integer, got {args[0]!r}") from exc
    if n > m:
        raise TypeError(f"Improper input: func input vector length N={n} must"
                        f" not exceed func output vector length M={m}")
    return m


def _nonnegative(value, name, caller="leastsq"):
    # inf is accepted, as by SciPy (MINPACK's tests then hold at once); NaN
    # would make every test false and the fit run to maxfev.
    if type(value) is float and value >= 0.0:
        return value            # the defaults, without a conversion (NaN fails >=)
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ImproperInputError(f"{caller}: {name} must be a real number, "
                                 f"got {value!r}") from exc
    if v != v:
        raise ImproperInputError(f"{caller}: {name} must be >= 0, got nan")
    if v < 0.0:
        raise _minpack_refuses(f"{caller}: {name} must be >= 0, got {v!r}")
    return v


def _check_callbacks(caller, func, Dfun):
    """Check `func` and `Dfun` (both Python callables or both compiled); return compiled."""
    compiled = is_compiled(func)
    if not (compiled or callable(func)):
        raise TypeError(f"{caller}: func must be callable, got {type(func).__name__}")
    if Dfun is not None:
        if not (callable(Dfun) or is_compiled(Dfun)):
            raise TypeError(f"{caller}: Dfun must be callable or None, got "
                            f"{type(Dfun).__name__}")
        if compiled != is_compiled(Dfun):
            raise TypeError(f"{caller}: func and Dfun must both be compiled callbacks "
                            "or both Python callables")
    return compiled


def _check_options(caller, ftol, xtol, gtol, factor, maxfev, epsfcn):
    """The scalar options of leastsq, checked and converted (errors name them)."""
    ftol = _nonnegative(ftol, "ftol", caller)
    xtol = _nonnegative(xtol, "xtol", caller)
    gtol = _nonnegative(gtol, "gtol", caller)
    try:
        factor = float(factor)
    except (TypeError, ValueError) as exc:
        raise ImproperInputError(f"{caller}: factor must be a real number, got "
                                 f"{factor!r}") from exc
    if factor != factor:
        raise ImproperInputError(f"{caller}: factor must be positive, got nan")
    if factor <= 0.0:
        raise _minpack_refuses(f"{caller}: factor must be positive, got {factor!r}")
    try:
        maxfev = operator.index(maxfev)
    except TypeError as exc:
        raise ImproperInputError(f"{caller}: maxfev must be an integer, got "
                                 f"{maxfev!r}") from exc
    if epsfcn is not None:
        try:
            epsfcn = float(epsfcn)
        except (TypeError, ValueError) as exc:
            raise ImproperInputError(f"{caller}: epsfcn must be a real number or "
                                     f"None, got {epsfcn!r}") from exc
        if epsfcn != epsfcn:
            raise ImproperInputError(f"{caller}: epsfcn must not be NaN")
    return ftol, xtol, gtol, factor, maxfev, epsfcn


def _check_diag(diag, n, caller="leastsq"):
    """(mode, scale): MINPACK's mode 1 and None, or mode 2 and diag checked."""
    if diag is None:
        return 1, None
    scale = _real_vector(diag, "diag")
    if scale.size != n:
        raise ImproperInputError(f"{caller}: diag must have N={n} entries, got "
                                 f"{scale.size}")
    if not all_finite(scale):
        raise ImproperInputError(f"{caller}: diag must hold finite scale factors, got "
                                 f"{np.array2string(scale, threshold=10)}")
    if not (scale > 0).all():
        raise _minpack_refuses(f"{caller}: diag must hold positive scale factors, "
                               f"got {np.array2string(scale, threshold=10)}")
    return 2, scale


def _check_residuals(f0, n):
    """Validate func(x0); return (fvec float64 copy, m, dtype, returned a scalar)."""
    if type(f0) is np.ndarray and (f0.dtype is _F8 or f0.dtype == _F8) and f0.ndim == 1:
        if n > f0.size:
            raise TypeError(f"Improper input: func input vector length N={n} must"
                            f" not exceed func output vector length M={f0.size}")
        return f0.copy(), f0.size, f0.dtype, False
    arr = real_array(f0, "the residuals of func")
    if arr.ndim > 1:
        raise TypeError("leastsq: func must return a 1-D array of M residuals, got "
                        f"an array of shape {arr.shape}")
    m = arr.size
    if n > m:
        raise TypeError(f"Improper input: func input vector length N={n} must"
                        f" not exceed func output vector length M={m}")
    dtype = arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float64)
    fvec = np.array(arr, dtype=np.float64, order="C").reshape(-1)
    return fvec, m, dtype, arr.ndim == 0


def _untouched_zeros(n, m):
    """An (n, m) float64 array of zeros whose pages the OS supplies on first touch.

    np.zeros of a large array may come from memory the allocator reuses, which
    calloc must clear: 10 MB of memset per fit for a tall fjac of which only R
    is written. An anonymous mapping is zero and costs nothing where unwritten;
    it is released with the array.
    """
    nbytes = 8 * n * m
    if nbytes < (1 << 20):
        return np.zeros((n, m))
    return np.frombuffer(mmap.mmap(-1, nbytes), dtype=np.float64).reshape(n, m)


def _improper_input(func, x, args, has_dfun):
    """full_output for input MINPACK refuses, as SciPy gives it: ier = 0.

    x is x0, cov_x None, fvec = func(x0) (one call, and nfev says so); fjac,
    ipvt and qtf are zeros (SciPy leaves them uninitialised). An empty x0 ends
    here too: with every parameter held fixed there is nothing to fit, and
    fitting libraries (lmfit's conf_interval2d of a two-parameter model) still
    call leastsq for the residuals.
    """
    n = x.size
    fvec, m, _, scalar_output = _check_residuals(func(x.copy(), *args), n)
    infodict = _infodict(fvec, scalar_output, 1, 0 if has_dfun else None,
                         np.zeros((n, m)), np.zeros(n, dtype=np.int32), np.zeros(n))
    return x, None, infodict, _message(0, 0.0, 0.0, 0.0, 0), 0


def _infodict(fvec, scalar_output, nfev, njev, fjac, ipvt, qtf):
    """SciPy's infodict, its keys in SciPy's order (njev None: no Dfun, no key)."""
    infodict = {"fvec": fvec[0] if scalar_output else fvec, "nfev": nfev}
    if njev is not None:
        infodict["njev"] = njev
    infodict["fjac"] = fjac
    infodict["ipvt"] = ipvt
    infodict["qtf"] = qtf
    return infodict


def leastsq(func, x0, args=(), Dfun=None, full_output=False,
            col_deriv=False, ftol=1.49012e-8, xtol=1.49012e-8,
            gtol=0.0, maxfev=0, epsfcn=None, factor=100, diag=None):
    """
    Minimize the sum of squares of a set of equations.

    ::

        x = arg min(sum(func(y)**2,axis=0))
                 y

    A drop-in replacement for :func:`scipy.optimize.leastsq`: the same
    arguments, defaults, return values, ``ier`` codes, messages, warnings and
    exceptions, computed by MINPACK's ``lmdif`` (finite differences) or
    ``lmder`` (with `Dfun`) in typed Cython. On the same problem it takes the
    same steps as SciPy: the same ``nfev`` and the same `x` to rounding.

    Parameters
    ----------
    func : callable
        ``func(x, *args)`` returns the ``M`` residuals at the ``N`` parameters
        `x` (a new 1-D float64 array each call). ``M`` must be at least ``N``
        and must not change during the fit.
    x0 : array_like
        The starting estimate; flattened to a float64 vector of length ``N``.
    args : tuple, optional
        Extra arguments passed to `func` and `Dfun`. A non-tuple is wrapped
        in a 1-tuple.
    Dfun : callable, optional
        ``Dfun(x, *args)`` returns the Jacobian of `func`, shape ``(M, N)``
        (derivatives across the rows), or ``(N, M)`` with `col_deriv`. If
        None, the Jacobian is estimated by forward differences.
    full_output : bool, optional
        If True, return all optional outputs, not just `x` and `ier`.
    col_deriv : bool, optional
        If True, `Dfun` returns derivatives down the columns, shape
        ``(N, M)``: MINPACK's own layout, copied without a transpose.
    ftol : float, optional
        Relative error desired in the sum of squares.
    xtol : float, optional
        Relative error desired in the approximate solution.
    gtol : float, optional
        Orthogonality desired between the function vector and the columns of
        the Jacobian.
    maxfev : int, optional
        The maximum number of calls to `func`. If 0 (or negative): ``100*(N+1)``
        with `Dfun`, otherwise ``200*(N+1)``.
    epsfcn : float, optional
        Determines the step of the forward-difference Jacobian:
        ``sqrt(max(epsfcn, eps)) * |x_j|``. If None, the machine epsilon of
        the dtype `func` returns (that of float64 for non-float results).
    factor : float, optional
        Determines the initial step bound ``factor * ||diag * x||`` (or
        `factor` itself when that is zero). Must be positive; should lie in
        ``(0.1, 100)``.
    diag : sequence, optional
        ``N`` positive scale factors for the variables. If None, the
        variables are scaled by the column norms of the Jacobian.

    Returns
    -------
    x : ndarray
        The solution (or the last accepted iterate for an unsuccessful call),
        always 1-D of length ``N``.
    cov_x : ndarray or None
        The inverse of ``J^T J`` at the solution, from the final QR factors,
        as SciPy computes it; None when ``R`` is singular or `ier` is not in
        1-4. Multiply by the residual variance to get the covariance of `x`.
        Only returned if `full_output` is True.
    infodict : dict
        Only returned if `full_output` is True, with the keys

        ``nfev``
            The number of calls to `func`.
        ``njev``
            The number of calls to `Dfun` (only when `Dfun` is given).
        ``fvec``
            `func` evaluated at the output `x`.
        ``fjac``
            Shape ``(N, M)``: the transpose of MINPACK's ``fjac``, whose upper
            triangle is ``R`` of the final ``J P = Q R`` (diagonal of
            non-increasing magnitude) and whose lower part holds the
            Householder vectors and MINPACK's work. For tall problems (see
            Notes) only ``fjac[:, :N]`` is defined this way; the rest is zero
            with `Dfun`, and without it the last Jacobian (or, when that was
            singular to working precision, MINPACK's Householder vectors).
        ``ipvt``
            int32, shape ``(N,)``: the 0-based permutation ``P``; column ``j``
            of ``P`` is column ``ipvt[j]`` of the identity (as in SciPy 1.15
            and later).
        ``qtf``
            The first ``N`` entries of ``Q^T fvec``.
    mesg : str
        SciPy's message for `ier`. Only returned if `full_output` is True.
    ier : int
        1, 2, 3 or 4 when a solution was found, 5-8 otherwise (see `mesg`).

    Raises
    ------
    ImproperInputError
        (a subclass of both TypeError and ValueError) when an argument is
        invalid: complex or non-finite `x0`, NaN tolerances or `factor`,
        a `diag` that is not ``N`` finite numbers, a non-integer `maxfev`;
        and, unless `full_output` is True (see Notes), for what MINPACK
        itself refuses: an empty `x0`, negative tolerances, ``factor <= 0``,
        a `diag` entry ``<= 0``.
    TypeError
        When `func` or `Dfun` is not callable, when ``N > M`` (SciPy's text),
        or when `func` or `Dfun` returns an array of the wrong shape or type.
    ValueError
        When `func` is not finite at `x0`, when the Jacobian is not finite,
        or when the number of residuals changes during the fit.
    Exception
        Anything `func` or `Dfun` raises propagates unchanged.

    Warns
    -----
    RuntimeWarning
        With ``full_output=False``, when ``ier`` is 5-8 (with `mesg` as text).

    See Also
    --------
    scipy.optimize.leastsq : The reference this function reproduces.

    Notes
    -----
    Where this function deliberately differs from SciPy 1.17:

    - SciPy evaluates `func` at `x0` three times and `Dfun` once more than it
      reports. Here `func` is called exactly ``nfev`` times and `Dfun`
      exactly ``njev`` times; the first call, at `x0`, both sizes the problem
      and starts MINPACK's iteration.
    - SciPy may report success when the residuals are NaN. Here a `func`
      that is not finite at `x0` raises ``ValueError`` and a non-finite
      Jacobian raises ``ValueError`` naming the column. A non-finite trial
      point is a rejected step, as in SciPy (MINPACK's arithmetic, bit for
      bit); a returned `x` and ``fvec`` are always finite.
    - Improper input raises :class:`ImproperInputError`, which says which
      argument is wrong (SciPy raises ``TypeError("Improper input
      parameters.")``). With `full_output` True, input that MINPACK itself
      refuses (an empty `x0`, negative tolerances, ``factor <= 0``, a `diag`
      entry ``<= 0``) returns what SciPy returns: ``ier = 0``, the message
      for improper input, ``x = x0``, ``cov_x`` None and ``fvec =
      func(x0)`` from one call (``nfev = 1``; SciPy makes the call and
      reports 0). Input that SciPy runs with meaningless results (NaN
      tolerances or `factor`, a non-finite `diag`) always raises. Complex
      input or output is an error, never silently truncated.
    - `func` gets an array nothing else refers to at every call, which it
      may keep (SciPy passes a view of its work array, which it later
      modifies).
    - An exception raised by `func` or `Dfun` propagates unchanged from any
      point of the fit.
    - Tall problems (``M >= 8192`` and ``M >= 32 N``) factor the
      Jacobian in one cache-blocked pass over it instead of MINPACK's ``N``
      sweeps, and read a `Dfun` result in place instead of copying it. The
      pivots are MINPACK's (column norms do not change under the orthogonal
      reduction), and the results agree with SciPy's to rounding, not bit for
      bit. A Jacobian singular to working precision is factored with
      MINPACK's ``qrfac`` instead. Every smaller problem runs MINPACK's
      operations in MINPACK's order.

    Examples
    --------
    >>> from lmfit_core import leastsq
    >>> def func(x):
    ...     return 2*(x-3)**2+1
    >>> leastsq(func, 0)
    (array([2.99999999]), 1)
    """
    return _leastsq(func, x0, args, Dfun, full_output, col_deriv, ftol, xtol, gtol,
                    maxfev, epsfcn, factor, diag)


def _leastsq(func, x0, args, Dfun, full_output, col_deriv, ftol, xtol, gtol, maxfev,
             epsfcn, factor, diag, *, scipy_qrfac=False, stacklevel=3):
    # The body of leastsq. scipy_qrfac (parity tests only) reproduces the column
    # norm recomputation of SciPy <= 1.17.1's qrfac; stacklevel points the
    # RuntimeWarning at the caller of leastsq.
    if _check_callbacks("leastsq", func, Dfun):
        # The whole front end of a compiled fit is Cython: see leastsq_compiled.
        return leastsq_compiled(func, x0, args, Dfun, full_output, ftol, xtol, gtol,
                                maxfev, epsfcn, factor, diag, stacklevel)
    x = _real_vector(x0, "x0")
    n = x.size
    if n == 0 and not full_output:
        raise ImproperInputError("leastsq: x0 must contain at least one parameter")
    if not all_finite(x):
        raise ImproperInputError("leastsq: x0 must be finite, got "
                                 f"{np.array2string(x, threshold=10)}")
    if not isinstance(args, tuple):
        args = (args,)
    try:
        ftol, xtol, gtol, factor, maxfev, epsfcn = _check_options(
            "leastsq", ftol, xtol, gtol, factor, maxfev, epsfcn)
        mode, scale = _check_diag(diag, n)
    except ImproperInputError as exc:
        # SciPy returns ier = 0 here with full_output, and raises without.
        if getattr(exc, "minpack_info_0", False) and full_output:
            return _improper_input(func, x, args, Dfun is not None)
        raise

    # SciPy's defaults: 0 means the default here, a negative value in MINPACK's
    # wrapper; both end at the same count, but the message shows the given value.
    default_maxfev = (200 if Dfun is None else 100) * (n + 1)
    if maxfev == 0:
        maxfev = default_maxfev
    run_maxfev = default_maxfev if maxfev < 0 else maxfev

    if n == 0:
        return _improper_input(func, x, args, Dfun is not None)
    # The first evaluation sizes the problem and is MINPACK's first evaluation.
    fvec, m, dtype, scalar_output = _check_residuals(func(x.copy(), *args), n)
    if epsfcn is None:
        epsfcn = _EPS if dtype is _F8 else float(np.finfo(dtype).eps)
    # For tall problems with Dfun the engine reads the Jacobian where Dfun
    # returns it and writes only R into fjac; infodict's fjac is zero
    # elsewhere (fresh zero pages: those never touched cost nothing).
    fjac = (_untouched_zeros(n, m) if full_output and Dfun is not None and tall(m, n)
            else np.empty((n, m)))
    ipvt, qtf = np.empty(n, dtype=np.int32), np.empty(n)
    if scale is None:
        scale = np.empty(n)         # mode 1: drive leaves MINPACK's scaling here
    info, nfev, njev, error, column = drive(
        func, Dfun, args, bool(col_deriv), x, fvec, fjac, scale, mode, ipvt, qtf,
        ftol, xtol, gtol, run_maxfev, epsfcn, factor, scipy_qrfac)

    if error in (ERR_F0_NONFINITE, ERR_JAC_NONFINITE):
        raise _nonfinite_error(error == ERR_F0_NONFINITE, column, Dfun is not None, x,
                               fvec)
    if info == 0:  # pragma: no cover - every improper input is rejected above
        raise ImproperInputError(_message(0, ftol, xtol, gtol, maxfev))
    if not full_output:
        if info in LEASTSQ_FAILURE:
            warnings.warn(_message(info, ftol, xtol, gtol, maxfev), RuntimeWarning,
                          stacklevel=stacklevel)
        return x, info
    return _full_output(x, fvec, scalar_output, fjac, ipvt, qtf, info, nfev,
                        None if Dfun is None else njev, ftol, xtol, gtol, maxfev)


def _nonfinite_error(at_x0, column, has_dfun, x, fvec):
    """The ValueError for non-finite residuals at x0 or a non-finite Jacobian column."""
    if at_x0:
        bad = np.flatnonzero(~np.isfinite(fvec))
        return ValueError(f"leastsq: func returned non-finite residuals at x0 (NaN "
                          f"or inf at positions {bad[:10].tolist()}); the fit needs "
                          "finite residuals at the starting point")
    if not has_dfun:
        return ValueError(
            f"leastsq: the finite-difference Jacobian is not finite in column "
            f"{column}: func returned NaN or inf at x + h*e_{column}, "
            f"x = {np.array2string(x, threshold=10)}")
    return ValueError(f"leastsq: Dfun returned NaN or inf in the derivatives "
                      f"with respect to x[{column}], at x = "
                      f"{np.array2string(x, threshold=10)}")


def _full_output(x, fvec, scalar_output, fjac, ipvt, qtf, info, nfev, njev, ftol, xtol,
                 gtol, maxfev):
    """leastsq's full_output tuple: (x, cov_x, infodict, mesg, ier)."""
    cov_x = covariance(fjac, ipvt) if info in LEASTSQ_SUCCESS else None
    infodict = _infodict(fvec, scalar_output, nfev, njev, fjac, ipvt, qtf)
    return x, cov_x, infodict, _message(info, ftol, xtol, gtol, maxfev), info
