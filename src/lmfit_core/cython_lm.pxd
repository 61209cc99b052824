# lmfit_core.cython_lm: the public Cython API of lmfit_core.
#
#     from lmfit_core.cython_lm cimport lm_func_t, lm_result_t, lmdif, lm_work_size
#
# MINPACK's Levenberg-Marquardt least-squares solvers (lmdif: forward-difference
# Jacobian; lmder: Jacobian from the caller) for residual functions written in
# C, Cython, or anything with a C function pointer. Everything here is
# `noexcept nogil`: call it inside `with nogil:` blocks or `prange` loops, from
# any thread. A fit is reentrant and allocates nothing when the caller passes
# `work`.
#
# ABI policy (SciPy's rules for its Cython APIs): declarations may be added;
# the signatures below change only through a deprecation cycle; the struct and
# the typedefs are final. LM_API_VERSION changes whenever anything here does.

cdef enum:
    LM_API_VERSION = 1

cdef enum:
    # Values of lm_result_t.info beyond MINPACK's 0-8 (a negative info is the
    # negative value a callback returned to stop the fit).
    LM_INFO_NONFINITE_F0 = 9      # the residuals are not all finite at x0
    LM_INFO_NONFINITE_JAC = 10    # a Jacobian column is not finite

# The residual function: write the m residuals at x (n parameters) into fvec.
# Return 0 to go on, or a negative number to stop the fit (it becomes info).
ctypedef int (*lm_func_t)(Py_ssize_t m, Py_ssize_t n, const double* x, double* fvec,
                          void* udata) noexcept nogil

# The Jacobian: write d fvec[i] / d x[j] into fjac[i + j * ldfjac] (column-major,
# MINPACK's layout). Return 0 to go on, or a negative number to stop the fit.
ctypedef int (*lm_jac_t)(Py_ssize_t m, Py_ssize_t n, const double* x, double* fjac,
                         Py_ssize_t ldfjac, void* udata) noexcept nogil

ctypedef struct lm_result_t:
    int info              # MINPACK's info (leastsq's ier); see LM_INFO_* and above
    Py_ssize_t nfev       # calls of func
    Py_ssize_t njev       # calls of jac (0 for lmdif)
    double fnorm          # ||fvec|| at the returned x (NaN if never evaluated)
    Py_ssize_t bad_column # with LM_INFO_NONFINITE_JAC: the column (parameter), else -1

# Length (in doubles) of the `work` array of lmdif/lmder for m residuals and n
# parameters, enough for every optional output left NULL.
cdef Py_ssize_t lm_work_size(Py_ssize_t m, Py_ssize_t n) noexcept nogil

# Minimise sum(fvec**2) from x, with a forward-difference Jacobian.
#
# x       in: start (n); out: the solution (the last accepted iterate).
# fvec    out: residuals at x (m).
# ftol, xtol, gtol, epsfcn, factor: as in leastsq (epsfcn <= eps means eps).
# maxfev  limit on calls of func; <= 0 means leastsq's default 200 * (n + 1).
# diag    n positive scale factors, or NULL for MINPACK's automatic scaling.
# fjac    out: m x n column-major QR data as MINPACK leaves it (the transpose of
#         leastsq's infodict['fjac']), leading dimension ldfjac >= m; or NULL.
# ipvt    out: the 0-based column permutation (n), or NULL.
# qtf     out: the first n entries of Q^T fvec, or NULL.
# work    lm_work_size(m, n) doubles, or NULL to allocate (and free) internally.
# result  out: info, counts and final norm, or NULL.
#
# Returns info: 1-4 converged, 5-8 stopped (leastsq's ier), 0 improper input,
# LM_INFO_NONFINITE_* on NaN or inf, negative when func stopped the fit, -1000
# when the work array could not be allocated.
cdef int lmdif(lm_func_t func, void* udata, Py_ssize_t m, Py_ssize_t n, double* x,
               double* fvec, double ftol, double xtol, double gtol, Py_ssize_t maxfev,
               double epsfcn, const double* diag, double factor, double* fjac,
               Py_ssize_t ldfjac, int* ipvt, double* qtf, double* work,
               lm_result_t* result) noexcept nogil

# As lmdif, with the Jacobian from jac; maxfev <= 0 means 100 * (n + 1).
cdef int lmder(lm_func_t func, lm_jac_t jac, void* udata, Py_ssize_t m, Py_ssize_t n,
               double* x, double* fvec, double ftol, double xtol, double gtol,
               Py_ssize_t maxfev, const double* diag, double factor, double* fjac,
               Py_ssize_t ldfjac, int* ipvt, double* qtf, double* work,
               lm_result_t* result) noexcept nogil
