"""``python -m lmfit_core.bench``: lmfit_core and SciPy's ``leastsq`` side by side.

Runs each scenario alternating lmfit_core and SciPy fits in one process and
prints, per scenario, both medians, the ratio lmfit_core / SciPy, the nfev of
each, and the callback floor: the median time of the calls a fit makes, made
one after another on their own (``nfev`` calls of the residual function and
``njev`` of the Jacobian), the time no drop-in can go below; then MINPACK's
own cost on the Rosenbrock fit with compiled residuals (needs numba). Then
one fit of a compiled model through the Cython API and through
``leastsq``, and the thread scaling of compiled fits (one Python call per fit,
and the fits looped in C as a downstream package runs them). Needs SciPy. ``--quick``
skips the two large scenarios; ``--repeats`` sets the number of alternating
rounds; ``--compiled`` runs only the compiled-callback part, ``--batch`` only
the batched fits of ``leastsq_batch`` (with, beside their thread scaling, what
two processes fitting at once get from this machine's two cores: the ceiling
of any scaling); ``--instructions`` counts the
instructions per fit of the small scenarios with valgrind (deterministic where
timings are noise). BLAS runs on one thread: the script
re-runs itself with ``OPENBLAS_NUM_THREADS=1`` (and the same for OpenMP and
MKL) when they are not set.
"""
import argparse
import os
import sys
import time
import warnings

import numpy as np

from lmfit_core import _bench_peers, leastsq
from lmfit_core._timing import format_seconds, median_time


def _rosenbrock():
    def f(x):
        return np.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])
    return f, None, np.array([-1.2, 1.0]), False


def _decay(m=100, jac=False):
    t = np.linspace(0, 5, m)
    y = 3.0 * np.exp(-1.1 * t) + 0.3 + 0.01 * np.random.default_rng(1).normal(size=m)

    def f(p):
        return p[0] * np.exp(-p[1] * t) + p[2] - y

    def d(p):
        e = np.exp(-p[1] * t)
        return np.column_stack([e, -p[0] * t * e, np.ones(m)])
    return f, (d if jac else None), np.array([1.0, 0.5, 0.0]), False


def _gaussians(m=1000):
    t = np.linspace(-5, 5, m)
    truth = np.array([1.0, -2.0, 0.6, 0.8, 0.5, 0.4, 0.6, 2.2, 0.8])

    def model(p):
        out = np.zeros(m)
        for a, c, w in p.reshape(3, 3):
            out += a * np.exp(-((t - c) / w) ** 2)
        return out
    y = model(truth) + 0.01 * np.random.default_rng(2).normal(size=m)
    return (lambda p: model(p) - y), None, truth * 1.1, False


def _large(m, n):
    # n Gaussian bumps spread over [0, 1] (a well-conditioned basis, so that
    # both libraries take the same steps), with the analytic Jacobian in
    # MINPACK's column layout (col_deriv=True).
    t = np.linspace(0, 1, m)
    centres = (np.arange(n) + 0.5) / n
    basis = np.exp(-0.5 * ((t[None, :] - centres[:, None]) * n) ** 2)   # (n, m)
    truth = np.linspace(1, 2, n)
    y = truth @ basis + 1e-3 * np.random.default_rng(3).normal(size=m)

    def f(p):
        return p @ basis - y

    def d(p):
        return basis
    return f, d, np.ones(n), True


SCENARIOS = [
    ("Rosenbrock, m=2, n=2, finite differences", _rosenbrock, False),
    ("exponential decay, m=100, n=3, finite differences", lambda: _decay(), False),
    ("exponential decay, m=100, n=3, Dfun (rows)", lambda: _decay(jac=True), False),
    ("3 Gaussians, m=1000, n=9, finite differences", _gaussians, False),
    ("m=200,000, n=6, Dfun, col_deriv=True", lambda: _large(200_000, 6), True),
    ("m=20,000, n=100, Dfun, col_deriv=True", lambda: _large(20_000, 100), True),
]


def _fit(solver, func, dfun, x0, col_deriv):
    # Callers ignore the models' RuntimeWarnings around their loops, not per
    # fit: entering catch_warnings costs about a microsecond, a fiftieth of
    # the smallest fit, which the floor does not pay.
    return solver(func, x0, Dfun=dfun, col_deriv=col_deriv, full_output=True)


def _one_run(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _floor_calls(func, dfun, x, info):
    """The floor's calls: ``nfev`` calls ``func(x)`` and ``njev`` calls
    ``dfun(x)``, one after the other, as a function of no arguments."""
    def calls():
        for _ in range(info["nfev"]):
            func(x)
        for _ in range(info.get("njev", 0)):
            dfun(x)
    return calls


def run(quick=False, repeats=None):
    """Print the side-by-side table; return its rows as dicts."""
    from scipy.optimize import leastsq as scipy_leastsq
    import scipy

    rows = []
    print(f"lmfit_core vs scipy.optimize.leastsq {scipy.__version__}: medians of "
          "alternating runs, ratio = lmfit_core / SciPy")
    header = (f"{'scenario':<52}{'lmfit_core':>12}{'SciPy':>12}{'ratio':>7}"
              f"{'nfev':>7}{'SciPy nfev':>11}{'floor':>11}{'/floor':>8}")
    print(header)
    print("-" * len(header))
    for name, make, large in SCENARIOS:
        if quick and large:
            continue
        func, dfun, x0, col_deriv = make()
        reps = repeats or (5 if large else 200)
        ours, theirs = [], []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for _ in range(reps):
                t, res = _one_run(lambda: _fit(leastsq, func, dfun, x0, col_deriv))
                ours.append(t)
                t, ref = _one_run(lambda: _fit(scipy_leastsq, func, dfun, x0, col_deriv))
                theirs.append(t)
            info, ref_info = res[2], ref[2]
            # Timed as one block: the clock read around each call of a
            # sub-microsecond function would add a tenth or more to it.
            floor = median_time(_floor_calls(func, dfun, x0, info))
        t_ours, t_ref = float(np.median(ours)), float(np.median(theirs))
        row = dict(scenario=name, lmfit_core=t_ours, scipy=t_ref, ratio=t_ours / t_ref,
                   nfev=info["nfev"], scipy_nfev=ref_info["nfev"], floor=floor,
                   same_x=bool(np.array_equal(res[0], ref[0])))
        rows.append(row)
        print(f"{name:<52}{format_seconds(t_ours):>12}{format_seconds(t_ref):>12}"
              f"{row['ratio']:>7.2f}{row['nfev']:>7}{row['scipy_nfev']:>11}"
              f"{format_seconds(floor):>11}{t_ours / floor:>8.2f}")
    _engine_cost(rows[0]["floor"])
    return rows


def _engine_cost(floor, k=200, repeats=15):
    """Print MINPACK's own cost on the Rosenbrock fit against a tenth of its floor.

    With the residuals compiled the callbacks cost next to nothing, so a fit's
    time is the engine's; the peers run MINPACK itself. What the engines take
    beyond a tenth of the Python floor no drop-in that takes MINPACK's steps
    can save."""
    engines = _bench_peers.rosenbrock_engines()
    if not engines:
        print("  (numba is not installed: MINPACK's own cost on Rosenbrock not measured)")
        return
    nfev = {name: fits(2) for name, fits in engines.items()}     # compile first
    times = {name: [] for name in engines}
    for _ in range(repeats):
        for name, fits in engines.items():
            times[name].append(_one_run(lambda: fits(k))[0] / k)
    print(f"Rosenbrock with compiled residuals (numba cfunc), median time per fit; "
          f"a tenth of its floor above is {format_seconds(floor / 10)}:")
    for name in engines:
        how = "Cython API, numba loop" if name == "lmfit_core" else "numba loop"
        print(f"  {f'{name} lmdif ({how})':<48}"
              f"{format_seconds(float(np.median(times[name]))):>10}   nfev {nfev[name]}")
    _missing_peers(engines, "  ")


def _missing_peers(peers, indent):
    """Say which of the numba-driven MINPACK peers were not measured, and why."""
    how = {"cminpack-numba": "pip install cminpack-numba",
           "minpack-numba": "pip install minpack-numba, which needs gfortran"}
    for peer, install in how.items():
        if peer not in peers:
            print(f"{indent}{peer} is not installed ({install}): not measured")


def run_compiled(repeats=2000):
    """Print one fit of the compiled Gaussian (m=100, n=4), per path, and thread scaling.

    The paths: the public Cython API (``_examples.fit_gauss``) and ``leastsq``
    with ``scipy.LowLevelCallable`` callbacks, each with finite differences
    and with the analytic Jacobian, next to SciPy's ``leastsq`` with the same
    model in NumPy; then the throughput of C-API fits from one and from two
    threads.
    """
    from concurrent.futures import ThreadPoolExecutor

    from scipy import LowLevelCallable
    from scipy.optimize import leastsq as scipy_leastsq

    from lmfit_core import _examples

    rng = np.random.default_rng(0)
    t = np.linspace(-5, 5, 100)
    y = _examples.gauss_model([2.0, 0.3, 1.1, 0.5], t) + 0.05 * rng.normal(size=t.size)
    data = _examples.CurveData(t, y)
    f = LowLevelCallable.from_cython(_examples, "gauss_residuals", data.user_data)
    j = LowLevelCallable.from_cython(_examples, "gauss_jacobian", data.user_data)
    x0 = np.array([1.5, 0.0, 1.5, 0.3])
    numpy_residuals, numpy_jacobian = _numpy_gauss(t, y)
    paths = [
        ("Cython API, lmdif", lambda: _examples.fit_gauss(data, x0, False)),
        ("Cython API, lmder", lambda: _examples.fit_gauss(data, x0, True)),
        ("leastsq + LowLevelCallable, lmdif", lambda: leastsq(f, x0, args=(100,))),
        ("leastsq + LowLevelCallable, lmder", lambda: leastsq(f, x0, args=(100,), Dfun=j)),
        # The reference the targets were set against (SciPy with a NumPy
        # residual), to tell how fast the machine is running today.
        ("SciPy leastsq, NumPy residual", lambda: scipy_leastsq(numpy_residuals, x0)),
        ("SciPy leastsq, NumPy residual and Dfun",
         lambda: scipy_leastsq(numpy_residuals, x0, Dfun=numpy_jacobian)),
    ]
    # Peers of the targets: MINPACK through numba cfuncs, the same model.
    peers = _bench_peers.load(t)
    for peer, fits in peers.items():
        for kind in ("lmdif", "lmder"):
            fits[kind](y, x0)                   # compile before timing
            paths.append((f"{peer} {kind} (numba cfunc)",
                          lambda fit=fits[kind]: fit(y, x0)))
    print("compiled Gaussian + background, m=100, n=4: median time per fit "
          "(the paths alternating)")
    times = {name: [] for name, _ in paths}
    for _ in range(repeats):
        for name, fn in paths:
            times[name].append(_one_run(fn)[0])
    medians = {name: float(np.median(times[name])) for name, _ in paths}
    for name, _ in paths:
        print(f"  {name:<40}{format_seconds(medians[name]):>12}")
    _missing_peers(peers, "  ")
    _on_targets_machine(medians)

    def python_loop(k):
        for _ in range(k):
            _examples.fit_gauss(data, x0, True)

    def c_loop(k):
        _examples.fit_gauss_many(data, x0, k, True)

    # Fits from Python threads, one Python call per fit (each call takes and
    # drops the GIL, and a thread woken for it waits on the machine's
    # scheduler), and the same fits looped in C as a downstream package
    # runs them (no GIL between fits: the engine's own scaling).
    k = max(repeats, 200)
    for label, fits in [("one Python call per fit", python_loop),
                        ("fits looped in C", c_loop)]:
        one = min(_one_run(lambda: fits(2 * k))[0] for _ in range(3))
        with ThreadPoolExecutor(max_workers=2) as pool:
            two = min(_one_run(lambda: list(pool.map(fits, [k, k])))[0] for _ in range(3))
        print(f"  C-API lmder fits/s, {label}: 1 thread {2 * k / one:,.0f}, 2 threads "
              f"{2 * k / two:,.0f}, speed-up {one / two:.2f}")


# The peers' times per fit on the machine the targets of the compiled fit
# (15 us with finite differences, 10 us with the Jacobian) were set on, as the
# issue gives them; the same paths are timed above.
TARGETS_MACHINE_PEERS = {"minpack-numba lmdif (numba cfunc)": 18.6e-6,
                         "cminpack-numba lmdif (numba cfunc)": 21.2e-6,
                         "cminpack-numba lmder (numba cfunc)": 14.7e-6}


def _on_targets_machine(medians):
    """Print the compiled fit's paths scaled to the machine the targets were set on.

    The scale is the median of this run's peer times over those the targets'
    machine gave (compiled MINPACK on the same model, so the same kind of
    work); nothing is printed without the peers.
    """
    ratios = [medians[name] / then for name, then in TARGETS_MACHINE_PEERS.items()
              if name in medians]
    if not ratios:
        return
    slower = float(np.median(ratios))
    print(f"  the peers took {slower:.2f}x their times on the targets' machine; "
          "scaled to it (targets: lmdif 15 µs, lmder 10 µs):")
    for name in ("Cython API", "leastsq + LowLevelCallable"):
        lmdif, lmder = (format_seconds(medians[f"{name}, {kind}"] / slower)
                        for kind in ("lmdif", "lmder"))
        print(f"    {name}: lmdif {lmdif}, lmder {lmder}")


# Problems per group for the decays fitted in groups: a call's rows (4 per
# problem in a difference round) times m = 100 residuals, about 100,000
# values, stay in the core's cache.
DECAY_GROUP = 250
# The same on two threads, where three groups are in flight: half as many
# problems per group keep their engines' data in cache too (125 to 167 ran
# 10 to 15% faster than 250 here).
DECAY_GROUP_2THREADS = DECAY_GROUP // 2


def _decay_batch(K, m=100, seed=4):
    """K exponential decays (m points each, own data): the vectorised model and one fit."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 5, m)
    truth = np.column_stack([rng.uniform(1, 4, K), rng.uniform(0.5, 2, K),
                             rng.uniform(-0.5, 0.5, K)])
    Y = truth[:, :1] * np.exp(-truth[:, 1:2] * t) + truth[:, 2:]
    Y += 0.01 * rng.normal(size=Y.shape)

    def rows(p, k):
        return p[:, :1] * np.exp(-p[:, 1:2] * t) + p[:, 2:3] - Y[k]

    def one(k):
        y = Y[k]
        return lambda p: p[0] * np.exp(-p[1] * t) + p[2] - y
    return rows, one, np.tile([1.0, 1.0, 0.0], (K, 1))


def run_batch(repeats=9):
    """Print the batched scenarios: fits/s of leastsq_batch against their peers.

    1. 2,000 exponential decays (m=100, n=3, own data each), vectorised NumPy
       model, finite differences, against a Python loop over SciPy's leastsq
       (same residuals written for one problem); all problems in one group,
       in groups of ``DECAY_GROUP`` (``chunk_size``), and in groups of
       ``DECAY_GROUP_2THREADS`` on two threads (the engines of some groups
       running while the model evaluates another's points).
    2. 10,000 compiled Gaussians on a background (m=100, n=4, noise, start off
       the truth), analytic Jacobian, default tolerances, on 1 and 2 threads.
    3. 10,000 compiled 2-D Gaussians on 5 x 5 pixels (n=5, analytic Jacobian,
       ftol = xtol = 1e-4, starts off by 10%), on 1 and 2 threads.
    """
    from scipy import LowLevelCallable
    from scipy.optimize import leastsq as scipy_leastsq

    from lmfit_core import _examples, leastsq_batch

    print("batched fits: medians of alternating runs")
    K = 2000
    rows, one, X0 = _decay_batch(K)
    funcs = [one(k) for k in range(K)]

    def scipy_loop(full_output=False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return [scipy_leastsq(funcs[k], X0[k], full_output=full_output)
                    for k in range(K)]
    ours, grouped, paired, theirs = [], [], [], []
    for _ in range(repeats):
        t, res = _one_run(lambda: leastsq_batch(rows, X0))
        ours.append(t)
        t, res_g = _one_run(lambda: leastsq_batch(rows, X0, chunk_size=DECAY_GROUP))
        grouped.append(t)
        t, res_2 = _one_run(lambda: leastsq_batch(rows, X0, threads=2,
                                                  chunk_size=DECAY_GROUP_2THREADS))
        paired.append(t)
        t, _ = _one_run(scipy_loop)
        theirs.append(t)
    ref = scipy_loop(full_output=True)          # untimed: for nfev
    t_ref = float(np.median(theirs))
    for label, r, times in [("leastsq_batch", res, ours),
                            (f"chunk_size={DECAY_GROUP}", res_g, grouped),
                            (f"chunk_size={DECAY_GROUP_2THREADS}, threads=2", res_2,
                             paired)]:
        same = sum(np.array_equal(r.x[k], ref[k][0]) and r.nfev[k] == ref[k][2]["nfev"]
                   for k in range(K))
        t_ours = float(np.median(times))
        print(f"  {K:,} exp. decays, NumPy model: {label} {format_seconds(t_ours)} "
              f"({K / t_ours:,.0f} fits/s), SciPy loop {format_seconds(t_ref)} "
              f"({K / t_ref:,.0f} fits/s), speed-up {t_ref / t_ours:.1f}x; same x and "
              f"nfev as SciPy: {same}/{K}")

    rng = np.random.default_rng(5)      # the 2-D spots below continue it
    t, Y, X0, fits_of = _gauss_batch(rng)
    K = X0.shape[0]
    # Peers of the target: MINPACK through numba cfuncs, the same model, in a
    # numba-compiled loop over the problems (alternating with our runs).
    peers = _bench_peers.load(t)
    loops = []
    for peer, fits in peers.items():
        fits["lmder_loop"](Y[:2], X0[:2])       # compile before timing
        loops.append((f"{peer} lmder, numba loop (1 thread)",
                      lambda loop=fits["lmder_loop"]: loop(Y, X0)[1]))
    _compiled_rate("compiled Gaussians, m=100, n=4, lmder", fits_of, X0, repeats, loops)
    _missing_peers(peers, "    ")
    # The reference for this rate: a Python loop over SciPy's leastsq
    # with the model in NumPy (10,700 fits/s when the target was set), on the
    # first 500 problems, so that a run shows the machine's state.
    print(f"    SciPy loop, NumPy model and Dfun: "
          f"{_scipy_gauss_rate(t, Y[:500], X0[:500], scipy_leastsq):,.0f} fits/s")

    truth = np.column_stack([rng.uniform(50, 150, K), rng.uniform(1.5, 2.5, K),
                             rng.uniform(1.5, 2.5, K), rng.uniform(0.8, 1.2, K),
                             rng.uniform(5, 15, K)])
    Z = np.array([_examples.gauss2d_model(p) for p in truth])
    Z += np.sqrt(np.maximum(Z, 1.0)) * rng.normal(size=Z.shape)
    spots = _examples.CurveSet(None, Z)
    X0 = truth * rng.choice([0.9, 1.1], size=truth.shape)
    f2 = LowLevelCallable.from_cython(_examples, "gauss2d_batch_residuals", spots.user_data)
    j2 = LowLevelCallable.from_cython(_examples, "gauss2d_batch_jacobian", spots.user_data)
    _compiled_rate("compiled 2-D Gaussians, 5x5, n=5, lmder, tol 1e-4",
                   lambda threads: leastsq_batch(f2, X0, args=(25,), Dfun=j2,
                                                 threads=threads, ftol=1e-4, xtol=1e-4),
                   X0, repeats)
    # Last: the children load both cores for seconds, which the machine's
    # clock and its host take a while to forget.
    pair, alone = _two_process_rates()
    print(f"  the machine's own two-core ceiling: two processes fitting the 10,000 "
          f"Gaussians on 1 thread each, at once, {pair:,.0f} fits/s against "
          f"{alone:,.0f} alone ({pair / alone:.2f}x)")


def _numpy_gauss(t, y):
    """The compiled examples' Gaussian on a background, written in NumPy: (func, Dfun)."""
    def residuals(p):
        return p[0] * np.exp(-0.5 * ((t - p[1]) / p[2]) ** 2) + p[3] - y

    def jacobian(p):
        g = np.exp(-0.5 * ((t - p[1]) / p[2]) ** 2)
        u = (t - p[1]) / p[2] ** 2
        return np.column_stack([g, p[0] * g * u, p[0] * g * u * (t - p[1]) / p[2],
                                np.ones_like(t)])
    return residuals, jacobian


def _scipy_gauss_rate(t, Y, X0, scipy_leastsq, repeats=3):
    """Fits/s of a Python loop over SciPy's leastsq on Gaussians (NumPy model, Dfun)."""
    problems = [_numpy_gauss(t, y) for y in Y]

    def fits():
        for (residuals, jacobian), x0 in zip(problems, X0):
            scipy_leastsq(residuals, x0, Dfun=jacobian)
    best = min(_one_run(fits)[0] for _ in range(repeats))
    return len(Y) / best


def _gauss_batch(rng=None, K=10_000):
    """The 1-D Gaussian batch: t, Y, X0 and ``fits(threads)`` fitting all K.

    The noise is drawn from `rng` (default: a new generator seeded 5).
    """
    from scipy import LowLevelCallable

    from lmfit_core import _examples, leastsq_batch

    if rng is None:
        rng = np.random.default_rng(5)
    t = np.linspace(-5, 5, 100)
    Y = (_examples.gauss_model([2.0, 0.3, 1.1, 0.5], t)
         + 0.05 * rng.normal(size=(K, t.size)))
    gauss = _examples.CurveSet(t, Y)
    X0 = np.tile([1.5, 0.0, 1.5, 0.3], (K, 1))
    f = LowLevelCallable.from_cython(_examples, "gauss_batch_residuals", gauss.user_data)
    j = LowLevelCallable.from_cython(_examples, "gauss_batch_jacobian", gauss.user_data)

    def fits(threads):
        return leastsq_batch(f, X0, args=(t.size,), Dfun=j, threads=threads)
    fits.data = gauss            # the callbacks' user data lives as long as fits
    return t, Y, X0, fits


def _rate_loop(start, seconds):
    """Child of _two_process_rates: fits/s of the 1-D Gaussian batch on 1 thread,
    median of the batches run from wall time `start` for `seconds`."""
    _, _, X0, fits = _gauss_batch()
    fits(1)                                     # warm up before the start
    time.sleep(max(0.0, start - time.time()))
    times = []
    while time.time() < start + seconds:
        times.append(_one_run(lambda: fits(1))[0])
    print(X0.shape[0] / float(np.median(times)))


def _two_process_rates(seconds=3.0):
    """(fits/s of two processes at once, summed; fits/s of one alone).

    What two cores of this machine give two independent single-threaded
    batches: the ceiling of any thread scaling (shared caches, memory
    bandwidth, the clock the cores keep when both are busy). Each child fits
    for `seconds` from a common start time; one alone before and after the
    pair, averaged.
    """
    import subprocess

    def children(count):
        start = time.time() + 5.0               # after their imports
        procs = [subprocess.Popen([sys.executable, "-m", "lmfit_core.bench",
                                   "--rate-loop", str(start), str(seconds)],
                                  stdout=subprocess.PIPE, text=True)
                 for _ in range(count)]
        rates = []
        for p in procs:
            out = p.communicate()[0]
            if p.returncode != 0:
                raise RuntimeError(f"a --rate-loop child failed (exit code {p.returncode})")
            rates.append(float(out))
        return rates
    before = children(1)[0]
    pair = sum(children(2))
    after = children(1)[0]
    return pair, (before + after) / 2


def _compiled_rate(name, fits, X0, repeats, others=()):
    """Print the fits/s of a compiled batch on 1 and 2 threads.

    ``fits(threads)`` fits the batch. `others` are ``(label, fn)`` pairs
    timed in the same rounds (alternating with the batch, so that they see
    the same machine): ``fn()`` fits all K problems and returns their nfev,
    which is compared with the batch's.
    """
    K = X0.shape[0]
    times = {1: [], 2: [], **{label: [] for label, _ in others}}
    nfev = {}
    for _ in range(repeats):
        for threads in (1, 2):
            # Each timed batch follows an untimed one on as many threads: a
            # core left idle by the run before is awake again, as it is
            # through any batch longer than these (tens of milliseconds).
            fits(threads)
            t, res = _one_run(lambda: fits(threads))
            times[threads].append(t)
        for label, fn in others:
            t, nfev[label] = _one_run(fn)
            times[label].append(t)
    one, two = float(np.median(times[1])), float(np.median(times[2]))
    print(f"  {K:,} {name}: 1 thread {K / one:,.0f} fits/s, 2 threads "
          f"{K / two:,.0f} fits/s ({one / two:.2f}x); converged "
          f"{int(res.success.sum()):,}/{K:,}")
    for label, _ in others:
        same = int((nfev[label] == res.nfev).sum())
        print(f"    {label}: {K / float(np.median(times[label])):,.0f} fits/s; same nfev "
              f"as lmfit_core: {same:,}/{K:,}")


# BLAS threads that spin after a NumPy call take a core from the fits timed
# next (half of this two-core machine); the peers were measured with BLAS on
# one thread, so the script runs that way.
_ONE_BLAS_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                    "MKL_NUM_THREADS": "1"}


def _with_one_blas_thread():
    """Re-run ``python -m lmfit_core.bench`` with BLAS on one thread unless it is."""
    if all(os.environ.get(k) == v for k, v in _ONE_BLAS_THREAD.items()):
        return
    env = dict(os.environ, **_ONE_BLAS_THREAD)
    os.execve(sys.executable, [sys.executable, "-m", "lmfit_core.bench", *sys.argv[1:]],
              env)


def _count_loop(kind, index, repeats):
    """Child of run_instructions: `repeats` runs of one scenario's `kind`."""
    from scipy.optimize import leastsq as scipy_leastsq

    warnings.simplefilter("ignore", RuntimeWarning)     # a child process of its own
    func, dfun, x0, col_deriv = SCENARIOS[index][1]()
    info = _fit(leastsq, func, dfun, x0, col_deriv)[2]
    if kind == "floor":
        once = _floor_calls(func, dfun, x0, info)
    else:
        solver = leastsq if kind == "lmfit_core" else scipy_leastsq
        once = lambda: _fit(solver, func, dfun, x0, col_deriv)  # noqa: E731
    for _ in range(repeats):
        once()


def _instructions(kind, index, repeats):
    import re
    import subprocess
    env = dict(os.environ, PYTHONHASHSEED="0", **_ONE_BLAS_THREAD)
    run = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
         "-m", "lmfit_core.bench", "--count-loop", kind, str(index), str(repeats)],
        capture_output=True, text=True, env=env, check=True)
    return int(re.search(r"Collected : (\d+)", run.stderr).group(1))


def run_instructions():
    """Print instructions per fit (valgrind's callgrind) of the small scenarios.

    Instruction counts do not depend on what else the machine is doing, so
    they show the overhead over the callbacks where timings are noise: each
    count is the difference of two runs (2 and 2 + R fits, R chosen per
    scenario) divided by R, for lmfit_core, SciPy and the bare calls of the
    floor. Needs valgrind.
    """
    import shutil
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind (Debian: apt install valgrind)")
    print("instructions per fit (callgrind), ratio to the floor's calls")
    header = (f"{'scenario':<52}{'lmfit_core':>13}{'SciPy':>13}{'floor':>13}"
              f"{'ours/floor':>11}{'SciPy/floor':>12}")
    print(header)
    print("-" * len(header))
    for index, (name, _, large) in enumerate(SCENARIOS):
        if large:
            continue
        repeats = 20 if "Gaussians" in name else 200
        per = {}
        for kind in ("lmfit_core", "scipy", "floor"):
            base = _instructions(kind, index, 2)
            per[kind] = (_instructions(kind, index, 2 + repeats) - base) / repeats
        print(f"{name:<52}{per['lmfit_core']:>13,.0f}{per['scipy']:>13,.0f}"
              f"{per['floor']:>13,.0f}{per['lmfit_core'] / per['floor']:>11.2f}"
              f"{per['scipy'] / per['floor']:>12.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lmfit_core.bench",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip the large scenarios")
    parser.add_argument("--repeats", type=int, default=None, help="alternating rounds")
    parser.add_argument("--compiled", action="store_true",
                        help="only the compiled-callback scenarios")
    parser.add_argument("--batch", action="store_true",
                        help="only the batched scenarios (leastsq_batch)")
    parser.add_argument("--instructions", action="store_true",
                        help="instructions per fit of the small scenarios (valgrind)")
    parser.add_argument("--count-loop", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--rate-loop", nargs=2, type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rate_loop:
        _rate_loop(*args.rate_loop)
        return
    if args.count_loop:
        kind, index, repeats = args.count_loop
        _count_loop(kind, int(index), int(repeats))
        return
    if args.instructions:
        run_instructions()
        return
    if args.batch:
        run_batch()
        return
    if not args.compiled:
        run(quick=args.quick, repeats=args.repeats)
        print()
    run_compiled()
    print()
    run_batch()


if __name__ == "__main__":
    _with_one_blas_thread()
    main()
