"""Drivers for batches of independent fits: one engine state per problem.

``Lockstep`` advances K fits of a vectorised Python model together: each round
hands every unfinished fit its answers and runs its engine to its next request
(without the GIL, one fit at a time while its data is in cache), and the
requests of all fits, finite-difference points included, go to the model in
one call (``func``) and one Jacobian call (``Dfun``). The number of Python
calls per round does not depend on K. ``Handoff`` runs a Lockstep's rounds on
a second thread while the calling thread calls the model for another group.

``CompiledBatch`` holds the fits of a compiled model; threads take them a chunk
at a time from a shared counter and run each fit without the GIL.

Every fit runs the same engine as ``leastsq``, in the same order, so each
problem's result is what ``leastsq`` returns for it alone.
"""
import numpy as np

cimport numpy as cnp
from libc.math cimport NAN
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from lmfit_core._covar cimport covariance_into
from lmfit_core._engine cimport (LM_DONE, LM_ERR_F0_NONFINITE, LM_ERR_JAC_NONFINITE,
                                 LM_EVAL_F, LM_EVAL_FD, LM_EVAL_JAC, lm_advance,
                                 lm_fd_point, lm_init, lm_state_t, lm_stop,
                                 lm_work_size)
from lmfit_core._typedefs cimport intp_t

cnp.import_array()

# Codes of a batch's ier beyond leastsq's 1-8 (the public API's info values).
IER_NONFINITE_F0 = 9
IER_NONFINITE_JAC = 10
IER_NOT_FINISHED = -1       # the batch was stopped before this fit ended

# Batch callbacks carry the problem index first.
ctypedef int (*batch_func_t)(Py_ssize_t k, Py_ssize_t m, Py_ssize_t n, const double* x,
                             double* fvec, void* udata) noexcept nogil
ctypedef int (*batch_jac_t)(Py_ssize_t k, Py_ssize_t m, Py_ssize_t n, const double* x,
                            double* fjac, Py_ssize_t ldfjac, void* udata) noexcept nogil


cdef inline int ier_of(const lm_state_t* s) noexcept nogil:
    if s.error == LM_ERR_F0_NONFINITE:
        return 9
    if s.error == LM_ERR_JAC_NONFINITE:
        return 10
    return s.info


cdef inline void cov_of(const lm_state_t* s, int ier, double* inv, double* cov) noexcept nogil:
    # leastsq's cov_x: only after a successful fit, else (or when R is
    # singular, where leastsq gives None) NaN.
    cdef intp_t i, n = s.n
    if 1 <= ier <= 4 and covariance_into(n, s.fjac, s.ldfjac, s.ipvt, inv, cov) == 0:
        return
    for i in range(n * n):
        cov[i] = NAN


ctypedef struct round_t:
    # One round of a Lockstep: its answers in, its requests out. Plain C, so
    # that any thread can run it without the GIL (run_round).
    lm_state_t* states
    intp_t* active           # indices of the unfinished fits
    int* req                 # request of each active fit in this round
    intp_t n_active, m, n
    const double* f          # the model's answers (NULL on the first round)
    const double* jac
    bint col_deriv
    double* xf               # requests: func rows and their problems ...
    intp_t* kf
    double* xj               # ... and Dfun rows and their problems
    intp_t* kj
    intp_t rf, rj            # rows written to xf and xj


cdef void run_round(round_t* r) noexcept nogil:
    # Hand each fit its answers, run it to its next request, gather the
    # requests: one pass over the unfinished fits, each fit's data touched
    # while it is in cache.
    cdef intp_t a, k, i, j, kept = 0, n = r.n, m = r.m
    cdef intp_t rf = 0, rj = 0, rf_in = 0, rj_in = 0
    cdef int q
    cdef const double* src
    cdef lm_state_t* s
    for a in range(r.n_active):
        k = r.active[a]
        s = &r.states[k]
        if r.f != NULL:
            if r.req[a] == LM_EVAL_F:
                memcpy(s.f_req, r.f + rf_in * m, m * sizeof(double))
                rf_in += 1
            elif r.req[a] == LM_EVAL_FD:
                # Row j of the block is f(x + h_j e_j): the engine reads the
                # block where it is (no copy into fjac).
                s.jac_src = r.f + rf_in * m
                s.jac_cs = m
                rf_in += n
            else:
                src = r.jac + rj_in * m * n
                if r.col_deriv:
                    memcpy(s.fjac, src, n * m * sizeof(double))
                else:
                    for j in range(n):
                        for i in range(m):
                            s.fjac[i + j * m] = src[i * n + j]
                rj_in += 1
        q = lm_advance(s)
        if q == LM_DONE:
            continue
        r.active[kept] = k
        r.req[kept] = q
        kept += 1
        if q == LM_EVAL_F:
            memcpy(r.xf + rf * n, s.x_req, n * sizeof(double))
            r.kf[rf] = k
            rf += 1
        elif q == LM_EVAL_FD:
            for j in range(n):
                lm_fd_point(s, j, r.xf + rf * n)
                r.kf[rf] = k
                rf += 1
        else:
            memcpy(r.xj + rj * n, s.x_req, n * sizeof(double))
            r.kj[rj] = k
            rj += 1
    r.n_active = kept
    r.rf, r.rj = rf, rj


cdef extern from "_unshared.h":
    bint lmfit_array_is_unshared(object obj)


def call_model(object model, object rows, object problems, tuple args):
    """``model(rows, problems, *args)``, and whether the result is private.

    Private: a NumPy array that nothing but this call's result references
    and that owns its data, so that the model cannot write to it at a later
    call (it kept neither the array nor a view of it). A round run on another
    thread (`Handoff`) may read a private array while the model is called
    for other rows; any other result must be copied first.
    """
    result = model(rows, problems, *args)
    return result, lmfit_array_is_unshared(result)


cdef class Lockstep:
    """K fits of one vectorised Python model, advanced together.

    Parameters
    ----------
    x : ndarray of float64, shape (K, n), C order
        Start points; overwritten with the iterates.
    fvec : ndarray of float64, shape (K, m), C order
        The residuals at the start points (the first evaluation, made by the
        caller); overwritten with the residuals at the iterates.
    diag : ndarray of float64, shape (K, n)
        Scale factors when `mode` is 2, else workspace.
    mode, ftol, xtol, gtol, maxfev, epsfcn, factor :
        As for the engine (``leastsq``'s options, already checked).
    analytic : bool
        Whether the Jacobian comes from ``Dfun`` (lmder) or from finite
        differences (lmdif).

    Notes
    -----
    A round is :meth:`post` (the answers in, fresh request arrays out, with
    the GIL), :func:`run_round` (without it, on any thread) and
    :meth:`collect`; :meth:`advance` does all three on the calling thread,
    and `Handoff` runs the middle step on another.
    """
    cdef lm_state_t* states
    cdef readonly intp_t K, m, n
    cdef readonly cnp.ndarray x, fvec, fjac, diag, ipvt, qtf, work
    cdef cnp.ndarray active      # indices of the unfinished fits
    cdef cnp.ndarray requests    # request of each active fit in this round
    cdef round_t rnd
    cdef object round_arrays     # answers and request arrays of the posted round

    def __cinit__(self, cnp.ndarray x, cnp.ndarray fvec, cnp.ndarray diag, int mode,
                  double ftol, double xtol, double gtol, Py_ssize_t maxfev,
                  double epsfcn, double factor, bint analytic):
        cdef intp_t k, K = x.shape[0], n = x.shape[1], m = fvec.shape[1]
        self.K, self.m, self.n = K, m, n
        self.x, self.fvec, self.diag = x, fvec, diag
        self.fjac = np.empty((K, n, m))
        self.ipvt = np.empty((K, n), dtype=np.int32)
        self.qtf = np.empty((K, n))
        self.work = np.empty((K, lm_work_size(m, n)))
        self.states = <lm_state_t*>malloc(max(K, 1) * sizeof(lm_state_t))
        if self.states == NULL:
            raise MemoryError("leastsq_batch: could not allocate the engine states")
        cdef double* xp = <double*>cnp.PyArray_DATA(x)
        cdef double* fp = <double*>cnp.PyArray_DATA(fvec)
        cdef double* jp = <double*>cnp.PyArray_DATA(self.fjac)
        cdef double* dp = <double*>cnp.PyArray_DATA(diag)
        cdef int* ip = <int*>cnp.PyArray_DATA(self.ipvt)
        cdef double* qp = <double*>cnp.PyArray_DATA(self.qtf)
        cdef double* wp = <double*>cnp.PyArray_DATA(self.work)
        cdef intp_t ws = lm_work_size(m, n)
        for k in range(K):
            lm_init(&self.states[k], m, n, xp + k * n, fp + k * m, jp + k * n * m, m,
                    dp + k * n, mode, ip + k * n, qp + k * n, wp + k * ws, ftol, xtol,
                    gtol, maxfev, epsfcn, factor, analytic, True)
        self.active = np.arange(K, dtype=np.intp)
        self.requests = np.empty(K, dtype=np.intc)
        self.rnd.states = self.states
        self.rnd.active = <intp_t*>cnp.PyArray_DATA(self.active)
        self.rnd.req = <int*>cnp.PyArray_DATA(self.requests)
        self.rnd.n_active, self.rnd.m, self.rnd.n = K, m, n

    def __dealloc__(self):
        free(self.states)

    @property
    def n_unfinished(self):
        """Number of fits still running."""
        return self.rnd.n_active

    def advance(self, cnp.ndarray f=None, cnp.ndarray jac=None, bint col_deriv=False):
        """Hand each fit its answers, run it to its next request, gather the requests.

        Parameters
        ----------
        f : ndarray, shape (rf, m), optional
            ``func`` at the rows the previous call returned, in order (None on
            the first call).
        jac : ndarray, shape (rj, m, n) or (rj, n, m) with `col_deriv`, optional
            ``Dfun`` at the previous call's Jacobian rows. `f` and `jac` are
            C-contiguous float64 (checked by the caller).

        Returns
        -------
        xf, kf : ndarray, shapes (rf, n) and (rf,)
            Points at which ``func`` is wanted and the problem of each row
            (trial points and finite-difference points, a problem's rows
            together).
        xj, kj : ndarray, shapes (rj, n) and (rj,)
            Points at which ``Dfun`` is wanted and their problems.
        """
        self.post(f, jac, col_deriv)
        with nogil:
            run_round(&self.rnd)
        return self.collect()

    def post(self, cnp.ndarray f=None, cnp.ndarray jac=None, bint col_deriv=False):
        """Set up a round (as `advance` takes it) without running it."""
        cdef intp_t n = self.n, rows = self.rnd.n_active
        xf = np.empty((rows * n, n))
        kf = np.empty(rows * n, dtype=np.intp)
        xj = np.empty((rows, n))
        kj = np.empty(rows, dtype=np.intp)
        # Kept until collect: the engines read f and jac while the round runs.
        self.round_arrays = (f, jac, xf, kf, xj, kj)
        self.rnd.f = <const double*>cnp.PyArray_DATA(f) if f is not None else NULL
        self.rnd.jac = (<const double*>cnp.PyArray_DATA(jac)
                        if f is not None and jac is not None else NULL)
        self.rnd.col_deriv = col_deriv
        self.rnd.xf = <double*>cnp.PyArray_DATA(xf)
        self.rnd.kf = <intp_t*>cnp.PyArray_DATA(kf)
        self.rnd.xj = <double*>cnp.PyArray_DATA(xj)
        self.rnd.kj = <intp_t*>cnp.PyArray_DATA(kj)

    def collect(self):
        """The requests of the round that has run (see `advance`)."""
        _, _, xf, kf, xj, kj = self.round_arrays
        self.round_arrays = None
        return xf[:self.rnd.rf], kf[:self.rnd.rf], xj[:self.rnd.rj], kj[:self.rnd.rj]

    def stop(self):
        """End every unfinished fit where it stands (their ier becomes -1)."""
        cdef intp_t a
        for a in range(self.rnd.n_active):
            lm_stop(&self.states[self.rnd.active[a]], IER_NOT_FINISHED)
        self.rnd.n_active = 0

    def results(self, bint want_cov):
        """(ier, nfev, njev, fnorm, cov_x or None) of all K fits."""
        cdef intp_t k, K = self.K, n = self.n
        ier = np.empty(K, dtype=np.intc)
        nfev = np.empty(K, dtype=np.intp)
        njev = np.empty(K, dtype=np.intp)
        fnorm = np.empty(K)
        cov = np.empty((K, n, n)) if want_cov else None
        cdef int[::1] ier_v = ier
        cdef intp_t[::1] nfev_v = nfev, njev_v = njev
        cdef double[::1] fnorm_v = fnorm
        cdef double* covp = <double*>cnp.PyArray_DATA(cov) if want_cov else NULL
        cdef double* inv = <double*>malloc(max(n * n, 1) * sizeof(double))
        if inv == NULL:
            raise MemoryError("leastsq_batch: could not allocate cov_x scratch")
        with nogil:
            for k in range(K):
                ier_v[k] = ier_of(&self.states[k])
                nfev_v[k] = self.states[k].nfev
                njev_v[k] = self.states[k].njev
                fnorm_v[k] = self.states[k].fnorm
                if want_cov:
                    cov_of(&self.states[k], ier_v[k], inv, covp + k * n * n)
        free(inv)
        return ier, nfev, njev, fnorm, cov


cdef extern from "_atomic.h" nogil:
    intp_t lmfit_fetch_add(intp_t* p, intp_t v)
    intp_t lmfit_load(intp_t* p)
    void lmfit_store(intp_t* p, intp_t v)
    intp_t lmfit_load_acquire(intp_t* p)
    void lmfit_store_release(intp_t* p, intp_t v)
    bint lmfit_swap_if(intp_t* p, intp_t expected, intp_t desired)
    void lmfit_wait_step(unsigned long* waited)


cdef enum:
    # States of a Handoff slot.
    SLOT_EMPTY = 0      # no round, or its requests were collected
    SLOT_POSTED = 1     # a round waits for a thread to take it
    SLOT_TAKEN = 2      # a thread runs it
    SLOT_DONE = 3       # it has run
    HANDOFF_SLOTS = 4   # rounds that can be posted at once


cdef class Handoff:
    """Lockstep rounds run on a second thread while the caller calls the model.

    The caller posts groups' rounds (:meth:`post`) and calls the model for
    other groups meanwhile; a thread in :meth:`serve` runs posted rounds,
    oldest first, without the GIL. :meth:`collect_next` gives the caller a
    round that has run, or, if none has, runs the oldest posted round itself
    rather than wait, so the two threads share the engines' work whichever
    is the faster, and a batch goes on even if no thread serves (all busy
    with other batches). Whoever swaps a slot from posted to taken runs its
    round. The model is only ever called by the caller's thread.
    """
    # state and order are read by the serving thread: through _atomic.h only.
    cdef intp_t state[HANDOFF_SLOTS]     # SLOT_*
    cdef intp_t order[HANDOFF_SLOTS]     # when each round was posted
    cdef round_t* job[HANDOFF_SLOTS]
    cdef list owners                     # (owner, engine) of each slot's round
    cdef intp_t posts, closed

    def __cinit__(self):
        cdef int i
        for i in range(HANDOFF_SLOTS):
            self.state[i] = SLOT_EMPTY
            self.order[i] = 0
            self.job[i] = NULL
        self.owners = [None] * HANDOFF_SLOTS
        self.posts = self.closed = 0

    @property
    def posted(self):
        """Rounds posted and not yet collected."""
        return sum(owner is not None for owner in self.owners)

    def serve(self):
        """Run posted rounds until `close`; for a worker thread."""
        cdef unsigned long waited = 0
        cdef int i
        with nogil:
            while not lmfit_load_acquire(&self.closed):
                i = self._oldest(SLOT_POSTED)
                if i >= 0 and self._run_if_posted(i):
                    waited = 0
                else:
                    lmfit_wait_step(&waited)

    def post(self, owner, Lockstep engine, f, jac, bint col_deriv):
        """Post `engine`'s next round, with the model's answers `f` and `jac`.

        `owner` comes back with the round's requests from `collect_next`.
        """
        cdef int i
        if any(held is not None and held[1] is engine for held in self.owners):
            raise RuntimeError("Handoff.post: this engine's round is posted already")
        for i in range(HANDOFF_SLOTS):
            if self.owners[i] is None:
                break
        else:
            raise RuntimeError(f"Handoff.post: {HANDOFF_SLOTS} rounds are posted "
                               "already")
        engine.post(f, jac, col_deriv)
        self.owners[i] = (owner, engine)
        self.job[i] = &engine.rnd
        lmfit_store(&self.order[i], self.posts)
        self.posts += 1
        lmfit_store_release(&self.state[i], SLOT_POSTED)

    def collect_next(self):
        """(owner, requests) of a posted round that has run.

        The oldest round that has run; if none has, the oldest that no
        thread has taken, run here; else the first to finish.
        """
        cdef unsigned long waited = 0
        cdef int i
        if self.posted == 0:
            raise RuntimeError("Handoff.collect_next: no round was posted")
        with nogil:
            while True:
                i = self._oldest(SLOT_DONE)
                if i >= 0:
                    break
                i = self._oldest(SLOT_POSTED)
                if i >= 0 and self._run_if_posted(i):
                    break
                lmfit_wait_step(&waited)
        owner, engine = self.owners[i]
        self.owners[i] = None
        self.job[i] = NULL
        lmfit_store_release(&self.state[i], SLOT_EMPTY)
        return owner, engine.collect()

    def close(self):
        """Drop the rounds no thread has taken, wait for those being run, and
        let the serving thread return: from then on no thread touches the
        posted engines. Not interruptible (it holds no Python code)."""
        cdef unsigned long waited
        cdef int i
        with nogil:
            for i in range(HANDOFF_SLOTS):
                # A round still posted is dropped here, or taken by the other
                # thread first, and then waited for.
                lmfit_swap_if(&self.state[i], SLOT_POSTED, SLOT_EMPTY)
                waited = 0
                while lmfit_load_acquire(&self.state[i]) == SLOT_TAKEN:
                    lmfit_wait_step(&waited)
            lmfit_store_release(&self.closed, 1)
        for i in range(HANDOFF_SLOTS):
            self.owners[i] = None

    cdef int _oldest(self, intp_t state) noexcept nogil:
        # The slot in `state` posted first, or -1.
        cdef int i, best = -1
        for i in range(HANDOFF_SLOTS):
            if lmfit_load_acquire(&self.state[i]) == state and (
                    best < 0 or lmfit_load(&self.order[i]) < lmfit_load(&self.order[best])):
                best = i
        return best

    cdef bint _run_if_posted(self, int i) noexcept nogil:
        # Take slot i's round and run it, unless another thread took it first.
        if not lmfit_swap_if(&self.state[i], SLOT_POSTED, SLOT_TAKEN):
            return False
        run_round(self.job[i])
        lmfit_store_release(&self.state[i], SLOT_DONE)
        return True


cdef int run_one(batch_func_t func, void* func_data, batch_jac_t jac, void* jac_data,
                 intp_t k, lm_state_t* s, double* xp) noexcept nogil:
    # Drive one fit to its end; returns 0, or the negative code a callback
    # returned (after which the fit is stopped with that code).
    cdef int req, rc = 0
    cdef intp_t j, m = s.m, n = s.n
    while True:
        req = lm_advance(s)
        if req == LM_DONE:
            return 0
        if req == LM_EVAL_F:
            rc = func(k, m, n, s.x_req, s.f_req, func_data)
        elif req == LM_EVAL_FD:
            for j in range(n):
                lm_fd_point(s, j, xp)
                rc = func(k, m, n, xp, s.fjac + j * s.ldfjac, func_data)
                if rc < 0:
                    break
        else:
            rc = jac(k, m, n, s.x_req, s.fjac, s.ldfjac, jac_data)
        if rc < 0:
            lm_stop(s, rc)


cdef inline size_t fit_block_bytes(intp_t m, intp_t n) noexcept nogil:
    # The work block of CompiledBatch.fit_range (its layout is listed there).
    return ((m + m * n + 3 * n + n * n + lm_work_size(m, n)) * sizeof(double)
            + n * sizeof(int))


cdef class CompiledBatch:
    """The fits of a batch with compiled callbacks, for any number of threads.

    Each thread that calls :meth:`run` takes the next `chunk` unstarted fits
    (an atomic counter), fits them without the GIL and comes back for more,
    so threads stay busy until the last chunk whatever their speed, and none
    holds the GIL between chunks. The results go straight into the arrays
    given here; rows of different fits are written by one thread each.

    Parameters
    ----------
    func_addr, func_data, jac_addr, jac_data : int
        Addresses of the callbacks (``BATCH_FUNC_SIGNATURE``,
        ``BATCH_JAC_SIGNATURE``; `jac_addr` 0 for finite differences) and of
        their user data.
    m : int
        Residuals per problem.
    x : ndarray of float64, shape (K, n), C order
        Start points; row k receives fit k's solution.
    diag : ndarray of float64, shape (K, n), C order
        Scale factors, read when `mode` is 2.
    mode, ftol, xtol, gtol, maxfev, epsfcn, factor :
        The engine's options (already checked).
    ier, nfev, njev, fnorm : ndarrays of shape (K,) (intc, intp, intp, float64)
        Receive each fit's results.
    cov : ndarray of float64, shape (K, n, n), C order, or None
        Receives ``cov_x`` when given.
    chunk : int
        Fits a thread takes at a time (>= 1).
    """
    cdef batch_func_t func
    cdef batch_jac_t jac
    cdef void* func_data
    cdef void* jac_data
    cdef intp_t m, n, K, chunk, maxfev
    cdef int mode
    cdef double ftol, xtol, gtol, epsfcn, factor
    cdef double* x
    cdef const double* diag
    cdef int* ier
    cdef intp_t* nfev
    cdef intp_t* njev
    cdef double* fnorm
    cdef double* cov
    cdef object arrays          # keeps the result arrays alive
    # Touched by several threads at once, through _atomic.h only.
    cdef intp_t taken, finished, stopping

    def __cinit__(self, size_t func_addr, size_t func_data, size_t jac_addr,
                  size_t jac_data, Py_ssize_t m, double[:, ::1] x,
                  const double[:, ::1] diag, int mode, int[::1] ier,
                  Py_ssize_t[::1] nfev, Py_ssize_t[::1] njev, double[::1] fnorm,
                  cov, double ftol, double xtol, double gtol, Py_ssize_t maxfev,
                  double epsfcn, double factor, Py_ssize_t chunk):
        cdef intp_t K = x.shape[0], n = x.shape[1]
        cdef double[:, :, ::1] cov_v
        if func_addr == 0:
            raise ValueError("CompiledBatch: func_addr must not be 0")
        if chunk < 1:
            raise ValueError(f"CompiledBatch: chunk must be >= 1, got {chunk}")
        if (diag.shape[0] != K or diag.shape[1] != n or ier.shape[0] != K
                or nfev.shape[0] != K or njev.shape[0] != K or fnorm.shape[0] != K):
            raise ValueError("CompiledBatch: diag and the result arrays must have one "
                             "row per start point")
        self.cov = NULL
        if cov is not None:
            cov_v = cov
            if cov_v.shape[0] != K or cov_v.shape[1] != n or cov_v.shape[2] != n:
                raise ValueError("CompiledBatch: cov must have shape (K, n, n)")
            if K > 0 and n > 0:
                self.cov = &cov_v[0, 0, 0]
        self.func = <batch_func_t>func_addr
        self.jac = <batch_jac_t>jac_addr
        self.func_data = <void*>func_data
        self.jac_data = <void*>jac_data
        self.m, self.n, self.K, self.chunk, self.maxfev = m, n, K, chunk, maxfev
        self.mode = mode
        self.ftol, self.xtol, self.gtol = ftol, xtol, gtol
        self.epsfcn, self.factor = epsfcn, factor
        if K > 0 and n > 0:
            self.x = &x[0, 0]
            self.diag = &diag[0, 0]
            self.ier = &ier[0]
            self.nfev = &nfev[0]
            self.njev = &njev[0]
            self.fnorm = &fnorm[0]
        self.arrays = (x, diag, ier, nfev, njev, fnorm, cov)
        self.taken = self.finished = self.stopping = 0

    @property
    def done(self):
        """Fits finished so far, by all threads."""
        return lmfit_load(&self.finished)

    def stop(self):
        """Let no thread start another chunk (those running finish theirs)."""
        lmfit_store(&self.stopping, 1)

    def run(self, Py_ssize_t most=-1):
        """Fit chunks until none is left or the batch is stopped.

        Parameters
        ----------
        most : int, optional
            If >= 0, return once this call has fitted at least `most` fits
            (whole chunks; 0 fits none).

        Returns
        -------
        int
            The number of fits this call finished.
        """
        cdef intp_t k0, k1, count = 0
        if self.K == 0 or self.n == 0:
            return 0
        # One block per call, laid out by fit_range.
        cdef double* buf = <double*>malloc(fit_block_bytes(self.m, self.n))
        if buf == NULL:
            raise MemoryError("leastsq_batch: could not allocate the work arrays")
        with nogil:
            while most < 0 or count < most:
                if lmfit_load(&self.stopping):
                    break
                k0 = lmfit_fetch_add(&self.taken, self.chunk)
                if k0 >= self.K:
                    break
                k1 = k0 + self.chunk if self.K - k0 > self.chunk else self.K
                self.fit_range(k0, k1, buf)
                lmfit_fetch_add(&self.finished, k1 - k0)
                count += k1 - k0
        free(buf)
        return count

    cdef void fit_range(self, intp_t k0, intp_t k1, double* buf) noexcept nogil:
        # buf (fit_block_bytes): fvec (m), fjac (m n), scale (n), qtf (n), fd
        # point (n), inverse for cov_x (n n), engine work, ipvt (n ints).
        cdef intp_t k, m = self.m, n = self.n, ws = lm_work_size(m, n)
        cdef double* fvec = buf
        cdef double* fjac = fvec + m
        cdef double* scale = fjac + m * n
        cdef double* qtf = scale + n
        cdef double* xp = qtf + n
        cdef double* inv = xp + n
        cdef double* work = inv + n * n
        cdef int* ipvt = <int*>(work + ws)
        cdef lm_state_t s
        for k in range(k0, k1):
            if self.mode == 2:
                memcpy(scale, self.diag + k * n, n * sizeof(double))
            lm_init(&s, m, n, self.x + k * n, fvec, fjac, m, scale, self.mode, ipvt, qtf,
                    work, self.ftol, self.xtol, self.gtol, self.maxfev, self.epsfcn,
                    self.factor, self.jac != NULL, False)
            run_one(self.func, self.func_data, self.jac, self.jac_data, k, &s, xp)
            self.ier[k] = ier_of(&s)
            self.nfev[k] = s.nfev
            self.njev[k] = s.njev
            self.fnorm[k] = s.fnorm
            if self.cov != NULL:
                cov_of(&s, self.ier[k], inv, self.cov + k * n * n)
