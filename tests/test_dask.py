"""lmfit_core.dask.fit_along_axis: the Dask results are the in-memory batch's.

Each position of a chunked cube is fitted on its own block's batch, so every
result must equal, bit for bit, what one in-memory ``leastsq_batch`` over all
positions gives. Checked on a ``dask.distributed`` LocalCluster with two
worker processes (the models are module-level functions of
``lmfit_core._batch_models``, which the workers import) and on Dask's
threaded scheduler.
"""
import os
import subprocess
import sys
import textwrap

import dask
import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster, get_task_stream
from numpy.testing import assert_array_equal

import lmfit_core
import lmfit_core.dask as lmdask
from lmfit_core import ImproperInputError, leastsq_batch
from lmfit_core._batch_models import (decay, decay_cube, decay_jacobian, gauss,
                                      gauss_cube, gauss_jacobian)
from lmfit_core.dask import AxisFit, fit_along_axis

SHAPE = (6, 7)
CHUNKS = (3, 4)                      # 2 x 2 blocks: 3 x 4, 3 x 3, 3 x 4 and 3 x 3 positions
T_DECAY = np.linspace(0.0, 4.0, 60)
T_GAUSS = np.linspace(-5.0, 5.0, 60)
# Where the package was imported from: worker processes must import the same.
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(lmfit_core.__file__)))

MODELS = {
    # name: (model, Jacobian, abscissae, cube maker, shared start)
    "decay": (decay, decay_jacobian, T_DECAY, decay_cube, [1.0, 1.0, 0.0]),
    "gauss": (gauss, gauss_jacobian, T_GAUSS, gauss_cube, [1.5, 0.0, 1.5, 0.0]),
}


def _pythonpath_with_package():
    paths = [PACKAGE_ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                              if p]
    return os.pathsep.join(os.path.abspath(p) for p in paths)


@pytest.fixture(scope="module")
def client():
    # Worker processes inherit the environment: an absolute PYTHONPATH that
    # holds this lmfit_core (a no-op when it is pip-installed).
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = _pythonpath_with_package()
    try:
        with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                          dashboard_address=None) as cluster, Client(cluster) as c:
            yield c
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved


@pytest.fixture(scope="module", params=sorted(MODELS))
def case(request):
    model, jac, t, make, start = MODELS[request.param]
    y, truth = make(SHAPE, t, seed=3)
    return model, jac, t, y, truth, np.array(start)


def in_memory(model, t, y, X0, jac=None, **options):
    """One leastsq_batch over every position of the cube."""
    n = X0.shape[-1]
    X0 = np.broadcast_to(X0, y.shape[:-1] + (n,)).reshape(-1, n)
    return leastsq_batch(model, X0, args=(y.reshape(-1, y.shape[-1]), t), Dfun=jac,
                         **options)


def assert_same(result, ref, lead=SHAPE):
    x, ier, nfev, fnorm = result
    n = ref.x.shape[1]
    assert x.shape == lead + (n,)
    assert ier.shape == nfev.shape == fnorm.shape == lead
    assert ier.dtype == ref.ier.dtype and nfev.dtype == ref.nfev.dtype
    assert_array_equal(x.reshape(-1, n), ref.x)
    assert_array_equal(ier.ravel(), ref.ier)
    assert_array_equal(nfev.ravel(), ref.nfev)
    assert_array_equal(fnorm.ravel(), ref.fnorm)


# -- on the distributed cluster ------------------------------------------------

@pytest.mark.parametrize("analytic", [False, True], ids=["lmdif", "lmder"])
def test_cluster_equals_in_memory(client, case, analytic):
    model, jac, t, y, truth, start = case
    jac = jac if analytic else None
    fit = fit_along_axis(model, da.from_array(y, chunks=CHUNKS + (t.size,)), start,
                         Dfun=jac, args=(t,))
    with get_task_stream(client) as stream:
        result = dask.compute(*fit)
    ref = in_memory(model, t, y, start, jac)
    assert_same(result, ref)
    # The fits are good ones, not merely equal ones.
    assert ref.success.all()
    np.testing.assert_allclose(result[0], truth, atol=0.1)
    # Each of the four blocks was fitted once, in the worker processes,
    # although four arrays were computed.
    fits = [task for task in stream.data if "fit_along_axis" in str(task["key"])]
    assert len(fits) == 4
    assert {task["worker"] for task in fits} <= set(client.scheduler_info()["workers"])


def test_cluster_per_position_starts(client, case):
    model, jac, t, y, truth, _ = case
    X0 = truth * 1.2
    data = da.from_array(y, chunks=CHUNKS + (t.size,))
    ref = in_memory(model, t, y, X0)
    # NumPy starts, and Dask starts chunked unlike the data (realigned).
    for starts in (X0, da.from_array(X0, chunks=(4, 2, 1))):
        assert_same(fit_along_axis(model, data, starts, args=(t,)).compute(), ref)


# -- on the threaded scheduler -------------------------------------------------

def test_threads_equal_in_memory(case):
    model, jac, t, y, truth, start = case
    data = da.from_array(y, chunks=(2, 3, t.size))
    for starts in (start, truth * 0.9):
        ref = in_memory(model, t, y, starts, jac)
        fit = fit_along_axis(model, data, starts, Dfun=jac, args=(t,))
        assert_same(fit.compute(scheduler="threads"), ref)


def test_one_fit_per_block_and_lazy(monkeypatch):
    calls = []

    def counting(*a, **kw):
        calls.append(a[1].shape[0])
        return leastsq_batch(*a, **kw)
    monkeypatch.setattr(lmdask, "leastsq_batch", counting)
    y, _ = decay_cube(SHAPE, T_DECAY, seed=1)
    fit = fit_along_axis(decay, da.from_array(y, chunks=CHUNKS + (60,)), [1.0, 1.0, 0.0],
                         args=(T_DECAY,))
    assert calls == []                              # building the graph fits nothing
    result = fit.compute(scheduler="threads")
    assert isinstance(result, AxisFit) and isinstance(result.x, np.ndarray)
    assert sorted(calls) == [9, 9, 12, 12]          # one batch per block
    assert_same(result, in_memory(decay, T_DECAY, y, np.array([1.0, 1.0, 0.0])))


def test_nan_positions_fail_alone():
    y, _ = decay_cube(SHAPE, T_DECAY, seed=2)
    y[1, 2, 10] = np.nan
    y[4, 6, :] = np.nan
    start = np.array([1.0, 1.0, 0.0])
    fit = fit_along_axis(decay, da.from_array(y, chunks=CHUNKS + (60,)), start,
                         args=(T_DECAY,))
    result = fit.compute(scheduler="threads")
    ref = in_memory(decay, T_DECAY, y, start)
    assert_same(result, ref)
    bad = np.zeros(SHAPE, bool)
    bad[1, 2] = bad[4, 6] = True
    assert (result.ier[bad] == 9).all()
    assert np.isin(result.ier[~bad], (1, 2, 3, 4)).all()


def test_observation_axis_first_and_numpy_data():
    y, _ = decay_cube(SHAPE, T_DECAY, seed=4)
    start = np.array([1.0, 1.0, 0.0])
    ref = in_memory(decay, T_DECAY, y, start, decay_jacobian)
    spectral_first = np.moveaxis(y, -1, 0)                      # (60, 6, 7)
    for data in (da.from_array(spectral_first, chunks=(60, 4, 3)), spectral_first):
        fit = fit_along_axis(decay, data, start, axis=0, Dfun=decay_jacobian,
                             args=(T_DECAY,))
        assert_same(fit.compute(scheduler="threads"), ref)


def test_options_reach_every_block():
    y, _ = decay_cube(SHAPE, T_DECAY, seed=5)
    start = np.array([1.0, 1.0, 0.0])
    data = da.from_array(y, chunks=CHUNKS + (60,))
    options = {"maxfev": 6, "diag": [1.0, 2.0, 1.0], "factor": 10.0}
    result = fit_along_axis(decay, data, start, args=(T_DECAY,), **options).compute(
        scheduler="sync")
    assert (result.ier == 5).all() and (result.nfev <= 6 + 3).all()
    ref = in_memory(decay, T_DECAY, y, start, **options)
    assert_same(result, ref)
    # Groups within each block: the same fits.
    calls = []

    def counted(p, k, y, t):
        calls.append(np.unique(k).size)
        return decay(p, k, y, t)
    grouped = fit_along_axis(counted, data, start, args=(T_DECAY,), chunk_size=2,
                             **options).compute(scheduler="sync")
    assert max(calls) == 2
    assert_same(grouped, ref)


def test_a_single_problem():
    y, truth = decay_cube((), T_DECAY, seed=6)                   # shape (60,)
    result = fit_along_axis(decay, da.from_array(y), [1.0, 1.0, 0.0],
                            args=(T_DECAY,)).compute(scheduler="sync")
    assert result.x.shape == (3,) and result.ier.shape == ()
    assert_same(result, in_memory(decay, T_DECAY, y[None], np.array([1.0, 1.0, 0.0])),
                lead=())


# -- errors ----------------------------------------------------------------------

def test_split_observation_axis_is_refused():
    y, _ = decay_cube(SHAPE, T_DECAY)
    with pytest.raises(ValueError, match=r"split into 3 chunks.*rechunk\({2: -1}\)"):
        fit_along_axis(decay, da.from_array(y, chunks=(3, 4, 20)), [1.0, 1.0, 0.0],
                       args=(T_DECAY,))
    with pytest.raises(ValueError, match=r"rechunk\({0: -1}\)"):
        fit_along_axis(decay, da.from_array(np.moveaxis(y, -1, 0), chunks=(30, 6, 7)),
                       [1.0, 1.0, 0.0], axis=0, args=(T_DECAY,))


def test_invalid_arguments_are_refused_before_computing():
    y, _ = decay_cube(SHAPE, T_DECAY)
    data = da.from_array(y, chunks=CHUNKS + (60,))
    start = [1.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="x0 must have shape"):
        fit_along_axis(decay, data, np.ones((2, 2, 3)), args=(T_DECAY,))
    with pytest.raises(ValueError, match="but n = 4"):
        fit_along_axis(decay, data, start, n=4, args=(T_DECAY,))
    with pytest.raises(ValueError, match="x0 must be finite"):
        fit_along_axis(decay, data, [1.0, np.nan, 0.0], args=(T_DECAY,))
    with pytest.raises(ValueError, match="diag must have shape"):
        fit_along_axis(decay, data, start, args=(T_DECAY,), diag=np.ones((6, 7, 3)))
    with pytest.raises(ValueError, match="out of bounds"):
        fit_along_axis(decay, data, start, axis=3, args=(T_DECAY,))
    for name in ("cov", "progress", "threads"):
        with pytest.raises(TypeError, match=f"does not take '{name}'"):
            fit_along_axis(decay, data, start, args=(T_DECAY,), **{name: True})
    with pytest.raises(TypeError, match="unexpected keyword"):
        fit_along_axis(decay, data, start, args=(T_DECAY,), tolerance=1e-3)
    with pytest.raises(ImproperInputError, match="ftol"):
        fit_along_axis(decay, data, start, args=(T_DECAY,), ftol=-1.0)
    with pytest.raises(TypeError, match="real numbers"):
        fit_along_axis(decay, data.astype(complex), start, args=(T_DECAY,))


def test_compiled_callbacks_are_refused():
    from scipy import LowLevelCallable

    from lmfit_core import _examples
    curves = _examples.CurveSet(T_GAUSS, np.zeros((2, T_GAUSS.size)))
    f = LowLevelCallable.from_cython(_examples, "gauss_batch_residuals", curves.user_data)
    with pytest.raises(TypeError, match="not compiled callbacks"):
        fit_along_axis(f, da.zeros((2, 60)), [1.0, 0.0, 1.0, 0.0])


def test_model_errors_surface_from_compute():
    data = da.from_array(decay_cube(SHAPE, T_DECAY)[0], chunks=CHUNKS + (60,))
    # decay without its abscissae: the model raises on the first evaluation.
    fit = fit_along_axis(decay, data, [1.0, 1.0, 0.0])
    with pytest.raises(TypeError):
        fit.compute(scheduler="sync")


# -- Dask stays optional ---------------------------------------------------------

def _run_python(code):
    env = dict(os.environ, PYTHONPATH=_pythonpath_with_package())
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=60)


def test_lmfit_core_never_imports_dask():
    proc = _run_python("""
        import sys
        import lmfit_core
        assert "dask" not in sys.modules, "import lmfit_core imported dask"
        """)
    assert proc.returncode == 0, proc.stderr


def test_without_dask_the_error_says_how_to_install_it():
    proc = _run_python("""
        import sys

        class NoDask:
            def find_spec(self, name, path=None, target=None):
                if name == "dask" or name.startswith("dask."):
                    raise ModuleNotFoundError(f"No module named {name!r}")

        sys.meta_path.insert(0, NoDask())
        import lmfit_core
        lmfit_core.leastsq_batch
        try:
            import lmfit_core.dask
        except ImportError as exc:
            print(exc)
        else:
            raise SystemExit("lmfit_core.dask imported without dask")
        """)
    assert proc.returncode == 0, proc.stderr
    assert 'pip install "lmfit_core[dask]"' in proc.stdout
