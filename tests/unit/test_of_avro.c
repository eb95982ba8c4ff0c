/* Unit tests of of_avro (the Kafka value codec) and of_crc64 (the schema
 * fingerprints it frames values with): round trips of every command and
 * event type, byte-for-byte agreement with Java's Avro 1.11.1, and refusal of
 * every kind of broken or hostile value without a large allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <avro.h>

#include "of_avro.h"
#include "of_crc64.h"
#include "of_money.h"

#define UUID_A "0b8e4a52-6c1d-4f0e-9d55-3f5e2a9b7c10"
#define UUID_B "1f0c2d3e-4b5a-4697-8a1b-2c3d4e5f6a7b"

/* The fingerprints Java's SchemaNormalization.parsingFingerprint64() (Avro
 * 1.11.1) gives for the .avsc files of schemas/avro/. A schema change
 * changes the wire format: update these on purpose, from Java, never by
 * copying ours. */
#define FP_USER_COMMAND  0xcf0d7dddcf47bc3dULL
#define FP_ORDER_COMMAND 0x953ef50a91500db2ULL
#define FP_USER_EVENT    0x3d8f1275116e708cULL
#define FP_ORDER_EVENT   0x05a4fd823d44de62ULL

static struct of_avro *avro;

/* ------------------------------------------------------------------------
 * avro-c's allocator, counted: the largest single request since reset
 */

static size_t alloc_max;

static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    if (nsize > alloc_max)
        alloc_max = nsize;
    return realloc(ptr, nsize);
}

static int setup(void **state)
{
    struct of_err err = {0};
    (void)state;

    avro = of_avro_new(&err);
    if (!avro) {
        fprintf(stderr, "of_avro_new: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    of_avro_destroy(avro);
    avro = NULL;
    return 0;
}

#define assert_ok(call, err)                                                   \
    do {                                                                       \
        int rc_ = (call);                                                      \
        if (rc_ != OF_OK)                                                      \
            fail_msg("%s: rc %d: %s", #call, rc_, (err).msg);                  \
    } while (0)

/* rc is OF_EINVAL and the message contains \p needle. */
static void assert_einval(int rc, const struct of_err *err, const char *needle)
{
    if (rc != OF_EINVAL)
        fail_msg("want OF_EINVAL with \"%s\", got rc %d: %s", needle, rc,
                 err->msg);
    if (!strstr(err->msg, needle))
        fail_msg("want a message with \"%s\", got: %s", needle, err->msg);
}

/* \p count copies of the UTF-8 text \p unit into \p dst. */
static void repeat(char *dst, size_t size, const char *unit, size_t count)
{
    size_t n = strlen(unit);

    assert_true((n * count) < size);
    for (size_t i = 0; i < count; i++)
        memcpy(dst + (i * n), unit, n);
    dst[n * count] = '\0';
}

/* ------------------------------------------------------------------------
 * Samples and comparisons
 */

static void sample_header(char *command_id,
                          int64_t *issued_at,
                          struct of_actor *actor,
                          char *trace_id)
{
    strcpy(command_id, UUID_A);
    *issued_at = 1700000000123456LL;
    strcpy(actor->id, "user:42");
    actor->role = OF_ROLE_USER;
    strcpy(trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
}

static void sample_user_cmd(struct of_user_cmd *cmd, enum of_user_cmd_type t)
{
    memset(cmd, 0, sizeof(*cmd));
    sample_header(cmd->command_id, &cmd->issued_at, &cmd->actor, cmd->trace_id);
    cmd->type = t;
    if (t == OF_REGISTER_USER) {
        strcpy(cmd->email, "ada@example.com");
        strcpy(cmd->username, "ada");
        cmd->has_avatar_url = true;
        strcpy(cmd->avatar_url, "https://img.example/ada.png");
    } else {
        cmd->user_id = 42;
    }
}

static void sample_order_cmd(struct of_order_cmd *cmd, enum of_order_cmd_type t)
{
    memset(cmd, 0, sizeof(*cmd));
    sample_header(cmd->command_id, &cmd->issued_at, &cmd->actor, cmd->trace_id);
    cmd->actor.role = OF_ROLE_SERVICE;
    strcpy(cmd->actor.id, "apikey:billing");
    cmd->type = t;
    if (t == OF_CREATE_ORDER) {
        cmd->user_id = 42;
        cmd->order_type = OF_ORDER_TYPE_VIP;
        cmd->total_amount = 19900;
        return;
    }
    cmd->order_id = 9001;
    if (t == OF_PAY_ORDER) {
        cmd->has_payment_ref = true;
        strcpy(cmd->payment_ref, "pi_3Nq");
    }
    if (t == OF_REFUND_ORDER) {
        cmd->has_reason = true;
        strcpy(cmd->reason, "damaged\nin transit");
    }
}

static void sample_user_event(struct of_user_event *ev,
                              enum of_user_event_type t)
{
    memset(ev, 0, sizeof(*ev));
    strcpy(ev->event_id, UUID_B);
    ev->occurred_at = 1700000000999999LL;
    ev->version = (int64_t)t + 1;
    ev->type = t;
    strcpy(ev->command_id, UUID_A);
    strcpy(ev->trace_id, "trace-9");
    ev->user.user_id = 42;
    strcpy(ev->user.email, "ada@example.com");
    strcpy(ev->user.username, "ada");
    ev->user.registration_date = 1600000000000000LL;
    ev->user.has_avatar_url = true;
    strcpy(ev->user.avatar_url, "https://img.example/ada.png");
    ev->user.is_banned = t == OF_USER_BANNED;
}

static void sample_order_event(struct of_order_event *ev,
                               enum of_order_event_type t)
{
    static const enum of_order_status status[] = {
        OF_ORDER_STATUS_PENDING, OF_ORDER_STATUS_PAID, OF_ORDER_STATUS_REFUNDED,
        OF_ORDER_STATUS_CANCELLED};

    memset(ev, 0, sizeof(*ev));
    strcpy(ev->event_id, UUID_B);
    ev->occurred_at = 1700000000999999LL;
    ev->version = (int64_t)t + 1;
    ev->type = t;
    strcpy(ev->command_id, UUID_A);
    strcpy(ev->trace_id, "trace-9");
    ev->order.order_id = 9001;
    ev->order.user_id = 42;
    ev->order.order_type = OF_ORDER_TYPE_JEWELRY;
    ev->order.order_status = status[t];
    ev->order.total_amount = 19900;
    ev->order.created_at = 1700000000000000LL;
    ev->order.updated_at = 1700000000999999LL;
}

static void assert_header_equal(const char *a_id,
                                int64_t a_at,
                                const struct of_actor *a_actor,
                                const char *a_trace,
                                const char *b_id,
                                int64_t b_at,
                                const struct of_actor *b_actor,
                                const char *b_trace)
{
    assert_string_equal(a_id, b_id);
    assert_int_equal(a_at, b_at);
    assert_string_equal(a_actor->id, b_actor->id);
    assert_int_equal(a_actor->role, b_actor->role);
    assert_string_equal(a_trace, b_trace);
}

static void assert_user_cmd_equal(const struct of_user_cmd *a,
                                  const struct of_user_cmd *b)
{
    assert_header_equal(a->command_id, a->issued_at, &a->actor, a->trace_id,
                        b->command_id, b->issued_at, &b->actor, b->trace_id);
    assert_int_equal(a->type, b->type);
    assert_string_equal(a->email, b->email);
    assert_string_equal(a->username, b->username);
    assert_int_equal(a->has_avatar_url, b->has_avatar_url);
    assert_string_equal(a->avatar_url, b->avatar_url);
    assert_int_equal(a->user_id, b->user_id);
}

static void assert_order_cmd_equal(const struct of_order_cmd *a,
                                   const struct of_order_cmd *b)
{
    assert_header_equal(a->command_id, a->issued_at, &a->actor, a->trace_id,
                        b->command_id, b->issued_at, &b->actor, b->trace_id);
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->user_id, b->user_id);
    assert_int_equal(a->order_type, b->order_type);
    assert_int_equal(a->total_amount, b->total_amount);
    assert_int_equal(a->order_id, b->order_id);
    assert_int_equal(a->has_payment_ref, b->has_payment_ref);
    assert_string_equal(a->payment_ref, b->payment_ref);
    assert_int_equal(a->has_reason, b->has_reason);
    assert_string_equal(a->reason, b->reason);
}

static void assert_user_event_equal(const struct of_user_event *a,
                                    const struct of_user_event *b)
{
    assert_string_equal(a->event_id, b->event_id);
    assert_int_equal(a->occurred_at, b->occurred_at);
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->type, b->type);
    assert_string_equal(a->command_id, b->command_id);
    assert_string_equal(a->trace_id, b->trace_id);
    assert_int_equal(a->user.user_id, b->user.user_id);
    assert_string_equal(a->user.email, b->user.email);
    assert_string_equal(a->user.username, b->user.username);
    assert_int_equal(a->user.registration_date, b->user.registration_date);
    assert_int_equal(a->user.has_avatar_url, b->user.has_avatar_url);
    assert_string_equal(a->user.avatar_url, b->user.avatar_url);
    assert_int_equal(a->user.is_banned, b->user.is_banned);
}

static void assert_order_event_equal(const struct of_order_event *a,
                                     const struct of_order_event *b)
{
    assert_string_equal(a->event_id, b->event_id);
    assert_int_equal(a->occurred_at, b->occurred_at);
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->type, b->type);
    assert_string_equal(a->command_id, b->command_id);
    assert_string_equal(a->trace_id, b->trace_id);
    assert_int_equal(a->order.order_id, b->order.order_id);
    assert_int_equal(a->order.user_id, b->order.user_id);
    assert_int_equal(a->order.order_type, b->order.order_type);
    assert_int_equal(a->order.order_status, b->order.order_status);
    assert_int_equal(a->order.total_amount, b->order.total_amount);
    assert_int_equal(a->order.created_at, b->order.created_at);
    assert_int_equal(a->order.updated_at, b->order.updated_at);
}

/* Encode, check the framing, decode, compare; returns the bytes (free()). */
static void *round_trip_user_cmd(const struct of_user_cmd *in, size_t *len)
{
    static struct of_user_cmd out;
    struct of_err err = {0};
    void *buf;

    assert_ok(of_avro_encode_user_cmd(avro, in, &buf, len, &err), err);
    assert_ok(of_avro_decode_user_cmd(avro, buf, *len, &out, &err), err);
    assert_user_cmd_equal(in, &out);
    return buf;
}

static void *round_trip_order_cmd(const struct of_order_cmd *in, size_t *len)
{
    static struct of_order_cmd out;
    struct of_err err = {0};
    void *buf;

    assert_ok(of_avro_encode_order_cmd(avro, in, &buf, len, &err), err);
    assert_ok(of_avro_decode_order_cmd(avro, buf, *len, &out, &err), err);
    assert_order_cmd_equal(in, &out);
    return buf;
}

static void *round_trip_user_event(const struct of_user_event *in, size_t *len)
{
    static struct of_user_event out;
    struct of_err err = {0};
    void *buf;

    assert_ok(of_avro_encode_user_event(avro, in, &buf, len, &err), err);
    assert_ok(of_avro_decode_user_event(avro, buf, *len, &out, &err), err);
    assert_user_event_equal(in, &out);
    return buf;
}

static void *round_trip_order_event(const struct of_order_event *in,
                                    size_t *len)
{
    static struct of_order_event out;
    struct of_err err = {0};
    void *buf;

    assert_ok(of_avro_encode_order_event(avro, in, &buf, len, &err), err);
    assert_ok(of_avro_decode_order_event(avro, buf, *len, &out, &err), err);
    assert_order_event_equal(in, &out);
    return buf;
}

/* ------------------------------------------------------------------------
 * Round trips
 */

static void register_user_round_trips_with_and_without_avatar(void **state)
{
    static struct of_user_cmd cmd;
    size_t len;
    (void)state;

    sample_user_cmd(&cmd, OF_REGISTER_USER);
    free(round_trip_user_cmd(&cmd, &len));
    cmd.has_avatar_url = false;
    cmd.avatar_url[0] = '\0';
    free(round_trip_user_cmd(&cmd, &len));
    cmd.has_avatar_url = true; /* present but empty is not null */
    free(round_trip_user_cmd(&cmd, &len));
}

static void register_user_round_trips_max_length_strings(void **state)
{
    static struct of_user_cmd cmd;
    size_t len;
    (void)state;

    sample_user_cmd(&cmd, OF_REGISTER_USER);
    /* limits count characters: 4-byte ones fill the arrays to the brim */
    repeat(cmd.email, sizeof(cmd.email), "\xf0\x9f\x98\x80", OF_EMAIL_MAX);
    repeat(cmd.username, sizeof(cmd.username), "\xf0\x9f\x8d\x95",
           OF_USERNAME_MAX);
    repeat(cmd.avatar_url, sizeof(cmd.avatar_url), "\xf0\x90\x8d\x88",
           OF_AVATAR_URL_MAX);
    repeat(cmd.actor.id, sizeof(cmd.actor.id), "k", OF_ACTOR_ID_MAX);
    repeat(cmd.trace_id, sizeof(cmd.trace_id), "t", OF_TRACE_ID_MAX);
    cmd.issued_at = OF_TIME_MAX;
    free(round_trip_user_cmd(&cmd, &len));
    /* and ASCII at the limit */
    repeat(cmd.username, sizeof(cmd.username), "u", OF_USERNAME_MAX);
    repeat(cmd.email, sizeof(cmd.email), "e", OF_EMAIL_MAX);
    cmd.issued_at = 0;
    free(round_trip_user_cmd(&cmd, &len));
}

static void ban_and_unban_round_trip(void **state)
{
    static struct of_user_cmd cmd;
    size_t len;
    (void)state;

    sample_user_cmd(&cmd, OF_BAN_USER);
    cmd.actor.role = OF_ROLE_ADMIN;
    cmd.user_id = INT64_MAX;
    free(round_trip_user_cmd(&cmd, &len));
    sample_user_cmd(&cmd, OF_UNBAN_USER);
    cmd.user_id = 1;
    cmd.trace_id[0] = '\0';
    free(round_trip_user_cmd(&cmd, &len));
}

static void create_order_round_trips_1_cent_and_max_amount(void **state)
{
    static const int64_t amounts[] = {1,     127,   128,   255,         256,
                                      32767, 32768, 19900, 9999999999LL};
    static struct of_order_cmd cmd;
    size_t len;
    (void)state;

    sample_order_cmd(&cmd, OF_CREATE_ORDER);
    for (size_t i = 0; i < sizeof(amounts) / sizeof(amounts[0]); i++) {
        cmd.total_amount = amounts[i];
        cmd.order_type = i % 2 ? OF_ORDER_TYPE_JEWELRY : OF_ORDER_TYPE_VIP;
        free(round_trip_order_cmd(&cmd, &len));
    }
}

static void pay_refund_cancel_round_trip_with_and_without_text(void **state)
{
    static struct of_order_cmd cmd;
    size_t len;
    (void)state;

    sample_order_cmd(&cmd, OF_PAY_ORDER);
    free(round_trip_order_cmd(&cmd, &len));
    repeat(cmd.payment_ref, sizeof(cmd.payment_ref), "\xc3\xa9",
           OF_PAYMENT_REF_MAX);
    free(round_trip_order_cmd(&cmd, &len));
    cmd.has_payment_ref = false;
    cmd.payment_ref[0] = '\0';
    free(round_trip_order_cmd(&cmd, &len));

    sample_order_cmd(&cmd, OF_REFUND_ORDER);
    free(round_trip_order_cmd(&cmd, &len));
    repeat(cmd.reason, sizeof(cmd.reason), "\xf0\x9f\x93\xa6", OF_REASON_MAX);
    free(round_trip_order_cmd(&cmd, &len));
    cmd.has_reason = false;
    cmd.reason[0] = '\0';
    free(round_trip_order_cmd(&cmd, &len));

    sample_order_cmd(&cmd, OF_CANCEL_ORDER);
    cmd.actor.role = OF_ROLE_USER;
    free(round_trip_order_cmd(&cmd, &len));
}

static void every_user_event_type_round_trips(void **state)
{
    static struct of_user_event ev;
    size_t len;
    (void)state;

    for (int t = OF_USER_REGISTERED; t <= OF_USER_UNBANNED; t++) {
        sample_user_event(&ev, (enum of_user_event_type)t);
        free(round_trip_user_event(&ev, &len));
        ev.user.has_avatar_url = false;
        ev.user.avatar_url[0] = '\0';
        free(round_trip_user_event(&ev, &len));
    }
    repeat(ev.user.email, sizeof(ev.user.email), "\xe2\x82\xac", OF_EMAIL_MAX);
    repeat(ev.user.avatar_url, sizeof(ev.user.avatar_url), "a",
           OF_AVATAR_URL_MAX);
    ev.user.has_avatar_url = true;
    ev.version = INT64_MAX;
    free(round_trip_user_event(&ev, &len));
}

static void every_order_event_type_round_trips(void **state)
{
    static struct of_order_event ev;
    size_t len;
    (void)state;

    for (int t = OF_ORDER_CREATED; t <= OF_ORDER_CANCELLED; t++) {
        sample_order_event(&ev, (enum of_order_event_type)t);
        free(round_trip_order_event(&ev, &len));
        ev.order.total_amount = 1;
        ev.order.order_type = OF_ORDER_TYPE_VIP;
        free(round_trip_order_event(&ev, &len));
        ev.order.total_amount = OF_MONEY_MAX_CENTS;
        free(round_trip_order_event(&ev, &len));
    }
}

/* ------------------------------------------------------------------------
 * Agreement with Java (Avro 1.11.1 BinaryMessageEncoder, GenericRecord)
 */

/* OrderCommand CreateOrder: apikey:ops/service, user 42, jewelry, "1.28". */
static const unsigned char java_create_order[] = {
    0xc3, 0x01, 0xb2, 0x0d, 0x50, 0x91, 0x0a, 0xf5, 0x3e, 0x95, 0x48, 0x30,
    0x62, 0x38, 0x65, 0x34, 0x61, 0x35, 0x32, 0x2d, 0x36, 0x63, 0x31, 0x64,
    0x2d, 0x34, 0x66, 0x30, 0x65, 0x2d, 0x39, 0x64, 0x35, 0x35, 0x2d, 0x33,
    0x66, 0x35, 0x65, 0x32, 0x61, 0x39, 0x62, 0x37, 0x63, 0x31, 0x30, 0x80,
    0x89, 0x81, 0x82, 0x83, 0x89, 0x85, 0x06, 0x14, 0x61, 0x70, 0x69, 0x6b,
    0x65, 0x79, 0x3a, 0x6f, 0x70, 0x73, 0x02, 0x0e, 0x74, 0x72, 0x61, 0x63,
    0x65, 0x2d, 0x31, 0x00, 0x54, 0x02, 0x04, 0x00, 0x80,
};

/* UserEvent UserBanned v3 of user 7 "Zoë", with an avatar, empty trace. */
static const unsigned char java_user_banned[] = {
    0xc3, 0x01, 0x8c, 0x70, 0x6e, 0x11, 0x75, 0x12, 0x8f, 0x3d, 0x48, 0x31,
    0x66, 0x30, 0x63, 0x32, 0x64, 0x33, 0x65, 0x2d, 0x34, 0x62, 0x35, 0x61,
    0x2d, 0x34, 0x36, 0x39, 0x37, 0x2d, 0x38, 0x61, 0x31, 0x62, 0x2d, 0x32,
    0x63, 0x33, 0x64, 0x34, 0x65, 0x35, 0x66, 0x36, 0x61, 0x37, 0x62, 0xfe,
    0x88, 0xec, 0x82, 0x83, 0x89, 0x85, 0x06, 0x06, 0x02, 0x48, 0x30, 0x62,
    0x38, 0x65, 0x34, 0x61, 0x35, 0x32, 0x2d, 0x36, 0x63, 0x31, 0x64, 0x2d,
    0x34, 0x66, 0x30, 0x65, 0x2d, 0x39, 0x64, 0x35, 0x35, 0x2d, 0x33, 0x66,
    0x35, 0x65, 0x32, 0x61, 0x39, 0x62, 0x37, 0x63, 0x31, 0x30, 0x00, 0x0e,
    0x1e, 0x7a, 0x6f, 0x65, 0x40, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65,
    0x2e, 0x63, 0x6f, 0x6d, 0x08, 0x5a, 0x6f, 0xc3, 0xab, 0x80, 0x80, 0xa0,
    0xfa, 0xa0, 0xcc, 0xd7, 0x05, 0x02, 0x32, 0x68, 0x74, 0x74, 0x70, 0x73,
    0x3a, 0x2f, 0x2f, 0x69, 0x6d, 0x67, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70,
    0x6c, 0x65, 0x2f, 0x7a, 0x2e, 0x70, 0x6e, 0x67, 0x01,
};

static void schema_fingerprints_match_java(void **state)
{
    (void)state;
    assert_int_equal(of_avro_fingerprint(avro, OF_AVRO_USER_COMMAND),
                     FP_USER_COMMAND);
    assert_int_equal(of_avro_fingerprint(avro, OF_AVRO_ORDER_COMMAND),
                     FP_ORDER_COMMAND);
    assert_int_equal(of_avro_fingerprint(avro, OF_AVRO_USER_EVENT),
                     FP_USER_EVENT);
    assert_int_equal(of_avro_fingerprint(avro, OF_AVRO_ORDER_EVENT),
                     FP_ORDER_EVENT);
}

static void decodes_and_reencodes_java_create_order(void **state)
{
    static struct of_order_cmd cmd;
    struct of_err err = {0};
    void *buf;
    size_t len;
    (void)state;

    assert_ok(of_avro_decode_order_cmd(avro, java_create_order,
                                       sizeof(java_create_order), &cmd, &err),
              err);
    assert_string_equal(cmd.command_id, UUID_A);
    assert_int_equal(cmd.issued_at, 1700000000123456LL);
    assert_string_equal(cmd.actor.id, "apikey:ops");
    assert_int_equal(cmd.actor.role, OF_ROLE_SERVICE);
    assert_string_equal(cmd.trace_id, "trace-1");
    assert_int_equal(cmd.type, OF_CREATE_ORDER);
    assert_int_equal(cmd.user_id, 42);
    assert_int_equal(cmd.order_type, OF_ORDER_TYPE_JEWELRY);
    assert_int_equal(cmd.total_amount, 128); /* 00 80: sign byte kept */

    assert_ok(of_avro_encode_order_cmd(avro, &cmd, &buf, &len, &err), err);
    assert_int_equal(len, sizeof(java_create_order));
    assert_memory_equal(buf, java_create_order, len);
    free(buf);
}

static void decodes_and_reencodes_java_user_banned(void **state)
{
    static struct of_user_event ev;
    struct of_err err = {0};
    void *buf;
    size_t len;
    (void)state;

    assert_ok(of_avro_decode_user_event(avro, java_user_banned,
                                        sizeof(java_user_banned), &ev, &err),
              err);
    assert_string_equal(ev.event_id, UUID_B);
    assert_int_equal(ev.occurred_at, 1700000000999999LL);
    assert_int_equal(ev.version, 3);
    assert_int_equal(ev.type, OF_USER_BANNED);
    assert_string_equal(ev.command_id, UUID_A);
    assert_string_equal(ev.trace_id, "");
    assert_int_equal(ev.user.user_id, 7);
    assert_string_equal(ev.user.email, "zoe@example.com");
    assert_string_equal(ev.user.username, "Zo\xc3\xab");
    assert_int_equal(ev.user.registration_date, 1600000000000000LL);
    assert_true(ev.user.has_avatar_url);
    assert_string_equal(ev.user.avatar_url, "https://img.example/z.png");
    assert_true(ev.user.is_banned);

    assert_ok(of_avro_encode_user_event(avro, &ev, &buf, &len, &err), err);
    assert_int_equal(len, sizeof(java_user_banned));
    assert_memory_equal(buf, java_user_banned, len);
    free(buf);
}

/* ------------------------------------------------------------------------
 * A hand-written Avro binary writer, independent of avro-c, for golden bytes
 * and for values our encoder refuses to write
 */

struct wire {
    unsigned char b[20000];
    size_t n;
};

static void w_raw(struct wire *w, const void *p, size_t n)
{
    assert_true(w->n + n <= sizeof(w->b));
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void w_byte(struct wire *w, unsigned char c)
{
    w_raw(w, &c, 1);
}

static void w_long(struct wire *w, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);

    while (z > 0x7F) {
        w_byte(w, (unsigned char)((z & 0x7F) | 0x80));
        z >>= 7;
    }
    w_byte(w, (unsigned char)z);
}

static void w_bytes(struct wire *w, const void *p, size_t n)
{
    w_long(w, (int64_t)n);
    w_raw(w, p, n);
}

static void w_str(struct wire *w, const char *s)
{
    w_bytes(w, s, strlen(s));
}

static void w_header(struct wire *w, uint64_t fp)
{
    w->n = 0;
    w_byte(w, 0xC3);
    w_byte(w, 0x01);
    for (int i = 0; i < 8; i++)
        w_byte(w, (unsigned char)(fp >> (8 * i)));
}

/* UserCommand up to the payload: the sample header of sample_header(). */
static void
w_cmd_prefix(struct wire *w, uint64_t fp, const char *command_id, int64_t role)
{
    w_header(w, fp);
    w_str(w, command_id);
    w_long(w, 1700000000123456LL);
    w_str(w, "user:42");
    w_long(w, role);
    w_str(w, "4bf92f3577b34da6a3ce929d0e0e4736");
}

static int decode_user_cmd(const struct wire *w, struct of_err *err)
{
    static struct of_user_cmd cmd;

    return of_avro_decode_user_cmd(avro, w->b, w->n, &cmd, err);
}

static int decode_order_cmd(const struct wire *w, struct of_err *err)
{
    static struct of_order_cmd cmd;

    return of_avro_decode_order_cmd(avro, w->b, w->n, &cmd, err);
}

static void encoder_writes_the_avro_spec_bytes(void **state)
{
    static struct of_user_cmd cmd;
    struct of_err err = {0};
    struct wire w;
    void *buf;
    size_t len;
    (void)state;

    sample_user_cmd(&cmd, OF_REGISTER_USER);
    w_cmd_prefix(&w, FP_USER_COMMAND, UUID_A, 0);
    w_long(&w, 0); /* RegisterUser */
    w_str(&w, "ada@example.com");
    w_str(&w, "ada");
    w_long(&w, 1); /* avatar_url: string */
    w_str(&w, "https://img.example/ada.png");
    assert_ok(of_avro_encode_user_cmd(avro, &cmd, &buf, &len, &err), err);
    assert_int_equal(len, w.n);
    assert_memory_equal(buf, w.b, len);
    free(buf);
}

static void decimal_is_the_shortest_twos_complement(void **state)
{
    static const struct {
        int64_t cents;
        unsigned char be[5];
        size_t n;
    } cases[] = {
        {1, {0x01}, 1},
        {127, {0x7F}, 1},
        {128, {0x00, 0x80}, 2},
        {19900, {0x4D, 0xBC}, 2},
        {9999999999LL, {0x02, 0x54, 0x0B, 0xE3, 0xFF}, 5},
    };
    static struct of_order_cmd cmd;
    struct of_err err = {0};
    void *buf;
    size_t len;
    (void)state;

    sample_order_cmd(&cmd, OF_CREATE_ORDER);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cmd.total_amount = cases[i].cents;
        assert_ok(of_avro_encode_order_cmd(avro, &cmd, &buf, &len, &err), err);
        /* the datum ends with: bytes length, the bytes */
        assert_int_equal(((unsigned char *)buf)[len - cases[i].n - 1],
                         cases[i].n * 2);
        assert_memory_equal((unsigned char *)buf + len - cases[i].n,
                            cases[i].be, cases[i].n);
        free(buf);
    }
}

/* ------------------------------------------------------------------------
 * Hostile and broken values
 */

static void string_length_of_2_pow_31_in_6_bytes_fails_fast(void **state)
{
    struct of_err err = {0};
    struct wire w;
    (void)state;

    w_header(&w, FP_USER_COMMAND);
    w_long(&w, INT64_C(1) << 31); /* command_id "length": 5 bytes */
    w_byte(&w, 'x');
    assert_int_equal(w.n, OF_AVRO_HEADER_SIZE + 6);
    alloc_max = 0;
    assert_einval(decode_user_cmd(&w, &err), &err, "exceeds the 1 bytes left");
    assert_in_range(alloc_max, 0, 4096);

    w_header(&w, FP_USER_COMMAND);
    w_long(&w, INT32_MAX); /* TESTPLAN row 43: 2^31-1 */
    w_byte(&w, 'x');
    assert_einval(decode_user_cmd(&w, &err), &err, "length 2147483647");
    assert_in_range(alloc_max, 0, 4096);

    w_header(&w, FP_USER_COMMAND);
    w_long(&w, INT64_MAX);
    assert_einval(decode_user_cmd(&w, &err), &err, "exceeds");
    assert_in_range(alloc_max, 0, 4096);
}

static void negative_lengths_are_refused(void **state)
{
    struct of_err err = {0};
    struct wire w;
    (void)state;

    w_header(&w, FP_USER_COMMAND);
    w_long(&w, -1);
    w_str(&w, "padding padding padding padding padding");
    assert_einval(decode_user_cmd(&w, &err), &err, "negative string length");

    w_header(&w, FP_USER_COMMAND);
    w_long(&w, INT64_MIN);
    assert_einval(decode_user_cmd(&w, &err), &err, "negative");

    /* a negative decimal bytes length in CreateOrder */
    w_cmd_prefix(&w, FP_ORDER_COMMAND, UUID_A, 1);
    w_long(&w, 0);
    w_long(&w, 42);
    w_long(&w, 0);
    w_long(&w, -2);
    w_byte(&w, 0x01);
    assert_einval(decode_order_cmd(&w, &err), &err, "negative bytes length");
}

static void out_of_range_union_branch_is_refused(void **state)
{
    struct of_err err = {0};
    struct wire w;
    (void)state;

    w_cmd_prefix(&w, FP_USER_COMMAND, UUID_A, 0);
    w_long(&w, 3); /* RegisterUser, BanUser, UnbanUser: 0..2 */
    w_long(&w, 42);
    assert_einval(decode_user_cmd(&w, &err), &err, "union branch 3 out of");

    w_cmd_prefix(&w, FP_USER_COMMAND, UUID_A, 0);
    w_long(&w, -1);
    w_long(&w, 42);
    assert_einval(decode_user_cmd(&w, &err), &err, "union branch -1");

    /* the avatar_url ["null","string"] union */
    w_cmd_prefix(&w, FP_USER_COMMAND, UUID_A, 0);
    w_long(&w, 0);
    w_str(&w, "ada@example.com");
    w_str(&w, "ada");
    w_long(&w, 2);
    assert_einval(decode_user_cmd(&w, &err), &err, "union branch 2");
}

static void out_of_range_enum_index_is_refused(void **state)
{
    struct of_err err = {0};
    struct wire w;
    (void)state;

    w_cmd_prefix(&w, FP_USER_COMMAND, UUID_A, 3); /* user, service, admin */
    w_long(&w, 1);
    w_long(&w, 42);
    assert_einval(decode_user_cmd(&w, &err), &err, "enum index 3 out of 0..2");

    w_cmd_prefix(&w, FP_ORDER_COMMAND, UUID_A, 1);
    w_long(&w, 0);
    w_long(&w, 42);
    w_long(&w, 2); /* vip, jewelry */
    w_bytes(&w, "\x01", 1);
    assert_einval(decode_order_cmd(&w, &err), &err, "enum index 2");
}

static void overlong_and_overflowing_varints_are_refused(void **state)
{
    static const unsigned char eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                           0x80, 0x80, 0x80, 0x80, 0x01};
    static const unsigned char overflow[] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                             0xFF, 0xFF, 0xFF, 0xFF, 0x02};
    struct of_err err = {0};
    struct wire w;
    (void)state;

    w_header(&w, FP_USER_COMMAND);
    w_str(&w, UUID_A);
    w_raw(&w, eleven, sizeof(eleven)); /* issued_at */
    assert_einval(decode_user_cmd(&w, &err), &err, "longer than 10 bytes");

    w_header(&w, FP_USER_COMMAND);
    w_str(&w, UUID_A);
    w_raw(&w, overflow, sizeof(overflow));
    assert_einval(decode_user_cmd(&w, &err), &err, "overflows 64 bits");
}

static void boolean_other_than_0_or_1_is_refused(void **state)
{
    static struct of_user_event ev;
    struct of_err err = {0};
    void *buf;
    size_t len;
    (void)state;

    sample_user_event(&ev, OF_USER_BANNED);
    assert_ok(of_avro_encode_user_event(avro, &ev, &buf, &len, &err), err);
    /* is_banned is the last byte of a UserEvent */
    assert_int_equal(((unsigned char *)buf)[len - 1], 1);
    ((unsigned char *)buf)[len - 1] = 2;
    assert_einval(of_avro_decode_user_event(avro, buf, len, &ev, &err), &err,
                  "boolean");
    free(buf);
}

static void trailing_bytes_are_refused(void **state)
{
    static struct of_order_cmd cmd;
    struct of_err err = {0};
    unsigned char *buf;
    void *enc;
    size_t len;
    (void)state;

    sample_order_cmd(&cmd, OF_CANCEL_ORDER);
    assert_ok(of_avro_encode_order_cmd(avro, &cmd, &enc, &len, &err), err);
    buf = malloc(len + 1);
    memcpy(buf, enc, len);
    buf[len] = 0x00;
    assert_einval(of_avro_decode_order_cmd(avro, buf, len + 1, &cmd, &err),
                  &err, "1 trailing bytes");
    free(buf);
    free(enc);
}

/* Each prefix of each value, in a buffer of exactly that size so that
 * AddressSanitizer sees any read past it. */
static void assert_every_truncation_fails(const void *buf,
                                          size_t len,
                                          enum of_avro_schema schema)
{
    static struct of_user_cmd ucmd;
    static struct of_order_cmd ocmd;
    static struct of_user_event uev;
    static struct of_order_event oev;
    struct of_err err = {0};

    for (size_t n = 0; n < len; n++) {
        unsigned char *cut = malloc(n ? n : 1);
        int rc = OF_OK;

        memcpy(cut, buf, n);
        if (schema == OF_AVRO_USER_COMMAND)
            rc = of_avro_decode_user_cmd(avro, cut, n, &ucmd, &err);
        if (schema == OF_AVRO_ORDER_COMMAND)
            rc = of_avro_decode_order_cmd(avro, cut, n, &ocmd, &err);
        if (schema == OF_AVRO_USER_EVENT)
            rc = of_avro_decode_user_event(avro, cut, n, &uev, &err);
        if (schema == OF_AVRO_ORDER_EVENT)
            rc = of_avro_decode_order_event(avro, cut, n, &oev, &err);
        free(cut);
        if (rc != OF_EINVAL)
            fail_msg("%s cut to %zu of %zu bytes: rc %d",
                     of_avro_schema_name(schema), n, len, rc);
    }
}

static void every_truncation_of_every_type_is_refused(void **state)
{
    static struct of_user_cmd ucmd;
    static struct of_order_cmd ocmd;
    static struct of_user_event uev;
    static struct of_order_event oev;
    void *buf;
    size_t len;
    (void)state;

    for (int t = OF_REGISTER_USER; t <= OF_UNBAN_USER; t++) {
        sample_user_cmd(&ucmd, (enum of_user_cmd_type)t);
        buf = round_trip_user_cmd(&ucmd, &len);
        assert_every_truncation_fails(buf, len, OF_AVRO_USER_COMMAND);
        free(buf);
    }
    for (int t = OF_CREATE_ORDER; t <= OF_CANCEL_ORDER; t++) {
        sample_order_cmd(&ocmd, (enum of_order_cmd_type)t);
        buf = round_trip_order_cmd(&ocmd, &len);
        assert_every_truncation_fails(buf, len, OF_AVRO_ORDER_COMMAND);
        free(buf);
    }
    sample_user_event(&uev, OF_USER_REGISTERED);
    buf = round_trip_user_event(&uev, &len);
    assert_every_truncation_fails(buf, len, OF_AVRO_USER_EVENT);
    free(buf);
    sample_order_event(&oev, OF_ORDER_REFUNDED);
    buf = round_trip_order_event(&oev, &len);
    assert_every_truncation_fails(buf, len, OF_AVRO_ORDER_EVENT);
    free(buf);
}

/* Every byte of a value set to a handful of values: decoding never crashes,
 * never allocates more than the input allows, and whatever it accepts
 * encodes and decodes again to the same struct. */
static void
corrupted_bytes_never_crash_and_accepted_ones_round_trip(void **state)
{
    static const unsigned char values[] = {0x00, 0x01, 0x02, 0x7F,
                                           0x80, 0xC3, 0xFE, 0xFF};
    static struct of_order_event ev;
    static struct of_order_event out;
    struct of_err err = {0};
    unsigned char *buf;
    void *enc;
    size_t len;
    int accepted = 0;
    (void)state;

    sample_order_event(&ev, OF_ORDER_PAID);
    assert_ok(of_avro_encode_order_event(avro, &ev, &enc, &len, &err), err);
    buf = malloc(len);
    alloc_max = 0;
    for (size_t i = 0; i < len; i++) {
        for (size_t v = 0; v < sizeof(values); v++) {
            memcpy(buf, enc, len);
            buf[i] = values[v];
            if (of_avro_decode_order_event(avro, buf, len, &out, &err) != OF_OK)
                continue;
            accepted++;
            free(round_trip_order_event(&out, &(size_t){0}));
        }
    }
    assert_in_range(alloc_max, 0, (2 * len) + 4096);
    assert_true(accepted > 0); /* e.g. other ids and times */
    free(buf);
    free(enc);
}

static void strings_with_nul_or_bad_utf8_are_refused(void **state)
{
    struct of_err err = {0};
    struct wire w;
    (void)state;

    w_cmd_prefix(&w, FP_USER_COMMAND, UUID_A, 0);
    w_long(&w, 0);
    w_bytes(&w, "ada\0@example.com", 16);
    w_str(&w, "ada");
    w_long(&w, 0);
    assert_einval(decode_user_cmd(&w, &err), &err,
                  "\"email\": contains a NUL byte");

    w_cmd_prefix(&w, FP_USER_COMMAND, UUID_A, 0);
    w_long(&w, 0);
    w_str(&w, "ada@example.com");
    w_str(&w, "\xc0\xaf"); /* overlong '/' */
    w_long(&w, 0);
    assert_einval(decode_user_cmd(&w, &err), &err,
                  "\"username\": not valid UTF-8");

    w_cmd_prefix(&w, FP_USER_COMMAND, UUID_A, 0);
    w_long(&w, 0);
    w_str(&w, "ada@example.com");
    w_str(&w, "\xed\xa0\x80"); /* a surrogate */
    w_long(&w, 0);
    assert_einval(decode_user_cmd(&w, &err), &err, "not valid UTF-8");
}

static void decoded_limits_name_the_field(void **state)
{
    static char big[OF_AVATAR_URL_SIZE + 8];
    struct of_err err = {0};
    struct wire w;
    (void)state;

    w_cmd_prefix(&w, FP_USER_COMMAND, "0B8E4A52-6C1D-4F0E-9D55-3F5E2A9B7C10",
                 0);
    w_long(&w, 1);
    w_long(&w, 42);
    assert_einval(decode_user_cmd(&w, &err), &err,
                  "invalid \"command_id\": not a lower-case UUID");

    w_cmd_prefix(&w, FP_USER_COMMAND, UUID_A, 0);
    w_long(&w, 1);
    w_long(&w, 0);
    assert_einval(decode_user_cmd(&w, &err), &err, "invalid \"user_id\"");

    w_cmd_prefix(&w, FP_USER_COMMAND, UUID_A, 0);
    w_long(&w, 0);
    w_str(&w, "ada@example.com");
    repeat(big, sizeof(big), "u", OF_USERNAME_MAX + 1);
    w_str(&w, big);
    w_long(&w, 0);
    assert_einval(decode_user_cmd(&w, &err), &err,
                  "invalid \"username\": more than 50 characters");

    /* longer than the struct's array: refused before any copy */
    w_cmd_prefix(&w, FP_USER_COMMAND, UUID_A, 0);
    w_long(&w, 0);
    w_str(&w, "ada@example.com");
    w_str(&w, "ada");
    w_long(&w, 1);
    repeat(big, sizeof(big), "a", OF_AVATAR_URL_SIZE);
    w_str(&w, big);
    assert_einval(decode_user_cmd(&w, &err), &err,
                  "invalid \"avatar_url\": too long");
}

static void decoded_amount_out_of_range_names_total_amount(void **state)
{
    static const struct {
        const char *be;
        size_t n;
        const char *why;
    } cases[] = {
        {"\x02\x54\x0B\xE4\x00", 5, "outside"}, /* 10^10 cents */
        {"\x00", 1, "outside"},                 /* zero */
        {"\xFF", 1, "outside"},                 /* -0.01 */
        {"", 0, "not 1 to 8 bytes"},
        {"\x00\x00\x00\x00\x00\x00\x00\x00\x01", 9, "not 1 to 8 bytes"},
    };
    struct of_err err = {0};
    struct wire w;
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        w_cmd_prefix(&w, FP_ORDER_COMMAND, UUID_A, 1);
        w_long(&w, 0); /* CreateOrder */
        w_long(&w, 42);
        w_long(&w, 0);
        w_bytes(&w, cases[i].be, cases[i].n);
        assert_einval(decode_order_cmd(&w, &err), &err, "\"total_amount\"");
        assert_einval(decode_order_cmd(&w, &err), &err, cases[i].why);
    }
    /* a non-minimal but valid encoding of 1.28 is accepted */
    w_cmd_prefix(&w, FP_ORDER_COMMAND, UUID_A, 1);
    w_long(&w, 0);
    w_long(&w, 42);
    w_long(&w, 0);
    w_bytes(&w, "\x00\x00\x00\x80", 4);
    assert_ok(decode_order_cmd(&w, &err), err);
}

/* ------------------------------------------------------------------------
 * Framing: marker, fingerprint, peek
 */

static void framing_errors_say_what_is_wrong(void **state)
{
    static struct of_user_cmd cmd;
    static struct of_order_cmd other;
    struct of_err err = {0};
    unsigned char *buf;
    void *enc;
    size_t len;
    (void)state;

    sample_user_cmd(&cmd, OF_BAN_USER);
    assert_ok(of_avro_encode_user_cmd(avro, &cmd, &enc, &len, &err), err);
    buf = enc;

    assert_einval(of_avro_decode_user_cmd(avro, NULL, 0, &cmd, &err), &err,
                  "missing the C3 01 marker");
    assert_einval(of_avro_decode_user_cmd(avro, buf, 2, &cmd, &err), &err,
                  "truncated orderflow.UserCommand: 2 bytes");
    assert_einval(of_avro_decode_order_cmd(avro, buf, len, &other, &err), &err,
                  "expected orderflow.OrderCommand, got "
                  "orderflow.UserCommand");
    buf[5] ^= 0x40; /* a fingerprint none of ours has */
    assert_einval(of_avro_decode_user_cmd(avro, buf, len, &cmd, &err), &err,
                  "unknown schema fingerprint 0x");
    buf[5] ^= 0x40;
    buf[0] = 0xC2;
    assert_einval(of_avro_decode_user_cmd(avro, buf, len, &cmd, &err), &err,
                  "missing the C3 01 marker");
    buf[0] = 0xC3;
    buf[1] = 0x00;
    assert_einval(of_avro_decode_user_cmd(avro, buf, len, &cmd, &err), &err,
                  "missing the C3 01 marker");
    free(enc);
}

static void peek_tells_garbage_from_unknown_and_known_schemas(void **state)
{
    static const unsigned char marker_only[] = {0xC3, 0x01};
    static const unsigned char unknown[] = {0xC3, 0x01, 0x01, 0x02, 0x03,
                                            0x04, 0x05, 0x06, 0x07, 0x08};
    static const unsigned char text[] = "{\"order_id\": 1}";
    enum of_avro_schema schema = OF_AVRO_SCHEMA_COUNT;
    uint64_t fp = 0;
    (void)state;

    assert_int_equal(of_avro_peek(avro, NULL, 0, &schema, &fp),
                     OF_AVRO_FRAME_NONE);
    assert_int_equal(of_avro_peek(avro, marker_only, 2, &schema, &fp),
                     OF_AVRO_FRAME_NONE);
    assert_int_equal(of_avro_peek(avro, unknown, 9, NULL, NULL),
                     OF_AVRO_FRAME_NONE);
    assert_int_equal(of_avro_peek(avro, text, sizeof(text) - 1, NULL, NULL),
                     OF_AVRO_FRAME_NONE);
    assert_int_equal(of_avro_peek(avro, unknown, sizeof(unknown), &schema, &fp),
                     OF_AVRO_FRAME_UNKNOWN);
    assert_int_equal(fp, 0x0807060504030201ULL);
    assert_int_equal(schema, OF_AVRO_SCHEMA_COUNT); /* untouched */

    assert_int_equal(of_avro_peek(avro, java_user_banned,
                                  sizeof(java_user_banned), &schema, &fp),
                     OF_AVRO_FRAME_KNOWN);
    assert_int_equal(schema, OF_AVRO_USER_EVENT);
    assert_int_equal(fp, FP_USER_EVENT);
    assert_int_equal(of_avro_peek(avro, java_create_order,
                                  sizeof(java_create_order), &schema, NULL),
                     OF_AVRO_FRAME_KNOWN);
    assert_int_equal(schema, OF_AVRO_ORDER_COMMAND);
}

/* ------------------------------------------------------------------------
 * Encoding refuses what decoding would refuse
 */

static void assert_encode_refuses(const struct of_user_cmd *cmd,
                                  const char *needle)
{
    struct of_err err = {0};
    void *buf = (void *)1;
    size_t len = 1;

    assert_einval(of_avro_encode_user_cmd(avro, cmd, &buf, &len, &err), &err,
                  needle);
    assert_null(buf);
    assert_int_equal(len, 0);
}

static void encode_refuses_out_of_bounds_user_commands(void **state)
{
    static struct of_user_cmd cmd;
    (void)state;

    sample_user_cmd(&cmd, OF_REGISTER_USER);
    repeat(cmd.username, sizeof(cmd.username), "u", OF_USERNAME_MAX + 1);
    assert_encode_refuses(&cmd, "invalid \"username\": more than 50");
    sample_user_cmd(&cmd, OF_REGISTER_USER);
    repeat(cmd.email, sizeof(cmd.email), "e", OF_EMAIL_MAX + 1);
    assert_encode_refuses(&cmd, "invalid \"email\": more than 255");
    sample_user_cmd(&cmd, OF_REGISTER_USER);
    cmd.email[0] = '\0';
    assert_encode_refuses(&cmd, "invalid \"email\": empty");
    sample_user_cmd(&cmd, OF_REGISTER_USER);
    memset(cmd.avatar_url, 'a', sizeof(cmd.avatar_url));
    assert_encode_refuses(&cmd, "invalid \"avatar_url\": not NUL-terminated");
    sample_user_cmd(&cmd, OF_REGISTER_USER);
    strcpy(cmd.command_id, "not-a-uuid");
    assert_encode_refuses(&cmd, "invalid \"command_id\"");
    sample_user_cmd(&cmd, OF_BAN_USER);
    cmd.issued_at = -1;
    assert_encode_refuses(&cmd, "invalid \"issued_at\"");
    sample_user_cmd(&cmd, OF_BAN_USER);
    cmd.actor.id[0] = '\0';
    assert_encode_refuses(&cmd, "invalid \"actor.id\": empty");
    sample_user_cmd(&cmd, OF_BAN_USER);
    strcpy(cmd.trace_id, "a\r\nb");
    assert_encode_refuses(&cmd, "invalid \"trace_id\": contains a control");
    sample_user_cmd(&cmd, OF_BAN_USER);
    cmd.actor.role = (enum of_role)3;
    assert_encode_refuses(&cmd, "invalid \"actor.role\"");
    sample_user_cmd(&cmd, OF_BAN_USER);
    cmd.type = (enum of_user_cmd_type)7;
    assert_encode_refuses(&cmd, "invalid \"payload\"");
    sample_user_cmd(&cmd, OF_UNBAN_USER);
    cmd.user_id = -5;
    assert_encode_refuses(&cmd, "invalid \"user_id\"");
}

static void encode_refuses_out_of_bounds_orders_and_events(void **state)
{
    static struct of_order_cmd cmd;
    static struct of_user_event uev;
    static struct of_order_event oev;
    struct of_err err = {0};
    void *buf;
    size_t len;
    (void)state;

    sample_order_cmd(&cmd, OF_CREATE_ORDER);
    cmd.total_amount = 0;
    assert_einval(of_avro_encode_order_cmd(avro, &cmd, &buf, &len, &err), &err,
                  "invalid \"total_amount\"");
    cmd.total_amount = OF_MONEY_MAX_CENTS + 1;
    assert_einval(of_avro_encode_order_cmd(avro, &cmd, &buf, &len, &err), &err,
                  "invalid \"total_amount\"");
    sample_order_cmd(&cmd, OF_REFUND_ORDER);
    repeat(cmd.reason, sizeof(cmd.reason), "r", OF_REASON_MAX + 1);
    assert_einval(of_avro_encode_order_cmd(avro, &cmd, &buf, &len, &err), &err,
                  "invalid \"reason\": more than 1000");
    sample_order_cmd(&cmd, OF_PAY_ORDER);
    cmd.order_id = 0;
    assert_einval(of_avro_encode_order_cmd(avro, &cmd, &buf, &len, &err), &err,
                  "invalid \"order_id\"");

    sample_user_event(&uev, OF_USER_REGISTERED);
    uev.version = 0;
    assert_einval(of_avro_encode_user_event(avro, &uev, &buf, &len, &err), &err,
                  "invalid \"version\"");
    sample_user_event(&uev, OF_USER_REGISTERED);
    uev.user.registration_date = OF_TIME_MAX + 1;
    assert_einval(of_avro_encode_user_event(avro, &uev, &buf, &len, &err), &err,
                  "invalid \"user.registration_date\"");
    sample_order_event(&oev, OF_ORDER_PAID);
    oev.order.order_status = (enum of_order_status)4;
    assert_einval(of_avro_encode_order_event(avro, &oev, &buf, &len, &err),
                  &err, "invalid \"order.order_status\"");
    sample_order_event(&oev, OF_ORDER_PAID);
    strcpy(oev.event_id, UUID_B);
    oev.event_id[14] = 'g';
    assert_einval(of_avro_encode_order_event(avro, &oev, &buf, &len, &err),
                  &err, "invalid \"event_id\"");
}

/* ------------------------------------------------------------------------
 * Fingerprints: the Avro specification's test vectors
 * (share/test/data/schema-tests.txt, checked there against Java)
 */

static const struct {
    const char *input;
    const char *canonical;
    int64_t fp; /* 0: the file gives none */
} spec_vectors[] = {
    {"\"null\"", "\"null\"", 7195948357588979594LL},
    {"{\"type\":\"null\"}", "\"null\"", 0},
    {"\"boolean\"", "\"boolean\"", -6970731678124411036LL},
    {"{\"type\":\"boolean\"}", "\"boolean\"", 0},
    {"\"int\"", "\"int\"", 8247732601305521295LL},
    {"{\"type\":\"int\"}", "\"int\"", 0},
    {"\"long\"", "\"long\"", -3434872931120570953LL},
    {"{\"type\":\"long\"}", "\"long\"", 0},
    {"\"float\"", "\"float\"", 5583340709985441680LL},
    {"{\"type\":\"float\"}", "\"float\"", 0},
    {"\"double\"", "\"double\"", -8181574048448539266LL},
    {"{\"type\":\"double\"}", "\"double\"", 0},
    {"\"bytes\"", "\"bytes\"", 5746618253357095269LL},
    {"{\"type\":\"bytes\"}", "\"bytes\"", 0},
    {"\"string\"", "\"string\"", -8142146995180207161LL},
    {"{\"type\":\"string\"}", "\"string\"", 0},
    {"[  ]", "[]", -1241056759729112623LL},
    {"[ \"int\"  ]", "[\"int\"]", -5232228896498058493LL},
    {"[ \"int\" , {\"type\":\"boolean\"} ]", "[\"int\",\"boolean\"]",
     5392556393470105090LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}",
     -4824392279771201922LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", "
     "\"namespace\":\"x.y\"}",
     "{\"name\":\"x.y.foo\",\"type\":\"record\",\"fields\":[]}",
     5916914534497305771LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"a.b.foo\", "
     "\"namespace\":\"x.y\"}",
     "{\"name\":\"a.b.foo\",\"type\":\"record\",\"fields\":[]}",
     -4616218487480524110LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", "
     "\"doc\":\"Useful info\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}",
     -4824392279771201922LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", "
     "\"aliases\":[\"foo\",\"bar\"]}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}",
     -4824392279771201922LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", \"doc\":\"foo\", "
     "\"aliases\":[\"foo\",\"bar\"]}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}",
     -4824392279771201922LL},
    {"{\"fields\":[{\"type\":{\"type\":\"boolean\"}, \"name\":\"f1\"}], "
     "\"type\":\"record\", \"name\":\"foo\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[{\"name\":\"f1\","
     "\"type\":\"boolean\"}]}",
     7843277075252814651LL},
    {"{ \"fields\":[{\"type\":\"boolean\", \"aliases\":[], \"name\":\"f1\", "
     "\"default\":\"true\"},\n {\"order\":\"descending\",\"name\":\"f2\","
     "\"doc\":\"Hello\",\"type\":\"int\"}],\n \"type\":\"record\", "
     "\"name\":\"foo\"\n}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[{\"name\":\"f1\","
     "\"type\":\"boolean\"},{\"name\":\"f2\",\"type\":\"int\"}]}",
     -4860222112080293046LL},
    {"{\"type\":\"enum\", \"name\":\"foo\", \"symbols\":[\"A1\"]}",
     "{\"name\":\"foo\",\"type\":\"enum\",\"symbols\":[\"A1\"]}",
     -6342190197741309591LL},
    {"{\"namespace\":\"x.y.z\", \"type\":\"enum\", \"name\":\"foo\", "
     "\"doc\":\"foo bar\", \"symbols\":[\"A1\", \"A2\"]}",
     "{\"name\":\"x.y.z.foo\",\"type\":\"enum\",\"symbols\":[\"A1\","
     "\"A2\"]}",
     -4448647247586288245LL},
    {"{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}",
     "{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}",
     1756455273707447556LL},
    {"{\"namespace\":\"x.y.z\", \"type\":\"fixed\", \"name\":\"foo\", "
     "\"doc\":\"foo bar\", \"size\":32}",
     "{\"name\":\"x.y.z.foo\",\"type\":\"fixed\",\"size\":32}",
     -3064184465700546786LL},
    {"{ \"items\":{\"type\":\"null\"}, \"type\":\"array\"}",
     "{\"type\":\"array\",\"items\":\"null\"}", -589620603366471059LL},
    {"{ \"values\":\"string\", \"type\":\"map\"}",
     "{\"type\":\"map\",\"values\":\"string\"}", -8732877298790414990LL},
    {"  {\"name\":\"PigValue\",\"type\":\"record\",\n   "
     "\"fields\":[{\"name\":\"value\", \"type\":[\"null\", \"int\", "
     "\"long\", \"PigValue\"]}]}",
     "{\"name\":\"PigValue\",\"type\":\"record\",\"fields\":[{\"name\":"
     "\"value\",\"type\":[\"null\",\"int\",\"long\",\"PigValue\"]}]}",
     -1759257747318642341LL},
};

static void crc64_matches_the_avro_spec_test_vectors(void **state)
{
    struct of_err err = {0};
    (void)state;

    assert_int_equal(of_crc64_avro("", 0), 0xc15d213aa4d7a795ULL);
    for (size_t i = 0; i < sizeof(spec_vectors) / sizeof(spec_vectors[0]);
         i++) {
        const char *in = spec_vectors[i].input;
        char *pcf = of_crc64_canonical_form(in, strlen(in), &err);
        uint64_t fp = 0;

        if (!pcf) {
            fail_msg("vector %zu: %s", i, err.msg);
            return;
        }
        assert_string_equal(pcf, spec_vectors[i].canonical);
        assert_ok(of_crc64_schema_fingerprint(in, strlen(in), &fp, &err), err);
        assert_int_equal(fp, of_crc64_avro(pcf, strlen(pcf)));
        if (spec_vectors[i].fp != 0)
            assert_int_equal(fp, (uint64_t)spec_vectors[i].fp);
        free(pcf);
    }
}

static void canonical_form_handles_namespaces_and_logical_types(void **state)
{
    /* a nested record inherits the namespace; references become full names;
     * logicalType, precision, scale, default and doc are stripped */
    static const char in[] =
        "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"a.b\","
        "\"doc\":\"d\",\"fields\":["
        "{\"name\":\"t\",\"type\":{\"type\":\"long\","
        "\"logicalType\":\"timestamp-micros\"}},"
        "{\"name\":\"m\",\"type\":{\"type\":\"bytes\",\"logicalType\":"
        "\"decimal\",\"precision\":10,\"scale\":2}},"
        "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
        "\"namespace\":\"\",\"symbols\":[\"X\"]}},"
        "{\"name\":\"n\",\"type\":{\"type\":\"record\",\"name\":\"N\","
        "\"fields\":[{\"name\":\"o\",\"type\":[\"null\",\"R\"],"
        "\"default\":null}]}},"
        "{\"name\":\"u\",\"type\":\"a.b.N\"}]}";
    static const char want[] =
        "{\"name\":\"a.b.R\",\"type\":\"record\",\"fields\":["
        "{\"name\":\"t\",\"type\":\"long\"},"
        "{\"name\":\"m\",\"type\":\"bytes\"},"
        "{\"name\":\"e\",\"type\":{\"name\":\"E\",\"type\":\"enum\","
        "\"symbols\":[\"X\"]}},"
        "{\"name\":\"n\",\"type\":{\"name\":\"a.b.N\",\"type\":\"record\","
        "\"fields\":[{\"name\":\"o\",\"type\":[\"null\",\"a.b.R\"]}]}},"
        "{\"name\":\"u\",\"type\":\"a.b.N\"}]}";
    struct of_err err = {0};
    char *pcf;
    (void)state;

    pcf = of_crc64_canonical_form(in, sizeof(in) - 1, &err);
    if (!pcf) {
        fail_msg("%s", err.msg);
        return;
    }
    assert_string_equal(pcf, want);
    free(pcf);
}

static void canonical_form_refuses_what_is_not_a_schema(void **state)
{
    static const char *const bad[] = {
        "",
        "{",
        "42",
        "{\"type\":\"record\",\"name\":\"a-b\",\"fields\":[]}",
        "{\"type\":\"record\",\"fields\":[]}",
        "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"1x\"]}",
        "{\"type\":\"fixed\",\"name\":\"F\"}",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"type\":\"int\"}]}",
        "{\"type\":{\"type\":\"int\"}}",
        "{\"type\":\"int\",\"type\":\"long\"}",
    };
    struct of_err err = {0};
    uint64_t fp;
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (of_crc64_schema_fingerprint(bad[i], strlen(bad[i]), &fp, &err) !=
            OF_EINVAL)
            fail_msg("accepted as a schema: %s", bad[i]);
        assert_non_null(strstr(err.msg, "invalid schema"));
    }
}

/* ------------------------------------------------------------------------
 * Enum names
 */

static void enum_names_round_trip_and_parse_is_exact(void **state)
{
    enum of_order_type ot;
    enum of_order_status os;
    enum of_user_cmd_type uct;
    enum of_order_cmd_type oct;
    enum of_user_event_type uet;
    enum of_order_event_type oet;
    (void)state;

    assert_string_equal(of_avro_order_type_name(OF_ORDER_TYPE_VIP), "vip");
    assert_string_equal(of_avro_order_type_name(OF_ORDER_TYPE_JEWELRY),
                        "jewelry");
    assert_int_equal(of_avro_order_type_parse("jewelry", &ot), OF_OK);
    assert_int_equal(ot, OF_ORDER_TYPE_JEWELRY);
    assert_int_equal(of_avro_order_type_parse("VIP", &ot), OF_EINVAL);
    assert_int_equal(of_avro_order_type_parse("vip ", &ot), OF_EINVAL);
    assert_int_equal(of_avro_order_type_parse(NULL, &ot), OF_EINVAL);

    for (int i = 0; i <= OF_ORDER_STATUS_CANCELLED; i++) {
        const char *name = of_avro_order_status_name(i);

        assert_int_equal(of_avro_order_status_parse(name, &os), OF_OK);
        assert_int_equal(os, i);
    }
    assert_string_equal(of_avro_order_status_name(OF_ORDER_STATUS_PENDING),
                        "pending");
    assert_string_equal(of_avro_order_status_name(4), "unknown");
    assert_int_equal(of_avro_order_status_parse("unknown", &os), OF_EINVAL);

    assert_string_equal(of_avro_user_cmd_type_name(OF_UNBAN_USER), "UnbanUser");
    assert_int_equal(of_avro_user_cmd_type_parse("RegisterUser", &uct), OF_OK);
    assert_int_equal(uct, OF_REGISTER_USER);
    assert_string_equal(of_avro_order_cmd_type_name(OF_REFUND_ORDER),
                        "RefundOrder");
    assert_int_equal(of_avro_order_cmd_type_parse("CancelOrder", &oct), OF_OK);
    assert_int_equal(oct, OF_CANCEL_ORDER);
    assert_string_equal(of_avro_user_event_type_name(OF_USER_BANNED),
                        "UserBanned");
    assert_int_equal(of_avro_user_event_type_parse("UserUnbanned", &uet),
                     OF_OK);
    assert_int_equal(uet, OF_USER_UNBANNED);
    assert_string_equal(of_avro_order_event_type_name(OF_ORDER_PAID),
                        "OrderPaid");
    assert_int_equal(of_avro_order_event_type_parse("OrderCancelled", &oet),
                     OF_OK);
    assert_int_equal(oet, OF_ORDER_CANCELLED);
    assert_int_equal(of_avro_order_event_type_parse("orderpaid", &oet),
                     OF_EINVAL);
    assert_string_equal(of_avro_schema_name(OF_AVRO_ORDER_EVENT),
                        "orderflow.OrderEvent");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(register_user_round_trips_with_and_without_avatar),
        cmocka_unit_test(register_user_round_trips_max_length_strings),
        cmocka_unit_test(ban_and_unban_round_trip),
        cmocka_unit_test(create_order_round_trips_1_cent_and_max_amount),
        cmocka_unit_test(pay_refund_cancel_round_trip_with_and_without_text),
        cmocka_unit_test(every_user_event_type_round_trips),
        cmocka_unit_test(every_order_event_type_round_trips),
        cmocka_unit_test(schema_fingerprints_match_java),
        cmocka_unit_test(decodes_and_reencodes_java_create_order),
        cmocka_unit_test(decodes_and_reencodes_java_user_banned),
        cmocka_unit_test(encoder_writes_the_avro_spec_bytes),
        cmocka_unit_test(decimal_is_the_shortest_twos_complement),
        cmocka_unit_test(string_length_of_2_pow_31_in_6_bytes_fails_fast),
        cmocka_unit_test(negative_lengths_are_refused),
        cmocka_unit_test(out_of_range_union_branch_is_refused),
        cmocka_unit_test(out_of_range_enum_index_is_refused),
        cmocka_unit_test(overlong_and_overflowing_varints_are_refused),
        cmocka_unit_test(boolean_other_than_0_or_1_is_refused),
        cmocka_unit_test(trailing_bytes_are_refused),
        cmocka_unit_test(every_truncation_of_every_type_is_refused),
        cmocka_unit_test(
            corrupted_bytes_never_crash_and_accepted_ones_round_trip),
        cmocka_unit_test(strings_with_nul_or_bad_utf8_are_refused),
        cmocka_unit_test(decoded_limits_name_the_field),
        cmocka_unit_test(decoded_amount_out_of_range_names_total_amount),
        cmocka_unit_test(framing_errors_say_what_is_wrong),
        cmocka_unit_test(peek_tells_garbage_from_unknown_and_known_schemas),
        cmocka_unit_test(encode_refuses_out_of_bounds_user_commands),
        cmocka_unit_test(encode_refuses_out_of_bounds_orders_and_events),
        cmocka_unit_test(crc64_matches_the_avro_spec_test_vectors),
        cmocka_unit_test(canonical_form_handles_namespaces_and_logical_types),
        cmocka_unit_test(canonical_form_refuses_what_is_not_a_schema),
        cmocka_unit_test(enum_names_round_trip_and_parse_is_exact),
    };

    /* Before any avro-c call: every avro-c allocation is then counted. */
    avro_set_allocator(counting_alloc, NULL);
    return cmocka_run_group_tests(tests, setup, teardown);
}
