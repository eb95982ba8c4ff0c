/*
 * TESTPLAN F10: Redis FLUSHALL in the middle of a mixed load (creates,
 * pays, refunds, cancels, reads). Holds when:
 *   - every GET of an order answers 200 throughout (from MySQL while the
 *     hash is missing), and every write 202;
 *   - the command worker notices the missing read model mark and rebuilds
 *     by itself (worker_reconcile.h): an order the load never touches (the
 *     canary) is back in Redis <= 10 s after the FLUSHALL;
 *   - I1, I2, I4, I5 hold after the load (of_check, N = 10 s);
 *   - with the worker stopped (so only the operator's tool writes), a
 *     second FLUSHALL and `orderflowctl rebuild-read-model --all` make
 *     every user and order hash, and every user's order list, identical
 *     to MySQL (all of them, not only the load's), and I4 holds at once;
 *   - the comparison can fail: one tampered hash is found.
 * Prints the GET latency around the FLUSHALL, the worker's rebuild time and
 * the tool's counts. ORDERFLOW_LOAD_SECONDS overrides the load (30 s).
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

#include "fault_check.h"
#include "fault_redis.h"
#include "of_check.h"
#include "of_it.h"
#include "of_it_sys.h"
#include "of_load.h"

#define NTARGETS 20

static void flushall(const struct of_config *cfg)
{
    const char *argv[] = {"FLUSHALL"};
    const char *dbsize[] = {"DBSIZE"};
    char n[32];

    fr_redis(cfg, 1, argv, NULL, 0);
    fr_redis(cfg, 1, dbsize, n, sizeof(n));
    printf("# F10: FLUSHALL: %s keys left\n", n);
}

static void flushall_falls_back_and_rebuilds(void **state)
{
    const char *secs = getenv("ORDERFLOW_LOAD_SECONDS");
    struct of_it_sys s;
    struct of_check c;
    int64_t targets[NTARGETS], canary;
    char log[700], out[700], status[32], key[64];
    long users = 0, orders = 0, bad;
    (void)state;

    of_it_sys_init(&s, "f10", NULL);
    fr_up(&s, targets, NTARGETS, &canary);

    struct of_load_spec spec =
        fr_spec(&s, 90, secs ? atof(secs) : 30, 30, targets, NTARGETS);
    long long t0 = of_it_now_us();
    struct of_load *l = of_load_start(&spec);
    assert_non_null(l);
    sleep(8);

    flushall(s.cfg);
    long long flush_us = of_it_now_us() - t0;
    double rebuilt = fr_wait_order(s.cfg, canary, 1, 10);
    printf("# F10: FLUSHALL at %.1f s into the load; the worker had the "
           "canary back in Redis %.1f s later\n",
           (double)flush_us / 1e6, rebuilt);
    if (rebuilt < 0)
        of_it_sys_logs(&s, 30);
    assert_true(rebuilt >= 0);

    struct of_load_result *r = of_load_join(l);
    of_load_print(r, stdout);
    fr_report(r, s.dir);
    struct fr_window before, after, all;
    fr_window(r, OF_LOAD_READ, 0, flush_us, &before);
    fr_window(r, OF_LOAD_READ, flush_us, flush_us + 5000000, &after);
    fr_window(r, OF_LOAD_READ, 0, (long long)(r->elapsed_s * 1e6) + 1, &all);
    printf("# F10: GET before FLUSHALL: %ld, p99 %.1f ms; in the 5 s after: "
           "%ld, p99 %.1f ms; all: %ld (%ld not 200)\n",
           before.n, before.p99, after.n, after.p99, all.n, all.not_ok);
    assert_true(after.n >= 50);
    assert_int_equal(all.not_ok, 0);
    assert_int_equal(r->count[OF_LOAD_OK], (long)r->n);
    assert_int_equal(r->skipped, 0);

    snprintf(log, sizeof(log), "%s/worker.log", s.dir);
    assert_true(fr_log_has(log, "the read model has no mark"));

    fault_check(&s, r, 10, &c);

    /* The operator's tool alone: no worker to rebuild or to write. */
    assert_int_equal(of_it_sys_stop(&s, OF_IT_WORKER, SIGTERM, 15), 0);
    flushall(s.cfg);
    assert_int_equal(fr_redis_version(s.cfg, canary, status, sizeof(status)),
                     0);
    snprintf(out, sizeof(out), "%s/rebuild.out", s.dir);
    of_it_sh("'%s/orderflowctl' --config /dev/null rebuild-read-model --all "
             ">'%s' 2>&1",
             s.bin, out);
    fflush(stdout);
    of_it_sh("cat '%s'", out);
    bad = fr_compare_all(s.cfg, &users, &orders);
    printf("# F10: after rebuild-read-model --all: %ld users, %ld orders "
           "compared with MySQL, %ld differ\n",
           users, orders, bad);
    assert_int_equal(bad, 0);
    assert_true(orders >= (long)r->count[OF_LOAD_OK] / 10);
    struct of_check_opts quick = {.wait_s = 1, .skip_events = 1};
    assert_int_equal(of_check_run(s.cfg, r, &quick, &c), 0);

    /* the comparison can fail */
    snprintf(key, sizeof(key), "orderflow:order:%lld", (long long)canary);
    const char *tamper[] = {"HSET", key, "total_amount", "0.01"};
    fr_redis(s.cfg, 4, tamper, NULL, 0);
    assert_int_equal(fr_compare_all(s.cfg, &users, &orders), 1);

    assert_int_equal(kill(s.pid[OF_IT_API], 0), 0);
    of_load_free(r);
    of_it_sys_down(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(flushall_falls_back_and_rebuilds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
