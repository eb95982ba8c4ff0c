/*
 * TESTPLAN F8: MariaDB stopped (kill -STOP) under ~100 writes/s, then -CONT:
 * 20 s in the short form, TESTPLAN's 120 s with ORDERFLOW_FAULT_LONG=1;
 * ORDERFLOW_FAULT_PAUSE_S sets any other length. Holds when:
 *   - the consumer group does not rebalance: the broker shows the same
 *     member ids before the pause and after the drain, and the worker logs
 *     no assignment or revocation meanwhile. To make this a test of "the
 *     worker pauses its partitions and keeps polling", the worker runs with
 *     max.poll.interval.ms 15 s (session.timeout.ms 10 s, heartbeats 1 s),
 *     shorter than the pause: a worker that stopped polling for the pause
 *     would be evicted from the group;
 *   - for that, the worker's MySQL calls must give up before the pause
 *     ends, so mysql.rw_timeout_s is 5 s here (the default, 30 s, would
 *     outlast the short pause and never let the retry loop run; it is also
 *     more than the eviction bound above);
 *   - the worker retried (its log says so), nothing is dead-lettered, the
 *     load skipped nothing, and every command that was waiting when
 *     MariaDB came back is committed <= 30 s after -CONT (the lag drain
 *     time is printed);
 *   - of_check's I1-I5 hold (within 20 s) and the processes stop cleanly.
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

#include "fault_mariadb.h"
#include "of_check.h"
#include "of_it.h"
#include "of_it_sys.h"
#include "of_load.h"

#define NTARGETS 20
#define BEFORE_S 5 /* load before the pause, and after it */

/* Messages of both command topics the group has still to commit, up to the
 * ends in hw_u (user commands) and hw_o (order commands); -1: no answer. */
static long behind(const struct of_config *cfg,
                   const char *group,
                   const int64_t *hw_u,
                   int nu,
                   const int64_t *hw_o,
                   int no)
{
    long u = fm_behind(cfg, group, cfg->topics.user_commands, hw_u, nu);
    long o = fm_behind(cfg, group, cfg->topics.order_commands, hw_o, no);

    return u < 0 || o < 0 ? -1 : u + o;
}

static void mariadb_pause_drains_without_rebalance(void **state)
{
    int long_form = fm_env_num("ORDERFLOW_FAULT_LONG", 0) > 0;
    double pause_s =
        fm_env_num("ORDERFLOW_FAULT_PAUSE_S", long_form ? 120 : 20);
    struct of_it_sys s;
    struct of_check c;
    int64_t targets[NTARGETS], hw_u[FM_MAX_PARTS], hw_o[FM_MAX_PARTS];
    char members0[1024], members1[1024], log[700];
    (void)state;

    of_it_sys_init(
        &s, "f8",
        (const char *[]){"ORDERFLOW_MYSQL_RW_TIMEOUT_S=5",
                         "ORDERFLOW_KAFKA_MAX_POLL_INTERVAL_MS=15000",
                         "ORDERFLOW_KAFKA_SESSION_TIMEOUT_MS=10000",
                         "ORDERFLOW_KAFKA_HEARTBEAT_INTERVAL_MS=1000", NULL});
    assert_true(pause_s > 15); /* longer than max.poll.interval.ms */
    const char *group = getenv("ORDERFLOW_WORKER_GROUP_ID");
    of_it_sys_up(&s);
    of_it_sys_orders(&s, NTARGETS, targets);
    snprintf(log, sizeof(log), "%s/worker.log", s.dir);

    struct of_load_spec spec = {.port = s.port,
                                .auth = s.auth,
                                .principal = s.principal,
                                .user_id = s.user_id,
                                .rate = 100,
                                .duration_s = pause_s + 2 * BEFORE_S,
                                .weight = {[OF_LOAD_CREATE] = 60,
                                           [OF_LOAD_PAY] = 20,
                                           [OF_LOAD_REFUND] = 10,
                                           [OF_LOAD_CANCEL] = 10},
                                .targets = targets,
                                .ntargets = NTARGETS,
                                .key_prefix = "f8"};
    long long t0 = of_it_now_us();
    struct of_load *l = of_load_start(&spec);
    assert_non_null(l);
    while (of_it_now_us() - t0 < BEFORE_S * 1000000LL)
        usleep(50000);

    int n0 = fm_members(s.cfg, group, members0, sizeof(members0));
    long assigned0 = fm_log_count(log, "assigned ");
    long revoked0 = fm_log_count(log, "revoked ");
    long retries0 = fm_log_count(log, "retrying with backoff");
    printf("# F8: group before the pause: %d member(s), %s\n", n0, members0);
    assert_int_equal(n0, 1);

    /* The pause. Nothing in here may fail the test: MariaDB must get its
     * -CONT whatever happens. */
    int mariadb = of_it_node_pid("mariadb");
    assert_true(mariadb > 0);
    kill(mariadb, SIGSTOP);
    long long stop_us = of_it_now_us();
    while (of_it_now_us() - stop_us < (long long)(pause_s * 1e6))
        usleep(50000);
    kill(mariadb, SIGCONT);
    long long cont_us = of_it_now_us();
    printf("# F8: MariaDB stopped %.1f s (%.1f..%.1f s into the load)\n",
           (double)(cont_us - stop_us) / 1e6, (double)(stop_us - t0) / 1e6,
           (double)(cont_us - t0) / 1e6);

    /* The drain: everything published before -CONT gets committed. */
    int nu = fm_ends(s.cfg, s.cfg->topics.user_commands, hw_u);
    int no = fm_ends(s.cfg, s.cfg->topics.order_commands, hw_o);
    long backlog = behind(s.cfg, group, hw_u, nu, hw_o, no), left = backlog;
    double drain = -1;
    while (of_it_now_us() - cont_us < 60000000LL) {
        left = behind(s.cfg, group, hw_u, nu, hw_o, no);
        if (left == 0) {
            drain = (double)(of_it_now_us() - cont_us) / 1e6;
            break;
        }
        usleep(200000);
    }
    printf("# F8: %ld commands waiting at -CONT; lag drained %.1f s after "
           "-CONT (%ld left)\n",
           backlog, drain, left);
    if (drain < 0)
        of_it_sys_logs(&s, 30);
    assert_true(backlog > 0); /* the pause did hold the worker up */
    assert_true(drain >= 0);
    assert_true(drain <= 30);

    struct of_load_result *r = of_load_join(l);
    of_load_print(r, stdout);
    of_it_wait_caught_up(s.cfg, group, s.cfg->topics.order_commands, 30);

    /* No rebalance: same members, no (re)assignment logged. */
    int n1 = fm_members(s.cfg, group, members1, sizeof(members1));
    long assigned = fm_log_count(log, "assigned ") - assigned0;
    long revoked = fm_log_count(log, "revoked ") - revoked0;
    long retries = fm_log_count(log, "retrying with backoff") - retries0;
    printf("# F8: group after the drain: %d member(s), %s\n", n1, members1);
    printf("# F8: worker since the pause: %ld assignment(s), %ld "
           "revocation(s), %ld retry episode(s) logged\n",
           assigned, revoked, retries);
    assert_int_equal(n1, 1);
    assert_string_equal(members0, members1);
    assert_int_equal(assigned, 0);
    assert_int_equal(revoked, 0);
    assert_true(retries >= 1); /* rw_timeout_s 5 < the pause */
    /* the worker checks its own settings against this at start-up */
    assert_int_equal(fm_log_count(log, "would get this worker evicted"), 0);

    fm_check(&s, r, "F8", &c);
    assert_int_equal(r->skipped, 0);
    assert_int_equal(r->id_mismatch, 0);
    assert_true(c.applied >= r->count[OF_LOAD_OK] / 2);

    fm_finish(&s, r); /* I6, cheaply */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mariadb_pause_drains_without_rebalance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
