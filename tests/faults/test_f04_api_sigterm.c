/*
 * TESTPLAN F4: SIGTERM the API under 100 requests/s. Every request sent
 * before the signal gets an HTTP answer (none is reset or dropped), the API
 * exits 0 within 10 s, and every 202 it gave is applied (its producer was
 * flushed before it exited: I1 via of_check).
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
#include "of_it.h"
#include "of_it_sys.h"
#include "of_load.h"

static void sigterm_answers_everything_accepted(void **state)
{
    struct of_it_sys s;
    struct of_check c;
    (void)state;

    of_it_sys_init(&s, "f4", NULL);
    of_it_sys_up(&s);

    struct of_load_spec spec = {
        .port = s.port, .auth = s.auth, .principal = s.principal,
        .user_id = s.user_id, .rate = 100, .duration_s = 8,
        .timeout_ms = 20000, .key_prefix = "f4"};
    long long t0 = of_it_now_us();
    struct of_load *l = of_load_start(&spec);
    assert_non_null(l);
    sleep(4);
    long long t_term = of_it_now_us();
    int api = s.pid[OF_IT_API];
    int rc = of_it_sys_stop(&s, OF_IT_API, SIGTERM, 10);
    double exit_s = (double)(of_it_now_us() - t_term) / 1e6;
    struct of_load_result *r = of_load_join(l);
    of_load_print(r, stdout);
    printf("# F4: API (pid %d) exited with %d, %.2f s after SIGTERM\n", api, rc,
           exit_s);
    assert_int_equal(rc, 0);
    assert_true(exit_s <= 10.0);

    /* Sent before the signal (with 20 ms of slack for the clocks of two
     * threads): answered, and accepted. */
    long before = 0, answered_after = 0;
    for (size_t i = 0; i < r->n; i++) {
        const struct of_load_op *op = &r->ops[i];
        long long start = t0 + op->start_us;
        if (start < t_term - 20000) {
            before++;
            if (op->status != 202)
                fail_msg("sent %.3f s before SIGTERM, got %ld %s",
                         (double)(t_term - start) / 1e6, op->status, op->error);
        } else if (op->status != 0) {
            answered_after++;
        }
    }
    printf("# F4: %ld requests sent before SIGTERM, all answered 202; %ld of "
           "those sent later were answered while draining\n",
           before, answered_after);
    assert_true(before >= 300);

    struct of_check_opts o = {.wait_s = 10};
    rc = of_check_run(s.cfg, r, &o, &c);
    of_check_print(&c, stdout);
    if (rc != 0)
        of_it_sys_logs(&s, 20);
    assert_int_equal(rc, 0);
    assert_int_equal(c.i1_missing, 0);
    of_load_free(r);
    of_it_sys_down(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sigterm_answers_everything_accepted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
