/*
 * TESTPLAN F6 (short form): the broker is paused, Trogdor-style, with
 * kill -STOP for ORDERFLOW_F6_PAUSE_S seconds (15 by default; TESTPLAN: 20 s
 * with message.timeout.ms 10000) under 100 POST /v1/orders a second, with
 * the API's delivery budget api.produce_timeout_ms lowered to 5 s so that
 * deliveries time out while it is paused, then -CONT. Holds when:
 *   - every failed delivery is classified by rd_kafka_message_status():
 *     NOT_PERSISTED is a 503, POSSIBLY_PERSISTED a 504 outcome_unknown;
 *     both happen (the requests in flight when the broker stopped, and those
 *     queued behind them), and the API's orderflow_produce_errors_total
 *     counts by reason agree with the answers the client saw;
 *   - no answer comes later than the budget;
 *   - a 503 is never applied (I3), and a retry of each 504 with the same
 *     Idempotency-Key (of_load_spec.retry_unknown) is accepted and applies
 *     the command once (I1, I2: one command row, the order as replayed);
 *   - I4 and I5 hold too (of_check, N = 10 s), and the API, worker and
 *     relay are still running.
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
#include "of_check.h"
#include "of_it.h"
#include "of_it_sys.h"
#include "of_load.h"

#define BUDGET_MS 5000 /* api.produce_timeout_ms for this test */
#define SLACK_MS 500   /* the client's own scheduling on 2 loaded cores */

static int kafka_pid; /* paused: must be continued whatever happens */

static double secs(long long us)
{
    return (double)us / 1e6;
}

static int teardown(void **state)
{
    (void)state;
    if (kafka_pid > 0)
        kill(kafka_pid, SIGCONT);
    return 0;
}

static void broker_paused_then_continued(void **state)
{
    struct of_it_sys s;
    struct of_check c;
    const char *pause_env = getenv("ORDERFLOW_F6_PAUSE_S");
    int pause_s = pause_env ? atoi(pause_env) : 15;
    char budget[64];
    (void)state;

    snprintf(budget, sizeof(budget), "ORDERFLOW_API_PRODUCE_TIMEOUT_MS=%d",
             BUDGET_MS);
    /* 100/s held for up to 5 s from one address: over the per-address
     * limit of 64 (L7), so it is raised, as in F5 */
    const char *env[] = {budget, "ORDERFLOW_API_PER_IP_CONNECTION_LIMIT=3000",
                         "ORDERFLOW_API_CONNECTION_LIMIT=3000", NULL};
    of_it_sys_init(&s, "f6", env);
    of_it_sys_up(&s);
    int api_pid = s.pid[OF_IT_API];

    struct of_load_spec spec = {
        .port = s.port, .auth = s.auth, .principal = s.principal,
        .user_id = s.user_id, .rate = 100, .duration_s = 120,
        .timeout_ms = BUDGET_MS + 10000, .key_prefix = "f6",
        .retry_unknown = 1};
    long long t0 = of_it_now_us();
    struct of_load *l = of_load_start(&spec);
    assert_non_null(l);
    sleep(5);

    kafka_pid = of_it_node_pid("kafka");
    long long t_stop = of_it_now_us();
    assert_int_equal(kill(kafka_pid, SIGSTOP), 0);
    long ready_paused = 200;
    while (secs(of_it_now_us() - t_stop) < pause_s) {
        if (ready_paused == 200)
            ready_paused = of_it_readyz(s.port);
        usleep(200000);
    }
    long long t_cont = of_it_now_us();
    assert_int_equal(kill(kafka_pid, SIGCONT), 0);
    kafka_pid = 0;
    printf("# F6: broker stopped at %.1f s for %.1f s; /readyz while paused "
           "%ld\n",
           secs(t_stop - t0), secs(t_cont - t_stop), ready_paused);
    sleep(6); /* load on after -CONT */
    long retried;
    struct of_load_result *r = fault_stop_load(l, &retried);
    size_t nrun = r->n - (size_t)retried; /* the run's own ops come first */

    long n202 = 0, n503 = 0, n504 = 0, other = 0, over = 0;
    long retry202 = 0;
    int64_t max_us = 0, first_fail = -1, last_fail = -1;
    for (size_t i = 0; i < r->n; i++) {
        const struct of_load_op *o = &r->ops[i];
        if (o->status == 202) {
            n202++;
            retry202 += i >= nrun;
        } else if (o->status == 503) {
            n503++;
        } else if (o->status == 504 &&
                   strcmp(o->error, "outcome_unknown") == 0) {
            n504++;
        } else {
            other++;
            if (other <= 5)
                printf("# F6: unexpected answer %ld %s at %.2f s%s\n",
                       o->status, o->error, secs(o->start_us),
                       i >= nrun ? " (a retry)" : "");
        }
        if (i < nrun && o->status != 202) {
            if (first_fail < 0)
                first_fail = o->start_us;
            last_fail = o->start_us;
        }
        if (o->latency_us > max_us)
            max_us = o->latency_us;
        over += o->latency_us > (BUDGET_MS + SLACK_MS) * 1000LL;
    }
    struct of_it_produce pe;
    of_it_sys_produce(&s, &pe);
    printf("# F6: answers 202 %ld, 503 %ld, 504 outcome_unknown %ld, other "
           "%ld; slowest %.2f s (budget %.1f s), %ld over budget+%.1f s\n",
           n202, n503, n504, other, secs(max_us), BUDGET_MS / 1000.0, over,
           SLACK_MS / 1000.0);
    printf("# F6: failed deliveries by rd_kafka_message_status(): "
           "NOT_PERSISTED %ld, POSSIBLY_PERSISTED %ld; refused by producev "
           "%ld\n",
           pe.not_persisted, pe.possibly, pe.refused);
    printf("# F6: failures from %.1f s to %.1f s after the stop; %ld unknown "
           "retried with the same key, %ld of them 202\n",
           first_fail >= 0 ? secs(first_fail - (t_stop - t0)) : -1.0,
           last_fail >= 0 ? secs(last_fail - (t_stop - t0)) : -1.0, retried,
           retry202);

    int failed = other != 0 || over != 0 || n503 == 0 || n504 == 0 ||
                 retry202 != retried;
    if (failed)
        of_it_sys_logs(&s, 30);
    assert_int_equal(other, 0);
    assert_int_equal(over, 0);
    assert_int_equal(r->id_mismatch, 0);
    /* both classes were met: the requests in flight when the broker
     * stopped, and the ones queued behind them */
    assert_true(n503 > 0);
    assert_true(n504 > 0);
    /* each answer is the class librdkafka gave its delivery */
    assert_int_equal(n503, pe.not_persisted + pe.refused);
    assert_int_equal(n504, pe.possibly);
    /* every unknown was retried with its key once, and taken */
    assert_int_equal(retried, n504);
    assert_int_equal(retry202, retried);
    assert_int_equal(of_it_readyz(s.port), 200);
    assert_true(of_it_pid_alive(api_pid));
    assert_true(of_it_pid_alive(s.pid[OF_IT_WORKER]));
    assert_true(of_it_pid_alive(s.pid[OF_IT_OUTBOX]));

    /* I1: the 202s (the retries included) applied; I2: once each; I3: no
     * 503 applied */
    fault_check(&s, r, 10, &c);
    assert_int_equal(c.i1_missing, 0);
    assert_int_equal(c.i2_mismatch, 0);
    assert_int_equal(c.i3_fail_applied, 0);
    assert_int_equal(c.writes_unknown, 0); /* every key ended known */
    assert_int_equal(c.applied + c.rejected, c.writes_ok);
    of_load_free(r);
    of_it_sys_down(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(broker_paused_then_continued, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
