/*
 * of_avro: the Kafka value codec, plain C structs <-> Avro single-object
 * encoding (CONTRACT §4) for orderflow.UserCommand, orderflow.OrderCommand,
 * orderflow.UserEvent and orderflow.OrderEvent.
 *
 * The schemas are the embedded copies of the .avsc files in schemas/avro/
 * (of_embed.h). A value is C3 01, the 8-byte little-endian CRC-64-AVRO
 * fingerprint of the writer schema's Parsing Canonical Form (of_crc64.h),
 * then the Avro binary datum.
 *
 * Invariants, both ways:
 * - Encode validates first, so whatever it writes decodes again: every
 *   limit below holds for encoded and decoded structs alike, and a struct
 *   that breaks one gets OF_EINVAL naming the field ("invalid \"email\": ...").
 * - Decode trusts no byte. Every length, varint, union branch and enum index
 *   is checked against the schema and the bytes left before avro-c sees the
 *   datum (avro-c 1.11.1 mallocs whatever a length prefix claims), so no
 *   string or bytes allocation is larger than the input. Truncated data,
 *   trailing bytes, a missing marker and unknown fingerprints are OF_EINVAL.
 *
 * Not here: business rules (email syntax, who may do what, transitions) and
 * Kafka headers. The structs are large (a user command is about 10 KiB), so
 * keep them off small stacks. Strings are UTF-8; limits in characters count
 * code points, as MariaDB's VARCHAR(n) does, so buffers hold 4 bytes per
 * character. Times are microseconds since the Unix epoch (UTC), 0..OF_TIME_MAX.
 * Money is int64_t cents (see of_money.h).
 */
#ifndef OF_AVRO_H
#define OF_AVRO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "of_err.h"
#include "of_jwt.h" /* enum of_role, of_role_name(), of_role_parse() */

#define OF_UUID_SIZE        37   /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */
#define OF_EMAIL_MAX        255  /* characters */
#define OF_USERNAME_MAX     50   /* characters */
#define OF_AVATAR_URL_MAX   2048 /* characters */
#define OF_PAYMENT_REF_MAX  255  /* characters */
#define OF_REASON_MAX       1000 /* characters */
#define OF_ACTOR_ID_MAX     128  /* bytes, "user:42" or "apikey:ops" */
#define OF_TRACE_ID_MAX     128  /* bytes */
#define OF_EMAIL_SIZE       (4 * OF_EMAIL_MAX + 1)
#define OF_USERNAME_SIZE    (4 * OF_USERNAME_MAX + 1)
#define OF_AVATAR_URL_SIZE  (4 * OF_AVATAR_URL_MAX + 1)
#define OF_PAYMENT_REF_SIZE (4 * OF_PAYMENT_REF_MAX + 1)
#define OF_REASON_SIZE      (4 * OF_REASON_MAX + 1)
#define OF_ACTOR_ID_SIZE    (OF_ACTOR_ID_MAX + 1)
#define OF_TRACE_ID_SIZE    (OF_TRACE_ID_MAX + 1)
/* 9999-12-31T23:59:59.999999Z, the last time RFC 3339 can write */
#define OF_TIME_MAX         253402300799999999LL
#define OF_AVRO_HEADER_SIZE 10 /* C3 01 + fingerprint */

/* The four schemas; the order is the order of the fingerprint table. */
enum of_avro_schema {
    OF_AVRO_USER_COMMAND,
    OF_AVRO_ORDER_COMMAND,
    OF_AVRO_USER_EVENT,
    OF_AVRO_ORDER_EVENT,
    OF_AVRO_SCHEMA_COUNT,
};

/* Enums: the values are the Avro enum/union indexes; do not reorder.
 * enum of_role (of_jwt.h) is the Avro enum orderflow.Role the same way. */
enum of_order_type { OF_ORDER_TYPE_VIP, OF_ORDER_TYPE_JEWELRY };
enum of_order_status {
    OF_ORDER_STATUS_PENDING,
    OF_ORDER_STATUS_PAID,
    OF_ORDER_STATUS_REFUNDED,
    OF_ORDER_STATUS_CANCELLED,
};
enum of_user_cmd_type { OF_REGISTER_USER, OF_BAN_USER, OF_UNBAN_USER };
enum of_order_cmd_type {
    OF_CREATE_ORDER,
    OF_PAY_ORDER,
    OF_REFUND_ORDER,
    OF_CANCEL_ORDER,
};
enum of_user_event_type {
    OF_USER_REGISTERED,
    OF_USER_BANNED,
    OF_USER_UNBANNED
};
enum of_order_event_type {
    OF_ORDER_CREATED,
    OF_ORDER_PAID,
    OF_ORDER_REFUNDED,
    OF_ORDER_CANCELLED,
};

/* orderflow.Actor: who issued a command. id is "user:<sub>" for a JWT
 * principal, "apikey:<name>" for an API key; non-empty, no control chars. */
struct of_actor {
    char id[OF_ACTOR_ID_SIZE];
    enum of_role role;
};

/* orderflow.UserCommand. Payload fields not used by \p type are ignored by
 * encode and zero after decode. */
struct of_user_cmd {
    char command_id[OF_UUID_SIZE]; /* lower-case canonical UUID */
    int64_t issued_at;
    struct of_actor actor;
    char trace_id[OF_TRACE_ID_SIZE]; /* may be empty; no control chars */
    enum of_user_cmd_type type;
    /* OF_REGISTER_USER */
    char email[OF_EMAIL_SIZE];       /* 1..OF_EMAIL_MAX characters */
    char username[OF_USERNAME_SIZE]; /* 1..OF_USERNAME_MAX characters */
    bool has_avatar_url;             /* false: Avro null */
    char avatar_url[OF_AVATAR_URL_SIZE];
    /* OF_BAN_USER, OF_UNBAN_USER */
    int64_t user_id; /* > 0 */
};

/* orderflow.OrderCommand; same conventions as struct of_user_cmd. */
struct of_order_cmd {
    char command_id[OF_UUID_SIZE];
    int64_t issued_at;
    struct of_actor actor;
    char trace_id[OF_TRACE_ID_SIZE];
    enum of_order_cmd_type type;
    /* OF_CREATE_ORDER */
    int64_t user_id; /* > 0 */
    enum of_order_type order_type;
    int64_t total_amount; /* cents, 1..OF_MONEY_MAX_CENTS */
    /* OF_PAY_ORDER, OF_REFUND_ORDER, OF_CANCEL_ORDER */
    int64_t order_id;     /* > 0 */
    bool has_payment_ref; /* OF_PAY_ORDER; false: Avro null */
    char payment_ref[OF_PAYMENT_REF_SIZE];
    bool has_reason; /* OF_REFUND_ORDER; false: Avro null */
    char reason[OF_REASON_SIZE];
};

/* orderflow.User: a user after a change; limits as in struct of_user_cmd. */
struct of_user {
    int64_t user_id; /* > 0 */
    char email[OF_EMAIL_SIZE];
    char username[OF_USERNAME_SIZE];
    int64_t registration_date;
    bool has_avatar_url;
    char avatar_url[OF_AVATAR_URL_SIZE];
    bool is_banned;
};

/* orderflow.Order: an order after a change. */
struct of_order {
    int64_t order_id; /* > 0 */
    int64_t user_id;  /* > 0 */
    enum of_order_type order_type;
    enum of_order_status order_status;
    int64_t total_amount; /* cents, 1..OF_MONEY_MAX_CENTS */
    int64_t created_at;
    int64_t updated_at;
};

/* orderflow.UserEvent */
struct of_user_event {
    char event_id[OF_UUID_SIZE];
    int64_t occurred_at;
    int64_t version; /* >= 1 */
    enum of_user_event_type type;
    char command_id[OF_UUID_SIZE];
    char trace_id[OF_TRACE_ID_SIZE];
    struct of_user user;
};

/* orderflow.OrderEvent */
struct of_order_event {
    char event_id[OF_UUID_SIZE];
    int64_t occurred_at;
    int64_t version; /* >= 1 */
    enum of_order_event_type type;
    char command_id[OF_UUID_SIZE];
    char trace_id[OF_TRACE_ID_SIZE];
    struct of_order order;
};

/* What of_avro_peek() saw. */
enum of_avro_frame {
    OF_AVRO_FRAME_NONE,    /* shorter than 10 bytes or no C3 01: garbage */
    OF_AVRO_FRAME_UNKNOWN, /* C3 01 and a fingerprint none of ours has */
    OF_AVRO_FRAME_KNOWN,   /* C3 01 and the fingerprint of one of ours */
};

/* The codec: the four parsed schemas and their fingerprints. Immutable after
 * of_avro_new(), so one handle serves every thread. */
struct of_avro;

/**
 * @brief Parse the embedded schemas and compute their fingerprints.
 * @returns the handle (free with of_avro_destroy()), or NULL with \p err set
 *          (OF_EFATAL: a schema is missing or broken, a build error).
 * @locality any thread, once at start-up: avro-c's schema parser reports
 *           errors through one process-wide buffer.
 */
struct of_avro *of_avro_new(struct of_err *err);

/** @brief Free \p avro; NULL does nothing. */
void of_avro_destroy(struct of_avro *avro);

/**
 * @returns the CRC-64-AVRO fingerprint of \p schema's canonical form (the
 *          value written little-endian after C3 01).
 */
uint64_t of_avro_fingerprint(const struct of_avro *avro,
                             enum of_avro_schema schema);

/** @returns the full name, e.g. "orderflow.OrderCommand" (static). */
const char *of_avro_schema_name(enum of_avro_schema schema);

/**
 * @brief Look at the framing of a Kafka value without decoding it, to tell
 *        garbage (dead letter) from a real-looking value whose schema this
 *        build does not know (park the key, a newer writer may be running).
 * @param schema set for OF_AVRO_FRAME_KNOWN; may be NULL.
 * @param fp set to the fingerprint unless OF_AVRO_FRAME_NONE; may be NULL.
 * @returns the verdict; the datum itself is not checked.
 * @locality any thread.
 */
enum of_avro_frame of_avro_peek(const struct of_avro *avro,
                                const void *buf,
                                size_t len,
                                enum of_avro_schema *schema,
                                uint64_t *fp);

/*
 * Encoders. Output: *\p out is a malloc()ed buffer of *\p out_len bytes that
 * the caller frees with free() (hand it to rd_kafka_produce with
 * RD_KAFKA_MSG_F_FREE); on error *\p out is NULL and *\p out_len 0.
 * @returns OF_OK; OF_EINVAL when a field breaks a limit (the message names
 *          it); OF_EAGAIN out of memory; OF_EFATAL when avro-c refuses a
 *          valid struct (the schema and this code disagree).
 * @locality any thread.
 */
int of_avro_encode_user_cmd(const struct of_avro *avro,
                            const struct of_user_cmd *cmd,
                            void **out,
                            size_t *out_len,
                            struct of_err *err);
int of_avro_encode_order_cmd(const struct of_avro *avro,
                             const struct of_order_cmd *cmd,
                             void **out,
                             size_t *out_len,
                             struct of_err *err);
int of_avro_encode_user_event(const struct of_avro *avro,
                              const struct of_user_event *ev,
                              void **out,
                              size_t *out_len,
                              struct of_err *err);
int of_avro_encode_order_event(const struct of_avro *avro,
                               const struct of_order_event *ev,
                               void **out,
                               size_t *out_len,
                               struct of_err *err);

/*
 * Decoders: \p buf is the whole Kafka value. The struct is zeroed first and
 * only valid on OF_OK.
 * @returns OF_OK; OF_EINVAL for anything else than one valid value of the
 *          expected schema ("unknown schema fingerprint 0x...", "expected
 *          orderflow.UserCommand, got orderflow.OrderCommand", "truncated",
 *          "trailing bytes", a broken limit naming the field); OF_EAGAIN
 *          out of memory.
 * @locality any thread. avro-c keeps its last error text in one process-wide
 *           buffer, so err->msg of a failure inside avro-c may be garbled
 *           when threads fail at once; the rc is always right.
 */
int of_avro_decode_user_cmd(const struct of_avro *avro,
                            const void *buf,
                            size_t len,
                            struct of_user_cmd *cmd,
                            struct of_err *err);
int of_avro_decode_order_cmd(const struct of_avro *avro,
                             const void *buf,
                             size_t len,
                             struct of_order_cmd *cmd,
                             struct of_err *err);
int of_avro_decode_user_event(const struct of_avro *avro,
                              const void *buf,
                              size_t len,
                              struct of_user_event *ev,
                              struct of_err *err);
int of_avro_decode_order_event(const struct of_avro *avro,
                               const void *buf,
                               size_t len,
                               struct of_order_event *ev,
                               struct of_err *err);

/*
 * Enum names (for roles: of_role_name() and of_role_parse() of of_jwt.h):
 * the contract's spelling ("vip", "pending", "RegisterUser", "OrderPaid"...),
 * which is also the Avro symbol or record name and the message-type header.
 * *_name() returns a static string, or "unknown" for a value out of range.
 * *_parse() returns OF_OK with *out set, or OF_EINVAL for any other text
 * (exact, case-sensitive match; NULL too).
 */
const char *of_avro_order_type_name(enum of_order_type type);
int of_avro_order_type_parse(const char *s, enum of_order_type *out);
const char *of_avro_order_status_name(enum of_order_status status);
int of_avro_order_status_parse(const char *s, enum of_order_status *out);
const char *of_avro_user_cmd_type_name(enum of_user_cmd_type type);
int of_avro_user_cmd_type_parse(const char *s, enum of_user_cmd_type *out);
const char *of_avro_order_cmd_type_name(enum of_order_cmd_type type);
int of_avro_order_cmd_type_parse(const char *s, enum of_order_cmd_type *out);
const char *of_avro_user_event_type_name(enum of_user_event_type type);
int of_avro_user_event_type_parse(const char *s, enum of_user_event_type *out);
const char *of_avro_order_event_type_name(enum of_order_event_type type);
int of_avro_order_event_type_parse(const char *s,
                                   enum of_order_event_type *out);

#endif
