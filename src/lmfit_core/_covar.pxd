from lmfit_core._typedefs cimport intp_t

cdef int covariance_into(intp_t n, const double* r, intp_t ldr, const int* ipvt,
                         double* inv, double* cov) noexcept nogil
