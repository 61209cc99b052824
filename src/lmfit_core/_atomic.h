/* Relaxed atomic counters shared by the threads of a compiled batch: which
 * fits are taken, how many are done, whether to stop. Relaxed order is
 * enough: each counter stands alone, and the results a thread writes are
 * read only after the threads are joined (which orders them). */
#ifndef LMFIT_CORE_ATOMIC_H
#define LMFIT_CORE_ATOMIC_H

#include <stddef.h>

#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
static ptrdiff_t lmfit_fetch_add(ptrdiff_t *p, ptrdiff_t v)
{
#if defined(_WIN64)
    return (ptrdiff_t)_InterlockedExchangeAdd64((volatile __int64 *)p, (__int64)v);
#else
    return (ptrdiff_t)_InterlockedExchangeAdd((volatile long *)p, (long)v);
#endif
}
static ptrdiff_t lmfit_load(ptrdiff_t *p) { return lmfit_fetch_add(p, 0); }
static void lmfit_store(ptrdiff_t *p, ptrdiff_t v)
{
#if defined(_WIN64)
    _InterlockedExchange64((volatile __int64 *)p, (__int64)v);
#else
    _InterlockedExchange((volatile long *)p, (long)v);
#endif
}
#else
static ptrdiff_t lmfit_fetch_add(ptrdiff_t *p, ptrdiff_t v)
{
    return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
static ptrdiff_t lmfit_load(ptrdiff_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static void lmfit_store(ptrdiff_t *p, ptrdiff_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
#endif

#endif
