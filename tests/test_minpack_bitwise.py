"""The compiled kernels equal MINPACK operation for operation, bit for bit.

``minpack_reference`` re-does MINPACK's enorm, qrfac (with lmdif's forming of
``Q^T b``), qrsolv and lmpar statement for statement in plain Python floats.
The compiled kernels reorganise the work (column norms and dot products
summed in passes of up to eight columns, the reflections applied to ``b`` in
the same pass as to the columns, SIMD element-wise loops) but claim the same
IEEE operations in the same order, so every output must have the same bit
pattern (``-0.0 != 0.0``): no tolerance.

Inputs cover enorm's three ranges (entries below rdwarf, above rgiant / n,
zeros, and mixtures of them), qrfac with and without pivoting on tall and
wide shapes up to 60 x 20 (n = 5..17 drawn often: the pass widths change
there), columns scaled by 10**U(-150, 150) (so that some column norms need
enorm's scaling), entries set to zero, exactly zero columns, and nearly
duplicated columns (which force MINPACK's recomputation of a downdated
column norm), and qrsolv and lmpar on the R and ``Q^T b`` of such
factorisations, as lmdif calls them (zeros in D, Givens ties, rank-deficient
R, the Gauss-Newton step accepted at once, long iterations and MINPACK's cap
of ten). Inputs are finite: IEEE leaves the sign of a NaN result open, and
the kernels do not promise MINPACK's NaN bits.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minpack_reference as ref
from kernel_helpers import assert_bitwise_equal
from lmfit_core._enorm import _enorm_memview
from lmfit_core._lmpar import _lmpar_memview
from lmfit_core._qrfac import _qrfac_memview
from lmfit_core._qrsolv import _qrsolv_memview

SEEDS = st.integers(0, 2**32 - 1)
# The reference runs in about a millisecond per factorisation: the property
# tests take several times the profile's examples, and the sweeps below
# cover every n = 1..20 and kind of matrix whatever Hypothesis draws.
MORE = settings(max_examples=5 * settings.default.max_examples)
# n = 5..17 often: the kernel sums up to eight columns per pass, in balanced
# passes (9 = 5 + 4, 17 = 6 + 6 + 5), and handles widths 5..8 apart.
NCOLS = st.one_of(st.integers(5, 17), st.integers(1, 20))
KINDS = ("full_rank", "badly_scaled", "some_zeros", "zero_columns",
         "near_duplicates", "mixed")


def bits(x):
    """A Python float as a 0-d float64 array (for assert_bitwise_equal)."""
    return np.asarray(x, dtype=np.float64)


# --------------------------------------------------------------------------
# enorm
# --------------------------------------------------------------------------
def magnitude(lo, hi):
    return st.floats(lo, hi).map(lambda e: 10.0 ** e)


ENTRIES = st.tuples(
    st.one_of(
        st.just(0.0),
        magnitude(-320.0, -20.0),          # small range (subnormals included)
        magnitude(-19.5, 16.0),            # intermediate range
        magnitude(16.5, 307.5),            # large range for long vectors
        st.sampled_from([ref.RDWARF, math.nextafter(ref.RDWARF, 1.0),
                         math.nextafter(ref.RDWARF, 0.0), 5e-324, 1e-300,
                         ref.RGIANT, ref.RGIANT / 2, ref.RGIANT / 200,
                         1.7976931348623157e308]),
        st.floats(allow_nan=False, allow_infinity=False),
    ),
    st.booleans(),
).map(lambda t: -t[0] if t[1] else t[0])


@MORE
@given(st.lists(ENTRIES, min_size=1, max_size=200))
def test_enorm_mixed_magnitudes(xs):
    x = np.array(xs, dtype=np.float64)
    assert_bitwise_equal(bits(_enorm_memview(x)), bits(ref.enorm_array(x)), "enorm")


@given(st.integers(1, 200), st.floats(0.0, 1.0), SEEDS)
def test_enorm_small_against_intermediate(n, zeros, seed):
    """Entries on both sides of rdwarf, so that the small sum is not
    negligible next to the intermediate one (both final formulas of enorm)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * 10.0 ** rng.uniform(-21.0, -18.5, n)
    x[rng.random(n) < zeros] = 0.0
    assert_bitwise_equal(bits(_enorm_memview(x)), bits(ref.enorm_array(x)), "enorm")


@given(st.integers(1, 200), st.sampled_from([-1, 0, 1]), SEEDS)
def test_enorm_at_agiant(n, side, seed):
    """Entries at (and next to) rgiant / n, where the large range begins."""
    rng = np.random.default_rng(seed)
    agiant = ref.RGIANT / n
    edge = agiant if side == 0 else math.nextafter(agiant, side * math.inf)
    x = rng.standard_normal(n) * 10.0 ** rng.uniform(-25, 19, n)
    x[rng.random(n) < 0.5] = edge
    x[rng.random(n) < 0.2] = 0.0
    assert_bitwise_equal(bits(_enorm_memview(x)), bits(ref.enorm_array(x)), "enorm")


# --------------------------------------------------------------------------
# qrfac
# --------------------------------------------------------------------------
def make_matrix(rng, m, n, kind):
    a = rng.standard_normal((m, n))
    if kind in ("badly_scaled", "mixed"):
        a *= 10.0 ** rng.uniform(-150, 150, n)
    if kind in ("some_zeros", "mixed"):
        a[rng.random((m, n)) < 0.3] = 0.0
    if kind in ("zero_columns", "mixed") and n > 1:
        a[:, rng.random(n) < 0.25] = 0.0
        a[:, rng.integers(n)] = 0.0
    if kind in ("near_duplicates", "mixed") and n > 1:
        # column k = column src * s + a perturbation of relative size 1e-12
        # .. 1e-6: after the reflection of src the downdated norm of k has
        # lost most of its digits, and MINPACK recomputes it.
        for k in rng.choice(n, size=max(1, n // 2), replace=False):
            src = rng.integers(n)
            if src != k:
                a[:, k] = (a[:, src] * rng.uniform(0.5, 2.0)
                           + a[:, src].std() * 10.0 ** rng.uniform(-12, -6)
                           * rng.standard_normal(m))
    return a


def run_qrfac(a, pivot, b):
    work = np.asfortranarray(a.copy())
    qtb = None if b is None else b.copy()
    ipvt, rdiag, acnorm = _qrfac_memview(work, pivot, b=qtb)
    return work, ipvt, rdiag, acnorm, qtb


def check_qrfac(a, pivot, b, stats=None):
    got = run_qrfac(a, pivot, b)
    want = ref.qrfac_arrays(a, pivot, b, stats)
    for name, g, w in zip(("a", "ipvt", "rdiag", "acnorm", "qtb"), got, want):
        if w is None:
            assert g is None
        else:
            assert_bitwise_equal(g, w, name)
    return got


@MORE
@given(st.integers(1, 60), NCOLS, st.sampled_from(KINDS), st.booleans(),
       st.booleans(), SEEDS)
def test_qrfac_matches_reference(m, n, kind, pivot, with_b, seed):
    rng = np.random.default_rng(seed)
    a = make_matrix(rng, m, n, kind)
    b = rng.standard_normal(m) * 10.0 ** rng.uniform(-100, 100) if with_b else None
    check_qrfac(a, pivot, b)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", range(1, 21))
def test_qrfac_sweep(n, kind):
    """Every n = 1..20, wide, square and tall up to m = 60, pivoting or not."""
    rng = np.random.default_rng(1000 * n + KINDS.index(kind))
    for m in sorted({max(1, n - 3), n, min(2 * n + 1, 60), 60}):
        for pivot in (True, False):
            a = make_matrix(rng, m, n, kind)
            check_qrfac(a, pivot, rng.standard_normal(m))


@pytest.mark.parametrize("m,n", [(12, 5), (30, 9), (60, 17), (40, 20), (8, 8)])
def test_qrfac_recomputes_downdated_norms(m, n):
    """Nearly duplicated columns reach the recomputation (m - j - 1 entries)."""
    rng = np.random.default_rng(m * 100 + n)
    a = rng.standard_normal((m, n))
    for k in range(1, n, 2):
        a[:, k] = a[:, k - 1] + 1e-9 * rng.standard_normal(m)
    stats = {}
    check_qrfac(a, True, rng.standard_normal(m), stats)
    assert stats.get("recompute", 0) > 0


@pytest.mark.parametrize("n", [1, 4, 5, 8, 9, 16, 17, 20])
def test_qrfac_scaled_column_norms(n):
    """Columns needing enorm's small or large range, next to plain ones."""
    rng = np.random.default_rng(n)
    m = 25
    a = rng.standard_normal((m, n))
    a[:, ::3] *= 1e-160
    a[:, 1::3] *= 1e150
    a[0, :] = 0.0
    for pivot in (True, False):
        check_qrfac(a, pivot, rng.standard_normal(m))


def test_qrfac_b_none_unchanged_and_checked():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((7, 4))
    plain = run_qrfac(a, True, None)
    with_b = run_qrfac(a, True, np.ones(7))
    for name, g, w in zip(("a", "ipvt", "rdiag", "acnorm"), plain[:4], with_b[:4]):
        assert_bitwise_equal(g, w, name)
    with pytest.raises(ValueError, match="length"):
        _qrfac_memview(np.asfortranarray(a.copy()), True, b=np.ones(6))
    empty = np.ones(3)
    _qrfac_memview(np.zeros((3, 0), order="F"), True, b=empty)
    assert_bitwise_equal(empty, np.ones(3), "b with n = 0")


@given(st.floats(-1e300, 1e300), st.floats(-1e300, 1e300), st.floats(-1e300, 1e300),
       st.one_of(st.floats(1.0, 3.0), st.floats(-3.0, -1.0)))
def test_b_update_formulations_agree(s, x, y, d):
    """The kernel's ``t = s / d; y -= t * x`` is lmdif's ``t = -s / d;
    y += x * t`` bit for bit: negation is exact and commutes with rounding,
    and IEEE subtraction is addition of the negation (signed zeros included)."""
    kernel = y - (s / d) * x
    minpack = y + x * (-s / d)
    assert_bitwise_equal(bits(kernel), bits(minpack), "update")


# --------------------------------------------------------------------------
# qrsolv and lmpar, on qrfac's R and Q^T b as lmdif passes them
# --------------------------------------------------------------------------
def lmdif_r(m, n, kind, seed):
    """(r, ipvt, qtb, rng): the n x n top of lmdif's fjac after qrfac (R above
    and on the diagonal, Householder vectors below) and the first n of qtf."""
    rng = np.random.default_rng(seed)
    a = make_matrix(rng, m, n, kind)
    b = rng.standard_normal(m)
    work, ipvt, rdiag, _, qtf = check_qrfac(a, True, b)
    r = np.asfortranarray(work[:n, :n].copy())
    r[np.arange(n), np.arange(n)] = rdiag
    return r, ipvt, qtf[:n].copy(), rng


TALL = NCOLS.flatmap(lambda n: st.tuples(st.integers(n, 60), st.just(n)))


def check_qrsolv(r, ipvt, qtb, rng, some_zero_diag):
    n = r.shape[0]
    diag = 10.0 ** rng.uniform(-3, 3, n) * np.where(rng.random(n) < 0.5, 1.0, -1.0)
    if some_zero_diag:
        diag[rng.random(n) < 0.3] = 0.0
    r_ref, x_ref, sdiag_ref = ref.qrsolv_arrays(r, ipvt, diag, qtb)
    x, sdiag = _qrsolv_memview(r, ipvt, diag, qtb)
    assert_bitwise_equal(r, r_ref, "r")
    assert_bitwise_equal(x, x_ref, "x")
    assert_bitwise_equal(sdiag, sdiag_ref, "sdiag")


def check_lmpar(r, ipvt, qtb, rng, log_delta, par0, diag_range=3.0):
    """Returns the reference's number of iterations."""
    n = r.shape[0]
    diag = 10.0 ** rng.uniform(-diag_range, diag_range, n)
    # delta relative to the Gauss-Newton step's ||D x||, so that the step is
    # accepted at once (delta above it) or par is iterated for; delta = inf
    # makes lmpar return that step x_gn at once.
    x_gn = ref.lmpar_arrays(r, ipvt, diag, qtb, math.inf)[2]
    dxn = ref.enorm_array(diag * x_gn)
    delta = (dxn if 0.0 < dxn < math.inf else 1.0) * 10.0 ** log_delta
    stats = {}
    p_ref, r_ref, x_ref, sdiag_ref = ref.lmpar_arrays(r, ipvt, diag, qtb, delta, par0,
                                                      stats)
    p, x, sdiag = _lmpar_memview(r, ipvt, diag, qtb, delta, par0)
    assert_bitwise_equal(bits(p), bits(p_ref), "par")
    assert_bitwise_equal(r, r_ref, "r")
    assert_bitwise_equal(x, x_ref, "x")
    assert_bitwise_equal(sdiag, sdiag_ref, "sdiag")
    return stats["iterations"]


@pytest.mark.parametrize("n", [1, 2, 5, 9, 20])
def test_qrsolv_givens_tie(n):
    """D's entries equal to |R[j, j]|: the first rotation of each row of D
    meets |r_kk| == |d_k|, where MINPACK takes the tangent branch."""
    r, ipvt, qtb, rng = lmdif_r(n + 3, n, "full_rank", n)
    diag = np.empty(n)
    diag[ipvt] = np.abs(np.diag(r)) * np.where(rng.random(n) < 0.5, 1.0, -1.0)
    r_ref, x_ref, sdiag_ref = ref.qrsolv_arrays(r, ipvt, diag, qtb)
    x, sdiag = _qrsolv_memview(r, ipvt, diag, qtb)
    assert_bitwise_equal(r, r_ref, "r")
    assert_bitwise_equal(x, x_ref, "x")
    assert_bitwise_equal(sdiag, sdiag_ref, "sdiag")


@MORE
@given(TALL, st.sampled_from(KINDS), st.booleans(), SEEDS)
def test_qrsolv_matches_reference(shape, kind, some_zero_diag, seed):
    r, ipvt, qtb, rng = lmdif_r(*shape, kind, seed)
    check_qrsolv(r, ipvt, qtb, rng, some_zero_diag)


@MORE
@given(TALL, st.sampled_from(KINDS), st.floats(-4, 2),
       st.one_of(st.just(0.0), magnitude(-6, 6)), SEEDS)
def test_lmpar_matches_reference(shape, kind, log_delta, par0, seed):
    r, ipvt, qtb, rng = lmdif_r(*shape, kind, seed)
    check_lmpar(r, ipvt, qtb, rng, log_delta, par0)


@MORE
@given(TALL, st.sampled_from(KINDS), st.floats(-12, 0),
       st.one_of(st.just(0.0), magnitude(-12, 12)), SEEDS)
def test_lmpar_hard(shape, kind, log_delta, par0, seed):
    """D scaled over 12 decades, delta down to 1e-12 of the Gauss-Newton
    step and far-off starting guesses: long iterations, bounds updated."""
    r, ipvt, qtb, rng = lmdif_r(*shape, kind, seed)
    check_lmpar(r, ipvt, qtb, rng, log_delta, par0, diag_range=6.0)


@pytest.mark.parametrize("seed,n,m,log_delta,par0", [
    (287, 11, 19, -6.382727143724111, 4762848641.368495),
    (1199, 7, 16, -4.600947678913671, 44056291245.00656),
    (2615, 8, 13, -10.864044836366853, 0.2581830735783477),
])
def test_lmpar_iteration_cap(seed, n, m, log_delta, par0):
    """Problems (found by search) on which MINPACK stops at its cap of ten
    iterations."""
    r, ipvt, qtb, rng = lmdif_r(m, n, "mixed", seed)
    assert check_lmpar(r, ipvt, qtb, rng, log_delta, par0, diag_range=6.0) == 10


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", range(1, 21))
def test_qrsolv_lmpar_sweep(n, kind):
    """Every n = 1..20: qrsolv with and without zeros in D, lmpar with the
    Gauss-Newton step accepted, iterated for from par = 0, and from a guess."""
    seed = 2000 * n + KINDS.index(kind)
    for m in sorted({n, min(3 * n, 60)}):
        r, ipvt, qtb, rng = lmdif_r(m, n, kind, seed + m)
        check_qrsolv(r.copy(order="F"), ipvt, qtb, rng, False)
        check_qrsolv(r.copy(order="F"), ipvt, qtb, rng, True)
        for log_delta, par0 in ((1.0, 0.0), (-1.0, 0.0), (-3.0, 0.0), (-2.0, 1e-3)):
            check_lmpar(r.copy(order="F"), ipvt, qtb, rng, log_delta, par0)
