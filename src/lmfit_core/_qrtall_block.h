/* The block step of qr_tall: Householder reflections that zero a block W
 * (rows x n1, column-major) under an upper triangle R (n1 x n1), so that the
 * triangle becomes the R factor of [R; W].
 *
 * Reflector j is v = [e_j; y_j] (a unit vector in R's rows, y_j in W's), so
 * reflectors only meet each other through W. The fast step takes the columns
 * eight at a time (a panel): it computes the panel's reflectors with one pass
 * over the panel per reflector (the update by reflector j and the dot products
 * of reflector j + 1 in the same pass, all on registers), then applies all
 * eight to the columns on the right at once in LAPACK's compact WY form
 * (I - V T V^T), as two register-tiled matrix products that read each column
 * twice per panel instead of twice per reflector. Columns are first scaled by
 * powers of two (exact) where their entries are so large or so small that
 * products could overflow or underflow; a block holding NaN or inf takes the
 * plain one-reflector-at-a-time step, which propagates them column by column.
 *
 * The order of the sums is free here (qr_tall is not bit-compatible with
 * MINPACK by design): dot products use partial sums across vector lanes and
 * the module is compiled with fused multiply-adds. The vectors are GCC's
 * vector extension; on x86-64 Linux with GCC the panel step is compiled for
 * x86-64-v4 (AVX-512: eight-double vectors, 32 registers), x86-64-v3 (AVX2:
 * four, 16 registers) and the baseline (two, no fused multiply-add), each
 * with its own vector length and tiles (_qrtall_panels.h), and picked at run
 * time; results are the same on every CPU of one kind and agree to rounding
 * between kinds. Compilers without the extension get the plain step.
 */
#ifndef LMFIT_CORE_QRTALL_BLOCK_H
#define LMFIT_CORE_QRTALL_BLOCK_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define QRTALL_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define QRTALL_MULTI 1
#else
#define QRTALL_CLONES
#define QRTALL_MULTI 0
#endif

#if defined(__GNUC__)
#define QRTALL_NOINLINE __attribute__((noinline))
#define QRTALL_INLINE static inline __attribute__((always_inline))
#define QRTALL_VECTORS 1
#else
#define QRTALL_NOINLINE
#define QRTALL_INLINE static inline
#define QRTALL_VECTORS 0
#endif

/* Columns per panel; the block's rows and columns are padded (with zeros) to
 * multiples of it. */
#define QRTALL_NB 8

/* ---- the plain step: one reflector at a time ---------------------------- */

/* sum(x[i] * y[i]) with sixteen partial sums. */
static inline double qrtall_dot(ptrdiff_t b, const double *x, const double *y)
{
    double acc[16] = {0.0};
    double s;
    ptrdiff_t i, l, b16 = b - b % 16;
    for (i = 0; i < b16; i += 16)
        for (l = 0; l < 16; l++)
            acc[l] += x[i + l] * y[i + l];
    for (l = 0; l < 8; l++)
        acc[l] += acc[l + 8];
    for (l = 0; l < 4; l++)
        acc[l] += acc[l + 4];
    s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (; i < b; i++)
        s += x[i] * y[i];
    return s;
}

/* Whether x[0:b] is all zeros (its squares may underflow to a zero sum
 * while the entries are not). */
QRTALL_NOINLINE
static int qrtall_all_zero(ptrdiff_t b, const double *x)
{
    ptrdiff_t i;
    for (i = 0; i < b; i++)
        if (x[i] != 0.0)
            return 0;
    return 1;
}

/* x[i] /= d: for a column so tiny that 1 / d overflows. */
QRTALL_NOINLINE
static void qrtall_divide(ptrdiff_t b, double *x, double d)
{
    ptrdiff_t i;
    for (i = 0; i < b; i++)
        x[i] /= d;
}

/* sqrt(alpha^2 + sum(x^2)) given xx = sum(x^2), rescaled by the largest
 * magnitude when the plain sum may have overflowed or underflowed. */
static double qrtall_norm(double alpha, ptrdiff_t b, const double *x, double xx)
{
    double s = alpha * alpha + xx, big = fabs(alpha), t;
    ptrdiff_t i;
    if (s > 1e-290 && s < 1e290)
        return sqrt(s);
    for (i = 0; i < b; i++)
        if (fabs(x[i]) > big)
            big = fabs(x[i]);
    if (big == 0.0 || !isfinite(big))
        return sqrt(s);
    t = alpha / big;
    s = t * t;
    for (i = 0; i < b; i++) {
        t = x[i] / big;
        s += t * t;
    }
    return big * sqrt(s);
}

/* The n1 columns of [R; W] one reflector at a time (W: b rows,
 * leading dimension ldw; R: leading dimension ldr). Safe for any scaling,
 * and a NaN or inf stays in its column and the columns right of it. */
static void qrtall_plain_step(ptrdiff_t n1, ptrdiff_t b, ptrdiff_t ldw, double *R,
                              ptrdiff_t ldr, double *W)
{
    ptrdiff_t j, k, i;
    for (j = 0; j < n1; j++) {
        double *wj = W + j * ldw;
        double xx = qrtall_dot(b, wj, wj), alpha, beta, tau, scale;
        if (xx == 0.0 && qrtall_all_zero(b, wj))
            continue;               /* nothing below the triangle */
        alpha = R[j + j * ldr];
        beta = -copysign(qrtall_norm(alpha, b, wj, xx), alpha);
        tau = (beta - alpha) / beta;
        /* v = [1; wj / (alpha - beta)], |v| <= 1: a product with the
         * reciprocal, or a division where the reciprocal would overflow. */
        scale = alpha - beta;
        if (fabs(scale) > 1e-290) {
            scale = 1.0 / scale;
            for (i = 0; i < b; i++)
                wj[i] *= scale;
        } else {
            qrtall_divide(b, wj, scale);
        }
        R[j + j * ldr] = beta;
        for (k = j + 1; k < n1; k++) {
            double *wk = W + k * ldw;
            double w = tau * (R[j + k * ldr] + qrtall_dot(b, wj, wk));
            R[j + k * ldr] -= w;
            for (i = 0; i < b; i++)
                wk[i] -= w * wj[i];
        }
    }
}

#if QRTALL_VECTORS

/* The panel step, compiled for AVX-512, AVX2 and the baseline on x86-64
 * with GCC (picked at run time), for the baseline elsewhere. Its vector
 * helpers are always inlined, so the ABI of passing vectors never applies. */
#pragma GCC diagnostic ignored "-Wpsabi"
#if QRTALL_MULTI
#define QRTALL_SFX(name) name##_v4
#define QRTALL_TARGET __attribute__((target("arch=x86-64-v4")))
#define QRTALL_LANES 8
#define QRTALL_PANEL_LANES 4
#define QRTALL_TC 4
#include "_qrtall_panels.h"
#define QRTALL_SFX(name) name##_v3
#define QRTALL_TARGET __attribute__((target("arch=x86-64-v3")))
#define QRTALL_LANES 4
#define QRTALL_PANEL_LANES 4
#define QRTALL_TC 2
#include "_qrtall_panels.h"
#endif
#define QRTALL_SFX(name) name##_base
#define QRTALL_TARGET
#define QRTALL_LANES 2
#define QRTALL_PANEL_LANES 2
#define QRTALL_TC 2
#include "_qrtall_panels.h"

/* The widest kind of vectors the panels may use (4: AVX-512, 3: AVX2, 0: the
 * baseline): the CPU's, or less for the tests of the narrower versions. */
static int qrtall_isa_limit = 4;

/* The widest kind this CPU runs. */
static int qrtall_cpu_level(void)
{
#if QRTALL_MULTI
    if (__builtin_cpu_supports("x86-64-v4"))
        return 4;
    if (__builtin_cpu_supports("x86-64-v3"))
        return 3;
#endif
    return 0;
}

/* The panels with the widest vectors this CPU has. */
static void qrtall_panels(ptrdiff_t n1, ptrdiff_t n1p, ptrdiff_t bp, ptrdiff_t ldw,
                          double *R, double *W, double *g)
{
#if QRTALL_MULTI
    if (qrtall_isa_limit >= 4 && __builtin_cpu_supports("x86-64-v4")) {
        qrtall_panels_v4(n1, n1p, bp, ldw, R, W, g);
        return;
    }
    if (qrtall_isa_limit >= 3 && __builtin_cpu_supports("x86-64-v3")) {
        qrtall_panels_v3(n1, n1p, bp, ldw, R, W, g);
        return;
    }
#endif
    qrtall_panels_base(n1, n1p, bp, ldw, R, W, g);
}

/* The exponent e of 2^e that scales a column whose largest magnitude has
 * the bit pattern `bits` to [1, 2), or 0 when it needs no scaling (zero, or
 * within 2^+-160, where no product of two entries over- or underflows). */
QRTALL_INLINE int qrtall_scale_exponent(uint64_t bits)
{
    int e = (int)(bits >> 52) - 1023;
    if (bits == 0 || (e >= -160 && e <= 160))
        return 0;
    if (e == -1023) {             /* subnormal: the exponent of its leading bit */
        uint64_t mant = bits & ((UINT64_C(1) << 52) - 1);
        e = -1022;
        while (!(mant & (UINT64_C(1) << 52))) {
            mant <<= 1;
            e--;
        }
    }
    return -e;
}

#endif  /* QRTALL_VECTORS */

/* The bit pattern of |v|: patterns of non-negative doubles order as their
 * values, and NaN and inf are at or above 0x7ff0..., so maxima of patterns
 * are maxima of magnitudes that also tell whether all were finite. */
static inline uint64_t qrtall_abs_bits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u & ~(UINT64_C(1) << 63);
}

/* The largest |x[i]| over i < b as a bit pattern. */
static inline uint64_t qrtall_max_bits(ptrdiff_t b, const double *x)
{
    uint64_t mx = 0, u;
    ptrdiff_t i;
    for (i = 0; i < b; i++) {
        u = qrtall_abs_bits(x[i]);
        mx = u > mx ? u : mx;
    }
    return mx;
}

/* Rows r0 <= i < r0 + b of [a | f] into W (bp rows, leading dimension ldw),
 * with wmax[j] the largest |entry| of column j as a bit pattern: entry (i, j)
 * of a is a[i * rs + j * cs] (column-major: rs = 1). Rows b <= i < bp are
 * zeroed. One pass over the source, which is what the narrow case costs. */
QRTALL_CLONES
static void qrtall_load_block(ptrdiff_t n, ptrdiff_t r0, ptrdiff_t b, ptrdiff_t bp,
                              ptrdiff_t ldw, const double *a, ptrdiff_t rs, ptrdiff_t cs, const double *f,
                              double *W, uint64_t *wmax)
{
    ptrdiff_t i, j;
    for (j = 0; j <= n; j++) {
        double *w = W + j * ldw;
        uint64_t mx = 0, u;
        if (j == n || rs == 1) {
            const double *src = j == n ? f + r0 : a + r0 + j * cs;
            for (i = 0; i < b; i++) {
                w[i] = src[i];
                u = qrtall_abs_bits(w[i]);
                mx = u > mx ? u : mx;
            }
        } else {
            const double *src = a + r0 * rs + j * cs;
            for (i = 0; i < b; i++) {
                w[i] = src[i * rs];
                u = qrtall_abs_bits(w[i]);
                mx = u > mx ? u : mx;
            }
        }
        for (i = b; i < bp; i++)
            w[i] = 0.0;
        wmax[j] = mx;
    }
}

/* [R; W] -> [R'; 0]: W is bp x n1p (leading dimension ldw; all multiples of
 * QRTALL_NB, the rows and columns beyond b and n1 zero; wmax from
 * qrtall_load_block), R is n1p x n1p (leading dimension n1p). The first
 * n1 - 1 columns get reflectors (the last real column is the residual vector:
 * only reflected onto). work: 8 * n1p + n1p doubles. */
static void qrtall_reduce_block(ptrdiff_t n1, ptrdiff_t n1p, ptrdiff_t bp, ptrdiff_t ldw,
                                double *R,
                                double *W, const uint64_t *wmax, double *work)
{
#if QRTALL_VECTORS
    double *g = work, *colscale = work + QRTALL_NB * n1p;
    ptrdiff_t k, i;
    int scaled = 0;

    /* Scale columns by powers of two where needed; NaN or inf: plain step. */
    for (k = 0; k < n1; k++) {
        uint64_t mw = wmax[k];
        uint64_t mr = qrtall_max_bits(k + 1, R + k * n1p);
        uint64_t mx = mw > mr ? mw : mr;
        int e;
        if (mx >= UINT64_C(0x7ff0000000000000)) {
            qrtall_plain_step(n1, bp, ldw, R, n1p, W);
            return;
        }
        e = qrtall_scale_exponent(mx);
        colscale[k] = e;
        scaled |= e != 0;
    }
    /* 2^e in two factors: e reaches 1074 for subnormal columns, beyond the
     * largest power of two. Each product is exact (short of a subnormal
     * result when scaling back). */
    if (scaled) {
        for (k = 0; k < n1; k++) {
            if (colscale[k] != 0.0) {
                int e = (int)colscale[k];
                double s1 = ldexp(1.0, e / 2), s2 = ldexp(1.0, e - e / 2);
                for (i = 0; i < bp; i++)
                    W[i + k * ldw] = W[i + k * ldw] * s1 * s2;
                for (i = 0; i <= k; i++)
                    R[i + k * n1p] = R[i + k * n1p] * s1 * s2;
            }
        }
    }

    qrtall_panels(n1, n1p, bp, ldw, R, W, g);

    if (scaled) {
        for (k = 0; k < n1; k++)
            if (colscale[k] != 0.0) {
                int e = (int)colscale[k];
                double s1 = ldexp(1.0, -(e / 2)), s2 = ldexp(1.0, -(e - e / 2));
                for (i = 0; i <= k; i++)
                    R[i + k * n1p] = R[i + k * n1p] * s1 * s2;
            }
    }
#else
    (void)wmax;
    (void)work;
    qrtall_plain_step(n1, bp, ldw, R, n1p, W);
#endif
}

#endif
