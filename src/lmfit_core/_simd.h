/* Element-wise loops of the kernels, compiled three times on x86-64 Linux with
 * GCC: for the baseline, x86-64-v3 (AVX2) and x86-64-v4 (AVX-512), the loader
 * picking the version the CPU runs (target_clones). Each element is computed
 * by the same IEEE operation either way (no fused multiply-add: the build passes
 * -ffp-contract=off), so results are bit-for-bit the same on every CPU; the
 * wider vectors only do more elements per instruction. */
#ifndef LMFIT_CORE_SIMD_H
#define LMFIT_CORE_SIMD_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define LMFIT_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LMFIT_CLONES
#endif

/* Each module uses some of these helpers only (GCC reports unused static
 * functions at the end of the file, so the setting stays on). */
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-function"
#endif

/* x[i] /= d for i < n */
LMFIT_CLONES
static void lmfit_div(ptrdiff_t n, double *x, double d)
{
    ptrdiff_t i;
    for (i = 0; i < n; i++)
        x[i] /= d;
}

/* y[i] -= t * x[i] for i < n */
LMFIT_CLONES
static void lmfit_sub_scaled(ptrdiff_t n, double t, const double *x, double *y)
{
    ptrdiff_t i;
    for (i = 0; i < n; i++)
        y[i] -= t * x[i];
}

/* y[i] = (f[i] - x[i]) / d for i < n: a forward-difference quotient; f may
 * be y itself (in place) */
LMFIT_CLONES
static void lmfit_diff_quotient(ptrdiff_t n, const double *x, const double *f, double *y,
                                double d)
{
    ptrdiff_t i;
    for (i = 0; i < n; i++)
        y[i] = (f[i] - x[i]) / d;
}

/* Whether MINPACK's enorm of x[0:n] is the square root of the plain sum of
 * squares in order: every |x[i]| is zero or strictly between rdwarf and
 * agiant (enorm's intermediate range; zeros add nothing to any of its sums).
 * A NaN passes: the plain sum is then NaN, as enorm's is. Branch-free, so it
 * vectorises; the sum itself cannot, being one chain of additions. */
LMFIT_CLONES
static int lmfit_unscaled(ptrdiff_t n, const double *x, double rdwarf, double agiant)
{
    ptrdiff_t i;
    int64_t bad = 0;
    for (i = 0; i < n; i++) {
        double v = x[i] < 0.0 ? -x[i] : x[i];
        bad |= (int64_t)(v >= agiant) | ((int64_t)(v <= rdwarf) & (int64_t)(v != 0.0));
    }
    return bad == 0;
}

/* out[c] = sum of a[i + c * lda]^2 in order of i, for the `width` (1 to 8)
 * columns of a side by side: independent chains that hide each other's
 * addition latency. */
static void lmfit_sumsq_columns(ptrdiff_t m, const double *a, ptrdiff_t lda, int width,
                                double *out)
{
    ptrdiff_t i;
    int c;
    double s[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    const double *col[8];
    for (c = 0; c < 8; c++)
        col[c] = a + (c < width ? c : 0) * lda;   /* spare lanes re-read column 0 */
    if (width > 4) {
        for (i = 0; i < m; i++) {
            s[0] += col[0][i] * col[0][i];
            s[1] += col[1][i] * col[1][i];
            s[2] += col[2][i] * col[2][i];
            s[3] += col[3][i] * col[3][i];
            s[4] += col[4][i] * col[4][i];
            s[5] += col[5][i] * col[5][i];
            s[6] += col[6][i] * col[6][i];
            s[7] += col[7][i] * col[7][i];
        }
    } else if (width > 1) {
        for (i = 0; i < m; i++) {
            s[0] += col[0][i] * col[0][i];
            s[1] += col[1][i] * col[1][i];
            s[2] += col[2][i] * col[2][i];
            s[3] += col[3][i] * col[3][i];
        }
    } else {
        for (i = 0; i < m; i++)
            s[0] += col[0][i] * col[0][i];
    }
    for (c = 0; c < width; c++)
        out[c] = s[c];
}

#endif
