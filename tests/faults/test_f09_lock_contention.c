/*
 * TESTPLAN F9: lock contention.
 *
 * 1. Pay and cancel the same order, 100 rounds (100 orders, the pair sent
 *    at once, in either order), with two command workers A and B in the
 *    group. Kafka's keyed partitions hand one order's commands to one
 *    member of a group in order, so A and B race only across partitions;
 *    to make the two transitions of one order really race for its row, a
 *    third worker C consumes the same topics in a group of its own and
 *    applies every command a second time, concurrently (what a zombie or a
 *    replay does). Holds when every order ends exactly one of paid or
 *    cancelled at version 2, with exactly one of its two commands applied
 *    and the other rejected (invalid_transition), of_check's I1-I5 hold
 *    (I2 replays each order's commands in delivery order), and C's copy
 *    of each command changed nothing (it counts as a duplicate).
 * 2. An outside session holds SELECT ... FOR UPDATE on an order's row for
 *    15 s (60 s with ORDERFLOW_FAULT_LONG=1; ORDERFLOW_FAULT_LOCK_S sets
 *    any other length) while a pay and then a cancel for it arrive. The
 *    worker's innodb_lock_wait_timeout is 10 s: its lock-wait timeouts are
 *    retried (its log and retry counter say so), nothing is dead-lettered,
 *    nothing for the order is committed while the lock is held, and the
 *    pay is applied (the cancel rejected) soon after it is released (the
 *    delay is printed).
 * All with innodb_snapshot_isolation OFF, the MariaDB 10.11 default
 * (checked and printed).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "fault_mariadb.h"
#include "of_check.h"
#include "of_db.h"
#include "of_it.h"
#include "of_it_sys.h"
#include "of_load.h"
#include "of_uuid.h"

#define ROUNDS 100
#define BATCH  10 /* rounds sent at once: 20 requests in flight */
#define NWORK  3  /* A, B (the group), C (a group of its own) */

static const char *const work_name[NWORK] = {"A", "B", "C"};

/* ---- sending: our own ops, logged as of_load would log them ---- */

struct sent {
    CURL *h;
    struct curl_slist *hdrs;
    char *resp;
    size_t len;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct sent *x = arg;
    char *p = realloc(x->resp, x->len + size * n + 1);

    if (!p)
        return 0;
    memcpy(p + x->len, data, size * n);
    x->len += size * n;
    p[x->len] = '\0';
    x->resp = p;
    return size * n;
}

/* A pay or cancel of \p target with key "<prefix>-<kind>-<n>". */
static void make_op(struct of_load_op *op,
                    const struct of_it_sys *s,
                    enum of_load_kind kind,
                    int64_t target,
                    const char *prefix,
                    int n)
{
    char name[256];

    memset(op, 0, sizeof(*op));
    op->kind = kind;
    op->target = target;
    snprintf(op->key, sizeof(op->key), "%s-%s-%d", prefix,
             of_load_kind_name(kind), n);
    snprintf(name, sizeof(name), "%s\n%s", s->principal, op->key);
    of_uuid_v5(op->command_id, name, strlen(name)); /* CONTRACT §3 */
}

/* Sends \p n ops at once and records their outcomes. */
static void send_ops(const struct of_it_sys *s,
                     struct of_load_op *ops,
                     int n,
                     long *id_mismatch)
{
    CURLM *m = curl_multi_init();
    struct sent *x = calloc((size_t)n, sizeof(*x));
    int running = 0;

    assert_non_null(x);
    for (int i = 0; i < n; i++) {
        char url[256], key[128];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/orders/%lld/%s",
                 s->port, (long long)ops[i].target,
                 of_load_kind_name(ops[i].kind));
        snprintf(key, sizeof(key), "Idempotency-Key: %s", ops[i].key);
        x[i].hdrs = curl_slist_append(NULL, s->auth);
        x[i].hdrs =
            curl_slist_append(x[i].hdrs, "Content-Type: application/json");
        x[i].hdrs = curl_slist_append(x[i].hdrs, key);
        x[i].hdrs = curl_slist_append(x[i].hdrs, "Expect:");
        x[i].h = curl_easy_init();
        curl_easy_setopt(x[i].h, CURLOPT_URL, url);
        curl_easy_setopt(x[i].h, CURLOPT_HTTPHEADER, x[i].hdrs);
        curl_easy_setopt(x[i].h, CURLOPT_POSTFIELDS, "{}");
        curl_easy_setopt(x[i].h, CURLOPT_TIMEOUT, 20L);
        curl_easy_setopt(x[i].h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(x[i].h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(x[i].h, CURLOPT_WRITEDATA, &x[i]);
        curl_multi_add_handle(m, x[i].h);
    }
    do {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    } while (running);
    for (int i = 0; i < n; i++) {
        struct of_load_op *op = &ops[i];
        json_t *j = x[i].resp ? json_loads(x[i].resp, 0, NULL) : NULL;
        const char *code = json_string_value(
            json_object_get(json_object_get(j, "error"), "code"));
        const char *cid = json_string_value(json_object_get(j, "command_id"));
        curl_easy_getinfo(x[i].h, CURLINFO_RESPONSE_CODE, &op->status);
        /* as of_load classifies them */
        if (op->status == 202)
            op->outcome = OF_LOAD_OK;
        else if (op->status == 0 || (op->status >= 500 && op->status != 503) ||
                 (op->status == 409 && code &&
                  strcmp(code, "idempotency_key_in_flight") == 0))
            op->outcome = OF_LOAD_UNKNOWN;
        else
            op->outcome = OF_LOAD_FAIL;
        if (code)
            snprintf(op->error, sizeof(op->error), "%s", code);
        if (op->status == 202 && (!cid || strcmp(cid, op->command_id) != 0))
            (*id_mismatch)++;
        json_decref(j);
        curl_multi_remove_handle(m, x[i].h);
        curl_easy_cleanup(x[i].h);
        curl_slist_free_all(x[i].hdrs);
        free(x[i].resp);
    }
    free(x);
    curl_multi_cleanup(m);
}

/* A busy machine may cut a connection off (an unknown outcome): send
 * those again with the same key, as a client would, a few times. */
static void retry_unknown(const struct of_it_sys *s,
                          struct of_load_op *ops,
                          int n,
                          long *id_mismatch)
{
    for (int round = 0; round < 5; round++) {
        int left = 0;
        for (int i = 0; i < n; i++)
            left += ops[i].outcome == OF_LOAD_UNKNOWN;
        if (left == 0)
            return;
        if (round > 0)
            sleep(1); /* a 409 in flight waits for the first attempt */
        for (int i = 0; i < n; i++) {
            if (ops[i].outcome != OF_LOAD_UNKNOWN)
                continue;
            ops[i].retried = 1;
            send_ops(s, &ops[i], 1, id_mismatch);
        }
    }
}

/* ---- reading MySQL ---- */

static int64_t resource_of(const struct of_config *cfg, const char *cid)
{
    char v[64];

    if (fm_query(cfg, "SELECT resource_id FROM commands WHERE command_id = ?",
                 (struct of_db_param[]){OF_DB_S(cid)}, 1, v, sizeof(v)) != 1)
        return -1;
    return strtoll(v, NULL, 10);
}

struct round_row {
    char status[16];
    long version, applied, rejected;
};

static int round_cb(void *arg, int n, char **v, const unsigned long *l)
{
    struct round_row *rr = arg;
    (void)n;
    (void)l;
    snprintf(rr->status, sizeof(rr->status), "%s", v[0] ? v[0] : "");
    rr->version = v[1] ? strtol(v[1], NULL, 10) : -1;
    rr->applied = v[2] ? strtol(v[2], NULL, 10) : -1;
    rr->rejected = v[3] ? strtol(v[3], NULL, 10) : -1;
    return 1;
}

/* An order's status and version, and how many of its pays and cancels
 * were applied and rejected (invalid_transition). */
static void round_of(struct of_db *db, int64_t id, struct round_row *rr)
{
    struct of_err err;

    memset(rr, 0, sizeof(*rr));
    if (of_db_query(
            db,
            "SELECT o.order_status, o.version, "
            "(SELECT COUNT(*) FROM commands c WHERE c.resource_type = 'order' "
            " AND c.resource_id = o.order_id AND c.status = 'applied' "
            " AND c.command_type IN ('PayOrder', 'CancelOrder')), "
            "(SELECT COUNT(*) FROM commands c WHERE c.resource_type = 'order' "
            " AND c.resource_id = o.order_id AND c.status = 'rejected' "
            " AND c.error_code = 'invalid_transition' "
            " AND c.command_type IN ('PayOrder', 'CancelOrder')) "
            "FROM orders o WHERE o.order_id = ?",
            (struct of_db_param[]){OF_DB_I(id)}, 1, round_cb, rr,
            &err) != OF_OK)
        fail_msg("MySQL: %s", err.msg);
}

/* ---- the workers' figures ---- */

static double metric_sum(
    const int *ports, int from, int to, const char *name, const char *match)
{
    double sum = 0;

    for (int i = from; i < to; i++) {
        double v = fm_metric(ports[i], name, match);
        assert_true(v >= 0);
        sum += v;
    }
    return sum;
}

static long
log_sum(const struct of_it_sys *s, int from, int to, const char *needle)
{
    char path[700];
    long n = 0;

    for (int i = from; i < to; i++) {
        snprintf(path, sizeof(path), "%s/worker-%s.log", s->dir, work_name[i]);
        n += fm_log_count(path, needle);
    }
    return n;
}

static void print_logs(const struct of_it_sys *s)
{
    of_it_sys_logs(s, 20);
    for (int i = 0; i < NWORK; i++) {
        char cmd[800];
        snprintf(cmd, sizeof(cmd),
                 "echo '----- worker %s' >&2; grep -v ' debug ' "
                 "'%s/worker-%s.log' | tail -n 20 >&2",
                 work_name[i], s->dir, work_name[i]);
        if (system(cmd) < 0)
            break;
    }
}

/* Waits up to 30 s for \p group to be Stable with \p want members. */
static void
wait_members(const struct of_config *cfg, const char *group, int want)
{
    char desc[1024];
    int n = -1;

    for (int i = 0; i < 150; i++) {
        n = fm_members(cfg, group, desc, sizeof(desc));
        if (n == want && strncmp(desc, "Stable:", 7) == 0)
            return;
        usleep(200000);
    }
    fail_msg("group %s: %d member(s) (%s), wanted %d, Stable", group, n, desc,
             want);
}

static void lock_contention_settles_each_order_once(void **state)
{
    int long_form = fm_env_num("ORDERFLOW_FAULT_LONG", 0) > 0;
    double hold_s = fm_env_num("ORDERFLOW_FAULT_LOCK_S", long_form ? 60 : 15);
    struct of_it_sys s;
    struct of_check c;
    struct of_err err;
    char v[256], group2[200], status[64];
    int pid[NWORK], port[NWORK];
    int64_t ids[ROUNDS + 1];
    long id_mismatch = 0;
    (void)state;

    assert_true(hold_s > 10); /* outlasts innodb_lock_wait_timeout */
    of_it_sys_init(&s, "f9", NULL);
    fm_variable(s.cfg, "innodb_snapshot_isolation", v, sizeof(v));
    printf("# F9: innodb_snapshot_isolation = %s\n", v);
    assert_string_equal(v, "OFF");
    fm_variable(s.cfg, "version", v, sizeof(v));
    printf("# F9: MariaDB %s\n", v);

    const char *group = getenv("ORDERFLOW_WORKER_GROUP_ID");
    snprintf(group2, sizeof(group2), "%s-replay", group);
    for (int i = 0; i < NWORK; i++) {
        char log[64];
        snprintf(log, sizeof(log), "worker-%s.log", work_name[i]);
        port[i] = of_it_free_port();
        pid[i] = fm_spawn_worker(&s, log, port[i], i < 2 ? NULL : group2);
    }
    of_it_sys_start(&s, OF_IT_OUTBOX);
    of_it_sys_start(&s, OF_IT_API);
    wait_members(s.cfg, group, 2);
    wait_members(s.cfg, group2, 1);
    of_it_sys_user(&s);

    /* The orders: ROUNDS for the races, one more for the held lock. */
    struct of_load_spec spec = {.port = s.port,
                                .auth = s.auth,
                                .principal = s.principal,
                                .user_id = s.user_id,
                                .rate = 100,
                                .duration_s = 5,
                                .max_ops = ROUNDS + 1,
                                .key_prefix = "f9-create"};
    struct of_load *l = of_load_start(&spec);
    assert_non_null(l);
    struct of_load_result *cr = of_load_join(l);
    /* a busy machine may cut a connection off: the same key again */
    if (cr->count[OF_LOAD_UNKNOWN] > 0)
        of_load_retry_unknown(&spec, cr);
    of_load_print(cr, stdout);
    assert_int_equal(cr->count[OF_LOAD_FAIL], 0);
    int nids = 0;
    for (size_t i = 0; i < cr->n; i++) {
        if (cr->ops[i].outcome != OF_LOAD_OK)
            continue;
        assert_true(nids < ROUNDS + 1);
        assert_true(fm_wait_command(s.cfg, cr->ops[i].command_id, 30, status,
                                    sizeof(status)) >= 0);
        assert_string_equal(status, "applied");
        ids[nids] = resource_of(s.cfg, cr->ops[i].command_id);
        assert_true(ids[nids++] > 0);
    }
    assert_int_equal(nids, ROUNDS + 1);

    /* The log for of_check: the creates, then ours. */
    struct of_load_result *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->ops = calloc(cr->n + 2 * ROUNDS + 2, sizeof(*r->ops));
    assert_non_null(r->ops);
    memcpy(r->ops, cr->ops, cr->n * sizeof(*r->ops));
    memcpy(r->count, cr->count, sizeof(r->count));
    r->n = cr->n;
    const size_t ncreate = cr->n;
    of_load_free(cr);

    /* 1. The races: BATCH rounds at a time, the pair in either order. */
    double dup0 = metric_sum(port, 0, NWORK, "orderflow_worker_commands_total",
                             "outcome=\"duplicate\"");
    long waits0 = fm_status(s.cfg, "Innodb_row_lock_waits");
    long long t_rounds = of_it_now_us();
    for (int b = 0; b < ROUNDS; b += BATCH) {
        struct of_load_op *ops = &r->ops[r->n];
        int n = 0;
        for (int i = b; i < b + BATCH && i < ROUNDS; i++) {
            enum of_load_kind first = i % 2 ? OF_LOAD_CANCEL : OF_LOAD_PAY;
            enum of_load_kind second = i % 2 ? OF_LOAD_PAY : OF_LOAD_CANCEL;
            make_op(&ops[n++], &s, first, ids[i], "f9", i);
            make_op(&ops[n++], &s, second, ids[i], "f9", i);
        }
        send_ops(&s, ops, n, &id_mismatch);
        retry_unknown(&s, ops, n, &id_mismatch);
        r->n += (size_t)n;
    }
    printf("# F9: %d pay/cancel pairs sent in %.1f s\n", ROUNDS,
           (double)(of_it_now_us() - t_rounds) / 1e6);
    long rounds_ok = 0;
    for (size_t i = ncreate; i < r->n; i++) {
        r->count[r->ops[i].outcome]++;
        rounds_ok += r->ops[i].outcome == OF_LOAD_OK;
    }
    assert_int_equal(rounds_ok, 2 * ROUNDS);
    assert_int_equal(id_mismatch, 0);
    /* every command of the rounds settled, in both groups */
    for (size_t i = ncreate; i < r->n; i++)
        assert_true(fm_wait_command(s.cfg, r->ops[i].command_id, 30, status,
                                    sizeof(status)) >= 0);
    of_it_wait_caught_up(s.cfg, group, s.cfg->topics.order_commands, 30);
    of_it_wait_caught_up(s.cfg, group2, s.cfg->topics.order_commands, 30);

    struct of_db *db = of_db_open(s.cfg, &err);
    if (!db)
        fail_msg("MySQL: %s", err.msg);
    long paid = 0, cancelled = 0, bad = 0;
    for (int i = 0; i < ROUNDS; i++) {
        struct round_row rr;
        round_of(db, ids[i], &rr);
        if (strcmp(rr.status, "paid") == 0)
            paid++;
        else if (strcmp(rr.status, "cancelled") == 0)
            cancelled++;
        if ((strcmp(rr.status, "paid") != 0 &&
             strcmp(rr.status, "cancelled") != 0) ||
            rr.version != 2 || rr.applied != 1 || rr.rejected != 1) {
            if (bad++ < 5)
                printf("# F9: order %lld is %s v%ld with %ld applied and "
                       "%ld rejected transitions\n",
                       (long long)ids[i], rr.status, rr.version, rr.applied,
                       rr.rejected);
        }
    }
    of_db_close(db);
    long waits = fm_status(s.cfg, "Innodb_row_lock_waits") - waits0;
    double dups = metric_sum(port, 0, NWORK, "orderflow_worker_commands_total",
                             "outcome=\"duplicate\"") -
                  dup0;
    printf("# F9: %d rounds: %ld paid, %ld cancelled, %ld otherwise\n", ROUNDS,
           paid, cancelled, bad);
    printf("# F9: %.0f duplicates met by the workers for %d commands (each "
           "applied by one group, met again by the other); %ld InnoDB row "
           "lock waits meanwhile\n",
           dups, 2 * ROUNDS, waits);
    if (bad)
        print_logs(&s);
    assert_int_equal(bad, 0);
    assert_int_equal(paid + cancelled, ROUNDS);
    /* each command was applied by one group and met again by the other */
    assert_true(dups >= 2 * ROUNDS);

    /* 2. The held lock. */
    int64_t held = ids[ROUNDS];
    double retries0 = metric_sum(port, 0, 2, "orderflow_worker_retries_total",
                                 "reason=\"mysql\"");
    long lockwaits0 = log_sum(&s, 0, 2, "Lock wait timeout exceeded");
    struct of_db *locker = of_db_open(s.cfg, &err);
    if (!locker)
        fail_msg("MySQL: %s", err.msg);
    assert_int_equal(of_db_begin(locker, &err), OF_OK);
    assert_int_equal(
        of_db_query(locker,
                    "SELECT order_status FROM orders WHERE order_id = ? "
                    "FOR UPDATE",
                    (struct of_db_param[]){OF_DB_I(held)}, 1, NULL, NULL, &err),
        OF_OK);
    long long lock_us = of_it_now_us();
    struct of_load_op *pay = &r->ops[r->n], *cancel = &r->ops[r->n + 1];
    make_op(pay, &s, OF_LOAD_PAY, held, "f9-held", 0);
    send_ops(&s, pay, 1, &id_mismatch);
    make_op(cancel, &s, OF_LOAD_CANCEL, held, "f9-held", 1);
    send_ops(&s, cancel, 1, &id_mismatch); /* after the pay: rejected */
    r->n += 2;
    r->count[pay->outcome]++;
    r->count[cancel->outcome]++;
    assert_int_equal(pay->status, 202);
    assert_int_equal(cancel->status, 202);
    while (of_it_now_us() - lock_us < (long long)((hold_s - 1) * 1e6))
        usleep(100000);
    /* nothing for the order can commit while we hold its row */
    int pay_done = fm_command(s.cfg, pay->command_id, status, sizeof(status));
    long lockwaits =
        log_sum(&s, 0, 2, "Lock wait timeout exceeded") - lockwaits0;
    while (of_it_now_us() - lock_us < (long long)(hold_s * 1e6))
        usleep(50000);
    assert_int_equal(of_db_commit(locker, &err), OF_OK);
    long long release_us = of_it_now_us();
    of_db_close(locker);
    printf("# F9: row of order %lld held for %.1f s; the pay was %s "
           "before the release; %ld lock-wait timeout(s) logged by A and B\n",
           (long long)held, (double)(release_us - lock_us) / 1e6,
           pay_done == 1 ? status : "not committed", lockwaits);
    assert_int_equal(pay_done, 0);
    assert_true(lockwaits >= 1);

    double applied_after =
        fm_wait_command(s.cfg, pay->command_id, 20, status, sizeof(status));
    printf("# F9: the pay was committed %.1f s after the release: %s\n",
           applied_after, status);
    if (applied_after < 0)
        print_logs(&s);
    assert_true(applied_after >= 0);
    assert_true(applied_after <= 10);
    assert_string_equal(status, "applied");
    assert_true(fm_wait_command(s.cfg, cancel->command_id, 20, status,
                                sizeof(status)) >= 0);
    assert_string_equal(status, "rejected invalid_transition");
    double retries = metric_sum(port, 0, 2, "orderflow_worker_retries_total",
                                "reason=\"mysql\"") -
                     retries0;
    printf("# F9: MySQL retries counted by A and B during the hold: %.0f\n",
           retries);
    /* a timeout each 10 s of the hold, the backoff in between */
    long want = (long)((hold_s - 1) / 12) > 1 ? (long)((hold_s - 1) / 12) : 1;
    assert_true(retries >= want);

    /* Everything, checked: I1-I5; nothing dead-lettered. */
    struct of_check_opts o = {.wait_s = 20};
    int rc = of_check_run(s.cfg, r, &o, &c);
    of_check_print(&c, stdout);
    long dead = fm_dead_letters(s.cfg);
    printf("# F9: %ld dead letters\n", dead);
    if (rc != 0 || dead != 0)
        print_logs(&s);
    assert_int_equal(rc, 0);
    assert_int_equal(dead, 0);
    assert_int_equal(c.applied, ROUNDS + 1 + ROUNDS + 1);
    assert_int_equal(c.rejected, ROUNDS + 1);

    /* I6, cheaply: every worker still runs and stops cleanly */
    for (int i = 0; i < NWORK; i++) {
        assert_true(fm_alive(pid[i]));
        assert_int_equal(of_it_stop(pid[i], SIGTERM, 15), 0);
    }
    assert_int_equal(of_it_sys_stop(&s, OF_IT_API, SIGTERM, 15), 0);
    assert_int_equal(of_it_sys_stop(&s, OF_IT_OUTBOX, SIGTERM, 15), 0);
    of_load_free(r);
    of_it_sys_down(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lock_contention_settles_each_order_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
