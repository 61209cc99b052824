"""Tests for MINPACK's overflow- and underflow-safe Euclidean norm (``_enorm``).

Tolerance: enorm and the reference both sum n non-negative squares (enorm in
three scaled accumulators, a few roundings per term), so each has a relative
error of at most ~(n + 3) eps / 2 in the norm; with n <= 40 that is < 3e-15,
well inside the rtol of 1e-14 used throughout.
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose

from kernel_helpers import FLOAT_SENTINELS, Padded, assert_bitwise_equal
from lmfit_core._enorm import _enorm_memview

RTOL = 1e-14
MAX_N = 40
# MINPACK's thresholds (SciPy's values): entries <= RDWARF are "small", entries
# >= RGIANT / n are "large"; both ranges are summed scaled by their maximum.
RGIANT = 1.3043817825332783e19
RDWARF = 3.833233541708435e-20


def _signed(lo, hi):
    """Floats with lo <= |x| <= hi, either sign."""
    return st.one_of(st.floats(lo, hi), st.floats(-hi, -lo))


# Normal range, the two scaled ranges, their boundaries, and 0.
MIXED = st.one_of(
    st.floats(-1e3, 1e3, allow_subnormal=False),
    _signed(1e-300, 1e-150),
    _signed(1e150, 1e300),
    _signed(RDWARF / 4, RDWARF * 4),
    _signed(RGIANT / 200, RGIANT * 4),
    st.sampled_from([0.0, -0.0, 1e-200, -1e200, RDWARF, RGIANT, RGIANT / 7]),
)


def scaled_reference(x):
    """||x|| via NumPy, scaled by max|x| so that neither 1e200 nor 1e-200 is lost.

    Entries below max|x| * 1e-160 or so underflow in x/s (or their squares
    do), but they are below the norm's last bit anyway.
    """
    s = np.max(np.abs(x)) if x.size else 0.0
    if s == 0.0:
        return 0.0
    return s * np.linalg.norm(x / s)


@given(arrays(np.float64, st.integers(1, MAX_N),
              elements=st.one_of(st.just(0.0), _signed(1e-100, 1e10))))
def test_matches_numpy_norm_in_normal_range(x):
    # Squares neither underflow nor overflow: NumPy's plain norm is exact enough.
    assert_allclose(_enorm_memview(x), np.linalg.norm(x), rtol=RTOL, atol=0)


@given(arrays(np.float64, st.integers(1, MAX_N), elements=MIXED))
def test_matches_scaled_reference_for_mixed_magnitudes(x):
    got = _enorm_memview(x)
    assert np.isfinite(got)
    assert_allclose(got, scaled_reference(x), rtol=RTOL, atol=0)


@given(st.integers(1, 200), st.integers(0, 2**32 - 1))
def test_huge_entries_do_not_overflow(n, seed):
    rng = np.random.default_rng(seed)
    x = np.full(n, 1e200)
    with np.errstate(over="ignore"):
        assert np.isinf(np.sum(x * x))      # the naive formula would overflow
    got = _enorm_memview(x)
    assert np.isfinite(got)
    # n equal terms: the scaled sum is exact up to n roundings.
    assert_allclose(got, 1e200 * math.sqrt(n), rtol=n * 2e-16 + 1e-15)

    y = rng.uniform(0.5, 1.0, n) * 1e200 * rng.choice([-1.0, 1.0], n)
    assert_allclose(_enorm_memview(y), scaled_reference(y), rtol=RTOL)


@given(st.integers(1, 200), st.integers(0, 2**32 - 1))
def test_tiny_entries_do_not_underflow(n, seed):
    rng = np.random.default_rng(seed)
    x = np.full(n, -1e-200)
    with np.errstate(under="ignore"):
        assert np.sum(x * x) == 0.0         # the naive formula would underflow
    got = _enorm_memview(x)
    assert got > 0.0
    assert_allclose(got, 1e-200 * math.sqrt(n), rtol=n * 2e-16 + 1e-15)

    y = rng.uniform(0.5, 1.0, n) * 1e-200 * rng.choice([-1.0, 1.0], n)
    assert_allclose(_enorm_memview(y), scaled_reference(y), rtol=RTOL)


@given(st.integers(0, 2**32 - 1))
def test_huge_and_tiny_together(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, MAX_N))
    x = rng.standard_normal(n)
    kinds = rng.integers(0, 3, n)
    x[kinds == 0] *= 1e200
    x[kinds == 2] *= 1e-200
    assert_allclose(_enorm_memview(x), scaled_reference(x), rtol=RTOL)
    # Only tiny and mid-range entries: the tiny ones must not be dropped when
    # they dominate.
    z = np.concatenate([np.full(4, 3e-20), [1e-30]])
    assert_allclose(_enorm_memview(z), scaled_reference(z), rtol=RTOL)


@pytest.mark.parametrize("n", [1, 2, 7, 100])
def test_zeros(n):
    assert _enorm_memview(np.zeros(n)) == 0.0
    assert _enorm_memview(-np.zeros(n)) == 0.0


def test_empty():
    assert _enorm_memview(np.zeros(0)) == 0.0


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_single_entry_is_its_magnitude(v):
    # sqrt(fl(v*v)) == |v| in IEEE arithmetic, and the scaled branches return
    # |v| * sqrt(1); so a single entry comes back exactly, subnormals included.
    assert _enorm_memview(np.array([v])) == abs(v)


@given(arrays(np.float64, st.integers(1, MAX_N), elements=MIXED),
       st.integers(0, MAX_N))
def test_nan_propagates(x, pos):
    x = x.copy()
    x[pos % x.size] = np.nan
    assert np.isnan(_enorm_memview(x))


@given(arrays(np.float64, st.integers(1, MAX_N), elements=_signed(RDWARF / 8, RDWARF * 8)))
def test_entries_straddling_rdwarf(x):
    # Small (<= rdwarf) and intermediate entries of comparable size: both
    # accumulators matter, in the branch where the sum of the intermediate
    # squares is below the largest small entry.
    assert_allclose(_enorm_memview(x), scaled_reference(x), rtol=RTOL)


@given(arrays(np.float64, st.integers(1, MAX_N),
              elements=_signed(RGIANT / (8 * MAX_N), RGIANT * 8)))
def test_entries_straddling_rgiant_over_n(x):
    # Large (>= rgiant / n) and intermediate entries of comparable size.
    assert_allclose(_enorm_memview(x), scaled_reference(x), rtol=RTOL)


def test_boundary_entries_on_both_thresholds():
    # Exactly at rdwarf (summed as small) and at rgiant / n (summed as large).
    for n in (1, 2, 3, 10):
        x = np.array([RDWARF, RGIANT / n] + [1.0] * (n - 1))
        assert_allclose(_enorm_memview(x), scaled_reference(x), rtol=RTOL)
        x = np.array([RDWARF * (1 + 1e-15)] * n)
        assert_allclose(_enorm_memview(x), scaled_reference(x), rtol=RTOL)


def test_rejects_non_contiguous():
    with pytest.raises(ValueError):
        _enorm_memview(np.arange(10.0)[::2])


@pytest.mark.parametrize("fill", FLOAT_SENTINELS)
@given(arrays(np.float64, st.integers(1, MAX_N), elements=MIXED))
def test_reads_only_its_own_entries(fill, x):
    p = Padded(x, fill=fill)
    got = _enorm_memview(p.view)
    p.assert_padding_intact()
    assert np.isfinite(got)
    assert_bitwise_equal(got, _enorm_memview(x.copy()), "enorm")
