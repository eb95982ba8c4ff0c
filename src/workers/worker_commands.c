/*
 * worker_commands: the command worker's loop. One message at a time:
 *
 *   decode -> MySQL transaction (worker_apply) -> Redis read model and
 *   PUBLISH orderflow:command-done -> commit the offset
 *
 * The offset is committed last, so a crash anywhere before it means a
 * redelivery, which the dedupe row turns into a no-op in MySQL and a
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
#include "worker_metrics.h"
#include "worker_parking.h"
#include "worker_sql.h"

#define POLL_MS            100
#define RETRY_FIRST_MS     100
#define RETRY_LOG_MS       10000 /* a lasting failure is logged this often */
#define REDIS_RETRY_MAX_MS 2000 /* the Redis step's backoff cap (above) */
#define DONE_CHANNEL       "orderflow:command-done" /* api_wait.c listens */

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
    /* the message in hand; reset by each handle() */
    const rd_kafka_message_t *rkm;
    struct worker_msg msg;
    int is_user;
    union {
        struct of_user_cmd user;
        struct of_order_cmd order;
    } cmd;
    struct worker_outcome out;
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
    const rd_kafka_message_t *rkm = w->rkm;
    unsigned int n = worker_consumer_assignments(w->wc);

    w->behind[0] = '\0';
    if (!rkm->key || rkm->key_len == 0)
        return OF_OK;
    /* new partitions: their keys may have been parked by another worker */
    if (n != w->assignments) {
        worker_parking_invalidate(w->parking);
        w->assignments = n;
    }
    return worker_parking_check(w->parking, w->msg.topic, rkm->key,
                                rkm->key_len, w->msg.partition, w->msg.offset,
                                w->behind, err);
}

static int step_park(struct worker *w, struct of_err *err)
{
    return worker_parking_park(w->parking, w->msg.topic, w->rkm->key,
                               w->rkm->key_len, w->msg.partition, w->msg.offset,
                               w->reason, err);
}

static int step_decode(struct worker *w, struct of_err *err)
{
    const rd_kafka_message_t *rkm = w->rkm;

    if (!rkm->payload)
        return of_err_set(err, OF_EINVAL,
                          "the message has no value (a tombstone)");
    w->is_user = strcmp(w->msg.topic, w->cfg->topics.user_commands) == 0;
    if (w->is_user)
        return of_avro_decode_user_cmd(w->avro, rkm->payload, rkm->len,
                                       &w->cmd.user, err);
    return of_avro_decode_order_cmd(w->avro, rkm->payload, rkm->len,
                                    &w->cmd.order, err);
}

static const char *cmd_type_name(const struct worker *w)
{
    return w->is_user ? of_avro_user_cmd_type_name(w->cmd.user.type)
                      : of_avro_order_cmd_type_name(w->cmd.order.type);
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

    if (rd_kafka_message_headers(w->rkm, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
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
    const rd_kafka_message_t *rkm = w->rkm;
    char want[OF_EMAIL_SIZE], got[48], shown[48];
    const char *what;

    if (w->is_user && w->cmd.user.type == OF_REGISTER_USER) {
        snprintf(want, sizeof(want), "%s", w->cmd.user.email);
        what = "its email";
    } else if (w->is_user) {
        snprintf(want, sizeof(want), "%lld", (long long)w->cmd.user.user_id);
        what = "its user id";
    } else if (w->cmd.order.type == OF_CREATE_ORDER) {
        snprintf(want, sizeof(want), "%lld", (long long)w->cmd.order.user_id);
        what = "its user id";
    } else {
        snprintf(want, sizeof(want), "%lld", (long long)w->cmd.order.order_id);
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
    if (w->is_user)
        return worker_apply_user(w->apply, &w->msg, &w->cmd.user, &w->out, err);
    return worker_apply_order(w->apply, &w->msg, &w->cmd.order, &w->out, err);
}

static int publish_done(struct worker *w, struct of_err *err)
{
    const char *argv[] = {"PUBLISH", DONE_CHANNEL, w->out.cmd.command_id};
    redisReply *reply = of_redis_command(w->redis, 3, argv, NULL, err);

    if (!reply)
        return err->rc;
    freeReplyObject(reply);
    return OF_OK;
}

/* The read model after the MySQL commit. Each write is version-guarded or
 * idempotent, so writing again after a partial failure is harmless. */
static int step_readmodel(struct worker *w, struct of_err *err)
{
    const struct worker_outcome *o = &w->out;
    int rc = OF_OK;

    if (o->has_user)
        rc = of_model_redis_put_user(w->redis, &o->user, o->user_version, err);
    if (rc == OF_OK && o->has_order)
        rc = of_model_redis_put_order(w->redis, &o->order, o->order_version,
                                      err);
    if (rc == OF_OK)
        rc = of_model_redis_put_cmd(w->redis, &o->cmd, 0,
                                    w->cfg->redis.command_ttl_s, err);
    if (rc == OF_OK)
        rc = publish_done(w, err);
    /* Redis answering with an error (maxmemory OOM, say) is retried too:
     * skipping the update would leave the read model behind MySQL for
     * good. Only OF_EFATAL (AUTH refused: wrong configuration) stops. */
    if (rc == OF_EINVAL)
        err->rc = rc = OF_EAGAIN;
    return rc;
}

static int step_deadletter(struct worker *w, struct of_err *err)
{
    return worker_deadletter_send(w->dl, w->rkm, w->reason,
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
    if (attempts > 0 && rc == OF_OK)
        of_info("%s step succeeded after %d failed attempt(s)", reason,
                attempts);
    return rc;
}

/* ---- one message ---- */

/* Can this poison message park its key? Only one that looks like a real
 * command (a newer producer, a validation bug) and has a key that fits. */
static int parks_key(const struct worker *w)
{
    const rd_kafka_message_t *rkm = w->rkm;

    if (!rkm->key || rkm->key_len == 0 || !rkm->payload ||
        of_avro_peek(w->avro, rkm->payload, rkm->len, NULL, NULL) ==
            OF_AVRO_FRAME_NONE)
        return 0;
    if (rkm->key_len > WORKER_PARKING_KEY_MAX ||
        strlen(w->msg.topic) > WORKER_PARKING_TOPIC_MAX) {
        of_warn("cannot park a key of %zu bytes on topic %s: dead-lettering "
                "without parking",
                rkm->key_len, w->msg.topic);
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
            w->reason, w->msg.topic, w->msg.partition, w->msg.offset);
    return with_retry(w, step_deadletter, "dead_letter", err);
}

static enum worker_outcome_label log_outcome(const struct worker *w)
{
    const struct worker_outcome *o = &w->out;
    const char *id = o->cmd.command_id;

    if (o->result == WORKER_DUPLICATE && o->conflict) {
        of_warn("duplicate %s with other content than the command applied "
                "under its id before: not applied (already %s) "
                "command_id=%s topic=%s partition=%" PRId32
                " offset=%" PRId64,
                cmd_type_name(w), of_cmd_status_name(o->cmd.status), id,
                w->msg.topic, w->msg.partition, w->msg.offset);
        of_metrics_add(w->wm.duplicate_conflicts, 1);
        return WORKER_OUT_DUPLICATE;
    }
    if (o->result == WORKER_DUPLICATE) {
        of_debug("duplicate %s, already %s: command_id=%s topic=%s "
                 "partition=%" PRId32 " offset=%" PRId64,
                 cmd_type_name(w), of_cmd_status_name(o->cmd.status), id,
                 w->msg.topic, w->msg.partition, w->msg.offset);
        return WORKER_OUT_DUPLICATE;
    }
    if (o->result == WORKER_REJECTED) {
        of_info("rejected %s: %s (%s) command_id=%s topic=%s "
                "partition=%" PRId32 " offset=%" PRId64,
                cmd_type_name(w), o->cmd.error_code, o->cmd.error_message, id,
                w->msg.topic, w->msg.partition, w->msg.offset);
        return WORKER_OUT_REJECTED;
    }
    of_debug("applied %s: command_id=%s topic=%s partition=%" PRId32
             " offset=%" PRId64,
             cmd_type_name(w), id, w->msg.topic, w->msg.partition,
             w->msg.offset);
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
                w->reason, w->msg.topic, w->msg.partition, w->msg.offset);
        *label = WORKER_OUT_DEAD_LETTER;
        return with_retry(w, step_deadletter, "dead_letter", err);
    }
    rc = check_content_type(w, err);
    if (rc == OF_OK)
        rc = with_retry(w, step_decode, "decode", err);
    if (rc == OF_OK) {
        of_log_set_trace(w->is_user ? w->cmd.user.trace_id
                                    : w->cmd.order.trace_id);
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

static int handle(struct worker *w, const rd_kafka_message_t *rkm)
{
    struct of_err err = {0};
    enum worker_outcome_label label = WORKER_OUT_APPLIED;
    char trace[OF_TRACE_ID_SIZE];
    int64_t t0 = of_time_mono_us();
    int rc;

    w->rkm = rkm;
    w->no_park = 0;
    w->msg.topic = rd_kafka_topic_name(rkm->rkt);
    w->msg.partition = rkm->partition;
    w->msg.offset = rkm->offset;
    worker_consumer_hold(w->wc, rkm);
    /* the header's trace id until the command's own is decoded: a poison
     * message is logged with it too */
    of_kafka_header_get(rkm, "trace-id", trace, sizeof(trace));
    of_log_set_trace(trace);
    rc = process(w, &label, &err);
    if (rc == OF_OK) {
        rd_kafka_timestamp_type_t tstype;
        worker_consumer_commit(w->wc, rkm);
        worker_metrics_consumed(&w->wm, w->msg.topic, w->msg.partition,
                                rd_kafka_message_timestamp(rkm, &tstype));
        worker_metrics_command(&w->wm, w->msg.topic, label);
        of_metrics_observe(w->wm.apply_seconds, (double)(of_time_mono_us() - t0) / 1e6);
        of_metrics_set(w->wm.batch_size, 1);
    } else if (rc == OF_EAGAIN) {
        of_info("left the message for a later delivery: %s topic=%s "
                "partition=%" PRId32 " offset=%" PRId64,
                err.msg, w->msg.topic, w->msg.partition, w->msg.offset);
    } else {
        of_error("%s topic=%s partition=%" PRId32 " offset=%" PRId64, err.msg,
                 w->msg.topic, w->msg.partition, w->msg.offset);
    }
    worker_consumer_release(w->wc);
    of_log_set_trace(NULL);
    w->rkm = NULL;
    return rc == OF_EFATAL ? OF_EFATAL : OF_OK;
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
    if (!w->parking)
        return of_err_set(err, OF_EFATAL, "out of memory");
    return OF_OK;
}

static void teardown(struct worker *w)
{
    worker_parking_destroy(w->parking);
    worker_consumer_close(w->wc);
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
    rd_kafka_message_t *rkm;
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
    while (*running) {
        if (worker_consumer_next(w->wc, POLL_MS, &rkm, &err) != OF_OK) {
            of_error("%s", err.msg);
            goto out;
        }
        if (!rkm)
            continue;
        int rc = handle(w, rkm);
        rd_kafka_message_destroy(rkm);
        if (rc == OF_EFATAL)
            goto out;
    }
    of_info("stopping: committing offsets and leaving the group");
    status = 0;
out:
    teardown(w);
    return status;
}
