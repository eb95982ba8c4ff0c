/* The Redis read model primitives against the private Redis: a versioned
 * hash is written, a stale version never overwrites it, run_id is known. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "of_it.h"
#include "of_redis.h"

static void versioned_hash_round_trips_and_never_goes_back(void **state)
{
    struct of_config *cfg = of_it_config(NULL);
    struct of_err err;
    struct of_redis *r = of_redis_new(cfg, &err);
    char key[128], run_id[64];
    const char *f[] = {"order_status", "total_amount"};
    const char *v2[] = {"paid", "199.00"};
    const char *v1[] = {"pending", "199.00"};
    int applied = -1;
    (void)state;

    assert_non_null(r);
    assert_int_equal(of_redis_ping(r, &err), OF_OK);
    of_it_unique(key, sizeof(key), "orderflow:order:it");

    assert_int_equal(of_redis_put_versioned(r, key, 2, f, v2, 2, &applied,
                                            &err),
                     OF_OK);
    assert_int_equal(applied, 1); /* first write lands */
    assert_int_equal(of_redis_put_versioned(r, key, 1, f, v1, 2, &applied,
                                            &err),
                     OF_OK);
    assert_int_equal(applied, 0); /* an older version is refused */

    const char *argv[] = {"HGET", key, "order_status"};
    redisReply *reply = of_redis_command(r, 3, argv, NULL, &err);
    assert_non_null(reply);
    assert_string_equal(reply->str, "paid");
    freeReplyObject(reply);
    const char *vargv[] = {"HGET", key, "version"};
    reply = of_redis_command(r, 3, vargv, NULL, &err);
    assert_non_null(reply);
    assert_string_equal(reply->str, "2");
    freeReplyObject(reply);

    assert_int_equal(of_redis_run_id(r, run_id, sizeof(run_id), &err), OF_OK);
    assert_int_equal(strlen(run_id), 40); /* Redis run ids are 40 hex chars */
    of_redis_destroy(r);
    of_config_destroy(cfg);
}

static void unreachable_redis_is_transient_and_bounded(void **state)
{
    struct of_config *cfg = of_it_config(NULL);
    struct of_err err;
    struct of_redis *r;
    (void)state;

    cfg->redis.port = 1; /* nothing listens there */
    r = of_redis_new(cfg, &err);
    assert_int_equal(of_redis_ping(r, &err), OF_EAGAIN);
    assert_non_null(strstr(err.msg, "could not connect to Redis"));
    of_redis_destroy(r);
    of_config_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(versioned_hash_round_trips_and_never_goes_back),
        cmocka_unit_test(unreachable_redis_is_transient_and_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
