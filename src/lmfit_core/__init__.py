"""lmfit_core: MINPACK's Levenberg-Marquardt least-squares engine in typed Cython.

``lmfit_core.leastsq`` is a drop-in replacement for
:func:`scipy.optimize.leastsq` that takes the same steps (same ``nfev``, same
``x`` to rounding) without SciPy at run time.
"""
from lmfit_core._leastsq import (LEASTSQ_FAILURE, LEASTSQ_SUCCESS, ImproperInputError,
                                 leastsq)

__version__ = "0.1.0"

__all__ = ["leastsq", "ImproperInputError", "LEASTSQ_SUCCESS", "LEASTSQ_FAILURE",
           "__version__"]
