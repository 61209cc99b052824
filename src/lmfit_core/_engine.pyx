"""The Levenberg-Marquardt iteration of MINPACK's lmdif/lmder as a state machine.

``lm_advance`` runs MINPACK's loop until it needs something from outside, and
returns a request:

``LM_EVAL_F``
    evaluate ``f`` at ``s.x_req`` and write the ``m`` residuals to ``s.f_req``;
``LM_EVAL_FD``
    (lmdif) for every ``j < n`` evaluate ``f`` at ``lm_fd_point(s, j)`` and write
    the residuals to column ``j`` of ``s.fjac`` (or leave them where they are,
    ``m`` apart, and point ``s.jac_src`` and ``s.jac_cs`` at them);
``LM_EVAL_JAC``
    (lmder) write the Jacobian at ``s.x_req`` to ``s.fjac``, column-major;
``LM_DONE``
    the fit is over: ``s.info`` holds MINPACK's code (0-8, negative when the
    driver stopped it with ``lm_stop``) unless ``s.error`` is set.

Everything lives in the struct, so the engine is reentrant, holds no Python
object and allocates nothing. Between two requests the arithmetic is MINPACK's,
in MINPACK's order, so a fit takes the iterates of SciPy's ``leastsq``.
"""
from libc.math cimport fabs, fmax, fmin, isfinite, sqrt, INFINITY, NAN
from libc.string cimport memcpy, memset

from lmfit_core._enorm cimport enorm
from lmfit_core._fdjac cimport fdjac_columns, fdjac_point, fdjac_steps
from lmfit_core._lmpar cimport lmpar
from lmfit_core._qrfac cimport qrfac
from lmfit_core._qrtall cimport qr_tall, qr_tall_applies, qr_tall_work_size
from lmfit_core._typedefs cimport intp_t

cdef extern from "float.h":
    double DBL_EPSILON

# Below sqrt(eps) relative to the largest, a diagonal entry of R is rounding.
cdef double SQRT_EPS = 2.0 ** -26

# Resume points of the state machine (see DESIGN.md, "The states of one fit").
cdef enum:
    PH_START = 0
    PH_HAVE_F0 = 1
    PH_JACOBIAN = 2
    PH_HAVE_J = 3
    PH_TRIAL = 4
    PH_HAVE_TRIAL = 5
    PH_DONE = 6


cdef intp_t lm_work_size(intp_t m, intp_t n) noexcept nogil:
    """Length of the work array lm_init needs: wa1, wa2, wa3 (n each), wa4 (m),
    and for tall Jacobians qr_tall's work and the n x n rows it overwrites."""
    if qr_tall_applies(m, n):
        return 3 * n + m + qr_tall_work_size(m, n) + n * n
    return 3 * n + m


cdef inline bint rank_deficient(intp_t n, const double* rdiag) noexcept nogil:
    # Whether the pivoted R is singular to working precision: its smallest
    # diagonal entry within sqrt(eps) of its largest (a condition number
    # beyond about 7e7), or zero.
    cdef intp_t j
    cdef double big = 0.0, small = INFINITY
    for j in range(n):
        big = fmax(big, fabs(rdiag[j]))
        small = fmin(small, fabs(rdiag[j]))
    return small <= SQRT_EPS * big


cdef int lm_init(lm_state_t* s, intp_t m, intp_t n, double* x, double* fvec,
                 double* fjac, intp_t ldfjac, double* diag, int mode, int* ipvt,
                 double* qtf, double* work, double ftol, double xtol, double gtol,
                 intp_t maxfev, double epsfcn, double factor, bint analytic,
                 bint have_f0) noexcept nogil:
    """Prepare a fit; returns 0 (and a finished state, info 0) on improper input.

    With ``have_f0`` the caller has already written f(x) into fvec, and that
    evaluation counts as MINPACK's first.
    """
    cdef intp_t j
    s.m = m
    s.n = n
    s.ldfjac = ldfjac
    s.ftol = ftol
    s.xtol = xtol
    s.gtol = gtol
    s.epsfcn = epsfcn
    s.factor = factor
    s.maxfev = maxfev
    s.mode = 2 if mode == 2 else 1
    s.analytic = analytic
    s.scipy_qrfac = False
    s.x = x
    s.fvec = fvec
    s.fjac = fjac
    s.diag = diag
    s.ipvt = ipvt
    s.qtf = qtf
    s.wa1 = work
    s.wa2 = work + n
    s.wa3 = work + 2 * n
    s.wa4 = work + 3 * n
    s.tall = qr_tall_applies(m, n)
    s.wtall = work + 3 * n + m
    s.wtop = s.wtall + qr_tall_work_size(m, n) if s.tall else NULL
    s.jac_src = NULL
    s.jac_rs = 1
    s.jac_cs = ldfjac
    s.x_req = x
    s.f_req = fvec
    # NaN until the residuals at x0 are in: a fit stopped by its first call
    # reports no norm rather than a zero one.
    s.fnorm = NAN
    s.fnorm1 = s.par = s.delta = s.xnorm = s.gnorm = 0.0
    s.pnorm = s.actred = s.prered = s.ratio = 0.0
    s.iter = 0
    s.nfev = 0
    s.njev = 0
    s.info = 0
    s.error = LM_OK
    s.error_index = -1
    s.phase = PH_HAVE_F0 if have_f0 else PH_START

    # MINPACK's input checks (info = 0 when they fail).
    if (n <= 0 or m < n or ldfjac < m or not (ftol >= 0.0) or not (xtol >= 0.0)
            or not (gtol >= 0.0) or maxfev <= 0 or not (factor > 0.0)):
        s.phase = PH_DONE
        return 0
    if s.mode == 2:
        for j in range(n):
            if not (diag[j] > 0.0):
                s.phase = PH_DONE
                return 0
    return 1


cdef void lm_fd_point(const lm_state_t* s, intp_t j, double* xp) noexcept nogil:
    """The j-th point of an LM_EVAL_FD request: x + h_j e_j."""
    fdjac_point(s.n, s.x, s.wa1, j, xp)


cdef void lm_stop(lm_state_t* s, int info) noexcept nogil:
    """End the fit at the driver's wish (MINPACK's negative iflag)."""
    s.info = info
    s.phase = PH_DONE


cdef inline int _finish(lm_state_t* s) noexcept nogil:
    s.phase = PH_DONE
    return LM_DONE


cdef int lm_advance(lm_state_t* s) noexcept nogil:
    """Run the iteration until it needs an evaluation; return the request."""
    cdef intp_t i, j, l
    cdef bint direct
    cdef intp_t m = s.m, n = s.n, ld = s.ldfjac
    # Local copies of the struct's pointers: stores through a double* could
    # alias the struct's own doubles, which would force a reload at every use.
    cdef double* fjac = s.fjac
    cdef double* x = s.x
    cdef double* fvec = s.fvec
    cdef double* diag = s.diag
    cdef double* qtf = s.qtf
    cdef int* ipvt = s.ipvt
    cdef double* wa1 = s.wa1
    cdef double* wa2 = s.wa2
    cdef double* wa3 = s.wa3
    cdef double* wa4 = s.wa4
    cdef double fnorm, gnorm
    cdef double ssum, temp, temp1, temp2, dirder
    cdef double epsmch = DBL_EPSILON

    while True:
        if s.phase == PH_START:
            s.x_req = x
            s.f_req = fvec
            s.phase = PH_HAVE_F0
            return LM_EVAL_F

        elif s.phase == PH_HAVE_F0:
            s.nfev += 1
            s.fnorm = enorm(m, fvec)
            if not isfinite(s.fnorm):
                s.error = LM_ERR_F0_NONFINITE
                return _finish(s)
            s.par = 0.0
            s.iter = 1
            s.phase = PH_JACOBIAN

        elif s.phase == PH_JACOBIAN:
            s.phase = PH_HAVE_J
            s.x_req = x
            s.jac_src = NULL
            if s.analytic:
                return LM_EVAL_JAC
            fdjac_steps(n, x, s.epsfcn, wa1)
            return LM_EVAL_FD

        elif s.phase == PH_HAVE_J:
            if s.analytic:
                s.njev += 1
            else:
                # The evaluations are in fjac's columns, or where the driver
                # pointed jac_src (column j at jac_src + j * jac_cs).
                if s.jac_src != NULL:
                    fdjac_columns(m, n, fvec, s.jac_src, s.jac_cs, fjac, ld, wa1)
                    s.jac_src = NULL
                else:
                    fdjac_columns(m, n, fvec, fjac, ld, fjac, ld, wa1)
                s.nfev += n

            direct = not s.tall
            if s.tall:
                # R (top n x n of fjac), pivots, norms and qtf in one pass
                # over J; the rest of fjac keeps J.
                if s.jac_src != NULL:
                    qr_tall(m, n, s.jac_src, s.jac_rs, s.jac_cs, fvec, fjac, ld, ipvt,
                            wa1, wa2, qtf, s.wtall)
                else:
                    for j in range(n):
                        memcpy(s.wtop + j * n, fjac + j * ld, n * sizeof(double))
                    qr_tall(m, n, fjac, 1, ld, fvec, fjac, ld, ipvt, wa1, wa2, qtf,
                            s.wtall)
                if rank_deficient(n, wa1):
                    # Where R is singular to working precision its small
                    # diagonal entries are rounding, and the step built on them
                    # is too: factor J again with qrfac, MINPACK's operations
                    # (which give the exact zeros of, say, parameters that do
                    # not change the residuals, as SciPy does).
                    if s.jac_src != NULL:
                        for j in range(n):
                            for i in range(m):
                                fjac[i + j * ld] = s.jac_src[i * s.jac_rs + j * s.jac_cs]
                    else:
                        for j in range(n):
                            memcpy(fjac + j * ld, s.wtop + j * n, n * sizeof(double))
                    direct = True
            if direct:
                # wa4 = fvec becomes Q^T fvec in the same pass (qtf).
                for i in range(m):
                    wa4[i] = fvec[i]
                qrfac(m, n, fjac, ld, True, ipvt, wa1, wa2, wa3, s.scipy_qrfac, wa4)
                if s.jac_src != NULL:
                    # A lent Jacobian leaves fjac below R zero, as qr_tall does.
                    for j in range(n):
                        memset(fjac + n + j * ld, 0, (m - n) * sizeof(double))
            s.jac_src = NULL
            # A NaN or inf anywhere in a column makes its norm non-finite.
            for j in range(n):
                if not isfinite(wa2[j]):
                    s.error = LM_ERR_JAC_NONFINITE
                    s.error_index = j
                    return _finish(s)

            if s.iter == 1:
                # Scale by the column norms of the first Jacobian (mode 1), and
                # set the first trust-region radius from ||D x||.
                if s.mode != 2:
                    for j in range(n):
                        diag[j] = wa2[j]
                        if wa2[j] == 0.0:
                            diag[j] = 1.0
                for j in range(n):
                    wa3[j] = diag[j] * x[j]
                s.xnorm = enorm(n, wa3)
                s.delta = s.factor * s.xnorm
                if s.delta == 0.0:
                    s.delta = s.factor

            # R's diagonal back into fjac; qtf = first n entries of Q^T f.
            for j in range(n):
                fjac[j + ld * j] = wa1[j]
                if direct:
                    qtf[j] = wa4[j]

            # Norm of the scaled gradient, and the gtol test.
            gnorm = 0.0
            fnorm = s.fnorm
            if fnorm != 0.0:
                # qtf[i] / fnorm once per i (MINPACK divides in the inner
                # loop; the quotients are the same), in wa3, free here.
                for i in range(n):
                    wa3[i] = qtf[i] / fnorm
                for j in range(n):
                    l = ipvt[j]
                    if wa2[l] != 0.0:
                        ssum = 0.0
                        for i in range(j + 1):
                            ssum += fjac[i + ld * j] * wa3[i]
                        temp = fabs(ssum / wa2[l])
                        # fmax(gnorm, temp) without a call: a NaN temp is skipped
                        if temp > gnorm:
                            gnorm = temp
            s.gnorm = gnorm
            if gnorm <= s.gtol:
                s.info = 4
                return _finish(s)

            if s.mode != 2:
                for j in range(n):
                    diag[j] = fmax(diag[j], wa2[j])
            s.phase = PH_TRIAL

        elif s.phase == PH_TRIAL:
            lmpar(n, fjac, ld, ipvt, diag, qtf, s.delta, &s.par, wa1,
                  wa2, wa3, wa4)
            # Direction p (in wa1), trial point x + p (in wa2), ||D p||.
            for j in range(n):
                wa1[j] = -wa1[j]
                wa2[j] = x[j] + wa1[j]
                wa3[j] = diag[j] * wa1[j]
            s.pnorm = enorm(n, wa3)
            if s.iter == 1:
                s.delta = fmin(s.delta, s.pnorm)
            s.x_req = wa2
            s.f_req = wa4
            s.phase = PH_HAVE_TRIAL
            return LM_EVAL_F

        elif s.phase == PH_HAVE_TRIAL:
            s.nfev += 1
            # A NaN or inf in the trial residuals makes fnorm1 NaN or inf. The
            # comparisons below then reject the step as MINPACK does: actred is
            # -1, so the ratio is at most 0, and the radius shrinks (tenfold for
            # inf; by MINPACK's factor from dirder, 0.1 to 0.5, for NaN).
            s.fnorm1 = enorm(m, wa4)

            # Scaled actual reduction.
            if 0.1 * s.fnorm1 < s.fnorm:
                temp = s.fnorm1 / s.fnorm
                s.actred = 1.0 - temp * temp
            else:
                s.actred = -1.0

            # Scaled predicted reduction and directional derivative.
            for j in range(n):
                wa3[j] = 0.0
                temp = wa1[ipvt[j]]
                for i in range(j + 1):
                    wa3[i] += fjac[i + ld * j] * temp
            temp1 = enorm(n, wa3) / s.fnorm
            temp2 = (sqrt(s.par) * s.pnorm) / s.fnorm
            s.prered = temp1 * temp1 + temp2 * temp2 / 0.5
            dirder = -(temp1 * temp1 + temp2 * temp2)

            s.ratio = s.actred / s.prered if s.prered != 0.0 else 0.0

            # Update the trust-region radius.
            if s.ratio <= 0.25:
                if s.actred >= 0.0:
                    temp = 0.5
                else:
                    temp = (0.5 * dirder) / (dirder + 0.5 * s.actred)
                if 0.1 * s.fnorm1 >= s.fnorm or temp < 0.1:
                    temp = 0.1
                s.delta = temp * fmin(s.delta, s.pnorm / 0.1)
                s.par = s.par / temp
            elif s.par == 0.0 or s.ratio >= 0.75:
                s.delta = s.pnorm / 0.5
                s.par = 0.5 * s.par

            # Accept a successful step.
            if s.ratio >= 1.0e-4:
                for j in range(n):
                    x[j] = wa2[j]
                    wa2[j] = diag[j] * x[j]
                for i in range(m):
                    fvec[i] = wa4[i]
                s.xnorm = enorm(n, wa2)
                s.fnorm = s.fnorm1
                s.iter += 1

            # Convergence tests.
            if fabs(s.actred) <= s.ftol and s.prered <= s.ftol and 0.5 * s.ratio <= 1.0:
                s.info = 1
            if s.delta <= s.xtol * s.xnorm:
                s.info = 2
            if (fabs(s.actred) <= s.ftol and s.prered <= s.ftol
                    and 0.5 * s.ratio <= 1.0 and s.info == 2):
                s.info = 3
            if s.info != 0:
                return _finish(s)

            # Termination and stringent tolerances.
            if s.nfev >= s.maxfev:
                s.info = 5
            if fabs(s.actred) <= epsmch and s.prered <= epsmch and 0.5 * s.ratio <= 1.0:
                s.info = 6
            if s.delta <= epsmch * s.xnorm:
                s.info = 7
            if s.gnorm <= epsmch:
                s.info = 8
            if s.info != 0:
                return _finish(s)

            # Retry from the same Jacobian after a failed step, else a new one.
            s.phase = PH_TRIAL if s.ratio < 1.0e-4 else PH_JACOBIAN

        else:
            return LM_DONE
