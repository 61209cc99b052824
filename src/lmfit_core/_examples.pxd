# Compiled example models, for the tests and benchmarks of the C-callback paths.
# Declared here so that they appear in the module's __pyx_capi__ and can be
# wrapped with scipy.LowLevelCallable.from_cython.

ctypedef struct curve_data_t:
    Py_ssize_t m
    const double* t
    const double* y
    Py_ssize_t stop_at    # > 0: gauss_residuals returns -7 at that call (tests)
    Py_ssize_t calls      # calls counted while stop_at > 0

cdef int gauss_residuals(Py_ssize_t m, Py_ssize_t n, const double* p, double* fvec,
                         void* udata) noexcept nogil
cdef int gauss_jacobian(Py_ssize_t m, Py_ssize_t n, const double* p, double* fjac,
                        Py_ssize_t ldfjac, void* udata) noexcept nogil

ctypedef struct curve_set_t:
    Py_ssize_t m          # points per curve
    Py_ssize_t K          # curves
    const double* t       # m abscissae, shared (NULL for the 2-D Gaussian)
    const double* y       # K x m observations, row k for problem k

cdef int gauss_batch_residuals(Py_ssize_t k, Py_ssize_t m, Py_ssize_t n, const double* p,
                               double* fvec, void* udata) noexcept nogil
cdef int gauss_batch_jacobian(Py_ssize_t k, Py_ssize_t m, Py_ssize_t n, const double* p,
                              double* fjac, Py_ssize_t ldfjac, void* udata) noexcept nogil
cdef int gauss2d_batch_residuals(Py_ssize_t k, Py_ssize_t m, Py_ssize_t n, const double* p,
                                 double* fvec, void* udata) noexcept nogil
cdef int gauss2d_batch_jacobian(Py_ssize_t k, Py_ssize_t m, Py_ssize_t n, const double* p,
                                double* fjac, Py_ssize_t ldfjac, void* udata) noexcept nogil
