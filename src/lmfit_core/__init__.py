"""lmfit_core: MINPACK's Levenberg-Marquardt least-squares engine in typed Cython.

``lmfit_core.leastsq`` is a drop-in replacement for
:func:`scipy.optimize.leastsq` that takes the same steps (same ``nfev``, same
``x`` to rounding) without SciPy at run time.
"""
from lmfit_core._leastsq import (LEASTSQ_FAILURE, LEASTSQ_SUCCESS, ImproperInputError,
                                 leastsq)
from lmfit_core._patch import patch_scipy
from lmfit_core.batch import BatchResult, leastsq_batch

__version__ = "0.1.0"


def get_include():
    """The directory a downstream Cython build needs to ``cimport lmfit_core``.

    It is the directory that holds the installed ``lmfit_core`` package and its
    ``.pxd`` files; pass it in ``include_path`` of ``cythonize`` (or
    ``include_dirs``), then ``from lmfit_core.cython_lm cimport lmdif, lmder``.
    """
    import os
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


__all__ = ["leastsq", "leastsq_batch", "BatchResult", "ImproperInputError", "LEASTSQ_SUCCESS", "LEASTSQ_FAILURE",
           "patch_scipy", "get_include", "__version__"]
