"""Vectorised NumPy models for ``leastsq_batch`` and ``lmfit_core.dask``.

Every model here follows the contract of :func:`lmfit_core.dask.fit_along_axis`
(which is also a valid ``leastsq_batch`` model with ``args=(Y, t)``)::

    model(p, k, y, t) -> ndarray (r, M)

``p`` holds ``r`` parameter rows (shape ``(r, n)``), ``k`` the problem of each
row (int array, shape ``(r,)``), ``y`` the observations as rows (shape
``(K, M)``, one per problem) and ``t`` the shared abscissae (shape ``(M,)``).
Residuals are model minus data. The Jacobians have shape ``(r, M, n)``.

The functions are defined at module level so that Dask workers in other
processes can unpickle them. They serve the tests, the benchmarks and the
documentation; they are not part of the public API.
"""
import numpy as np

__all__ = ["decay", "decay_jacobian", "gauss", "gauss_jacobian", "decay_cube",
           "gauss_cube"]


def decay(p, k, y, t):
    """Exponential decay on an offset, ``a exp(-b t) + c``, minus ``y[k]``.

    Parameters ``p = (a, b, c)``: amplitude, rate, offset.
    """
    return p[:, 0:1] * np.exp(-p[:, 1:2] * t) + p[:, 2:3] - y[k]


def decay_jacobian(p, k, y, t):
    """The Jacobians of `decay`, shape ``(r, M, 3)``."""
    e = np.exp(-p[:, 1:2] * t)
    J = np.empty((p.shape[0], t.shape[0], 3))
    J[:, :, 0] = e
    J[:, :, 1] = -p[:, 0:1] * t * e
    J[:, :, 2] = 1.0
    return J


def gauss(p, k, y, t):
    """Gaussian on a background, ``a exp(-(t - c)^2 / (2 w^2)) + b``, minus ``y[k]``.

    Parameters ``p = (a, c, w, b)``: amplitude, centre, width, background,
    as in the compiled ``lmfit_core._examples.gauss_batch_residuals``.
    """
    u = t - p[:, 1:2]
    return p[:, 0:1] * np.exp((-0.5 / p[:, 2:3] ** 2) * u * u) + p[:, 3:4] - y[k]


def gauss_jacobian(p, k, y, t):
    """The Jacobians of `gauss`, shape ``(r, M, 4)``."""
    a, w = p[:, 0:1], p[:, 2:3]
    u = t - p[:, 1:2]
    w2 = 1.0 / (w * w)
    g = np.exp(-0.5 * w2 * u * u)
    J = np.empty((p.shape[0], t.shape[0], 4))
    J[:, :, 0] = g
    J[:, :, 1] = a * g * u * w2
    J[:, :, 2] = a * g * u * u * w2 / w
    J[:, :, 3] = 1.0
    return J


def decay_cube(shape, t, seed=0, noise=0.01):
    """Noisy decays at every position of an array of leading shape `shape`.

    Returns
    -------
    cube : ndarray, shape ``shape + (t.size,)``
        ``a exp(-b t) + c`` plus Gaussian noise of standard deviation `noise`.
    truth : ndarray, shape ``shape + (3,)``
        The parameters ``(a, b, c)``: ``a`` in [1, 3), ``b`` in [0.3, 2),
        ``c`` in [-0.2, 0.2).
    """
    rng = np.random.default_rng(seed)
    truth = np.stack([rng.uniform(1.0, 3.0, shape), rng.uniform(0.3, 2.0, shape),
                      rng.uniform(-0.2, 0.2, shape)], axis=-1)
    cube = truth[..., 0:1] * np.exp(-truth[..., 1:2] * t) + truth[..., 2:3]
    return cube + noise * rng.normal(size=cube.shape), truth


def gauss_cube(shape, t, seed=0, noise=0.05):
    """Noisy Gaussians on a background at every position (see `decay_cube`).

    The true parameters ``(a, c, w, b)`` have ``a`` in [1, 3), the centre
    ``c`` within the middle fifth of `t`, ``w`` in [0.05, 0.15) of the span
    of `t`, and ``b`` in [-0.5, 0.5).
    """
    rng = np.random.default_rng(seed)
    lo, hi = float(np.min(t)), float(np.max(t))
    span, mid = hi - lo, 0.5 * (lo + hi)
    truth = np.stack([rng.uniform(1.0, 3.0, shape),
                      rng.uniform(mid - 0.1 * span, mid + 0.1 * span, shape),
                      rng.uniform(0.05 * span, 0.15 * span, shape),
                      rng.uniform(-0.5, 0.5, shape)], axis=-1)
    u = t - truth[..., 1:2]
    cube = truth[..., 0:1] * np.exp(-0.5 * u * u / truth[..., 2:3] ** 2) + truth[..., 3:4]
    return cube + noise * rng.normal(size=cube.shape), truth
