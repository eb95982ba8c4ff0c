/*
 * TESTPLAN F11: Redis rolled back under mixed load. SAVE, then at least 100
 * more writes (and a pay of an order the load never touches, the canary),
 * then kill -9 Redis and start it again from the old dump.rdb. Holds when:
 *   - Redis did load the old snapshot (INFO rdb_last_load_keys_loaded > 0,
 *     a new run_id);
 *   - the command worker detected the rollback by itself (its log names the
 *     old and the new run_id) and rebuilt the read model from MySQL: the
 *     canary, which nothing else would ever write again, is back to its
 *     MySQL row <= 30 s after the restart (without the rebuild it would
 *     stay stale for good);
 *   - afterwards every user and order hash equals MySQL (all of them, not
 *     only the load's), and of_check's I1, I2, I4, I5 hold;
 *   - reads kept answering 200 (from MySQL while Redis was down).
 * Prints the writes after SAVE, the keys loaded and the recovery time.
 * ORDERFLOW_LOAD_SECONDS overrides the load's duration (30 s).
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
#include "fault_redis.h"
#include "of_check.h"
#include "of_it.h"
#include "of_it_sys.h"
#include "of_load.h"

#define NTARGETS 20

static void redis_rollback_is_detected_and_rebuilt(void **state)
{
    const char *secs = getenv("ORDERFLOW_LOAD_SECONDS");
    struct of_it_sys s;
    struct of_check c;
    int64_t targets[NTARGETS], canary;
    char path[128], log[700], run_id0[64], run_id1[64], status[32];
    long users = 0, orders = 0;
    (void)state;

    of_it_sys_init(&s, "f11", NULL);
    fr_up(&s, targets, NTARGETS, &canary);

    struct of_load_spec spec =
        fr_spec(&s, 80, secs ? atof(secs) : 30, 10, targets, NTARGETS);
    long long t0 = of_it_now_us();
    struct of_load *l = of_load_start(&spec);
    assert_non_null(l);
    sleep(5);

    /* the snapshot, then >= 100 writes it will not have */
    const char *save[] = {"SAVE"};
    char dbsize[32];
    const char *dbsize_argv[] = {"DBSIZE"};
    fr_redis(s.cfg, 1, save, NULL, 0);
    long long save_us = of_it_now_us() - t0;
    fr_redis(s.cfg, 1, dbsize_argv, dbsize, sizeof(dbsize));
    fr_info(s.cfg, "server", "run_id", run_id0, sizeof(run_id0));
    printf("# F11: SAVE at %.1f s into the load: %s keys, run_id %s\n",
           (double)save_us / 1e6, dbsize, run_id0);
    const char *h[] = {s.auth, "Content-Type: application/json",
                       "Prefer: wait=10", NULL};
    struct of_it_resp pay;
    snprintf(path, sizeof(path), "/v1/orders/%lld/pay", (long long)canary);
    of_it_http(s.port, "POST", path, h, "{}", &pay);
    assert_int_equal(pay.status, 200); /* applied, in Redis too */
    of_it_resp_free(&pay);
    assert_int_equal(fr_redis_version(s.cfg, canary, status, sizeof(status)),
                     2);
    /* writes are 15 of every 25 operations */
    long done0 = of_load_completed(l);
    for (int i = 0; i < 150 && (of_load_completed(l) - done0) * 15 / 25 < 120;
         i++)
        usleep(100000);

    of_it_node_kill("redis");
    long long kill_us = of_it_now_us() - t0;
    fr_wait_port_closed(s.cfg->redis.port);
    of_it_node_start("redis");
    long long up_us = of_it_now_us() - t0;
    long long loaded =
        fr_info(s.cfg, "persistence", "rdb_last_load_keys_loaded", NULL, 0);
    fr_info(s.cfg, "server", "run_id", run_id1, sizeof(run_id1));
    long v_after = fr_redis_version(s.cfg, canary, status, sizeof(status));
    printf("# F11: kill -9 at %.1f s, Redis up again at %.1f s: %lld keys "
           "loaded from dump.rdb, run_id %s\n",
           (double)kill_us / 1e6, (double)up_us / 1e6, loaded, run_id1);
    printf("# F11: the canary in Redis right after the restart: v%ld %s "
           "(v1 pending = rolled back, unless already rebuilt)\n",
           v_after, status);
    assert_true(loaded > 0);
    assert_string_not_equal(run_id0, run_id1);

    double healed = fr_wait_order(s.cfg, canary, 2, 30);
    printf("# F11: the canary equals MySQL again %.1f s after the restart\n",
           healed);
    if (healed < 0)
        of_it_sys_logs(&s, 30);
    assert_true(healed >= 0);

    struct of_load_result *r = of_load_join(l);
    of_load_print(r, stdout);
    fr_report(r, s.dir);
    struct fr_window wr, rd;
    fr_window(r, -1, save_us, kill_us, &wr);
    fr_window(r, OF_LOAD_READ, 0, (long long)(r->elapsed_s * 1e6) + 1, &rd);
    printf("# F11: writes between SAVE and kill -9: %ld (%ld ok)\n", wr.n,
           wr.ok);
    printf("# F11: GETs: %ld (%ld not 200), p99 %.1f ms\n", rd.n, rd.not_ok,
           rd.p99);
    assert_true(wr.ok >= 100);
    assert_int_equal(rd.not_ok, 0);

    /* the worker says what it saw and did */
    snprintf(log, sizeof(log), "%s/worker.log", s.dir);
    char want[256];
    snprintf(want, sizeof(want), "was built for Redis run_id %s, but %s",
             run_id0, run_id1);
    assert_true(fr_log_has(log, want));
    snprintf(want, sizeof(want), "rebuilt from MySQL for Redis run_id %s",
             run_id1);
    assert_true(fr_log_has(log, want));

    fault_check(&s, r, 10, &c);
    long bad = fr_compare_all(s.cfg, &users, &orders);
    printf("# F11: read model vs MySQL after the load: %ld users, %ld "
           "orders, %ld differ\n",
           users, orders, bad);
    assert_int_equal(bad, 0);
    assert_int_equal(kill(s.pid[OF_IT_WORKER], 0), 0);
    assert_int_equal(kill(s.pid[OF_IT_API], 0), 0);
    of_load_free(r);
    of_it_sys_down(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(redis_rollback_is_detected_and_rebuilt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
