"""Tests for the forward-difference Jacobian of MINPACK's fdjac2 (``_fdjac``).

Two kinds of check:

* the exact rule, bit for bit: ``h_j = sqrt(max(epsfcn, eps)) * |x_j|``,
  replaced by ``sqrt(max(epsfcn, eps))`` when that product is 0 (x_j == 0, or
  so small that the product underflows, as in MINPACK), and column j equal to
  ``(f(x + h_j e_j) - f(x)) / h_j`` evaluated by NumPy in the same order;
* accuracy against the analytic Jacobian of a smooth function, within the
  forward-difference error bound (see ``fd_error_bound``), which for the
  default step is ~1e-7 relative: the ~1e-6 accuracy a user expects.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kernel_helpers import EPS, FLOAT_SENTINELS, Padded, assert_bitwise_equal
from lmfit_core._fdjac import _fdjac_memview

SEEDS = st.integers(0, 2**32 - 1)
EPSFCNS = st.sampled_from([0.0, -1.0, 1e-30, EPS / 2, EPS, 1e-12, 1e-10, 1e-6])


class Smooth:
    """f(x) = W sin(x) + 0.5 (V x)**2 + c, with its Jacobian and error bound."""

    def __init__(self, rng, m, n):
        self.w = rng.standard_normal((m, n)) / np.sqrt(n)
        self.v = rng.standard_normal((m, n)) / np.sqrt(n)
        self.c = rng.standard_normal(m)
        self.calls = []

    def __call__(self, x):
        self.calls.append(np.array(x, copy=True))
        out = self.w @ np.sin(x) + 0.5 * (self.v @ x) ** 2 + self.c
        x[...] = 1e300          # a callback that scribbles on its argument
        return out

    def jac(self, x):
        return self.w * np.cos(x)[None, :] + (self.v @ x)[:, None] * self.v

    def fd_error_bound(self, x, h):
        """|fd - J| <= truncation + rounding, per entry.

        truncation: h_j / 2 * max |d2 f_i / dx_j2| <= h_j / 2 (|W_ij| + V_ij**2);
        rounding: f_i is evaluated to ~(n + 3) eps S_i (S_i the sum of the
        magnitudes of its terms) at both points, divided by h_j; and
        (x_j + h_j) - x_j differs from h_j by up to eps |x_j|, a relative
        eps |x_j| / h_j = sqrt(eps) of the quotient.
        """
        n = x.size
        vx = np.abs(self.v) @ (np.abs(x) + h)
        s = np.abs(self.w).sum(axis=1) + 0.5 * vx**2 + np.abs(self.c)
        trunc = 0.5 * h[None, :] * (np.abs(self.w) + self.v**2)
        rounding = 2 * (n + 3) * EPS * s[:, None] / h[None, :]
        step = EPS * np.abs(x)[None, :] / h[None, :] * np.abs(self.jac(x))
        return 2.0 * (trunc + rounding + step)


def expected_steps(x, epsfcn):
    eps = np.sqrt(max(epsfcn, EPS))
    h = eps * np.abs(x)
    h[h == 0.0] = eps
    return h


def expected_jacobian(func, x, fvec, h):
    cols = []
    for j in range(x.size):
        xp = x.copy()
        xp[j] = x[j] + h[j]
        cols.append((func(xp) - fvec) / h[j])
    return np.column_stack(cols) if cols else np.zeros((fvec.size, 0))


def _x_values():
    # Zeros, ordinary values, tiny ones (whose step underflows), large ones.
    return st.one_of(
        st.just(0.0), st.just(-0.0),
        st.floats(-10, 10, allow_subnormal=True),
        st.floats(-1e-310, 1e-310, allow_subnormal=True),
        st.floats(-1e250, 1e250),
    )


@given(st.integers(1, 12).flatmap(lambda n: st.tuples(st.integers(1, 12), st.just(n))),
       SEEDS, EPSFCNS, st.data())
def test_exact_step_rule_and_columns(shape, seed, epsfcn, data):
    m, n = shape
    rng = np.random.default_rng(seed)
    x = data.draw(arrays(np.float64, n, elements=_x_values()))
    w = rng.standard_normal((m, n))

    def func(z):
        # Elementwise and deterministic: f(z) = W_i . tanh(z) + z_0 / (1 + |z_0|)
        z = z.copy()
        return np.tanh(z) @ w.T + z[0] / (1.0 + abs(z[0]))

    x_in = x.copy()
    fvec = func(x)
    fjac, h = _fdjac_memview(func, x, fvec, epsfcn)
    assert_bitwise_equal(x, x_in, "x")                      # left unchanged
    h_ref = expected_steps(x, epsfcn)
    assert_bitwise_equal(h, h_ref, "h")
    assert np.all(h > 0)
    assert fjac.shape == (m, n) and fjac.flags.f_contiguous
    assert_bitwise_equal(fjac, expected_jacobian(func, x, fvec, h_ref), "fjac")


@given(st.integers(1, 8).flatmap(lambda n: st.tuples(st.integers(n, 12), st.just(n))),
       SEEDS, st.sampled_from([0.0, 1e-12, 1e-10]))
def test_close_to_analytic_jacobian(shape, seed, epsfcn):
    m, n = shape
    rng = np.random.default_rng(seed)
    f = Smooth(rng, m, n)
    # |x_j| >= 0.5 or x_j == 0: smaller nonzero x_j get relative steps so small
    # that the rounding error eps |f| / h_j is no longer ~1e-7.
    x = rng.uniform(0.5, 2.0, n) * rng.choice([-1.0, 1.0], n)
    x[rng.random(n) < 0.2] = 0.0
    fvec = f(x.copy())
    f.calls.clear()
    fjac, h = _fdjac_memview(f, x, fvec, epsfcn)
    jac = f.jac(x)
    bound = f.fd_error_bound(x, h)
    err = np.abs(fjac - jac)
    assert np.all(err <= bound), (err.max(), bound.max())
    if epsfcn == 0.0:
        # The bound above amounts to ~1e-6 relative accuracy.
        assert np.all(err <= 1e-6 * np.maximum(1.0, np.abs(jac)))

    # One evaluation per column at x + h_j e_j, each on its own array (the
    # callback overwrote its argument every time without harm).
    assert len(f.calls) == n
    for j, xp in enumerate(f.calls):
        e = x.copy()
        e[j] = x[j] + h[j]
        assert_bitwise_equal(xp, e, f"point {j}")


def test_by_hand():
    # f(x) = [x0**2, x0 * x1] at (3, 0): h = (3 sqrt(eps), sqrt(eps)).
    def func(x):
        return np.array([x[0] ** 2, x[0] * x[1]])

    x = np.array([3.0, 0.0])
    fjac, h = _fdjac_memview(func, x, func(x))
    assert h[0] == np.sqrt(EPS) * 3.0 and h[1] == np.sqrt(EPS)
    assert abs(fjac[0, 0] - 6.0) < 1e-7 and fjac[1, 0] == 0.0
    assert fjac[0, 1] == 0.0 and fjac[1, 1] == 3.0


@pytest.mark.parametrize("epsfcn", [0.0, 1e-10])
def test_step_when_product_is_zero(epsfcn):
    # sqrt(eps) * |x_j| rounds to 0 for |x_j| below ~3e-316: MINPACK then
    # uses the bare factor, as for x_j == 0; just above, the tiny product is kept.
    factor = np.sqrt(max(epsfcn, EPS))
    x = np.array([0.0, -0.0, 5e-324, -1e-320, 1e-300, 2.0])
    fjac, h = _fdjac_memview(lambda z: np.array([z.sum()]), x, np.array([x.sum()]),
                             epsfcn)
    assert factor * 1e-320 == 0.0
    assert np.all(h[:4] == factor)
    assert h[4] == factor * 1e-300 and h[5] == factor * 2.0
    assert np.all(np.isfinite(fjac))


def test_no_parameters():
    fjac, h = _fdjac_memview(lambda x: np.ones(3), np.zeros(0), np.ones(3))
    assert fjac.shape == (3, 0) and h.shape == (0,)


@pytest.mark.parametrize("fill", FLOAT_SENTINELS)
@given(st.integers(1, 10).flatmap(lambda n: st.tuples(st.integers(n, 12), st.just(n))),
       SEEDS, EPSFCNS)
def test_stays_inside_its_arrays(fill, shape, seed, epsfcn):
    m, n = shape
    rng = np.random.default_rng(seed)
    f = Smooth(rng, m, n)
    x = rng.standard_normal(n)
    fvec = f(x.copy())
    ref = _fdjac_memview(f, x.copy(), fvec.copy(), epsfcn)
    x_p, f_p = Padded(x, fill=fill), Padded(fvec, fill=fill)
    fjac, h = _fdjac_memview(f, x_p.view, f_p.view, epsfcn)
    x_p.assert_padding_intact()
    f_p.assert_padding_intact()
    assert np.all(np.isfinite(fjac)) and np.all(np.isfinite(h))
    assert_bitwise_equal(fjac, ref[0], "fjac")
    assert_bitwise_equal(h, ref[1], "h")
    assert_bitwise_equal(x_p.view, x, "x")
