/*
 * bench_e2e RATE SECONDS USER_ID [WAIT_S]: end to end latency of the
 * benchmark (issue 6, item 6). Sends POST /v1/orders open loop (of_load:
 * each request at its scheduled time, answered or not) at RATE per second
 * for SECONDS, as user USER_ID with the JWT in $TOKEN, to the API on
 * 127.0.0.1 at [api] port of the usual config and ORDERFLOW_* environment.
 *
 * For each accepted (202) command it takes the time from sending the POST
 * to the worker's PUBLISH of its id on orderflow:command-done, which comes
 * after the order hash and the command status are written to Redis
 * (worker_commands.c step_readmodel): the moment the order is readable.
 * The subscription is confirmed before the first request. After the run it
 * waits up to WAIT_S (default 30) for the ids not yet published; one still
 * missing then counts with the time it was waited for, a lower bound, so
 * that a lost command cannot make the percentiles look better.
 *
 * With $E2E_LOG set, writes one line per accepted command there: the
 * milliseconds from the first send to its send, and its latency (-1 when
 * missing), to see how latency moved during the run.
 *
 * A done command may also be a rejection (user_not_found, user_banned), so
 * up to CHECK_SAMPLE of them, spread over the run, are read back from
 * Redis: each must be applied and its order hash there, or exit 1.
 *
 * Prints "key=value" lines: what was sent and accepted, whether the load
 * generator kept to RATE (e2e_behind=1 if it sent under 95 % of it or
 * skipped requests), and e2e_p50_ms, e2e_p99_ms. Exit 1 if nothing was
 * accepted, the subscription failed or a sampled command was not applied.
 */
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <hiredis/hiredis.h>

#include "of_cli.h"
#include "of_load.h"
#include "of_model.h"
#include "of_redis.h"
#include "of_uuid.h"

#define CHANNEL      "orderflow:command-done" /* worker_commands.c */
#define CHECK_SAMPLE 200

struct seen {
    char id[OF_UUID_STR];
    int64_t at_us; /* wall clock when it arrived */
};

/* The subscriber thread appends to v under lock; main reads it. */
struct sub {
    redisContext *c;
    pthread_t thread;
    atomic_int run;
    atomic_int lost; /* the connection failed: later ids are never seen */
    pthread_mutex_t lock;
    struct seen *v;
    size_t n, cap;
};

/* An accepted command, waiting for its id. */
struct pending {
    char id[OF_UUID_STR];
    int64_t sent_us; /* wall clock */
    int64_t e2e_us;  /* -1: not seen yet */
};

static void add_seen(struct sub *s, const char *id, int64_t at)
{
    pthread_mutex_lock(&s->lock);
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        struct seen *v = realloc(s->v, cap * sizeof(*v));
        if (!v) {
            pthread_mutex_unlock(&s->lock);
            return; /* counted as missing: the figures only get worse */
        }
        s->v = v;
        s->cap = cap;
    }
    snprintf(s->v[s->n].id, OF_UUID_STR, "%s", id);
    s->v[s->n++].at_us = at;
    pthread_mutex_unlock(&s->lock);
}

/* Reads what arrived, as api_wait.c read_messages() does. */
static void *sub_main(void *arg)
{
    struct sub *s = arg;

    while (atomic_load(&s->run)) {
        struct pollfd pfd = {s->c->fd, POLLIN, 0};
        void *r = NULL;

        if (poll(&pfd, 1, 100) <= 0)
            continue;
        int64_t at = of_time_now_us();
        if (redisBufferRead(s->c) != REDIS_OK) {
            fprintf(stderr, "bench_e2e: Redis subscription lost: %s\n",
                    s->c->errstr);
            atomic_store(&s->lost, 1);
            break;
        }
        while (redisGetReplyFromReader(s->c, &r) == REDIS_OK && r) {
            redisReply *reply = r;
            if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
                reply->element[2]->type == REDIS_REPLY_STRING)
                add_seen(s, reply->element[2]->str, at);
            freeReplyObject(reply);
            r = NULL;
        }
    }
    return NULL;
}

static int sub_start(struct sub *s, const struct of_config *cfg)
{
    struct timeval tv = {5, 0};
    redisReply *reply = NULL;

    s->c = redisConnectWithTimeout(cfg->redis.host, cfg->redis.port, tv);
    if (!s->c || s->c->err)
        goto fail;
    if (cfg->redis.password[0]) {
        reply = redisCommand(s->c, "AUTH %s", cfg->redis.password);
        if (!reply || reply->type == REDIS_REPLY_ERROR)
            goto fail;
        freeReplyObject(reply);
        reply = NULL;
    }
    /* the answer confirms the subscription: nothing published after it
     * is missed */
    reply = redisCommand(s->c, "SUBSCRIBE " CHANNEL);
    if (!reply || reply->type != REDIS_REPLY_ARRAY)
        goto fail;
    freeReplyObject(reply);
    reply = NULL;
    atomic_store(&s->run, 1);
    if (pthread_create(&s->thread, NULL, sub_main, s) != 0)
        goto fail_quiet;
    return 0;
fail:
    fprintf(stderr, "bench_e2e: could not subscribe to %s at \"%s:%d\": %s\n",
            CHANNEL, cfg->redis.host, cfg->redis.port,
            s->c && s->c->err ? s->c->errstr
            : reply           ? reply->str
                              : "no answer");
fail_quiet:
    if (reply)
        freeReplyObject(reply);
    if (s->c)
        redisFree(s->c);
    s->c = NULL;
    return -1;
}

static void sub_stop(struct sub *s)
{
    if (!s->c)
        return;
    atomic_store(&s->run, 0);
    pthread_join(s->thread, NULL);
    redisFree(s->c);
    s->c = NULL;
}

static int cmp_pending(const void *a, const void *b)
{
    return strcmp(((const struct pending *)a)->id,
                  ((const struct pending *)b)->id);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Matches the ids seen from *from on with \p p (sorted by id).
 * @returns how many pending commands this matched. */
static size_t match(struct sub *s, size_t *from, struct pending *p, size_t n)
{
    size_t matched = 0;

    pthread_mutex_lock(&s->lock);
    for (; *from < s->n; (*from)++) {
        struct pending key, *hit;
        memcpy(key.id, s->v[*from].id, OF_UUID_STR);
        hit = bsearch(&key, p, n, sizeof(*p), cmp_pending);
        /* the first publication counts; a redelivery publishes again */
        if (hit && hit->e2e_us < 0) {
            hit->e2e_us = s->v[*from].at_us - hit->sent_us;
            matched++;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return matched;
}

static double pct(const int64_t *v, size_t n, double p)
{
    size_t at = (size_t)ceil(p / 100.0 * (double)n);

    at = at ? at - 1 : 0;
    return (double)v[at < n ? at : n - 1] / 1000.0;
}

static int cmp_sent(const void *a, const void *b)
{
    return cmp_i64(&((const struct pending *)a)->sent_us,
                   &((const struct pending *)b)->sent_us);
}

/* The $E2E_LOG lines; sorts \p p by send time. */
static void write_log(const char *path, struct pending *p, size_t n, int64_t t0)
{
    FILE *f = path && *path ? fopen(path, "w") : NULL;

    if (!f)
        return;
    qsort(p, n, sizeof(*p), cmp_sent);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%.3f %.3f\n", (double)(p[i].sent_us - t0) / 1000.0,
                p[i].e2e_us < 0 ? -1.0 : (double)p[i].e2e_us / 1000.0);
    fclose(f);
}

/* Reads back every (n / CHECK_SAMPLE)th seen command of \p p and its order.
 * @returns how many of those are not an applied create with its order. */
static size_t
check_applied(const struct of_config *cfg, const struct pending *p, size_t n)
{
    struct of_err err;
    struct of_redis *redis = of_redis_new(cfg, &err);
    size_t step = n / CHECK_SAMPLE + 1, checked = 0, bad = 0;

    for (size_t i = 0; redis && i < n; i += step) {
        struct of_cmd_status c;
        struct of_order o;
        int64_t version;
        int found = 0;

        if (p[i].e2e_us < 0)
            continue; /* missing: counted as such */
        checked++;
        if (of_model_redis_get_cmd(redis, p[i].id, &c, &found, &err) ||
            !found || c.status != OF_CMD_APPLIED ||
            of_model_redis_get_order(redis, c.resource_id, &o, &version, &found,
                                     &err) ||
            !found) {
            if (bad++ == 0)
                fprintf(stderr,
                        "bench_e2e: command %s is done but no order is "
                        "readable: %s %s\n",
                        p[i].id, found ? of_cmd_status_name(c.status) : "",
                        found ? c.error_code : "not found");
        }
    }
    printf("e2e_checked=%zu\ne2e_not_applied=%zu\n", checked, bad);
    of_redis_destroy(redis);
    return redis ? bad : 1;
}

/* Waits for the accepted commands of \p r, then prints the figures.
 * @returns 0, or -1 when there is nothing to measure. */
static int report(struct sub *s,
                  const struct of_config *cfg,
                  const struct of_load_result *r,
                  double wait_s,
                  const char *log)
{
    struct pending *p = calloc(r->n ? r->n : 1, sizeof(*p));
    int64_t *lat = calloc(r->n ? r->n : 1, sizeof(*lat));
    size_t n = 0, seen = 0, from = 0;
    int64_t until = of_time_now_us() + (int64_t)(wait_s * 1e6), now;
    int rc = -1;

    if (!p || !lat)
        goto out;
    for (size_t i = 0; i < r->n; i++) {
        if (r->ops[i].status != 202)
            continue;
        memcpy(p[n].id, r->ops[i].command_id, OF_UUID_STR);
        p[n].sent_us = r->started_us + r->ops[i].start_us;
        p[n++].e2e_us = -1;
    }
    printf("e2e_accepted=%zu\n", n);
    if (n == 0)
        goto out;
    qsort(p, n, sizeof(*p), cmp_pending);
    for (;;) {
        seen += match(s, &from, p, n);
        now = of_time_now_us();
        if (seen == n || now >= until || atomic_load(&s->lost))
            break;
        usleep(50000);
    }
    write_log(log, p, n, r->started_us);
    for (size_t i = 0; i < n; i++)
        lat[i] = p[i].e2e_us >= 0 ? p[i].e2e_us : now - p[i].sent_us;
    qsort(lat, n, sizeof(*lat), cmp_i64);
    printf("e2e_seen=%zu\ne2e_missing=%zu\n", seen, n - seen);
    printf("e2e_max_ms=%.3f\n", (double)lat[n - 1] / 1000.0);
    printf("e2e_p50_ms=%.3f\ne2e_p99_ms=%.3f\n", pct(lat, n, 50),
           pct(lat, n, 99));
    rc = check_applied(cfg, p, n) ? -1 : 0;
out:
    free(p);
    free(lat);
    return rc;
}

int main(int argc, char **argv)
{
    struct of_config *cfg = of_cli_config(NULL, "bench_e2e");
    /* before any thread starts (getenv is not thread-safe) */
    const char *token = getenv("TOKEN"), *log = getenv("E2E_LOG");
    struct of_load_spec spec = {0};
    struct of_load_result *r = NULL;
    struct of_load *l;
    struct sub s = {.lock = PTHREAD_MUTEX_INITIALIZER};
    char auth[4096], principal[64], prefix[40];
    double wait_s = argc > 4 ? strtod(argv[4], NULL) : 30;
    int rc = 1;

    if (!cfg || argc < 4 || argc > 5 || !token || !*token) {
        fprintf(stderr, "usage: TOKEN=JWT bench_e2e RATE SECONDS USER_ID "
                        "[WAIT_S]\n");
        of_config_destroy(cfg);
        return 2;
    }
    spec.rate = strtod(argv[1], NULL);
    spec.duration_s = strtod(argv[2], NULL);
    spec.user_id = strtoll(argv[3], NULL, 10);
    if (spec.rate <= 0 || spec.duration_s <= 0 || spec.user_id <= 0) {
        fprintf(stderr, "bench_e2e: RATE, SECONDS and USER_ID must be > 0\n");
        of_config_destroy(cfg);
        return 2;
    }
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    snprintf(principal, sizeof(principal), "user:%" PRId64, spec.user_id);
    /* keys unique per run: a command id of an earlier run would be a
     * duplicate, answered but never published again */
    of_uuid_v4(prefix);
    spec.port = cfg->api.port;
    spec.auth = auth;
    spec.principal = principal;
    spec.key_prefix = prefix;
    /* run.sh lets the API take 256 connections from one address; past
     * that, of_load skips sends and we say the machine fell behind */
    spec.max_inflight = 250;
    spec.timeout_ms = 10000;
    curl_global_init(CURL_GLOBAL_ALL);
    if (sub_start(&s, cfg))
        goto out;
    l = of_load_start(&spec);
    if (!l) {
        fprintf(stderr, "bench_e2e: could not start the load\n");
        goto out;
    }
    r = of_load_join(l);
    double sent_rps = (double)r->n / spec.duration_s;
    int behind = sent_rps < 0.95 * spec.rate || r->skipped > 0;
    printf("e2e_rate_rps=%.1f\ne2e_sent=%zu\ne2e_sent_rps=%.1f\n", spec.rate,
           r->n, sent_rps);
    printf("e2e_non202=%zu\ne2e_skipped=%ld\ne2e_behind=%d\n",
           r->n - (size_t)r->count[OF_LOAD_OK], r->skipped, behind);
    printf("e2e_http_p50_ms=%.3f\ne2e_http_p99_ms=%.3f\n",
           of_load_percentile(r, OF_LOAD_CREATE, 202, 50),
           of_load_percentile(r, OF_LOAD_CREATE, 202, 99));
    if (behind)
        fprintf(stderr,
                "bench_e2e: the load generator sent %.0f/s of the "
                "%.0f/s asked (%ld skipped): this machine cannot "
                "keep up with that rate\n",
                sent_rps, spec.rate, r->skipped);
    rc = report(&s, cfg, r, wait_s, log) ? 1 : 0;
out:
    sub_stop(&s);
    of_load_free(r);
    free(s.v);
    pthread_mutex_destroy(&s.lock);
    curl_global_cleanup();
    of_config_destroy(cfg);
    return rc;
}
