from lmfit_core._typedefs cimport intp_t

cdef bint qr_tall_applies(intp_t m, intp_t n) noexcept nogil
cdef intp_t qr_tall_work_size(intp_t m, intp_t n) noexcept nogil
cdef void qr_tall(intp_t m, intp_t n, const double* a, intp_t rs, intp_t cs,
                  const double* f, double* r, intp_t ldr, int* ipvt, double* rdiag,
                  double* acnorm, double* qtf, double* work) noexcept nogil
