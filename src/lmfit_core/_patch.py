"""``patch_scipy``: lmfit_core's ``leastsq`` wherever SciPy's is looked up, in a block."""
import contextlib
import importlib
import sys

from lmfit_core._leastsq import leastsq

# Where code that fits with SciPy's MINPACK finds leastsq when it calls it:
# SciPy's public name (astropy's fitters, user code that looks it up at call
# time), the private module curve_fit calls it from (SciPy 1.8 and later; a
# SciPy without it keeps its own curve_fit), and the name lmfit's "leastsq"
# method imported it as, patched if lmfit is imported.
_SCIPY = ("scipy.optimize", "leastsq")
_CURVE_FIT = ("scipy.optimize._minpack_py", "leastsq")
_USERS = (("lmfit.minimizer", "scipy_leastsq"),)


@contextlib.contextmanager
def patch_scipy():
    """Run SciPy's ``leastsq``, and the fitting code built on it, on lmfit_core.

    Inside the ``with`` block, :func:`scipy.optimize.leastsq` is
    :func:`lmfit_core.leastsq`, and so is the ``leastsq`` that
    :func:`scipy.optimize.curve_fit` calls (``method="lm"``, its default
    without bounds) and the one lmfit's ``"leastsq"`` method calls; astropy's
    ``LevMarLSQFitter`` and ``LMLSQFitter`` look it up in
    ``scipy.optimize`` and follow. On leaving the block, even through an
    exception, every name is SciPy's again.

    Yields
    ------
    None

    Raises
    ------
    ImportError
        If SciPy is not installed (there is nothing to patch).

    Notes
    -----
    The names are module attributes, so the patch holds in every thread while
    the block runs, not only in the one that entered it. Code that imported
    ``leastsq`` into its own namespace before the block (``from
    scipy.optimize import leastsq``) keeps SciPy's, except lmfit's, which is
    patched too; code that does so inside the block gets lmfit_core's, and
    keeps it until it imports again (lmfit's is set back to SciPy's on
    leaving). :func:`scipy.optimize.least_squares` does not call
    ``leastsq`` (its ``method="lm"`` calls MINPACK's C routine directly), so
    it is not affected.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.optimize import curve_fit
    >>> from lmfit_core import patch_scipy
    >>> t = np.linspace(0, 4, 50)
    >>> y = 2.5 * np.exp(-1.3 * t)
    >>> with patch_scipy():
    ...     popt, pcov = curve_fit(lambda t, a, k: a * np.exp(-k * t), t, y, p0=[1, 1])
    >>> np.round(popt, 6)
    array([2.5, 1.3])
    """
    scipy_leastsq = importlib.import_module(_SCIPY[0]).leastsq  # needs SciPy
    try:
        importlib.import_module(_CURVE_FIT[0])      # loaded, then patched below
    except ImportError:
        pass
    saved = []
    for name, attr in (_SCIPY, _CURVE_FIT, *_USERS):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, attr):
            saved.append((module, attr, getattr(module, attr)))
    try:
        for module, attr, _ in saved:
            setattr(module, attr, leastsq)
        yield
    finally:
        for module, attr, original in reversed(saved):
            setattr(module, attr, original)
        # A user package imported inside the block took lmfit_core's leastsq
        # as its own; give it SciPy's back.
        patched = {(module.__name__, attr) for module, attr, _ in saved}
        for name, attr in _USERS:
            module = sys.modules.get(name)
            if ((name, attr) not in patched and module is not None
                    and getattr(module, attr, None) is leastsq):
                setattr(module, attr, scipy_leastsq)
