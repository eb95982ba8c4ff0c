/*
 * TESTPLAN F5 (short form): the Kafka broker is killed with kill -9 under
 * 100 POST /v1/orders a second and started again ORDERFLOW_F5_DOWN_S
 * seconds later (5 by default; TESTPLAN's long form: kill at 20 s, restart
 * at 30 s), while the API keeps running. Holds when:
 *   - every answer is 202 or 503, or 504 outcome_unknown (a delivery that
 *     timed out in flight, POSSIBLY_PERSISTED; counted), and none took
 *     longer than the API's budget, api.produce_timeout_ms (10 s);
 *   - /readyz answers 503 within 5 s of the kill;
 *   - the API answers 202 again within 30 s of the broker listening, and
 *     keeps doing so, without being restarted: librdkafka 2.0.2 may raise a
 *     fatal idempotent-producer error after a broker restart (#4438), which
 *     the API must survive by recreating its producer. The test build makes
 *     the first producer of the API raise one when the broker comes back
 *     (ORDERFLOW_FAULT=producer_fatal_on_reconnect, api_publish.c), so the
 *     recreate path runs in every run whether or not 2.0.2 raises its own;
 *   - I1 and I3 (and I2, I4, I5) via of_check with N = 30 s (below); the
 *     API, the worker and the relay are still running (I6).
 * The generator's own timeout is above the budget, so the API's answer is
 * what is seen. ORDERFLOW_F5_LOG=<path> writes the client log there.
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

#include "of_check.h"
#include "of_it.h"
#include "of_it_sys.h"
#include "of_load.h"

#define BUDGET_MS 10000      /* api.produce_timeout_ms, the default */
#define SLACK_MS 500         /* the client's own scheduling on 2 loaded cores */
#define READY_WITHIN_S 5.0   /* /readyz 503 after the kill */
#define RECOVER_WITHIN_S 30.0 /* 202 again after the broker listens */

/* What the first case saw of the producer's fatal errors, for the second. */
static long fatal_errors = -1, producers_recreated = -1;

static double secs(long long us)
{
    return (double)us / 1e6;
}

/* Poll /readyz every 100 ms until it answers \p want, at most \p max_s.
 * @returns the seconds it took, or -1. */
static double wait_readyz(int port, long want, double max_s)
{
    long long t0 = of_it_now_us();

    while (secs(of_it_now_us() - t0) < max_s) {
        if (of_it_readyz(port) == want)
            return secs(of_it_now_us() - t0);
        usleep(100000);
    }
    return -1;
}

static void broker_killed_and_restarted(void **state)
{
    struct of_it_sys s;
    struct of_check c;
    const char *down_env = getenv("ORDERFLOW_F5_DOWN_S");
    int down_s = down_env ? atoi(down_env) : 5;
    (void)state;

    /* While the broker is down each request is held for up to the budget:
     * 100/s x 10 s from one address, more than the per-address limit of 64
     * (L7) and about the whole limit of 1,000. Both are raised so that the
     * answers seen are the producer's, not the connection limits'. */
    const char *env[] = {"ORDERFLOW_FAULT=producer_fatal_on_reconnect",
                         "ORDERFLOW_API_PER_IP_CONNECTION_LIMIT=3000",
                         "ORDERFLOW_API_CONNECTION_LIMIT=3000", NULL};
    of_it_sys_init(&s, "f5", env);
    of_it_sys_start(&s, OF_IT_WORKER);
    of_it_sys_start(&s, OF_IT_OUTBOX);
    of_it_sys_start(&s, OF_IT_API);
    unsetenv("ORDERFLOW_FAULT"); /* the API's only */
    of_it_sys_user(&s);
    int api_pid = s.pid[OF_IT_API];
    assert_int_equal(of_it_readyz(s.port), 200);

    struct of_load_spec spec = {
        .port = s.port, .auth = s.auth, .principal = s.principal,
        .user_id = s.user_id, .rate = 100, .duration_s = 120,
        .timeout_ms = BUDGET_MS + 10000, .key_prefix = "f5"};
    long long t0 = of_it_now_us();
    struct of_load *l = of_load_start(&spec);
    assert_non_null(l);
    sleep(4);

    long long t_kill = of_it_now_us();
    of_it_node_kill("kafka");
    double ready_503 = wait_readyz(s.port, 503, 10);
    printf("# F5: broker killed at %.1f s; /readyz 503 after %.1f s\n",
           secs(t_kill - t0), ready_503);
    while (secs(of_it_now_us() - t_kill) < down_s)
        usleep(100000);

    long long t_start = of_it_now_us();
    of_it_node_start("kafka"); /* returns once a Metadata request answers */
    long long t_listen = of_it_now_us();
    double ready_200 = wait_readyz(s.port, 200, 40);
    printf("# F5: broker restarted at %.1f s, listening %.1f s later; "
           "/readyz 200 %.1f s after that\n",
           secs(t_start - t0), secs(t_listen - t_start), ready_200);
    /* enough load after the broker is back to see the API answer 202 again
     * and keep answering it */
    long long t_stop = of_it_now_us() + 5000000LL;
    while (of_it_now_us() < t_stop && ready_200 >= 0)
        usleep(100000);
    of_load_stop(l);
    struct of_load_result *r = of_load_join(l);
    of_load_print(r, stdout);
    if (getenv("ORDERFLOW_F5_LOG"))
        of_load_write_log(r, getenv("ORDERFLOW_F5_LOG"));

    /* answers: 202, 503, or 504 outcome_unknown; none past the budget */
    long n202 = 0, n503 = 0, n504 = 0, other = 0, over = 0;
    int64_t max_us = 0, listen_us = t_listen - t0;
    int64_t last_bad_start = -1, first_fail = -1, first_202_after = -1;
    for (size_t i = 0; i < r->n; i++) {
        const struct of_load_op *o = &r->ops[i];
        int64_t end = o->start_us + o->latency_us;
        if (o->status == 202) {
            n202++;
            if (end > listen_us &&
                (first_202_after < 0 || end < first_202_after))
                first_202_after = end;
        } else if (o->status == 503) {
            n503++;
        } else if (o->status == 504 &&
                   strcmp(o->error, "outcome_unknown") == 0) {
            n504++;
        } else {
            other++;
            if (other <= 5)
                printf("# F5: unexpected answer %ld %s at %.2f s\n",
                       o->status, o->error, secs(o->start_us));
        }
        if (o->latency_us > max_us)
            max_us = o->latency_us;
        over += o->latency_us > (BUDGET_MS + SLACK_MS) * 1000LL;
        if (o->status != 202 && first_fail < 0)
            first_fail = o->start_us;
        if (o->status != 202 && end > listen_us &&
            o->start_us > last_bad_start)
            last_bad_start = o->start_us;
    }
    /* the run of 202s that lasts to the end starts after the last request
     * that ended after the broker listened and was not a 202 */
    int64_t back_us = listen_us;
    long tail202 = 0;
    for (size_t i = 0; i < r->n; i++) {
        const struct of_load_op *o = &r->ops[i];
        if (o->start_us > last_bad_start &&
            o->start_us + o->latency_us > listen_us) {
            if (tail202 == 0 || o->start_us < back_us)
                back_us = o->start_us;
            tail202++;
        }
    }
    double recovered = back_us > listen_us ? secs(back_us - listen_us) : 0;
    struct of_it_produce pe;
    of_it_sys_produce(&s, &pe);
    printf("# F5: answers 202 %ld, 503 %ld, 504 outcome_unknown %ld, other "
           "%ld; slowest %.2f s (budget %.1f s), %ld over budget+%.1f s\n",
           n202, n503, n504, other, secs(max_us), BUDGET_MS / 1000.0, over,
           SLACK_MS / 1000.0);
    printf("# F5: first non-202 %.1f s after the kill; after the broker "
           "listened: first 202 in %.1f s, only 202s from %.1f s on (%ld of "
           "them)\n",
           first_fail >= 0 ? secs(first_fail - (t_kill - t0)) : -1.0,
           first_202_after >= 0 ? secs(first_202_after - listen_us) : -1.0,
           recovered, tail202);
    printf("# F5: failed deliveries by rd_kafka_message_status(): "
           "NOT_PERSISTED %ld, POSSIBLY_PERSISTED %ld; refused by producev "
           "%ld (while it was fatal)\n",
           pe.not_persisted, pe.possibly, pe.refused);
    printf("# F5: API fatal producer errors %ld, producers recreated %ld, "
           "API pid %d %s\n",
           pe.fatal, pe.recreated, api_pid,
           of_it_pid_alive(api_pid) ? "alive" : "GONE");

    int failed = other != 0 || over != 0 || ready_503 < 0 ||
                 ready_503 > READY_WITHIN_S || ready_200 < 0 ||
                 recovered > RECOVER_WITHIN_S || tail202 < 300;
    if (failed)
        of_it_sys_logs(&s, 30);
    assert_int_equal(other, 0);
    assert_int_equal(over, 0);
    assert_int_equal(r->id_mismatch, 0);
    /* the kill must have been felt, or the test proves nothing */
    assert_true(n503 + n504 > 0);
    /* each failure is the class librdkafka gave it: a 504 only for
     * POSSIBLY_PERSISTED */
    assert_int_equal(n503, pe.not_persisted + pe.refused);
    assert_int_equal(n504, pe.possibly);
    assert_true(ready_503 >= 0 && ready_503 <= READY_WITHIN_S);
    assert_true(ready_200 >= 0);
    assert_true(recovered <= RECOVER_WITHIN_S);
    assert_true(tail202 >= 300); /* 202s held for the last ~3 s at least */
    /* without restarting the API; the fatal error was met and survived */
    assert_int_equal(s.starts[OF_IT_API], 1);
    assert_true(of_it_pid_alive(api_pid));
#ifdef OF_FAULTS
    /* the fault point fired: a fatal error was raised on reconnect */
    assert_true(of_it_sys_log_count(
                    &s, "api.log",
                    "fault point producer_fatal_on_reconnect") >= 1);
    assert_true(pe.fatal >= 1);
#endif
    fatal_errors = pe.fatal;
    producers_recreated = pe.recreated;
    assert_true(of_it_pid_alive(s.pid[OF_IT_WORKER]));
    assert_true(of_it_pid_alive(s.pid[OF_IT_OUTBOX]));

    /* N = 30 s, as for the API's recovery: the broker was down longer
     * than the worker's 10 s session, so the worker rejoins as a new member
     * once the restarted coordinator has loaded the group, and the old
     * member's 10 s session must run out there first; a CI run saw the
     * worker still unassigned 16 s after the broker listened, with 711
     * accepted commands waiting in Kafka */
    struct of_check_opts o = {.wait_s = 30};
    int rc = of_check_run(s.cfg, r, &o, &c);
    of_check_print(&c, stdout);
    printf("# F5: %ld of %ld unknown answers were applied\n", c.unknown_applied,
           c.writes_unknown);
    if (rc != 0)
        of_it_sys_logs(&s, 30);
    assert_int_equal(rc, 0);
    assert_int_equal(c.i1_missing, 0);
    assert_int_equal(c.i3_fail_applied, 0);
    assert_int_equal(c.applied + c.rejected, c.writes_ok);
    of_load_free(r);
    of_it_sys_down(&s);
}

/* The fatal idempotence error of 2.0.2 after a broker restart: the API
 * recreated its producer, and (first case) kept running and answered 202
 * again. Without OF_FAULTS the error is raised only if librdkafka raises it
 * by itself: when it did not, there is nothing to check. */
static void producer_recreated_after_fatal_error(void **state)
{
    (void)state;
    if (fatal_errors < 0)
        fail_msg("the broker kill case did not get that far");
    if (fatal_errors == 0) {
        printf("# F5: no fatal producer error was raised: recreate path not "
               "exercised (build without -DOF_FAULTS=ON)\n");
        skip();
    }
    assert_true(producers_recreated >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(broker_killed_and_restarted),
        cmocka_unit_test(producer_recreated_after_fatal_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
