/*
 * TESTPLAN loads, short forms, on one private stack: L2 (reads from Redis,
 * then with Redis gone), L8 (idempotency storm), L5 (worker catch-up), L9
 * (outbox steady state and backlog), L10 (malformed HTTP stream) and L4
 * (overload). Each asserts its "holds when" outcomes (statuses, exactly
 * once, I1-I5 via of_check) and prints its figures on "# " lines; the
 * latency and throughput targets of TESTPLAN are printed, and asserted only
 * loosely (2x) where the machine is shared. L1 and L3 are separate tests.
 *
 * L4 is scaled down: TESTPLAN's 1,500 POST/s is more than this 2-core
 * machine's whole pipeline sustains (the API alone, with Kafka, MariaDB,
 * Redis, the worker and the generator beside it), so the API saturates on
 * CPU and answers late instead of failing fast on a full producer queue;
 * here 1,000/s across 21 API keys, one of them over its per-principal
 * limit. The full-queue 503 path is F6's (Kafka paused).
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "of_check.h"
#include "of_db.h"
#include "of_it.h"
#include "of_it_sys.h"
#include "of_load.h"

static struct of_it_sys s;
static int64_t seeds[50];

static int setup(void **state)
{
    (void)state;
    /* above L4's 700 connections at most (20 x 15 + 400) */
    of_it_sys_init(&s, "loads",
                   (const char *[]){"ORDERFLOW_API_PER_IP_CONNECTION_LIMIT=800",
                                    NULL});
    of_it_sys_up(&s);
    of_it_sys_orders(&s, 50, seeds);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    of_it_sys_down(&s);
    return 0;
}

/* \p retry: each write left unknown (no answer) is sent once more with the
 * same Idempotency-Key after the run (of_load_spec.retry_unknown). */
static struct of_load_result *run_r(double rate, double seconds,
                                    const int weight[OF_LOAD_KINDS],
                                    const char *prefix, int retry)
{
    struct of_load_spec spec = {
        .port = s.port, .auth = s.auth, .principal = s.principal,
        .user_id = s.user_id, .rate = rate, .duration_s = seconds,
        .targets = seeds, .ntargets = 50, .key_prefix = prefix,
        .retry_unknown = retry};
    if (weight)
        memcpy(spec.weight, weight, sizeof(spec.weight));
    struct of_load *l = of_load_start(&spec);
    assert_non_null(l);
    struct of_load_result *r = of_load_join(l);
    of_load_print(r, stdout);
    return r;
}

static struct of_load_result *run(double rate, double seconds,
                                  const int weight[OF_LOAD_KINDS],
                                  const char *prefix)
{
    return run_r(rate, seconds, weight, prefix, 0);
}

static void check(const struct of_load_result *r, int wait_s)
{
    struct of_check c;
    struct of_check_opts o = {.wait_s = wait_s};
    int rc = of_check_run(s.cfg, r, &o, &c);
    of_check_print(&c, stdout);
    if (rc != 0)
        of_it_sys_logs(&s, 20);
    assert_int_equal(rc, 0);
}

static long db_count(const char *sql, int64_t arg)
{
    return (long)of_it_db_count(&s, sql, arg);
}

/* ---- L2: GET from Redis, and with Redis gone ---- */
static void l2_reads(void **state)
{
    static const int reads[OF_LOAD_KINDS] = {[OF_LOAD_READ] = 1};
    (void)state;

    struct of_load_result *r = run(500, 10, reads, "l2a");
    double p99_redis = of_load_percentile(r, OF_LOAD_READ, 200, 99);
    assert_int_equal(r->count[OF_LOAD_OK], (long)r->n);
    of_load_free(r);

    of_it_node_kill("redis");
    r = run(200, 10, reads, "l2b");
    double p99_mysql = of_load_percentile(r, OF_LOAD_READ, 200, 99);
    long ok = r->count[OF_LOAD_OK];
    size_t n = r->n;
    of_load_free(r);
    of_it_node_start("redis");
    of_it_sh("'%s/orderflowctl' --config /dev/null rebuild-read-model --all "
             ">/dev/null",
             s.bin);
    printf("# L2: GET p99 %.2f ms from Redis at 500/s (target 10 ms); "
           "%.2f ms from the MySQL fallback with Redis killed, 200/s "
           "(target 50 ms)\n",
           p99_redis, p99_mysql);
    assert_int_equal(ok, (long)n);
    /* Latency is the benchmark's to judge (TESTPLAN: printed, not timed
     * in tests); these bounds only catch a read path gone badly wrong on a
     * 2-core machine that is running the whole stack and the generator. */
    assert_true(p99_redis <= 250.0);
    assert_true(p99_mysql <= 500.0);
}

/* ---- L8: idempotency storm ---- */
static void l8_idempotency_storm(void **state)
{
    enum { ROUNDS = 20, N = 50 };
    char key[64], hkey[96], body[160];
    long statuses[N];
    char *out[N];
    char ids[ROUNDS][40];
    long replays = 0, in_flight = 0;
    (void)state;

    long before = db_count("SELECT COUNT(*) FROM orders WHERE user_id = ?",
                           s.user_id);
    for (int round = 0; round < ROUNDS; round++) {
        of_it_unique(key, sizeof(key), "l8");
        snprintf(hkey, sizeof(hkey), "Idempotency-Key: %s", key);
        snprintf(body, sizeof(body),
                 "{\"user_id\":%" PRId64 ",\"order_type\":\"vip\","
                 "\"total_amount\":\"%d.00\"}",
                 s.user_id, round + 1);
        const char *h[] = {s.auth, "Content-Type: application/json", hkey,
                           NULL};
        of_it_http_many(s.port, N, "POST", "/v1/orders", h, body, NULL,
                        statuses, out);
        ids[round][0] = '\0';
        int accepted = 0;
        for (int i = 0; i < N; i++) {
            if (statuses[i] == 202) {
                json_t *j = json_loads(out[i], 0, NULL);
                const char *cid =
                    json_string_value(json_object_get(j, "command_id"));
                assert_non_null(cid);
                if (!ids[round][0])
                    snprintf(ids[round], sizeof(ids[0]), "%s", cid);
                assert_string_equal(cid, ids[round]); /* one command */
                json_decref(j);
                if (accepted++)
                    replays++;
            } else if (statuses[i] == 409) {
                in_flight++;
            } else {
                fail_msg("round %d: %ld %s", round, statuses[i], out[i]);
            }
            free(out[i]);
        }
        assert_true(accepted >= 1);
    }
    /* exactly 20 commands: 20 more orders once they are applied */
    long after = before;
    for (int i = 0; i < 100 && after != before + ROUNDS; i++) {
        usleep(100000);
        after = db_count("SELECT COUNT(*) FROM orders WHERE user_id = ?",
                         s.user_id);
    }
    printf("# L8: %d rounds x %d: %d commands, %ld replayed 202s, %ld 409 "
           "in flight\n",
           ROUNDS, N, (int)(after - before), replays, in_flight);
    assert_int_equal(after - before, ROUNDS);
}

/* ---- L5: worker catch-up ---- */
static void l5_worker_catch_up(void **state)
{
    enum { QUEUED = 3000 };
    (void)state;

    assert_int_equal(of_it_sys_stop(&s, OF_IT_WORKER, SIGTERM, 15), 0);
    /* 1,000/s on a machine busy with other tests can meet the API's
     * connection limit: a refused connection is retried with the same key,
     * as a client would (F6, F9); L5 is about the worker's catch-up */
    struct of_load_result *r = run_r(1000, QUEUED / 1000.0, NULL, "l5", 1);
    long retried = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (r->ops[i].outcome == OF_LOAD_UNKNOWN) {
            assert_true(r->ops[i].retried);
            retried++;
        }
    }
    assert_int_equal(r->count[OF_LOAD_FAIL], 0);
    assert_int_equal(r->count[OF_LOAD_OK] + retried, (long)r->n); /* every retry ok */
    if (retried > 0)
        printf("# L5: %ld writes without an answer, each retried once: ok\n",
               retried);
    long long t0 = of_it_now_us();
    of_it_sys_start(&s, OF_IT_WORKER);
    of_it_wait_caught_up(s.cfg, getenv("ORDERFLOW_WORKER_GROUP_ID"),
                         s.cfg->topics.order_commands, 120);
    double secs = (double)(of_it_now_us() - t0) / 1e6;
    long queued = r->count[OF_LOAD_OK];
    printf("# L5: %ld queued commands applied by one worker in %.1f s: "
           "%.0f/s (target 400/s, 30 s for 10,000)\n",
           queued, secs, (double)queued / secs);
    check(r, 10);
    assert_true((double)queued / secs >= 100.0);
    of_load_free(r);
}

/* ---- L9: outbox, steady and backlog ---- */
struct ages {
    int64_t *v;
    size_t n, cap;
};

static int age_cb(void *a, int c, char **v, const unsigned long *l)
{
    struct ages *g = a;
    (void)c;
    (void)l;
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 1024;
        g->v = realloc(g->v, g->cap * sizeof(*g->v));
    }
    g->v[g->n++] = v[0] ? strtoll(v[0], NULL, 10) : INT64_MAX;
    return 0;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void l9_outbox(void **state)
{
    struct of_err err;
    struct ages g = {0};
    (void)state;

    long first = db_count("SELECT COALESCE(MAX(id), 0) FROM outbox WHERE ? = 1", 1);
    struct of_load_result *r = run(100, 10, NULL, "l9a");
    check(r, 10);
    of_load_free(r);
    struct of_db *db = of_db_open(s.cfg, &err);
    assert_non_null(db);
    assert_int_equal(of_db_query(db,
                                 "SELECT TIMESTAMPDIFF(MICROSECOND, created_at, "
                                 "published_at) FROM outbox WHERE id > ?",
                                 (struct of_db_param[]){OF_DB_I(first)}, 1,
                                 age_cb, &g, &err),
                     OF_OK);
    of_db_close(db);
    assert_true(g.n >= 900);
    qsort(g.v, g.n, sizeof(*g.v), cmp64);
    double p99 = (double)g.v[g.n * 99 / 100] / 1e6;
    free(g.v);

    /* backlog: the relay stopped while changes pile up. Up to three
     * 3-second rounds at 1,000/s until 2,500 rows wait: on a machine busy
     * with another test's stack, Kafka's acks slow down, the API's
     * connections fill up and part of a round is refused (a CI run got
     * 2,497 of 2,989) -- the drain rate is what is measured here. */
    assert_int_equal(of_it_sys_stop(&s, OF_IT_OUTBOX, SIGTERM, 15), 0);
    struct of_load_result *rounds[3];
    static const char *const prefixes[] = {"l9b", "l9c", "l9d"};
    struct of_check_opts o = {.wait_s = 10, .skip_events = 1};
    struct of_check c;
    long backlog = 0;
    int nrounds = 0;
    while (nrounds < 3 && backlog < 2500) {
        rounds[nrounds] = run(1000, 3, NULL, prefixes[nrounds]);
        assert_int_equal(of_check_run(s.cfg, rounds[nrounds], &o, &c), 0);
        nrounds++;
        backlog = db_count("SELECT COUNT(*) FROM outbox WHERE published_at "
                           "IS NULL AND ? = 1", 1);
    }
    long long t0 = of_it_now_us();
    of_it_sys_start(&s, OF_IT_OUTBOX);
    long left = backlog;
    while (left > 0 && of_it_now_us() - t0 < 60000000LL) {
        usleep(100000);
        left = db_count("SELECT COUNT(*) FROM outbox WHERE published_at IS "
                        "NULL AND ? = 1", 1);
    }
    double secs = (double)(of_it_now_us() - t0) / 1e6;
    printf("# L9: steady 100 changes/s: oldest-unpublished age p99 %.3f s "
           "(target 1 s); backlog of %ld (%d round%s) drained in %.1f s: "
           "%.0f events/s (target 1,000/s)\n",
           p99, backlog, nrounds, nrounds == 1 ? "" : "s", secs,
           (double)backlog / secs);
    assert_int_equal(left, 0);
    assert_true(backlog >= 2500);
    assert_true(p99 <= 2.0);
    for (int i = 0; i < nrounds; i++) {
        check(rounds[i], 20); /* and every event is on the topic, in order */
        of_load_free(rounds[i]);
    }
}

/* ---- L10: malformed HTTP stream ---- */
static unsigned rnd(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 8) & 0xffffff;
}

/* A request broken in one of several ways, into buf; @returns its length. */
static size_t malformed(unsigned *seed, char *buf, size_t cap, const char *auth)
{
    static const char *const methods[] = {"POST", "GET", "PUT", "BREW", "",
                                          "P\x01ST", "DELETE"};
    static const char *const versions[] = {"HTTP/1.1", "HTTP/1.0", "HTTP/9.9",
                                           "HTTX/1.1", "", "HTTP/1.1\x7f"};
    static const char *const paths[] = {
        "/v1/orders", "/v1/orders/1", "/v1/orders/%00", "/v1/orders/../../etc",
        "/v1/orders/1;2", "*", "/v1/users/%ff%fe", "/v1/orders/1/pay"};
    char body[512];
    size_t n;
    int kind = (int)(rnd(seed) % 8);

    snprintf(body, sizeof(body),
             "{\"user_id\":1,\"order_type\":\"vip\",\"total_amount\":\"1.00\"}");
    const char *m = methods[rnd(seed) % 7];
    const char *v = versions[rnd(seed) % 6];
    const char *p = paths[rnd(seed) % 8];
    switch (kind) {
    case 0: /* a bad Content-Length */
        n = (size_t)snprintf(buf, cap,
                             "%s %s %s\r\nHost: x\r\n%s\r\nContent-Length: "
                             "%s\r\n\r\n%s",
                             m, p, v, auth,
                             rnd(seed) % 2 ? "-1" : "18446744073709551616",
                             body);
        break;
    case 1: /* a broken chunked body */
        n = (size_t)snprintf(buf, cap,
                             "%s %s %s\r\nHost: x\r\n%s\r\nTransfer-Encoding: "
                             "chunked\r\nContent-Type: application/json\r\n\r\n"
                             "zz\r\n%s\r\n0\r\n\r\n",
                             m, p, v, auth, body);
        break;
    case 2: /* a header without a colon, and bare LFs */
        n = (size_t)snprintf(buf, cap,
                             "%s %s %s\nHost x\n%s\nContent-Length: %zu\n\n%s",
                             m, p, v, auth, strlen(body), body);
        break;
    default: { /* a valid request with random bytes flipped */
        n = (size_t)snprintf(buf, cap,
                             "POST /v1/orders HTTP/1.1\r\nHost: x\r\n%s\r\n"
                             "Content-Type: application/json\r\n"
                             "Content-Length: %zu\r\n\r\n%s",
                             auth, strlen(body), body);
        int flips = 1 + (int)(rnd(seed) % 4);
        for (int i = 0; i < flips; i++)
            buf[rnd(seed) % n] = (char)(rnd(seed) & 0xff);
        break;
    }
    }
    return n < cap ? n : cap - 1;
}

static void l10_malformed_stream(void **state)
{
    enum { REQUESTS = 2000, RATE = 200 };
    unsigned seed = 12345;
    char req[4096], resp[256];
    long answered = 0, closed = 0, invalid = 0, statuses[6] = {0};
    long server_errors = 0;
    (void)state;

    long rss0 = of_it_rss_kib(s.pid[OF_IT_API]);
    long long t0 = of_it_now_us();
    for (int i = 0; i < REQUESTS; i++) {
        long long due = t0 + (long long)i * 1000000 / RATE;
        long long now = of_it_now_us();
        if (due > now)
            usleep((useconds_t)(due - now));
        size_t n = malformed(&seed, req, sizeof(req), s.auth);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)s.port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        if (write(fd, req, n) < 0) { /* reset while writing: no answer */
            close(fd);
            closed++;
            continue;
        }
        shutdown(fd, SHUT_WR);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t got = 0;
        /* MHD answers a broken request at once; one it still reads (a
         * body shorter than its Content-Length) gets no answer: 500 ms */
        if (poll(&pfd, 1, 500) == 1)
            got = read(fd, resp, sizeof(resp) - 1);
        close(fd);
        if (got <= 0) {
            closed++;
            continue;
        }
        resp[got] = '\0';
        int st = 0;
        if (sscanf(resp, "HTTP/1.%*1[01] %3d ", &st) != 1 || st < 100 ||
            st > 599) {
            invalid++;
            fprintf(stderr, "not HTTP: %.60s\n", resp);
            continue;
        }
        answered++;
        statuses[st / 100]++;
        if (st >= 500 && st != 505) /* 505: MHD's answer to HTTP/9.9 */
            fprintf(stderr, "L10: %d for: %.80s\n", st, req);
        server_errors += st >= 500 && st != 505;
    }
    double secs = (double)(of_it_now_us() - t0) / 1e6;
    sleep(2);
    long rss1 = of_it_rss_kib(s.pid[OF_IT_API]);
    printf("# L10: %d malformed requests in %.1f s: %ld valid HTTP answers "
           "(2xx %ld, 4xx %ld, 5xx %ld), %ld closed without an answer, %ld "
           "invalid; API RSS %ld -> %ld KiB\n",
           REQUESTS, secs, answered, statuses[2], statuses[4], statuses[5],
           closed, invalid, rss0, rss1);
    assert_int_equal(invalid, 0);
    assert_int_equal(server_errors, 0);
    assert_true(answered >= REQUESTS / 2);
    assert_int_equal(kill(s.pid[OF_IT_API], 0), 0); /* no crash */
    assert_true(labs(rss1 - rss0) <= 8 * 1024);
    of_it_wait_http(s.port, 5);
}

/* ---- L4: overload ---- */
static void l4_overload(void **state)
{
    enum { KEYS = 21 };
    struct of_load_spec spec[KEYS];
    struct of_load *l[KEYS];
    struct of_load_result *r[KEYS];
    static char auth[KEYS][160], principal[KEYS][64], prefix[KEYS][32];
    (void)state;

    /* the API again, with per-principal limits and a small producer queue */
    assert_int_equal(of_it_sys_stop(&s, OF_IT_API, SIGTERM, 15), 0);
    setenv("ORDERFLOW_API_RATE_LIMIT_PER_S", "200", 1);
    setenv("ORDERFLOW_KAFKA_QUEUE_BUFFERING_MAX_MESSAGES", "2000", 1);
    of_it_sys_start(&s, OF_IT_API);
    for (int i = 0; i < KEYS; i++) {
        char name[48], cmd[700], key[128] = "";
        of_it_unique(name, sizeof(name), "l4key");
        snprintf(cmd, sizeof(cmd),
                 "'%s/orderflowctl' --config /dev/null apikey create --name %s "
                 "--role service",
                 s.bin, name);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        assert_non_null(fgets(key, sizeof(key), p));
        pclose(p);
        key[strcspn(key, "\r\n")] = '\0';
        snprintf(auth[i], sizeof(auth[i]), "X-API-Key: %s", key);
        snprintf(principal[i], sizeof(principal[i]), "apikey:%s", name);
        snprintf(prefix[i], sizeof(prefix[i]), "l4-%d", i);
        spec[i] = (struct of_load_spec){
            .port = s.port, .auth = auth[i], .principal = principal[i],
            /* the heavy key may have a second of answers in flight, so
             * that it really offers 400/s when a busy machine slows the
             * API (with 100 it offered ~200/s at 460 ms and met no limit) */
            .user_id = s.user_id, .rate = i < KEYS - 1 ? 30 : 400,
            .duration_s = 10, .max_inflight = i < KEYS - 1 ? 15 : 400,
            .timeout_ms = 20000,
            .key_prefix = prefix[i]};
    }
    for (int i = 0; i < KEYS; i++)
        assert_non_null(l[i] = of_load_start(&spec[i]));
    for (int i = 0; i < KEYS; i++)
        r[i] = of_load_join(l[i]);
    /* one log of everything, for the statuses and the checker */
    struct of_load_result all;
    assert_int_equal(of_load_merge(&all, r, KEYS), 0);
    of_load_print(&all, stdout);
    long n429_heavy = 0, unexpected = 0;
    for (size_t i = 0; i < all.n; i++) {
        long st = all.ops[i].status;
        if (st != 202 && st != 429 && st != 503)
            unexpected++;
    }
    for (size_t i = 0; i < r[KEYS - 1]->n; i++)
        n429_heavy += r[KEYS - 1]->ops[i].status == 429;
    double p99_503 = of_load_percentile(&all, OF_LOAD_CREATE, 503, 99);
    for (int i = 0; i < KEYS; i++)
        of_load_free(r[i]);

    /* back to L1 latency within 10 s */
    sleep(5);
    setenv("ORDERFLOW_API_RATE_LIMIT_PER_S", "0", 1);
    struct of_load_result *after = run(100, 5, NULL, "l4after");
    double p99_after = of_load_percentile(after, OF_LOAD_CREATE, 202, 99);
    printf("# L4: 1,000 POST/s offered for 10 s (20 keys x 30/s + 1 x 400/s): "
           "%ld unexpected statuses; the 400/s key got %ld 429s; 503 p99 %.1f "
           "ms (target 50); 5 s later 202 p99 %.1f ms (target 150)\n",
           unexpected, n429_heavy, p99_503, p99_after);
    assert_int_equal(unexpected, 0);
    assert_true(n429_heavy >= 300); /* it offers 400/s against 200/s */
    assert_true(p99_503 < 0 || p99_503 <= 200.0);
    assert_int_equal(after->count[OF_LOAD_OK], (long)after->n);
    assert_true(p99_after <= 1000.0); /* loose: a shared 2-core machine */
    check(&all, 30); /* no 202 lost, no 429 or 503 applied */
    free(all.ops);
    of_load_free(after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(l2_reads),
        cmocka_unit_test(l8_idempotency_storm),
        cmocka_unit_test(l5_worker_catch_up),
        cmocka_unit_test(l9_outbox),
        cmocka_unit_test(l10_malformed_stream),
        cmocka_unit_test(l4_overload),
    };
    if (getenv("ORDERFLOW_TEST_FILTER")) /* e.g. "l2_*" */
        cmocka_set_test_filter(getenv("ORDERFLOW_TEST_FILTER"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
