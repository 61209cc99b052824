"""``patch_scipy``: SciPy's leastsq, curve_fit, lmfit and astropy run on lmfit_core in a block.

A spy on the function the patch installs counts the fits that reach
lmfit_core; each must end where SciPy's engine ends (same steps).
"""
import sys
import types

import numpy as np
import pytest
import scipy.optimize
import scipy.optimize._minpack_py as minpack_py
from numpy.testing import assert_array_equal

import lmfit
import lmfit.minimizer
from astropy.modeling import fitting, models

import lmfit_core
from lmfit_core import patch_scipy

T = np.linspace(0.0, 4.0, 40)
Y = 2.5 * np.exp(-1.3 * T) + 0.4 + 0.01 * np.random.default_rng(3).normal(size=T.size)
SCIPY_LEASTSQ = scipy.optimize.leastsq


@pytest.fixture
def spy(monkeypatch):
    """Count the calls that reach lmfit_core's leastsq through the patch."""
    calls = []

    def counted(*args, **kwargs):
        calls.append(args[0])
        return lmfit_core.leastsq(*args, **kwargs)
    monkeypatch.setattr(lmfit_core._patch, "leastsq", counted)
    return calls


def decay(p):
    return p[0] * np.exp(-p[1] * T) + p[2] - Y


def curve_fit_decay():
    return scipy.optimize.curve_fit(lambda t, a, k, c: a * np.exp(-k * t) + c, T, Y,
                                    p0=[1.0, 1.0, 0.0], full_output=True)


def lmfit_decay():
    params = lmfit.Parameters()
    for name, value in (("a", 1.0), ("k", 1.0), ("c", 0.0)):
        params.add(name, value=value)
    result = lmfit.minimize(lambda p: decay([p["a"].value, p["k"].value, p["c"].value]),
                            params, method="leastsq")
    return np.array([result.params[name].value for name in "akc"]), result.nfev


def astropy_decay():
    model = fitting.LevMarLSQFitter()(models.Exponential1D(1.0, -1.0), T, Y - 0.4)
    return np.array([model.amplitude.value, model.tau.value])


def assert_scipy_restored():
    assert scipy.optimize.leastsq is SCIPY_LEASTSQ
    assert minpack_py.leastsq is SCIPY_LEASTSQ
    assert lmfit.minimizer.scipy_leastsq is SCIPY_LEASTSQ


def test_leastsq_and_curve_fit_run_on_lmfit_core_inside_the_block(spy):
    popt, pcov, info, _, ier = curve_fit_decay()
    with patch_scipy():
        x, _, fit_info, _, _ = scipy.optimize.leastsq(decay, [1.0, 1.0, 0.0],
                                                      full_output=True)
        assert spy == [decay]
        ours = curve_fit_decay()
        assert len(spy) == 2
    # The same steps as SciPy's engine: same nfev, same solution.
    assert ours[2]["nfev"] == info["nfev"] and ours[4] == ier
    np.testing.assert_allclose(ours[0], popt, rtol=1e-12)
    np.testing.assert_allclose(ours[1], pcov, rtol=1e-9)
    assert_array_equal(x, lmfit_core.leastsq(decay, [1.0, 1.0, 0.0])[0])
    assert fit_info["nfev"] == SCIPY_LEASTSQ(decay, [1.0, 1.0, 0.0], full_output=True)[2]["nfev"]
    assert_scipy_restored()


def test_lmfit_and_astropy_run_on_lmfit_core_inside_the_block(spy):
    ref_lmfit, ref_astropy = lmfit_decay(), astropy_decay()
    with patch_scipy():
        assert lmfit.minimizer.scipy_leastsq is lmfit_core._patch.leastsq
        ours_lmfit = lmfit_decay()
        assert len(spy) == 1
        ours_astropy = astropy_decay()
        assert len(spy) == 2
    # lmfit counts its own calls of the residual; SciPy's two uncounted extra
    # calls at x0 are gone (docs/differences_from_scipy.rst).
    assert ours_lmfit[1] == ref_lmfit[1] - 2
    np.testing.assert_allclose(ours_lmfit[0], ref_lmfit[0], rtol=1e-12)
    np.testing.assert_allclose(ours_astropy, ref_astropy, rtol=1e-10)
    assert_scipy_restored()


def test_an_exception_in_the_block_restores_scipy():
    with pytest.raises(KeyError):
        with patch_scipy():
            raise KeyError("inside")
    assert_scipy_restored()


def test_blocks_nest():
    with patch_scipy():
        with patch_scipy():
            assert scipy.optimize.leastsq is lmfit_core.leastsq
        assert scipy.optimize.leastsq is lmfit_core.leastsq
        assert minpack_py.leastsq is lmfit_core.leastsq
        assert lmfit.minimizer.scipy_leastsq is lmfit_core.leastsq
    assert_scipy_restored()


def test_lmfit_imported_inside_the_block_gets_scipy_back(monkeypatch):
    # lmfit binds leastsq when it is imported; imported inside the block it
    # binds lmfit_core's, which must not outlive the block.
    monkeypatch.delitem(sys.modules, "lmfit.minimizer")
    with patch_scipy():
        fresh = types.ModuleType("lmfit.minimizer")
        fresh.scipy_leastsq = scipy.optimize.leastsq      # what its import does
        monkeypatch.setitem(sys.modules, "lmfit.minimizer", fresh)
    assert fresh.scipy_leastsq is SCIPY_LEASTSQ
    assert scipy.optimize.leastsq is SCIPY_LEASTSQ
