from lmfit_core._typedefs cimport intp_t

cdef void qrfac(intp_t m, intp_t n, double* a, intp_t lda, bint pivot, int* ipvt,
                double* rdiag, double* acnorm, double* wa, bint offbyone,
                double* b) noexcept nogil
