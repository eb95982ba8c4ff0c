/*
 * of_dlq: the dead-letter topic (CONTRACT §4, §7), shared by `orderflowctl
 * dlq` and the API's /v1/admin/dead-letters, and the bounded topic reader
 * under it (orderflowctl replay and the tests use it through ctl_scan.h).
 *
 * A dead letter is the original message, bytes and key untouched, with the
 * headers error, original-topic, original-partition, original-offset and
 * failed-at added (worker_deadletter.c), and parked-behind when the worker
 * held it behind a parked key (schemas/sql/002_parked_keys.sql).
 *
 * Reading never joins a consumer group (assign, not subscribe) and never
 * commits: a range ends where its partition ended when the read began, so
 * every read finishes, within the limits the caller gives (struct
 * of_dlq_opts). Redriving publishes the original bytes, key and headers
 * back to the original topic; dead letters stay where they are, so
 * redriving one twice sends it twice (an applied command is then a dedupe
 * hit). Parked keys are unparked before their dead letters are sent: see
 * of_dlq_redrive().
 *
 * Not here: printing (orderflowctl) and HTTP (api_admin_dlq.c). Each call
 * makes its own short-lived Kafka (and, for parked keys, MySQL) clients, so
 * any thread may call any function at any time.
 */
#ifndef OF_DLQ_H
#define OF_DLQ_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "of_avro.h"
#include "of_config.h"
#include "of_db.h"
#include "of_err.h"

/* A bounded range of a topic. */
struct of_dlq_range {
    const char *topic;
    int partition;       /* -1: every partition */
    int64_t from_offset; /* -1: unset */
    int64_t from_ms;     /* -1: unset; a timestamp in ms */
    int64_t to_offset;   /* -1: to the end (exclusive bound otherwise) */
    int64_t to_ms;       /* -1: unset */
};

/* How long a call may wait, and who it says it is. */
struct of_dlq_opts {
    int request_ms; /* each metadata or offsets request */
    int idle_ms;    /* no message while one is due: the read fails */
    int flush_ms;   /* of_dlq_redrive(): the wait for Kafka's acks */
    /* of_time_mono_us() after which every wait above ends early (the call
     * then fails with OF_EAGAIN); 0: none */
    int64_t deadline_us;
    const char *client; /* group.id and client.id of the reader */
    /* Called, if not NULL, with a line for each dead letter that a redrive
     * skips or fails on (the call goes on with the others). */
    void (*note)(void *arg, const char *msg);
    void *note_arg;
};

/** @returns 0 to go on, non-zero to stop reading the current partition. */
typedef int (*of_dlq_scan_cb)(void *arg, const rd_kafka_message_t *rkm);

/**
 * @brief Call \p cb for every message in \p range, partition by partition
 *        in offset order. \p cb returning non-zero ends the current
 *        partition; the next partition is read all the same.
 * @param total if not NULL, set before the first callback to the number of
 *        offsets in the range (for progress).
 * @returns OF_OK; OF_EINVAL when the topic or the partition does not exist;
 *          OF_EAGAIN when Kafka did not answer in time or a read failed;
 *          OF_EFATAL when the client could not be made (configuration).
 * @locality any thread; \p cb runs on it.
 */
int of_dlq_scan(const struct of_config *cfg,
                const struct of_dlq_range *range,
                const struct of_dlq_opts *opts,
                of_dlq_scan_cb cb,
                void *arg,
                int64_t *total,
                struct of_err *err);

/* of_dlq_letter_json() flags */
/* Also "value", what the value is ({"frame": "none"}, {"frame": "unknown
 * fingerprint", "fingerprint"}, {"schema", "command_id", "type"} or
 * {"schema", "decode_error"}), and "value_bytes" (= value_size): the
 * fields `orderflowctl dlq list` printed before the admin API existed. */
#define OF_DLQ_JSON_VALUE 0x1

/**
 * @brief One dead letter as JSON, the object GET /v1/admin/dead-letters
 *        answers and `orderflowctl dlq list` prints (with
 *        OF_DLQ_JSON_VALUE): partition, offset, timestamp (RFC 3339 UTC,
 *        null if Kafka has none), key ("" if none), headers (name: value,
 *        the last of a repeated name), value_size, command (the decoded
 *        command, or null when the value is none of ours). Bytes that are
 *        not UTF-8 (keys, header names and values are anyone's) become
 *        U+FFFD.
 * @param flags 0 or OF_DLQ_JSON_VALUE.
 * @param headers may be NULL (none).
 * @param timestamp_ms -1: none.
 * @returns a new object (the caller's), or NULL out of memory.
 * @locality any thread.
 */
json_t *of_dlq_letter_json(const struct of_avro *avro,
                           unsigned flags,
                           int32_t partition,
                           int64_t offset,
                           int64_t timestamp_ms,
                           const void *key,
                           size_t key_len,
                           const rd_kafka_headers_t *headers,
                           const void *value,
                           size_t value_len);

/** @brief of_dlq_letter_json() of a consumed message. */
json_t *of_dlq_message_json(const struct of_avro *avro,
                            unsigned flags,
                            const rd_kafka_message_t *rkm);

/**
 * @brief The oldest \p limit dead letters of [topics] dead_letter: the
 *        first \p limit of each partition, merged by timestamp (then
 *        partition, offset) and cut at \p limit. Up to \p limit objects
 *        per partition are held at once.
 * @param flags as of_dlq_letter_json().
 * @param out set to a new array of of_dlq_letter_json() objects on OF_OK.
 * @returns as of_dlq_scan() (OF_EINVAL: the topic does not exist).
 */
int of_dlq_list(const struct of_config *cfg,
                const struct of_avro *avro,
                unsigned flags,
                long limit,
                const struct of_dlq_opts *opts,
                json_t **out,
                struct of_err *err);

struct of_dlq_redrive_stats {
    long redriven; /* handed to the producer */
    long failed;   /* not queued, not acknowledged, or the key not unparked */
    long skipped;  /* no original-topic header: nowhere to send it */
    long unparked; /* parked_keys rows deleted */
    long keys;     /* parked keys met */
};

/**
 * @brief Send dead letters back to their original topics, without the
 *        dead-letter headers: the one at \p partition : \p offset, or all
 *        of them when \p partition is -1, partition by partition in offset
 *        order, which is their original order per key.
 *
 * A dead letter that parked its key (error "parked: ...") or was held
 * behind one (parked-behind) first has the key's parked_keys row deleted,
 * once per key and call (a second delete could remove the row of a parker
 * sent earlier in this call that failed again), so that the worker applies
 * the key's messages instead of parking them again. A parker that still
 * fails parks the key again, and the ones after it follow it back. A
 * failure on one dead letter ends its partition (what comes after it must
 * not overtake it) and is counted in \p st->failed.
 *
 * @returns OF_OK when the read finished (\p st says what was sent: the
 *          call failed in part if st->failed > 0); otherwise as
 *          of_dlq_scan(), \p st counting what was sent before.
 * @locality any thread; opens its own producer and, at the first parked
 *           key, its own MySQL connection ([mysql] of \p cfg).
 */
int of_dlq_redrive(const struct of_config *cfg,
                   int partition,
                   int64_t offset,
                   const struct of_dlq_opts *opts,
                   struct of_dlq_redrive_stats *st,
                   struct of_err *err);

/**
 * @brief Delete the parked_keys row of (\p topic, \p key) on \p db: the
 *        key's later messages flow again (`orderflowctl dlq skip`).
 * @param deleted the number of rows deleted (0 or 1).
 */
int of_dlq_unpark(struct of_db *db,
                  const char *topic,
                  const void *key,
                  size_t key_len,
                  uint64_t *deleted,
                  struct of_err *err);

/**
 * @brief The body of POST /v1/admin/dead-letters/redrive: exactly
 *        {"partition": P, "offset": O} (integers, P in 0..INT32_MAX, O in
 *        0..INT64_MAX - 1)
 *        or {"all": true}.
 * @param partition set to P, or -1 for all.
 * @returns OF_OK, or OF_EINVAL with \p err naming what is wrong.
 */
int of_dlq_redrive_target(json_t *body,
                          int *partition,
                          int64_t *offset,
                          struct of_err *err);

#endif
