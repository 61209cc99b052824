from lmfit_core._typedefs cimport intp_t

cdef void lmpar(intp_t n, double* r, intp_t ldr, const int* ipvt, const double* diag,
                const double* qtb, double delta, double* par, double* x, double* sdiag,
                double* wa1, double* wa2) noexcept nogil
