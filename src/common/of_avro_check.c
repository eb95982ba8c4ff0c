/*
 * of_avro_check: the limits of the codec's structs, and the bounded reader.
 *
 * The limits (of_avro.h) run before every encode and after every decode, so
 * they are the one definition of a valid struct. The bounded reader walks a
 * datum along the avro-c schema before avro-c may read it, because avro-c
 * 1.11.1 mallocs whatever a length prefix claims: here every varint is at
 * most 10 bytes and fits 64 bits, every length is >= 0 and <= the bytes
 * left, booleans are 0 or 1, branches and enum indexes are in range, and the
 * datum ends exactly at the end of the value. It knows null, boolean, int,
 * long, float, double, string, bytes, fixed, enum, record and union;
 * of_avro_walkable() makes of_avro_new() refuse a schema with anything else
 * (array, map, recursion), so a schema that needs more must teach it first.
 */
#include "of_avro_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "of_money.h"

#define VARINT_MAX     10 /* bytes of a 64-bit zig-zag varint */
#define SCHEMA_MAX_DEP 16 /* our schemas nest 3 deep */

/* ------------------------------------------------------------------------
 * Limits, shared by encode (before) and decode (after)
 */

void of_avro_invalid(struct of_avro_ctx *c,
                     const char *field,
                     const char *reason)
{
    if (c->rc != OF_OK)
        return;
    of_err_set(c->err, OF_EINVAL, "invalid \"%s\": %s", field, reason);
    c->rc = OF_EINVAL;
}

/* Bytes in the UTF-8 sequence led by \p b; 0 for a byte that cannot lead
 * one (a continuation byte, C0/C1 overlong leads, F5..FF). */
static unsigned int utf8_seq_len(unsigned char b)
{
    if (b < 0x80)
        return 1;
    if (b < 0xC2)
        return 0;
    if (b < 0xE0)
        return 2;
    if (b < 0xF0)
        return 3;
    if (b < 0xF5)
        return 4;
    return 0;
}

/* Code points of the NUL-terminated \p s, or -1 when it is not strict UTF-8
 * (no overlong forms, no surrogates, nothing above U+10FFFF). */
static long utf8_chars(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    long n = 0;

    for (; *p; n++) {
        unsigned int len = utf8_seq_len(*p);
        uint32_t cp = *p & (0xFFu >> (len + 1));

        if (len == 0)
            return -1;
        /* A NUL fails the continuation test, so p never runs past it. */
        for (unsigned int i = 1; i < len; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return -1;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return -1;
        p += len;
    }
    return n;
}

/* Free text: UTF-8, min..max characters, NUL-terminated inside its array. */
static void check_text(struct of_avro_ctx *c,
                       const char *field,
                       const char *s,
                       size_t size,
                       long min,
                       long max)
{
    char reason[64];
    long n;

    if (c->rc != OF_OK)
        return;
    if (!memchr(s, '\0', size)) {
        of_avro_invalid(c, field, "not NUL-terminated");
        return;
    }
    n = utf8_chars(s);
    if (n < 0) {
        of_avro_invalid(c, field, "not valid UTF-8");
    } else if (n < min) {
        of_avro_invalid(c, field, "empty");
    } else if (n > max) {
        snprintf(reason, sizeof(reason), "more than %ld characters", max);
        of_avro_invalid(c, field, reason);
    }
}

/* A label for logs and headers: as text, and no control characters. */
static void check_label(struct of_avro_ctx *c,
                        const char *field,
                        const char *s,
                        size_t size,
                        long min)
{
    check_text(c, field, s, size, min, (long)size - 1);
    for (const char *p = s; c->rc == OF_OK && *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7F)
            of_avro_invalid(c, field, "contains a control character");
    }
}

/* The canonical lower-case form, 8-4-4-4-12 hex digits. */
static void check_uuid(struct of_avro_ctx *c, const char *field, const char *s)
{
    bool ok = s[OF_UUID_SIZE - 1] == '\0';

    for (int i = 0; ok && i < OF_UUID_SIZE - 1; i++) {
        char ch = s[i];

        if (i == 8 || i == 13 || i == 18 || i == 23)
            ok = ch == '-';
        else
            ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
    }
    if (!ok)
        of_avro_invalid(c, field, "not a lower-case UUID");
}

static void check_time(struct of_avro_ctx *c, const char *field, int64_t t)
{
    if (t < 0 || t > OF_TIME_MAX)
        of_avro_invalid(c, field,
                        "outside 1970-01-01..9999-12-31 (microseconds)");
}

static void check_id(struct of_avro_ctx *c, const char *field, int64_t id)
{
    if (id <= 0)
        of_avro_invalid(c, field, "not a positive id");
}

static void
check_enum(struct of_avro_ctx *c, const char *field, int v, int count)
{
    if (v < 0 || v >= count)
        of_avro_invalid(c, field, "not a known value");
}

static void
check_amount(struct of_avro_ctx *c, const char *field, int64_t cents)
{
    if (cents < OF_MONEY_MIN_CENTS || cents > OF_MONEY_MAX_CENTS)
        of_avro_invalid(c, field, "outside 0.01..99999999.99");
}

static void check_opt_text(struct of_avro_ctx *c,
                           const char *field,
                           bool has,
                           const char *s,
                           size_t size,
                           long max)
{
    if (has)
        check_text(c, field, s, size, 0, max);
}

static void check_cmd_header(struct of_avro_ctx *c,
                             const char *command_id,
                             int64_t issued_at,
                             const struct of_actor *actor,
                             const char *trace_id)
{
    check_uuid(c, "command_id", command_id);
    check_time(c, "issued_at", issued_at);
    check_label(c, "actor.id", actor->id, sizeof(actor->id), 1);
    check_enum(c, "actor.role", (int)actor->role, OF_ROLE_ADMIN + 1);
    check_label(c, "trace_id", trace_id, OF_TRACE_ID_SIZE, 0);
}

int of_avro_check_user_cmd(const void *obj, struct of_err *err)
{
    const struct of_user_cmd *cmd = obj;
    struct of_avro_ctx c = {OF_OK, err};

    check_cmd_header(&c, cmd->command_id, cmd->issued_at, &cmd->actor,
                     cmd->trace_id);
    check_enum(&c, "payload", (int)cmd->type, OF_UNBAN_USER + 1);
    if (cmd->type == OF_REGISTER_USER) {
        check_text(&c, "email", cmd->email, sizeof(cmd->email), 1,
                   OF_EMAIL_MAX);
        check_text(&c, "username", cmd->username, sizeof(cmd->username), 1,
                   OF_USERNAME_MAX);
        check_opt_text(&c, "avatar_url", cmd->has_avatar_url, cmd->avatar_url,
                       sizeof(cmd->avatar_url), OF_AVATAR_URL_MAX);
    } else {
        check_id(&c, "user_id", cmd->user_id);
    }
    return c.rc;
}

int of_avro_check_order_cmd(const void *obj, struct of_err *err)
{
    const struct of_order_cmd *cmd = obj;
    struct of_avro_ctx c = {OF_OK, err};

    check_cmd_header(&c, cmd->command_id, cmd->issued_at, &cmd->actor,
                     cmd->trace_id);
    check_enum(&c, "payload", (int)cmd->type, OF_CANCEL_ORDER + 1);
    if (cmd->type == OF_CREATE_ORDER) {
        check_id(&c, "user_id", cmd->user_id);
        check_enum(&c, "order_type", (int)cmd->order_type,
                   OF_ORDER_TYPE_JEWELRY + 1);
        check_amount(&c, "total_amount", cmd->total_amount);
        return c.rc;
    }
    check_id(&c, "order_id", cmd->order_id);
    if (cmd->type == OF_PAY_ORDER)
        check_opt_text(&c, "payment_ref", cmd->has_payment_ref,
                       cmd->payment_ref, sizeof(cmd->payment_ref),
                       OF_PAYMENT_REF_MAX);
    if (cmd->type == OF_REFUND_ORDER)
        check_opt_text(&c, "reason", cmd->has_reason, cmd->reason,
                       sizeof(cmd->reason), OF_REASON_MAX);
    return c.rc;
}

static void check_event_header(struct of_avro_ctx *c,
                               const char *event_id,
                               int64_t occurred_at,
                               int64_t version,
                               const char *command_id,
                               const char *trace_id)
{
    check_uuid(c, "event_id", event_id);
    check_time(c, "occurred_at", occurred_at);
    if (version < 1)
        of_avro_invalid(c, "version", "versions start at 1");
    check_uuid(c, "command_id", command_id);
    check_label(c, "trace_id", trace_id, OF_TRACE_ID_SIZE, 0);
}

int of_avro_check_user_event(const void *obj, struct of_err *err)
{
    const struct of_user_event *ev = obj;
    const struct of_user *u = &ev->user;
    struct of_avro_ctx c = {OF_OK, err};

    check_event_header(&c, ev->event_id, ev->occurred_at, ev->version,
                       ev->command_id, ev->trace_id);
    check_enum(&c, "type", (int)ev->type, OF_USER_UNBANNED + 1);
    check_id(&c, "user.user_id", u->user_id);
    check_text(&c, "user.email", u->email, sizeof(u->email), 1, OF_EMAIL_MAX);
    check_text(&c, "user.username", u->username, sizeof(u->username), 1,
               OF_USERNAME_MAX);
    check_time(&c, "user.registration_date", u->registration_date);
    check_opt_text(&c, "user.avatar_url", u->has_avatar_url, u->avatar_url,
                   sizeof(u->avatar_url), OF_AVATAR_URL_MAX);
    return c.rc;
}

int of_avro_check_order_event(const void *obj, struct of_err *err)
{
    const struct of_order_event *ev = obj;
    const struct of_order *o = &ev->order;
    struct of_avro_ctx c = {OF_OK, err};

    check_event_header(&c, ev->event_id, ev->occurred_at, ev->version,
                       ev->command_id, ev->trace_id);
    check_enum(&c, "type", (int)ev->type, OF_ORDER_CANCELLED + 1);
    check_id(&c, "order.order_id", o->order_id);
    check_id(&c, "order.user_id", o->user_id);
    check_enum(&c, "order.order_type", (int)o->order_type,
               OF_ORDER_TYPE_JEWELRY + 1);
    check_enum(&c, "order.order_status", (int)o->order_status,
               OF_ORDER_STATUS_CANCELLED + 1);
    check_amount(&c, "order.total_amount", o->total_amount);
    check_time(&c, "order.created_at", o->created_at);
    check_time(&c, "order.updated_at", o->updated_at);
    return c.rc;
}

/* ------------------------------------------------------------------------
 * The bounded reader: checks a datum before avro-c reads it
 */

struct rd {
    const unsigned char *start; /* the whole value, for byte offsets */
    const unsigned char *p;
    const unsigned char *end;
    const char *what; /* schema full name */
    struct of_err *err;
};

static int malformed(struct rd *r, const char *reason)
{
    of_err_set(r->err, OF_EINVAL, "malformed %s at byte %td: %s", r->what,
               r->p - r->start, reason);
    return OF_EINVAL;
}

static int rd_long(struct rd *r, int64_t *out)
{
    uint64_t v = 0;
    unsigned char b = 0x80;

    for (int i = 0; (b & 0x80) && i < VARINT_MAX; i++) {
        if (r->p == r->end)
            return malformed(r, "truncated varint");
        b = *r->p++;
        /* The 10th byte may hold bit 63 alone, and must end the varint. */
        if (i == VARINT_MAX - 1 && (b & 0x80))
            return malformed(r, "varint longer than 10 bytes");
        if (i == VARINT_MAX - 1 && b > 1)
            return malformed(r, "varint overflows 64 bits");
        v |= (uint64_t)(b & 0x7F) << (7 * i);
    }
    *out = (int64_t)((v >> 1) ^ -(v & 1));
    return OF_OK;
}

static int rd_skip(struct rd *r, int64_t n, const char *what)
{
    char reason[96];

    if (n < 0) {
        snprintf(reason, sizeof(reason), "negative %s length %" PRId64, what,
                 n);
        return malformed(r, reason);
    }
    if (n > r->end - r->p) {
        snprintf(reason, sizeof(reason),
                 "truncated: %s length %" PRId64 " exceeds the %td bytes left",
                 what, n, r->end - r->p);
        return malformed(r, reason);
    }
    r->p += n;
    return OF_OK;
}

/* A union branch or enum index: a varint in 0..count-1. */
static int rd_index(struct rd *r, int64_t count, const char *what, int64_t *v)
{
    char reason[96];
    int rc = rd_long(r, v);

    if (rc == OF_OK && (*v < 0 || *v >= count)) {
        snprintf(reason, sizeof(reason), "%s %" PRId64 " out of 0..%" PRId64,
                 what, *v, count - 1);
        rc = malformed(r, reason);
    }
    return rc;
}

static int walk(struct rd *r, avro_schema_t s);

static int walk_record(struct rd *r, avro_schema_t s)
{
    size_t n = avro_schema_record_size(s);
    int rc = OF_OK;

    for (size_t i = 0; rc == OF_OK && i < n; i++)
        rc = walk(r, avro_schema_record_field_get_by_index(s, (int)i));
    return rc;
}

static int walk_union(struct rd *r, avro_schema_t s)
{
    int64_t branch;
    int rc;

    rc = rd_index(r, (int64_t)avro_schema_union_size(s), "union branch",
                  &branch);
    if (rc != OF_OK)
        return rc;
    return walk(r, avro_schema_union_branch(s, (int)branch));
}

static int walk(struct rd *r, avro_schema_t s)
{
    int64_t v;
    int rc;

    switch (avro_typeof(s)) {
    case AVRO_NULL:
        return OF_OK;
    case AVRO_BOOLEAN:
        if (r->p != r->end && r->p[0] > 1)
            return malformed(r, "boolean is neither 0 nor 1");
        return rd_skip(r, 1, "boolean");
    case AVRO_INT32:
        rc = rd_long(r, &v);
        if (rc == OF_OK && (v < INT32_MIN || v > INT32_MAX))
            rc = malformed(r, "int out of range");
        return rc;
    case AVRO_INT64:
        return rd_long(r, &v);
    case AVRO_FLOAT:
        return rd_skip(r, 4, "float");
    case AVRO_DOUBLE:
        return rd_skip(r, 8, "double");
    case AVRO_FIXED:
        return rd_skip(r, avro_schema_fixed_size(s), "fixed");
    case AVRO_STRING:
    case AVRO_BYTES:
        rc = rd_long(r, &v);
        if (rc == OF_OK)
            rc = rd_skip(r, v,
                         avro_typeof(s) == AVRO_STRING ? "string" : "bytes");
        return rc;
    case AVRO_ENUM:
        return rd_index(r, avro_schema_enum_number_of_symbols(s), "enum index",
                        &v);
    case AVRO_RECORD:
        return walk_record(r, s);
    case AVRO_UNION:
        return walk_union(r, s);
    default:
        return malformed(r, "type not supported by the bounded reader");
    }
}

/* What walk() can check; anything else must not reach of_avro_new()'s
 * callers, whatever the schema files say. */
static bool walkable(avro_schema_t s, int depth)
{
    size_t n;

    if (depth > SCHEMA_MAX_DEP)
        return false;
    switch (avro_typeof(s)) {
    case AVRO_RECORD:
        n = avro_schema_record_size(s);
        for (size_t i = 0; i < n; i++) {
            if (!walkable(avro_schema_record_field_get_by_index(s, (int)i),
                          depth + 1))
                return false;
        }
        return true;
    case AVRO_UNION:
        n = avro_schema_union_size(s);
        for (size_t i = 0; i < n; i++) {
            if (!walkable(avro_schema_union_branch(s, (int)i), depth + 1))
                return false;
        }
        return true;
    case AVRO_ARRAY:
    case AVRO_MAP:
    case AVRO_LINK:
        return false;
    default:
        return true;
    }
}

bool of_avro_walkable(avro_schema_t schema)
{
    return walkable(schema, 0);
}

int of_avro_walk(avro_schema_t schema,
                 const void *value,
                 size_t len,
                 const char *what,
                 struct of_err *err)
{
    const unsigned char *start = value;
    struct rd r = {start, start + OF_AVRO_HEADER_SIZE, start + len, what, err};
    int rc;

    rc = walk(&r, schema);
    if (rc == OF_OK && r.p != r.end)
        rc = of_err_set(err, OF_EINVAL,
                        "malformed %s: %td trailing bytes after the datum",
                        what, r.end - r.p);
    return rc;
}
