"""Sphinx configuration for lmfit_core.

Build (warnings are errors, no network needed)::

    python -m sphinx -W -b html docs docs/_build/html

Set ``LMFIT_CORE_DOCS_INTERSPHINX=1`` to link to the Python, NumPy and SciPy
documentation; that build downloads their inventories.
"""
import os
import sys
from pathlib import Path

# Document an in-place build (``python setup.py build_ext --inplace``) of the
# sources in src/ if there is one, else the installed package.
SRC = Path(__file__).resolve().parent.parent / "src"
_built_in_place = any((SRC / "lmfit_core").glob("_engine.*.so")) or any(
    (SRC / "lmfit_core").glob("_engine.*.pyd"))
if _built_in_place and str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

try:
    import lmfit_core
except ImportError as exc:  # pragma: no cover - build environment problem
    raise RuntimeError(
        "the docs need an importable lmfit_core: `pip install .[docs]`, or "
        "`python setup.py build_ext --inplace` in the repository root") from exc

# -- Project ------------------------------------------------------------------

project = "lmfit_core"
author = "lmfit_core developers"
copyright = "lmfit_core developers"
version = lmfit_core.__version__
release = lmfit_core.__version__

# -- General ------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
]

root_doc = "index"
source_suffix = {".rst": "restructuredtext"}
exclude_patterns = ["_build"]
templates_path = []

# Every cross-reference must resolve.
nitpicky = True
nitpick_ignore = []

# autosummary is used for summary tables only; the entries are documented on
# the same page, so no stub pages are generated.
autosummary_generate = False
autodoc_typehints = "none"
autodoc_member_order = "bysource"

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# -- Intersphinx (opt-in: it needs the network) ---------------------------------

if os.environ.get("LMFIT_CORE_DOCS_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "scipy": ("https://docs.scipy.org/doc/scipy", None),
    }
else:
    # Without the inventories these targets outside the project cannot
    # resolve; they are the only references ignored.
    nitpick_ignore += [
        ("py:func", "scipy.optimize.leastsq"),
        ("py:obj", "scipy.optimize.leastsq"),
        ("py:func", "scipy.optimize.curve_fit"),
        ("py:func", "scipy.optimize.least_squares"),
    ]

# -- HTML ---------------------------------------------------------------------

html_theme = "alabaster"
html_title = f"lmfit_core {release}"
html_static_path = []
html_theme_options = {
    "description": "MINPACK's Levenberg-Marquardt engine in typed Cython",
    "show_powered_by": False,
}
