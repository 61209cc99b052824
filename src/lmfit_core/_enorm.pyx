"""MINPACK's scaled Euclidean norm (the kernel is inline in ``_enorm.pxd``)."""
from lmfit_core._enorm cimport enorm


def _enorm_memview(const double[::1] x):
    """Euclidean norm of `x`, computed as MINPACK's ``enorm`` does.

    Entries are summed in three ranges (below ``rdwarf``, above
    ``rgiant / n``, and in between), the outer two scaled by their largest
    magnitude, so the result neither overflows for entries near 1e200 nor
    loses entries near 1e-200 to underflow.

    Parameters
    ----------
    x : ndarray of float64, shape (n,)
        Contiguous vector; ``n`` may be zero.

    Returns
    -------
    float
        ``sqrt(sum(x**2))`` evaluated without overflow or destructive underflow.
    """
    if x.shape[0] == 0:
        return 0.0
    return enorm(x.shape[0], &x[0])
