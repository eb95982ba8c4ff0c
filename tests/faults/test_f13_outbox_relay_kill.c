/*
 * TESTPLAN F13: the outbox relay killed with -9 every 2 s, 5 times, while
 * ~100 changes/s are made (creates, pays, refunds, cancels); two relays run
 * at once all along (one holds the lease, the other waits), and the killed
 * one is started again at once. Meanwhile a transaction takes an outbox id
 * early and commits last (4 s later). Then (I5, via of_check): every order's
 * events carry versions 1..n with no gap, in order, repeats sharing their
 * event_id; and the late-committing row was published, not skipped.
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
#include <librdkafka/rdkafka.h>

#include "ctl_scan.h"
#include "of_check.h"
#include "of_it.h"
#include "of_it_sys.h"
#include "of_kafka.h"
#include "of_load.h"

#define LATE_AGGREGATE "987654321"
#define LATE_EVENT_ID  "f13f13f1-3f13-4f13-8f13-f13f13f13f13"

static int find_late(void *arg, const rd_kafka_message_t *m)
{
    char id[64];

    if (m->key_len == strlen(LATE_AGGREGATE) &&
        memcmp(m->key, LATE_AGGREGATE, m->key_len) == 0 &&
        of_kafka_header_get(m, "event-id", id, sizeof(id)) &&
        strcmp(id, LATE_EVENT_ID) == 0)
        (*(int *)arg)++;
    return 0;
}

static int spawn_relay(const struct of_it_sys *s, const char *log)
{
    return of_it_sys_spawn_worker(s, "outbox", log);
}

static void relay_killed_repeatedly_leaves_no_gap(void **state)
{
    struct of_it_sys s;
    struct of_check c;
    int64_t targets[20];
    int relay[2];
    (void)state;

    of_it_sys_init(&s, "f13", (const char *[]){"ORDERFLOW_OUTBOX_LEASE_S=2", NULL});
    of_it_sys_start(&s, OF_IT_WORKER);
    of_it_sys_start(&s, OF_IT_API);
    relay[0] = spawn_relay(&s, "relay-a.log");
    relay[1] = spawn_relay(&s, "relay-b.log");
    of_it_sys_user(&s);
    of_it_sys_orders(&s, 20, targets);

    struct of_load_spec spec = {
        .port = s.port, .auth = s.auth, .principal = s.principal,
        .user_id = s.user_id, .rate = 100, .duration_s = 12,
        .weight = {60, 20, 10, 10, 0}, .targets = targets, .ntargets = 20,
        .key_prefix = "f13"};
    struct of_load *l = of_load_start(&spec);
    assert_non_null(l);

    /* The late transaction: takes its id now, commits in 4 s. */
    of_it_sh("mariadb --no-defaults -uroot -S '%s' '%s' -e \""
             "BEGIN; INSERT INTO outbox (aggregatetype, aggregateid, type, "
             "payload, event_id, version, command_id) VALUES ('order', '"
             LATE_AGGREGATE "', 'OrderCreated', 'late', '" LATE_EVENT_ID
             "', 1, '" LATE_EVENT_ID "'); DO SLEEP(4); COMMIT;\" &",
             of_it_env("ORDERFLOW_TEST_MYSQL_ROOT_SOCKET"),
             of_it_env("ORDERFLOW_TEST_MYSQL_DATABASE"));
    for (int k = 0; k < 5; k++) {
        sleep(2);
        int i = k % 2;
        assert_int_equal(of_it_stop(relay[i], SIGKILL, 5), 128 + SIGKILL);
        relay[i] = spawn_relay(&s, i ? "relay-b.log" : "relay-a.log");
    }
    struct of_load_result *r = of_load_join(l);
    of_load_print(r, stdout);
    printf("# F13: relays killed 5 times in 10 s, two running at once\n");

    struct of_check_opts o = {.wait_s = 20};
    int rc = of_check_run(s.cfg, r, &o, &c);
    of_check_print(&c, stdout);
    if (rc != 0)
        of_it_sys_logs(&s, 20);
    assert_int_equal(rc, 0);
    assert_true(c.applied >= (long)r->n / 2); /* many pays and cancels are rejected */
    assert_true(c.events >= c.applied);

    /* The row that took a low id and committed last was published. */
    struct of_dlq_range range = {.topic = s.cfg->topics.order_events,
                              .partition = -1, .from_offset = -1,
                              .from_ms = -1, .to_offset = -1, .to_ms = -1};
    int late = 0;
    for (int tries = 0; tries < 20 && !late; tries++) {
        assert_int_equal(ctl_scan(s.cfg, &range, find_late, &late, NULL), 0);
        if (!late)
            sleep(1);
    }
    printf("# F13: the late-committing outbox row was published %d time(s)\n",
           late);
    assert_true(late >= 1);

    for (int i = 0; i < 2; i++) /* I6: no relay died on its own */
        assert_int_equal(of_it_stop(relay[i], SIGTERM, 15), 0);
    of_load_free(r);
    of_it_sys_down(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(relay_killed_repeatedly_leaves_no_gap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
