# The reverse-communication Levenberg-Marquardt engine (MINPACK lmdif/lmder).
#
# Private: lm_state_t is not part of any ABI. A driver fills the struct with
# lm_init, then calls lm_advance until it returns LM_DONE, answering each
# request in between (see _engine.pyx for the protocol).
from lmfit_core._typedefs cimport intp_t

cdef enum:
    # Requests returned by lm_advance.
    LM_DONE = 0
    LM_EVAL_F = 1       # write f(s.x_req) (m values) into s.f_req
    LM_EVAL_FD = 2      # for j < n: write f(x + h_j e_j) into column j of s.fjac
    LM_EVAL_JAC = 3     # write the Jacobian at s.x_req into s.fjac (column-major)

cdef enum:
    # Values of lm_state_t.error: why a fit stopped outside MINPACK's info codes.
    LM_OK = 0
    LM_ERR_F0_NONFINITE = 1    # f(x0) has a NaN or inf
    LM_ERR_JAC_NONFINITE = 2   # column s.error_index of the Jacobian at s.x is not finite

ctypedef struct lm_state_t:
    # problem and options
    intp_t m
    intp_t n
    intp_t ldfjac
    double ftol
    double xtol
    double gtol
    double epsfcn
    double factor
    intp_t maxfev
    int mode              # 1: scale by column norms; 2: diag given by the caller
    bint analytic         # True: lmder (LM_EVAL_JAC); False: lmdif (LM_EVAL_FD)
    bint scipy_qrfac      # tests only: qrfac's norm recomputation as SciPy <= 1.17.1
    bint tall             # factor the Jacobian with qr_tall (m >> n), not qrfac
    # arrays, owned by the caller
    double* x             # n: current iterate
    double* fvec          # m: f(x)
    double* fjac          # ldfjac * n, column-major
    double* diag          # n
    int* ipvt             # n, 0-based
    double* qtf           # n
    double* wa1           # n (holds the steps h during LM_EVAL_FD)
    double* wa2           # n
    double* wa3           # n
    double* wa4           # m
    double* wtall         # qr_tall's work (when tall)
    double* wtop          # n * n: the top rows of a J that qr_tall overwrites (tall)
    # With tall set, a driver may answer LM_EVAL_JAC by pointing jac_src at
    # the Jacobian instead of writing fjac: entry (i, j) at
    # jac_src[i * jac_rs + j * jac_cs]. Any driver may answer LM_EVAL_FD the
    # same way, f(x + h_j e_j) at jac_src + j * jac_cs (contiguous), instead
    # of writing fjac's columns. Read (never written) before the next request;
    # the engine resets jac_src to NULL with every Jacobian request.
    const double* jac_src
    intp_t jac_rs
    intp_t jac_cs
    # the current request
    const double* x_req
    double* f_req
    # MINPACK's scalars
    double fnorm
    double fnorm1
    double par
    double delta
    double xnorm
    double gnorm
    double pnorm
    double actred
    double prered
    double ratio
    intp_t iter
    intp_t nfev
    intp_t njev
    int info
    int error
    intp_t error_index
    int phase

cdef intp_t lm_work_size(intp_t m, intp_t n) noexcept nogil
cdef int lm_init(lm_state_t* s, intp_t m, intp_t n, double* x, double* fvec,
                 double* fjac, intp_t ldfjac, double* diag, int mode, int* ipvt,
                 double* qtf, double* work, double ftol, double xtol, double gtol,
                 intp_t maxfev, double epsfcn, double factor, bint analytic,
                 bint have_f0) noexcept nogil
cdef int lm_advance(lm_state_t* s) noexcept nogil
cdef void lm_fd_point(const lm_state_t* s, intp_t j, double* xp) noexcept nogil
cdef void lm_stop(lm_state_t* s, int info) noexcept nogil
