/* nn_barrier (src/nn/barrier.h): no thread leaves a round before every thread has entered
 * it, and writes before the barrier are seen after it, whether the barrier spins, sleeps,
 * or switches between the two (a thread that sleeps now and then forces timeouts). */
#include "test.h"
#include "nn/barrier.h"
#include <omp.h>
#include <time.h>

static void rounds(int nth, int64_t spin_ns, int64_t hold_ns, int stall_every, int *bad, unsigned long long *timeouts) {
    enum { R = 1000 };
    nn_barrier b;
    nn_barrier_init(&b, nth, spin_ns, hold_ns);
    static int slot[64];
    *bad = 0;
    #pragma omp parallel num_threads(nth)
    {
        const int t = omp_get_thread_num();
        for (int r = 1; r <= R; r++) {
            if (stall_every && t == 1 && r % stall_every == 0) {
                struct timespec ts = { 0, 300000 };   /* 0.3 ms: longer than the spin window */
                nanosleep(&ts, NULL);
            }
            slot[t] = r;   /* every thread writes its round, then all check all */
            nn_barrier_wait(&b);
            for (int u = 0; u < nth; u++)
                if (slot[u] != r) {
                    #pragma omp atomic write
                    *bad = 1;
                }
            nn_barrier_wait(&b);   /* nobody writes round r + 1 before all have read round r */
        }
    }
    *timeouts = b.timeouts;
    CHECK_EQ(b.rounds, 2 * R);
}

static void test_barrier_modes(void) {
    int nth = omp_get_max_threads() < 2 ? 2 : omp_get_max_threads();
    if (nth > 8) nth = 8;
    int bad;
    unsigned long long to;
    rounds(nth, 0, 0, 0, &bad, &to);                 /* always sleep */
    CHECK_EQ(bad, 0);
    rounds(nth, 1000000000LL, 0, 0, &bad, &to);      /* spin (1 s window) */
    CHECK_EQ(bad, 0);
    CHECK_EQ(to, 0);
    rounds(nth, 100000, 1000000, 97, &bad, &to);     /* 0.1 ms window, stalls force timeouts */
    CHECK_EQ(bad, 0);
    CHECK(to > 0);
    rounds(3, 20000, 0, 13, &bad, &to);              /* odd team, no hold */
    CHECK_EQ(bad, 0);
}

int main(void) {
    RUN(test_barrier_modes);
    return t_done();
}
