"""Fits along one axis of a chunked ``dask.array``: ``leastsq_batch`` per block.

Install with ``pip install "lmfit_core[dask]"``. Each block of the data (an
image cube, say, of shape ``(ny, nx, M)``) becomes one batch of ``ny * nx``
problems for :func:`lmfit_core.leastsq_batch`, so the same call runs on a
laptop (Dask's threads) or on a cluster (``dask.distributed``).
"""
from collections import namedtuple

import numpy as np

try:
    import dask.array as da
except ImportError as exc:  # pragma: no cover - exercised without dask only
    raise ImportError("lmfit_core.dask needs Dask: pip install \"lmfit_core[dask]\"") from exc

from lmfit_core.batch import leastsq_batch

__all__ = ["fit_along_axis", "DaskFit"]

DaskFit = namedtuple("DaskFit", ["x", "ier", "nfev", "fnorm"])
DaskFit.__doc__ = """Lazy results of `fit_along_axis` (dask arrays, one graph).

Attributes
----------
x : dask.array.Array, shape (..., n)
    The parameters at every position.
ier, nfev : dask.array.Array of int, shape (...)
    ``leastsq``'s code (and the batch codes 9, 10) and the evaluations.
fnorm : dask.array.Array, shape (...)
    Norm of the residuals at `x`.
"""


def _fit_block(y, x0, *, model, jacobian, n, args, options):
    # One block: (..., M) data and (..., n) starts -> (..., n + 3) packed
    # results (x, ier, nfev, fnorm), so that all results come from one task.
    shape = y.shape[:-1]
    rows = np.ascontiguousarray(y.reshape(-1, y.shape[-1]), dtype=np.float64)
    starts = np.ascontiguousarray(np.broadcast_to(x0, shape + (n,)).reshape(-1, n),
                                  dtype=np.float64)
    out = np.empty((rows.shape[0], n + 3))
    if rows.shape[0]:
        res = leastsq_batch(model, starts, args=(rows,) + tuple(args), Dfun=jacobian,
                            **options)
        out[:, :n] = res.x
        out[:, n] = res.ier
        out[:, n + 1] = res.nfev
        out[:, n + 2] = res.fnorm
    return out.reshape(shape + (n + 3,))


def fit_along_axis(func, data, x0, *, Dfun=None, args=(), **options):
    """Fit a model along the last axis of a chunked array, one problem per position.

    Every position ``idx`` of ``data[..., :]`` is one least-squares problem
    with ``M = data.shape[-1]`` observations; the blocks of `data` are fitted
    as batches by :func:`lmfit_core.leastsq_batch`, in parallel by Dask.

    Parameters
    ----------
    func : callable
        Vectorised model: ``func(p, k, y, *args) -> ndarray (r, M)``, the
        residuals at the parameter rows ``p`` (shape ``(r, n)``) of the
        problems ``k`` (int array, shape ``(r,)``), where ``y`` is the
        block's data as rows (shape ``(K, M)``), so that ``y[k]`` holds the
        observations of each row's problem. Must be picklable (a module-level
        function) to run on a distributed cluster.
    data : dask.array.Array or array_like, shape (..., M)
        The observations. The last axis must be a single chunk (rechunk with
        ``data.rechunk({-1: -1})`` if it is not).
    x0 : array_like, shape (n,) or (..., n)
        Start point shared by all problems, or one per position (a NumPy or
        Dask array with the leading shape of `data`; a Dask array is aligned
        to the chunks of `data`).
    Dfun : callable, optional
        Vectorised Jacobian ``Dfun(p, k, y, *args) -> ndarray (r, M, n)``
        (or ``(r, n, M)`` with ``col_deriv=True``).
    args : tuple, optional
        Further arguments of `func` and `Dfun`, after ``y``.
    **options
        Options of `leastsq_batch` (``ftol``, ``xtol``, ``gtol``, ``maxfev``,
        ``epsfcn``, ``factor``, ``diag`` of shape ``(n,)``, ``col_deriv``).

    Returns
    -------
    DaskFit
        Lazy dask arrays ``x`` (..., n), ``ier``, ``nfev`` and ``fnorm``
        (...), from one task graph: ``dask.compute(*fit)`` fits every block
        once.

    Raises
    ------
    ValueError
        The last axis of `data` is split into several chunks, or `x0` does
        not match `data`.

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> from lmfit_core.dask import fit_along_axis
    >>> t = np.linspace(0, 4, 30)
    >>> rates = da.from_array(np.linspace(0.5, 2.0, 12).reshape(3, 4), chunks=2)
    >>> cube = 2.0 * da.exp(-rates[..., None] * t)                # (3, 4, 30)
    >>> def decay(p, k, y):
    ...     return p[:, :1] * np.exp(-p[:, 1:] * t) - y[k]
    >>> fit = fit_along_axis(decay, cube, [1.0, 1.0])
    >>> np.round(fit.x[..., 1].compute(), 6)[0]
    array([0.5     , 0.636364, 0.772727, 0.909091])
    """
    if not isinstance(data, da.Array):
        data = da.from_array(np.asarray(data))
    if data.ndim < 1:
        raise ValueError("fit_along_axis: data must have at least one axis (the "
                         "observations)")
    if len(data.chunks[-1]) != 1:
        raise ValueError("fit_along_axis: the last axis of data (the observations of "
                         "each problem) must be a single chunk; rechunk with "
                         "data.rechunk({-1: -1})")
    lead = data.shape[:-1]
    x0_is_dask = isinstance(x0, da.Array)
    x0 = x0 if x0_is_dask else np.asarray(x0, dtype=np.float64)
    if x0.ndim == 1:
        n = x0.shape[0]
        starts = da.broadcast_to(da.from_array(x0), lead + (n,),
                                 chunks=data.chunks[:-1] + ((n,),))
    else:
        n = x0.shape[-1]
        if x0.shape[:-1] != lead:
            raise ValueError(f"fit_along_axis: x0 must have shape (n,) or "
                             f"{lead + ('n',)}, got {x0.shape}")
        starts = (x0 if x0_is_dask else da.from_array(x0)).rechunk(
            data.chunks[:-1] + ((n,),))
    if n == 0:
        raise ValueError("fit_along_axis: x0 must contain at least one parameter")
    packed = da.map_blocks(
        _fit_block, data, starts, dtype=np.float64,
        chunks=data.chunks[:-1] + ((n + 3,),),
        model=func, jacobian=Dfun, n=n, args=tuple(args), options=options,
        token="lmfit_core-fit")
    return DaskFit(packed[..., :n], packed[..., n].astype(np.intc),
                   packed[..., n + 1].astype(np.intp), packed[..., n + 2])
