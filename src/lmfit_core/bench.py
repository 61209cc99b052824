"""``python -m lmfit_core.bench``: lmfit_core and SciPy's ``leastsq`` side by side.

Runs each scenario alternating lmfit_core and SciPy fits in one process and
prints, per scenario, both medians, the ratio lmfit_core / SciPy, the nfev of
each, and the callback floor: the calls a fit makes times the median cost of a
bare call of the residual (and Jacobian) function, the time no drop-in can go
below. Then one fit of a compiled model through the Cython API and through
``leastsq``, and the thread scaling of compiled fits. Needs SciPy. ``--quick``
skips the two large scenarios; ``--repeats`` sets the number of alternating
rounds; ``--compiled`` runs only the compiled-callback part.
"""
import argparse
import time
import warnings

import numpy as np

from lmfit_core import leastsq
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
    # A linear-in-shape model with analytic Jacobian in MINPACK's column layout.
    t = np.linspace(0, 1, m)
    basis = np.vstack([np.exp(-(k + 1) * t) for k in range(n)])   # (n, m)
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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return solver(func, x0, Dfun=dfun, col_deriv=col_deriv, full_output=True)


def _one_run(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


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
        for _ in range(reps):
            t, res = _one_run(lambda: _fit(leastsq, func, dfun, x0, col_deriv))
            ours.append(t)
            t, ref = _one_run(lambda: _fit(scipy_leastsq, func, dfun, x0, col_deriv))
            theirs.append(t)
        info, ref_info = res[2], ref[2]
        floor = info["nfev"] * median_time(lambda: func(x0))
        if dfun is not None:
            floor += info["njev"] * median_time(lambda: dfun(x0))
        t_ours, t_ref = float(np.median(ours)), float(np.median(theirs))
        row = dict(scenario=name, lmfit_core=t_ours, scipy=t_ref, ratio=t_ours / t_ref,
                   nfev=info["nfev"], scipy_nfev=ref_info["nfev"], floor=floor,
                   same_x=bool(np.array_equal(res[0], ref[0])))
        rows.append(row)
        print(f"{name:<52}{format_seconds(t_ours):>12}{format_seconds(t_ref):>12}"
              f"{row['ratio']:>7.2f}{row['nfev']:>7}{row['scipy_nfev']:>11}"
              f"{format_seconds(floor):>11}{t_ours / floor:>8.2f}")
    return rows


def run_compiled(repeats=2000):
    """Print one fit of the compiled Gaussian (m=100, n=4), per path, and thread scaling.

    The paths: the public Cython API (``_examples.fit_gauss``) and ``leastsq``
    with ``scipy.LowLevelCallable`` callbacks, each with finite differences
    and with the analytic Jacobian; then the throughput of C-API fits from one
    and from two threads.
    """
    from concurrent.futures import ThreadPoolExecutor

    from scipy import LowLevelCallable

    from lmfit_core import _examples

    rng = np.random.default_rng(0)
    t = np.linspace(-5, 5, 100)
    y = _examples.gauss_model([2.0, 0.3, 1.1, 0.5], t) + 0.05 * rng.normal(size=t.size)
    data = _examples.CurveData(t, y)
    f = LowLevelCallable.from_cython(_examples, "gauss_residuals", data.user_data)
    j = LowLevelCallable.from_cython(_examples, "gauss_jacobian", data.user_data)
    x0 = np.array([1.5, 0.0, 1.5, 0.3])
    paths = [
        ("Cython API, lmdif", lambda: _examples.fit_gauss(data, x0, False)),
        ("Cython API, lmder", lambda: _examples.fit_gauss(data, x0, True)),
        ("leastsq + LowLevelCallable, lmdif", lambda: leastsq(f, x0, args=(100,))),
        ("leastsq + LowLevelCallable, lmder", lambda: leastsq(f, x0, args=(100,), Dfun=j)),
    ]
    print("compiled Gaussian + background, m=100, n=4: median time per fit")
    for name, fn in paths:
        times = [_one_run(fn)[0] for _ in range(repeats)]
        print(f"  {name:<40}{format_seconds(float(np.median(times))):>12}")

    def batch(k):
        for _ in range(k):
            _examples.fit_gauss(data, x0, True)

    k = max(repeats, 200)
    one = min(_one_run(lambda: batch(2 * k))[0] for _ in range(3))
    with ThreadPoolExecutor(max_workers=2) as pool:
        two = min(_one_run(lambda: list(pool.map(batch, [k, k])))[0] for _ in range(3))
    print(f"  C-API lmder fits/s: 1 thread {2 * k / one:,.0f}, 2 threads "
          f"{2 * k / two:,.0f}, speed-up {one / two:.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lmfit_core.bench",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip the large scenarios")
    parser.add_argument("--repeats", type=int, default=None, help="alternating rounds")
    parser.add_argument("--compiled", action="store_true",
                        help="only the compiled-callback scenarios")
    args = parser.parse_args(argv)
    if not args.compiled:
        run(quick=args.quick, repeats=args.repeats)
        print()
    run_compiled()


if __name__ == "__main__":
    main()
