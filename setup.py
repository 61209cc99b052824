"""Build the Cython extensions of lmfit_core (static metadata lives in pyproject.toml)."""
import os
import sys

from setuptools import Extension, setup

try:
    import Cython
    from Cython.Build import cythonize
except ImportError:  # pragma: no cover - build-time guard
    sys.exit("ERROR: Cython is required to build lmfit_core (it is listed in "
             "pyproject.toml's build-system requires; use 'pip install .').")
import numpy as np

# One kernel per module; _engine is the reverse-communication state machine,
# _pydriver the Python-callback driver and cython_lm the C-callback driver (the
# public Cython API); _examples holds compiled models for tests and benchmarks.
MODULES = ["_enorm", "_qrfac", "_qrtall", "_qrsolv", "_lmpar", "_fdjac", "_engine",
           "_pydriver", "_covar", "cython_lm", "_batch", "_examples"]

# LMFIT_CORE_CYTHON_DEBUG=1 turns bounds and initialisation checks back on for the
# memoryview wrappers (sklearn's switch); LMFIT_CORE_SANITIZE=address builds the
# kernels with AddressSanitizer to catch reads and writes outside their arrays.
DEBUG = os.environ.get("LMFIT_CORE_CYTHON_DEBUG", "0") == "1"
SANITIZE = os.environ.get("LMFIT_CORE_SANITIZE", "")

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": False,
    "initializedcheck": DEBUG,
    "nonecheck": False,
    "cdivision": True,
    "embedsignature": True,
}
if tuple(int(p) for p in Cython.__version__.split(".")[:2]) >= (3, 1):
    DIRECTIVES["freethreading_compatible"] = True

if sys.platform == "win32":
    COMPILE_ARGS = ["/fp:precise"]
    LINK_ARGS = []
else:
    # Parity with SciPy's MINPACK needs the same rounding: no fused multiply-add,
    # no fast-math, no -march=native. -O3 vectorises the element-wise loops
    # (Householder updates), which leaves every rounding unchanged.
    COMPILE_ARGS = ["-O3", "-ffp-contract=off", "-fno-fast-math"]
    LINK_ARGS = ["-lm"]
    if SANITIZE:
        COMPILE_ARGS += [f"-fsanitize={SANITIZE}", "-fno-omit-frame-pointer", "-O1"]
        LINK_ARGS += [f"-fsanitize={SANITIZE}"]

# qr_tall is not bit-compatible with MINPACK by design (see its module): its
# block step may fuse multiply-adds, which doubles its floating-point rate.
MODULE_ARGS = {} if sys.platform == "win32" else {"_qrtall": ["-ffp-contract=fast"]}

EXTENSIONS = [
    Extension(
        f"lmfit_core.{name}",
        [f"src/lmfit_core/{name}.pyx"],
        include_dirs=[np.get_include(), "src/lmfit_core"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_25_API_VERSION"),
                       ("NPY_TARGET_VERSION", "NPY_1_25_API_VERSION")],
        extra_compile_args=COMPILE_ARGS + MODULE_ARGS.get(name, []),
        extra_link_args=LINK_ARGS,
    )
    for name in MODULES
]

# src layout: the package lives in src/ so that running Python from the
# repository root never imports the unbuilt sources instead of the install.
setup(ext_modules=cythonize(EXTENSIONS, compiler_directives=DIRECTIVES,
                            include_path=["src"]))
