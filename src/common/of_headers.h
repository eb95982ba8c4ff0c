/*
 * of_headers: reading Kafka message headers (CONTRACT §4), which come from
 * any producer and are trusted in nothing: a name may repeat (the last value
 * wins), a value may be missing, empty, binary or megabytes long.
 *
 * Values are copied as strings bounded by the caller's buffer (a 10 KiB
 * trace-id becomes its first OF_TRACE_ID_MAX bytes, TESTPLAN row 46);
 * integers are strict decimals checked against their range before they
 * could overflow. Pure: works on a header list, no client, no I/O; any
 * thread (librdkafka's header lists are not shared).
 */
#ifndef OF_HEADERS_H
#define OF_HEADERS_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

/**
 * @brief Copy the last value of header \p name into \p out (\p cap > 0
 *        bytes, NUL-terminated, cut at cap - 1 bytes).
 * @returns 1 if \p h has the header (a NULL value reads as ""), else 0 and
 *          \p out is "".
 */
int of_headers_get(const rd_kafka_headers_t *h, const char *name, char *out,
                   size_t cap);

/**
 * @brief The last value of header \p name as an integer in \p min..\p max:
 *        an optional '-' then ASCII digits, no blank, no '+', no leading
 *        zero ("0" itself is fine), no trailing byte.
 * @returns 1 with *\p out set; 0 if absent; -1 if malformed or out of range.
 */
int of_headers_get_int(const rd_kafka_headers_t *h, const char *name,
                       int64_t min, int64_t max, int64_t *out);

/* The content-type of every value we produce and accept (CONTRACT §4). */
#define OF_HEADERS_CONTENT_TYPE "application/avro"

/**
 * @brief Is the last value of header \p name exactly \p want? ASCII case
 *        aside (media types are case-insensitive), byte for byte otherwise:
 *        a value with anything after it, a NUL byte included, differs.
 * @returns 1 equal; 0 absent (or \p h NULL); -1 present but different (a
 *          NULL value included).
 */
int of_headers_equal(const rd_kafka_headers_t *h, const char *name,
                     const char *want);

/* The headers a worker adds to a dead letter (worker_deadletter.h). */
struct of_dead_letter {
    char error[256];          /* why; "parked: ..." when it parked its key */
    char original_topic[256]; /* "" if absent */
    int has_partition;        /* original-partition read, 0..INT32_MAX */
    int32_t original_partition;
    int has_offset; /* original-offset read, 0..INT64_MAX */
    int64_t original_offset;
    int parked_behind; /* it was held behind a parked key */
};

/**
 * @brief Read the dead-letter headers of \p h (which may be NULL: none).
 *        A malformed partition or offset is as good as absent.
 */
void of_headers_dead_letter(const rd_kafka_headers_t *h,
                            struct of_dead_letter *dl);

#endif
