/*
 * fault_redis: what the Redis fault tests (F10 FLUSHALL, F11 rollback, F12
 * pause) share: Redis commands from the test, a full comparison of the
 * read model with MySQL (every user and order, not only the load's), the
 * latency of the reads made during a window, and a look into a process
 * log. Header-only (static inline): each fault test is one executable.
 * Include after <cmocka.h>.
 */
#ifndef FAULT_REDIS_H
#define FAULT_REDIS_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "of_db.h"
#include "of_it_sys.h"
#include "of_load.h"
#include "of_model.h"
#include "of_redis.h"

/* The start of F10-F12: the worker, the outbox relay, the API and the
 * user (of_it_sys_up), \p ntargets applied orders the load works on, and
 * one more, \p canary, that it never touches. */
static inline void fr_up(struct of_it_sys *s,
                         int64_t *targets,
                         int ntargets,
                         int64_t *canary)
{
    of_it_sys_up(s);
    of_it_sys_orders(s, ntargets, targets);
    of_it_sys_orders(s, 1, canary); /* the load never touches it */
}

/* The load of F10-F12 against \p s: \p rate operations a second for
 * \p duration_s, the writes weighted create 8, pay 4, refund 2, cancel 1
 * beside \p reads, on \p targets; Idempotency-Keys prefixed with the test's
 * name (s->name, which must outlive the load). */
static inline struct of_load_spec fr_spec(const struct of_it_sys *s,
                                          double rate,
                                          double duration_s,
                                          int reads,
                                          const int64_t *targets,
                                          size_t ntargets)
{
    struct of_load_spec spec = {.port = s->port,
                                .auth = s->auth,
                                .principal = s->principal,
                                .user_id = s->user_id,
                                .rate = rate,
                                .duration_s = duration_s,
                                .weight = {[OF_LOAD_CREATE] = 8,
                                           [OF_LOAD_PAY] = 4,
                                           [OF_LOAD_REFUND] = 2,
                                           [OF_LOAD_CANCEL] = 1,
                                           [OF_LOAD_READ] = reads},
                                .targets = targets,
                                .ntargets = ntargets,
                                .key_prefix = s->name};
    return spec;
}

/* One Redis command from the test; \p out (may be NULL) gets a string or
 * status reply, or an integer's digits. Fails the test when Redis fails,
 * after retrying for up to 5 s (a breaker left open by a fault). */
static inline void fr_redis(const struct of_config *cfg,
                            int argc,
                            const char **argv,
                            char *out,
                            size_t cap)
{
    struct of_err err = {0};
    struct of_redis *r = of_redis_new(cfg, &err);
    redisReply *reply = NULL;

    assert_non_null(r);
    for (int i = 0; i < 50 && !reply; i++) {
        reply = of_redis_command(r, argc, argv, NULL, &err);
        if (!reply && err.rc != OF_EAGAIN)
            break;
        if (!reply)
            usleep(100000);
    }
    if (!reply)
        fail_msg("Redis %s: %s", argv[0], err.msg);
    if (out && reply->type == REDIS_REPLY_INTEGER)
        snprintf(out, cap, "%lld", (long long)reply->integer);
    else if (out)
        snprintf(out, cap, "%s", reply->str ? reply->str : "");
    freeReplyObject(reply);
    of_redis_destroy(r);
}

/* The value of "field:" in INFO \p section, as a number (-1: absent). */
static inline long long fr_info(const struct of_config *cfg,
                                const char *section,
                                const char *field,
                                char *text,
                                size_t cap)
{
    static char buf[16384];
    const char *argv[] = {"INFO", section};
    char key[128];
    const char *p;

    fr_redis(cfg, 2, argv, buf, sizeof(buf));
    snprintf(key, sizeof(key), "\n%s:", field);
    p = strstr(buf, key);
    if (!p)
        return -1;
    p += strlen(key);
    if (text)
        snprintf(text, cap, "%.*s", (int)strcspn(p, "\r\n"), p);
    return strtoll(p, NULL, 10);
}

static inline int fr_ids_cb(void *arg, int n, char **v, const unsigned long *l)
{
    struct {
        int64_t *ids;
        size_t n, cap;
    } *a = arg;
    (void)n;
    (void)l;
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 256;
        a->ids = realloc(a->ids, a->cap * sizeof(*a->ids));
        assert_non_null(a->ids);
    }
    a->ids[a->n++] = strtoll(v[0], NULL, 10);
    return 0;
}

/* The ids of \p sql (one column). The caller frees *ids. */
static inline size_t fr_ids(struct of_db *db, const char *sql, int64_t **ids)
{
    struct {
        int64_t *ids;
        size_t n, cap;
    } a = {0};
    struct of_err err;

    if (of_db_query(db, sql, NULL, 0, fr_ids_cb, &a, &err) != OF_OK)
        fail_msg("MySQL: %s", err.msg);
    *ids = a.ids;
    return a.n;
}

/* Two JSON bodies equal, or a line saying how they differ. */
static inline int fr_same(
    json_t *mysql, json_t *redis, const char *what, int64_t id, int *printed)
{
    int same = redis && json_equal(mysql, redis);

    if (!same && (*printed)++ < 5) {
        char *a = json_dumps(mysql, JSON_COMPACT | JSON_SORT_KEYS);
        char *b =
            redis ? json_dumps(redis, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        printf("# mismatch %s %" PRId64 ": MySQL %s, Redis %s\n", what, id,
               a ? a : "?", b ? b : "(missing)");
        free(a);
        free(b);
    }
    json_decref(mysql);
    json_decref(redis);
    return same;
}

/*
 * Every user and order of MySQL against its Redis hash, field by field
 * (the API's JSON of each), and each order's place in its user's sorted
 * set. @returns the number of mismatches (the first few are printed);
 * *users and *orders get the counts compared.
 */
static inline long
fr_compare_all(const struct of_config *cfg, long *users, long *orders)
{
    struct of_err err = {0};
    struct of_db *db = of_db_open(cfg, &err);
    struct of_redis *r = of_redis_new(cfg, &err);
    int64_t *ids = NULL;
    long bad = 0;
    int printed = 0;
    size_t n;

    if (!db || !r)
        fail_msg("compare: %s", err.msg);
    n = fr_ids(db, "SELECT user_id FROM users ORDER BY user_id", &ids);
    *users = (long)n;
    for (size_t i = 0; i < n; i++) {
        struct of_user mu, ru;
        int64_t mv = 0, rv = 0;
        int mf = 0, rf = 0;
        if (of_model_db_get_user(db, ids[i], &mu, &mv, &mf, &err) != OF_OK ||
            !mf)
            fail_msg("MySQL user %" PRId64 ": %s", ids[i], err.msg);
        int rc = of_model_redis_get_user(r, ids[i], &ru, &rv, &rf, &err);
        bad += !fr_same(of_user_json(&mu, mv),
                        rc == OF_OK && rf ? of_user_json(&ru, rv) : NULL,
                        "user", ids[i], &printed);
    }
    free(ids);
    n = fr_ids(db, "SELECT order_id FROM orders ORDER BY order_id", &ids);
    *orders = (long)n;
    for (size_t i = 0; i < n; i++) {
        struct of_order mo, ro;
        int64_t mv = 0, rv = 0;
        int mf = 0, rf = 0;
        char key[64], member[24], score[64] = "";
        if (of_model_db_get_order(db, ids[i], &mo, &mv, &mf, &err) != OF_OK ||
            !mf)
            fail_msg("MySQL order %" PRId64 ": %s", ids[i], err.msg);
        int rc = of_model_redis_get_order(r, ids[i], &ro, &rv, &rf, &err);
        int same = fr_same(of_order_json(&mo, mv),
                           rc == OF_OK && rf ? of_order_json(&ro, rv) : NULL,
                           "order", ids[i], &printed);
        snprintf(key, sizeof(key), "orderflow:user:%" PRId64 ":orders",
                 mo.user_id);
        snprintf(member, sizeof(member), "%" PRId64, ids[i]);
        const char *argv[] = {"ZSCORE", key, member};
        redisReply *reply = of_redis_command(r, 3, argv, NULL, &err);
        if (reply && reply->type == REDIS_REPLY_STRING)
            snprintf(score, sizeof(score), "%s", reply->str);
        if (reply)
            freeReplyObject(reply);
        if (same && strtoll(score, NULL, 10) != mo.created_at / 1000000) {
            same = 0;
            if (printed++ < 5)
                printf("# mismatch order %" PRId64 ": %s score \"%s\"\n",
                       ids[i], key, score);
        }
        bad += !same;
    }
    free(ids);
    of_redis_destroy(r);
    of_db_close(db);
    return bad;
}

/* Seconds until order \p id's Redis hash equals its MySQL row at version
 * \p min_version or later, polled every 100 ms; -1 when \p timeout_s
 * passed first. */
static inline double fr_wait_order(const struct of_config *cfg,
                                   int64_t id,
                                   int64_t min_version,
                                   double timeout_s)
{
    struct of_err err = {0};
    struct of_db *db = of_db_open(cfg, &err);
    struct of_redis *r = of_redis_new(cfg, &err);
    struct timespec t0, now;
    double waited = 0;
    int same = 0;

    if (!db || !r)
        fail_msg("wait: %s", err.msg);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct of_order mo, ro;
        int64_t mv = 0, rv = 0;
        int mf = 0, rf = 0;
        if (of_model_db_get_order(db, id, &mo, &mv, &mf, &err) == OF_OK && mf &&
            of_model_redis_get_order(r, id, &ro, &rv, &rf, &err) == OF_OK &&
            rf) {
            json_t *a = of_order_json(&mo, mv), *b = of_order_json(&ro, rv);
            same = mv >= min_version && json_equal(a, b);
            json_decref(a);
            json_decref(b);
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        waited = (double)(now.tv_sec - t0.tv_sec) +
                 (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
        if (same || waited >= timeout_s)
            break;
        usleep(100000);
    }
    of_redis_destroy(r);
    of_db_close(db);
    return same ? waited : -1;
}

/* Order \p id's version and status in Redis (0 and "" when missing). */
static inline int64_t fr_redis_version(const struct of_config *cfg,
                                       int64_t id,
                                       char *status,
                                       size_t cap)
{
    struct of_err err = {0};
    struct of_redis *r = of_redis_new(cfg, &err);
    struct of_order o;
    int64_t v = 0;
    int found = 0;

    assert_non_null(r);
    if (of_model_redis_get_order(r, id, &o, &v, &found, &err) != OF_OK ||
        !found)
        v = 0;
    snprintf(status, cap, "%s",
             v ? of_avro_order_status_name(o.order_status) : "");
    of_redis_destroy(r);
    return v;
}

static inline int fr_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct fr_window {
    long n, ok, not_ok;   /* operations of the kind started in the window */
    double p50, p99, max; /* their latency, ms */
};

/* The \p kind operations (-1: every write) of \p r that started in
 * [\p from_us, \p to_us) of the run's clock. */
static inline void fr_window(const struct of_load_result *r,
                             int kind,
                             int64_t from_us,
                             int64_t to_us,
                             struct fr_window *w)
{
    double *lat = calloc(r->n + 1, sizeof(*lat));

    assert_non_null(lat);
    memset(w, 0, sizeof(*w));
    for (size_t i = 0; i < r->n; i++) {
        const struct of_load_op *o = &r->ops[i];
        int match = kind < 0 ? o->kind != OF_LOAD_READ : (int)o->kind == kind;
        if (!match || o->start_us < from_us || o->start_us >= to_us)
            continue;
        lat[w->n++] = (double)o->latency_us / 1000;
        if (o->outcome == OF_LOAD_OK)
            w->ok++;
        else
            w->not_ok++;
    }
    if (w->n) {
        qsort(lat, (size_t)w->n, sizeof(*lat), fr_cmp_double);
        w->p50 = lat[(w->n - 1) / 2];
        w->p99 = lat[(long)((double)(w->n - 1) * 0.99)];
        w->max = lat[w->n - 1];
    }
    free(lat);
}

/*
 * Wait (at most 10 s) until nothing listens on 127.0.0.1:\p port. After
 * kill -9, of_it_node_kill() returns once the main thread is a zombie, but
 * a multi-threaded node (Redis has bio threads) keeps its file table, and
 * so its listening socket, until its last thread is gone: a restart in
 * that window fails with "Address already in use".
 */
static inline void fr_wait_port_closed(int port)
{
    char line[512], want[16];
    int listening = 1;

    snprintf(want, sizeof(want), ":%04X", port); /* local_address's end */
    for (int i = 0; i < 200 && listening; i++) {
        FILE *f = fopen("/proc/net/tcp", "r");
        listening = 0;
        while (f && fgets(line, sizeof(line), f)) {
            char local[64], remote[64], st[8];
            size_t n;
            if (sscanf(line, "%*s %63s %63s %7s", local, remote, st) != 3)
                continue;
            n = strlen(local);
            if (n > 5 && strcmp(local + n - 5, want) == 0 &&
                strcmp(st, "0A") == 0) /* TCP_LISTEN */
                listening = 1;
        }
        if (f)
            fclose(f);
        if (listening)
            usleep(50000);
    }
    if (listening)
        fail_msg("port %d is still listening 10 s after kill -9", port);
}

/* Print the first operations that were not ok, and keep the whole log in
 * \p dir/load.log for a post-mortem. */
static inline void fr_report(const struct of_load_result *r, const char *dir)
{
    char path[700];
    int shown = 0;

    for (size_t i = 0; i < r->n && shown < 10; i++) {
        const struct of_load_op *o = &r->ops[i];
        if (o->outcome == OF_LOAD_OK)
            continue;
        printf("# not ok: %s at %.3f s: %ld %s after %.1f ms\n",
               of_load_kind_name(o->kind), (double)o->start_us / 1e6, o->status,
               o->error, (double)o->latency_us / 1000);
        shown++;
    }
    snprintf(path, sizeof(path), "%s/load.log", dir);
    of_load_write_log(r, path);
}

/* @returns 1 if the file at \p path contains \p needle. */
static inline int fr_log_has(const char *path, const char *needle)
{
    char line[4096];
    FILE *f = fopen(path, "r");
    int found = 0;

    while (f && !found && fgets(line, sizeof(line), f))
        found = strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return found;
}

#endif
