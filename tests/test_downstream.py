"""lmfit_core in place of scipy.optimize.leastsq inside real downstream code.

Three users of the drop-in are exercised with their own expectations:

* SciPy's own tests of ``leastsq`` and ``curve_fit`` (the ``test_minpack.py``
  installed with SciPy), run with lmfit_core substituted wherever SciPy's
  code calls ``leastsq``;
* astropy's model tests with its ``LevMarLSQFitter`` and ``LMLSQFitter``
  (which call ``scipy.optimize.leastsq``): every model of astropy's test
  set fitted with lmfit_core;
* lmfit, which calls ``scipy.optimize.leastsq`` for its default method:
  model fits, uncertainties, an analytic Jacobian and ``conf_interval2d``
  (which holds every parameter fixed) must give what they give with SciPy.
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from numpy.testing import assert_allclose

import lmfit
import lmfit.minimizer
import scipy.optimize

import lmfit_core
from lmfit_core import leastsq

_SCIPY_IMPORT = "from scipy.optimize._minpack_py import leastsq, curve_fit, fixed_point"

_SUBSTITUTE = textwrap.dedent("""\
    import scipy.optimize
    import scipy.optimize._minpack_py as minpack_py

    import lmfit_core

    CALLS = [0]


    def counted_leastsq(*args, **kwargs):
        CALLS[0] += 1
        return lmfit_core.leastsq(*args, **kwargs)


    minpack_py.leastsq = counted_leastsq     # what curve_fit calls
    scipy.optimize.leastsq = counted_leastsq


    def pytest_sessionfinish(session):
        print(f"\\nlmfit_core.leastsq calls: {CALLS[0]}")
    """)


def _package_root():
    # The child process imports the lmfit_core this process tests.
    root = str(Path(lmfit_core.__file__).resolve().parent.parent)
    return os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)


def _run_pytest(cwd, *args):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-s", *args],
        cwd=cwd, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1",
                 PYTHONPATH=os.pathsep.join([str(cwd), _package_root()])))


def _calls(run):
    lines = [line for line in run.stdout.splitlines() if "lmfit_core.leastsq calls" in line]
    return int(lines[-1].split()[-1]) if lines else 0


def test_scipy_leastsq_and_curve_fit_tests_pass_with_lmfit_core(tmp_path):
    source = Path(scipy.optimize.__file__).parent / "tests" / "test_minpack.py"
    assert source.is_file(), f"SciPy's tests are not installed: {source} is missing"
    text = source.read_text()
    assert _SCIPY_IMPORT in text, "SciPy's test_minpack.py no longer imports leastsq as expected"
    (tmp_path / "test_minpack.py").write_text(text.replace(
        _SCIPY_IMPORT,
        "from scipy.optimize._minpack_py import curve_fit, fixed_point\n"
        "from lmfit_core import leastsq"))
    (tmp_path / "conftest.py").write_text(_SUBSTITUTE)
    run = _run_pytest(tmp_path, "-k", "TestLeastSq or TestCurveFit", "test_minpack.py")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    # curve_fit alone calls leastsq dozens of times in these tests.
    assert _calls(run) >= 40, run.stdout[-2000:]


def test_astropy_levmar_fitter_tests_pass_with_lmfit_core(tmp_path):
    # astropy's fitters import scipy.optimize at fit time and call its leastsq.
    (tmp_path / "lmfit_core_substitute.py").write_text(_SUBSTITUTE)
    run = _run_pytest(tmp_path, "-p", "lmfit_core_substitute", "--pyargs",
                      "astropy.modeling.tests.test_models",
                      "astropy.modeling.tests.test_fitters",
                      "-k", "LevMar or LMLSQ")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert _calls(run) >= 100, run.stdout[-2000:]


def _peaks():
    x = np.linspace(0, 10, 201)
    rng = np.random.default_rng(7)
    y = (lmfit.lineshapes.gaussian(x, 10.0, 6.15, 0.8)
         + lmfit.lineshapes.gaussian(x, 8.0, 4.35, 1.1)
         + rng.normal(scale=0.2, size=x.size))
    model = (lmfit.models.GaussianModel(prefix="a_") + lmfit.models.GaussianModel(prefix="b_")
             + lmfit.models.ConstantModel())
    params = model.make_params(a_amplitude=9, a_center=6.0, a_sigma=1.0,
                               b_amplitude=7, b_center=4.5, b_sigma=1.0, c=0.0)
    params["a_sigma"].set(min=0.01)
    return model, params, x, y


def _fit_both(fit, monkeypatch):
    reference = fit()
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return leastsq(*args, **kwargs)
    with monkeypatch.context() as patch:
        patch.setattr(lmfit.minimizer, "scipy_leastsq", counted)
        ours = fit()
    assert calls, "lmfit did not call lmfit_core"
    return ours, reference


def _assert_same_result(ours, ref):
    assert ours.ier == ref.ier and ours.success == ref.success
    assert ours.message == ref.message
    for name, p in ref.params.items():
        assert_allclose(ours.params[name].value, p.value, rtol=1e-9, atol=1e-12, err_msg=name)
        if p.stderr is None:
            assert ours.params[name].stderr is None
        else:
            assert_allclose(ours.params[name].stderr, p.stderr, rtol=1e-7, err_msg=name)
    assert_allclose(ours.chisqr, ref.chisqr, rtol=1e-10)
    assert_allclose(ours.covar, ref.covar, rtol=1e-7, atol=1e-14)


def test_lmfit_model_fit_with_bounds_and_uncertainties(monkeypatch):
    model, params, x, y = _peaks()
    ours, ref = _fit_both(lambda: model.fit(y, params.copy(), x=x), monkeypatch)
    assert ref.success and ref.errorbars
    _assert_same_result(ours, ref)


def test_lmfit_minimizer_with_analytic_jacobian(monkeypatch):
    t = np.linspace(0, 5, 60)
    y = 2.5 * np.exp(-1.3 * t) + 0.4 + 0.01 * np.random.default_rng(3).normal(size=t.size)

    def residual(p):
        return p["a"] * np.exp(-p["k"] * t) + p["c"] - y

    def jacobian(p):
        e = np.exp(-p["k"] * t)
        return np.column_stack([e, -p["a"] * t * e, np.ones_like(t)])

    params = lmfit.Parameters()
    params.add_many(("a", 1.0), ("k", 1.0), ("c", 0.0))
    ours, ref = _fit_both(lambda: lmfit.minimize(residual, params, Dfun=jacobian),
                          monkeypatch)
    assert ref.success
    _assert_same_result(ours, ref)


def test_lmfit_conf_interval2d_holds_every_parameter_fixed(monkeypatch):
    # A two-parameter model: each grid point is a "fit" with nothing to vary.
    x = np.linspace(0, 4, 40)
    y = 3.0 * np.exp(-0.7 * x) + 0.01 * np.random.default_rng(5).normal(size=x.size)

    def residual(p):
        return p["a"] * np.exp(-p["k"] * x) - y

    params = lmfit.Parameters()
    params.add_many(("a", 1.0), ("k", 1.0))

    def grid():
        mini = lmfit.Minimizer(residual, params)
        result = mini.minimize()
        return lmfit.conf_interval2d(mini, result, "a", "k", nx=6, ny=5)

    (ox, oy, oprob), (rx, ry, rprob) = _fit_both(grid, monkeypatch)
    assert_allclose(ox, rx, rtol=1e-9)
    assert_allclose(oy, ry, rtol=1e-9)
    assert np.isfinite(oprob).all() and (oprob > 0).any()
    assert_allclose(oprob, rprob, rtol=1e-7, atol=1e-12)
