/*
 * worker_commands: the command worker's loop. What one poll round brings
 * (up to [worker] batch_max messages) goes, in order, as batches:
 *
 *   decode -> one MySQL transaction (worker_apply_batch) -> one Redis
 *   pipeline: read model and PUBLISH orderflow:command-done -> one commit
 *   of the offsets
 *
 * (the Redis replies and the offset commit of a batch come after the next
 * batch's MySQL transaction: see "batches" below) and, for any message a
 * batch cannot take (it fails a check, or MySQL did not take its batch
 * whole), one message at a time (handle()): the same steps, each retried
 * as below. The offset is committed last, so a crash anywhere before it
 * means a redelivery, which the dedupe row turns into a no-op in MySQL and a
 * catch-up of Redis (worker_apply reads back a duplicate's outcome).
 *
 * Failures, by class (STYLE §3):
 * - OF_EAGAIN (MySQL down, deadlock, lock wait timeout, Redis down, Kafka
 *   refusing the dead letter): retry the same step of the same message
 *   with capped exponential backoff and jitter, every partition paused and
 *   the consumer polled meanwhile (worker_consumer_wait), forever. A
 *   message is given up only when its partition is revoked or at shutdown;
 *   it is then delivered again, never skipped. The cap is [worker]
 *   retry_max_ms, but at most REDIS_RETRY_MAX_MS for the Redis step: a
 *   Redis call fails fast (of_redis's circuit breaker), and a Redis back
 *   from a pause should not wait out a long backoff (F12).
 * - OF_EINVAL (undecodable bytes, values MySQL refuses): the poison path,
 *   dead_letter(), then the offset is committed. A poison message that
 *   looks like a real command (the Avro single-object marker, of_avro_peek)
 *   parks its key first (worker_parking.h): later messages of the key are
 *   dead-lettered behind it, with a parked-behind header, until an operator
 *   redrives or skips them. Plain garbage and keyless messages park nothing.
 * - The envelope is checked too (TESTPLAN rows 45, 46): a message whose
 *   content-type header (its last value) is missing or not
 *   application/avro, and a command whose message key is not its
 *   aggregate's key (CONTRACT §4: the user id, the email of a
 *   registration, the order id, the user id of a create; a null key and a
 *   tombstone included), is dead-lettered without being applied: applied,
 *   a misrouted command would bypass the per-key order of its aggregate.
 *   These park nothing: the message does not belong to its key's stream,
 *   and a redrive would send the same envelope back.
 * - OF_EFATAL: stop, exit 1, commit nothing more.
 * Business rejections are not failures: they commit like applied commands.
 */
#include "worker_commands.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "of_avro.h"
#include "of_headers.h"
#include "of_kafka.h"
#include "of_log.h"
#include "of_model.h"
#include "of_redis.h"
#include "worker_apply.h"
#include "worker_consumer.h"
#include "worker_deadletter.h"
#include "worker_fault.h"
#include "worker_health.h"
#include "worker_metrics.h"
#include "worker_parking.h"
#include "worker_sql.h"

#define POLL_MS            100
#define RETRY_FIRST_MS     100
#define RETRY_LOG_MS       10000 /* a lasting failure is logged this often */
#define REDIS_RETRY_MAX_MS 2000 /* the Redis step's backoff cap (above) */
#define DONE_CHANNEL       "orderflow:command-done" /* api_wait.c listens */

/* A message and what was made of it. */
struct item {
    const rd_kafka_message_t *rkm;
    struct worker_msg msg;
    int is_user;
    union {
        struct of_user_cmd user;
        struct of_order_cmd order;
    } cmd;
    struct worker_outcome out;
};

struct worker {
    const struct of_config *cfg;
    volatile sig_atomic_t *running;
    struct worker_metrics wm;
    struct of_avro *avro;
    struct worker_sql *db;
    struct worker_apply *apply;
    struct of_redis *redis;
    struct worker_deadletter *dl;
    struct worker_consumer *wc;
    struct worker_parking *parking;
    unsigned int assignments; /* worker_consumer_assignments() last seen */
    uint64_t seed;            /* backoff jitter */
    struct item *it;  /* the message in hand: &one, or one of items */
    struct item one;  /* handle()'s */
    /* two sets of [worker] batch_max items and messages: a batch's Redis
     * replies are read (finish()) after the next batch's MySQL commit */
    struct item *sets[2];
    rd_kafka_message_t **msets[2];
    int cur;
    struct item *items; /* sets[cur]: the next batch's */
    struct pending {
        int n;                   /* 0: none */
        struct item *items;      /* sets[!cur] */
        rd_kafka_message_t **msgs; /* msets[!cur], owned */
        int sent;                /* its Redis writes went out whole */
        int64_t t0;
    } pend;
    rd_kafka_message_t **polled;     /* what one poll round got */
    const rd_kafka_message_t **done; /* a batch's, to commit */
    struct worker_batch_cmd *bcmds;
    char reason[256]; /* why it is being dead-lettered */
    char behind[48];  /* "P:O" of the parker when the key is parked, or "" */
    int no_park;      /* an envelope error: dead-letter without parking */
};

typedef int (*step_fn)(struct worker *w, struct of_err *err);

/* Between d/2 and d ms (xorshift64: no shared state, no locks). */
static int jitter(struct worker *w, int d)
{
    w->seed ^= w->seed << 13;
    w->seed ^= w->seed >> 7;
    w->seed ^= w->seed << 17;
    return d / 2 + (int)(w->seed % (uint64_t)(d / 2 + 1));
}

/* ---- steps: each may be attempted many times ---- */

/* Is the message's key parked? Sets w->behind. Keyless messages never are. */
static int step_parked(struct worker *w, struct of_err *err)
{
    const rd_kafka_message_t *rkm = w->it->rkm;
    unsigned int n = worker_consumer_assignments(w->wc);

    w->behind[0] = '\0';
    if (!rkm->key || rkm->key_len == 0)
        return OF_OK;
    /* new partitions: their keys may have been parked by another worker */
    if (n != w->assignments) {
        worker_parking_invalidate(w->parking);
        w->assignments = n;
    }
    return worker_parking_check(w->parking, w->it->msg.topic, rkm->key,
                                rkm->key_len, w->it->msg.partition, w->it->msg.offset,
                                w->behind, err);
}

static int step_park(struct worker *w, struct of_err *err)
{
    return worker_parking_park(w->parking, w->it->msg.topic, w->it->rkm->key,
                               w->it->rkm->key_len, w->it->msg.partition, w->it->msg.offset,
                               w->reason, err);
}

static int step_decode(struct worker *w, struct of_err *err)
{
    const rd_kafka_message_t *rkm = w->it->rkm;

    if (!rkm->payload)
        return of_err_set(err, OF_EINVAL,
                          "the message has no value (a tombstone)");
    w->it->is_user = strcmp(w->it->msg.topic, w->cfg->topics.user_commands) == 0;
    if (w->it->is_user)
        return of_avro_decode_user_cmd(w->avro, rkm->payload, rkm->len,
                                       &w->it->cmd.user, err);
    return of_avro_decode_order_cmd(w->avro, rkm->payload, rkm->len,
                                    &w->it->cmd.order, err);
}

static const char *cmd_type_name(const struct worker *w)
{
    return w->it->is_user ? of_avro_user_cmd_type_name(w->it->cmd.user.type)
                      : of_avro_order_cmd_type_name(w->it->cmd.order.type);
}

/* Copies \p len bytes of \p p to \p out (\p cap bytes) for a message,
 * printable ASCII kept and anything else as '?', cut with "...". */
static void printable(char *out, size_t cap, const void *p, size_t len)
{
    const unsigned char *s = p;
    size_t n = 0;

    for (size_t i = 0; i < len && n + 4 < cap; i++)
        out[n++] = s[i] >= 0x20 && s[i] < 0x7F ? (char)s[i] : '?';
    if (n + 4 >= cap && n < len) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

/* The content-type header: its last value must be application/avro. */
static int check_content_type(struct worker *w, struct of_err *err)
{
    rd_kafka_headers_t *h = NULL;
    const void *val = NULL;
    size_t len = 0;
    char got[48];
    int eq;

    if (rd_kafka_message_headers(w->it->rkm, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
        h = NULL;
    eq = of_headers_equal(h, "content-type", OF_HEADERS_CONTENT_TYPE);
    if (eq == 1)
        return OF_OK;
    w->no_park = 1;
    if (eq == 0)
        return of_err_set(err, OF_EINVAL,
                          "the message has no content-type header (want "
                          "%s)",
                          OF_HEADERS_CONTENT_TYPE);
    rd_kafka_header_get_last(h, "content-type", &val, &len);
    printable(got, sizeof(got), val, val ? len : 0);
    return of_err_set(err, OF_EINVAL, "content-type \"%s\" is not %s", got,
                      OF_HEADERS_CONTENT_TYPE);
}

/* The message key must be the decoded command's aggregate key, as the API
 * publishes it (CONTRACT §4): otherwise the command would be applied in
 * another key's order than its aggregate's. */
static int check_key(struct worker *w, struct of_err *err)
{
    const rd_kafka_message_t *rkm = w->it->rkm;
    char want[OF_EMAIL_SIZE], got[48], shown[48];
    const char *what;

    if (w->it->is_user && w->it->cmd.user.type == OF_REGISTER_USER) {
        snprintf(want, sizeof(want), "%s", w->it->cmd.user.email);
        what = "its email";
    } else if (w->it->is_user) {
        snprintf(want, sizeof(want), "%lld", (long long)w->it->cmd.user.user_id);
        what = "its user id";
    } else if (w->it->cmd.order.type == OF_CREATE_ORDER) {
        snprintf(want, sizeof(want), "%lld", (long long)w->it->cmd.order.user_id);
        what = "its user id";
    } else {
        snprintf(want, sizeof(want), "%lld", (long long)w->it->cmd.order.order_id);
        what = "its order id";
    }
    if (rkm->key && rkm->key_len == strlen(want) &&
        memcmp(rkm->key, want, rkm->key_len) == 0)
        return OF_OK;
    w->no_park = 1;
    printable(shown, sizeof(shown), want, strlen(want));
    if (!rkm->key)
        return of_err_set(err, OF_EINVAL,
                          "the %s has no message key; it must be keyed by "
                          "%s \"%s\"",
                          cmd_type_name(w), what, shown);
    printable(got, sizeof(got), rkm->key, rkm->key_len);
    return of_err_set(err, OF_EINVAL,
                      "the message key \"%s\" is not %s \"%s\": a %s is "
                      "keyed by %s",
                      got, what, shown, cmd_type_name(w), what);
}

static int step_apply(struct worker *w, struct of_err *err)
{
    if (w->it->is_user)
        return worker_apply_user(w->apply, &w->it->msg, &w->it->cmd.user, &w->it->out, err);
    return worker_apply_order(w->apply, &w->it->msg, &w->it->cmd.order, &w->it->out, err);
}

/* Queues the read model of \p o and the PUBLISH that wakes the API. */
static int append_outcome(struct worker *w,
                          const struct worker_outcome *o,
                          struct of_err *err)
{
    return of_model_redis_append_outcome(
        w->redis, o->has_user ? &o->user : NULL, o->user_version,
        o->has_order ? &o->order : NULL, o->order_version, &o->cmd,
        w->cfg->redis.command_ttl_s, DONE_CHANNEL, err);
}

/* Sends what was queued; Redis answering with an error (maxmemory OOM,
 * say) is retried too: skipping the update would leave the read model
 * behind MySQL for good. Only OF_EFATAL (AUTH refused: wrong
 * configuration) stops. */
static int flush_outcomes(struct worker *w, int rc, struct of_err *err)
{
    if (rc == OF_OK)
        rc = of_redis_flush(w->redis, err);
    else
        of_redis_flush(w->redis, &(struct of_err){0}); /* drop the queue */
    if (rc == OF_EINVAL)
        err->rc = rc = OF_EAGAIN;
    return rc;
}

/* The read model after the MySQL commit. Each write is version-guarded or
 * idempotent, so writing again after a partial failure is harmless. */
static int step_readmodel(struct worker *w, struct of_err *err)
{
    return flush_outcomes(w, append_outcome(w, &w->it->out, err), err);
}

static int step_deadletter(struct worker *w, struct of_err *err)
{
    return worker_deadletter_send(w->dl, w->it->rkm, w->reason,
                                  w->behind[0] ? w->behind : NULL, err);
}

/*
 * Runs \p step until it stops failing transiently. Between attempts the
 * consumer waits with its partitions paused, still polling.
 * @returns what the step returned last, or OF_EAGAIN when the message was
 *          given up (partition revoked, shutdown) with err saying why.
 */
static int with_retry(struct worker *w,
                      step_fn step,
                      const char *reason,
                      struct of_err *err)
{
    int delay = RETRY_FIRST_MS, attempts = 0, rc;
    int cap = w->cfg->worker.retry_max_ms;
    int64_t logged = 0;

    if (strcmp(reason, "redis") == 0 && cap > REDIS_RETRY_MAX_MS)
        cap = REDIS_RETRY_MAX_MS;
    for (;;) {
        rc = step(w, err);
        if (rc != OF_EAGAIN)
            break;
        attempts++;
        worker_metrics_retry(&w->wm, reason);
        if (attempts == 1) {
            char why[sizeof(err->msg) + 64];
            snprintf(why, sizeof(why), "%s step failing: %s", reason,
                     err->msg);
            worker_ready(why);
        }
        if (attempts == 1 || of_time_mono_us() - logged >= RETRY_LOG_MS * 1000LL) {
            of_warn("%s step failed (attempt %d), retrying with backoff: %s",
                    reason, attempts, err->msg);
            logged = of_time_mono_us();
        }
        rc = worker_consumer_wait(w->wc, jitter(w, delay), w->running, err);
        if (rc != OF_OK)
            return rc;
        delay = delay * 2 > cap ? cap : delay * 2;
    }
    if (attempts > 0 && rc == OF_OK) {
        of_info("%s step succeeded after %d failed attempt(s)", reason,
                attempts);
        worker_ready(NULL);
    }
    return rc;
}

/* ---- one message ---- */

/* Can this poison message park its key? Only one that looks like a real
 * command (a newer producer, a validation bug) and has a key that fits. */
static int parks_key(const struct worker *w)
{
    const rd_kafka_message_t *rkm = w->it->rkm;

    if (!rkm->key || rkm->key_len == 0 || !rkm->payload ||
        of_avro_peek(w->avro, rkm->payload, rkm->len, NULL, NULL) ==
            OF_AVRO_FRAME_NONE)
        return 0;
    if (rkm->key_len > WORKER_PARKING_KEY_MAX ||
        strlen(w->it->msg.topic) > WORKER_PARKING_TOPIC_MAX) {
        of_warn("cannot park a key of %zu bytes on topic %s: dead-lettering "
                "without parking",
                rkm->key_len, w->it->msg.topic);
        return 0;
    }
    return 1;
}

/* The poison path: parks the key (in MySQL, first) when the message looks
 * like a real command, then dead-letters it. */
static int dead_letter(struct worker *w, const char *why, struct of_err *err)
{
    int rc;

    snprintf(w->reason, sizeof(w->reason), "%s", why);
    if (!w->no_park && parks_key(w)) {
        rc = with_retry(w, step_park, "mysql", err); /* the cause, stored */
        if (rc != OF_OK)
            return rc;
        snprintf(w->reason, sizeof(w->reason), "parked: %s", why);
    }
    of_warn("dead-lettering the message: %s topic=%s partition=%" PRId32
            " offset=%" PRId64,
            w->reason, w->it->msg.topic, w->it->msg.partition, w->it->msg.offset);
    return with_retry(w, step_deadletter, "dead_letter", err);
}

static enum worker_outcome_label log_outcome(const struct worker *w)
{
    const struct worker_outcome *o = &w->it->out;
    const char *id = o->cmd.command_id;

    if (o->result == WORKER_DUPLICATE && o->conflict) {
        of_warn("duplicate %s with other content than the command applied "
                "under its id before: not applied (already %s) "
                "command_id=%s topic=%s partition=%" PRId32
                " offset=%" PRId64,
                cmd_type_name(w), of_cmd_status_name(o->cmd.status), id,
                w->it->msg.topic, w->it->msg.partition, w->it->msg.offset);
        of_metrics_add(w->wm.duplicate_conflicts, 1);
        return WORKER_OUT_DUPLICATE;
    }
    if (o->result == WORKER_DUPLICATE) {
        of_debug("duplicate %s, already %s: command_id=%s topic=%s "
                 "partition=%" PRId32 " offset=%" PRId64,
                 cmd_type_name(w), of_cmd_status_name(o->cmd.status), id,
                 w->it->msg.topic, w->it->msg.partition, w->it->msg.offset);
        return WORKER_OUT_DUPLICATE;
    }
    if (o->result == WORKER_REJECTED) {
        of_info("rejected %s: %s (%s) command_id=%s error=%s %s_id=%" PRId64
                " topic=%s partition=%" PRId32 " offset=%" PRId64,
                cmd_type_name(w), o->cmd.error_code, o->cmd.error_message, id,
                o->cmd.error_code, o->cmd.resource_type, o->cmd.resource_id,
                w->it->msg.topic, w->it->msg.partition, w->it->msg.offset);
        return WORKER_OUT_REJECTED;
    }
    /* one info line per applied command, with the trace id (set by the
     * caller): with the API's "accepted" and the relay's "published" lines,
     * one grep of a trace id follows a request through every process */
    of_info("applied %s command_id=%s %s_id=%" PRId64 " version=%" PRId64
            " topic=%s partition=%" PRId32 " offset=%" PRId64,
            cmd_type_name(w), id, o->cmd.resource_type, o->cmd.resource_id,
            o->has_order ? o->order_version : o->user_version,
            w->it->msg.topic, w->it->msg.partition, w->it->msg.offset);
    return WORKER_OUT_APPLIED;
}

/* Decode, apply, update Redis; or dead-letter. OF_OK: the offset may be
 * committed, *label says how it ended. */
static int
process(struct worker *w, enum worker_outcome_label *label, struct of_err *err)
{
    int rc = with_retry(w, step_parked, "mysql", err);

    if (rc != OF_OK)
        return rc;
    if (w->behind[0]) {
        snprintf(w->reason, sizeof(w->reason), "parked behind %s", w->behind);
        of_warn("dead-lettering the message: its key is %s topic=%s "
                "partition=%" PRId32 " offset=%" PRId64,
                w->reason, w->it->msg.topic, w->it->msg.partition, w->it->msg.offset);
        *label = WORKER_OUT_DEAD_LETTER;
        return with_retry(w, step_deadletter, "dead_letter", err);
    }
    rc = check_content_type(w, err);
    if (rc == OF_OK)
        rc = with_retry(w, step_decode, "decode", err);
    if (rc == OF_OK) {
        of_log_set_trace(w->it->is_user ? w->it->cmd.user.trace_id
                                    : w->it->cmd.order.trace_id);
        rc = check_key(w, err);
    }
    if (rc == OF_OK)
        rc = with_retry(w, step_apply, "mysql", err);
    if (rc == OF_OK) {
        /* committed in MySQL; nothing else happened yet */
        WORKER_FAULT("after_db_commit");
        rc = with_retry(w, step_readmodel, "redis", err);
        if (rc == OF_OK)
            *label = log_outcome(w);
    } else if (rc == OF_EINVAL) {
        char why[sizeof(err->msg)];
        memcpy(why, err->msg, sizeof(why));
        rc = dead_letter(w, why, err);
        *label = WORKER_OUT_DEAD_LETTER;
    }
    return rc;
}

static void item_init(struct worker *w,
                      struct item *it,
                      const rd_kafka_message_t *rkm)
{
    w->it = it;
    it->rkm = rkm;
    it->msg.topic = rd_kafka_topic_name(rkm->rkt);
    it->msg.partition = rkm->partition;
    it->msg.offset = rkm->offset;
}

static void count_done(struct worker *w,
                       const struct item *it,
                       enum worker_outcome_label label,
                       int64_t t0)
{
    rd_kafka_timestamp_type_t tstype;

    worker_metrics_consumed(&w->wm, it->msg.topic, it->msg.partition,
                            rd_kafka_message_timestamp(it->rkm, &tstype));
    worker_metrics_command(&w->wm, it->msg.topic, label);
    of_metrics_observe(w->wm.apply_seconds,
                       (double)(of_time_mono_us() - t0) / 1e6);
}

/* One message, every step retried as need be. @returns OF_OK (done, its
 * offset committed), OF_EAGAIN (given up: it comes again) or OF_EFATAL. */
static int handle(struct worker *w, const rd_kafka_message_t *rkm)
{
    struct of_err err = {0};
    enum worker_outcome_label label = WORKER_OUT_APPLIED;
    char trace[OF_TRACE_ID_SIZE];
    int64_t t0 = of_time_mono_us();
    int rc;

    item_init(w, &w->one, rkm);
    w->no_park = 0;
    worker_consumer_hold(w->wc, rkm);
    /* the header's trace id until the command's own is decoded: a poison
     * message is logged with it too */
    of_kafka_header_get(rkm, "trace-id", trace, sizeof(trace));
    of_log_set_trace(trace);
    rc = process(w, &label, &err);
    if (rc == OF_OK) {
        worker_consumer_commit(w->wc, rkm);
        count_done(w, w->it, label, t0);
        of_metrics_set(w->wm.batch_size, 1);
    } else if (rc == OF_EAGAIN) {
        of_info("left the message for a later delivery: %s topic=%s "
                "partition=%" PRId32 " offset=%" PRId64,
                err.msg, w->it->msg.topic, w->it->msg.partition,
                w->it->msg.offset);
    } else {
        of_error("%s topic=%s partition=%" PRId32 " offset=%" PRId64, err.msg,
                 w->it->msg.topic, w->it->msg.partition, w->it->msg.offset);
    }
    worker_consumer_release(w->wc);
    of_log_set_trace(NULL);
    w->it->rkm = NULL;
    return rc;
}

/* ---- batches ----
 *
 * The main loop polls what has arrived (up to [worker] batch_max messages,
 * for at most batch_ms) and hands it here. Messages that pass the checks
 * of process() on first try (not parked, content-type, decode, key) are
 * applied together: one MySQL transaction (worker_apply_batch), one Redis
 * pipeline, one offset commit. Any other message, and every message of a
 * batch MySQL did not take whole, goes through handle() alone, in order.
 *
 * A batch's Redis writes are sent right after its MySQL commit, but their
 * replies are read, and its offsets committed, only after the next batch's
 * MySQL transaction (finish()), or as soon as nothing more is waiting: the
 * Redis server and MySQL work at the same time, not one after the other.
 * Anything else that talks to Redis finishes the pending batch first.
 *
 * Given up (handle() returned OF_EAGAIN: its partition was revoked, or we
 * are stopping), a message comes again from its committed offset, so the
 * later messages of its partition in hand are given up too: applied now,
 * they would overtake it.
 */

/* The partitions given up in the messages in hand. */
struct given_up {
    int n;
    struct {
        const char *topic;
        int32_t partition;
    } p[64];
    int all; /* more than fit, or stopping: give up everything */
};

static int is_given_up(const struct given_up *g, const struct worker_msg *m)
{
    if (g->all)
        return 1;
    for (int i = 0; i < g->n; i++) {
        if (g->p[i].partition == m->partition &&
            strcmp(g->p[i].topic, m->topic) == 0)
            return 1;
    }
    return 0;
}

static void give_up(struct given_up *g, const struct worker_msg *m)
{
    if (is_given_up(g, m))
        return;
    if (g->n == (int)(sizeof(g->p) / sizeof(g->p[0]))) {
        g->all = 1;
        return;
    }
    g->p[g->n].topic = m->topic;
    g->p[g->n++].partition = m->partition;
}

/* Passes the checks of process() without retries: 1 if the message may
 * join a batch (w->it is then decoded). */
static int batchable(struct worker *w, struct item *it,
                     const rd_kafka_message_t *rkm)
{
    struct of_err err = {0};

    item_init(w, it, rkm);
    w->no_park = 0;
    return step_parked(w, &err) == OF_OK && !w->behind[0] &&
           check_content_type(w, &err) == OF_OK &&
           step_decode(w, &err) == OF_OK && check_key(w, &err) == OF_OK;
}

/*
 * The batch sent last (w->pend): reads the replies of its Redis writes,
 * retries one by one (as handle() does) if they failed, then commits its
 * offsets and destroys its messages. By the time this runs (after the next
 * batch's MySQL transaction, or when no message is waiting) the replies
 * are in: Redis worked while we waited for MySQL.
 */
static int finish(struct worker *w, struct given_up *g)
{
    struct pending *p = &w->pend;
    const rd_kafka_message_t **done = w->done;
    struct of_err err = {0};
    int ndone = 0, rc = OF_OK, sent;

    if (p->n == 0)
        return OF_OK;
    sent = p->sent ? flush_outcomes(w, OF_OK, &err) : OF_EAGAIN;
    for (int i = 0; rc == OF_OK && i < p->n; i++) {
        struct item *it = &p->items[i];
        w->it = it;
        of_log_set_trace(it->is_user ? it->cmd.user.trace_id
                                     : it->cmd.order.trace_id);
        if (sent != OF_OK) {
            if (!*w->running)
                g->all = 1;
            if (is_given_up(g, &it->msg))
                continue;
            worker_consumer_hold(w->wc, it->rkm);
            rc = with_retry(w, step_readmodel, "redis", &err);
            worker_consumer_release(w->wc);
            if (rc == OF_EAGAIN) {
                give_up(g, &it->msg);
                rc = OF_OK;
                continue;
            }
        }
        if (rc == OF_OK) {
            count_done(w, it, log_outcome(w), p->t0);
            done[ndone++] = it->rkm;
        }
    }
    of_log_set_trace(NULL);
    worker_consumer_commit_many(w->wc, done, ndone);
    of_metrics_set(w->wm.batch_size, p->n);
    for (int i = 0; i < p->n; i++)
        rd_kafka_message_destroy(p->msgs[i]);
    p->n = 0;
    return rc;
}

/* items[0..n) one by one through handle(); *g collects the given up. */
static int each_alone(struct worker *w, int n, struct given_up *g)
{
    for (int i = 0; i < n; i++) {
        int rc;

        if (!*w->running)
            g->all = 1;
        if (is_given_up(g, &w->items[i].msg))
            continue;
        rc = handle(w, w->items[i].rkm);
        if (rc == OF_EFATAL)
            return rc;
        if (rc == OF_EAGAIN)
            give_up(g, &w->items[i].msg);
    }
    return OF_OK;
}

/* items[0..n), all batchable and polled as msgs[0..n), as one batch; it
 * takes the messages (msgs[i] set to NULL) when it is committed. */
static int batch(struct worker *w,
                 int n,
                 rd_kafka_message_t **msgs,
                 struct given_up *g)
{
    struct pending *p = &w->pend;
    struct of_err err = {0};
    int64_t t0 = of_time_mono_us();
    int rc;

    for (int i = 0; i < n; i++) {
        struct item *it = &w->items[i];
        w->bcmds[i] = (struct worker_batch_cmd){
            .msg = it->msg,
            .is_user = it->is_user,
            .user = &it->cmd.user,
            .order = &it->cmd.order,
            .out = &it->out,
        };
    }
    rc = worker_apply_batch(w->apply, w->bcmds, n, &err);
    if (rc != OF_OK) {
        /* as a failed attempt of one command is: lock waits, deadlocks and
         * outages said at once (the one-by-one retries say it again only
         * after their own first attempt) */
        if (rc == OF_EINVAL)
            of_info("a batch of %d was rolled back, applying its commands "
                    "one by one: %s",
                    n, err.msg);
        else
            of_warn("a batch of %d was rolled back, applying its commands "
                    "one by one: %s",
                    n, err.msg);
        if (rc == OF_EAGAIN) /* the one-by-one path is its retry */
            worker_metrics_retry(&w->wm, "mysql");
        of_metrics_add(w->wm.batch_fallbacks, 1);
        if (finish(w, g) == OF_EFATAL)
            return OF_EFATAL;
        return each_alone(w, n, g);
    }
    /* committed in MySQL; nothing else happened yet */
    WORKER_FAULT("after_db_commit");
    if (finish(w, g) == OF_EFATAL)
        return OF_EFATAL;
    /* this batch's Redis writes go out now, and the API hears of them at
     * once; their replies wait for finish() */
    for (int i = 0; rc == OF_OK && i < n; i++)
        rc = append_outcome(w, &w->items[i].out, &err);
    if (rc == OF_OK)
        rc = of_redis_send(w->redis, &err);
    else
        flush_outcomes(w, rc, &err);
    *p = (struct pending){.n = n,
                          .items = w->items,
                          .msgs = w->msets[w->cur],
                          .sent = rc == OF_OK,
                          .t0 = t0};
    for (int i = 0; i < n; i++) {
        p->msgs[i] = msgs[i];
        msgs[i] = NULL;
    }
    w->cur ^= 1;
    w->items = w->sets[w->cur];
    return OF_OK;
}

/* The messages polled, w->polled[0..n): batches of the batchable ones, the
 * others alone, all in order. Destroys them. */
static int consume(struct worker *w, int n)
{
    rd_kafka_message_t **held = w->polled;
    struct given_up g = {0};
    unsigned int revocations = worker_consumer_revocations(w->wc);
    int rc = OF_OK;

    for (int i = 0; rc == OF_OK && i < n;) {
        int m = 0;

        /* messages of partitions revoked meanwhile are another's now */
        if (worker_consumer_revocations(w->wc) != revocations) {
            for (int k = i; k < n; k++) {
                const struct worker_msg msg = {
                    rd_kafka_topic_name(held[k]->rkt), held[k]->partition,
                    held[k]->offset};
                if (!worker_consumer_owns(w->wc, held[k]))
                    give_up(&g, &msg);
            }
            revocations = worker_consumer_revocations(w->wc);
        }
        if (!*w->running)
            break;
        while (i + m < n && batchable(w, &w->items[m], held[i + m])) {
            if (is_given_up(&g, &w->items[m].msg))
                break;
            m++;
        }
        if (m > 0) {
            rc = batch(w, m, held + i, &g);
            i += m;
            continue;
        }
        item_init(w, &w->items[0], held[i]);
        rc = finish(w, &g); /* handle() uses the Redis connection */
        if (rc == OF_OK && !is_given_up(&g, &w->items[0].msg)) {
            rc = handle(w, held[i]);
            if (rc == OF_EAGAIN) {
                give_up(&g, &w->items[0].msg);
                rc = OF_OK;
            }
        }
        i++;
    }
    for (int i = 0; i < n; i++) {
        if (held[i]) /* not taken by a batch */
            rd_kafka_message_destroy(held[i]);
    }
    return rc;
}

/* Polls into w->polled: waits up to POLL_MS for a first message, then
 * takes what has arrived, up to [worker] batch_max messages or batch_ms
 * after the first. */
static int poll_round(struct worker *w, int *n, struct of_err *err)
{
    const struct of_config *cfg = w->cfg;
    int64_t until = 0;

    *n = 0;
    while (*n < cfg->worker.batch_max) {
        rd_kafka_message_t *rkm;
        /* with a batch to finish, only what is there already */
        int timeout = *n == 0 && w->pend.n == 0 ? POLL_MS : 0;

        if (*n > 0 && of_time_mono_us() >= until)
            break;
        if (worker_consumer_next(w->wc, timeout, &rkm, err) != OF_OK) {
            for (int i = 0; i < *n; i++)
                rd_kafka_message_destroy(w->polled[i]);
            *n = 0;
            return err->rc;
        }
        if (!rkm)
            break;
        if (*n == 0)
            until = of_time_mono_us() + cfg->worker.batch_ms * 1000LL;
        w->polled[(*n)++] = rkm;
    }
    return OF_OK;
}

/* ---- life cycle ---- */

static int setup(struct worker *w, struct of_err *err)
{
    const struct of_config *cfg = w->cfg;
    int rc;

    w->seed = (uint64_t)of_time_mono_us() ^ ((uint64_t)getpid() << 32) ^ 1;
    w->avro = of_avro_new(err);
    if (!w->avro)
        return err->rc;
    w->db = worker_sql_new(cfg);
    w->apply = w->db ? worker_apply_new(w->db, w->avro) : NULL;
    w->redis = of_redis_new(cfg, err);
    if (!w->apply || !w->redis)
        return of_err_set(err, OF_EFATAL, "out of memory");
    /* a wrong password or an unmigrated schema should stop us now; an
     * unreachable server is retried with the first command */
    rc = worker_sql_connect(w->db, err);
    if (rc == OF_EFATAL)
        return rc;
    if (rc != OF_OK)
        of_warn("%s; retrying when the first command comes", err->msg);
    w->dl = worker_deadletter_new(cfg, err);
    if (!w->dl)
        return err->rc;
    w->wc = worker_consumer_new(cfg, &w->wm, err);
    if (!w->wc)
        return err->rc;
    w->parking = worker_parking_new(cfg);
    /* the batches' memory (~20 KiB an item: a user snapshot holds a
     * 2,048-character avatar URL) is touched now, so the resident size
     * stays what it is at start whatever the batch sizes to come */
    for (int k = 0; k < 2; k++) {
        size_t n = (size_t)cfg->worker.batch_max;
        w->sets[k] = calloc(n, sizeof(**w->sets));
        w->msets[k] = calloc(n, sizeof(**w->msets));
        if (!w->sets[k] || !w->msets[k])
            return of_err_set(err, OF_EFATAL, "out of memory");
        explicit_bzero(w->sets[k], n * sizeof(**w->sets)); /* kept */
    }
    if (worker_apply_reserve(w->apply, cfg->worker.batch_max) != OF_OK)
        return of_err_set(err, OF_EFATAL, "out of memory");
    w->items = w->sets[0];
    w->polled = calloc((size_t)cfg->worker.batch_max, sizeof(*w->polled));
    w->done = calloc((size_t)cfg->worker.batch_max, sizeof(*w->done));
    w->bcmds = calloc((size_t)cfg->worker.batch_max, sizeof(*w->bcmds));
    if (!w->parking || !w->polled || !w->done || !w->bcmds)
        return of_err_set(err, OF_EFATAL, "out of memory");
    return OF_OK;
}

static void teardown(struct worker *w)
{
    worker_parking_destroy(w->parking);
    /* before the consumer: librdkafka waits for its messages to go */
    for (int i = 0; i < w->pend.n; i++) /* exiting on OF_EFATAL */
        rd_kafka_message_destroy(w->pend.msgs[i]);
    worker_consumer_close(w->wc);
    for (int k = 0; k < 2; k++) {
        free(w->sets[k]);
        free(w->msets[k]);
    }
    free(w->polled);
    free(w->done);
    free(w->bcmds);
    worker_deadletter_destroy(w->dl);
    of_redis_destroy(w->redis);
    worker_apply_destroy(w->apply);
    worker_sql_destroy(w->db);
    of_avro_destroy(w->avro);
    free(w);
}

int worker_commands_run(const struct of_config *cfg,
                        struct of_metrics *metrics,
                        volatile sig_atomic_t *running)
{
    struct worker *w = calloc(1, sizeof(*w));
    struct of_err err = {0};
    int status = 1;

    if (!w) {
        of_error("out of memory");
        return 1;
    }
    w->cfg = cfg;
    w->running = running;
    worker_metrics_init(&w->wm, metrics);
    if (setup(w, &err) != OF_OK) {
        of_error("%s", err.msg);
        goto out;
    }
    of_info("consuming %s and %s as group %s", cfg->topics.user_commands,
            cfg->topics.order_commands, cfg->worker.group_id);
    worker_ready(NULL);
    while (*running) {
        int n = 0;
        worker_beat();
        if (poll_round(w, &n, &err) != OF_OK) {
            of_error("%s", err.msg);
            goto out;
        }
        if (n > 0 && consume(w, n) == OF_EFATAL)
            goto out;
        if (n == 0 && finish(w, &(struct given_up){0}) == OF_EFATAL)
            goto out;
    }
    if (finish(w, &(struct given_up){0}) == OF_EFATAL)
        goto out;
    of_info("stopping: committing offsets and leaving the group");
    status = 0;
out:
    teardown(w);
    return status;
}
