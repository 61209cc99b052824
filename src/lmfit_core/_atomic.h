/* Atomics shared by the threads of a batch.
 *
 * Relaxed counters for a compiled batch: which fits are taken, how many are
 * done, whether to stop. Relaxed order is enough there: each counter stands
 * alone, and the results a thread writes are read only after the threads are
 * joined (which orders them).
 *
 * A flag with acquire/release order for the hand-off of a lockstep round
 * between two threads: what one thread wrote before it stores the flag
 * (release) is seen by the thread that loads (acquire) or swaps it. And a
 * polite wait for such a flag: spin, then yield, then sleep. */
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
/* Interlocked operations are full barriers. */
static ptrdiff_t lmfit_load_acquire(ptrdiff_t *p) { return lmfit_fetch_add(p, 0); }
static void lmfit_store_release(ptrdiff_t *p, ptrdiff_t v) { lmfit_store(p, v); }
static int lmfit_swap_if(ptrdiff_t *p, ptrdiff_t expected, ptrdiff_t desired)
{
#if defined(_WIN64)
    return _InterlockedCompareExchange64((volatile __int64 *)p, (__int64)desired,
                                         (__int64)expected) == (__int64)expected;
#else
    return _InterlockedCompareExchange((volatile long *)p, (long)desired,
                                       (long)expected) == (long)expected;
#endif
}
#else
static ptrdiff_t lmfit_fetch_add(ptrdiff_t *p, ptrdiff_t v)
{
    return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
static ptrdiff_t lmfit_load(ptrdiff_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static void lmfit_store(ptrdiff_t *p, ptrdiff_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static ptrdiff_t lmfit_load_acquire(ptrdiff_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static void lmfit_store_release(ptrdiff_t *p, ptrdiff_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static int lmfit_swap_if(ptrdiff_t *p, ptrdiff_t expected, ptrdiff_t desired)
{
    return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}
#endif

/* One step of waiting for another thread's flag; *waited counts the steps.
 * The first steps spin, about 0.2 ms (a lockstep round or a model call of a
 * few hundred problems takes tens to hundreds of microseconds, and a sleep's
 * wake-up on a virtual machine about as long), then yield for about 0.1 ms;
 * later ones sleep 50 us, so that a thread waiting on a slow model costs
 * next to nothing. */
#if defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#else
#include <sched.h>
#include <time.h>
#endif

static void lmfit_wait_step(unsigned long *waited)
{
    unsigned long w = (*waited)++;
    if (w < 8000) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
        __builtin_ia32_pause();
#elif defined(__GNUC__) && defined(__aarch64__)
        __asm__ __volatile__("yield");
#elif defined(_WIN32)
        YieldProcessor();     /* <windows.h>: the CPU's spin-wait hint */
#endif
    } else if (w < 8200) {
#if defined(_WIN32)
        SwitchToThread();
#else
        sched_yield();
#endif
    } else {
#if defined(_WIN32)
        Sleep(1);
#else
        struct timespec nap = {0, 50000};
        nanosleep(&nap, NULL);
#endif
    }
}

#endif
