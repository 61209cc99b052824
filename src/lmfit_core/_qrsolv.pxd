from lmfit_core._typedefs cimport intp_t

cdef void qrsolv(intp_t n, double* r, intp_t ldr, const int* ipvt, const double* diag,
                 const double* qtb, double* x, double* sdiag, double* wa) noexcept nogil
