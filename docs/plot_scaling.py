"""Plot time per fit against m and against n, lmfit_core and SciPy side by side.

    python docs/plot_scaling.py            # writes docs/_static/scaling.png

The problem is the large scenario of ``python -m lmfit_core.bench``: n
Gaussian bumps fitted to m points, analytic Jacobian in column order
(``col_deriv=True``). Each point is the median of alternating runs. Needs
SciPy and matplotlib (not needed to build the docs: the PNG is committed).
"""
import os
import sys
import time

import numpy as np


def median_pair(solve_a, solve_b, repeats):
    ta, tb = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        solve_a()
        ta.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        solve_b()
        tb.append(time.perf_counter() - t0)
    return float(np.median(ta)), float(np.median(tb))


def measure(m, n):
    from scipy.optimize import leastsq as scipy_leastsq

    from lmfit_core import leastsq
    from lmfit_core.bench import _large

    func, dfun, x0, col_deriv = _large(m, n)
    repeats = max(3, min(50, int(2e7 / (m * n * n + 1))))
    return median_pair(lambda: leastsq(func, x0, Dfun=dfun, col_deriv=col_deriv),
                       lambda: scipy_leastsq(func, x0, Dfun=dfun, col_deriv=col_deriv),
                       repeats)


def main(out=os.path.join(os.path.dirname(__file__), "_static", "scaling.png")):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ms = [1000, 3000, 10000, 30000, 100000, 200000]
    ns = [5, 10, 20, 40, 70, 100]
    by_m = [measure(m, 6) for m in ms]
    by_n = [measure(20000, n) for n in ns]
    for label, xs, rows in (("m (n=6)", ms, by_m), ("n (m=20000)", ns, by_n)):
        for x, (ours, theirs) in zip(xs, rows):
            print(f"{label:>12} {x:>7}: lmfit_core {ours * 1e3:9.3f} ms, SciPy "
                  f"{theirs * 1e3:9.3f} ms, ratio {ours / theirs:.2f}")

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, xs, rows, xlabel in ((axes[0], ms, by_m, "m (n = 6)"),
                                 (axes[1], ns, by_n, "n (m = 20,000)")):
        ax.loglog(xs, [r[0] * 1e3 for r in rows], "o-", label="lmfit_core")
        ax.loglog(xs, [r[1] * 1e3 for r in rows], "s--", label="scipy.optimize.leastsq")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("time per fit (ms)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("leastsq with Dfun (col_deriv=True): median time per fit")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
