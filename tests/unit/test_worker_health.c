/*
 * Unit tests of the worker's /healthz and /readyz answers
 * (src/workers/worker_health.c): a loop that stops turning fails both after
 * stall_s; readiness follows what the role says.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/workers/worker_health.c"

static int answer(int ready, char *out)
{
    return worker_health_answer(ready, out, 320);
}

static void starts_alive_but_not_ready(void **state)
{
    char out[320];
    (void)state;

    worker_health_init(120);
    assert_int_equal(answer(0, out), 200);
    assert_string_equal(out, "ok\n");
    assert_int_equal(answer(1, out), 503);
    assert_string_equal(out, "not ready: starting\n");
}

static void readiness_follows_the_role(void **state)
{
    char out[320];
    char long_reason[400];
    (void)state;

    worker_health_init(120);
    worker_ready(NULL);
    assert_int_equal(answer(1, out), 200);
    assert_string_equal(out, "ready\n");
    worker_ready("mysql step failing: could not connect to MySQL");
    assert_int_equal(answer(1, out), 503);
    assert_string_equal(out, "not ready: mysql step failing: could not "
                             "connect to MySQL\n");
    assert_int_equal(answer(0, out), 200); /* an outage is not a stall */
    /* a long reason is cut, never overflows */
    memset(long_reason, 'x', sizeof(long_reason) - 1);
    long_reason[sizeof(long_reason) - 1] = '\0';
    worker_ready(long_reason);
    assert_int_equal(answer(1, out), 503);
    assert_int_equal(strlen(out), strlen("not ready: ") + 199 + 1);
    worker_ready(NULL);
    assert_int_equal(answer(1, out), 200);
}

static void a_loop_that_stops_turning_fails_both(void **state)
{
    char out[320];
    (void)state;

    worker_health_init(1);
    worker_ready(NULL);
    assert_int_equal(answer(0, out), 200);
    usleep(1300 * 1000);
    assert_int_equal(answer(0, out), 503);
    assert_string_equal(out, "stalled: the worker's loop has not turned for "
                             "1 s (stall_s = 1)\n");
    assert_int_equal(answer(1, out), 503);
    assert_string_equal(out, "stalled: the worker's loop has not turned for "
                             "1 s (stall_s = 1)\n");
    worker_beat();
    assert_int_equal(answer(0, out), 200);
    assert_int_equal(answer(1, out), 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(starts_alive_but_not_ready),
        cmocka_unit_test(readiness_follows_the_role),
        cmocka_unit_test(a_loop_that_stops_turning_fails_both),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
