/* A barrier for the threads of one team that spins while spinning pays and sleeps (futex)
 * when it does not (barrier.c).
 *
 * Why: decoding one token meets at a barrier every ~10-50 us. Spinning (libgomp's active
 * policy) is about 2x faster than sleeping on an idle machine, because a sleeping thread
 * takes tens of microseconds to wake. But when other processes share the cores, a spinning
 * thread keeps its core busy while its partner sits preempted on the other one: the step
 * stalls for a whole time slice (measured here: 250 tokens/s spinning, 3,000 sleeping).
 * So: spin for at most spin_ns; a partner that is not back by then was preempted, and the
 * barrier then sleeps at once for the next hold_ns (its threads free their cores, so the
 * scheduler can run the preempted one), after which it tries spinning again. */
#ifndef PKTLM_BARRIER_H
#define PKTLM_BARRIER_H
#include <stdatomic.h>
#include <stdint.h>

typedef struct {
    _Atomic int count;          /* threads arrived in this round */
    _Atomic int gen;            /* round number: the futex word */
    _Atomic int sleepers;       /* threads in (or entering) a futex wait */
    _Atomic int64_t calm_at;    /* monotonic ns before which waiters sleep without spinning */
    int n;                      /* threads that meet */
    int64_t spin_ns, hold_ns;
    _Atomic uint64_t rounds, timeouts;   /* statistics */
} nn_barrier;

/* n threads; spin up to spin_ns (0: always sleep), after a timeout sleep for hold_ns. */
void nn_barrier_init(nn_barrier *b, int n, int64_t spin_ns, int64_t hold_ns);
/* Every one of the n threads calls it; returns when all have. Memory written before the
 * call by any thread is visible to all after it. */
void nn_barrier_wait(nn_barrier *b);
#endif
