/* The block step of qr_tall: Householder reflections that zero a block W
 * (b x n1, column-major) under an upper triangle T (n1 x n1, column-major).
 *
 * Plain C that the compiler vectorises; on x86-64 Linux with GCC the block
 * step is also compiled for x86-64-v3 (AVX2), and the loader picks the version
 * the CPU runs (target_clones). The order of the sums is free here (qr_tall
 * is not bit-compatible with MINPACK by design), so dot products use partial
 * sums that vectorise and hide the latency of the additions.
 */
#ifndef LMFIT_CORE_QRTALL_BLOCK_H
#define LMFIT_CORE_QRTALL_BLOCK_H

#include <math.h>
#include <stddef.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define QRTALL_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define QRTALL_CLONES
#endif

/* The rare paths stay out of the block step, whose loops then vectorise as
 * well as without them. */
#if defined(__GNUC__)
#define QRTALL_NOINLINE __attribute__((noinline))
#else
#define QRTALL_NOINLINE
#endif

/* sum(x[i] * y[i]) with sixteen partial sums: no chain of dependent
 * additions for the compiler to keep, so it vectorises (two or four lanes). */
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
 * while the entries are not). Kept out of line: rarely called. */
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

QRTALL_CLONES
static void qrtall_reduce_block(ptrdiff_t n1, ptrdiff_t b, double *T, double *W)
{
    ptrdiff_t j, k, i;
    for (j = 0; j < n1; j++) {
        double *wj = W + j * b;
        double xx = qrtall_dot(b, wj, wj), alpha, beta, tau, scale;
        if (xx == 0.0 && qrtall_all_zero(b, wj))
            continue;               /* nothing below the triangle */
        alpha = T[j + j * n1];
        beta = -copysign(qrtall_norm(alpha, b, wj, xx), alpha);
        tau = (beta - alpha) / beta;
        /* v = [1; wj / (alpha - beta)], |v| <= 1: a product with the
         * reciprocal, or a division where the reciprocal would overflow
         * (a column of tiny entries). */
        scale = alpha - beta;
        if (fabs(scale) > 1e-290) {
            scale = 1.0 / scale;
            for (i = 0; i < b; i++)
                wj[i] *= scale;
        } else {
            qrtall_divide(b, wj, scale);
        }
        T[j + j * n1] = beta;

        /* Apply the reflection to the columns on the right. */
        for (k = j + 1; k < n1; k++) {
            double *wk = W + k * b;
            double w = tau * (T[j + k * n1] + qrtall_dot(b, wj, wk));
            T[j + k * n1] -= w;
            for (i = 0; i < b; i++)
                wk[i] -= w * wj[i];
        }
    }
}

#endif
