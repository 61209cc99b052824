/* The panel step of qr_tall, one instruction set at a time: _qrtall_block.h
 * includes this file once per target, with
 *   QRTALL_SFX(name)  the name with the target's suffix,
 *   QRTALL_TARGET     the function attribute that selects the target,
 *   QRTALL_LANES      doubles per vector of the matrix products (8 for
 *                     AVX-512, 4 for AVX2, 2 else),
 *   QRTALL_PANEL_LANES  the same for the passes over a panel, which are bound
 *                     by stores (measured faster with four than with eight
 *                     on AVX-512),
 *   QRTALL_TC         columns per tile of the two matrix products (4 where
 *                     there are 32 vector registers, 2 where there are 16).
 * No include guard: that is the point; the file undefines them at its end.
 * See _qrtall_block.h for the method.
 */
#define QV QRTALL_SFX(qrtall_vec)
#define QL QRTALL_LANES
#define QTC QRTALL_TC

#define QP QRTALL_SFX(qrtall_pvec)
#define QPL QRTALL_PANEL_LANES

typedef double QV __attribute__((vector_size(8 * QRTALL_LANES)));
typedef double QP __attribute__((vector_size(8 * QRTALL_PANEL_LANES)));

#define QRTALL_FN static inline __attribute__((always_inline)) QRTALL_TARGET

/* Unaligned loads and stores of T, and the sum of its L lanes in one fixed
 * order (the same on every CPU of the target). */
#define QRTALL_VECTOR_OPS(T, L, load, store, hsum)                          \
    QRTALL_FN T load(const double *p)                                       \
    {                                                                       \
        T v;                                                                \
        memcpy(&v, p, sizeof v);                                            \
        return v;                                                           \
    }                                                                       \
    QRTALL_FN void store(double *p, T v) { memcpy(p, &v, sizeof v); }       \
    QRTALL_FN double hsum(T v)                                              \
    {                                                                       \
        return L == 8 ? ((v[0] + v[4 % L]) + (v[2 % L] + v[6 % L]))         \
                            + ((v[1] + v[5 % L]) + (v[3 % L] + v[7 % L]))   \
             : L == 4 ? (v[0] + v[2 % L]) + (v[1] + v[3 % L])               \
                      : v[0] + v[1];                                        \
    }

QRTALL_VECTOR_OPS(QV, QRTALL_LANES, QRTALL_SFX(qrtall_load), QRTALL_SFX(qrtall_store),
                  QRTALL_SFX(qrtall_hsum))
QRTALL_VECTOR_OPS(QP, QRTALL_PANEL_LANES, QRTALL_SFX(qrtall_pload),
                  QRTALL_SFX(qrtall_pstore), QRTALL_SFX(qrtall_phsum))

#define LOAD QRTALL_SFX(qrtall_load)
#define STORE QRTALL_SFX(qrtall_store)
#define HSUM QRTALL_SFX(qrtall_hsum)
#define PLOAD QRTALL_SFX(qrtall_pload)
#define PSTORE QRTALL_SFX(qrtall_pstore)
#define PHSUM QRTALL_SFX(qrtall_phsum)

/* Reflector J of a panel (w: its eight columns, bp rows, a multiple of 8):
 * w[k] -= coef[k] * w[J] for J < k < 8; with NEXT, also dot[k] = w[J+1] .
 * w[k] (updated) for J < k < 8, the dot products of the next reflector. J and
 * NEXT are constants after inlining, so the loops unroll onto registers. */
QRTALL_FN void QRTALL_SFX(qrtall_panel_pass)(const int J, const int NEXT, ptrdiff_t bp,
                                             double *const *w, const double *coef,
                                             double *dot)
{
    QP acc[QRTALL_NB];
    double c[QRTALL_NB];
    double *col[QRTALL_NB];
    ptrdiff_t i;
    int k;
    for (k = 0; k < QRTALL_NB; k++) {
        acc[k] = (QP){0.0};
        c[k] = coef[k];
        col[k] = w[k];
    }
    for (i = 0; i < bp; i += QPL) {
        QP wj = PLOAD(col[J] + i), wn = wj;
        for (k = J + 1; k < QRTALL_NB; k++) {
            QP wk = PLOAD(col[k] + i) - c[k] * wj;
            PSTORE(col[k] + i, wk);
            if (k == J + 1)
                wn = wk;
            if (NEXT)
                acc[k] += wn * wk;
        }
    }
    if (NEXT)
        for (k = J + 1; k < QRTALL_NB; k++)
            dot[k] = PHSUM(acc[k]);
}

/* dot[k] = w[0] . w[k] for the eight columns of a panel. */
QRTALL_FN void QRTALL_SFX(qrtall_panel_first_dots)(ptrdiff_t bp, double *const *w,
                                                   double *dot)
{
    QP acc[QRTALL_NB];
    ptrdiff_t i;
    int k;
    for (k = 0; k < QRTALL_NB; k++)
        acc[k] = (QP){0.0};
    for (i = 0; i < bp; i += QPL) {
        QP w0 = PLOAD(w[0] + i);
        for (k = 0; k < QRTALL_NB; k++)
            acc[k] += w0 * PLOAD(w[k] + i);
    }
    for (k = 0; k < QRTALL_NB; k++)
        dot[k] = PHSUM(acc[k]);
}

#define PASS QRTALL_SFX(qrtall_panel_pass)

/* The reflectors 0 <= j < nrefl of the panel at columns j0..j0+7 (W: bp rows,
 * leading dimension ldw; R: leading dimension ldr), applied to the panel's
 * own columns. Reflector j has y_j = cf[j] * (column j0 + j of W as left),
 * and tau[j]; a column with nothing left below the triangle gets tau = cf = 0
 * (no reflection). */
QRTALL_FN void QRTALL_SFX(qrtall_panel)(ptrdiff_t j0, int nrefl, ptrdiff_t bp, ptrdiff_t ldw,
                                        double *W, double *R, ptrdiff_t ldr, double *tau,
                                        double *cf)
{
    double *w[QRTALL_NB];
    double dot[QRTALL_NB], coef[QRTALL_NB];
    int j, k;
    for (k = 0; k < QRTALL_NB; k++)
        w[k] = W + (j0 + k) * ldw;
    QRTALL_SFX(qrtall_panel_first_dots)(bp, w, dot);
    for (j = 0; j < nrefl; j++) {
        ptrdiff_t jj = j0 + j;
        double xx = dot[j], alpha = R[jj + jj * ldr];
        for (k = 0; k < QRTALL_NB; k++)
            coef[k] = 0.0;
        tau[j] = cf[j] = 0.0;
        /* xx is the squared norm of what is left of column jj below the
         * triangle; zero means nothing is (an exact zero, or less than
         * 2^-1022 of a column scaled to about 1: nothing to MINPACK either). */
        if (xx > 0.0) {
            double beta = -copysign(sqrt(alpha * alpha + xx), alpha);
            double t = (beta - alpha) / beta, c = 1.0 / (alpha - beta);
            R[jj + jj * ldr] = beta;
            for (k = j + 1; k < QRTALL_NB; k++) {
                double s = R[jj + (j0 + k) * ldr] + c * dot[k];
                R[jj + (j0 + k) * ldr] -= t * s;
                coef[k] = t * s * c;
            }
            tau[j] = t;
            cf[j] = c;
        }
        /* Update the panel's columns right of j, and the dots for j + 1. */
        switch (j + 1 < nrefl ? j : j + QRTALL_NB) {
        case 0: PASS(0, 1, bp, w, coef, dot); break;
        case 1: PASS(1, 1, bp, w, coef, dot); break;
        case 2: PASS(2, 1, bp, w, coef, dot); break;
        case 3: PASS(3, 1, bp, w, coef, dot); break;
        case 4: PASS(4, 1, bp, w, coef, dot); break;
        case 5: PASS(5, 1, bp, w, coef, dot); break;
        case 6: PASS(6, 1, bp, w, coef, dot); break;
        case 8: PASS(0, 0, bp, w, coef, dot); break;
        case 9: PASS(1, 0, bp, w, coef, dot); break;
        case 10: PASS(2, 0, bp, w, coef, dot); break;
        case 11: PASS(3, 0, bp, w, coef, dot); break;
        case 12: PASS(4, 0, bp, w, coef, dot); break;
        case 13: PASS(5, 0, bp, w, coef, dot); break;
        case 14: PASS(6, 0, bp, w, coef, dot); break;
        default: break;         /* reflector 7: no column right of it */
        }
    }
}

/* G[l + 8 c] = Y[:, l] . C[:, c] for the eight columns of Y (leading
 * dimension ldy) and nc columns of C (leading dimension ldc), bp rows, in
 * tiles of four columns of Y by QTC of C (each load feeds several
 * multiply-adds; a ragged last tile re-reads its first column). */
QRTALL_FN void QRTALL_SFX(qrtall_gram)(ptrdiff_t bp, const double *Y, ptrdiff_t ldy,
                                       const double *C, ptrdiff_t ldc, ptrdiff_t nc,
                                       double *G)
{
    ptrdiff_t c, i;
    int l0, p, q;
    for (c = 0; c < nc; c += QTC) {
        const double *cc[QTC];
        for (q = 0; q < QTC; q++)
            cc[q] = C + (c + q < nc ? c + q : c) * ldc;
        for (l0 = 0; l0 < QRTALL_NB; l0 += 4) {
            QV a[4][QTC];
            for (p = 0; p < 4; p++)
                for (q = 0; q < QTC; q++)
                    a[p][q] = (QV){0.0};
            for (i = 0; i < bp; i += QL) {
                QV x[QTC], y[4];
                for (q = 0; q < QTC; q++)
                    x[q] = LOAD(cc[q] + i);
                for (p = 0; p < 4; p++)
                    y[p] = LOAD(Y + (l0 + p) * ldy + i);
                for (p = 0; p < 4; p++)
                    for (q = 0; q < QTC; q++)
                        a[p][q] += y[p] * x[q];
            }
            for (q = 0; q < QTC && c + q < nc; q++)
                for (p = 0; p < 4; p++)
                    G[l0 + p + QRTALL_NB * (c + q)] = HSUM(a[p][q]);
        }
    }
}

/* C[:, c] -= Y S[:, c] for TC columns of C (S: leading dimension 8), bp rows,
 * four columns of Y at a time with their coefficients on registers. */
QRTALL_FN void QRTALL_SFX(qrtall_apply_tile)(const int TC, ptrdiff_t bp, const double *Y,
                                             ptrdiff_t ldy, const double *S, double *C,
                                             ptrdiff_t ldc)
{
    ptrdiff_t i;
    int l0, p, q;
    for (l0 = 0; l0 < QRTALL_NB; l0 += 4) {
        double s[4][QTC];
        const double *y0 = Y + l0 * ldy;
        for (p = 0; p < 4; p++)
            for (q = 0; q < TC; q++)
                s[p][q] = S[l0 + p + QRTALL_NB * q];
        for (i = 0; i < bp; i += QL) {
            QV x[QTC];
            for (q = 0; q < TC; q++)
                x[q] = LOAD(C + q * ldc + i);
            for (p = 0; p < 4; p++) {
                QV y = LOAD(y0 + p * ldy + i);
                for (q = 0; q < TC; q++)
                    x[q] -= s[p][q] * y;
            }
            for (q = 0; q < TC; q++)
                STORE(C + q * ldc + i, x[q]);
        }
    }
}

/* C[:, c] -= Y S[:, c] for nc columns of C (S: 8 x nc, leading dimension 8). */
QRTALL_FN void QRTALL_SFX(qrtall_apply)(ptrdiff_t bp, const double *Y, ptrdiff_t ldy,
                                        const double *S, double *C, ptrdiff_t ldc,
                                        ptrdiff_t nc)
{
    ptrdiff_t c;
    for (c = 0; c + QTC <= nc; c += QTC)
        QRTALL_SFX(qrtall_apply_tile)(QTC, bp, Y, ldy, S + QRTALL_NB * c, C + c * ldc, ldc);
    for (; c < nc; c++)
        QRTALL_SFX(qrtall_apply_tile)(1, bp, Y, ldy, S + QRTALL_NB * c, C + c * ldc, ldc);
}

/* The panel's reflectors applied to columns j0 + 8 <= k < n1 of [R; W]:
 * with Y = W_p diag(cf) and T the upper triangular factor of the panel
 * (H_0 ... H_7 = I - V T V^T, LAPACK's dlarft), Q^T C = C - V T^T V^T C,
 * where V^T C = R[panel rows, k] + Y^T W[:, k]. g: 8 * n1 doubles. */
QRTALL_FN void QRTALL_SFX(qrtall_panel_apply)(ptrdiff_t j0, ptrdiff_t n1, ptrdiff_t bp,
                                              ptrdiff_t ldw, double *W, double *R,
                                              ptrdiff_t ldr, const double *tau,
                                              const double *cf, double *g)
{
    double T[QRTALL_NB * QRTALL_NB], z[QRTALL_NB], u[QRTALL_NB];
    const double *Wp = W + j0 * ldw;
    ptrdiff_t k, k0 = j0 + QRTALL_NB, nk = n1 - k0;
    int i, j, l;

    /* T column by column: T[j, j] = tau_j, T[:j, j] = -tau_j T[:j, :j] Y[:, :j]^T y_j. */
    QRTALL_SFX(qrtall_gram)(bp, Wp, ldw, Wp, ldw, QRTALL_NB, g);
    for (j = 0; j < QRTALL_NB; j++) {
        for (l = 0; l < j; l++)
            z[l] = cf[l] * cf[j] * g[l + QRTALL_NB * j];
        for (i = 0; i < j; i++) {
            double s = 0.0;
            for (l = i; l < j; l++)
                s += T[i + QRTALL_NB * l] * z[l];
            T[i + QRTALL_NB * j] = -tau[j] * s;
        }
        T[j + QRTALL_NB * j] = tau[j];
        for (i = j + 1; i < QRTALL_NB; i++)
            T[i + QRTALL_NB * j] = 0.0;
    }

    /* g = W_p^T W[:, k0:]; then per column u = R rows + diag(cf) g,
     * S = T^T u, R rows -= S, g = diag(cf) S for the update of W. */
    QRTALL_SFX(qrtall_gram)(bp, Wp, ldw, W + k0 * ldw, ldw, nk, g);
    for (k = 0; k < nk; k++) {
        double *rk = R + j0 + (k0 + k) * ldr, *gk = g + QRTALL_NB * k;
        for (l = 0; l < QRTALL_NB; l++)
            u[l] = rk[l] + cf[l] * gk[l];
        for (l = 0; l < QRTALL_NB; l++) {
            double s = 0.0;
            for (i = 0; i <= l; i++)
                s += T[i + QRTALL_NB * l] * u[i];
            rk[l] -= s;
            gk[l] = cf[l] * s;
        }
    }
    QRTALL_SFX(qrtall_apply)(bp, Wp, ldw, g, W + k0 * ldw, ldw, nk);
}

/* The panels of a block whose columns are in range (see qrtall_reduce_block). */
static QRTALL_TARGET void QRTALL_SFX(qrtall_panels)(ptrdiff_t n1, ptrdiff_t n1p,
                                                    ptrdiff_t bp, ptrdiff_t ldw, double *R,
                                                    double *W, double *g)
{
    double tau[QRTALL_NB], cf[QRTALL_NB];
    ptrdiff_t j0, nrefl = n1 - 1;
    for (j0 = 0; j0 < nrefl; j0 += QRTALL_NB) {
        int nr = nrefl - j0 < QRTALL_NB ? (int)(nrefl - j0) : QRTALL_NB;
        QRTALL_SFX(qrtall_panel)(j0, nr, bp, ldw, W, R, n1p, tau, cf);
        if (j0 + QRTALL_NB < n1)
            QRTALL_SFX(qrtall_panel_apply)(j0, n1, bp, ldw, W, R, n1p, tau, cf, g);
    }
}

#undef PASS
#undef LOAD
#undef STORE
#undef HSUM
#undef PLOAD
#undef PSTORE
#undef PHSUM
#undef QP
#undef QPL
#undef QRTALL_VECTOR_OPS
#undef QRTALL_FN
#undef QV
#undef QL
#undef QTC
#undef QRTALL_SFX
#undef QRTALL_TARGET
#undef QRTALL_LANES
#undef QRTALL_PANEL_LANES
#undef QRTALL_TC
