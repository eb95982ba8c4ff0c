/*
 * of_avro_value: the codec's structs <-> avro-c generic values.
 *
 * Encoding sets every field of a checked struct; a failure means the schema
 * and this code disagree (OF_EFATAL), never bad input. Decoding reads a value
 * that of_avro_walk() vouched for, and only checks that each string fits its
 * array and holds no NUL (the limits run afterwards). Optional strings are
 * ["null", "string"] unions; money is decimal(10,2) as the shortest
 * big-endian two's complement, as Java's BigDecimal writes it.
 */
#include "of_avro_int.h"

#include <string.h>

/* ------------------------------------------------------------------------
 * Struct -> avro-c generic value. A failure here means the schema and this
 * code disagree (or memory ran out): the struct was checked before.
 */

static void
value_failed(struct of_avro_ctx *c, const char *op, const char *field)
{
    if (c->rc != OF_OK)
        return;
    of_err_set(c->err, OF_EFATAL, "cannot %s \"%s\": %s", op, field,
               avro_strerror());
    c->rc = OF_EFATAL;
}

/* *\p out is field \p name of \p rec; unset (NULL) after any failure. */
static void field(struct of_avro_ctx *c,
                  avro_value_t *rec,
                  const char *name,
                  avro_value_t *out)
{
    out->iface = NULL;
    out->self = NULL;
    if (c->rc != OF_OK)
        return;
    if (!rec->iface || avro_value_get_by_name(rec, name, out, NULL) != 0)
        value_failed(c, "find field", name);
}

static void set_str(struct of_avro_ctx *c,
                    avro_value_t *rec,
                    const char *name,
                    const char *s)
{
    avro_value_t f;

    field(c, rec, name, &f);
    if (c->rc == OF_OK && avro_value_set_string(&f, s) != 0)
        value_failed(c, "set", name);
}

static void
set_long(struct of_avro_ctx *c, avro_value_t *rec, const char *name, int64_t v)
{
    avro_value_t f;

    field(c, rec, name, &f);
    if (c->rc == OF_OK && avro_value_set_long(&f, v) != 0)
        value_failed(c, "set", name);
}

static void
set_bool(struct of_avro_ctx *c, avro_value_t *rec, const char *name, bool v)
{
    avro_value_t f;

    field(c, rec, name, &f);
    if (c->rc == OF_OK && avro_value_set_boolean(&f, v ? 1 : 0) != 0)
        value_failed(c, "set", name);
}

static void
set_enum(struct of_avro_ctx *c, avro_value_t *rec, const char *name, int v)
{
    avro_value_t f;

    field(c, rec, name, &f);
    if (c->rc == OF_OK && avro_value_set_enum(&f, v) != 0)
        value_failed(c, "set", name);
}

/* Select branch \p index of the union field \p name; *\p out is the branch. */
static void set_branch(struct of_avro_ctx *c,
                       avro_value_t *rec,
                       const char *name,
                       int index,
                       avro_value_t *out)
{
    avro_value_t f;

    field(c, rec, name, &f);
    if (c->rc == OF_OK && avro_value_set_branch(&f, index, out) != 0)
        value_failed(c, "set branch of", name);
}

/* A ["null", "string"] field. */
static void set_opt_str(struct of_avro_ctx *c,
                        avro_value_t *rec,
                        const char *name,
                        bool has,
                        const char *s)
{
    avro_value_t b;

    set_branch(c, rec, name, has ? 1 : 0, &b);
    if (c->rc != OF_OK)
        return;
    if ((has ? avro_value_set_string(&b, s) : avro_value_set_null(&b)) != 0)
        value_failed(c, "set", name);
}

/* decimal(10,2) as bytes: the shortest big-endian two's complement. */
static void set_decimal(struct of_avro_ctx *c,
                        avro_value_t *rec,
                        const char *name,
                        int64_t cents)
{
    unsigned char be[8];
    uint64_t u = (uint64_t)cents;
    size_t skip = 0;
    avro_value_t f;

    for (int i = 0; i < 8; i++)
        be[i] = (unsigned char)(u >> (56 - (8 * i)));
    while (skip < 7 && ((be[skip] == 0x00 && !(be[skip + 1] & 0x80)) ||
                        (be[skip] == 0xFF && (be[skip + 1] & 0x80))))
        skip++;
    field(c, rec, name, &f);
    if (c->rc == OF_OK && avro_value_set_bytes(&f, be + skip, 8 - skip) != 0)
        value_failed(c, "set", name);
}

static void put_cmd_header(struct of_avro_ctx *c,
                           avro_value_t *rec,
                           const char *command_id,
                           int64_t issued_at,
                           const struct of_actor *actor,
                           const char *trace_id)
{
    avro_value_t a;

    set_str(c, rec, "command_id", command_id);
    set_long(c, rec, "issued_at", issued_at);
    field(c, rec, "actor", &a);
    set_str(c, &a, "id", actor->id);
    set_enum(c, &a, "role", (int)actor->role);
    set_str(c, rec, "trace_id", trace_id);
}

void of_avro_put_user_cmd(struct of_avro_ctx *c,
                          avro_value_t *val,
                          const void *obj)
{
    const struct of_user_cmd *cmd = obj;
    avro_value_t p;

    put_cmd_header(c, val, cmd->command_id, cmd->issued_at, &cmd->actor,
                   cmd->trace_id);
    set_branch(c, val, "payload", (int)cmd->type, &p);
    if (cmd->type == OF_REGISTER_USER) {
        set_str(c, &p, "email", cmd->email);
        set_str(c, &p, "username", cmd->username);
        set_opt_str(c, &p, "avatar_url", cmd->has_avatar_url, cmd->avatar_url);
    } else {
        set_long(c, &p, "user_id", cmd->user_id);
    }
}

void of_avro_put_order_cmd(struct of_avro_ctx *c,
                           avro_value_t *val,
                           const void *obj)
{
    const struct of_order_cmd *cmd = obj;
    avro_value_t p;

    put_cmd_header(c, val, cmd->command_id, cmd->issued_at, &cmd->actor,
                   cmd->trace_id);
    set_branch(c, val, "payload", (int)cmd->type, &p);
    if (cmd->type == OF_CREATE_ORDER) {
        set_long(c, &p, "user_id", cmd->user_id);
        set_enum(c, &p, "order_type", (int)cmd->order_type);
        set_decimal(c, &p, "total_amount", cmd->total_amount);
        return;
    }
    set_long(c, &p, "order_id", cmd->order_id);
    if (cmd->type == OF_PAY_ORDER)
        set_opt_str(c, &p, "payment_ref", cmd->has_payment_ref,
                    cmd->payment_ref);
    if (cmd->type == OF_REFUND_ORDER)
        set_opt_str(c, &p, "reason", cmd->has_reason, cmd->reason);
}

static void put_event_header(struct of_avro_ctx *c,
                             avro_value_t *rec,
                             const char *event_id,
                             int64_t occurred_at,
                             int64_t version,
                             int type,
                             const char *command_id,
                             const char *trace_id)
{
    set_str(c, rec, "event_id", event_id);
    set_long(c, rec, "occurred_at", occurred_at);
    set_long(c, rec, "version", version);
    set_enum(c, rec, "type", type);
    set_str(c, rec, "command_id", command_id);
    set_str(c, rec, "trace_id", trace_id);
}

void of_avro_put_user_event(struct of_avro_ctx *c,
                            avro_value_t *val,
                            const void *obj)
{
    const struct of_user_event *ev = obj;
    const struct of_user *u = &ev->user;
    avro_value_t r;

    put_event_header(c, val, ev->event_id, ev->occurred_at, ev->version,
                     (int)ev->type, ev->command_id, ev->trace_id);
    field(c, val, "user", &r);
    set_long(c, &r, "user_id", u->user_id);
    set_str(c, &r, "email", u->email);
    set_str(c, &r, "username", u->username);
    set_long(c, &r, "registration_date", u->registration_date);
    set_opt_str(c, &r, "avatar_url", u->has_avatar_url, u->avatar_url);
    set_bool(c, &r, "is_banned", u->is_banned);
}

void of_avro_put_order_event(struct of_avro_ctx *c,
                             avro_value_t *val,
                             const void *obj)
{
    const struct of_order_event *ev = obj;
    const struct of_order *o = &ev->order;
    avro_value_t r;

    put_event_header(c, val, ev->event_id, ev->occurred_at, ev->version,
                     (int)ev->type, ev->command_id, ev->trace_id);
    field(c, val, "order", &r);
    set_long(c, &r, "order_id", o->order_id);
    set_long(c, &r, "user_id", o->user_id);
    set_enum(c, &r, "order_type", (int)o->order_type);
    set_enum(c, &r, "order_status", (int)o->order_status);
    set_decimal(c, &r, "total_amount", o->total_amount);
    set_long(c, &r, "created_at", o->created_at);
    set_long(c, &r, "updated_at", o->updated_at);
}

/* ------------------------------------------------------------------------
 * avro-c generic value -> struct. walk() already vouched for the shape, so
 * avro-c failures are internal; sizes are checked against our arrays.
 */

/* Copy the string value \p v of field \p name into \p dst. */
static void copy_str(struct of_avro_ctx *c,
                     avro_value_t *v,
                     const char *name,
                     char *dst,
                     size_t dst_size)
{
    const char *s;
    size_t size; /* with the NUL */

    if (c->rc != OF_OK)
        return;
    if (avro_value_get_string(v, &s, &size) != 0)
        value_failed(c, "get", name);
    else if (size == 0 || memchr(s, '\0', size - 1))
        of_avro_invalid(c, name, "contains a NUL byte");
    else if (size > dst_size)
        of_avro_invalid(c, name, "too long");
    else
        memcpy(dst, s, size);
}

static void get_str(struct of_avro_ctx *c,
                    avro_value_t *rec,
                    const char *name,
                    char *dst,
                    size_t dst_size)
{
    avro_value_t f;

    field(c, rec, name, &f);
    copy_str(c, &f, name, dst, dst_size);
}

static int64_t
get_long(struct of_avro_ctx *c, avro_value_t *rec, const char *name)
{
    int64_t v = 0;
    avro_value_t f;

    field(c, rec, name, &f);
    if (c->rc == OF_OK && avro_value_get_long(&f, &v) != 0)
        value_failed(c, "get", name);
    return v;
}

static bool get_bool(struct of_avro_ctx *c, avro_value_t *rec, const char *name)
{
    int v = 0;
    avro_value_t f;

    field(c, rec, name, &f);
    if (c->rc == OF_OK && avro_value_get_boolean(&f, &v) != 0)
        value_failed(c, "get", name);
    return v != 0;
}

static int get_enum(struct of_avro_ctx *c, avro_value_t *rec, const char *name)
{
    int v = 0;
    avro_value_t f;

    field(c, rec, name, &f);
    if (c->rc == OF_OK && avro_value_get_enum(&f, &v) != 0)
        value_failed(c, "get", name);
    return v;
}

/* The branch index of the union field \p name; *\p out is the branch. */
static int get_branch(struct of_avro_ctx *c,
                      avro_value_t *rec,
                      const char *name,
                      avro_value_t *out)
{
    int v = 0;
    avro_value_t f;

    field(c, rec, name, &f);
    if (c->rc == OF_OK && (avro_value_get_discriminant(&f, &v) != 0 ||
                           avro_value_get_current_branch(&f, out) != 0))
        value_failed(c, "get branch of", name);
    return v;
}

/* A ["null", "string"] field; returns whether it holds a string. */
static bool get_opt_str(struct of_avro_ctx *c,
                        avro_value_t *rec,
                        const char *name,
                        char *dst,
                        size_t dst_size)
{
    avro_value_t b;

    if (get_branch(c, rec, name, &b) != 1)
        return false;
    copy_str(c, &b, name, dst, dst_size);
    return c->rc == OF_OK;
}

/* decimal(10,2) bytes -> cents; check_amount() judges the range. */
static int64_t
get_decimal(struct of_avro_ctx *c, avro_value_t *rec, const char *name)
{
    const void *buf;
    const unsigned char *be;
    size_t size = 0;
    uint64_t u;
    avro_value_t f;

    field(c, rec, name, &f);
    if (c->rc == OF_OK && avro_value_get_bytes(&f, &buf, &size) != 0)
        value_failed(c, "get", name);
    if (c->rc != OF_OK)
        return 0;
    if (size < 1 || size > 8) {
        of_avro_invalid(c, name, "decimal is not 1 to 8 bytes");
        return 0;
    }
    be = buf;
    u = (be[0] & 0x80) ? UINT64_MAX : 0; /* sign extension */
    for (size_t i = 0; i < size; i++)
        u = (u << 8) | be[i];
    return (int64_t)u;
}

static void get_cmd_header(struct of_avro_ctx *c,
                           avro_value_t *rec,
                           char *command_id,
                           int64_t *issued_at,
                           struct of_actor *actor,
                           char *trace_id)
{
    avro_value_t a;

    get_str(c, rec, "command_id", command_id, OF_UUID_SIZE);
    *issued_at = get_long(c, rec, "issued_at");
    field(c, rec, "actor", &a);
    get_str(c, &a, "id", actor->id, sizeof(actor->id));
    actor->role = (enum of_role)get_enum(c, &a, "role");
    get_str(c, rec, "trace_id", trace_id, OF_TRACE_ID_SIZE);
}

void of_avro_get_user_cmd(struct of_avro_ctx *c, avro_value_t *val, void *obj)
{
    struct of_user_cmd *cmd = obj;
    avro_value_t p;

    get_cmd_header(c, val, cmd->command_id, &cmd->issued_at, &cmd->actor,
                   cmd->trace_id);
    cmd->type = (enum of_user_cmd_type)get_branch(c, val, "payload", &p);
    if (c->rc != OF_OK)
        return;
    if (cmd->type == OF_REGISTER_USER) {
        get_str(c, &p, "email", cmd->email, sizeof(cmd->email));
        get_str(c, &p, "username", cmd->username, sizeof(cmd->username));
        cmd->has_avatar_url = get_opt_str(c, &p, "avatar_url", cmd->avatar_url,
                                          sizeof(cmd->avatar_url));
    } else {
        cmd->user_id = get_long(c, &p, "user_id");
    }
}

void of_avro_get_order_cmd(struct of_avro_ctx *c, avro_value_t *val, void *obj)
{
    struct of_order_cmd *cmd = obj;
    avro_value_t p;

    get_cmd_header(c, val, cmd->command_id, &cmd->issued_at, &cmd->actor,
                   cmd->trace_id);
    cmd->type = (enum of_order_cmd_type)get_branch(c, val, "payload", &p);
    if (c->rc != OF_OK)
        return;
    if (cmd->type == OF_CREATE_ORDER) {
        cmd->user_id = get_long(c, &p, "user_id");
        cmd->order_type = (enum of_order_type)get_enum(c, &p, "order_type");
        cmd->total_amount = get_decimal(c, &p, "total_amount");
        return;
    }
    cmd->order_id = get_long(c, &p, "order_id");
    if (cmd->type == OF_PAY_ORDER)
        cmd->has_payment_ref = get_opt_str(
            c, &p, "payment_ref", cmd->payment_ref, sizeof(cmd->payment_ref));
    if (cmd->type == OF_REFUND_ORDER)
        cmd->has_reason =
            get_opt_str(c, &p, "reason", cmd->reason, sizeof(cmd->reason));
}

static void get_event_header(struct of_avro_ctx *c,
                             avro_value_t *rec,
                             char *event_id,
                             int64_t *occurred_at,
                             int64_t *version,
                             int *type,
                             char *command_id,
                             char *trace_id)
{
    get_str(c, rec, "event_id", event_id, OF_UUID_SIZE);
    *occurred_at = get_long(c, rec, "occurred_at");
    *version = get_long(c, rec, "version");
    *type = get_enum(c, rec, "type");
    get_str(c, rec, "command_id", command_id, OF_UUID_SIZE);
    get_str(c, rec, "trace_id", trace_id, OF_TRACE_ID_SIZE);
}

void of_avro_get_user_event(struct of_avro_ctx *c, avro_value_t *val, void *obj)
{
    struct of_user_event *ev = obj;
    struct of_user *u = &ev->user;
    avro_value_t r;
    int type;

    get_event_header(c, val, ev->event_id, &ev->occurred_at, &ev->version,
                     &type, ev->command_id, ev->trace_id);
    ev->type = (enum of_user_event_type)type;
    field(c, val, "user", &r);
    u->user_id = get_long(c, &r, "user_id");
    get_str(c, &r, "email", u->email, sizeof(u->email));
    get_str(c, &r, "username", u->username, sizeof(u->username));
    u->registration_date = get_long(c, &r, "registration_date");
    u->has_avatar_url =
        get_opt_str(c, &r, "avatar_url", u->avatar_url, sizeof(u->avatar_url));
    u->is_banned = get_bool(c, &r, "is_banned");
}

void of_avro_get_order_event(struct of_avro_ctx *c,
                             avro_value_t *val,
                             void *obj)
{
    struct of_order_event *ev = obj;
    struct of_order *o = &ev->order;
    avro_value_t r;
    int type;

    get_event_header(c, val, ev->event_id, &ev->occurred_at, &ev->version,
                     &type, ev->command_id, ev->trace_id);
    ev->type = (enum of_order_event_type)type;
    field(c, val, "order", &r);
    o->order_id = get_long(c, &r, "order_id");
    o->user_id = get_long(c, &r, "user_id");
    o->order_type = (enum of_order_type)get_enum(c, &r, "order_type");
    o->order_status = (enum of_order_status)get_enum(c, &r, "order_status");
    o->total_amount = get_decimal(c, &r, "total_amount");
    o->created_at = get_long(c, &r, "created_at");
    o->updated_at = get_long(c, &r, "updated_at");
}
