# enorm: MINPACK's Euclidean norm, safe from overflow and destructive underflow.
#
# Kept `cdef inline` here because every other kernel calls it on short vectors,
# and a cimported function would be reached through a pointer.
from libc.math cimport fabs, sqrt

from lmfit_core._typedefs cimport intp_t

# SciPy's constants: rgiant = 2**63.5 and rdwarf = 0.5 / rgiant, so that
# rdwarf**2 does not underflow and rgiant**2 does not overflow.
cdef extern from *:
    """
    #define LMFIT_ENORM_RGIANT 1.3043817825332783e+19
    #define LMFIT_ENORM_RDWARF 3.833233541708435e-20
    """
    double LMFIT_ENORM_RGIANT
    double LMFIT_ENORM_RDWARF


cdef inline double enorm(intp_t n, const double* x) noexcept nogil:
    """Euclidean norm of x[0:n], summing small, medium and large entries apart."""
    cdef double s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef double x1max = 0.0, x3max = 0.0
    cdef double agiant = LMFIT_ENORM_RGIANT / <double>n if n > 0 else 0.0
    cdef double xabs, r
    cdef intp_t i
    for i in range(n):
        xabs = fabs(x[i])
        if xabs <= LMFIT_ENORM_RDWARF or xabs >= agiant:
            if xabs > LMFIT_ENORM_RDWARF:
                # large components, scaled by the largest so far
                if xabs > x1max:
                    r = x1max / xabs
                    s1 = 1.0 + s1 * (r * r)
                    x1max = xabs
                else:
                    r = xabs / x1max
                    s1 += r * r
            else:
                # small components, scaled by the largest so far
                if xabs > x3max:
                    r = x3max / xabs
                    s3 = 1.0 + s3 * (r * r)
                    x3max = xabs
                elif xabs != 0.0:
                    r = xabs / x3max
                    s3 += r * r
        else:
            s2 += xabs * xabs          # intermediate components, unscaled
    if s1 != 0.0:
        return x1max * sqrt(s1 + (s2 / x1max) / x1max)
    if s2 != 0.0:
        if s2 >= x3max:
            return sqrt(s2 * (1.0 + (x3max / s2) * (x3max * s3)))
        return sqrt(x3max * ((s2 / x3max) + (x3max * s3)))
    return x3max * sqrt(s3)
