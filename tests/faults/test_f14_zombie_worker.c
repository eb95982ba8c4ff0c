/*
 * TESTPLAN F14: a zombie worker. Two command workers share the group; worker
 * A is stopped (kill -STOP) for longer than session.timeout.ms, so the group
 * gives its partitions to B, while ~100 changes/s go on; then A continues
 * (-CONT) with whatever it was doing. A's late work must change nothing
 * (the dedupe row and the order's row lock): I1-I5 hold, and A rejoins
 * without crashing (both workers still run and stop cleanly at the end).
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

static void zombie_worker_changes_nothing(void **state)
{
    struct of_it_sys s;
    struct of_check c;
    int64_t targets[20];
    char log[600];
    (void)state;

    of_it_sys_init(&s, "f14",
                   (const char *[]){"ORDERFLOW_KAFKA_SESSION_TIMEOUT_MS=6000",
                                    "ORDERFLOW_KAFKA_HEARTBEAT_INTERVAL_MS=1000",
                                    NULL});
    of_it_sys_start(&s, OF_IT_WORKER); /* A */
    snprintf(log, sizeof(log), "%s/worker-b.log", s.dir);
    int b = of_it_sys_spawn_worker(&s, "commands", "worker-b.log");
    of_it_sys_start(&s, OF_IT_OUTBOX);
    of_it_sys_start(&s, OF_IT_API);
    of_it_sys_user(&s);
    of_it_sys_orders(&s, 20, targets);

    struct of_load_spec spec = {
        .port = s.port, .auth = s.auth, .principal = s.principal,
        .user_id = s.user_id, .rate = 100, .duration_s = 20,
        .weight = {60, 20, 10, 10, 0}, .targets = targets, .ntargets = 20,
        .key_prefix = "f14"};
    struct of_load *l = of_load_start(&spec);
    assert_non_null(l);
    sleep(4);
    int a = s.pid[OF_IT_WORKER];
    assert_int_equal(kill(a, SIGSTOP), 0);
    sleep(10); /* > session.timeout.ms: B takes A's partitions */
    assert_int_equal(kill(a, SIGCONT), 0);
    struct of_load_result *r = of_load_join(l);
    of_load_print(r, stdout);
    printf("# F14: worker A stopped for 10 s (session timeout 6 s), then "
           "continued\n");

    struct of_check_opts o = {.wait_s = 30};
    int rc = of_check_run(s.cfg, r, &o, &c);
    of_check_print(&c, stdout);
    if (rc != 0)
        of_it_sys_logs(&s, 30);
    assert_int_equal(rc, 0);
    assert_int_equal(c.writes_ok, (long)r->n);
    /* The fault happened: B was given A's partitions while A was stopped
     * (a second "assigned" line: it starts with its own share). */
    FILE *p;
    char cmd[700];
    int assigned = 0;
    snprintf(cmd, sizeof(cmd), "grep -c ' assigned [1-9]' '%s'", log);
    assert_non_null(p = popen(cmd, "r"));
    assert_int_equal(fscanf(p, "%d", &assigned), 1);
    pclose(p);
    printf("# F14: worker B logged %d assignments\n", assigned);
    assert_true(assigned >= 2);
    /* I6: A survived its own resurrection and both stop cleanly */
    assert_int_equal(kill(a, 0), 0);
    assert_int_equal(of_it_stop(b, SIGTERM, 15), 0);
    assert_int_equal(of_it_sys_stop(&s, OF_IT_WORKER, SIGTERM, 15), 0);
    of_load_free(r);
    of_it_sys_down(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(zombie_worker_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
