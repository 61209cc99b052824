"""Build gauss_fit, a downstream extension module that cimports lmfit_core.

    python setup.py build_ext --inplace

lmfit_core must be importable: at build time for its .pxd files, at run time
for the solver, which gauss_fit reaches through Cython's C-API import (nothing
to link). A real project lists lmfit_core, Cython and numpy in its
build-system requires, and lmfit_core in its dependencies.
"""
import sys

import lmfit_core
import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

# No fused multiply-add contraction: lmfit_core is built this way, and the test
# compares this module's fits with lmfit_core's own compiled example bit for bit.
COMPILE_ARGS = ["/fp:precise"] if sys.platform == "win32" else ["-ffp-contract=off"]
LINK_ARGS = []
# OpenMP for fit_parallel's prange loop, where the compiler has it by default
# (GCC on Linux, MSVC); elsewhere (Apple's clang) the loop runs serially.
if sys.platform == "win32":
    COMPILE_ARGS.append("/openmp")
elif sys.platform.startswith("linux"):
    COMPILE_ARGS.append("-fopenmp")
    LINK_ARGS.append("-fopenmp")

extension = Extension(
    "gauss_fit",
    ["gauss_fit.pyx"],
    # NumPy's headers, for modules that `cimport numpy` (this one only uses
    # typed memoryviews, which need none).
    include_dirs=[np.get_include()],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_25_API_VERSION")],
    extra_compile_args=COMPILE_ARGS,
    extra_link_args=LINK_ARGS,
)

setup(
    name="gauss_fit",
    ext_modules=cythonize(
        [extension],
        # Where Cython finds lmfit_core/cython_lm.pxd.
        include_path=[lmfit_core.get_include()],
        # cdivision: plain C division in the callbacks, without the Python
        # ZeroDivisionError check (a nogil callback should not raise). No bounds
        # checks in the nogil loop: the shapes are checked before it.
        compiler_directives={"language_level": 3, "cdivision": True,
                             "boundscheck": False, "wraparound": False},
    ),
)
