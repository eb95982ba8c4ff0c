/*
 * libFuzzer target: any bytes as the header list of a Kafka message
 * (TESTPLAN, fuzz_kafka_headers), read the way the command worker and
 * orderflowctl dlq read them (of_headers.h).
 *
 * Input: records of [name length][name][value length, 2 bytes LE][value];
 * a name length with the top bit set picks one of our header names, a
 * value length of 0xffff is a NULL value. Checked against a model of the
 * list kept here: the last value of a name wins, a copy never exceeds its
 * buffer (trace-id: at most 128 bytes), integers (original-offset,
 * original-partition) are read only when they are strict decimals within
 * range and then equal the text, never overflowing.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "fuzz.h"
#include "of_avro.h" /* OF_TRACE_ID_SIZE */
#include "of_headers.h"

#define MAX_HEADERS 64

static const char *const names[] = {
    "content-type",   "message-type",       "trace-id",
    "error",          "original-topic",     "original-partition",
    "original-offset", "failed-at",         "parked-behind",
    "event-id"};
#define NNAMES (sizeof(names) / sizeof(names[0]))

struct rec {
    const char *name; /* name_len bytes, maybe with a NUL inside */
    size_t name_len;
    const uint8_t *val; /* NULL: a NULL value */
    size_t len;
};

/* The last record named \p name (all of it: librdkafka compares lengths
 * too), or NULL. */
static const struct rec *last(const struct rec *r, int n, const char *name)
{
    for (int i = n - 1; i >= 0; i--) {
        if (r[i].name_len == strlen(name) &&
            memcmp(r[i].name, name, r[i].name_len) == 0)
            return &r[i];
    }
    return NULL;
}

/* ^-?(0|[1-9][0-9]*)$ except "-0", in a wide type. @returns 1 and v. */
static int ref_int(const uint8_t *s, size_t n, __int128 *v)
{
    size_t i = n > 0 && s[0] == '-';
    __int128 x = 0;

    if (i == n || (s[i] == '0' && (n - i > 1 || i == 1)))
        return 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || x > ((__int128)1 << 70))
            return 0;
        x = x * 10 + (s[i] - '0');
    }
    *v = s[0] == '-' ? -x : x;
    return 1;
}

static void check_get(const rd_kafka_headers_t *h, const struct rec *r,
                      int n, const char *name, size_t cap)
{
    char out[512];
    const struct rec *want = last(r, n, name);
    int found = of_headers_get(h, name, out, cap);
    size_t len;

    FUZZ_CHECK(found == (want != NULL), "%s: found %d", name, found);
    len = strlen(out);
    FUZZ_CHECK(len < cap, "%s: %zu bytes in %zu", name, len, cap);
    if (!want || !want->val) {
        FUZZ_CHECK(len == 0, "%s: \"%s\" for no value", name, out);
        return;
    }
    size_t exp = want->len < cap - 1 ? want->len : cap - 1;
    const uint8_t *nul = memchr(want->val, '\0', exp);
    if (nul)
        exp = (size_t)(nul - want->val);
    FUZZ_CHECK(len == exp && memcmp(out, want->val, len) == 0,
               "%s: \"%s\" is not the last value", name, out);
}

static void check_int(const rd_kafka_headers_t *h, const struct rec *r, int n,
                      const char *name, int64_t min, int64_t max)
{
    const struct rec *want = last(r, n, name);
    int64_t v = 0;
    __int128 ref = 0;
    int rc = of_headers_get_int(h, name, min, max, &v);

    if (!want) {
        FUZZ_CHECK(rc == 0, "%s absent, rc %d", name, rc);
        return;
    }
    int ok = want->val && ref_int(want->val, want->len, &ref) && ref >= min &&
             ref <= max;
    FUZZ_CHECK(rc == (ok ? 1 : -1), "%s: rc %d, reference %d", name, rc, ok);
    if (ok)
        FUZZ_CHECK(v == (int64_t)ref, "%s: %lld", name, (long long)v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rec r[MAX_HEADERS];
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    struct of_dead_letter dl;
    char trace[OF_TRACE_ID_SIZE];
    size_t p = 0;
    int n = 0;

    while (p < size && n < MAX_HEADERS) {
        size_t nl = data[p++];
        const char *name;
        size_t name_len;
        if (nl & 0x80) {
            name = names[(nl & 0x7f) % NNAMES];
            name_len = strlen(name);
        } else {
            if (p + nl > size)
                break;
            name = (const char *)data + p;
            name_len = nl;
            p += nl;
        }
        if (p + 2 > size)
            break;
        size_t vl = (size_t)data[p] | ((size_t)data[p + 1] << 8);
        p += 2;
        if (vl != 0xffff && p + vl > size)
            vl = size - p;
        r[n].name = name;
        r[n].name_len = name_len;
        r[n].val = vl == 0xffff ? NULL : data + p;
        r[n].len = vl == 0xffff ? 0 : vl;
        rd_kafka_header_add(h, name, (ssize_t)name_len, r[n].val,
                            (ssize_t)r[n].len);
        if (vl != 0xffff)
            p += vl;
        n++;
    }
    for (size_t i = 0; i < NNAMES; i++) {
        check_get(h, r, n, names[i], 1);
        check_get(h, r, n, names[i], 16);
        check_get(h, r, n, names[i], sizeof(trace));
        check_get(h, r, n, names[i], 512);
    }
    /* the worker's trace id: the header's first 128 bytes at most */
    of_headers_get(h, "trace-id", trace, sizeof(trace));
    FUZZ_CHECK(strlen(trace) <= OF_TRACE_ID_MAX, "%zu", strlen(trace));
    check_int(h, r, n, "original-offset", 0, INT64_MAX);
    check_int(h, r, n, "original-offset", INT64_MIN, INT64_MAX);
    check_int(h, r, n, "original-partition", 0, INT32_MAX);
    check_int(h, r, n, "error", -5, 5);

    of_headers_dead_letter(h, &dl);
    const struct rec *off = last(r, n, "original-offset");
    const struct rec *part = last(r, n, "original-partition");
    int64_t v = 0;
    FUZZ_CHECK(dl.has_offset ==
                   (of_headers_get_int(h, "original-offset", 0, INT64_MAX,
                                       &v) == 1),
               "offset");
    FUZZ_CHECK(!dl.has_offset || (off && dl.original_offset == v), "offset");
    FUZZ_CHECK(dl.has_partition ==
                   (of_headers_get_int(h, "original-partition", 0,
                                       INT32_MAX, &v) == 1),
               "partition");
    FUZZ_CHECK(!dl.has_partition || (part && dl.original_partition == v),
               "partition");
    FUZZ_CHECK(dl.parked_behind == (last(r, n, "parked-behind") != NULL),
               "parked-behind");
    FUZZ_CHECK(strlen(dl.error) < sizeof(dl.error) &&
                   strlen(dl.original_topic) < sizeof(dl.original_topic),
               "bounds");
    of_headers_dead_letter(NULL, &dl);
    FUZZ_CHECK(!dl.has_offset && !dl.original_topic[0], "no headers");
    rd_kafka_headers_destroy(h);
    return 0;
}
