"""Build the downstream Cython example (examples/cython) and check its fits.

Like NumPy's and SciPy's ``test_extending``: the example directory is copied to
``tmp_path`` and built there with the running interpreter, so Cython finds
``lmfit_core/cython_lm.pxd`` only through ``lmfit_core.get_include()``: the
installed package (or, in development, whatever ``PYTHONPATH`` provides). The built module is then
checked against ``lmfit_core._examples``, which implements the same model with
the same C expressions and must therefore give bit-identical fits.

Cython, setuptools and a C compiler are test requirements: nothing is skipped.
"""
import importlib.machinery
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import Cython  # noqa: F401 - a test dependency: fail here, not in the subprocess
import numpy as np
import pytest
import setuptools  # noqa: F401
from numpy.testing import assert_array_equal

import lmfit_core
from lmfit_core import _examples

EXAMPLE_DIR = Path(__file__).resolve().parent.parent / "examples" / "cython"
TRUE = np.array([2.0, 0.3, 1.1, 0.5])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(gauss_fit module, text of the generated C file), built once per session."""
    build_dir = tmp_path_factory.mktemp("cython_extending") / "cython"
    shutil.copytree(EXAMPLE_DIR, build_dir,
                    ignore=shutil.ignore_patterns("build", "*.c", "*.so", "*.pyd"))
    # The build sees the lmfit_core this test imported (the installed one in
    # CI), also when that came from a relative PYTHONPATH entry.
    env = os.environ.copy()
    package_root = str(Path(lmfit_core.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(
        [package_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    proc = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"],
                          cwd=build_dir, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, (f"building the example failed:\n{proc.stdout}\n"
                                  f"{proc.stderr}")
    libs = [p for suffix in importlib.machinery.EXTENSION_SUFFIXES
            for p in build_dir.glob("gauss_fit" + suffix)]
    assert len(libs) == 1, f"expected one built gauss_fit module, found {libs}"
    spec = importlib.util.spec_from_file_location("gauss_fit", libs[0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, (build_dir / "gauss_fit.c").read_text()


def curve(seed, m=100):
    rng = np.random.default_rng(seed)
    t = np.linspace(-5, 5, m)
    return t, _examples.gauss_model(TRUE, t) + 0.05 * rng.normal(size=m)


STARTS = [np.array([1.5, 0.0, 1.5, 0.3]), np.array([1.0, -1.0, 2.0, 0.0]),
          np.array([3.0, 1.0, 0.5, 1.0])]


def test_built_against_the_installed_pxd(built):
    module, c_source = built
    # The generated C imports the solver from lmfit_core.cython_lm at module
    # init (Cython's C-API import), with the public typedefs of the .pxd.
    assert re.search(r'PyImport_ImportModule\("lmfit_core\.cython_lm"\)', c_source)
    assert '"lmfit_core/cython_lm.pxd"' in c_source
    assert "(Py_ssize_t, Py_ssize_t, double const *, double *, void *)" in c_source
    # ... and the only cython_lm.pxd the build could see is the installed one.
    assert not (EXAMPLE_DIR / "lmfit_core").exists()
    assert (Path(lmfit_core.get_include()) / "lmfit_core" / "cython_lm.pxd").is_file()
    assert module.api_version() == 1


@pytest.mark.parametrize("analytic", [True, False], ids=["lmder", "lmdif"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fit_equals_the_packaged_example(built, seed, analytic):
    module, _ = built
    t, y = curve(seed)
    for x0 in STARTS:
        x, info, nfev, njev = module.fit(t, y, x0, analytic=analytic)
        x_ref, info_ref, nfev_ref, njev_ref, _ = _examples.fit_gauss(
            _examples.CurveData(t, y), x0, analytic)
        assert (info, nfev, njev) == (info_ref, nfev_ref, njev_ref)
        assert_array_equal(x, x_ref)
        assert info in lmfit_core.LEASTSQ_SUCCESS
        assert (njev > 0) == analytic
        np.testing.assert_allclose(x, TRUE, atol=0.05)


@pytest.mark.parametrize("analytic", [True, False], ids=["lmder", "lmdif"])
def test_fit_many_equals_fit(built, analytic):
    module, _ = built
    t = curve(0)[0]
    Y = np.array([curve(seed)[1] for seed in range(12)])
    X0 = np.array([STARTS[k % len(STARTS)] for k in range(12)])
    X, info, nfev, njev = module.fit_many(t, Y, X0, analytic=analytic)
    assert X.shape == (12, 4) and info.shape == nfev.shape == njev.shape == (12,)
    for k in range(12):
        x, i, f, j = module.fit(t, Y[k], X0[k], analytic=analytic)
        assert (info[k], nfev[k], njev[k]) == (i, f, j)
        assert_array_equal(X[k], x)
    # One start for every curve broadcasts.
    X1 = module.fit_many(t, Y, STARTS[0], analytic=analytic)[0]
    assert_array_equal(X1[0], module.fit(t, Y[0], STARTS[0], analytic=analytic)[0])


def test_fit_many_in_threads(built):
    # The fit releases the GIL and keeps no global state: calls from several
    # threads at once give the serial results.
    module, _ = built
    t = curve(0)[0]
    Ys = [np.array([curve(10 * b + s)[1] for s in range(10)]) for b in range(8)]
    serial = [module.fit_many(t, Y, STARTS[0]) for Y in Ys]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda Y: module.fit_many(t, Y, STARTS[0]), Ys))
    for s, p in zip(serial, threaded):
        for a, b in zip(s, p):
            assert_array_equal(a, b)


@pytest.mark.parametrize("analytic", [True, False], ids=["lmder", "lmdif"])
def test_fit_parallel_equals_fit_many(built, analytic):
    # The fits of a prange loop, each with its own buffers, are the serial
    # ones bit for bit, and (built with OpenMP, as on Linux) they run on the
    # threads asked for.
    module, _ = built
    t = curve(0)[0]
    rng = np.random.default_rng(7)
    Y = _examples.gauss_model(TRUE, t) + 0.05 * rng.normal(size=(2000, t.size))
    X0 = np.array([STARTS[k % len(STARTS)] for k in range(len(Y))])
    serial = module.fit_many(t, Y, X0, analytic=analytic)
    one = module.fit_parallel(t, Y, X0, analytic=analytic, num_threads=1)
    assert set(one[4]) == {0}
    for _ in range(3):
        *parallel, thread = module.fit_parallel(t, Y, X0, analytic=analytic,
                                                num_threads=2)
        for a, b, c in zip(serial, one[:4], parallel):
            assert_array_equal(a, b)
            assert_array_equal(a, c)
        if set(thread) == {0, 1}:
            break
    if sys.platform.startswith("linux"):
        assert module.openmp_enabled()
        # Both threads took fits (in one of three runs: on a loaded machine
        # the second may start after the first has taken every fit).
        assert set(thread) == {0, 1}
    else:
        assert set(thread) <= {0, 1}
    assert module.fit_parallel(t, Y[:0], X0[:0])[0].shape == (0, 4)


@pytest.mark.parametrize("analytic", [True, False], ids=["lmder", "lmdif"])
@pytest.mark.parametrize("stop_after", [1, 3, 5])
def test_callback_stop(built, stop_after, analytic):
    module, _ = built
    t, y = curve(0)
    x0 = STARTS[0]
    x, info, nfev, njev = module.fit(t, y, x0, analytic=analytic, stop_after=stop_after)
    assert module.STOPPED < 0
    assert info == module.STOPPED
    assert nfev <= stop_after
    # The packaged example stops at its stop_at-th call (with -7): the same
    # refused call, so the same iterate and counts.
    x_ref, info_ref, nfev_ref, njev_ref, _ = _examples.fit_gauss(
        _examples.CurveData(t, y, stop_at=stop_after + 1), x0, analytic)
    assert info_ref == -7
    assert (nfev, njev) == (nfev_ref, njev_ref)
    assert_array_equal(x, x_ref)
    # Without a stop the fit goes on past that point.
    assert module.fit(t, y, x0, analytic=analytic)[2] > nfev


def test_bad_input_raises(built):
    module, _ = built
    t, y = curve(0)
    with pytest.raises(ValueError):
        module.fit(t, y[:-1], STARTS[0])
    with pytest.raises(ValueError):
        module.fit(t, y, STARTS[0][:3])
    with pytest.raises(ValueError):
        module.fit_many(t, y[None, :-1], STARTS[0])
    with pytest.raises(ValueError):
        module.fit_parallel(t, y[None, :-1], STARTS[0])
