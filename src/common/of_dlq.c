/* of_dlq: see of_dlq.h. */
#include "of_dlq.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "of_headers.h"
#include "of_kafka.h"
#include "of_model.h" /* of_time_format, of_time_mono_us */
#include "of_money.h"

/* Keys one redrive unparks (a ceiling: a call touching more fails). */
#define UNPARKED_MAX 100000

/* The headers a worker adds to a dead letter, taken off by a redrive. */
static const char *const dlq_headers[] = {"error", "original-topic",
                                          "original-partition",
                                          "original-offset", "failed-at",
                                          "parked-behind", NULL};

/* ---- time ---- */

/* \p want ms, or less if the deadline comes first (0 once it passed). */
static int wait_ms(const struct of_dlq_opts *opts, int want)
{
    int64_t left;

    if (!opts->deadline_us)
        return want;
    left = (opts->deadline_us - of_time_mono_us()) / 1000;
    if (left <= 0)
        return 0;
    return left < want ? (int)left : want;
}

static int past_deadline(const struct of_dlq_opts *opts)
{
    return opts->deadline_us && of_time_mono_us() >= opts->deadline_us;
}

/* ---- the bounded reader ---- */

static int partition_count(rd_kafka_t *rk,
                           const char *topic,
                           const struct of_dlq_opts *opts,
                           int *n,
                           struct of_err *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t e;
    int rc = OF_OK;

    if (!rkt)
        return of_err_set(err, OF_EINVAL, "topic \"%s\" cannot be read: %s",
                          topic, rd_kafka_err2str(rd_kafka_last_error()));
    e = rd_kafka_metadata(rk, 0, rkt, &md, wait_ms(opts, opts->request_ms));
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1) {
        rc = of_err_set(err, OF_EAGAIN,
                        "could not read the metadata of topic \"%s\": %s",
                        topic, rd_kafka_err2str(e));
    } else if (md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        rc = of_err_set(err, OF_EINVAL, "topic \"%s\" does not exist", topic);
    } else if (md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rc = of_err_set(err, OF_EAGAIN,
                        "could not read the metadata of topic \"%s\": %s",
                        topic, rd_kafka_err2str(md->topics[0].err));
    } else {
        *n = md->topics[0].partition_cnt;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return rc;
}

/* Offset of the first message at or after \p ms in partition \p p, \p high
 * if none; -2 if Kafka did not say. */
static int64_t offset_for_time(rd_kafka_t *rk,
                               const char *topic,
                               int p,
                               int64_t ms,
                               int64_t high,
                               const struct of_dlq_opts *opts)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    int64_t off;

    rd_kafka_topic_partition_list_add(l, topic, p)->offset = ms;
    if (rd_kafka_offsets_for_times(rk, l, wait_ms(opts, opts->request_ms)) !=
        RD_KAFKA_RESP_ERR_NO_ERROR)
        off = -2;
    else
        off = l->elems[0].offset < 0 ? high : l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    return off;
}

/* The [from, to) offsets of partition \p p. */
static int bounds(rd_kafka_t *rk,
                  const struct of_dlq_range *r,
                  int p,
                  const struct of_dlq_opts *opts,
                  int64_t *from,
                  int64_t *to,
                  struct of_err *err)
{
    int64_t low, high;

    if (rd_kafka_query_watermark_offsets(rk, r->topic, p, &low, &high,
                                         wait_ms(opts, opts->request_ms)) !=
        RD_KAFKA_RESP_ERR_NO_ERROR)
        goto fail;
    *from = low;
    if (r->from_offset >= 0)
        *from = r->from_offset > low ? r->from_offset : low;
    else if (r->from_ms >= 0)
        *from = offset_for_time(rk, r->topic, p, r->from_ms, high, opts);
    *to = high;
    if (r->to_offset >= 0 && r->to_offset < high)
        *to = r->to_offset;
    else if (r->to_ms >= 0)
        *to = offset_for_time(rk, r->topic, p, r->to_ms, high, opts);
    if (*from >= -1 && *to >= -1)
        return OF_OK;
fail:
    return of_err_set(err, OF_EAGAIN, "could not read the offsets of %s [%d]",
                      r->topic, p);
}

static int scan_partition(rd_kafka_t *rk,
                          const char *topic,
                          int p,
                          int64_t from,
                          int64_t to,
                          const struct of_dlq_opts *opts,
                          of_dlq_scan_cb cb,
                          void *arg,
                          struct of_err *err)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    int64_t next = from, last_us = of_time_mono_us();
    int rc = OF_OK;

    rd_kafka_topic_partition_list_add(l, topic, p)->offset = from;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    while (next < to && rc == OF_OK) {
        if (past_deadline(opts)) {
            rc = of_err_set(err, OF_EAGAIN,
                            "reading %s [%d]: out of time at offset %" PRId64,
                            topic, p, next);
            break;
        }
        if (of_time_mono_us() - last_us > (int64_t)opts->idle_ms * 1000) {
            rc = of_err_set(err, OF_EAGAIN,
                            "reading %s [%d]: no message for %d s at offset "
                            "%" PRId64,
                            topic, p, opts->idle_ms / 1000, next);
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, wait_ms(opts, 100));
        if (!m)
            continue;
        last_us = of_time_mono_us();
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->partition == p &&
            m->offset >= next) {
            next = m->offset + 1;
            if (m->offset < to && cb(arg, m) != 0)
                next = to;
        } else if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rc = of_err_set(err, OF_EAGAIN, "reading %s [%d]: %s", topic, p,
                            rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(rk, NULL);
    return rc;
}

int of_dlq_scan(const struct of_config *cfg,
                const struct of_dlq_range *range,
                const struct of_dlq_opts *opts,
                of_dlq_scan_cb cb,
                void *arg,
                int64_t *total,
                struct of_err *err)
{
    const char *extra[] = {"group.id",
                           opts->client,
                           "client.id",
                           opts->client,
                           "enable.auto.commit",
                           "false",
                           "enable.partition.eof",
                           "false",
                           NULL};
    rd_kafka_conf_t *conf = of_kafka_conf_new(cfg, extra, err);
    rd_kafka_t *rk = conf ? of_kafka_new(RD_KAFKA_CONSUMER, conf, err) : NULL;
    int64_t *from = NULL, *to = NULL;
    int n = 0, first, last, rc;

    if (!rk) {
        if (conf) /* taken only on success */
            rd_kafka_conf_destroy(conf);
        return err->rc;
    }
    rd_kafka_poll_set_consumer(rk);
    rc = partition_count(rk, range->topic, opts, &n, err);
    if (rc != OF_OK)
        goto out;
    if (range->partition >= n) {
        rc = of_err_set(err, OF_EINVAL, "topic \"%s\" has no such partition",
                        range->topic);
        goto out;
    }
    from = calloc((size_t)n + 1, sizeof(*from));
    to = calloc((size_t)n + 1, sizeof(*to));
    if (!from || !to) {
        rc = of_err_set(err, OF_EAGAIN, "out of memory");
        goto out;
    }
    first = range->partition >= 0 ? range->partition : 0;
    last = range->partition >= 0 ? range->partition : n - 1;
    if (total)
        *total = 0;
    for (int p = first; p <= last && rc == OF_OK; p++) {
        rc = bounds(rk, range, p, opts, &from[p], &to[p], err);
        if (rc == OF_OK && total && to[p] > from[p])
            *total += to[p] - from[p];
    }
    for (int p = first; p <= last && rc == OF_OK; p++) {
        if (to[p] > from[p])
            rc = scan_partition(rk, range->topic, p, from[p], to[p], opts, cb,
                                arg, err);
    }
out:
    free(from);
    free(to);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- one dead letter as JSON ---- */

/* Length of the valid UTF-8 sequence at \p s (\p n bytes left), or 0: the
 * rules jansson checks (no overlong form, no surrogate, <= U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    uint32_t cp;
    size_t len;

    if (s[0] < 0x80)
        return 1;
    if (s[0] < 0xC2 || s[0] > 0xF4)
        return 0;
    len = s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : 4;
    if (len > n)
        return 0;
    cp = s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* \p len bytes as valid UTF-8, each byte of a broken sequence U+FFFD;
 * malloc()ed and NUL-terminated, *\p out_len its length. */
static char *utf8_fix(const void *p, size_t len, size_t *out_len)
{
    const unsigned char *s = p;
    char *out = malloc(3 * len + 1);
    size_t o = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < len;) {
        size_t k = utf8_seq(s + i, len - i);
        if (k == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
            continue;
        }
        memcpy(out + o, s + i, k);
        o += k;
        i += k;
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

/* Anyone's bytes as a JSON string (never NULL but out of memory). */
static json_t *text_json(const void *p, size_t len)
{
    size_t n;
    char *fixed = utf8_fix(p ? p : "", p ? len : 0, &n);
    json_t *s = fixed ? json_stringn(fixed, n) : NULL;

    free(fixed);
    return s;
}

static json_t *str_json(const char *s)
{
    return text_json(s, strlen(s));
}

static json_t *headers_json(const rd_kafka_headers_t *h)
{
    json_t *o = json_object();
    const char *name;
    const void *val;
    size_t len, name_len;

    for (size_t i = 0;
         o && h && rd_kafka_header_get_all(h, i, &name, &val, &len) == 0;
         i++) {
        char *key = utf8_fix(name, strlen(name), &name_len);
        if (key) /* a repeated name: the last value wins */
            json_object_set_new(o, key, text_json(val, val ? len : 0));
        free(key);
    }
    return o;
}

static json_t *time_json(int64_t micros)
{
    char at[40];

    of_time_format(micros, 1, at);
    return json_string(at);
}

static json_t *actor_json(const struct of_actor *a)
{
    json_t *o = json_object();

    json_object_set_new(o, "id", str_json(a->id));
    json_object_set_new(o, "role", json_string(of_role_name(a->role)));
    return o;
}

/* What every command has, first. */
static json_t *command_head(const char *command_id,
                            const char *type,
                            int64_t issued_at,
                            const struct of_actor *actor,
                            const char *trace_id)
{
    json_t *o = json_object();

    json_object_set_new(o, "command_id", str_json(command_id));
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "issued_at", time_json(issued_at));
    json_object_set_new(o, "actor", actor_json(actor));
    json_object_set_new(o, "trace_id", str_json(trace_id));
    return o;
}

static json_t *user_cmd_json(const struct of_user_cmd *c)
{
    json_t *o = command_head(c->command_id, of_avro_user_cmd_type_name(c->type),
                             c->issued_at, &c->actor, c->trace_id);

    if (c->type == OF_REGISTER_USER) {
        json_object_set_new(o, "email", str_json(c->email));
        json_object_set_new(o, "username", str_json(c->username));
        json_object_set_new(o, "avatar_url", c->has_avatar_url
                                                 ? str_json(c->avatar_url)
                                                 : json_null());
    } else {
        json_object_set_new(o, "user_id", json_integer(c->user_id));
    }
    return o;
}

static json_t *order_cmd_json(const struct of_order_cmd *c)
{
    json_t *o =
        command_head(c->command_id, of_avro_order_cmd_type_name(c->type),
                     c->issued_at, &c->actor, c->trace_id);
    char amount[OF_MONEY_STR_SIZE];

    if (c->type == OF_CREATE_ORDER) {
        of_money_format(c->total_amount, amount);
        json_object_set_new(o, "user_id", json_integer(c->user_id));
        json_object_set_new(
            o, "order_type",
            json_string(of_avro_order_type_name(c->order_type)));
        json_object_set_new(o, "total_amount", json_string(amount));
        return o;
    }
    json_object_set_new(o, "order_id", json_integer(c->order_id));
    if (c->type == OF_PAY_ORDER)
        json_object_set_new(o, "payment_ref", c->has_payment_ref
                                                  ? str_json(c->payment_ref)
                                                  : json_null());
    if (c->type == OF_REFUND_ORDER)
        json_object_set_new(o, "reason",
                            c->has_reason ? str_json(c->reason) : json_null());
    return o;
}

/* Decodes a command value: *value says what it is (orderflowctl's "value"),
 * *command is the command or null. */
static void describe(const struct of_avro *avro,
                     const void *buf,
                     size_t len,
                     json_t **value,
                     json_t **command)
{
    enum of_avro_schema schema = OF_AVRO_SCHEMA_COUNT;
    uint64_t fp = 0;
    struct of_err err = {0};
    char fps[20];
    union {
        struct of_user_cmd user;
        struct of_order_cmd order;
    } *c = NULL;
    int rc = OF_EINVAL;

    *command = json_null();
    switch (of_avro_peek(avro, buf, len, &schema, &fp)) {
    case OF_AVRO_FRAME_NONE:
        *value = json_pack("{s:s}", "frame", "none");
        return;
    case OF_AVRO_FRAME_UNKNOWN:
        snprintf(fps, sizeof(fps), "%016" PRIx64, fp);
        *value = json_pack("{s:s, s:s}", "frame", "unknown fingerprint",
                           "fingerprint", fps);
        return;
    default:
        break;
    }
    *value = json_pack("{s:s}", "schema", of_avro_schema_name(schema));
    if (schema != OF_AVRO_USER_COMMAND && schema != OF_AVRO_ORDER_COMMAND)
        return;
    c = malloc(sizeof(*c)); /* about 10 KiB: not on a server thread's stack */
    if (!c) {
        of_err_set(&err, OF_EAGAIN, "out of memory");
    } else if (schema == OF_AVRO_USER_COMMAND) {
        rc = of_avro_decode_user_cmd(avro, buf, len, &c->user, &err);
        if (rc == OF_OK)
            *command = user_cmd_json(&c->user);
    } else {
        rc = of_avro_decode_order_cmd(avro, buf, len, &c->order, &err);
        if (rc == OF_OK)
            *command = order_cmd_json(&c->order);
    }
    if (rc == OF_OK) {
        json_object_set(*value, "command_id",
                        json_object_get(*command, "command_id"));
        json_object_set(*value, "type", json_object_get(*command, "type"));
    } else {
        json_object_set_new(*value, "decode_error", str_json(err.msg));
    }
    free(c);
}

json_t *of_dlq_letter_json(const struct of_avro *avro,
                           unsigned flags,
                           int32_t partition,
                           int64_t offset,
                           int64_t timestamp_ms,
                           const void *key,
                           size_t key_len,
                           const rd_kafka_headers_t *headers,
                           const void *value,
                           size_t value_len)
{
    json_t *o = json_object(), *what, *command;

    if (!o)
        return NULL;
    describe(avro, value, value_len, &what, &command);
    json_object_set_new(o, "partition", json_integer(partition));
    json_object_set_new(o, "offset", json_integer(offset));
    json_object_set_new(o, "timestamp", timestamp_ms >= 0
                                            ? time_json(timestamp_ms * 1000)
                                            : json_null());
    json_object_set_new(o, "key", text_json(key, key_len));
    json_object_set_new(o, "headers", headers_json(headers));
    json_object_set_new(o, "value_size", json_integer((json_int_t)value_len));
    json_object_set_new(o, "command", command);
    if (flags & OF_DLQ_JSON_VALUE) {
        json_object_set_new(o, "value", what);
        json_object_set_new(o, "value_bytes",
                            json_integer((json_int_t)value_len));
    } else {
        json_decref(what);
    }
    return o;
}

json_t *of_dlq_message_json(const struct of_avro *avro,
                            unsigned flags,
                            const rd_kafka_message_t *rkm)
{
    rd_kafka_headers_t *h = NULL;
    int64_t ts = rd_kafka_message_timestamp(rkm, NULL);

    if (rd_kafka_message_headers(rkm, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
        h = NULL;
    return of_dlq_letter_json(avro, flags, rkm->partition, rkm->offset, ts,
                              rkm->key, rkm->key_len, h, rkm->payload,
                              rkm->len);
}

/* ---- list ---- */

struct letter {
    json_t *o;
    int64_t ts;
    int32_t partition;
    int64_t offset;
};

struct list {
    const struct of_avro *avro;
    unsigned flags;
    long limit;
    struct letter *v;
    size_t n, cap;
    int32_t partition; /* the one being read, and how many of it so far */
    long of_partition;
    int oom;
};

static int list_one(void *arg, const rd_kafka_message_t *m)
{
    struct list *l = arg;
    struct letter *v;

    if (m->partition != l->partition) {
        l->partition = m->partition;
        l->of_partition = 0;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        v = realloc(l->v, cap * sizeof(*v));
        if (!v) {
            l->oom = 1;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    v = &l->v[l->n];
    v->o = of_dlq_message_json(l->avro, l->flags, m);
    if (!v->o) {
        l->oom = 1;
        return 1;
    }
    v->ts = rd_kafka_message_timestamp(m, NULL);
    v->partition = m->partition;
    v->offset = m->offset;
    l->n++;
    return ++l->of_partition >= l->limit;
}

static int older(const void *a, const void *b)
{
    const struct letter *x = a, *y = b;

    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

int of_dlq_list(const struct of_config *cfg,
                const struct of_avro *avro,
                unsigned flags,
                long limit,
                const struct of_dlq_opts *opts,
                json_t **out,
                struct of_err *err)
{
    struct of_dlq_range range = {cfg->topics.dead_letter, -1, -1, -1, -1, -1};
    struct list l = {avro, flags, limit, NULL, 0, 0, -1, 0, 0};
    int rc;

    assert(limit > 0);
    *out = NULL;
    rc = of_dlq_scan(cfg, &range, opts, list_one, &l, NULL, err);
    if (rc == OF_OK && l.oom)
        rc = of_err_set(err, OF_EAGAIN, "out of memory");
    if (rc == OF_OK) {
        /* each partition is in offset order; the merge is by time */
        if (l.n > 1) /* qsort(NULL, 0, ...) is undefined */
            qsort(l.v, l.n, sizeof(*l.v), older);
        *out = json_array();
        if (!*out)
            rc = of_err_set(err, OF_EAGAIN, "out of memory");
    }
    for (size_t i = 0; i < l.n; i++) {
        if (*out && i < (size_t)limit)
            json_array_append(*out, l.v[i].o);
        json_decref(l.v[i].o);
    }
    free(l.v);
    return rc;
}

/* ---- redrive ---- */

struct unparked {
    char *topic;
    void *key;
    size_t key_len;
};

struct redrive {
    const struct of_config *cfg;
    const struct of_dlq_opts *opts;
    rd_kafka_t *rk;
    struct of_dlq_redrive_stats *st;
    long not_queued, acked; /* acked: written by on_delivery */
    struct of_db *db;       /* opened at the first parked dead letter */
    struct unparked *unparked;
    size_t nunparked;
};

static void note(const struct redrive *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note(const struct redrive *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (!r->opts->note)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->opts->note(r->opts->note_arg, msg);
}

/* Runs inside rd_kafka_poll()/rd_kafka_flush(), on the caller's thread. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *o)
{
    (void)rk;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        ((struct redrive *)o)->acked++;
}

int of_dlq_unpark(struct of_db *db,
                  const char *topic,
                  const void *key,
                  size_t key_len,
                  uint64_t *deleted,
                  struct of_err *err)
{
    struct of_err e;
    int rc;

    *deleted = 0;
    rc = of_db_exec(
        db, "DELETE FROM parked_keys WHERE topic = ? AND msg_key = ?",
        (struct of_db_param[]){OF_DB_S(topic), OF_DB_B(key, key_len)}, 2,
        deleted, &e);
    if (rc != OF_OK)
        return of_err_set(err, rc, "could not unpark a key of \"%s\": %s",
                          topic, e.msg);
    return OF_OK;
}

/* Did the worker park \p m's key at \p m, or hold \p m behind a parker? */
static int is_parked_letter(const rd_kafka_message_t *m,
                            const struct of_dead_letter *dl)
{
    if (!m->key || m->key_len == 0)
        return 0;
    return dl->parked_behind || strncmp(dl->error, "parked:", 7) == 0;
}

static int
remember(struct redrive *r, const char *topic, const rd_kafka_message_t *m)
{
    struct unparked *u;

    if (r->nunparked == UNPARKED_MAX) {
        note(r,
             "more than %d parked keys in one run; redrive fewer dead "
             "letters at a time",
             UNPARKED_MAX);
        return -1;
    }
    u = realloc(r->unparked, (r->nunparked + 1) * sizeof(*u));
    if (!u)
        goto oom;
    r->unparked = u;
    u = &r->unparked[r->nunparked];
    u->topic = strdup(topic);
    u->key = malloc(m->key_len);
    if (!u->topic || !u->key) {
        free(u->topic);
        free(u->key);
        goto oom;
    }
    memcpy(u->key, m->key, m->key_len);
    u->key_len = m->key_len;
    r->nunparked++;
    return 0;
oom:
    note(r, "out of memory");
    return -1;
}

/* Unparks (topic, m's key) unless this call did already: a second delete
 * could remove the row of a parker redriven earlier that failed again.
 * @returns 0, or -1 (noted) */
static int
unpark_once(struct redrive *r, const char *topic, const rd_kafka_message_t *m)
{
    struct of_err err;
    uint64_t n = 0;

    for (size_t i = 0; i < r->nunparked; i++) {
        const struct unparked *u = &r->unparked[i];
        if (u->key_len == m->key_len && strcmp(u->topic, topic) == 0 &&
            memcmp(u->key, m->key, m->key_len) == 0)
            return 0;
    }
    if (remember(r, topic, m) != 0)
        return -1;
    r->st->keys++;
    if (!r->db)
        r->db = of_db_open(r->cfg, &err);
    if (!r->db || of_dlq_unpark(r->db, topic, m->key, m->key_len, &n, &err)) {
        note(r, "%s", err.msg);
        return -1;
    }
    r->st->unparked += (long)n;
    return 0;
}

/* Queues \p m for \p topic, waiting while the producer's queue is full. */
static rd_kafka_resp_err_t send_back(struct redrive *r,
                                     const char *topic,
                                     const rd_kafka_message_t *m,
                                     rd_kafka_headers_t *h)
{
    int64_t until = of_time_mono_us() + (int64_t)r->opts->flush_ms * 1000;
    rd_kafka_resp_err_t e;

    for (;;) {
        e = rd_kafka_producev(r->rk, RD_KAFKA_V_TOPIC(topic),
                              RD_KAFKA_V_KEY(m->key, m->key_len),
                              RD_KAFKA_V_VALUE(m->payload, m->len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || past_deadline(r->opts) ||
            of_time_mono_us() > until)
            return e;
        rd_kafka_poll(r->rk, wait_ms(r->opts, 100));
    }
}

static int redrive_one(void *arg, const rd_kafka_message_t *m)
{
    struct redrive *r = arg;
    rd_kafka_headers_t *h = NULL, *out;
    rd_kafka_resp_err_t e;
    struct of_dead_letter dl;
    const char *topic = dl.original_topic;

    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
        h = NULL;
    of_headers_dead_letter(h, &dl);
    if (!topic[0]) {
        note(r, "dead letter %d:%" PRId64 " has no original-topic; skipped",
             (int)m->partition, m->offset);
        r->st->skipped++;
        return 0;
    }
    /* before publishing: the worker must not find the key parked */
    if (is_parked_letter(m, &dl) && unpark_once(r, topic, m) != 0) {
        r->st->failed++;
        return 1;
    }
    out = h ? rd_kafka_headers_copy(h) : rd_kafka_headers_new(1);
    for (int i = 0; dlq_headers[i]; i++)
        rd_kafka_header_remove(out, dlq_headers[i]);
    e = send_back(r, topic, m, out);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_headers_destroy(out); /* taken only on success */
        note(r, "could not send dead letter %d:%" PRId64 " to \"%s\": %s",
             (int)m->partition, m->offset, topic, rd_kafka_err2str(e));
        r->not_queued++;
        return 1;
    }
    r->st->redriven++;
    rd_kafka_poll(r->rk, 0); /* delivery reports, as they come */
    return 0;
}

static rd_kafka_t *redrive_producer(struct redrive *r, struct of_err *err)
{
    /* idempotent: a parked key's dead letters must reach the topic in
     * their order, retries included */
    const char *extra[] = {"enable.idempotence", "true", "acks", "all", NULL};
    rd_kafka_conf_t *conf = of_kafka_conf_new(r->cfg, extra, err);
    rd_kafka_t *rk;

    if (!conf)
        return NULL;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, r);
    rk = of_kafka_new(RD_KAFKA_PRODUCER, conf, err);
    if (!rk)
        rd_kafka_conf_destroy(conf); /* taken only on success */
    return rk;
}

int of_dlq_redrive(const struct of_config *cfg,
                   int partition,
                   int64_t offset,
                   const struct of_dlq_opts *opts,
                   struct of_dlq_redrive_stats *st,
                   struct of_err *err)
{
    struct of_dlq_range range = {cfg->topics.dead_letter, -1, -1, -1, -1, -1};
    struct redrive r = {cfg, opts, NULL, st, 0, 0, NULL, NULL, 0};
    int rc;

    memset(st, 0, sizeof(*st));
    if (partition >= 0) {
        range.partition = partition;
        range.from_offset = offset;
        range.to_offset = offset < INT64_MAX ? offset + 1 : offset;
    }
    r.rk = redrive_producer(&r, err);
    if (!r.rk)
        return err->rc;
    rc = of_dlq_scan(cfg, &range, opts, redrive_one, &r, NULL, err);
    rd_kafka_flush(r.rk, wait_ms(opts, opts->flush_ms));
    if (rd_kafka_outq_len(r.rk) > 0) /* what is left will not be acked */
        rd_kafka_purge(r.rk,
                       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_destroy(r.rk);
    st->failed += r.not_queued + (st->redriven - r.acked);
    for (size_t i = 0; i < r.nunparked; i++) {
        free(r.unparked[i].topic);
        free(r.unparked[i].key);
    }
    free(r.unparked);
    of_db_close(r.db);
    return rc;
}

/* ---- the HTTP body ---- */

int of_dlq_redrive_target(json_t *body,
                          int *partition,
                          int64_t *offset,
                          struct of_err *err)
{
    static const char shape[] =
        "the body must be {\"partition\": P, \"offset\": O} or {\"all\": true}";
    json_t *all, *p, *o, *v;
    const char *name;

    if (!json_is_object(body))
        return of_err_set(err, OF_EINVAL, "%s", shape);
    json_object_foreach(body, name, v)
    {
        if (strcmp(name, "all") != 0 && strcmp(name, "partition") != 0 &&
            strcmp(name, "offset") != 0)
            return of_err_set(err, OF_EINVAL, "%.64s: unknown field; %s", name,
                              shape);
    }
    all = json_object_get(body, "all");
    p = json_object_get(body, "partition");
    o = json_object_get(body, "offset");
    if (all && (p || o))
        return of_err_set(err, OF_EINVAL,
                          "all: not with partition or offset; %s", shape);
    if (all && !json_is_true(all))
        return of_err_set(err, OF_EINVAL, "all: must be true");
    if (all) {
        *partition = -1;
        *offset = -1;
        return OF_OK;
    }
    if (!p || !json_is_integer(p) || json_integer_value(p) < 0 ||
        json_integer_value(p) > INT32_MAX)
        return of_err_set(err, OF_EINVAL,
                          "partition: %s an integer from 0 to %d; %s",
                          p ? "must be" : "missing,", INT32_MAX, shape);
    if (!o || !json_is_integer(o) || json_integer_value(o) < 0 ||
        json_integer_value(o) == INT64_MAX)
        return of_err_set(err, OF_EINVAL,
                          "offset: %s an integer from 0 to %" PRId64 "; %s",
                          o ? "must be" : "missing,", INT64_MAX - 1, shape);
    *partition = (int)json_integer_value(p);
    *offset = (int64_t)json_integer_value(o);
    return OF_OK;
}
