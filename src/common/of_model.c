/* of_model: see of_model.h. */
#include "of_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "of_money.h"

static const char *const status_names[] = {"accepted", "applied", "rejected"};

const char *of_cmd_status_name(enum of_cmd_state s)
{
    return status_names[s];
}

static int cmd_status_parse(const char *s, enum of_cmd_state *out)
{
    for (int i = 0; i < 3; i++) {
        if (strcmp(s, status_names[i]) == 0) {
            *out = (enum of_cmd_state)i;
            return 1;
        }
    }
    return 0;
}

int64_t of_time_now_us(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

int64_t of_time_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void of_time_format(int64_t micros, int frac, char out[40])
{
    time_t sec = (time_t)(micros / 1000000);
    struct tm tm;
    size_t n;

    gmtime_r(&sec, &tm);
    n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac)
        snprintf(out + n, 40 - n, ".%06dZ", (int)(micros % 1000000));
    else
        snprintf(out + n, 40 - n, "Z");
}

/* "2026-11-29T03:48:46Z" or with a fraction -> micros; 0 if malformed. */
static int64_t time_parse(const char *s)
{
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    int64_t us = 0;
    int digits = 0;

    if (!p)
        return 0;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9' && digits < 6; p++, digits++)
            us = us * 10 + (*p - '0');
        for (; digits < 6; digits++)
            us *= 10;
    }
    return (int64_t)timegm(&tm) * 1000000 + us;
}

int64_t of_time_parse_unix(const char *s)
{
    int64_t sec = 0, us = 0;
    int digits = 0;

    if (!s)
        return 0;
    for (; *s >= '0' && *s <= '9'; s++)
        sec = sec * 10 + (*s - '0');
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9' && digits < 6; s++, digits++)
            us = us * 10 + (*s - '0');
        for (; digits < 6; digits++)
            us *= 10;
    }
    return sec * 1000000 + us;
}

/* ---- JSON ---- */

json_t *of_user_json(const struct of_user *u, int64_t version)
{
    char reg[40];

    of_time_format(u->registration_date, 0, reg);
    return json_pack("{s:I, s:s, s:s, s:s, s:o, s:b, s:I}", "user_id",
                     (json_int_t)u->user_id, "email", u->email, "username",
                     u->username, "registration_date", reg, "avatar_url",
                     u->has_avatar_url ? json_string(u->avatar_url)
                                       : json_null(),
                     "is_banned", u->is_banned, "version", (json_int_t)version);
}

json_t *of_order_json(const struct of_order *o, int64_t version)
{
    char created[40], updated[40], amount[OF_MONEY_STR_SIZE];

    of_time_format(o->created_at, 0, created);
    of_time_format(o->updated_at, 0, updated);
    of_money_format(o->total_amount, amount);
    return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:I}", "order_id",
                     (json_int_t)o->order_id, "user_id", (json_int_t)o->user_id,
                     "order_type", of_avro_order_type_name(o->order_type),
                     "order_status", of_avro_order_status_name(o->order_status),
                     "total_amount", amount, "created_at", created,
                     "updated_at", updated, "version", (json_int_t)version);
}

json_t *of_cmd_status_json(const struct of_cmd_status *c)
{
    char acc[40], done[40];
    json_t *error = json_null();

    of_time_format(c->accepted_at, 1, acc);
    of_time_format(c->completed_at, 1, done);
    if (c->status == OF_CMD_REJECTED)
        error = json_pack("{s:s, s:s}", "code", c->error_code, "message",
                          c->error_message);
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:s, s:o}", "command_id",
                     c->command_id, "status", of_cmd_status_name(c->status),
                     "resource_type", c->resource_type, "resource_id",
                     c->resource_id ? json_integer(c->resource_id)
                                    : json_null(),
                     "error", error, "accepted_at", acc, "completed_at",
                     c->completed_at ? json_string(done) : json_null());
}

/* ---- Redis writes ---- */

/* The hashes of CONTRACT §6 as field/value pairs, and their keys. */
struct user_text {
    char key[64], id[24], reg[40];
    const char *f[6], *v[6];
    int n;
};

struct order_text {
    char key[64], id[24], uid[24], created[40], updated[40];
    char amount[OF_MONEY_STR_SIZE];
    char set[64], score[24]; /* orderflow:user:{id}:orders, its score */
    const char *f[7], *v[7];
};

struct cmd_text {
    char key[80], rid[24], acc[40], done[40];
    const char *f[9], *v[9];
};

static void user_text(const struct of_user *u, struct user_text *t)
{
    static const char *const f[] = {"user_id",   "email",
                                    "username",  "registration_date",
                                    "is_banned", "avatar_url"};

    snprintf(t->key, sizeof(t->key), "orderflow:user:%lld",
             (long long)u->user_id);
    snprintf(t->id, sizeof(t->id), "%lld", (long long)u->user_id);
    of_time_format(u->registration_date, 0, t->reg);
    memcpy(t->f, f, sizeof(f));
    t->v[0] = t->id;
    t->v[1] = u->email;
    t->v[2] = u->username;
    t->v[3] = t->reg;
    t->v[4] = u->is_banned ? "true" : "false";
    t->v[5] = u->avatar_url;
    t->n = u->has_avatar_url ? 6 : 5;
}

static void order_text(const struct of_order *o, struct order_text *t)
{
    static const char *const f[] = {"order_id",     "user_id",
                                    "order_type",   "order_status",
                                    "total_amount", "created_at",
                                    "updated_at"};

    snprintf(t->key, sizeof(t->key), "orderflow:order:%lld",
             (long long)o->order_id);
    snprintf(t->id, sizeof(t->id), "%lld", (long long)o->order_id);
    snprintf(t->uid, sizeof(t->uid), "%lld", (long long)o->user_id);
    of_time_format(o->created_at, 0, t->created);
    of_time_format(o->updated_at, 0, t->updated);
    of_money_format(o->total_amount, t->amount);
    snprintf(t->set, sizeof(t->set), "orderflow:user:%lld:orders",
             (long long)o->user_id);
    snprintf(t->score, sizeof(t->score), "%lld",
             (long long)(o->created_at / 1000000));
    memcpy(t->f, f, sizeof(f));
    t->v[0] = t->id;
    t->v[1] = t->uid;
    t->v[2] = of_avro_order_type_name(o->order_type);
    t->v[3] = of_avro_order_status_name(o->order_status);
    t->v[4] = t->amount;
    t->v[5] = t->created;
    t->v[6] = t->updated;
}

static void cmd_text(const struct of_cmd_status *c, struct cmd_text *t)
{
    static const char *const f[] = {
        "command_id", "status",   "resource_type", "resource_id",
        "error_code", "error_message", "actor_id", "accepted_at",
        "completed_at"};

    snprintf(t->key, sizeof(t->key), "orderflow:command:%s", c->command_id);
    snprintf(t->rid, sizeof(t->rid), "%lld", (long long)c->resource_id);
    of_time_format(c->accepted_at, 1, t->acc);
    of_time_format(c->completed_at, 1, t->done);
    memcpy(t->f, f, sizeof(f));
    t->v[0] = c->command_id;
    t->v[1] = of_cmd_status_name(c->status);
    t->v[2] = c->resource_type;
    t->v[3] = t->rid;
    t->v[4] = c->error_code;
    t->v[5] = c->error_message;
    t->v[6] = c->actor_id;
    t->v[7] = t->acc;
    t->v[8] = c->completed_at ? t->done : "";
}

/* Appends \p n pairs of \p f, \p v to \p argv at *argc. */
static void put_pairs(const char **argv, int *argc, const char *const *f,
                      const char *const *v, int n)
{
    for (int i = 0; i < n; i++) {
        argv[(*argc)++] = f[i];
        argv[(*argc)++] = v[i];
    }
}

int of_model_redis_put_user(struct of_redis *r, const struct of_user *u,
                            int64_t version, struct of_err *err)
{
    struct user_text t;
    int rc;

    user_text(u, &t);
    rc = of_redis_append_versioned(r, t.key, version, t.f, t.v, t.n, err);
    return rc == OF_OK ? of_redis_flush(r, err) : rc;
}

int of_model_redis_put_order(struct of_redis *r, const struct of_order *o,
                             int64_t version, struct of_err *err)
{
    struct order_text t;
    int rc;

    order_text(o, &t);
    rc = of_redis_append_versioned(r, t.key, version, t.f, t.v, 7, err);
    /* ZADD is idempotent: the same member with the same score */
    const char *argv[] = {"ZADD", t.set, t.score, t.id};
    if (rc == OF_OK)
        rc = of_redis_append(r, 4, argv, NULL, err);
    return rc == OF_OK ? of_redis_flush(r, err) : rc;
}

/* KEYS[1] the hash, ARGV[1] ttl, ARGV[2] only-if-absent, ARGV[3..] pairs */
static const char put_cmd_lua[] =
    "if ARGV[2] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then\n"
    "  return 0\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('HSET', KEYS[1], unpack(ARGV, 3))\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[1])\n"
    "return 1\n";

int of_model_redis_append_cmd(struct of_redis *r,
                              const struct of_cmd_status *c,
                              int only_if_absent, int ttl_s,
                              struct of_err *err)
{
    const char *argv[3 + 2 * 9];
    struct cmd_text t;
    char ttl[16];
    int argc = 0;

    cmd_text(c, &t);
    snprintf(ttl, sizeof(ttl), "%d", ttl_s);
    argv[argc++] = t.key;
    argv[argc++] = ttl;
    argv[argc++] = only_if_absent ? "1" : "0";
    put_pairs(argv, &argc, t.f, t.v, 9);
    return of_redis_append_script(r, put_cmd_lua, 1, argc, argv, err);
}

int of_model_redis_put_cmd(struct of_redis *r, const struct of_cmd_status *c,
                           int only_if_absent, int ttl_s, struct of_err *err)
{
    int rc = of_model_redis_append_cmd(r, c, only_if_absent, ttl_s, err);

    return rc == OF_OK ? of_redis_flush(r, err) : rc;
}

/*
 * A command's whole outcome in one call (the worker's hot path: one call
 * instead of four): what of_redis_put_versioned() does to the snapshot of
 * its user or order, the ZADD of of_model_redis_put_order(), what
 * put_cmd_lua does (not only-if-absent) and the PUBLISH.
 * KEYS[1] the user or order hash or "", KEYS[2] the user's order set or "",
 * KEYS[3] the command hash. ARGV: version, n, n snapshot pairs; score,
 * member (when KEYS[2]); ttl, m, m command pairs; channel, message.
 */
static const char put_outcome_lua[] =
    "local i = 3\n"
    "local n = tonumber(ARGV[2])\n"
    "if KEYS[1] ~= '' then\n"
    "  local cur = redis.call('HGET', KEYS[1], 'version')\n"
    "  if not cur or tonumber(cur) < tonumber(ARGV[1]) then\n"
    "    redis.call('DEL', KEYS[1])\n"
    "    redis.call('HSET', KEYS[1], 'version', ARGV[1],\n"
    "               unpack(ARGV, i, i + 2 * n - 1))\n"
    "  end\n"
    "end\n"
    "i = i + 2 * n\n"
    "if KEYS[2] ~= '' then\n"
    "  redis.call('ZADD', KEYS[2], ARGV[i], ARGV[i + 1])\n"
    "  i = i + 2\n"
    "end\n"
    "local ttl = ARGV[i]\n"
    "n = tonumber(ARGV[i + 1])\n"
    "i = i + 2\n"
    "redis.call('DEL', KEYS[3])\n"
    "redis.call('HSET', KEYS[3], unpack(ARGV, i, i + 2 * n - 1))\n"
    "redis.call('EXPIRE', KEYS[3], ttl)\n"
    "i = i + 2 * n\n"
    "redis.call('PUBLISH', ARGV[i], ARGV[i + 1])\n"
    "return 1\n";

int of_model_redis_append_outcome(struct of_redis *r,
                                  const struct of_user *u,
                                  int64_t user_version,
                                  const struct of_order *o,
                                  int64_t order_version,
                                  const struct of_cmd_status *c,
                                  int ttl_s,
                                  const char *channel,
                                  struct of_err *err)
{
    const char *argv[OF_REDIS_SCRIPT_ARGS_MAX];
    char ver[24], npairs[8], ttl[16];
    struct user_text ut;
    struct order_text ot;
    struct cmd_text ct;
    int argc = 3, rc;

    if (u && o) { /* no command has both: the user goes on its own */
        user_text(u, &ut);
        rc = of_redis_append_versioned(r, ut.key, user_version, ut.f, ut.v,
                                       ut.n, err);
        if (rc != OF_OK)
            return rc;
        u = NULL;
    }
    argv[0] = argv[1] = "";
    if (o) {
        order_text(o, &ot);
        argv[0] = ot.key;
        argv[1] = ot.set;
        snprintf(ver, sizeof(ver), "%lld", (long long)order_version);
        snprintf(npairs, sizeof(npairs), "%d", 7);
    } else if (u) {
        user_text(u, &ut);
        argv[0] = ut.key;
        snprintf(ver, sizeof(ver), "%lld", (long long)user_version);
        snprintf(npairs, sizeof(npairs), "%d", ut.n);
    } else {
        snprintf(ver, sizeof(ver), "0");
        snprintf(npairs, sizeof(npairs), "0");
    }
    cmd_text(c, &ct);
    argv[2] = ct.key;
    argv[argc++] = ver;
    argv[argc++] = npairs;
    if (o)
        put_pairs(argv, &argc, ot.f, ot.v, 7);
    else if (u)
        put_pairs(argv, &argc, ut.f, ut.v, ut.n);
    if (o) {
        argv[argc++] = ot.score;
        argv[argc++] = ot.id;
    }
    snprintf(ttl, sizeof(ttl), "%d", ttl_s);
    argv[argc++] = ttl;
    argv[argc++] = "9";
    put_pairs(argv, &argc, ct.f, ct.v, 9);
    argv[argc++] = channel;
    argv[argc++] = c->command_id;
    return of_redis_append_script(r, put_outcome_lua, 3, argc, argv, err);
}

/* ---- Redis reads ---- */

/* HGETALL into a flat field/value lookup. The reply is Redis's, so trusted
 * in nothing: a field or value that is not a bulk string, or a value with a
 * NUL inside, is as good as absent; the first of a repeated field wins. */
struct hash {
    const redisReply *reply;
};

static const char *hget(const struct hash *h, const char *field)
{
    size_t n = strlen(field);

    for (size_t i = 0; i + 1 < h->reply->elements; i += 2) {
        const redisReply *f = h->reply->element[i];
        const redisReply *v = h->reply->element[i + 1];

        if (f->type != REDIS_REPLY_STRING || (size_t)f->len != n ||
            memcmp(f->str, field, n) != 0)
            continue;
        if (v->type != REDIS_REPLY_STRING || strlen(v->str) != (size_t)v->len)
            return NULL;
        return v->str;
    }
    return NULL;
}

static int hgetall(struct of_redis *r, const char *key, redisReply **reply,
                   int *found, struct of_err *err)
{
    const char *argv[] = {"HGETALL", key};

    *reply = of_redis_command(r, 2, argv, NULL, err);
    if (!*reply)
        return err->rc;
    if ((*reply)->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(*reply);
        *reply = NULL;
        return of_err_set(err, OF_EINVAL, "%s is not a hash", key);
    }
    *found = (*reply)->elements > 0;
    return OF_OK;
}

static int copy_field(const struct hash *h, const char *field, char *out,
                      size_t cap)
{
    const char *v = hget(h, field);

    if (!v || strlen(v) >= cap)
        return 0;
    memcpy(out, v, strlen(v) + 1);
    return 1;
}

/* A field we wrote with "%lld" of a value >= 0: ^(0|[1-9][0-9]*)$ within
 * int64_t, nothing else (no blank, sign, "12abc" or overflow). */
static int int_field(const struct hash *h, const char *field, int64_t *out)
{
    const char *v = hget(h, field);
    int64_t n = 0;

    if (!v || !*v || (v[0] == '0' && v[1]))
        return 0;
    for (; *v; v++) {
        if (*v < '0' || *v > '9' || n > (INT64_MAX - (*v - '0')) / 10)
            return 0;
        n = n * 10 + (*v - '0');
    }
    *out = n;
    return 1;
}

static int is_hash(const redisReply *reply)
{
    return reply && reply->type == REDIS_REPLY_ARRAY;
}

int of_model_user_from_hash(const redisReply *reply, int64_t id,
                            struct of_user *u, int64_t *version,
                            struct of_err *err)
{
    struct hash h = {reply};
    const char *banned;
    const char *reg;
    int ok;

    memset(u, 0, sizeof(*u));
    *version = 0;
    if (!is_hash(reply))
        return of_err_set(err, OF_EINVAL, "orderflow:user:%lld is not a hash",
                          (long long)id);
    reg = hget(&h, "registration_date");
    banned = hget(&h, "is_banned");
    u->registration_date = reg ? time_parse(reg) : 0;
    u->is_banned = banned && strcmp(banned, "true") == 0;
    u->has_avatar_url =
        copy_field(&h, "avatar_url", u->avatar_url, sizeof(u->avatar_url));
    ok = int_field(&h, "user_id", &u->user_id) && u->user_id == id &&
         int_field(&h, "version", version) && *version > 0 &&
         copy_field(&h, "email", u->email, sizeof(u->email)) &&
         copy_field(&h, "username", u->username, sizeof(u->username)) &&
         banned;
    if (!ok)
        return of_err_set(err, OF_EINVAL, "orderflow:user:%lld is malformed",
                          (long long)id);
    return OF_OK;
}

int of_model_order_from_hash(const redisReply *reply, int64_t id,
                             struct of_order *o, int64_t *version,
                             struct of_err *err)
{
    struct hash h = {reply};

    memset(o, 0, sizeof(*o));
    *version = 0;
    if (!is_hash(reply))
        return of_err_set(err, OF_EINVAL,
                          "orderflow:order:%lld is not a hash", (long long)id);
    const char *type = hget(&h, "order_type");
    const char *status = hget(&h, "order_status");
    const char *amount = hget(&h, "total_amount");
    const char *created = hget(&h, "created_at");
    const char *updated = hget(&h, "updated_at");
    if (!type || !status || !amount || !created || !updated ||
        !int_field(&h, "order_id", &o->order_id) || o->order_id != id ||
        !int_field(&h, "user_id", &o->user_id) || o->user_id <= 0 ||
        !int_field(&h, "version", version) || *version <= 0 ||
        of_avro_order_type_parse(type, &o->order_type) != OF_OK ||
        of_avro_order_status_parse(status, &o->order_status) != OF_OK ||
        of_money_parse(amount, &o->total_amount) != 0)
        return of_err_set(err, OF_EINVAL, "orderflow:order:%lld is malformed",
                          (long long)id);
    o->created_at = time_parse(created);
    o->updated_at = time_parse(updated);
    return OF_OK;
}

int of_model_cmd_from_hash(const redisReply *reply, const char *command_id,
                           struct of_cmd_status *c, struct of_err *err)
{
    struct hash h = {reply};

    memset(c, 0, sizeof(*c));
    if (!is_hash(reply))
        return of_err_set(err, OF_EINVAL,
                          "orderflow:command:%s is not a hash", command_id);
    const char *status = hget(&h, "status");
    const char *acc = hget(&h, "accepted_at");
    const char *done = hget(&h, "completed_at");
    const char *rid = hget(&h, "resource_id");
    if (!status || !cmd_status_parse(status, &c->status) ||
        !copy_field(&h, "command_id", c->command_id, sizeof(c->command_id)) ||
        !copy_field(&h, "resource_type", c->resource_type,
                    sizeof(c->resource_type)) ||
        !copy_field(&h, "actor_id", c->actor_id, sizeof(c->actor_id)))
        return of_err_set(err, OF_EINVAL, "orderflow:command:%s is malformed",
                          command_id);
    copy_field(&h, "error_code", c->error_code, sizeof(c->error_code));
    copy_field(&h, "error_message", c->error_message,
               sizeof(c->error_message));
    c->resource_id = rid ? strtoll(rid, NULL, 10) : 0;
    c->accepted_at = acc ? time_parse(acc) : 0;
    c->completed_at = done && *done ? time_parse(done) : 0;
    return OF_OK;
}

int of_model_redis_get_user(struct of_redis *r, int64_t id, struct of_user *u,
                            int64_t *version, int *found, struct of_err *err)
{
    char key[64];
    redisReply *reply = NULL;
    int rc;

    snprintf(key, sizeof(key), "orderflow:user:%lld", (long long)id);
    memset(u, 0, sizeof(*u));
    rc = hgetall(r, key, &reply, found, err);
    if (rc == OF_OK && *found)
        rc = of_model_user_from_hash(reply, id, u, version, err);
    if (reply)
        freeReplyObject(reply);
    return rc;
}

int of_model_redis_get_order(struct of_redis *r, int64_t id,
                             struct of_order *o, int64_t *version, int *found,
                             struct of_err *err)
{
    char key[64];
    redisReply *reply = NULL;
    int rc;

    snprintf(key, sizeof(key), "orderflow:order:%lld", (long long)id);
    memset(o, 0, sizeof(*o));
    rc = hgetall(r, key, &reply, found, err);
    if (rc == OF_OK && *found)
        rc = of_model_order_from_hash(reply, id, o, version, err);
    if (reply)
        freeReplyObject(reply);
    return rc;
}

int of_model_redis_get_cmd(struct of_redis *r, const char *command_id,
                           struct of_cmd_status *c, int *found,
                           struct of_err *err)
{
    char key[80];
    redisReply *reply = NULL;
    int rc;

    snprintf(key, sizeof(key), "orderflow:command:%s", command_id);
    memset(c, 0, sizeof(*c));
    rc = hgetall(r, key, &reply, found, err);
    if (rc == OF_OK && *found)
        rc = of_model_cmd_from_hash(reply, command_id, c, err);
    if (reply)
        freeReplyObject(reply);
    return rc;
}

/* ---- MySQL reads ---- */

struct row_ctx {
    int found;
    void *out;
    int64_t *version;
};

static void copy_str(char *out, size_t cap, const char *v)
{
    snprintf(out, cap, "%s", v ? v : "");
}

void of_model_user_from_row(char *const *v, struct of_user *u,
                            int64_t *version)
{
    memset(u, 0, sizeof(*u));
    u->user_id = strtoll(v[0], NULL, 10);
    copy_str(u->email, sizeof(u->email), v[1]);
    copy_str(u->username, sizeof(u->username), v[2]);
    u->registration_date = of_time_parse_unix(v[3]);
    u->has_avatar_url = v[4] != NULL;
    copy_str(u->avatar_url, sizeof(u->avatar_url), v[4]);
    u->is_banned = v[5] && strcmp(v[5], "0") != 0;
    *version = v[6] ? strtoll(v[6], NULL, 10) : 0;
}

int of_model_order_from_row(char *const *v, struct of_order *o,
                            int64_t *version, struct of_err *err)
{
    memset(o, 0, sizeof(*o));
    o->order_id = strtoll(v[0], NULL, 10);
    o->user_id = strtoll(v[1], NULL, 10);
    o->created_at = of_time_parse_unix(v[5]);
    o->updated_at = of_time_parse_unix(v[6]);
    *version = v[7] ? strtoll(v[7], NULL, 10) : 0;
    if (of_avro_order_type_parse(v[2], &o->order_type) != OF_OK)
        return of_err_set(err, OF_EINVAL,
                          "order %lld: order_type \"%.32s\" is not one the "
                          "contract allows",
                          (long long)o->order_id, v[2] ? v[2] : "(null)");
    if (of_avro_order_status_parse(v[3], &o->order_status) != OF_OK)
        return of_err_set(err, OF_EINVAL,
                          "order %lld: order_status \"%.32s\" is not one "
                          "the contract allows",
                          (long long)o->order_id, v[3] ? v[3] : "(null)");
    if (of_money_parse(v[4], &o->total_amount) != OF_OK)
        return of_err_set(err, OF_EINVAL,
                          "order %lld: total_amount \"%.32s\" is not one "
                          "the contract allows",
                          (long long)o->order_id, v[4] ? v[4] : "(null)");
    return OF_OK;
}

static int user_row(void *arg, int ncols, char **v, const unsigned long *lens)
{
    struct row_ctx *ctx = arg;
    (void)ncols;
    (void)lens;

    of_model_user_from_row(v, ctx->out, ctx->version);
    ctx->found = 1;
    return 1;
}

int of_model_db_get_user(struct of_db *db, int64_t id, struct of_user *u,
                         int64_t *version, int *found, struct of_err *err)
{
    struct row_ctx ctx = {0, u, version};
    int rc;

    memset(u, 0, sizeof(*u));
    rc = of_db_query(db, OF_MODEL_USER_SELECT "WHERE user_id = ?",
                     (struct of_db_param[]){OF_DB_I(id)}, 1, user_row, &ctx,
                     err);
    *found = ctx.found;
    return rc;
}

static int order_row(void *arg, int ncols, char **v, const unsigned long *lens)
{
    struct row_ctx *ctx = arg;
    struct of_err err;
    (void)ncols;
    (void)lens;

    /* not found: a row we cannot show */
    ctx->found = of_model_order_from_row(v, ctx->out, ctx->version, &err) ==
                 OF_OK;
    return 1;
}

int of_model_db_get_order(struct of_db *db, int64_t id, struct of_order *o,
                          int64_t *version, int *found, struct of_err *err)
{
    struct row_ctx ctx = {0, o, version};
    int rc;

    memset(o, 0, sizeof(*o));
    rc = of_db_query(db, OF_MODEL_ORDER_SELECT "WHERE order_id = ?",
                     (struct of_db_param[]){OF_DB_I(id)}, 1, order_row, &ctx,
                     err);
    *found = ctx.found;
    return rc;
}

static int cmd_row(void *arg, int ncols, char **v, const unsigned long *lens)
{
    struct row_ctx *ctx = arg;
    struct of_cmd_status *c = ctx->out;
    (void)ncols;
    (void)lens;

    copy_str(c->command_id, sizeof(c->command_id), v[0]);
    c->status = strcmp(v[1], "applied") == 0 ? OF_CMD_APPLIED
                                             : OF_CMD_REJECTED;
    copy_str(c->resource_type, sizeof(c->resource_type), v[2]);
    c->resource_id = v[3] ? strtoll(v[3], NULL, 10) : 0;
    copy_str(c->error_code, sizeof(c->error_code), v[4]);
    copy_str(c->error_message, sizeof(c->error_message), v[5]);
    copy_str(c->actor_id, sizeof(c->actor_id), v[6]);
    c->accepted_at = of_time_parse_unix(v[7]);
    c->completed_at = of_time_parse_unix(v[8]);
    ctx->found = 1;
    return 1;
}

int of_model_db_get_cmd(struct of_db *db, const char *command_id,
                        struct of_cmd_status *c, int *found,
                        struct of_err *err)
{
    struct row_ctx ctx = {0, c, NULL};
    int rc;

    memset(c, 0, sizeof(*c));
    rc = of_db_query(db,
                     "SELECT command_id, status, resource_type, resource_id, "
                     "error_code, error_message, actor_id, "
                     "UNIX_TIMESTAMP(accepted_at), UNIX_TIMESTAMP(completed_at) "
                     "FROM commands WHERE command_id = ?",
                     (struct of_db_param[]){OF_DB_S(command_id)}, 1, cmd_row,
                     &ctx, err);
    *found = ctx.found;
    return rc;
}
