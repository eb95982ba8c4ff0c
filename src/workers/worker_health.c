/* worker_health: liveness and readiness of a worker (worker_health.h). */
#include "worker_health.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "of_model.h"

static _Atomic long long last_beat_us; /* of_time_mono_us() */
static int stall_limit_s = 120;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char why[200] = "starting"; /* empty: ready */

void worker_health_init(int stall_s)
{
    stall_limit_s = stall_s;
    worker_beat();
    worker_ready("starting");
}

void worker_beat(void)
{
    atomic_store_explicit(&last_beat_us, (long long)of_time_mono_us(),
                          memory_order_relaxed);
}

void worker_ready(const char *why_not)
{
    size_t n = why_not ? strnlen(why_not, sizeof(why) - 1) : 0;

    pthread_mutex_lock(&lock);
    memcpy(why, why_not ? why_not : "", n); /* cut, on purpose */
    why[n] = '\0';
    pthread_mutex_unlock(&lock);
}

int worker_health_answer(int ready, char *out, size_t cap)
{
    long long idle_us =
        (long long)of_time_mono_us() -
        atomic_load_explicit(&last_beat_us, memory_order_relaxed);
    int status = 200;

    if (idle_us > (long long)stall_limit_s * 1000000) {
        /* stuck is neither alive nor ready */
        snprintf(out, cap, "stalled: the worker's loop has not turned for "
                           "%lld s (stall_s = %d)\n",
                 idle_us / 1000000, stall_limit_s);
        return 503;
    }
    if (!ready) {
        snprintf(out, cap, "ok\n");
        return 200;
    }
    pthread_mutex_lock(&lock);
    if (why[0]) {
        snprintf(out, cap, "not ready: %s\n", why);
        status = 503;
    } else {
        snprintf(out, cap, "ready\n");
    }
    pthread_mutex_unlock(&lock);
    return status;
}
