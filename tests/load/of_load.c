/*
 * of_load: see of_load.h. One thread drives a libcurl multi handle: it sends
 * operation i at start + i / rate, polls for answers until the next send
 * time, and classifies each answer as it completes.
 */
#include "of_load.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "of_uuid.h"

struct xfer {
    CURL *h;
    struct curl_slist *hdrs;
    struct of_load_op *op;
    char *body;        /* what we sent */
    char resp[1024];   /* the first 1 KiB of the answer */
    size_t resp_len;
};

struct of_load {
    struct of_load_spec spec;
    char auth[4096], principal[128], prefix[40];
    pthread_t thread;
    atomic_int stop;
    atomic_long completed;
    struct of_load_result *res;
    size_t cap;
    unsigned rng;
};

static const char *const kind_names[] = {"create", "pay", "refund", "cancel",
                                         "read"};
static const char *const outcome_names[] = {"ok", "fail", "unknown"};

const char *of_load_kind_name(enum of_load_kind k)
{
    return (unsigned)k < OF_LOAD_KINDS ? kind_names[k] : "?";
}

const char *of_load_outcome_name(enum of_load_outcome o)
{
    return (unsigned)o < 3 ? outcome_names[o] : "?";
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = size * n, room = sizeof(x->resp) - 1 - x->resp_len;

    memcpy(x->resp + x->resp_len, p, len < room ? len : room);
    x->resp_len += len < room ? len : room;
    x->resp[x->resp_len] = '\0';
    return len;
}

static unsigned next_rand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 8) & 0xffffff;
}

static enum of_load_kind pick_kind(struct of_load *l)
{
    int total = 0, r;

    for (int k = 0; k < OF_LOAD_KINDS; k++)
        total += l->spec.weight[k];
    if (total == 0 || l->spec.ntargets == 0)
        return OF_LOAD_CREATE;
    r = (int)(next_rand(&l->rng) % (unsigned)total);
    for (int k = 0; k < OF_LOAD_KINDS; k++) {
        if (r < l->spec.weight[k])
            return (enum of_load_kind)k;
        r -= l->spec.weight[k];
    }
    return OF_LOAD_CREATE;
}

/* Set op's key and command id (UUIDv5 of "principal\nkey", CONTRACT §3). */
static void name_op(struct of_load *l, struct of_load_op *op, const char *key)
{
    char name[256];

    snprintf(op->key, sizeof(op->key), "%s", key);
    snprintf(name, sizeof(name), "%s\n%s", l->principal, op->key);
    of_uuid_v5(op->command_id, name, strlen(name));
}

static struct xfer *make_xfer(struct of_load *l, struct of_load_op *op)
{
    struct xfer *x = calloc(1, sizeof(*x));
    char url[256], hdr[128];

    if (!x)
        return NULL;
    x->op = op;
    x->h = curl_easy_init();
    x->hdrs = curl_slist_append(NULL, l->auth);
    switch (op->kind) {
    case OF_LOAD_CREATE:
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/orders",
                 l->spec.port);
        if (asprintf(&x->body,
                     "{\"user_id\":%" PRId64 ",\"order_type\":\"%s\","
                     "\"total_amount\":\"%" PRId64 ".%02" PRId64 "\"}",
                     l->spec.user_id, op->cents % 2 ? "vip" : "jewelry",
                     op->cents / 100, op->cents % 100) < 0)
            x->body = NULL;
        break;
    case OF_LOAD_READ:
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/orders/%" PRId64,
                 l->spec.port, op->target);
        break;
    default:
        snprintf(url, sizeof(url),
                 "http://127.0.0.1:%d/v1/orders/%" PRId64 "/%s", l->spec.port,
                 op->target, kind_names[op->kind]);
        x->body = strdup("{}");
        break;
    }
    curl_easy_setopt(x->h, CURLOPT_URL, url);
    if (x->body) {
        x->hdrs = curl_slist_append(x->hdrs, "Content-Type: application/json");
        snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s", op->key);
        x->hdrs = curl_slist_append(x->hdrs, hdr);
        curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, x->body);
    }
    x->hdrs = curl_slist_append(x->hdrs, "Expect:");
    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS, l->spec.timeout_ms);
    curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT_MS, l->spec.timeout_ms);
    curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
    return x;
}

static void finish(struct of_load *l, struct xfer *x, CURLcode rc)
{
    struct of_load_op *op = x->op;
    long st = 0;

    op->latency_us = now_us() - op->latency_us; /* held the send time */
    if (rc == CURLE_OK)
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &st);
    op->status = st;
    if (rc != CURLE_OK) {
        op->outcome = OF_LOAD_UNKNOWN;
        snprintf(op->error, sizeof(op->error), "curl: %s",
                 curl_easy_strerror(rc));
    } else if (st == 202 || (op->kind == OF_LOAD_READ && st == 200)) {
        op->outcome = OF_LOAD_OK;
    } else if (st >= 500 && st != 503) { /* 504 outcome_unknown, a crash */
        op->outcome = OF_LOAD_UNKNOWN;
    } else {
        op->outcome = OF_LOAD_FAIL;
    }
    if (rc == CURLE_OK) {
        json_t *j = json_loads(x->resp, 0, NULL);
        const char *code = json_string_value(
            json_object_get(json_object_get(j, "error"), "code"));
        const char *cid = json_string_value(json_object_get(j, "command_id"));
        if (code)
            snprintf(op->error, sizeof(op->error), "%s", code);
        /* the first attempt with this key is still running, or died with
         * its process: its outcome is not known yet */
        if (st == 409 && code && strcmp(code, "idempotency_key_in_flight") == 0)
            op->outcome = OF_LOAD_UNKNOWN;
        if (st == 202 && cid && strcmp(cid, op->command_id) != 0)
            l->res->id_mismatch++;
        json_decref(j);
    }
    l->res->count[op->outcome]++;
    atomic_fetch_add(&l->completed, 1);
    curl_slist_free_all(x->hdrs);
    curl_easy_cleanup(x->h);
    free(x->body);
    free(x);
}

/* res->ops is allocated once for every operation the run can send (and a
 * retry of each), so an op's address is stable while it is in flight. */
static struct of_load_op *new_op(struct of_load *l, enum of_load_kind kind)
{
    struct of_load_result *r = l->res;
    struct of_load_op *op;
    char key[sizeof(op->key)];

    if (r->n == l->cap)
        return NULL;
    op = &r->ops[r->n];
    memset(op, 0, sizeof(*op));
    op->seq = (int64_t)r->n;
    op->kind = kind;
    if (op->kind != OF_LOAD_CREATE)
        op->target = l->spec.targets[next_rand(&l->rng) % l->spec.ntargets];
    else
        op->cents = 1 + (int64_t)(next_rand(&l->rng) % 9999999);
    if (op->kind != OF_LOAD_READ) {
        snprintf(key, sizeof(key), "%.40s-%" PRId64, l->prefix, op->seq);
        name_op(l, op, key);
    }
    r->n++;
    return op;
}

static int send_op(struct of_load *l, CURLM *m, struct of_load_op *op,
                   int64_t t0)
{
    int64_t now = now_us();
    struct xfer *x;

    op->start_us = now - t0;
    op->latency_us = now; /* finish() turns this into the latency */
    x = make_xfer(l, op);
    if (!x)
        return -1;
    curl_multi_add_handle(m, x->h);
    return 0;
}

/* Reap finished transfers. @returns how many finished. */
static int reap(struct of_load *l, CURLM *m)
{
    CURLMsg *msg;
    int left, n = 0, running;

    curl_multi_perform(m, &running);
    while ((msg = curl_multi_info_read(m, &left))) {
        struct xfer *x = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURLcode rc = msg->data.result;
        CURL *h = msg->easy_handle;
        curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(m, h);
        finish(l, x, rc);
        n++;
    }
    return n;
}

/* Send each unknown write of the run once more with the same key and body
 * (the contract says that yields the one command, whatever happened to the
 * first attempt), one after another, and wait for every answer. */
static void retry_unknown(struct of_load *l, CURLM *m, int64_t t0)
{
    struct of_load_result *r = l->res;
    size_t n0 = r->n;
    int inflight = 0;

    for (size_t i = 0; i < n0; i++) {
        struct of_load_op *o = &r->ops[i], *op;
        if (o->outcome != OF_LOAD_UNKNOWN || o->kind == OF_LOAD_READ ||
            o->retried)
            continue;
        if (!(op = new_op(l, o->kind)))
            break;
        o = &r->ops[i]; /* new_op does not move ops, but be plain about it */
        o->retried = 1;
        op->target = o->target;
        op->cents = o->cents;
        name_op(l, op, o->key);
        if (send_op(l, m, op, t0) == 0)
            inflight++;
    }
    while (inflight > 0) {
        inflight -= reap(l, m);
        if (inflight > 0)
            curl_multi_poll(m, NULL, 0, 50, NULL);
    }
}

void of_load_retry_unknown(const struct of_load_spec *spec,
                           struct of_load_result *r)
{
    struct of_load l = {.spec = *spec, .res = r};
    size_t unknown = 0;
    CURLM *m;

    for (size_t i = 0; i < r->n; i++)
        unknown += r->ops[i].outcome == OF_LOAD_UNKNOWN && !r->ops[i].retried;
    l.cap = r->n + unknown;
    struct of_load_op *ops = realloc(r->ops, (l.cap ? l.cap : 1) * sizeof(*ops));
    if (!ops)
        return;
    r->ops = ops;
    snprintf(l.auth, sizeof(l.auth), "%s", spec->auth);
    snprintf(l.principal, sizeof(l.principal), "%s", spec->principal);
    l.spec.auth = l.auth;
    l.spec.principal = l.principal;
    if (l.spec.timeout_ms <= 0)
        l.spec.timeout_ms = 15000;
    m = curl_multi_init();
    retry_unknown(&l, m, now_us());
    curl_multi_cleanup(m);
}

static void *run(void *arg)
{
    struct of_load *l = arg;
    struct of_load_result *r = l->res;
    CURLM *m = curl_multi_init();
    int64_t t0 = now_us(), end = t0 + (int64_t)(l->spec.duration_s * 1e6);
    int64_t sent = 0, window = t0, done_in_window = 0;
    int inflight = 0, done;

    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    r->started_us = (int64_t)wall.tv_sec * 1000000 + wall.tv_nsec / 1000;
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)l->spec.max_inflight);
    for (;;) {
        int64_t now = now_us();
        int stopping = atomic_load(&l->stop) || now >= end ||
                       (l->spec.max_ops && sent >= l->spec.max_ops);

        while (!stopping &&
               t0 + (int64_t)((double)sent * 1e6 / l->spec.rate) <= now &&
               !(l->spec.max_ops && sent >= l->spec.max_ops)) {
            sent++;
            struct of_load_op *op;
            if (inflight >= l->spec.max_inflight || !(op = new_op(l, pick_kind(l)))) {
                r->skipped++;
                continue;
            }
            if (send_op(l, m, op, t0) == 0)
                inflight++;
        }
        if (stopping && inflight == 0)
            break;
        done = reap(l, m);
        inflight -= done;
        done_in_window += done;
        now = now_us();
        while (now - window >= 1000000) {
            if (done_in_window == 0 && inflight > 0)
                r->stalled_windows++;
            done_in_window = 0;
            window += 1000000;
        }
        int64_t next = t0 + (int64_t)((double)sent * 1e6 / l->spec.rate);
        int wait_ms = stopping ? 50 : (int)((next - now) / 1000);
        if (wait_ms > 50)
            wait_ms = 50;
        if (wait_ms > 0)
            curl_multi_poll(m, NULL, 0, wait_ms, NULL);
    }

    if (l->spec.retry_unknown)
        retry_unknown(l, m, t0);
    curl_multi_cleanup(m);
    r->elapsed_s = (double)(now_us() - t0) / 1e6;
    return NULL;
}

struct of_load *of_load_start(const struct of_load_spec *spec)
{
    struct of_load *l = calloc(1, sizeof(*l));
    size_t expect;

    if (!l)
        return NULL;
    l->spec = *spec;
    if (l->spec.max_inflight <= 0)
        l->spec.max_inflight = 1000;
    if (l->spec.timeout_ms <= 0)
        l->spec.timeout_ms = 15000;
    if (l->spec.rate <= 0)
        l->spec.rate = 1;
    snprintf(l->auth, sizeof(l->auth), "%s", spec->auth);
    snprintf(l->principal, sizeof(l->principal), "%s", spec->principal);
    snprintf(l->prefix, sizeof(l->prefix), "%s",
             spec->key_prefix ? spec->key_prefix : "load");
    l->spec.auth = l->auth;
    l->spec.principal = l->principal;
    l->spec.key_prefix = l->prefix;
    l->rng = (unsigned)now_us();
    expect = (size_t)ceil(l->spec.rate * l->spec.duration_s) + 16;
    l->cap = expect * 2;
    l->res = calloc(1, sizeof(*l->res));
    if (l->res)
        l->res->ops = calloc(l->cap, sizeof(*l->res->ops));
    if (!l->res || !l->res->ops ||
        pthread_create(&l->thread, NULL, run, l) != 0) {
        if (l->res)
            free(l->res->ops);
        free(l->res);
        free(l);
        return NULL;
    }
    return l;
}

void of_load_stop(struct of_load *l)
{
    atomic_store(&l->stop, 1);
}

long of_load_completed(const struct of_load *l)
{
    return atomic_load(&((struct of_load *)l)->completed);
}

struct of_load_result *of_load_join(struct of_load *l)
{
    struct of_load_result *r;

    pthread_join(l->thread, NULL);
    r = l->res;
    free(l);
    return r;
}

int of_load_merge(struct of_load_result *all,
                  struct of_load_result *const *parts, int n)
{
    size_t total = 0;

    memset(all, 0, sizeof(*all));
    for (int i = 0; i < n; i++)
        total += parts[i]->n;
    all->ops = calloc(total ? total : 1, sizeof(*all->ops));
    if (!all->ops)
        return -1;
    for (int i = 0; i < n; i++) {
        const struct of_load_result *r = parts[i];
        memcpy(all->ops + all->n, r->ops, r->n * sizeof(*all->ops));
        all->n += r->n;
        for (int k = 0; k < 3; k++)
            all->count[k] += r->count[k];
        all->skipped += r->skipped;
        all->id_mismatch += r->id_mismatch;
        all->stalled_windows += r->stalled_windows;
        if (!all->started_us || r->started_us < all->started_us)
            all->started_us = r->started_us;
        if (r->elapsed_s > all->elapsed_s)
            all->elapsed_s = r->elapsed_s;
    }
    return 0;
}

void of_load_free(struct of_load_result *r)
{
    if (!r)
        return;
    free(r->ops);
    free(r);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

double of_load_percentile(const struct of_load_result *r, int kind,
                          long status, double p)
{
    int64_t *v = malloc((r->n ? r->n : 1) * sizeof(*v));
    size_t n = 0;
    double out = -1;

    if (!v)
        return -1;
    for (size_t i = 0; i < r->n; i++) {
        const struct of_load_op *op = &r->ops[i];
        if ((kind < 0 || (int)op->kind == kind) &&
            (status == 0 || op->status == status))
            v[n++] = op->latency_us;
    }
    if (n) {
        qsort(v, n, sizeof(*v), cmp_i64);
        size_t at = (size_t)ceil(p / 100.0 * (double)n);
        at = at ? at - 1 : 0;
        out = (double)v[at < n ? at : n - 1] / 1000.0;
    }
    free(v);
    return out;
}

void of_load_print(const struct of_load_result *r, FILE *f)
{
    fprintf(f,
            "load: %zu operations in %.1f s (%.0f/s): %ld ok, %ld fail, "
            "%ld unknown; %ld not sent (in-flight cap), %ld stalled 1-s "
            "windows, %ld command-id mismatches\n",
            r->n, r->elapsed_s, r->elapsed_s > 0 ? (double)r->n / r->elapsed_s : 0,
            r->count[OF_LOAD_OK], r->count[OF_LOAD_FAIL],
            r->count[OF_LOAD_UNKNOWN], r->skipped, r->stalled_windows,
            r->id_mismatch);
    for (int k = 0; k < OF_LOAD_KINDS; k++) {
        long statuses[16] = {0}, counts[16] = {0};
        int ns = 0;
        for (size_t i = 0; i < r->n; i++) {
            if ((int)r->ops[i].kind != k)
                continue;
            int j;
            for (j = 0; j < ns && statuses[j] != r->ops[i].status; j++)
                ;
            if (j == ns && ns < 16)
                statuses[ns++] = r->ops[i].status;
            if (j < 16)
                counts[j]++;
        }
        for (int j = 0; j < ns; j++)
            fprintf(f,
                    "load:   %-6s %3ld: %6ld  p50 %7.2f ms  p99 %7.2f ms  "
                    "max %8.2f ms\n",
                    kind_names[k], statuses[j], counts[j],
                    of_load_percentile(r, k, statuses[j], 50),
                    of_load_percentile(r, k, statuses[j], 99),
                    of_load_percentile(r, k, statuses[j], 100));
    }
}

int of_load_write_log(const struct of_load_result *r, const char *path)
{
    FILE *f = fopen(path, "w");

    if (!f)
        return -1;
    fprintf(f, "# started_us %" PRId64 "\n", r->started_us);
    fprintf(f, "# seq kind outcome status key command_id target cents "
               "start_us latency_us error\n");
    for (size_t i = 0; i < r->n; i++) {
        const struct of_load_op *o = &r->ops[i];
        fprintf(f,
                "%" PRId64 " %s %s %ld %s %s %" PRId64 " %" PRId64 " %" PRId64
                " %" PRId64 " %s\n",
                o->seq, kind_names[o->kind], outcome_names[o->outcome],
                o->status, o->key[0] ? o->key : "-",
                o->command_id[0] ? o->command_id : "-", o->target, o->cents,
                o->start_us, o->latency_us, o->error[0] ? o->error : "-");
    }
    return fclose(f) == 0 ? 0 : -1;
}

static int name_index(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

struct of_load_result *of_load_read_log(const char *path)
{
    FILE *f = fopen(path, "r");
    struct of_load_result *r = calloc(1, sizeof(*r));
    char line[1024], kind[16], outc[16], key[64], cid[40], error[64];
    size_t cap = 0;

    if (!f || !r) {
        if (f)
            fclose(f);
        free(r);
        return NULL;
    }
    while (fgets(line, sizeof(line), f)) {
        struct of_load_op o = {0};
        int k, oc;
        if (sscanf(line, "# started_us %" SCNd64, &r->started_us) == 1)
            continue;
        if (line[0] == '#')
            continue;
        if (sscanf(line,
                   "%" SCNd64 " %15s %15s %ld %63s %39s %" SCNd64 " %" SCNd64
                   " %" SCNd64 " %" SCNd64 " %63[^\n]",
                   &o.seq, kind, outc, &o.status, key, cid, &o.target,
                   &o.cents, &o.start_us, &o.latency_us, error) != 11 ||
            (k = name_index(kind_names, OF_LOAD_KINDS, kind)) < 0 ||
            (oc = name_index(outcome_names, 3, outc)) < 0)
            goto bad;
        o.kind = (enum of_load_kind)k;
        o.outcome = (enum of_load_outcome)oc;
        snprintf(o.key, sizeof(o.key), "%s", strcmp(key, "-") ? key : "");
        snprintf(o.command_id, sizeof(o.command_id), "%s",
                 strcmp(cid, "-") ? cid : "");
        snprintf(o.error, sizeof(o.error), "%s",
                 strcmp(error, "-") ? error : "");
        if (r->n == cap) {
            cap = cap ? cap * 2 : 1024;
            struct of_load_op *ops = realloc(r->ops, cap * sizeof(*ops));
            if (!ops)
                goto bad;
            r->ops = ops;
        }
        r->ops[r->n++] = o;
        r->count[o.outcome]++;
    }
    fclose(f);
    return r;
bad:
    fclose(f);
    of_load_free(r);
    return NULL;
}
