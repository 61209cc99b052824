"""Plot fits per second against the batch size K.

    python docs/plot_batch_throughput.py     # writes docs/_static/batch_throughput.png

Series: exponential decays (m=100, n=3) through ``leastsq_batch`` with a
vectorised NumPy model (in one group, in groups of ``DECAY_GROUP``
problems, and in groups of ``DECAY_GROUP_2THREADS`` on two threads) and
through a Python loop over SciPy's ``leastsq``;
compiled Gaussians (m=100, n=4, analytic Jacobian) through ``leastsq_batch``
on one and on two threads. Each point is the best of 3 to 50 runs. Needs SciPy
and matplotlib (not needed to build the docs: the PNG is committed).
"""
import os
import sys
import time
import warnings

import numpy as np


def rate(fn, K):
    # Best of several runs: more of them for small batches, which are quick.
    repeats = max(3, min(50, 3000 // K))
    best = min(_timed(fn) for _ in range(repeats))
    return K / best


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(out=os.path.join(os.path.dirname(__file__), "_static", "batch_throughput.png")):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import LowLevelCallable
    from scipy.optimize import leastsq as scipy_leastsq

    from lmfit_core import _examples, leastsq_batch
    from lmfit_core.bench import DECAY_GROUP, DECAY_GROUP_2THREADS, _decay_batch

    Ks = [10, 100, 1000, 10000]
    grouped = f"NumPy model, leastsq_batch, chunk_size={DECAY_GROUP}"
    paired = f"NumPy model, leastsq_batch, chunk_size={DECAY_GROUP_2THREADS}, threads=2"
    series = {"NumPy model, leastsq_batch": [], grouped: [], paired: [],
              "NumPy model, loop over SciPy leastsq": [],
              "compiled model, 1 thread": [], "compiled model, 2 threads": []}
    t = np.linspace(-5, 5, 100)
    rng = np.random.default_rng(0)
    for K in Ks:
        rows, one, X0 = _decay_batch(K)
        series["NumPy model, leastsq_batch"].append(rate(lambda: leastsq_batch(rows, X0), K))
        series[grouped].append(
            rate(lambda: leastsq_batch(rows, X0, chunk_size=DECAY_GROUP), K))
        series[paired].append(
            rate(lambda: leastsq_batch(rows, X0, chunk_size=DECAY_GROUP_2THREADS,
                                       threads=2), K))
        if K <= 1000:
            funcs = [one(k) for k in range(K)]

            def loop():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    for k in range(K):
                        scipy_leastsq(funcs[k], X0[k])
            series["NumPy model, loop over SciPy leastsq"].append(rate(loop, K))
        Y = _examples.gauss_model([2.0, 0.3, 1.1, 0.5], t) + 0.05 * rng.normal(size=(K, 100))
        data = _examples.CurveSet(t, Y)
        f = LowLevelCallable.from_cython(_examples, "gauss_batch_residuals", data.user_data)
        j = LowLevelCallable.from_cython(_examples, "gauss_batch_jacobian", data.user_data)
        G0 = np.tile([1.5, 0.0, 1.5, 0.3], (K, 1))
        for threads in (1, 2):
            key = f"compiled model, {threads} thread{'s' if threads > 1 else ''}"
            series[key].append(rate(lambda: leastsq_batch(f, G0, args=(100,), Dfun=j,
                                                          threads=threads), K))
    for name, values in series.items():
        print(f"{name:<40}" + "".join(f"{v:>12,.0f}" for v in values))

    fig, ax = plt.subplots(figsize=(7, 6))
    for (name, values), style in zip(series.items(),
                                     ["o-", "o:", "o-.", "s--", "^-", "v-"]):
        ax.loglog(Ks[:len(values)], values, style, label=name)
    ax.set_xlabel("K (independent fits in the batch)")
    ax.set_ylabel("fits per second")
    ax.grid(True, which="both", alpha=0.3)
    # Below the axes: inside, the box would hide the SciPy loop's points.
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    ax.set_title("Batched fitting throughput (2-core machine)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
