from lmfit_core._typedefs cimport intp_t

cdef void fdjac_steps(intp_t n, const double* x, double epsfcn, double* h) noexcept nogil
cdef void fdjac_point(intp_t n, const double* x, const double* h, intp_t j,
                      double* xp) noexcept nogil
cdef void fdjac_columns(intp_t m, intp_t n, const double* fvec, const double* fblock,
                        intp_t ldblock, double* fjac, intp_t ldfjac,
                        const double* h) noexcept nogil
