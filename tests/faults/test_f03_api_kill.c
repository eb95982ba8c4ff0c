/*
 * TESTPLAN F3: kill -9 the API with requests in flight. 200 concurrent
 * POST /v1/orders, each with its own Idempotency-Key; the API is killed
 * once 100 have answered and started again; every request that got no
 * answer is retried with the SAME key and body. Then: every 202 is applied
 * exactly once, a retried key yields one command (its id is UUIDv5 of
 * principal and key, so a lost idempotency record cannot make a second),
 * and the user has exactly as many orders as distinct applied creates.
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

#include "of_check.h"
#include "of_db.h"
#include "of_it.h"
#include "of_it_sys.h"
#include "of_load.h"

#define REQUESTS 200

static void api_killed_with_requests_in_flight(void **state)
{
    struct of_it_sys s;
    struct of_check c;
    (void)state;

    /* the in-flight lease of a dead API's requests: 5 s + 5 s */
    of_it_sys_init(&s, "f3",
                   (const char *[]){"ORDERFLOW_API_PRODUCE_TIMEOUT_MS=5000",
                                     /* 200 at once from 127.0.0.1 */
                                     "ORDERFLOW_API_PER_IP_CONNECTION_LIMIT=400",
                                     NULL});
    of_it_sys_up(&s);

    /* 200 requests sent within 0.1 s: all in flight at once */
    struct of_load_spec spec = {
        .port = s.port, .auth = s.auth, .principal = s.principal,
        .user_id = s.user_id, .rate = REQUESTS * 10.0, .duration_s = 1, .max_ops = REQUESTS,
        .max_inflight = REQUESTS, .timeout_ms = 20000, .key_prefix = "f3"};
    struct of_load *l = of_load_start(&spec);
    assert_non_null(l);
    long long t0 = of_it_now_us();
    while (of_load_completed(l) < REQUESTS / 2 &&
           of_it_now_us() - t0 < 20000000LL)
        usleep(200);
    long answered = of_load_completed(l);
    assert_int_equal(of_it_sys_stop(&s, OF_IT_API, SIGKILL, 5), 128 + SIGKILL);
    struct of_load_result *r = of_load_join(l);
    of_load_print(r, stdout);
    printf("# F3: API killed after %ld of %zu answers; %ld unanswered\n",
           answered, r->n, r->count[OF_LOAD_UNKNOWN]);
    assert_int_equal(r->n, REQUESTS);
    assert_true(answered >= REQUESTS / 2);
    /* With 200 in flight on 2 cores, some must have been cut off. */
    assert_true(r->count[OF_LOAD_UNKNOWN] > 0);
    assert_int_equal(r->count[OF_LOAD_FAIL], 0);

    /* Retry what got no answer, as a client would: the same key and body,
     * again after a 409 in_flight (the dead process's lease must lapse
     * first: api.produce_timeout_ms + 5 s), until each is known. */
    of_it_sys_start(&s, OF_IT_API);
    long long t_restart = of_it_now_us();
    int rounds = 0;
    long unknown;
    for (;;) {
        unknown = 0;
        for (size_t i = 0; i < r->n; i++)
            unknown += r->ops[i].outcome == OF_LOAD_UNKNOWN && !r->ops[i].retried;
        if (unknown == 0 || of_it_now_us() - t_restart > 60000000LL)
            break;
        of_load_retry_unknown(&spec, r);
        rounds++;
        if (r->ops[r->n - 1].outcome == OF_LOAD_UNKNOWN)
            sleep(1);
    }
    printf("# F3: %zu retries in %d rounds; all answered %.1f s after the "
           "restart\n",
           r->n - REQUESTS, rounds, (double)(of_it_now_us() - t_restart) / 1e6);
    assert_int_equal(unknown, 0);
    for (size_t i = REQUESTS; i < r->n; i++)
        if (r->ops[i].status != 202 && r->ops[i].status != 409)
            fail_msg("retry of %s: %ld %s", r->ops[i].key, r->ops[i].status,
                     r->ops[i].error);
    assert_int_equal(r->id_mismatch, 0);

    struct of_check_opts o = {.wait_s = 10};
    int rc = of_check_run(s.cfg, r, &o, &c);
    of_check_print(&c, stdout);
    if (rc != 0)
        of_it_sys_logs(&s, 20);
    assert_int_equal(rc, 0);
    assert_int_equal(c.writes_ok, REQUESTS); /* every key ended ok */
    assert_int_equal(c.writes_unknown, 0);
    assert_int_equal(c.applied, REQUESTS);

    /* 0 duplicates: one order per distinct key */
    long orders = (long)of_it_db_count(
        &s, "SELECT COUNT(*) FROM orders WHERE user_id = ?", s.user_id);
    printf("# F3: %ld orders for %d keys\n", orders, REQUESTS);
    assert_int_equal(orders, REQUESTS);
    of_load_free(r);
    of_it_sys_down(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(api_killed_with_requests_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
