"""lmfit_core.dask.fit_along_axis: Dask's results are the in-memory batch's.

Run on a dask.distributed LocalCluster with worker processes (the models are
module-level functions of lmfit_core._problems, so workers can unpickle them)
and on Dask's default threaded scheduler.
"""
import dask
import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster
from numpy.testing import assert_array_equal

from lmfit_core import leastsq_batch
from lmfit_core._problems import decay_cube, decay_jacobian_rows, decay_rows
from lmfit_core.dask import fit_along_axis

T = np.linspace(0.0, 4.0, 60)
SHAPE = (6, 7)


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def cube():
    return decay_cube(SHAPE, T, seed=3)


def in_memory(cube, X0, dfun=None):
    rows = cube.reshape(-1, T.size)
    return leastsq_batch(decay_rows, X0.reshape(-1, 3), args=(rows, T), Dfun=dfun)


def check_same(fit, ref):
    x, ier, nfev, fnorm = dask.compute(*fit)
    assert x.shape == SHAPE + (3,) and ier.shape == nfev.shape == fnorm.shape == SHAPE
    assert_array_equal(x.reshape(-1, 3), ref.x)
    assert_array_equal(ier.ravel(), ref.ier)
    assert_array_equal(nfev.ravel(), ref.nfev)
    assert_array_equal(fnorm.ravel(), ref.fnorm)


@pytest.mark.parametrize("jacobian", [None, decay_jacobian_rows], ids=["lmdif", "lmder"])
def test_distributed_equals_in_memory(client, cube, jacobian):
    y, truth = cube
    data = da.from_array(y, chunks=(3, 4, T.size))
    fit = fit_along_axis(decay_rows, data, [1.0, 1.0, 0.0], Dfun=jacobian, args=(T,))
    ref = in_memory(y, np.tile([1.0, 1.0, 0.0], SHAPE + (1,)), jacobian)
    check_same(fit, ref)
    assert ref.success.all()
    np.testing.assert_allclose(ref.x.reshape(truth.shape), truth, atol=0.1)
    # The work ran on the cluster's worker processes.
    assert len(client.scheduler_info()["workers"]) == 2


def test_per_position_starts_on_the_threaded_scheduler(cube):
    y, truth = cube
    X0 = truth * 1.3
    data = da.from_array(y, chunks=(2, 3, T.size))
    with dask.config.set(scheduler="threads"):
        for starts in (X0, da.from_array(X0, chunks=(4, 4, 3))):
            fit = fit_along_axis(decay_rows, data, starts, args=(T,))
            check_same(fit, in_memory(y, X0))


def test_options_reach_the_batches(cube):
    y, _ = cube
    data = da.from_array(y, chunks=(3, 7, T.size))
    with dask.config.set(scheduler="synchronous"):
        fit = fit_along_axis(decay_rows, data, [1.0, 1.0, 0.0], args=(T,), maxfev=6)
        ier = fit.ier.compute()
    assert (ier == 5).all()


def test_split_observation_axis_is_refused(cube):
    y, _ = cube
    with pytest.raises(ValueError, match="single chunk"):
        fit_along_axis(decay_rows, da.from_array(y, chunks=(3, 4, 20)), [1.0, 1.0, 0.0],
                       args=(T,))
    with pytest.raises(ValueError, match="x0 must have shape"):
        fit_along_axis(decay_rows, da.from_array(y), np.ones((2, 2, 3)), args=(T,))
