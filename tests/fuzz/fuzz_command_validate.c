/*
 * libFuzzer target: a route and a JSON body, validated as the API does
 * (TESTPLAN, fuzz_command_validate). The first byte picks the route and the
 * principal; the rest is the body, parsed as api_http.c parses it
 * (duplicate keys refused, an object, empty means {} for the actions).
 *
 * A refusal is OF_EINVAL whose message names a field: "<field>: ..." with a
 * field of the route or a key of the body. An accepted body agrees with
 * what it said, encodes to Avro, and decodes back to the same fields.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "of_avro.h"
#include "of_body.h"
#include "of_money.h"

#define PRINCIPAL_ID 7
#define ORDER_ID     4242

enum route {
    R_USERS,         /* POST /v1/users */
    R_ORDERS_USER,   /* POST /v1/orders as a user */
    R_ORDERS_ADMIN,  /* POST /v1/orders as a service or admin */
    R_PAY,           /* POST /v1/orders/{id}/pay */
    R_REFUND,        /* POST /v1/orders/{id}/refund */
    R_CANCEL,        /* POST /v1/orders/{id}/cancel */
    R_COUNT,
};

static const char *const route_fields[R_COUNT][4] = {
    {"email", "username", "avatar_url", NULL},
    {"order_type", "total_amount", "user_id", NULL},
    {"order_type", "total_amount", "user_id", NULL},
    {"payment_ref", NULL},
    {"reason", NULL},
    {NULL},
};

static struct of_avro *avro;

/* "<field>: <why>": a field of the route, or a key of the body (which may
 * be cut short with the message). */
static void check_error(enum route route, json_t *body,
                        const struct of_err *err)
{
    const char *msg = err->msg;
    const char *key;
    json_t *v;

    FUZZ_CHECK(err->rc == OF_EINVAL, "rc %d: %s", err->rc, msg);
    for (const char *const *f = route_fields[route]; *f; f++) {
        size_t n = strlen(*f);
        if (strncmp(msg, *f, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
            return;
    }
    json_object_foreach(body, key, v)
    {
        size_t n = strlen(key), m = strlen(msg);
        if (m == sizeof(err->msg) - 1 && m < n + 2 &&
            strncmp(msg, key, m < n ? m : n) == 0)
            return; /* "<key>: ..." cut at the end of err->msg */
        if (strncmp(msg, key, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
            return;
    }
    FUZZ_CHECK(0, "route %d: \"%s\" names no field", route, msg);
}

/* The body's string \p name equals \p s (or is absent/null and !has). */
static void check_string(json_t *body, const char *name, int has,
                         const char *s)
{
    json_t *v = json_object_get(body, name);

    if (!has) {
        FUZZ_CHECK(!v || json_is_null(v), "%s present but not taken", name);
        return;
    }
    FUZZ_CHECK(json_is_string(v) && strcmp(json_string_value(v), s) == 0,
               "%s: \"%s\"", name, s);
}

static void header(char *command_id, int64_t *issued_at,
                   struct of_actor *actor, char *trace_id)
{
    memcpy(command_id, "0b6b0d5e-3f1c-4a2b-9c7d-1e2f3a4b5c6d", OF_UUID_SIZE);
    *issued_at = FUZZ_NOW * 1000000;
    snprintf(actor->id, sizeof(actor->id), "user:%d", PRINCIPAL_ID);
    actor->role = OF_ROLE_USER;
    snprintf(trace_id, OF_TRACE_ID_SIZE, "fuzz");
}

static void user_roundtrip(json_t *body, struct of_user_cmd *cmd)
{
    static struct of_user_cmd back;
    struct of_err err;
    void *value = NULL;
    size_t len = 0;

    check_string(body, "email", 1, cmd->email);
    check_string(body, "username", 1, cmd->username);
    check_string(body, "avatar_url", cmd->has_avatar_url, cmd->avatar_url);
    header(cmd->command_id, &cmd->issued_at, &cmd->actor, cmd->trace_id);
    FUZZ_CHECK(of_avro_encode_user_cmd(avro, cmd, &value, &len, &err) ==
                   OF_OK,
               "accepted, but: %s", err.msg);
    FUZZ_CHECK(of_avro_decode_user_cmd(avro, value, len, &back, &err) ==
                   OF_OK,
               "%s", err.msg);
    FUZZ_CHECK(back.type == cmd->type && !strcmp(back.email, cmd->email) &&
                   !strcmp(back.username, cmd->username) &&
                   back.has_avatar_url == cmd->has_avatar_url &&
                   !strcmp(back.avatar_url, cmd->avatar_url),
               "user command changed on the wire");
    free(value);
}

static void order_roundtrip(enum route route, json_t *body,
                            struct of_order_cmd *cmd, int has_user_id)
{
    static struct of_order_cmd back;
    struct of_err err;
    void *value = NULL;
    size_t len = 0;

    if (cmd->type == OF_CREATE_ORDER) {
        json_t *amount = json_object_get(body, "total_amount");
        json_t *uid = json_object_get(body, "user_id");
        int64_t cents = 0;
        check_string(body, "order_type", 1,
                     of_avro_order_type_name(cmd->order_type));
        FUZZ_CHECK(of_money_parse(json_string_value(amount), &cents) ==
                           OF_OK &&
                       cents == cmd->total_amount,
                   "total_amount");
        FUZZ_CHECK(has_user_id || route == R_ORDERS_USER,
                   "user_id required");
        FUZZ_CHECK(!has_user_id ||
                       json_integer_value(uid) == (json_int_t)cmd->user_id,
                   "user_id");
        if (!has_user_id)
            cmd->user_id = PRINCIPAL_ID;
    } else {
        cmd->order_id = ORDER_ID;
        check_string(body, "payment_ref", cmd->has_payment_ref,
                     cmd->payment_ref);
        check_string(body, "reason", cmd->has_reason, cmd->reason);
    }
    header(cmd->command_id, &cmd->issued_at, &cmd->actor, cmd->trace_id);
    FUZZ_CHECK(of_avro_encode_order_cmd(avro, cmd, &value, &len, &err) ==
                   OF_OK,
               "accepted, but: %s", err.msg);
    FUZZ_CHECK(of_avro_decode_order_cmd(avro, value, len, &back, &err) ==
                   OF_OK,
               "%s", err.msg);
    FUZZ_CHECK(back.type == cmd->type && back.user_id == cmd->user_id &&
                   back.order_type == cmd->order_type &&
                   back.total_amount == cmd->total_amount &&
                   back.order_id == cmd->order_id &&
                   back.has_payment_ref == cmd->has_payment_ref &&
                   !strcmp(back.payment_ref, cmd->payment_ref) &&
                   back.has_reason == cmd->has_reason &&
                   !strcmp(back.reason, cmd->reason),
               "order command changed on the wire");
    free(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct of_user_cmd ucmd;
    static struct of_order_cmd ocmd;
    static const enum of_order_cmd_type actions[] = {
        OF_PAY_ORDER, OF_REFUND_ORDER, OF_CANCEL_ORDER};
    struct of_err err;
    enum route route;
    json_t *body;
    int has_user_id = 0, rc;

    if (!avro && !(avro = of_avro_new(&err)))
        abort();
    if (size < 1)
        return 0;
    route = (enum route)(data[0] % R_COUNT);
    data++;
    size--;
    if (size == 0 && route >= R_PAY)
        body = json_object();
    else
        body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
                          NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        return 0; /* 400 invalid_json before any validation */
    }
    memset(&ucmd, 0, sizeof(ucmd));
    memset(&ocmd, 0, sizeof(ocmd));
    memset(&err, 0, sizeof(err));
    if (route == R_USERS) {
        rc = of_body_register_user(body, &ucmd, &err);
        if (rc == OF_OK)
            user_roundtrip(body, &ucmd);
    } else if (route <= R_ORDERS_ADMIN) {
        rc = of_body_create_order(body, route == R_ORDERS_ADMIN, &ocmd,
                                  &has_user_id, &err);
        if (rc == OF_OK)
            order_roundtrip(route, body, &ocmd, has_user_id);
    } else {
        ocmd.type = actions[route - R_PAY];
        rc = of_body_order_action(body, &ocmd, &err);
        if (rc == OF_OK)
            order_roundtrip(route, body, &ocmd, 0);
    }
    if (rc != OF_OK)
        check_error(route, body, &err);
    json_decref(body);
    return 0;
}
