"""Callbacks that raise, re-enter or run in threads: the Python-callback driver."""
import gc
import tracemalloc
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from lmfit_core import leastsq

T = np.linspace(0.0, 3.0, 30)
Y = 2.0 * np.exp(-1.3 * T) + 0.5


def model(p):
    return p[0] * np.exp(-p[1] * T) + p[2] - Y


def model_jac(p):
    e = np.exp(-p[1] * T)
    return np.column_stack([e, -p[0] * T * e, np.ones_like(T)])


class StopFit(Exception):
    """What a fitting library raises to abort a fit from its residual function."""


class RaiseAt:
    """A residual function that raises on its k-th call."""

    def __init__(self, k, jac_k=None):
        self.k, self.jac_k = k, jac_k
        self.calls = self.jac_calls = 0
        self.error = StopFit(f"call {k}")

    def __call__(self, p):
        self.calls += 1
        if self.calls == self.k:
            raise self.error
        return model(p)

    def jac(self, p):
        self.jac_calls += 1
        if self.jac_calls == self.jac_k:
            raise self.error
        return model_jac(p)


# n = 3: call 1 is x0, calls 2-4 the first finite-difference block, call 5 the
# first trial point, calls 6-8 the second block.
@pytest.mark.parametrize("k, phase", [(1, "x0"), (2, "first FD column"),
                                      (4, "last FD column"), (5, "first trial"),
                                      (7, "later FD column"), (9, "later trial")])
def test_exception_in_func_propagates_unchanged(k, phase):
    f = RaiseAt(k)
    with pytest.raises(StopFit) as excinfo:
        leastsq(f, [1.0, 1.0, 0.0])
    assert excinfo.value is f.error
    assert f.calls == k


@pytest.mark.parametrize("k, jac_k", [(None, 1), (None, 2), (2, None), (3, None)])
def test_exception_in_dfun_or_func_with_dfun(k, jac_k):
    f = RaiseAt(k or -1, jac_k)
    with pytest.raises(StopFit) as excinfo:
        leastsq(f, [1.0, 1.0, 0.0], Dfun=f.jac)
    assert excinfo.value is f.error


def test_failed_fits_leak_nothing():
    def run_failing():
        f = RaiseAt(6)
        ref = weakref.ref(f)
        with pytest.raises(StopFit):
            leastsq(f, [1.0, 1.0, 0.0], full_output=True)
        return ref

    refs = [run_failing() for _ in range(5)]
    gc.collect()
    assert all(r() is None for r in refs)

    for _ in range(50):          # warm up caches before measuring
        run_failing()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(500):
        run_failing()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert after - before < 50_000


def test_arrays_handed_to_func_are_released():
    kept = []

    def f(p):
        kept.append(weakref.ref(p))
        return model(p)

    leastsq(f, [1.0, 1.0, 0.0])
    gc.collect()
    assert kept and all(r() is None for r in kept)


def test_recursive_fit_inside_func():
    inner_results = []

    def outer(p):
        x, ier = leastsq(model, [1.0, 1.0, 0.0], Dfun=model_jac)
        inner_results.append(x)
        return model(p)

    x, ier = leastsq(outer, [1.5, 1.0, 0.2])
    alone, _ = leastsq(model, [1.0, 1.0, 0.0], Dfun=model_jac)
    assert ier in (1, 2, 3, 4)
    for inner in inner_results:
        assert_array_equal(inner, alone)


def _fit(seed):
    rng = np.random.default_rng(seed)
    y = Y + 0.01 * rng.normal(size=T.size)
    dfun = (lambda p: model_jac(p)) if seed % 2 else None
    return leastsq(lambda p: model(p) + Y - y, [1.0, 1.0, 0.0], Dfun=dfun,
                   full_output=True)


def test_threads_give_serial_results():
    serial = [_fit(s) for s in range(16)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(_fit, range(16)))
    for a, b in zip(serial, threaded):
        assert_array_equal(a[0], b[0])
        assert a[2]["nfev"] == b[2]["nfev"] and a[4] == b[4]
        assert_array_equal(a[2]["fjac"], b[2]["fjac"])


def test_threads_with_large_problems_release_the_gil():
    # m * n above the driver's threshold: the engine runs without the GIL.
    t = np.linspace(0, 5, 3000)

    def fit(seed):
        rng = np.random.default_rng(seed)
        y = 1.5 * np.exp(-0.7 * t) + 0.01 * rng.normal(size=t.size)
        return leastsq(lambda p: p[0] * np.exp(-p[1] * t) + p[2] - y,
                       [1.0, 1.0, 0.0], full_output=True)

    serial = [fit(s) for s in range(6)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        threaded = list(pool.map(fit, range(6)))
    for a, b in zip(serial, threaded):
        assert_array_equal(a[0], b[0])
        assert a[2]["nfev"] == b[2]["nfev"]
