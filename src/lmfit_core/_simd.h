/* Element-wise loops of the kernels, compiled twice on x86-64 Linux with GCC:
 * for the baseline and for x86-64-v3 (AVX2), the loader picking the version
 * the CPU runs (target_clones). Each element is computed by the same IEEE
 * operation either way (no fused multiply-add: the build passes
 * -ffp-contract=off), so results are bit-for-bit the same on every CPU; the
 * wider vectors only do more elements per instruction. */
#ifndef LMFIT_CORE_SIMD_H
#define LMFIT_CORE_SIMD_H

#include <stddef.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define LMFIT_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
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

/* y[i] = (y[i] - x[i]) / d for i < n: a forward-difference quotient */
LMFIT_CLONES
static void lmfit_diff_quotient(ptrdiff_t n, const double *x, double *y, double d)
{
    ptrdiff_t i;
    for (i = 0; i < n; i++)
        y[i] = (y[i] - x[i]) / d;
}

#endif
