/*
 * TESTPLAN L1 (short form): POST /v1/orders at 100/s for 30 s, open loop,
 * with the API, a command worker and the outbox relay running. Holds when
 * every answer is a 202, I1-I5 hold (of_check), the consumer group has no
 * lag 5 s after the end, and the API's RSS grew by at most 16 MiB. Latency
 * is printed, not asserted (the benchmark's job).
 * ORDERFLOW_LOAD_SECONDS overrides the duration (tests/run.sh --long: 120).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "of_check.h"
#include "of_it.h"
#include "of_it_sys.h"
#include "of_load.h"

static void steady_orders_hold_every_invariant(void **state)
{
    struct of_it_sys s;
    struct of_check c;
    const char *secs = getenv("ORDERFLOW_LOAD_SECONDS");
    (void)state;

    of_it_sys_init(&s, "l1", NULL); /* the API's linger.ms: 1 by default */
    of_it_sys_up(&s);
    long rss0 = of_it_rss_kib(s.pid[OF_IT_API]);

    struct of_load_spec spec = {
        .port = s.port, .auth = s.auth, .principal = s.principal,
        .user_id = s.user_id, .rate = 100,
        .duration_s = secs ? atof(secs) : 30, .key_prefix = "l1"};
    struct of_load *l = of_load_start(&spec);
    assert_non_null(l);
    struct of_load_result *r = of_load_join(l);
    long rss1 = of_it_rss_kib(s.pid[OF_IT_API]);
    of_load_print(r, stdout);
    printf("# L1: API RSS %ld -> %ld KiB\n", rss0, rss1);

    struct of_check_opts o = {.wait_s = 5};
    int rc = of_check_run(s.cfg, r, &o, &c);
    of_check_print(&c, stdout);
    if (rc != 0)
        of_it_sys_logs(&s, 20);
    assert_int_equal(rc, 0);
    assert_int_equal(r->count[OF_LOAD_OK], (long)r->n);
    assert_int_equal(r->id_mismatch, 0);
    assert_int_equal(r->skipped, 0);
    assert_int_equal(r->stalled_windows, 0); /* TESTPLAN: a stall is a failure */
    assert_int_equal(c.applied, (long)r->n);
    of_it_wait_caught_up(s.cfg, getenv("ORDERFLOW_WORKER_GROUP_ID"),
                         s.cfg->topics.order_commands, 5);
    assert_true(rss1 - rss0 <= 16 * 1024);

    /* The checker must be able to fail: break one order in MySQL (a
     * status its commands do not give) and lose one command row. */
    char sql[512];
    snprintf(sql, sizeof(sql),
             "UPDATE %s.orders SET order_status = 'paid' WHERE user_id = %lld "
             "ORDER BY order_id LIMIT 1",
             of_it_env("ORDERFLOW_TEST_MYSQL_DATABASE"), (long long)s.user_id);
    of_it_root_sql(sql);
    snprintf(sql, sizeof(sql), "DELETE FROM %s.commands WHERE command_id = '%s'",
             of_it_env("ORDERFLOW_TEST_MYSQL_DATABASE"), r->ops[r->n - 1].command_id);
    of_it_root_sql(sql);
    struct of_check_opts quick = {.wait_s = 1, .skip_events = 1};
    assert_int_equal(of_check_run(s.cfg, r, &quick, &c), 1);
    of_check_print(&c, stdout);
    assert_int_equal(c.i1_missing, 1);
    assert_true(c.i2_mismatch >= 1);
    assert_true(c.i4_mismatch >= 1);
    of_load_free(r);
    of_it_sys_down(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(steady_orders_hold_every_invariant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
