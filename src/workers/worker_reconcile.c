/* worker_reconcile: see worker_reconcile.h. */
#include "worker_reconcile.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "of_db.h"
#include "of_log.h"
#include "of_model.h"
#include "of_readmodel.h"
#include "of_redis.h"
#include "of_uuid.h"
#include "worker_metrics.h"

#define CHECK_MS     1000  /* how often the mark is compared */
#define RETRY_MAX_MS 30000 /* backoff ceiling after a failed rebuild */
#define LOCK_TTL_MS  30000 /* refreshed after every batch */
#define QUIET_LOG_MS 60000 /* a failure that goes on is logged this often */

struct worker_reconcile {
    const struct of_config *cfg;
    struct worker_reconcile_metrics rm;
    struct of_redis *redis;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;                   /* signalled by stop */
    int stop;                            /* under mu */
    char token[OF_UUID_STR];             /* this process's lock value */
    char seen[OF_READMODEL_RUN_ID_SIZE]; /* run_id of the last check */
    int64_t quiet_until; /* no "Redis down" line before this (mono ms) */
    int waiting;         /* another worker's lock was seen (logged once) */
};

static int stopping(struct worker_reconcile *rc)
{
    int stop;

    pthread_mutex_lock(&rc->mu);
    stop = rc->stop;
    pthread_mutex_unlock(&rc->mu);
    return stop;
}

/* Sleep \p ms unless stopped. @returns 1 when stopped. */
static int nap(struct worker_reconcile *rc, int ms)
{
    struct timespec until;
    int stop;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&rc->mu);
    while (!rc->stop &&
           pthread_cond_timedwait(&rc->cv, &rc->mu, &until) != ETIMEDOUT)
        ;
    stop = rc->stop;
    pthread_mutex_unlock(&rc->mu);
    return stop;
}

/* of_readmodel_batch_fn: keep the lock, stop when asked. */
static int on_batch(void *arg, const struct of_readmodel_stats *st)
{
    struct worker_reconcile *rc = arg;
    struct of_err err;
    int held = 0;
    (void)st;

    if (stopping(rc))
        return 1;
    if (of_readmodel_lock(rc->redis, rc->token, LOCK_TTL_MS, 1, &held, &err) !=
        OF_OK)
        return 1;
    if (!held)
        of_warn("read model rebuild: the lock %s is gone (FLUSHALL?); "
                "starting again",
                OF_READMODEL_LOCK_KEY);
    return !held;
}

/* The rebuild under the lock, and the mark. OF_OK with *done 0: another
 * worker holds the lock (it will set the mark), or ours was lost (a
 * FLUSHALL: the next check starts again). */
static int rebuild(struct worker_reconcile *rc,
                   const char *run_id,
                   int *done,
                   struct of_err *err)
{
    struct of_readmodel_stats st;
    int64_t t0 = (of_time_mono_us() / 1000);
    struct of_db *db;
    int held = 0, r;

    *done = 0;
    r = of_readmodel_lock(rc->redis, rc->token, LOCK_TTL_MS, 0, &held, err);
    if (r != OF_OK || !held) {
        if (r == OF_OK && !rc->waiting)
            of_info("read model rebuild: another worker holds %s; waiting "
                    "for its mark",
                    OF_READMODEL_LOCK_KEY);
        rc->waiting = r == OF_OK;
        return r;
    }
    rc->waiting = 0;
    /* one connection a rebuild: an idle one would only time out */
    db = of_db_open(rc->cfg, err);
    r = db ? of_readmodel_rebuild(db, rc->redis, 0, &st, on_batch, rc, err)
           : err->rc;
    if (r == OF_OK)
        r = of_readmodel_mark(rc->redis, rc->token, run_id, done, err);
    else
        of_readmodel_unlock(rc->redis, rc->token);
    of_db_close(db);
    if (r == OF_OK && *done) {
        double s = (double)((of_time_mono_us() / 1000) - t0) / 1000;
        of_metrics_add(rc->rm.rebuilds_done, 1);
        of_metrics_set(rc->rm.rebuild_seconds, s);
        of_info("read model rebuilt from MySQL for Redis run_id %s: %ld "
                "users, %ld orders (%ld skipped) in %.1f s",
                run_id, st.users, st.orders, st.skipped, s);
    }
    return r;
}

/* One check, and the rebuild if the mark is not the live run_id.
 * @returns OF_OK when nothing failed; *rebuilding 1 if a rebuild was due. */
static int
check(struct worker_reconcile *rc, int *rebuilding, struct of_err *err)
{
    char run_id[OF_READMODEL_RUN_ID_SIZE], mark[OF_READMODEL_RUN_ID_SIZE];
    int current = 0, done = 0, r;

    *rebuilding = 0;
    r = of_readmodel_check(rc->redis, run_id, mark, &current, err);
    if (r != OF_OK)
        return r;
    if (rc->seen[0] && strcmp(rc->seen, run_id) != 0)
        of_warn("Redis restarted: run_id %s, was %s", run_id, rc->seen);
    snprintf(rc->seen, sizeof(rc->seen), "%s", run_id);
    if (current) {
        rc->waiting = 0;
        return OF_OK;
    }
    if (!rc->waiting && mark[0])
        of_warn("the read model was built for Redis run_id %s, but %s runs "
                "now: Redis restarted and may have come back from an old "
                "snapshot; rebuilding it from MySQL",
                mark, run_id);
    else if (!rc->waiting)
        of_warn("the read model has no mark (%s): Redis is new, was "
                "flushed or lost its data; rebuilding it from MySQL",
                OF_READMODEL_MARK_KEY);
    *rebuilding = 1;
    r = rebuild(rc, run_id, &done, err);
    if (r != OF_OK)
        of_metrics_add(rc->rm.rebuilds_failed, 1);
    /* not done, no error: someone else rebuilds, or a FLUSHALL took our
     * lock; either way look again at the normal pace */
    return r;
}

static void *run(void *arg)
{
    struct worker_reconcile *rc = arg;
    struct of_err err;
    int delay = CHECK_MS, rebuilding;

    do {
        memset(&err, 0, sizeof(err));
        if (check(rc, &rebuilding, &err) == OF_OK) {
            delay = CHECK_MS;
            continue;
        }
        /* Redis not answering is checked again at the normal pace (the
         * worker reports it too); a failed rebuild backs off, as it costs
         * MySQL a full scan */
        delay = !rebuilding                ? CHECK_MS
                : delay * 2 > RETRY_MAX_MS ? RETRY_MAX_MS
                                           : delay * 2;
        if (rebuilding || (of_time_mono_us() / 1000) >= rc->quiet_until) {
            of_warn("read model %s: %s; trying again in %d ms",
                    rebuilding ? "rebuild failed" : "check", err.msg, delay);
            rc->quiet_until = (of_time_mono_us() / 1000) + QUIET_LOG_MS;
        }
    } while (!nap(rc, delay));
    return NULL;
}

struct worker_reconcile *worker_reconcile_start(const struct of_config *cfg,
                                                struct of_metrics *metrics,
                                                struct of_err *err)
{
    struct worker_reconcile *rc = calloc(1, sizeof(*rc));
    sigset_t all, old;
    int e;

    if (!rc) {
        of_err_set(err, OF_EFATAL, "out of memory");
        return NULL;
    }
    rc->cfg = cfg;
    worker_metrics_reconcile_init(&rc->rm, metrics);
    of_uuid_v4(rc->token);
    rc->redis = of_redis_new(cfg, err);
    if (!rc->redis) {
        free(rc);
        return NULL;
    }
    pthread_mutex_init(&rc->mu, NULL);
    pthread_cond_init(&rc->cv, NULL);
    /* the thread inherits the mask: SIGTERM stays the main thread's */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    e = pthread_create(&rc->thread, NULL, run, rc);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) {
        of_err_set(err, OF_EFATAL,
                   "could not start the reconciler thread (error %d)", e);
        pthread_cond_destroy(&rc->cv);
        pthread_mutex_destroy(&rc->mu);
        of_redis_destroy(rc->redis);
        free(rc);
        return NULL;
    }
    return rc;
}

void worker_reconcile_stop(struct worker_reconcile *rc)
{
    if (!rc)
        return;
    pthread_mutex_lock(&rc->mu);
    rc->stop = 1;
    pthread_cond_signal(&rc->cv);
    pthread_mutex_unlock(&rc->mu);
    pthread_join(rc->thread, NULL);
    pthread_cond_destroy(&rc->cv);
    pthread_mutex_destroy(&rc->mu);
    of_redis_destroy(rc->redis);
    free(rc);
}
