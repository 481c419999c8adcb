/* Spin-then-sleep barrier that stops spinning when spinning does not pay (barrier.h). */
#include "nn/barrier.h"
#include <time.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#else
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void nn_barrier_init(nn_barrier *b, int n, int64_t spin_ns, int64_t hold_ns) {
    atomic_init(&b->count, 0);
    atomic_init(&b->gen, 0);
    atomic_init(&b->sleepers, 0);
    atomic_init(&b->calm_at, 0);
    atomic_init(&b->rounds, 0);
    atomic_init(&b->timeouts, 0);
    b->n = n;
    b->spin_ns = spin_ns;
    b->hold_ns = hold_ns;
}

static void sleep_while(_Atomic int *word, int val) {
#ifdef __linux__
    syscall(SYS_futex, (int *)word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
#else
    (void)word; (void)val;
    sched_yield();
#endif
}

static void wake_all(_Atomic int *word) {
#ifdef __linux__
    syscall(SYS_futex, (int *)word, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
#else
    (void)word;
#endif
}

void nn_barrier_wait(nn_barrier *b) {
    if (b->n <= 1) return;
    int gen = atomic_load(&b->gen);
    if (atomic_fetch_add(&b->count, 1) == b->n - 1) {   /* last to arrive: release the round */
        atomic_store(&b->count, 0);
        atomic_fetch_add_explicit(&b->rounds, 1, memory_order_relaxed);
        atomic_fetch_add(&b->gen, 1);
        /* seq_cst: a waiter either sees the new round or is already counted in sleepers */
        if (atomic_load(&b->sleepers)) wake_all(&b->gen);
        return;
    }
    if (b->spin_ns > 0) {
        int64_t t0 = now_ns();
        if (t0 >= atomic_load_explicit(&b->calm_at, memory_order_relaxed)) {
            for (unsigned i = 1;; i++) {
                if (atomic_load_explicit(&b->gen, memory_order_acquire) != gen) return;
                CPU_RELAX();
                if ((i & 63) == 0) {
                    int64_t t = now_ns();
                    if (t - t0 > b->spin_ns) {   /* the partner is not running: stop spinning for a while */
                        atomic_store_explicit(&b->calm_at, t + b->hold_ns, memory_order_relaxed);
                        atomic_fetch_add_explicit(&b->timeouts, 1, memory_order_relaxed);
                        break;
                    }
                }
            }
        }
    }
    atomic_fetch_add(&b->sleepers, 1);
    while (atomic_load(&b->gen) == gen) sleep_while(&b->gen, gen);
    atomic_fetch_sub(&b->sleepers, 1);
}
