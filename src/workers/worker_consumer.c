/* worker_consumer: see worker_consumer.h. */
#include "worker_consumer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "of_kafka.h"
#include "of_log.h"
#include "of_model.h"
#include "worker_health.h"

/* Messages polled while paused come from partitions assigned during a
 * wait, one fetch's worth each at most; more than this means something is
 * badly wrong, and exiting (nothing committed past the held message) is
 * safer than growing. */
#define STASH_MAX    10000
#define POLL_MS      100
#define LAG_EVERY_MS 2000
/* Re-applying the assignment after a failed committed-offset fetch (see
 * consumer_error()): this long after the error, so that librdkafka has
 * asked for the coordinator again, and not more often than every
 * REASSIGN_EVERY_MS while the errors go on. */
#define REASSIGN_DELAY_MS 500
#define REASSIGN_EVERY_MS 2000

struct worker_consumer {
    rd_kafka_t *rk;
    struct worker_metrics *wm; /* borrowed */
    int paused;                /* every assigned partition is paused */
    struct {
        int active;
        int lost; /* its partition was revoked meanwhile */
        char topic[256];
        int32_t partition;
    } held;
    /* FIFO of messages polled while paused; ours until handed out */
    unsigned int revocations; /* partitions were taken away this often */
    rd_kafka_message_t *stash[STASH_MAX];
    size_t stash_head, stash_n;
    int overflow;
    int64_t lag_at;           /* monotonic ms of the last lag refresh */
    unsigned int assignments; /* partitions assigned this many times */
    int64_t reassign_at;      /* monotonic ms the assignment is due to be
                                 re-applied; 0: not due */
    int64_t reassigned_at;    /* when it was last re-applied */
};

/* ---- the stash ---- */

static void stash_push(struct worker_consumer *wc, rd_kafka_message_t *rkm)
{
    if (wc->stash_n == STASH_MAX) {
        wc->overflow = 1;
        rd_kafka_message_destroy(rkm);
        return;
    }
    wc->stash[(wc->stash_head + wc->stash_n) % STASH_MAX] = rkm;
    wc->stash_n++;
}

static rd_kafka_message_t *stash_pop(struct worker_consumer *wc)
{
    rd_kafka_message_t *rkm = wc->stash[wc->stash_head];

    wc->stash_head = (wc->stash_head + 1) % STASH_MAX;
    wc->stash_n--;
    return rkm;
}

static int in_list(const rd_kafka_topic_partition_list_t *parts,
                   const char *topic,
                   int32_t partition)
{
    return rd_kafka_topic_partition_list_find(parts, topic, partition) != NULL;
}

/* Revoked partitions are someone else's now: drop what we kept of them,
 * and tell the retry loop if the held message was one of them. */
static void forget(struct worker_consumer *wc,
                   const rd_kafka_topic_partition_list_t *parts)
{
    size_t n = wc->stash_n;

    if (wc->held.active && in_list(parts, wc->held.topic, wc->held.partition))
        wc->held.lost = 1;
    /* rotate through the FIFO once, keeping the order of what stays */
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *rkm = stash_pop(wc);
        if (in_list(parts, rd_kafka_topic_name(rkm->rkt), rkm->partition))
            rd_kafka_message_destroy(rkm);
        else
            stash_push(wc, rkm);
    }
}

/* ---- callbacks (run inside rd_kafka_consumer_poll, on our thread) ---- */

static void log_parts(const char *what,
                      const rd_kafka_topic_partition_list_t *parts)
{
    char buf[1024];
    size_t n = 0;

    buf[0] = '\0';
    for (int i = 0; i < parts->cnt && n < sizeof(buf) - 1; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s[%" PRId32 "]",
                              i ? " " : "", parts->elems[i].topic,
                              parts->elems[i].partition);
    of_info("%s %d partition(s): %s", what, parts->cnt, buf);
}

static void commit_sync(struct worker_consumer *wc, const char *when)
{
    rd_kafka_resp_err_t e = rd_kafka_commit(wc->rk, NULL, 0);

    /* _NO_OFFSET: nothing stored since the last commit */
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
        of_warn("could not commit offsets %s: %s", when, rd_kafka_err2str(e));
}

static void on_assign(struct worker_consumer *wc,
                      rd_kafka_t *rk,
                      rd_kafka_topic_partition_list_t *parts,
                      int coop)
{
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;

    log_parts("assigned", parts);
    wc->assignments++;
    if (coop)
        error = rd_kafka_incremental_assign(rk, parts);
    else
        e = rd_kafka_assign(rk, parts);
    if (error) {
        of_error("could not assign partitions: %s",
                 rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (e) {
        of_error("could not assign partitions: %s", rd_kafka_err2str(e));
    }
    /* keep "all paused" true while a message is being retried */
    if (wc->paused)
        rd_kafka_pause_partitions(rk, parts);
}

static void on_revoke(struct worker_consumer *wc,
                      rd_kafka_t *rk,
                      rd_kafka_topic_partition_list_t *parts,
                      int coop)
{
    rd_kafka_error_t *error = NULL;

    log_parts("revoked", parts);
    wc->revocations++;
    forget(wc, parts);
    /* lost partitions (session timed out) may not be committed to */
    if (!rd_kafka_assignment_lost(rk))
        commit_sync(wc, "on revoke");
    if (coop) {
        error = rd_kafka_incremental_unassign(rk, parts);
        if (error) {
            of_error("could not unassign partitions: %s",
                     rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
        }
    } else {
        rd_kafka_assign(rk, NULL);
    }
    /* librdkafka keeps the application's pause flag on a partition it
     * unassigns (rdkafka_assignment.c resets only its own): paused now, it
     * would come back paused in a later assignment and never be fetched */
    if (wc->paused)
        rd_kafka_resume_partitions(rk, parts);
}

/* Both protocols, as librdkafka's examples/consumer.c and
 * rdkafka_complex_consumer_example.c handle them. */
static void rebalance_cb(rd_kafka_t *rk,
                         rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts,
                         void *opaque)
{
    struct worker_consumer *wc = opaque;
    int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;

    switch (err) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        on_assign(wc, rk, parts, coop);
        break;
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        on_revoke(wc, rk, parts, coop);
        break;
    default:
        of_error("rebalance failed: %s", rd_kafka_err2str(err));
        wc->revocations++;
        forget(wc, parts);
        rd_kafka_assign(rk, NULL);
        if (wc->paused) /* as in on_revoke() */
            rd_kafka_resume_partitions(rk, parts);
        break;
    }
}

static void commit_cb(rd_kafka_t *rk,
                      rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets,
                      void *opaque)
{
    (void)rk;
    (void)offsets;
    (void)opaque;
    /* a failed commit costs a redelivery, which the dedupe row absorbs */
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        of_warn("could not commit offsets: %s", rd_kafka_err2str(err));
}

/* ---- life cycle ---- */

static int subscribe(struct worker_consumer *wc,
                     const struct of_config *cfg,
                     struct of_err *err)
{
    rd_kafka_topic_partition_list_t *topics =
        rd_kafka_topic_partition_list_new(2);
    rd_kafka_resp_err_t e;

    rd_kafka_topic_partition_list_add(topics, cfg->topics.user_commands,
                                      RD_KAFKA_PARTITION_UA);
    rd_kafka_topic_partition_list_add(topics, cfg->topics.order_commands,
                                      RD_KAFKA_PARTITION_UA);
    e = rd_kafka_subscribe(wc->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e)
        return of_err_set(err, OF_EFATAL, "could not subscribe to %s, %s: %s",
                          cfg->topics.user_commands, cfg->topics.order_commands,
                          rd_kafka_err2str(e));
    return OF_OK;
}

/* The loop polls only between MySQL attempts: one attempt against a
 * stopped server blocks it for up to connect_timeout_s + rw_timeout_s.
 * Past max.poll.interval.ms the group evicts the worker and rebalances,
 * which a stalled MySQL should not cause (TESTPLAN F8). */
static void check_poll_interval(const struct of_config *cfg,
                                const rd_kafka_conf_t *conf)
{
    long long need =
        ((long long)cfg->mysql.connect_timeout_s + cfg->mysql.rw_timeout_s) *
        1000;
    char v[32];
    size_t n = sizeof(v);

    if (rd_kafka_conf_get(conf, "max.poll.interval.ms", v, &n) !=
        RD_KAFKA_CONF_OK)
        return;
    if (strtoll(v, NULL, 10) <= need)
        of_warn("max.poll.interval.ms %s is not more than "
                "mysql.connect_timeout_s + mysql.rw_timeout_s (%lld ms): a "
                "stalled MySQL would get this worker evicted from group %s",
                v, need, cfg->worker.group_id);
}

struct worker_consumer *worker_consumer_new(const struct of_config *cfg,
                                            struct worker_metrics *wm,
                                            struct of_err *err)
{
    /* Defaults of ours that [kafka] may override:
     * - incremental rebalances: a worker joining or leaving stops only the
     *   partitions that move;
     * - a 10 s session (librdkafka's default is 45 s): a worker that dies,
     *   or is stopped in the middle of a rebalance (its LeaveGroup then
     *   waits behind its own JoinGroup and times out), holds the whole
     *   group's rebalance until its session expires; F15 measured 45 s of
     *   partitions owned by nobody with the default;
     * - prefetch at most 2,000 messages a partition and 8 MiB (librdkafka's
     *   100,000 and 64 MiB took the worker's RSS to 98 MiB draining a
     *   200,000-command backlog; a batch is 512 messages, ~100 KiB). */
    static const char *const defaults[][2] = {
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"session.timeout.ms", "10000"},
        {"heartbeat.interval.ms", "3000"},
        {"queued.min.messages", "2000"},
        {"queued.max.messages.kbytes", "8192"},
    };
    const char *extra[2 * (5 + 5) + 1] = {
        "group.id",        cfg->worker.group_id, "enable.auto.commit",
        "false",           "enable.auto.offset.store", "false",
        "auto.offset.reset", "earliest",         "isolation.level",
        "read_committed"};
    size_t n = 10;
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        if (of_config_kafka_get(cfg, defaults[i][0]))
            continue;
        extra[n++] = defaults[i][0];
        extra[n++] = defaults[i][1];
    }
    extra[n] = NULL;
    struct worker_consumer *wc = calloc(1, sizeof(*wc));
    rd_kafka_conf_t *conf = NULL;

    if (!wc) {
        of_err_set(err, OF_EFATAL, "out of memory");
        goto fail;
    }
    wc->wm = wm;
    conf = of_kafka_conf_new(cfg, extra, err);
    if (!conf)
        goto fail;
    check_poll_interval(cfg, conf);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);
    rd_kafka_conf_set_opaque(conf, wc);
    wc->rk = of_kafka_new(RD_KAFKA_CONSUMER, conf, err);
    if (!wc->rk)
        goto fail;
    conf = NULL; /* the handle has it */
    rd_kafka_poll_set_consumer(wc->rk);
    if (subscribe(wc, cfg, err) == OF_OK)
        return wc;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    worker_consumer_close(wc);
    return NULL;
}

void worker_consumer_close(struct worker_consumer *wc)
{
    rd_kafka_resp_err_t e;

    if (!wc)
        return;
    if (wc->rk) {
        commit_sync(wc, "at shutdown");
        e = rd_kafka_consumer_close(wc->rk);
        if (e)
            of_warn("could not leave the group cleanly: %s",
                    rd_kafka_err2str(e));
        rd_kafka_destroy(wc->rk);
    }
    while (wc->stash_n > 0)
        rd_kafka_message_destroy(stash_pop(wc));
    free(wc);
}

/* ---- polling ---- */

/*
 * Re-applies the whole current assignment, from the committed offsets:
 * the workaround for librdkafka issue #5586 (2.0.2 has it). When the
 * OffsetFetch of newly assigned partitions fails at the request level with
 * NOT_COORDINATOR (a stale coordinator, e.g. after the group session
 * timed out during a broker pause: "Failed to fetch committed offsets for
 * 0 partition(s) ... Broker: Not coordinator"), librdkafka refreshes the
 * coordinator but neither retries the fetch nor starts the fetchers: the
 * partitions stay in its "queried" state for good, and the worker never
 * fetches again. Unassigning and assigning them again, as a restart would,
 * sends a new OffsetFetch. Partitions that were fine restart from their
 * committed offset too: at worst a few messages come again, which the
 * dedupe row absorbs. For this worker they are gone and back: the held
 * message, if any, is given up (redelivered), what was stashed is dropped.
 */
static void reassign(struct worker_consumer *wc)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    int coop = strcmp(rd_kafka_rebalance_protocol(wc->rk), "COOPERATIVE") == 0;
    int unassigned = 0;

    wc->reassign_at = 0;
    wc->reassigned_at = (of_time_mono_us() / 1000);
    e = rd_kafka_assignment(wc->rk, &parts);
    if (e) {
        of_error("could not read the assignment to re-apply it: %s",
                 rd_kafka_err2str(e));
        return;
    }
    if (parts->cnt == 0)
        goto out;
    for (int i = 0; i < parts->cnt; i++)
        parts->elems[i].offset = RD_KAFKA_OFFSET_INVALID; /* the committed */
    log_parts("re-applying the assignment (librdkafka #5586):", parts);
    forget(wc, parts);
    wc->assignments++; /* new partitions, for the caller's state */
    if (coop) {
        error = rd_kafka_incremental_unassign(wc->rk, parts);
        if (!error) {
            unassigned = 1;
            error = rd_kafka_incremental_assign(wc->rk, parts);
        }
    } else {
        e = rd_kafka_assign(wc->rk, parts);
    }
    if (!error && !e) {
        /* keep "all paused" true while a message is being retried */
        if (wc->paused)
            rd_kafka_pause_partitions(wc->rk, parts);
        goto out;
    }
    /* Only a closing consumer refuses an assign after the unassign of the
     * same partitions (rd_kafka_cgrp_handle_assign_op), so this is not
     * expected; the partitions then wait for the next rebalance, without
     * the pause flag librdkafka would keep (see on_revoke()). */
    of_error("could not re-apply the assignment: %s",
             error ? rd_kafka_error_string(error) : rd_kafka_err2str(e));
    if (unassigned && wc->paused)
        rd_kafka_resume_partitions(wc->rk, parts);
    if (error)
        rd_kafka_error_destroy(error);
out:
    rd_kafka_topic_partition_list_destroy(parts);
}

static void reassign_if_due(struct worker_consumer *wc)
{
    if (wc->reassign_at && (of_time_mono_us() / 1000) >= wc->reassign_at)
        reassign(wc);
}

/* An error event from the consumer: most are informational (librdkafka
 * retries by itself); a fatal one ends the consumer; a failed fetch of the
 * committed offsets (request- or partition-level) schedules reassign(). */
static int consumer_error(struct worker_consumer *wc,
                          const rd_kafka_message_t *rkm,
                          struct of_err *err)
{
    char reason[512];

    if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        return OF_OK;
    if (rkm->err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(wc->rk, reason, sizeof(reason));
        return of_err_set(err, OF_EFATAL, "Kafka consumer failed: %s", reason);
    }
    of_warn("Kafka consumer: %s", rd_kafka_message_errstr(rkm));
    /* These come from the OffsetFetch of an assignment (the group's other
     * requests handle them inside librdkafka, commits report to commit_cb),
     * where both mean "refresh the coordinator, do not retry"; after any
     * other, a re-applied assignment costs a few redeliveries at most. */
    if ((rkm->err == RD_KAFKA_RESP_ERR_NOT_COORDINATOR ||
         rkm->err == RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE) &&
        !wc->reassign_at) {
        int64_t at = (of_time_mono_us() / 1000) + REASSIGN_DELAY_MS;
        if (wc->reassigned_at && at < wc->reassigned_at + REASSIGN_EVERY_MS)
            at = wc->reassigned_at + REASSIGN_EVERY_MS;
        wc->reassign_at = at;
        of_warn("the committed offsets could not be fetched: re-applying "
                "the assignment in %lld ms (librdkafka #5586)",
                (long long)(at - (of_time_mono_us() / 1000)));
    }
    return OF_OK;
}

int worker_consumer_next(struct worker_consumer *wc,
                         int timeout_ms,
                         rd_kafka_message_t **rkm,
                         struct of_err *err)
{
    int rc;

    *rkm = NULL;
    worker_consumer_lag(wc);
    reassign_if_due(wc);
    if (wc->stash_n > 0) {
        *rkm = stash_pop(wc);
        return OF_OK;
    }
    *rkm = rd_kafka_consumer_poll(wc->rk, timeout_ms);
    if (!*rkm || !(*rkm)->err)
        return OF_OK;
    rc = consumer_error(wc, *rkm, err);
    rd_kafka_message_destroy(*rkm);
    *rkm = NULL;
    return rc;
}

void worker_consumer_hold(struct worker_consumer *wc,
                          const rd_kafka_message_t *rkm)
{
    wc->held.active = 1;
    wc->held.lost = 0;
    snprintf(wc->held.topic, sizeof(wc->held.topic), "%s",
             rd_kafka_topic_name(rkm->rkt));
    wc->held.partition = rkm->partition;
}

/* Pauses or resumes the whole current assignment. */
static void set_paused(struct worker_consumer *wc, int pause)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_resp_err_t e = rd_kafka_assignment(wc->rk, &parts);

    if (e) {
        of_error("could not read the assignment: %s", rd_kafka_err2str(e));
        return;
    }
    e = pause ? rd_kafka_pause_partitions(wc->rk, parts)
              : rd_kafka_resume_partitions(wc->rk, parts);
    if (e)
        of_error("could not %s partitions: %s", pause ? "pause" : "resume",
                 rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(parts);
    wc->paused = pause;
}

void worker_consumer_release(struct worker_consumer *wc)
{
    wc->held.active = 0;
    /* every assigned partition is paused (rebalances included): resuming
     * them all never touches an unpaused one, which librdkafka 2.0.2 could
     * send back to a stale fetch position (librdkafka issue #4637) */
    if (wc->paused)
        set_paused(wc, 0);
}

int worker_consumer_wait(struct worker_consumer *wc,
                         int ms,
                         volatile sig_atomic_t *running,
                         struct of_err *err)
{
    int64_t until = (of_time_mono_us() / 1000) + ms;
    int64_t left;

    if (!wc->paused)
        set_paused(wc, 1);
    while (*running && !wc->held.lost && !wc->overflow) {
        rd_kafka_message_t *rkm;

        worker_beat(); /* waiting out an outage is not being stuck */
        left = until - (of_time_mono_us() / 1000);
        if (left <= 0)
            break;
        rkm = rd_kafka_consumer_poll(wc->rk,
                                     (int)(left < POLL_MS ? left : POLL_MS));
        if (rkm && rkm->err) {
            int rc = consumer_error(wc, rkm, err);
            rd_kafka_message_destroy(rkm);
            if (rc != OF_OK)
                return rc;
        } else if (rkm) {
            stash_push(wc, rkm);
        }
        worker_consumer_lag(wc);
        reassign_if_due(wc);
    }
    if (wc->overflow)
        return of_err_set(err, OF_EFATAL,
                          "more than %d messages arrived while paused",
                          STASH_MAX);
    if (wc->held.lost)
        return of_err_set(err, OF_EAGAIN,
                          "partition %s[%" PRId32 "] was revoked",
                          wc->held.topic, wc->held.partition);
    if (!*running)
        return of_err_set(err, OF_EAGAIN, "shutting down");
    return OF_OK;
}

void worker_consumer_commit(struct worker_consumer *wc,
                            const rd_kafka_message_t *rkm)
{
    worker_consumer_commit_many(wc, &rkm, 1);
}

void worker_consumer_commit_many(struct worker_consumer *wc,
                                 const rd_kafka_message_t *const *rkms,
                                 int n)
{
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new(n);
    rd_kafka_topic_partition_list_t *ours =
        rd_kafka_topic_partition_list_new(n);
    rd_kafka_resp_err_t e;

    /* each partition's last offset (in order within a partition) */
    for (int i = 0; i < n; i++) {
        const char *topic = rd_kafka_topic_name(rkms[i]->rkt);
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(
            list, topic, rkms[i]->partition);
        if (!p)
            p = rd_kafka_topic_partition_list_add(list, topic,
                                                  rkms[i]->partition);
        p->offset = rkms[i]->offset + 1;
    }
    /* stored too, so that the synchronous commit on revoke or close
     * (rd_kafka_commit of the stored offsets) covers them */
    e = rd_kafka_offsets_store(wc->rk, list);
    for (int i = 0; i < list->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &list->elems[i];
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR && !p->err) {
            rd_kafka_topic_partition_list_add(ours, p->topic, p->partition)
                ->offset = p->offset;
            continue;
        }
        of_debug("offset %" PRId64 " of %s[%" PRId32 "] not committed: the "
                 "partition is no longer ours",
                 p->offset - 1, p->topic, p->partition);
    }
    if (ours->cnt > 0) {
        e = rd_kafka_commit(wc->rk, ours, 1);
        if (e)
            of_warn("could not commit the offsets of %d partition(s): %s",
                    ours->cnt, rd_kafka_err2str(e));
    }
    rd_kafka_topic_partition_list_destroy(ours);
    rd_kafka_topic_partition_list_destroy(list);
}

int worker_consumer_owns(struct worker_consumer *wc,
                         const rd_kafka_message_t *rkm)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    int owns;

    if (rd_kafka_assignment(wc->rk, &parts))
        return 0;
    owns = rd_kafka_topic_partition_list_find(
               parts, rd_kafka_topic_name(rkm->rkt), rkm->partition) != NULL;
    rd_kafka_topic_partition_list_destroy(parts);
    return owns;
}

unsigned int worker_consumer_revocations(const struct worker_consumer *wc)
{
    return wc->revocations;
}

void worker_consumer_lag(struct worker_consumer *wc)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    int64_t now = (of_time_mono_us() / 1000), low, high;

    if (now - wc->lag_at < LAG_EVERY_MS)
        return;
    wc->lag_at = now;
    if (rd_kafka_assignment(wc->rk, &parts))
        return;
    /* the application's position: the next offset it will be given */
    rd_kafka_position(wc->rk, parts);
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        if (p->offset < 0 ||
            rd_kafka_get_watermark_offsets(wc->rk, p->topic, p->partition, &low,
                                           &high) ||
            high < 0)
            continue;
        worker_metrics_lag(wc->wm, p->topic, p->partition,
                           high > p->offset ? high - p->offset : 0);
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

unsigned int worker_consumer_assignments(const struct worker_consumer *wc)
{
    return wc->assignments;
}
