/* Unit tests of of_dlq's pure parts: a dead letter as the JSON object that
 * GET /v1/admin/dead-letters answers and orderflowctl prints (headers,
 * keys and values from anyone, commands decoded), and the body of POST
 * /v1/admin/dead-letters/redrive. No Kafka: header lists are made with
 * rd_kafka_headers_new(), which needs no client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "of_avro.h"
#include "of_dlq.h"

#define UUID_A "0b8e4a52-6c1d-4f0e-9d55-3f5e2a9b7c10"

static struct of_avro *avro;

static int setup(void **state)
{
    struct of_err err = {0};
    (void)state;

    avro = of_avro_new(&err);
    if (!avro)
        fail_msg("of_avro_new: %s", err.msg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    of_avro_destroy(avro);
    return 0;
}

static const char *str(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        fail_msg("\"%s\" is not a string", key);
    return json_string_value(v);
}

static json_int_t num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("\"%s\" is not an integer", key);
    return json_integer_value(v);
}

/* The headers worker_deadletter.c writes. */
static rd_kafka_headers_t *dl_headers(const char *error)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    rd_kafka_header_add(h, "content-type", -1, "application/avro", -1);
    rd_kafka_header_add(h, "message-type", -1, "PayOrder", -1);
    rd_kafka_header_add(h, "error", -1, error, -1);
    rd_kafka_header_add(h, "original-topic", -1, "orderflow.order-commands",
                        -1);
    rd_kafka_header_add(h, "original-partition", -1, "2", -1);
    rd_kafka_header_add(h, "original-offset", -1, "41", -1);
    rd_kafka_header_add(h, "failed-at", -1, "2026-11-29T03:48:46.123456Z", -1);
    return h;
}

static void *encode_order(const struct of_order_cmd *c, size_t *len)
{
    struct of_err err = {0};
    void *out = NULL;
    if (of_avro_encode_order_cmd(avro, c, &out, len, &err) != OF_OK)
        fail_msg("encode: %s", err.msg);
    return out;
}

static void garbage_has_headers_and_no_command(void **state)
{
    rd_kafka_headers_t *h = dl_headers("no Avro single-object marker");
    (void)state;

    json_t *o = of_dlq_letter_json(avro, 0, 3, 17, 1764388126123LL, "42", 2,
                                   h, "not avro", 8);
    assert_non_null(o);
    assert_int_equal(num(o, "partition"), 3);
    assert_int_equal(num(o, "offset"), 17);
    assert_string_equal(str(o, "timestamp"), "2025-11-29T03:48:46.123000Z");
    assert_string_equal(str(o, "key"), "42");
    assert_int_equal(num(o, "value_size"), 8);
    assert_true(json_is_null(json_object_get(o, "command")));
    json_t *hj = json_object_get(o, "headers");
    assert_string_equal(str(hj, "error"), "no Avro single-object marker");
    assert_string_equal(str(hj, "original-topic"), "orderflow.order-commands");
    assert_string_equal(str(hj, "original-partition"), "2");
    assert_string_equal(str(hj, "original-offset"), "41");
    assert_string_equal(str(hj, "failed-at"), "2026-11-29T03:48:46.123456Z");
    assert_string_equal(str(hj, "message-type"), "PayOrder");
    /* the API's object is the spec's, nothing more */
    assert_null(json_object_get(o, "value"));
    assert_null(json_object_get(o, "value_bytes"));
    assert_int_equal(json_object_size(o), 7);
    json_decref(o);
    rd_kafka_headers_destroy(h);
}

static void orderflowctl_flag_adds_what_the_value_is(void **state)
{
    const unsigned char future[] = {0xC3, 0x01, 0xEF, 0xBE, 0xAD, 0xDE,
                                    0x0D, 0xF0, 0xAD, 0x0B, 0x02, 0x04};
    (void)state;

    json_t *o = of_dlq_letter_json(avro, OF_DLQ_JSON_VALUE, 0, 0, -1, NULL, 0,
                                   NULL, "x", 1);
    assert_string_equal(str(json_object_get(o, "value"), "frame"), "none");
    assert_int_equal(num(o, "value_bytes"), 1);
    assert_true(json_is_null(json_object_get(o, "timestamp")));
    assert_string_equal(str(o, "key"), ""); /* no key */
    assert_int_equal(json_object_size(json_object_get(o, "headers")), 0);
    json_decref(o);

    o = of_dlq_letter_json(avro, OF_DLQ_JSON_VALUE, 0, 1, -1, "k", 1, NULL,
                           future, sizeof(future));
    json_t *v = json_object_get(o, "value");
    assert_string_equal(str(v, "frame"), "unknown fingerprint");
    assert_string_equal(str(v, "fingerprint"), "0badf00ddeadbeef");
    assert_true(json_is_null(json_object_get(o, "command")));
    json_decref(o);
}

static void pay_order_is_decoded(void **state)
{
    struct of_order_cmd *c = calloc(1, sizeof(*c));
    size_t len;
    (void)state;

    snprintf(c->command_id, sizeof(c->command_id), UUID_A);
    c->issued_at = 1764388126000000LL;
    snprintf(c->actor.id, sizeof(c->actor.id), "user:7");
    c->actor.role = OF_ROLE_ADMIN;
    snprintf(c->trace_id, sizeof(c->trace_id), "trace-1");
    c->type = OF_PAY_ORDER;
    c->order_id = 99;
    c->has_payment_ref = true;
    snprintf(c->payment_ref, sizeof(c->payment_ref), "pi_1");
    void *v = encode_order(c, &len);

    json_t *o = of_dlq_letter_json(avro, OF_DLQ_JSON_VALUE, 1, 5, 0, "99", 2,
                                   NULL, v, len);
    json_t *cmd = json_object_get(o, "command");
    assert_true(json_is_object(cmd));
    assert_string_equal(str(cmd, "command_id"), UUID_A);
    assert_string_equal(str(cmd, "type"), "PayOrder");
    assert_string_equal(str(cmd, "issued_at"), "2025-11-29T03:48:46.000000Z");
    assert_string_equal(str(cmd, "trace_id"), "trace-1");
    assert_string_equal(str(json_object_get(cmd, "actor"), "id"), "user:7");
    assert_string_equal(str(json_object_get(cmd, "actor"), "role"), "admin");
    assert_int_equal(num(cmd, "order_id"), 99);
    assert_string_equal(str(cmd, "payment_ref"), "pi_1");
    assert_null(json_object_get(cmd, "total_amount"));
    /* orderflowctl's summary of the same value */
    json_t *what = json_object_get(o, "value");
    assert_string_equal(str(what, "schema"), "orderflow.OrderCommand");
    assert_string_equal(str(what, "command_id"), UUID_A);
    assert_string_equal(str(what, "type"), "PayOrder");
    assert_int_equal(num(o, "value_size"), (json_int_t)len);
    json_decref(o);
    free(v);

    /* a create: money as the contract's string */
    memset(c, 0, sizeof(*c));
    snprintf(c->command_id, sizeof(c->command_id), UUID_A);
    snprintf(c->actor.id, sizeof(c->actor.id), "apikey:ops");
    c->actor.role = OF_ROLE_SERVICE;
    c->type = OF_CREATE_ORDER;
    c->user_id = 12;
    c->order_type = OF_ORDER_TYPE_JEWELRY;
    c->total_amount = 19900;
    v = encode_order(c, &len);
    o = of_dlq_letter_json(avro, 0, 0, 0, -1, "12", 2, NULL, v, len);
    cmd = json_object_get(o, "command");
    assert_string_equal(str(cmd, "type"), "CreateOrder");
    assert_string_equal(str(cmd, "total_amount"), "199.00");
    assert_string_equal(str(cmd, "order_type"), "jewelry");
    assert_int_equal(num(cmd, "user_id"), 12);
    assert_string_equal(str(json_object_get(cmd, "actor"), "role"), "service");
    json_decref(o);
    free(v);
    free(c);
}

static void register_user_is_decoded(void **state)
{
    struct of_user_cmd *c = calloc(1, sizeof(*c));
    struct of_err err = {0};
    void *v = NULL;
    size_t len;
    (void)state;

    snprintf(c->command_id, sizeof(c->command_id), UUID_A);
    snprintf(c->actor.id, sizeof(c->actor.id), "apikey:ops");
    c->actor.role = OF_ROLE_SERVICE;
    c->type = OF_REGISTER_USER;
    snprintf(c->email, sizeof(c->email), "ada@example.com");
    snprintf(c->username, sizeof(c->username), "Adá");
    assert_int_equal(of_avro_encode_user_cmd(avro, c, &v, &len, &err), OF_OK);
    json_t *o = of_dlq_letter_json(avro, 0, 0, 0, -1, "ada@example.com", 15,
                                   NULL, v, len);
    json_t *cmd = json_object_get(o, "command");
    assert_string_equal(str(cmd, "type"), "RegisterUser");
    assert_string_equal(str(cmd, "email"), "ada@example.com");
    assert_string_equal(str(cmd, "username"), "Adá");
    assert_true(json_is_null(json_object_get(cmd, "avatar_url")));
    json_decref(o);
    free(v);
    free(c);
}

static void broken_datum_says_why_and_has_no_command(void **state)
{
    struct of_order_cmd *c = calloc(1, sizeof(*c));
    size_t len;
    (void)state;

    snprintf(c->command_id, sizeof(c->command_id), UUID_A);
    snprintf(c->actor.id, sizeof(c->actor.id), "user:1");
    c->type = OF_CANCEL_ORDER;
    c->order_id = 5;
    unsigned char *v = encode_order(c, &len);
    json_t *o = of_dlq_letter_json(avro, OF_DLQ_JSON_VALUE, 0, 0, -1, "5", 1,
                                   NULL, v, len - 1); /* truncated */
    assert_true(json_is_null(json_object_get(o, "command")));
    json_t *what = json_object_get(o, "value");
    assert_string_equal(str(what, "schema"), "orderflow.OrderCommand");
    assert_true(strlen(str(what, "decode_error")) > 0);
    json_decref(o);
    free(v);
    free(c);
}

static void foreign_bytes_become_valid_utf8(void **state)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    (void)state;

    /* a repeated name: the last value wins, as of_headers reads it */
    rd_kafka_header_add(h, "error", -1, "first", -1);
    rd_kafka_header_add(h, "error", -1, "last", -1);
    rd_kafka_header_add(h, "bin", -1, "a\xff" "b", 3);
    rd_kafka_header_add(h, "nul", -1, "x\0y", 3);
    rd_kafka_header_add(h, "\xc3(name", -1, "v", 1);
    rd_kafka_header_add(h, "null-value", -1, NULL, 0);
    /* an overlong '/', a surrogate, then a valid 4-byte character */
    const char key[] = "\xc0\xaf|\xed\xa0\x80|\xf0\x9f\x98\x80";
    json_t *o = of_dlq_letter_json(avro, 0, 0, 0, -1, key, sizeof(key) - 1, h,
                                   "", 0);
    assert_non_null(o);
    assert_string_equal(str(o, "key"), "\xef\xbf\xbd\xef\xbf\xbd|"
                                       "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
                                       "\xf0\x9f\x98\x80");
    json_t *hj = json_object_get(o, "headers");
    assert_string_equal(str(hj, "error"), "last");
    assert_string_equal(str(hj, "bin"), "a\xef\xbf\xbd"
                                        "b");
    const json_t *nul = json_object_get(hj, "nul");
    assert_int_equal(json_string_length(nul), 3);
    assert_memory_equal(json_string_value(nul), "x\0y", 3);
    assert_string_equal(str(hj, "\xef\xbf\xbd(name"), "v");
    assert_string_equal(str(hj, "null-value"), "");
    assert_int_equal(json_object_size(hj), 5);
    char *text = json_dumps(o, JSON_COMPACT);
    assert_non_null(text);
    free(text);
    json_decref(o);
    rd_kafka_headers_destroy(h);
}

/* ---- the redrive body ---- */

static int target(const char *text, int *p, int64_t *off, struct of_err *err)
{
    json_t *body = json_loads(text, 0, NULL);
    if (!body)
        fail_msg("not JSON: %s", text);
    int rc = of_dlq_redrive_target(body, p, off, err);
    json_decref(body);
    return rc;
}

static void redrive_body_takes_one_or_all(void **state)
{
    struct of_err err = {0};
    int64_t off = 0;
    int p = 0;
    (void)state;

    assert_int_equal(target("{\"partition\":2,\"offset\":41}", &p, &off, &err),
                     OF_OK);
    assert_int_equal(p, 2);
    assert_int_equal(off, 41);
    assert_int_equal(target("{\"offset\":0,\"partition\":0}", &p, &off, &err),
                     OF_OK);
    assert_int_equal(p, 0);
    assert_int_equal(off, 0);
    assert_int_equal(target("{\"all\":true}", &p, &off, &err), OF_OK);
    assert_int_equal(p, -1);
    assert_int_equal(target("{\"partition\":2147483647,\"offset\":"
                            "9223372036854775806}",
                            &p, &off, &err),
                     OF_OK);
    assert_int_equal(p, 2147483647);
    assert_int_equal(off, INT64_MAX - 1);
}

static void redrive_body_refuses_anything_else(void **state)
{
    static const struct {
        const char *body, *names;
    } bad[] = {
        {"{}", "partition"},
        {"[]", "the body"},
        {"{\"all\":false}", "all"},
        {"{\"all\":1}", "all"},
        {"{\"all\":true,\"partition\":0,\"offset\":1}", "all"},
        {"{\"partition\":1}", "offset"},
        {"{\"offset\":1}", "partition"},
        {"{\"partition\":-1,\"offset\":1}", "partition"},
        {"{\"partition\":2147483648,\"offset\":1}", "partition"},
        {"{\"partition\":1.0,\"offset\":1}", "partition"},
        {"{\"partition\":\"1\",\"offset\":1}", "partition"},
        {"{\"partition\":1,\"offset\":-5}", "offset"},
        {"{\"partition\":1,\"offset\":9223372036854775807}", "offset"},
        {"{\"partition\":1,\"offset\":null}", "offset"},
        {"{\"partition\":1,\"offset\":2,\"topic\":\"x\"}", "topic"},
    };
    struct of_err err = {0};
    int64_t off = 7;
    int p = 7;
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        if (target(bad[i].body, &p, &off, &err) != OF_EINVAL)
            fail_msg("%s was taken", bad[i].body);
        if (strncmp(err.msg, bad[i].names, strlen(bad[i].names)) != 0)
            fail_msg("%s: message \"%s\" does not start with \"%s\"",
                     bad[i].body, err.msg, bad[i].names);
    }
    assert_int_equal(p, 7); /* untouched on refusal */
    assert_int_equal(off, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(garbage_has_headers_and_no_command),
        cmocka_unit_test(orderflowctl_flag_adds_what_the_value_is),
        cmocka_unit_test(pay_order_is_decoded),
        cmocka_unit_test(register_user_is_decoded),
        cmocka_unit_test(broken_datum_says_why_and_has_no_command),
        cmocka_unit_test(foreign_bytes_become_valid_utf8),
        cmocka_unit_test(redrive_body_takes_one_or_all),
        cmocka_unit_test(redrive_body_refuses_anything_else),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
