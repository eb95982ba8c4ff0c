/*
 * worker_apply: the transaction frame shared by every command type, the
 * commands and outbox rows, and the snapshots. See worker_apply.h.
 *
 * Statement order inside a transaction: the dedupe lookup (a plain read,
 * no lock), then the aggregate's row lock, the change, the outbox row, and
 * the commands row last. A duplicate that another worker is applying at
 * the same moment passes the lookup, then either waits on the aggregate's
 * row lock or on the commands primary key, and fails with ER_DUP_ENTRY on
 * the commands row once the other commits: we roll back everything we
 * did, so the effect stays single.
 */
#include "worker_apply_int.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysqld_error.h>
#include <openssl/sha.h>

#include "of_log.h"
#include "of_money.h"
#include "of_uuid.h"


struct worker_apply *worker_apply_new(struct worker_sql *db,
                                      const struct of_avro *avro)
{
    struct worker_apply *wa = calloc(1, sizeof(*wa));

    if (!wa)
        return NULL;
    wa->db = db;
    wa->avro = avro;
    return wa;
}

void worker_apply_destroy(struct worker_apply *wa)
{
    if (!wa)
        return;
    apply_batch_destroy(wa->batch);
    free(wa);
}

/* Copies at most \p max bytes of \p s, not splitting a UTF-8 sequence. */
static void clip_utf8(char *out, size_t max, const char *s)
{
    size_t n = strlen(s);

    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(out, s, n);
    out[n] = '\0';
}

void apply_reject(struct worker_apply *wa,
                  const char *code,
                  const char *fmt,
                  ...)
{
    struct of_cmd_status *st = &wa->out->cmd;
    char msg[sizeof(st->error_message)];
    va_list ap;

    wa->out->result = WORKER_REJECTED;
    st->status = OF_CMD_REJECTED;
    snprintf(st->error_code, sizeof(st->error_code), "%s", code);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* error_message is VARCHAR(255) */
    clip_utf8(st->error_message, sizeof(st->error_message) - 1, msg);
}

/* ---- the content hash ---- */

static void hash_put(struct worker_apply *wa, const void *p, size_t n)
{
    /* cannot happen (APPLY_HASH_BUF): a cut form would only make two
     * commands look alike, never a plain duplicate look like a conflict */
    if (n > sizeof(wa->hbuf) - wa->hn)
        n = sizeof(wa->hbuf) - wa->hn;
    memcpy(wa->hbuf + wa->hn, p, n);
    wa->hn += n;
}

static void hash_u64(struct worker_apply *wa, uint64_t v)
{
    unsigned char b[8];

    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    hash_put(wa, b, sizeof(b));
}

static void hash_bytes(struct worker_apply *wa, const char *s)
{
    size_t n = strlen(s);

    hash_u64(wa, n);
    hash_put(wa, s, n);
}

void apply_hash_begin(struct worker_apply *wa,
                      const char *resource_type,
                      const char *command_type,
                      const struct of_actor *actor)
{
    wa->hn = 0;
    apply_hash_str(wa, "resource_type", resource_type);
    apply_hash_str(wa, "command_type", command_type);
    apply_hash_str(wa, "actor.id", actor->id);
    apply_hash_str(wa, "actor.role", of_role_name(actor->role));
}

void apply_hash_str(struct worker_apply *wa, const char *name, const char *v)
{
    hash_bytes(wa, name);
    hash_bytes(wa, v);
}

void apply_hash_opt(struct worker_apply *wa,
                    const char *name,
                    int has,
                    const char *v)
{
    hash_bytes(wa, name);
    if (has)
        hash_bytes(wa, v);
    else
        hash_u64(wa, UINT64_MAX); /* no string is that long: null */
}

void apply_hash_int(struct worker_apply *wa, const char *name, int64_t v)
{
    hash_bytes(wa, name);
    hash_u64(wa, (uint64_t)v);
}

void apply_hash_end(struct worker_apply *wa, unsigned char out[32])
{
    SHA256(wa->hbuf, wa->hn, out);
}

/* Upper-case hex, as MySQL's HEX() writes it. */
static void hex32(const unsigned char *b, char out[65])
{
    static const char digits[] = "0123456789ABCDEF";

    for (int i = 0; i < 32; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[64] = '\0';
}

/* ---- snapshots ---- */

static int user_from_row(const struct worker_sql_row *row,
                         struct of_user *u,
                         int64_t *version)
{
    const char *const *v = row->v;

    memset(u, 0, sizeof(*u));
    if (!v[0] || !v[1] || !v[2] || !v[3] || !v[5] || !v[6] ||
        strlen(v[1]) >= sizeof(u->email) ||
        strlen(v[2]) >= sizeof(u->username) ||
        (v[4] && strlen(v[4]) >= sizeof(u->avatar_url)))
        return OF_EINVAL;
    u->user_id = strtoll(v[0], NULL, 10);
    snprintf(u->email, sizeof(u->email), "%s", v[1]);
    snprintf(u->username, sizeof(u->username), "%s", v[2]);
    u->registration_date = of_time_parse_unix(v[3]);
    u->has_avatar_url = v[4] != NULL;
    snprintf(u->avatar_url, sizeof(u->avatar_url), "%s", v[4] ? v[4] : "");
    u->is_banned = strcmp(v[5], "0") != 0;
    *version = strtoll(v[6], NULL, 10);
    return OF_OK;
}

int apply_order_from_row(const struct worker_sql_row *row,
                          struct of_order *o,
                          int64_t *version)
{
    const char *const *v = row->v;

    memset(o, 0, sizeof(*o));
    for (int i = 0; i < 8; i++) {
        if (!v[i])
            return OF_EINVAL;
    }
    if (of_avro_order_type_parse(v[2], &o->order_type) != OF_OK ||
        of_avro_order_status_parse(v[3], &o->order_status) != OF_OK ||
        of_money_parse(v[4], &o->total_amount) != OF_OK)
        return OF_EINVAL;
    o->order_id = strtoll(v[0], NULL, 10);
    o->user_id = strtoll(v[1], NULL, 10);
    o->created_at = of_time_parse_unix(v[5]);
    o->updated_at = of_time_parse_unix(v[6]);
    *version = strtoll(v[7], NULL, 10);
    return OF_OK;
}

int apply_read_user(struct worker_apply *wa,
                    enum worker_sql_id how,
                    int64_t id,
                    int *found,
                    struct of_err *err)
{
    struct worker_sql_row row;
    struct worker_outcome *out = wa->out;
    int rc;

    out->has_user = 0;
    rc = worker_sql_run(wa->db, how, (struct of_db_param[]){OF_DB_I(id)}, 1,
                        &row, NULL, err);
    *found = rc == OF_OK && row.found;
    if (!*found)
        return rc;
    if (user_from_row(&row, &out->user, &out->user_version) != OF_OK)
        return of_err_set(err, OF_EINVAL,
                          "user %lld in MySQL cannot be shown: a column is "
                          "empty or too long",
                          (long long)id);
    out->has_user = 1;
    return OF_OK;
}

int apply_read_order(struct worker_apply *wa,
                     enum worker_sql_id how,
                     int64_t id,
                     int *found,
                     struct of_err *err)
{
    struct worker_sql_row row;
    struct worker_outcome *out = wa->out;
    int rc;

    out->has_order = 0;
    rc = worker_sql_run(wa->db, how, (struct of_db_param[]){OF_DB_I(id)}, 1,
                        &row, NULL, err);
    *found = rc == OF_OK && row.found;
    if (!*found)
        return rc;
    if (apply_order_from_row(&row, &out->order, &out->order_version) != OF_OK)
        return of_err_set(err, OF_EINVAL,
                          "order %lld in MySQL cannot be shown: bad type, "
                          "status or amount",
                          (long long)id);
    out->has_order = 1;
    return OF_OK;
}

/* ---- outbox ---- */

void apply_outbox_params(const struct apply_cmd *c,
                         const struct apply_event *ev,
                         struct apply_row_text *t,
                         struct of_db_param p[APPLY_OUTBOX_PARAMS])
{
    clip_utf8(t->trace, TRACE_COL_MAX, c->trace_id);
    p[0] = OF_DB_S(ev->aggtype);
    p[1] = OF_DB_S(ev->aggid);
    p[2] = OF_DB_S(ev->type);
    p[3] = OF_DB_B(ev->payload, ev->len);
    p[4] = OF_DB_S(ev->event_id);
    p[5] = OF_DB_I(ev->version);
    p[6] = OF_DB_S(c->command_id);
    p[7] = OF_DB_S(t->trace);
}

/* Writes the event's outbox row now, or keeps it in wa->defer for the
 * batch to write (worker_apply_batch.c). Takes \p payload either way. */
static int outbox_insert(struct worker_apply *wa,
                         const char *aggtype,
                         int64_t aggid,
                         const char *type,
                         void *payload,
                         size_t len,
                         const char *event_id,
                         int64_t version,
                         struct of_err *err)
{
    struct apply_event local, *ev = wa->defer ? wa->defer : &local;
    struct of_db_param p[APPLY_OUTBOX_PARAMS];
    struct apply_row_text t;
    int rc;

    ev->set = 1;
    ev->aggtype = aggtype;
    snprintf(ev->aggid, sizeof(ev->aggid), "%lld", (long long)aggid);
    ev->type = type;
    ev->payload = payload;
    ev->len = len;
    snprintf(ev->event_id, sizeof(ev->event_id), "%s", event_id);
    ev->version = version;
    if (wa->defer)
        return OF_OK;
    apply_outbox_params(wa->c, ev, &t, p);
    rc = worker_sql_run(wa->db, WSQL_OUTBOX_INSERT, p, APPLY_OUTBOX_PARAMS,
                        NULL, NULL, err);
    free(payload);
    return rc;
}

int apply_user_event(struct worker_apply *wa,
                     enum of_user_event_type type,
                     struct of_err *err)
{
    struct of_user_event *ev = &wa->ev.user;
    void *payload = NULL;
    size_t len = 0;
    int rc;

    memset(ev, 0, sizeof(*ev));
    of_uuid_v4(ev->event_id);
    ev->occurred_at = wa->now;
    ev->version = wa->out->user_version;
    ev->type = type;
    snprintf(ev->command_id, sizeof(ev->command_id), "%s", wa->c->command_id);
    snprintf(ev->trace_id, sizeof(ev->trace_id), "%s", wa->c->trace_id);
    ev->user = wa->out->user;
    rc = of_avro_encode_user_event(wa->avro, ev, &payload, &len, err);
    if (rc != OF_OK) {
        free(payload);
        return rc;
    }
    return outbox_insert(wa, "user", ev->user.user_id,
                         of_avro_user_event_type_name(type), payload, len,
                         ev->event_id, ev->version, err);
}

int apply_order_event(struct worker_apply *wa,
                      enum of_order_event_type type,
                      struct of_err *err)
{
    struct of_order_event *ev = &wa->ev.order;
    void *payload = NULL;
    size_t len = 0;
    int rc;

    memset(ev, 0, sizeof(*ev));
    of_uuid_v4(ev->event_id);
    ev->occurred_at = wa->now;
    ev->version = wa->out->order_version;
    ev->type = type;
    snprintf(ev->command_id, sizeof(ev->command_id), "%s", wa->c->command_id);
    snprintf(ev->trace_id, sizeof(ev->trace_id), "%s", wa->c->trace_id);
    ev->order = wa->out->order;
    rc = of_avro_encode_order_event(wa->avro, ev, &payload, &len, err);
    if (rc != OF_OK) {
        free(payload);
        return rc;
    }
    return outbox_insert(wa, "order", ev->order.order_id,
                         of_avro_order_event_type_name(type), payload, len,
                         ev->event_id, ev->version, err);
}

/* ---- the commands row ---- */

void apply_command_params(const struct apply_cmd *c,
                          const struct worker_outcome *out,
                          const struct worker_msg *msg,
                          struct apply_row_text *t,
                          struct of_db_param p[APPLY_CMD_PARAMS])
{
    const struct of_cmd_status *st = &out->cmd;
    int rejected = st->status == OF_CMD_REJECTED;

    worker_sql_time(st->accepted_at, t->accepted);
    worker_sql_time(st->completed_at, t->completed);
    clip_utf8(t->trace, TRACE_COL_MAX, c->trace_id);
    p[0] = OF_DB_S(st->command_id);
    p[1] = OF_DB_S(c->command_type);
    p[2] = OF_DB_S(of_cmd_status_name(st->status));
    p[3] = OF_DB_S(st->resource_type);
    /* commands.resource_id is INT: an id past it names nothing that can
     * exist (a rejection), so the row says none */
    p[4] = st->resource_id > 0 && st->resource_id <= INT32_MAX
               ? OF_DB_I(st->resource_id)
               : OF_DB_NULLP;
    p[5] = rejected ? OF_DB_S(st->error_code) : OF_DB_NULLP;
    p[6] = rejected ? OF_DB_S(st->error_message) : OF_DB_NULLP;
    p[7] = OF_DB_S(st->actor_id);
    p[8] = OF_DB_S(t->trace);
    p[9] = OF_DB_S(t->accepted);
    p[10] = OF_DB_S(t->completed);
    p[11] = OF_DB_S(msg->topic);
    p[12] = OF_DB_I(msg->partition);
    p[13] = OF_DB_I(msg->offset);
    p[14] = OF_DB_B(c->sha256, 32);
}

/* Inserts the commands row; *dup is set when a duplicate of this command
 * committed its row first (a zombie worker, a concurrent replay). */
static int insert_command(struct worker_apply *wa, int *dup, struct of_err *err)
{
    struct of_db_param p[APPLY_CMD_PARAMS];
    struct apply_row_text t;
    int rc;

    apply_command_params(wa->c, wa->out, wa->msg, &t, p);
    *dup = 0;
    rc = worker_sql_run(wa->db, WSQL_CMD_INSERT, p, APPLY_CMD_PARAMS, NULL,
                        NULL, err);
    if (rc == OF_EINVAL && worker_sql_errno(wa->db) == ER_DUP_ENTRY) {
        *dup = 1;
        return OF_OK;
    }
    return rc;
}

/* Fills wa->out from the commands row of a command applied before, and the
 * current snapshot of its resource, for the read model to catch up. */
static int load_done(struct worker_apply *wa,
                     const struct worker_sql_row *row,
                     struct of_err *err)
{
    struct of_cmd_status *st = &wa->out->cmd;
    const char *const *v = row->v;
    int found;

    wa->out->result = WORKER_DUPLICATE;
    st->status = v[0] && strcmp(v[0], "rejected") == 0 ? OF_CMD_REJECTED
                                                       : OF_CMD_APPLIED;
    snprintf(st->resource_type, sizeof(st->resource_type), "%s",
             v[1] ? v[1] : "");
    st->resource_id = v[2] ? strtoll(v[2], NULL, 10) : 0;
    snprintf(st->error_code, sizeof(st->error_code), "%s", v[3] ? v[3] : "");
    snprintf(st->error_message, sizeof(st->error_message), "%s",
             v[4] ? v[4] : "");
    snprintf(st->actor_id, sizeof(st->actor_id), "%s", v[5] ? v[5] : "");
    st->accepted_at = of_time_parse_unix(v[6]);
    st->completed_at = of_time_parse_unix(v[7]);
    /* a row written before schemas/sql/003 has no hash: no conflict */
    if (v[8]) {
        char ours[65];
        hex32(wa->c->sha256, ours);
        wa->out->conflict = strcmp(v[8], ours) != 0;
    }
    /* row borrows the connection's buffers: done with it from here on */
    if (st->resource_id == 0)
        return OF_OK;
    if (strcmp(st->resource_type, "user") == 0)
        return apply_read_user(wa, WSQL_USER_GET, st->resource_id, &found, err);
    return apply_read_order(wa, WSQL_ORDER_GET, st->resource_id, &found, err);
}

/* The dedupe lookup; *found is set if the command was applied before. */
int apply_find_done(struct worker_apply *wa, int *found, struct of_err *err)
{
    struct worker_sql_row row;
    int rc;

    rc = worker_sql_run(wa->db, WSQL_CMD_GET,
                        (struct of_db_param[]){OF_DB_S(wa->c->command_id)}, 1,
                        &row, NULL, err);
    *found = rc == OF_OK && row.found;
    if (!*found)
        return rc;
    return load_done(wa, &row, err);
}

/* A duplicate found by the commands insert: read what the winner wrote, in
 * a transaction of its own (ours was rolled back). */
static int reread_done(struct worker_apply *wa, struct of_err *err)
{
    int found = 0, rc;

    rc = worker_sql_begin(wa->db, err);
    if (rc == OF_OK)
        rc = apply_find_done(wa, &found, err);
    worker_sql_rollback(wa->db);
    if (rc == OF_OK && !found)
        rc = of_err_set(err, OF_EAGAIN,
                        "command %s collided on the commands table but has "
                        "no row there",
                        wa->c->command_id);
    return rc;
}

void apply_outcome_init(struct worker_apply *wa)
{
    const struct apply_cmd *c = wa->c;
    struct worker_outcome *out = wa->out;
    struct of_cmd_status *st = &out->cmd;

    /* not the snapshots (10 KiB, a user's): has_user and has_order say
     * whether they are set, and a batch inits 512 outcomes */
    out->result = WORKER_APPLIED;
    out->conflict = 0;
    out->has_user = out->has_order = 0;
    out->user_version = out->order_version = 0;
    memset(st, 0, sizeof(*st));
    snprintf(st->command_id, sizeof(st->command_id), "%s", c->command_id);
    st->status = OF_CMD_APPLIED;
    snprintf(st->resource_type, sizeof(st->resource_type), "%s",
             c->resource_type);
    snprintf(st->actor_id, sizeof(st->actor_id), "%s", c->actor_id);
    st->accepted_at = c->issued_at;
    st->completed_at = wa->now;
}

int apply_run(struct worker_apply *wa,
              const struct apply_cmd *c,
              apply_fn fn,
              const void *cmd,
              const struct worker_msg *msg,
              struct worker_outcome *out,
              struct of_err *err)
{
    int found = 0, dup = 0, rc;

    wa->c = c;
    wa->msg = msg;
    wa->out = out;
    wa->now = of_time_now_us();
    apply_outcome_init(wa);
    rc = worker_sql_begin(wa->db, err);
    if (rc == OF_OK)
        rc = apply_find_done(wa, &found, err);
    if (rc == OF_OK && !found) {
        rc = fn(wa, cmd, err);
        if (rc == OF_OK)
            rc = insert_command(wa, &dup, err);
        if (rc == OF_OK && !dup) {
            rc = worker_sql_commit(wa->db, err);
            if (rc == OF_OK)
                return OF_OK;
        }
    }
    /* a duplicate, or a failure: nothing of ours may stay */
    worker_sql_rollback(wa->db);
    if (rc == OF_OK && dup) {
        apply_outcome_init(wa);
        rc = reread_done(wa, err);
    }
    return rc;
}
