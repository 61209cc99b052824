"""Fits along one axis of a chunked ``dask.array``, one ``leastsq_batch`` per block.

Needs Dask (``pip install "lmfit_core[dask]"``); ``import lmfit_core`` alone
never imports it. Each block of the data (of an image cube of shape
``(ny, nx, M)``, say) becomes one batch of problems for
:func:`lmfit_core.leastsq_batch`, so the same call runs on Dask's threads on a
laptop or on the workers of a ``dask.distributed`` cluster.
"""
import inspect
from collections import namedtuple

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as exc:  # pragma: no cover - tested in a subprocess without dask
    raise ImportError(
        "lmfit_core.dask needs Dask, which is not installed: "
        "pip install \"lmfit_core[dask]\"") from exc

from lmfit_core._leastsq import _check_callbacks, _check_options
from lmfit_core.batch import leastsq_batch

__all__ = ["fit_along_axis", "AxisFit"]


class AxisFit(namedtuple("AxisFit", ["x", "ier", "nfev", "fnorm"])):
    """Results of `fit_along_axis`: lazy Dask arrays from one task graph.

    A named tuple, so ``x, ier, nfev, fnorm = dask.compute(*fit)`` computes
    the four together (each block is fitted once); `compute` does the same and
    returns an ``AxisFit`` of NumPy arrays.

    Attributes
    ----------
    x : dask.array.Array, shape (..., n)
        The parameters at every position (for a fit that did not converge,
        its last accepted iterate).
    ier : dask.array.Array of int, shape (...)
        ``leastsq``'s code at every position: 1-4 converged, 5-8 stopped by a
        limit, 9 the residuals are not finite at the start (NaN data, for
        example), 10 the Jacobian is not finite. See `lmfit_core.BatchResult`.
    nfev : dask.array.Array of int, shape (...)
        Evaluations of the model for each position, counted as ``leastsq``
        counts them.
    fnorm : dask.array.Array, shape (...)
        Euclidean norm of the residuals at `x`.
    """

    __slots__ = ()

    def compute(self, **kwargs):
        """Compute the four arrays in one pass (`kwargs` go to ``dask.compute``).

        Returns
        -------
        AxisFit
            The same fields as NumPy arrays.
        """
        return AxisFit(*dask.compute(*self, **kwargs))


# Options of leastsq_batch that have no meaning per block of a Dask array.
_NOT_PER_BLOCK = {
    "cov": "cov_x is not returned by fit_along_axis; fit the positions you need "
           "with leastsq_batch(..., cov=True)",
    "progress": "each block would report on its own; use Dask's progress bars "
                "(dask.diagnostics.ProgressBar, distributed.progress) instead",
    "threads": "Dask decides the parallelism: its workers fit several blocks at "
               "once",
}


_BATCH_PARAMETERS = inspect.signature(leastsq_batch).parameters


def _fit_block(y, x0, *, model, jacobian, n, args, options):
    """Fit one block: data (..., M) and starts (..., n) or (n,) -> (..., n + 3).

    The results are packed as ``x, ier, nfev, fnorm`` along the last axis so
    that all of them come out of one task.
    """
    lead = y.shape[:-1]
    rows = np.ascontiguousarray(y.reshape(-1, y.shape[-1]), dtype=np.float64)
    out = np.empty((rows.shape[0], n + 3))
    if rows.shape[0]:
        starts = np.broadcast_to(np.asarray(x0, dtype=np.float64), lead + (n,))
        res = leastsq_batch(model, starts.reshape(-1, n), args=(rows,) + args,
                            Dfun=jacobian, **options)
        out[:, :n] = res.x
        out[:, n] = res.ier
        out[:, n + 1] = res.nfev
        out[:, n + 2] = res.fnorm
    return out.reshape(lead + (n + 3,))


def _check_fit_options(options, n):
    for name, why in _NOT_PER_BLOCK.items():
        if name in options:
            raise TypeError(f"fit_along_axis does not take {name!r}: {why}")
    # func, x0, args and Dfun are fit_along_axis's own parameters, never in options.
    params = _BATCH_PARAMETERS
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise TypeError(f"fit_along_axis got unexpected keyword arguments {unknown}")
    value = {name: options.get(name, params[name].default)
             for name in ("ftol", "xtol", "gtol", "factor", "maxfev", "epsfcn")}
    _check_options("fit_along_axis", value["ftol"], value["xtol"], value["gtol"],
                   value["factor"], value["maxfev"], value["epsfcn"])
    options = dict(options)
    if options.get("diag") is not None:
        diag = np.asarray(options["diag"], dtype=np.float64)
        if diag.shape != (n,):
            raise ValueError(f"fit_along_axis: diag must have shape (n,) = ({n},), one "
                             f"scale factor per parameter, got shape {diag.shape}")
        options["diag"] = diag
    return options


def _observations(data, axis):
    """`data` as a Dask array with the observations last, in a single chunk."""
    if not isinstance(data, da.Array):
        data = np.asarray(data)
        if data.ndim == 0:
            raise ValueError("fit_along_axis: data must have at least one axis (the "
                             "observations)")
        data = np.moveaxis(data, axis, -1)
        return da.from_array(data, chunks=("auto",) * (data.ndim - 1) + (-1,))
    if data.ndim == 0:
        raise ValueError("fit_along_axis: data must have at least one axis (the "
                         "observations)")
    original = axis
    if axis < 0:
        axis += data.ndim
    if not 0 <= axis < data.ndim:
        raise ValueError(f"fit_along_axis: axis {original} is out of bounds for data "
                         f"with {data.ndim} axes")
    if len(data.chunks[axis]) != 1:
        raise ValueError(
            f"fit_along_axis: the observation axis of data (axis {original}, length "
            f"{data.shape[axis]}) is split into {len(data.chunks[axis])} chunks; each "
            f"problem's observations must lie in one block: rechunk with "
            f"data.rechunk({{{axis}: -1}})")
    return da.moveaxis(data, axis, -1)


def fit_along_axis(func, data, x0, *, axis=-1, Dfun=None, args=(), n=None, **options):
    """Fit a model along one axis of a chunked array, one problem per position.

    Every position of `data` is a least-squares problem whose observations
    run along `axis`; the problems of each block of `data` are solved as one
    batch by :func:`lmfit_core.leastsq_batch`, and the blocks in parallel by
    Dask. Each problem's result is the one ``leastsq`` (and ``leastsq_batch``)
    gives for it: the same ``x``, ``ier`` and ``nfev``, whatever the chunks.

    Parameters
    ----------
    func : callable
        The vectorised model, called as ``func(p, k, y, *args)`` and returning
        the residuals as an ndarray of shape ``(r, M)``:

        * ``p``: the ``r`` parameter rows to evaluate, shape ``(r, n)``;
        * ``k``: the problem of each row (int array, shape ``(r,)``), an
          index into ``y``;
        * ``y``: the data of the block being fitted as rows, shape ``(K, M)``
          (float64), one row per position of the block in C order, so that
          ``y[k]`` holds the observations of each row's problem;
        * ``args``: the extra arguments below, such as the abscissae.

        It is the model contract of ``leastsq_batch`` with the block's data as
        the first extra argument. To run on a distributed cluster it must be
        picklable: a function defined at module level in a module the workers
        can import. Compiled callbacks are not supported.
    data : dask.array.Array or array_like, shape (..., M)
        The observations (real numbers; converted to float64 block by block).
        Along `axis` they must form a single chunk: this function raises
        rather than rechunk, which would copy the array. A NumPy array is
        wrapped in a Dask array chunked automatically along the other axes.
    x0 : array_like or dask.array.Array, shape (n,) or (..., n)
        The start: one vector for all positions, or one per position (NumPy
        or Dask, with the shape of `data` without `axis`, or broadcastable to
        it; a Dask array is rechunked to align with `data`). Must be finite.
    axis : int, optional
        The axis of `data` that holds the observations (default: the last).
        The results have the shape of `data` without it.
    Dfun : callable, optional
        The vectorised Jacobian, ``Dfun(p, k, y, *args) -> ndarray (r, M, n)``
        (``(r, n, M)`` with ``col_deriv=True``); picklable like `func`.
        Without it, forward differences, as in ``leastsq``.
    args : tuple, optional
        Further arguments of `func` and `Dfun`, after ``y`` (small, picklable
        objects such as NumPy arrays; they are sent with every task).
    n : int, optional
        The number of parameters. It is the length of the last axis of `x0`;
        if given, `x0` is checked against it.
    **options
        Options of ``leastsq_batch`` applied to every problem: ``col_deriv``,
        ``ftol``, ``xtol``, ``gtol``, ``maxfev``, ``epsfcn``, ``factor`` and
        ``diag`` (shape ``(n,)``), and ``chunk_size`` (the problems of a
        block fitted together; see ``leastsq_batch``). ``cov``,
        ``progress`` and ``threads`` are refused.

    Returns
    -------
    AxisFit
        Lazy Dask arrays ``x`` (shape ``(..., n)``), ``ier``, ``nfev`` and
        ``fnorm`` (shape ``(...)``), all from one task per block:
        ``fit.compute()`` or ``dask.compute(*fit)`` fits every block once.
        Nothing is fitted until then.

    Raises
    ------
    ValueError
        The observations are split into several chunks, `x0` does not fit
        the shape of `data` or `n`, or `diag` is not of shape ``(n,)``.
    TypeError
        `func` or `Dfun` is not a Python callable, or an option is unknown or
        refused.
    lmfit_core.ImproperInputError
        An option of ``leastsq_batch`` has an invalid value, or `x0` is not
        finite.

    Notes
    -----
    A position whose data hold NaN gets ``ier`` 9 (its residuals are not
    finite at the start), and the other positions of its block are fitted as
    usual; a masked pixel does not spoil its neighbours. Exceptions raised by
    `func` abandon the block's fit and surface from ``compute``.

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> from lmfit_core.dask import fit_along_axis
    >>> t = np.linspace(0, 4, 30)
    >>> rates = da.from_array(np.linspace(0.5, 2.0, 12).reshape(3, 4), chunks=2)
    >>> cube = 2.0 * da.exp(-rates[..., None] * t)            # (3, 4, 30)
    >>> def decay(p, k, y, t):
    ...     return p[:, :1] * np.exp(-p[:, 1:] * t) - y[k]
    >>> fit = fit_along_axis(decay, cube, [1.0, 1.0], args=(t,))
    >>> x, ier, nfev, fnorm = fit.compute()
    >>> np.round(x[..., 1], 6)
    array([[0.5     , 0.636364, 0.772727, 0.909091],
           [1.045455, 1.181818, 1.318182, 1.454545],
           [1.590909, 1.727273, 1.863636, 2.      ]])
    """
    if _check_callbacks("fit_along_axis", func, Dfun):
        raise TypeError("fit_along_axis: func and Dfun must be vectorised Python "
                        "callables, not compiled callbacks (a compiled model has no "
                        "access to the block's data)")
    if not isinstance(args, tuple):
        args = (args,)
    axis = int(axis)
    data = _observations(data, axis)
    if data.dtype.kind not in "biuf":
        raise TypeError(f"fit_along_axis: data must hold real numbers, got dtype "
                        f"{data.dtype}")
    lead = data.shape[:-1]

    if not isinstance(x0, da.Array):
        x0 = np.asarray(x0, dtype=np.float64)
    if x0.ndim == 0:
        raise ValueError("fit_along_axis: x0 must have shape (n,) or (..., n), got a "
                         "scalar")
    x0_n = x0.shape[-1]
    if n is not None and int(n) != x0_n:
        raise ValueError(f"fit_along_axis: x0 holds {x0_n} parameters per problem, "
                         f"but n = {n}")
    n = x0_n
    if n == 0:
        raise ValueError("fit_along_axis: x0 must contain at least one parameter")
    options = _check_fit_options(options, n)

    lead_ind = tuple(f"a{i}" for i in range(len(lead)))
    if x0.ndim == 1:
        # One start for every position: passed to every task as it is.
        if not np.isfinite(x0).all():
            raise ValueError("fit_along_axis: x0 must be finite")
        start_args = (x0, None)
    else:
        try:
            starts = da.broadcast_to(x0, lead + (n,))
        except ValueError:
            raise ValueError(f"fit_along_axis: x0 must have shape (n,) or "
                             f"{lead + ('n',)} (the shape of data without the "
                             f"observation axis, then n), got {x0.shape}") from None
        starts = starts.rechunk(data.chunks[:-1] + ((n,),))
        start_args = (starts, lead_ind + ("param",))

    packed = da.blockwise(
        _fit_block, lead_ind + ("result",),
        data, lead_ind + ("obs",),
        *start_args,
        new_axes={"result": n + 3}, concatenate=True,
        dtype=np.float64, meta=np.empty((0,) * (len(lead) + 1)),
        token="fit_along_axis",
        model=func, jacobian=Dfun, n=n, args=args, options=options)
    return AxisFit(packed[..., :n], packed[..., n].astype(np.intc),
                   packed[..., n + 1].astype(np.intp), packed[..., n + 2])
