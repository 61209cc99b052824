"""``leastsq_batch``: many independent fits of one model, with ``leastsq``'s semantics each.

Two engines serve it. With a vectorised Python model, every unfinished fit
advances in lockstep and the model is called once per round for the
evaluations of all fits together (or of one group of them; on two threads the
engines of one group run while the model evaluates another's points). With a
compiled model, fits run one after another without the GIL, in parallel
across threads.
"""
import itertools
import operator
import os
import sys
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from lmfit_core._batch import (IER_NONFINITE_F0, IER_NONFINITE_JAC, IER_NOT_FINISHED,
                               CompiledBatch, Handoff, Lockstep, call_model)
from lmfit_core._leastsq import (_EPS, LEASTSQ_SUCCESS, ImproperInputError,
                                 _check_callbacks, _check_options,
                                 _compiled_residual_count, _message)
from lmfit_core._pydriver import all_finite, real_array
from lmfit_core.cython_lm import compiled_target

__all__ = ["leastsq_batch", "BatchResult", "IER_NONFINITE_F0", "IER_NONFINITE_JAC",
           "IER_NOT_FINISHED"]

_MESSAGES_BEYOND_MINPACK = {
    IER_NONFINITE_F0: "func returned NaN or inf at the starting point.",
    IER_NONFINITE_JAC: "The Jacobian has NaN or inf entries.",
    IER_NOT_FINISHED: "The batch was stopped before this fit ended.",
}


class BatchResult:
    """Results of `leastsq_batch`: one row (or entry) per problem.

    Attributes
    ----------
    x : ndarray, shape (K, n)
        Solutions (for unfinished fits, the last accepted iterate).
    ier : ndarray of int, shape (K,)
        ``leastsq``'s codes: 1-4 converged, 5-8 stopped by a limit or a
        tolerance, and beyond them ``IER_NONFINITE_F0`` (9: the residuals are
        not finite at the start point, where ``leastsq`` raises ValueError),
        ``IER_NONFINITE_JAC`` (10: the Jacobian has NaN or inf entries, where
        ``leastsq`` raises ValueError), ``IER_NOT_FINISHED`` (-1: the batch was
        stopped before this fit ended) or, with compiled callbacks, the
        negative value a callback returned to stop its fit.
    nfev, njev : ndarray of int, shape (K,)
        Calls of ``func`` and of ``Dfun`` for each problem, counted as
        ``leastsq`` counts them (rows of a vectorised call, each a call).
    fnorm : ndarray, shape (K,)
        Euclidean norm of the residuals at `x`; NaN where they were never
        evaluated (a batch stopped first, or a callback refusing `x0`).
    cov_x : ndarray, shape (K, n, n), or None
        With ``cov=True``: ``leastsq``'s ``cov_x`` for each problem, NaN where
        ``leastsq`` gives None (the fit failed or ``R`` is singular).
    stopped : bool
        Whether the progress callback stopped the batch.
    ftol, xtol, gtol, maxfev :
        The options used, for `message`.
    """

    def __init__(self, x, ier, nfev, njev, fnorm, cov_x, stopped, options):
        self.x = x
        self.ier = ier
        self.nfev = nfev
        self.njev = njev
        self.fnorm = fnorm
        self.cov_x = cov_x
        self.stopped = stopped
        self.ftol, self.xtol, self.gtol, self.maxfev = options

    @property
    def success(self):
        """Boolean mask of the fits that converged (ier 1-4)."""
        return np.isin(self.ier, LEASTSQ_SUCCESS)

    def message(self, k):
        """``leastsq``'s ``mesg`` for problem `k`."""
        ier = int(self.ier[k])
        if ier in _MESSAGES_BEYOND_MINPACK:
            return _MESSAGES_BEYOND_MINPACK[ier]
        if ier < 0:
            return f"The compiled callback stopped the fit (it returned {ier})."
        return _message(ier, self.ftol, self.xtol, self.gtol, self.maxfev)

    def __len__(self):
        return self.x.shape[0]

    def __repr__(self):
        counts = np.unique(self.ier, return_counts=True)
        summary = ", ".join(f"ier={i}: {c}" for i, c in zip(*counts))
        return (f"<BatchResult of {len(self)} fits, n={self.x.shape[1]} ({summary})"
                f"{', stopped' if self.stopped else ''}>")


def _no_progress(done):
    return True


def _progress_reporter(progress, total):
    """(update(done) -> keep going, close()) for the `progress` argument."""
    if progress is None or progress is False:
        return _no_progress, (lambda: None)
    if callable(progress):
        def update(done):
            return progress(done, total) is not False
        return update, (lambda: None)
    if progress is not True:
        raise TypeError("leastsq_batch: progress must be None, True or a callable "
                        f"progress(done, total), got {type(progress).__name__}")
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _plain_progress(total)
    bar = tqdm(total=total, unit="fit", desc="leastsq_batch")
    last = [0]

    def update(done):
        bar.update(done - last[0])
        last[0] = done
        return True
    return update, bar.close


def _plain_progress(total):
    # Without tqdm: a line on stderr that is rewritten in place.
    def update(done):
        sys.stderr.write(f"\rleastsq_batch: {done}/{total} fits")
        sys.stderr.flush()
        return True

    def close():
        sys.stderr.write("\n")
    return update, close


def _start_points(x0):
    if type(x0) is np.ndarray and x0.dtype == np.float64:
        x = np.array(x0, order="C")
    else:
        x = np.array(real_array(x0, "x0", ImproperInputError), dtype=np.float64,
                     order="C")
    if x.ndim != 2:
        raise ImproperInputError(f"leastsq_batch: x0 must have shape (K, n), one row "
                                 f"of start values per problem, got shape {x.shape}")
    if x.shape[1] == 0:
        raise ImproperInputError("leastsq_batch: x0 must contain at least one "
                                 "parameter per problem")
    if not all_finite(x.reshape(-1)):
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
        raise ImproperInputError(f"leastsq_batch: x0 must be finite (problems "
                                 f"{bad[:10].tolist()} are not)")
    return x


def _scales(diag, K, n):
    if diag is None:
        return 1, np.empty((K, n))
    scale = np.array(real_array(diag, "diag", ImproperInputError), dtype=np.float64)
    if scale.shape == (n,):
        scale = np.broadcast_to(scale, (K, n))
    if scale.shape != (K, n):
        raise ImproperInputError(f"leastsq_batch: diag must have shape (n,) or "
                                 f"(K, n) = {(K, n)}, got {scale.shape}")
    scale = np.ascontiguousarray(scale)
    if not (all_finite(scale.reshape(-1)) and (scale > 0).all()):
        raise ImproperInputError("leastsq_batch: diag must hold positive finite scale "
                                 "factors")
    return 2, scale


def _default_threads():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def leastsq_batch(func, x0, args=(), Dfun=None, *, col_deriv=False, ftol=1.49012e-08,
                  xtol=1.49012e-08, gtol=0.0, maxfev=0, epsfcn=None, factor=100,
                  diag=None, cov=False, progress=None, threads=None, chunk_size=None):
    """Solve K independent least-squares problems of one model.

    Each problem is fitted exactly as ``leastsq(func_k, x0[k], ...)`` would
    fit it alone (the same iterates, ``ier``, ``nfev`` and ``x``), and one
    problem's failure (NaN residuals, ``maxfev``) does not affect another.

    Parameters
    ----------
    func : callable or compiled callback
        The model, in one of two forms.

        *Vectorised Python model*: ``func(x, k, *args) -> ndarray (r, M)``
        evaluates the residuals at ``r`` parameter rows ``x`` (shape
        ``(r, n)``) for the problems ``k`` (int array, shape ``(r,)``; a
        problem may appear several times, e.g. for its finite-difference
        points). All fits advance in lockstep and ``func`` is called once per
        round for all of them, so the number of Python calls does not grow
        with K (see `chunk_size` for fitting them in groups instead). Use
        ``k`` to pick each row's data, e.g. ``ydata[k]``.

        *Compiled model*: a ``scipy.LowLevelCallable``, PyCapsule or ctypes
        function with the signature ``int f(Py_ssize_t k, Py_ssize_t m,
        Py_ssize_t n, const double *x, double *fvec, void *user_data)`` that
        writes the ``m`` residuals of problem ``k`` at ``x``, returning 0 (or a
        negative number to stop that fit). Pass ``args=(M,)``. Fits then run
        without the GIL on `threads` threads.
    x0 : array_like, shape (K, n)
        Start points, one row per problem.
    args : tuple, optional
        Extra arguments of `func` and `Dfun` (with a compiled model, ``(M,)``).
    Dfun : callable or compiled callback, optional
        The Jacobian. Vectorised: ``Dfun(x, k, *args) -> ndarray (r, M, n)``
        (or ``(r, n, M)`` with `col_deriv`; ``(r, M)`` when ``n == 1``).
        Compiled: ``int j(Py_ssize_t k, Py_ssize_t m, Py_ssize_t n, const
        double *x, double *fjac, Py_ssize_t ldfjac, void *user_data)``
        writing ``d f_i / d x_j`` to
        ``fjac[i + j * ldfjac]``. Without it the Jacobian is formed by forward
        differences, as in ``leastsq``.
    col_deriv : bool, optional
        Whether a vectorised `Dfun` returns the derivatives down the rows of
        each Jacobian (``(r, n, M)``).
    ftol, xtol, gtol, maxfev, epsfcn, factor : optional
        As in ``leastsq``, the same for every problem.
    diag : array_like, shape (n,) or (K, n), optional
        Variable scale factors, as in ``leastsq`` (shared or per problem).
    cov : bool, optional
        Also return ``cov_x`` for every problem (default False).
    progress : None, True or callable, optional
        ``True`` shows a progress bar (tqdm when it is installed, otherwise a
        line on stderr). A callable ``progress(done, total)`` is called as
        fits finish; if it returns False the batch stops cleanly: finished fits
        keep their results, the others get ``ier = IER_NOT_FINISHED`` (-1)
        with their last iterate.
    threads : int, optional
        With a compiled model: the threads that run the fits (default: the
        cores this process may use; small batches use fewer, one per 32
        problems at most).

        With a vectorised model (default 1): ``threads >= 2`` and several
        groups (`chunk_size`) keep three groups in flight. While `func` and
        `Dfun` evaluate one group's points on the calling thread, a second
        thread runs the engines of the others, so the engines' arithmetic
        overlaps the model's instead of adding to it (the 2,000 decays of the
        benchmarks: about 1.5x faster on two cores, in groups of 125). The
        model is still called from the calling thread only, one call at a
        time, but the calls of the groups in flight alternate; answers it may
        write to again (a buffer it returns at every call) are copied. The
        results do not depend on it.
    chunk_size : int, optional
        With a compiled model: the problems a thread takes at a time from the
        shared queue of fits (default: at most 32, small enough for balanced
        threads and a smooth progress bar). With one thread, progress is
        reported after each chunk; with several, every few milliseconds.

        With a vectorised model: fit the problems in groups of `chunk_size`,
        one group after the other, each group's fits in lockstep, so that
        `func` and `Dfun` get the rows of at most `chunk_size` problems per
        call (default: all K problems in one group; with `threads` >= 2,
        three groups of about K / 3, the fewest that keep both threads
        busy). Groups of a few hundred problems keep the model's arrays in
        the CPU's caches and bound the memory a batch needs; a model that
        gains from large calls (one that runs on a GPU, say) is best left
        with one group. With `threads` >= 2 three groups are fitted at a time
        (see `threads`). The results do not depend on it.

    Returns
    -------
    BatchResult
        Arrays ``x``, ``ier``, ``nfev``, ``njev``, ``fnorm`` and, with
        `cov`, ``cov_x``; ``message(k)`` gives ``leastsq``'s ``mesg``.

    Raises
    ------
    ImproperInputError
        An option or `x0` is invalid (the message names it).
    TypeError, ValueError
        `func` or `Dfun` returned an array of the wrong shape or type.
    Exception
        Whatever `func` or `Dfun` raised; the batch is abandoned.

    Notes
    -----
    Where ``leastsq`` raises ValueError for one problem (non-finite residuals
    at ``x0``, a non-finite Jacobian), the batch records ``ier`` 9 or 10 for
    that problem and goes on with the others.

    Examples
    --------
    >>> import numpy as np
    >>> from lmfit_core import leastsq_batch
    >>> t = np.linspace(0, 4, 50)
    >>> rates = np.array([0.5, 1.0, 2.0])
    >>> y = 3.0 * np.exp(-rates[:, None] * t)            # three decay curves
    >>> def residuals(p, k):
    ...     return p[:, :1] * np.exp(-p[:, 1:2] * t) - y[k]
    >>> res = leastsq_batch(residuals, np.tile([1.0, 0.3], (3, 1)))
    >>> np.round(res.x[:, 1], 6)
    array([0.5, 1. , 2. ])
    """
    compiled = _check_callbacks("leastsq_batch", func, Dfun)
    x = _start_points(x0)
    K, n = x.shape
    if not isinstance(args, tuple):
        args = (args,)
    ftol, xtol, gtol, factor, maxfev, epsfcn = _check_options(
        "leastsq_batch", ftol, xtol, gtol, factor, maxfev, epsfcn)
    mode, scale = _scales(diag, K, n)
    default_maxfev = (200 if Dfun is None else 100) * (n + 1)
    if maxfev == 0:
        maxfev = default_maxfev
    run_maxfev = default_maxfev if maxfev < 0 else maxfev
    options = (ftol, xtol, gtol, maxfev)
    update, close = _progress_reporter(progress, K)
    try:
        if compiled:
            return _run_compiled(func, Dfun, x, args, scale, mode, ftol, xtol, gtol,
                                 run_maxfev, _EPS if epsfcn is None else epsfcn, factor,
                                 cov, update, threads, chunk_size, options)
        return _run_lockstep(func, Dfun, x, args, bool(col_deriv), scale, mode, ftol,
                             xtol, gtol, run_maxfev, epsfcn, factor, cov, update,
                             chunk_size, threads, options)
    finally:
        close()


def _as_rows(res, what):
    """A callback's result as a C-contiguous float64 array (not copied if it is one)."""
    if type(res) is not np.ndarray or res.dtype != np.float64:
        res = real_array(res, f"the values of {what}")
    return np.ascontiguousarray(res, dtype=np.float64)


def _private(raw, raw_private, rows):
    """Whether `rows` (`raw`, or made of it by _as_rows and a reshape) may be
    read by another thread while the model is called again (else: copy)."""
    if rows is raw or rows.base is raw:
        return raw_private
    return rows.base is None and rows.flags.owndata     # a conversion's own array


def _residual_rows(func, xr, kr, args, m):
    """func at the rows xr of problems kr, checked; and whether it is private."""
    raw, private = call_model(func, xr, kr, args)
    f = _checked_residuals(_as_rows(raw, "func"), xr.shape[0], m)
    return f, _private(raw, private, f)


def _checked_residuals(f, rows, m):
    """`f` if it holds one row of M residuals per parameter row (m None: any M)."""
    if f.ndim == 1 and m == 1 and f.size == rows:
        f = f.reshape(rows, 1)
    if f.ndim != 2 or f.shape[0] != rows or (m is not None and f.shape[1] != m):
        want = f"({rows}, M)" if m is None else f"({rows}, {m})"
        raise ValueError(f"leastsq_batch: func returned an array of shape {f.shape} "
                         f"for {rows} parameter rows; it must return shape {want}, "
                         "one row of residuals per parameter row, with M fixed")
    return f


def _jacobian_rows(Dfun, xr, kr, args, m, n, col_deriv):
    """Dfun at the rows xr of problems kr, checked; and whether it is private."""
    raw, private = call_model(Dfun, xr, kr, args)
    J = _as_rows(raw, "Dfun")
    want = (xr.shape[0], n, m) if col_deriv else (xr.shape[0], m, n)
    if n == 1 and J.shape == (xr.shape[0], m):
        # One parameter: a row of M derivatives per problem, in either layout
        # (leastsq takes a vector from a one-parameter Dfun too).
        J = J.reshape(want)
    if J.shape != want:
        raise ValueError(f"leastsq_batch: Dfun returned an array of shape {J.shape}; "
                         f"it must return shape {want} (col_deriv={col_deriv})")
    return J, _private(raw, private, J)


def _at_least_one(value, name):
    """The integer option `name` (threads, chunk_size), checked to be >= 1."""
    value = operator.index(value)
    if value < 1:
        raise ImproperInputError(f"leastsq_batch: {name} must be >= 1, got {value}")
    return value


def _unfinished_results(K, n, cov):
    """Result arrays of K fits none of which has ended (ier -1, no evaluations)."""
    return (np.full(K, IER_NOT_FINISHED, dtype=np.intc), np.zeros(K, dtype=np.intp),
            np.zeros(K, dtype=np.intp), np.full(K, np.nan),
            np.full((K, n, n), np.nan) if cov else None)


class _Group:
    """One group of a lockstep batch: its engines and their latest requests."""
    __slots__ = ("first", "last", "engine", "requests", "done")

    def __init__(self, first, last, engine):
        self.first, self.last, self.engine = first, last, engine
        self.take(engine.advance())

    def take(self, requests):
        """The requests of a round that has run, and the fits done after it."""
        self.requests = requests
        self.done = self.last - self.first - self.engine.n_unfinished


class _LockstepRun:
    """The groups of a vectorised batch: starting them, calling the model, results."""

    def __init__(self, func, Dfun, x, args, col_deriv, scale, mode, ftol, xtol, gtol,
                 maxfev, epsfcn, factor, cov):
        self.func, self.Dfun, self.args, self.col_deriv = func, Dfun, args, col_deriv
        self.x, self.scale, self.mode, self.epsfcn = x, scale, mode, epsfcn
        self.options = (ftol, xtol, gtol, maxfev)
        self.factor = factor
        self.cov = cov
        K, n = x.shape
        self.results = _unfinished_results(K, n, cov)
        self.m = None

    def start(self, first, last):
        """The engines of problems first..last-1, after the model's first call."""
        func, x, n = self.func, self.x, self.x.shape[1]
        rows = last - first
        xg = x[first:last]              # the engine writes the iterates here
        # The first evaluation, at every start point of the group (the first
        # group's sizes the problem); it is MINPACK's first evaluation of each
        # fit, as in leastsq.
        raw = func(xg.copy(), np.arange(first, last, dtype=np.intp), *self.args)
        # A copy: the engine keeps the residuals of every fit in this array.
        f0 = np.array(_checked_residuals(_as_rows(raw, "func"), rows, self.m), copy=True)
        if self.m is None:
            self.m = m = f0.shape[1]
            if n > m:
                raise TypeError(f"Improper input: func input vector length N={n} must"
                                f" not exceed func output vector length M={m}")
            if self.epsfcn is None:
                # leastsq's default: the machine precision of the residuals' type.
                dtype = getattr(raw, "dtype", None)
                self.epsfcn = (float(np.finfo(dtype).eps)
                               if dtype is not None and dtype.kind == "f" else _EPS)
            self.empty_jac = np.empty((0, n, m))
        ftol, xtol, gtol, maxfev = self.options
        engine = Lockstep(xg, f0, self.scale[first:last], self.mode, ftol, xtol, gtol,
                          maxfev, self.epsfcn, self.factor, self.Dfun is not None)
        return _Group(first, last, engine)

    def evaluate(self, group, private=False):
        """The model's answers to `group`'s requests: (f, J).

        With `private`, arrays the model may write to again (it returned
        arrays it keeps, or views of them) are copied, so that the group's
        round can read them on another thread while the model is called for
        another group.
        """
        xf, kf, xj, kj = group.requests
        group.requests = None
        if group.first:
            kf += group.first           # the problems' indices in the whole batch
            kj += group.first
        m, n = self.m, self.x.shape[1]
        f, J = xf[:, :0], self.empty_jac            # no rows: nothing to read
        if xf.shape[0]:
            f, own = _residual_rows(self.func, xf, kf, self.args, m)
            if private and not own:
                f = f.copy()
        if xj.shape[0]:
            J, own = _jacobian_rows(self.Dfun, xj, kj, self.args, m, n, self.col_deriv)
            if private and not own:
                J = J.copy()
        return f, J

    def finish(self, group):
        """Record the results of `group`'s fits."""
        part = group.engine.results(self.cov)
        for whole, values in zip(self.results, part):
            if whole is not None:
                whole[group.first:group.last] = values


# Groups of a vectorised batch in flight on two threads: while the model
# evaluates one group's points, the second thread runs the rounds of the
# others, and a round it has not taken when the model is done is run by the
# calling thread, so that neither thread waits for the other.
_GROUPS_IN_FLIGHT = 3


def _run_lockstep(func, Dfun, x, args, col_deriv, scale, mode, ftol, xtol, gtol, maxfev,
                  epsfcn, factor, cov, update, chunk_size, threads, options):
    # The problems are fitted in groups of chunk_size (by default all of them
    # on one thread, a third of them on two), each group's fits in lockstep.
    # On one thread the groups come one after the other. On two,
    # _GROUPS_IN_FLIGHT groups are: while the model evaluates one group's
    # points on this thread, the others' engines run on a second thread
    # (Handoff).
    K, n = x.shape
    threads = 1 if threads is None else _at_least_one(threads, "threads")
    if chunk_size is not None:
        group = _at_least_one(chunk_size, "chunk_size")
    elif threads > 1:
        group = max(1, -(-K // _GROUPS_IN_FLIGHT))     # as many groups as in flight
    else:
        group = K
    run = _LockstepRun(func, Dfun, x, args, col_deriv, scale, mode, ftol, xtol, gtol,
                       maxfev, epsfcn, factor, cov)
    # An empty batch still makes its one call, with no rows, so that a model
    # of the wrong shape is reported as for any other batch.
    bounds = iter([(first, min(K, first + group)) for first in range(0, K, group)]
                  if K else [(0, 0)])
    handoff = Handoff() if threads > 1 and K > group else None
    ready = deque()             # groups whose requests wait for the model
    in_flight = set()           # groups whose rounds are posted to the handoff
    finished = 0                # fits of the groups that are over
    stopped = False

    def collect_next():
        grp, requests = handoff.collect_next()
        grp.take(requests)
        in_flight.discard(grp)
        ready.append(grp)
    try:
        if handoff is not None:
            _start_on_threads(handoff.serve, 1)
        at_once = 1 if handoff is None else _GROUPS_IN_FLIGHT
        for first, last in itertools.islice(bounds, at_once):
            ready.append(run.start(first, last))
        while ready or in_flight:
            if not ready:
                collect_next()
            grp = ready.popleft()
            done = (finished + grp.done + sum(g.done for g in ready)
                    + sum(g.done for g in in_flight))
            if not update(done):
                while in_flight:
                    collect_next()
                for g in (grp, *ready):
                    g.engine.stop()
                    run.finish(g)
                stopped = True
                break
            if grp.engine.n_unfinished == 0:
                run.finish(grp)
                finished += grp.last - grp.first
                following = next(bounds, None)
                if following is not None:
                    ready.append(run.start(*following))
                continue
            f, J = run.evaluate(grp, private=handoff is not None)
            if handoff is None:
                grp.take(grp.engine.advance(f, J, col_deriv))
                ready.append(grp)
            else:
                handoff.post(grp, grp.engine, f, J, col_deriv)
                in_flight.add(grp)
    finally:
        if handoff is not None:
            handoff.close()
    ier, nfev, njev, fnorm, cov_x = run.results
    return BatchResult(x, ier, nfev, njev, fnorm, cov_x, stopped, options)


def _run_compiled(func, Dfun, x, args, scale, mode, ftol, xtol, gtol, maxfev, epsfcn,
                  factor, cov, update, threads, chunk_size, options):
    K, n = x.shape
    m = _compiled_residual_count(args, n, "leastsq_batch")
    func_addr, func_data = compiled_target(func, "batch func")
    jac_addr, jac_data = (0, 0) if Dfun is None else compiled_target(Dfun, "batch Dfun")
    if threads is None:
        threads = _default_threads()
    threads = _at_least_one(threads, "threads")
    # Starting threads costs about as much as a few dozen small fits.
    threads = min(threads, max(1, K // 32))
    if chunk_size is None:
        # Small enough to keep the threads busy to the end and the progress
        # reports frequent; large enough that taking one costs nothing.
        chunk_size = max(1, min(32, K // (16 * threads)))
    chunk_size = _at_least_one(chunk_size, "chunk_size")
    ier, nfev, njev, fnorm, cov_x = _unfinished_results(K, n, cov)
    batch = CompiledBatch(func_addr, func_data, jac_addr, jac_data, m, x, scale, mode,
                          ier, nfev, njev, fnorm, cov_x, ftol, xtol, gtol, maxfev,
                          epsfcn, factor, chunk_size)
    reporting = update is not _no_progress
    stopped = False
    if threads == 1:
        # Back to Python after each chunk when someone is told, else after
        # _INTERRUPT_FITS fits: often enough for Ctrl-C (KeyboardInterrupt,
        # raised between two calls) to stop a long batch at once, too seldom
        # to cost anything.
        done = 0
        most = chunk_size if reporting else max(chunk_size, _INTERRUPT_FITS)
        while done < K:
            count = batch.run(most)
            if count == 0:      # pragma: no cover - every fit is taken
                break
            done += count
            if not update(done):
                stopped = True
                break
    else:
        stopped = _run_threads(batch, threads, update if reporting else None)
    return BatchResult(x, ier, nfev, njev, fnorm, cov_x, stopped, options)


# Fits a single-threaded compiled batch runs between two returns to Python
# when it reports no progress (about 10 ms of small fits).
_INTERRUPT_FITS = 1024

# How often the thread running a threaded compiled batch reports progress (s).
_PROGRESS_INTERVAL = 0.005

# The worker threads of threaded compiled batches, started once per process
# (starting and joining two threads costs about 0.25 ms, a few percent of a
# batch of 10,000 small fits). A child made by fork has no such threads.
_pool = None
_pool_size = 0
_pool_lock = threading.Lock()


def _forget_pool():
    global _pool, _pool_size, _pool_lock
    _pool, _pool_size, _pool_lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _start_on_threads(fn, threads):
    """Futures of `threads` calls of `fn` on the process's batch threads.

    The pool grows to `threads` workers if it has fewer. Submitting under the
    lock keeps another thread from shutting the pool down in between (a pool
    that is replaced finishes what it was given).
    """
    global _pool, _pool_size
    with _pool_lock:
        if _pool_size < threads:
            if _pool is not None:
                _pool.shutdown(wait=False)   # its idle threads exit
            _pool = ThreadPoolExecutor(max_workers=threads,
                                       thread_name_prefix="lmfit_core-batch")
            _pool_size = threads
        return [_pool.submit(fn) for _ in range(threads)]


def _run_threads(batch, threads, update):
    """Run `batch` on `threads` threads; returns whether `update` stopped it.

    The calling thread only waits (and, with `update`, reports the count of
    finished fits every _PROGRESS_INTERVAL seconds): it takes no fits, so
    the GIL it needs now and then is free when it wants it. If reporting
    raises (KeyboardInterrupt, or a progress callback's error), the fits
    being run finish, no others start, and the error propagates.
    """
    stopped = False
    reported = 0
    running = _start_on_threads(batch.run, threads)
    try:
        while True:
            _, pending = wait(running, timeout=None if update is None
                              else _PROGRESS_INTERVAL)
            if update is not None and not stopped:
                done = batch.done
                if done != reported:
                    reported = done
                    if not update(done):
                        stopped = True
                        batch.stop()
            if not pending:
                break
    except BaseException:
        batch.stop()
        wait(running)
        raise
    for fut in running:
        fut.result()            # a worker's MemoryError
    return stopped
