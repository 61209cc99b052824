"""``python -m lmfit_core``: fit the MINPACK test problems and NIST data sets.

Prints one row per fit: the problem, its size, lmfit_core's ier, nfev, final
residual norm and median time, and, when SciPy is importable, SciPy's nfev and
the time ratio lmfit_core / SciPy. Options: ``--all`` also runs the 10*x0 and
100*x0 starts of MINPACK's driver; ``--lmder`` uses the analytic Jacobians.
"""
import argparse
import warnings

import numpy as np

from lmfit_core import __version__, leastsq
from lmfit_core._problems import MGH_CASES, NIST_PROBLEMS, mgh_runs
from lmfit_core._timing import format_seconds, median_time

try:
    from scipy import __version__ as scipy_version
    from scipy.optimize import leastsq as scipy_leastsq
except ImportError:  # SciPy is optional: the demo runs without it
    scipy_leastsq = None


def _runs(all_starts):
    if all_starts:
        runs = [(f"{p.title} x{factor:g}", p, p.x0(factor)) for _, p, factor in mgh_runs()]
    else:
        runs = [(p.title, p, p.x0()) for p in MGH_CASES]
    for p in NIST_PROBLEMS:
        for k in (1, 2):
            runs.append((f"{p.title} (start {k})", p, p.x0_start(k)))
    return runs


def _fit(solver, problem, x0, dfun):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return solver(problem.fcn, x0, Dfun=dfun, full_output=True)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lmfit_core", description=__doc__.split("\n")[0])
    parser.add_argument("--all", action="store_true",
                        help="all 53 runs of MINPACK's driver (x0, 10*x0, 100*x0)")
    parser.add_argument("--lmder", action="store_true", help="use analytic Jacobians")
    args = parser.parse_args(argv)

    path = "lmder (analytic Jacobian)" if args.lmder else "lmdif (finite differences)"
    print(f"lmfit_core {__version__}: MINPACK {path}")
    if scipy_leastsq is not None:
        print(f"compared with scipy.optimize.leastsq {scipy_version}")
    header = f"{'problem':<34}{'n':>4}{'m':>5}{'ier':>5}{'nfev':>7}{'||f||':>13}{'time':>11}"
    if scipy_leastsq is not None:
        header += f"{'scipy nfev':>12}{'ratio':>8}"
    print(header)
    print("-" * len(header))

    ratios = []
    for label, problem, x0 in _runs(args.all):
        dfun = problem.jac if args.lmder else None
        x, _, info, _, ier = _fit(leastsq, problem, x0, dfun)
        t_ours = median_time(lambda: _fit(leastsq, problem, x0, dfun))
        label = label if len(label) <= 33 else label[:32] + "…"
        row = (f"{label:<34}{problem.n:>4}{problem.m:>5}{ier:>5}{info['nfev']:>7}"
               f"{np.linalg.norm(info['fvec']):>13.5e}{format_seconds(t_ours):>11}")
        if scipy_leastsq is not None:
            ref = _fit(scipy_leastsq, problem, x0, dfun)
            t_ref = median_time(lambda: _fit(scipy_leastsq, problem, x0, dfun))
            ratios.append(t_ours / t_ref)
            row += f"{ref[2]['nfev']:>12}{t_ours / t_ref:>8.2f}"
        print(row)
    if ratios:
        print(f"\nmedian time ratio lmfit_core / SciPy: {np.median(ratios):.2f} "
              f"over {len(ratios)} fits")


if __name__ == "__main__":
    main()
