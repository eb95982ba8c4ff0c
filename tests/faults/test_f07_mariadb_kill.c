/*
 * TESTPLAN F7: MariaDB killed with -9 under ~100 writes/s (creates, pays,
 * refunds, cancels), then started again: kill at 10 s, restart 5 s later
 * in the short form (ORDERFLOW_FAULT_LONG=1: TESTPLAN's 20 s and 25 s of a
 * 60 s run; ORDERFLOW_LOAD_SECONDS overrides the run's length). The stack
 * runs innodb_flush_log_at_trx_commit=1 (checked and printed). Holds when:
 *   - no acknowledged commit is lost: every commands row seen (committed)
 *     just before the kill is there after the restart, and of_check's I1
 *     (every 202 ends applied or rejected within 20 s) and I2 (one row per
 *     command, the orders equal their replayed commands) hold, I4 and I5
 *     too;
 *   - the worker retried with backoff (its log says so) and applies again
 *     after the restart (the time is printed), without being restarted;
 *   - nothing is dead-lettered, the load skipped nothing, and the worker,
 *     the relay and the API are still running and stop cleanly (I6).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "fault_mariadb.h"
#include "of_check.h"
#include "of_it.h"
#include "of_it_sys.h"
#include "of_load.h"

#define NTARGETS 20

static const char count_sql[] = "SELECT COUNT(*) FROM commands";

static void mariadb_kill_loses_no_acknowledged_commit(void **state)
{
    int long_form = fm_env_num("ORDERFLOW_FAULT_LONG", 0) > 0;
    double kill_at = long_form ? 20 : 10, down_s = 5;
    double secs = fm_env_num("ORDERFLOW_LOAD_SECONDS", long_form ? 60 : 30);
    struct of_it_sys s;
    struct of_check c;
    int64_t targets[NTARGETS];
    char v[256], log[700];
    (void)state;

    if (secs < kill_at + down_s + 10)
        secs = kill_at + down_s + 10;
    of_it_sys_init(&s, "f7", NULL);
    fm_variable(s.cfg, "innodb_flush_log_at_trx_commit", v, sizeof(v));
    printf("# F7: innodb_flush_log_at_trx_commit = %s\n", v);
    assert_string_equal(v, "1");
    of_it_sys_up(&s);
    of_it_sys_orders(&s, NTARGETS, targets);
    snprintf(log, sizeof(log), "%s/worker.log", s.dir);
    long retries0 = fm_log_count(log, "retrying with backoff");

    struct of_load_spec spec = {.port = s.port,
                                .auth = s.auth,
                                .principal = s.principal,
                                .user_id = s.user_id,
                                .rate = 100,
                                .duration_s = secs,
                                .weight = {[OF_LOAD_CREATE] = 60,
                                           [OF_LOAD_PAY] = 20,
                                           [OF_LOAD_REFUND] = 10,
                                           [OF_LOAD_CANCEL] = 10},
                                .targets = targets,
                                .ntargets = NTARGETS,
                                .key_prefix = "f7"};
    long long t0 = of_it_now_us();
    struct of_load *l = of_load_start(&spec);
    assert_non_null(l);
    while (of_it_now_us() - t0 < (long long)(kill_at * 1e6))
        usleep(50000);

    /* What is committed now must survive: read, then kill at once. */
    long before = fm_count(s.cfg, count_sql, NULL, 0);
    of_it_node_kill("mariadb");
    long long kill_us = of_it_now_us();
    printf("# F7: MariaDB killed %.1f s into the load, %ld commands rows "
           "committed just before\n",
           (double)(kill_us - t0) / 1e6, before);
    assert_true(before > 0);
    while (of_it_now_us() - kill_us < (long long)(down_s * 1e6))
        usleep(50000);
    of_it_node_start("mariadb"); /* returns once it answers SELECT 1 */
    long long up_us = of_it_now_us();
    long after = fm_count(s.cfg, count_sql, NULL, 0);
    printf("# F7: MariaDB answering again %.1f s after the kill (restart "
           "took %.1f s); %ld commands rows after crash recovery\n",
           (double)(up_us - kill_us) / 1e6,
           (double)(up_us - kill_us) / 1e6 - down_s, after);
    assert_true(after >= before);

    /* The worker applies again: new commands rows appear. */
    double resumed = -1;
    while (of_it_now_us() - up_us < 30000000LL) {
        long n = fm_count(s.cfg, count_sql, NULL, 0);
        if (n > after) {
            resumed = (double)(of_it_now_us() - up_us) / 1e6;
            break;
        }
        usleep(100000);
    }
    printf("# F7: the worker applied again %.1f s after MariaDB was back\n",
           resumed);
    if (resumed < 0)
        of_it_sys_logs(&s, 30);
    assert_true(resumed >= 0);
    assert_true(resumed <= 20); /* its backoff is still short (< 5 s) */

    struct of_load_result *r = of_load_join(l);
    of_load_print(r, stdout);
    long retries = fm_log_count(log, "retrying with backoff") - retries0;
    long ok = fm_log_count(log, "step succeeded after");
    printf("# F7: worker retry episodes logged: %ld failing, %ld recovered\n",
           retries, ok);
    assert_true(retries >= 1);
    assert_true(ok >= 1);
    assert_int_equal(r->skipped, 0);
    assert_int_equal(r->id_mismatch, 0);

    fm_check(&s, r, "F7", &c);
    assert_true(c.applied >= r->count[OF_LOAD_OK] / 2);

    fm_finish(&s, r); /* I6, cheaply */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mariadb_kill_loses_no_acknowledged_commit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
