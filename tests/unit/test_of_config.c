/* Unit tests of of_config: defaults, file values, environment overrides and
 * the error messages that name file, line and key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "of_config.h"

static struct of_config *load(const char *text, struct of_err *err)
{
    return of_config_load_string(text, "t.ini", err);
}

static void defaults_apply_when_file_is_empty(void **state)
{
    struct of_err err;
    struct of_config *cfg = load("", &err);
    (void)state;

    assert_non_null(cfg);
    assert_int_equal(cfg->api.port, 8080);
    assert_int_equal(cfg->api.max_body_bytes, 65536);
    assert_string_equal(cfg->topics.order_commands, "orderflow.order-commands");
    assert_string_equal(cfg->auth.jwt_alg, "HS256");
    assert_int_equal(cfg->kafka_n, 0);
    of_config_destroy(cfg);
}

static void file_values_override_defaults(void **state)
{
    struct of_err err;
    struct of_config *cfg =
        load("; comment\n[api]\nport = 9000\n[mysql]\nhost = db.local\n"
             "[kafka]\nbootstrap.servers = 127.0.0.1:1\nlinger.ms = 5\n",
             &err);
    (void)state;

    assert_non_null(cfg);
    assert_int_equal(cfg->api.port, 9000);
    assert_string_equal(cfg->mysql.host, "db.local");
    assert_int_equal(cfg->kafka_n, 2);
    assert_string_equal(of_config_kafka_get(cfg, "linger.ms"), "5");
    assert_null(of_config_kafka_get(cfg, "acks"));
    of_config_destroy(cfg);
}

static void unknown_key_is_reported_with_line(void **state)
{
    struct of_err err;
    (void)state;

    assert_null(load("[api]\n\nprot = 1\n", &err));
    assert_int_equal(err.rc, OF_EINVAL);
    assert_string_equal(err.msg, "t.ini:3: unknown key \"prot\" in [api]");
}

static void unknown_section_is_reported(void **state)
{
    struct of_err err;
    (void)state;

    assert_null(load("[apii]\nport = 1\n", &err));
    assert_string_equal(err.msg, "t.ini:2: unknown section [apii]");
}

static void out_of_range_int_is_reported(void **state)
{
    struct of_err err;
    (void)state;

    assert_null(load("[api]\nport = 70000\n", &err));
    assert_non_null(strstr(err.msg, "t.ini:2: bad value for api.port"));
    assert_null(load("[api]\nport = 80x\n", &err));
    assert_null(load("[api]\nport =\n", &err));
}

static void bad_enum_value_is_reported(void **state)
{
    struct of_err err;
    (void)state;

    assert_null(load("[auth]\njwt_alg = none\n", &err));
    assert_non_null(strstr(err.msg, "auth.jwt_alg"));
    assert_non_null(strstr(err.msg, "HS256|"));
}

static void duplicate_key_is_reported(void **state)
{
    struct of_err err;
    (void)state;

    assert_null(load("[api]\nport = 1\nport = 2\n", &err));
    assert_string_equal(err.msg, "t.ini:3: duplicate key \"port\" in [api]");
}

static void unknown_kafka_property_is_reported(void **state)
{
    struct of_err err;
    (void)state;

    assert_null(load("[kafka]\nlinger.msx = 5\n", &err));
    assert_non_null(strstr(err.msg, "t.ini:2: bad [kafka] key \"linger.msx\""));
}

static void syntax_error_is_reported(void **state)
{
    struct of_err err;
    (void)state;

    assert_null(load("[api\n", &err));
    assert_string_equal(err.msg, "t.ini:1: syntax error");
}

static void environment_overrides_file(void **state)
{
    struct of_err err;
    struct of_config *cfg;
    (void)state;

    setenv("ORDERFLOW_API_PORT", "9100", 1);
    setenv("ORDERFLOW_KAFKA_BOOTSTRAP", "127.0.0.1:19092", 1);
    setenv("ORDERFLOW_KAFKA_LINGER_MS", "7", 1);
    cfg = load("[api]\nport = 9000\n", &err);
    unsetenv("ORDERFLOW_API_PORT");
    unsetenv("ORDERFLOW_KAFKA_BOOTSTRAP");
    unsetenv("ORDERFLOW_KAFKA_LINGER_MS");
    assert_non_null(cfg);
    assert_int_equal(cfg->api.port, 9100);
    assert_string_equal(of_config_kafka_get(cfg, "bootstrap.servers"),
                        "127.0.0.1:19092");
    assert_string_equal(of_config_kafka_get(cfg, "linger.ms"), "7");
    of_config_destroy(cfg);
}

static void bad_environment_value_names_the_variable(void **state)
{
    struct of_err err;
    (void)state;

    setenv("ORDERFLOW_REDIS_TIMEOUT_MS", "-5", 1);
    assert_null(load("", &err));
    unsetenv("ORDERFLOW_REDIS_TIMEOUT_MS");
    assert_non_null(strstr(err.msg, "ORDERFLOW_REDIS_TIMEOUT_MS: bad value"));
}

static void dump_masks_secrets(void **state)
{
    struct of_err err;
    char buf[8192] = {0};
    struct of_config *cfg =
        load("[mysql]\npassword = hunter2\n[auth]\njwt_key = sekrit\n"
             "[kafka]\nsasl.password = pw\n",
             &err);
    (void)state;

    assert_non_null(cfg);
    FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");
    of_config_dump(cfg, f);
    fclose(f);
    assert_null(strstr(buf, "hunter2"));
    assert_null(strstr(buf, "sekrit"));
    assert_null(strstr(buf, "= pw"));
    assert_non_null(strstr(buf, "password = ********"));
    of_config_destroy(cfg);
}

static void shipped_config_file_loads(void **state)
{
    struct of_err err;
    char path[1024];
    const char *src = getenv("ORDERFLOW_SOURCE_DIR");
    (void)state;

    snprintf(path, sizeof(path), "%s/config/orderflow.ini", src ? src : ".");
    struct of_config *cfg = of_config_load(path, &err);
    if (!cfg)
        fail_msg("%s", err.msg);
    assert_string_equal(of_config_kafka_get(cfg, "bootstrap.servers"),
                        "127.0.0.1:9092");
    of_config_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_apply_when_file_is_empty),
        cmocka_unit_test(file_values_override_defaults),
        cmocka_unit_test(unknown_key_is_reported_with_line),
        cmocka_unit_test(unknown_section_is_reported),
        cmocka_unit_test(out_of_range_int_is_reported),
        cmocka_unit_test(bad_enum_value_is_reported),
        cmocka_unit_test(duplicate_key_is_reported),
        cmocka_unit_test(unknown_kafka_property_is_reported),
        cmocka_unit_test(syntax_error_is_reported),
        cmocka_unit_test(environment_overrides_file),
        cmocka_unit_test(bad_environment_value_names_the_variable),
        cmocka_unit_test(dump_masks_secrets),
        cmocka_unit_test(shipped_config_file_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
