/* of_headers: see of_headers.h. */
#include "of_headers.h"

#include <string.h>

int of_headers_get(const rd_kafka_headers_t *h, const char *name, char *out,
                   size_t cap)
{
    const void *val;
    size_t len;

    out[0] = '\0';
    if (!h || rd_kafka_header_get_last(h, name, &val, &len) !=
                  RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    if (!val)
        return 1; /* memcpy() from NULL is undefined, even of 0 bytes */
    if (len >= cap)
        len = cap - 1;
    memcpy(out, val, len);
    out[len] = '\0';
    return 1;
}

/* ASCII only, whatever the locale */
static int lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

int of_headers_equal(const rd_kafka_headers_t *h, const char *name,
                     const char *want)
{
    const unsigned char *v;
    const void *val;
    size_t len, n = strlen(want);

    if (!h || rd_kafka_header_get_last(h, name, &val, &len) !=
                  RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    if (!val || len != n)
        return -1;
    v = val;
    for (size_t i = 0; i < n; i++) {
        if (lower(v[i]) != lower((unsigned char)want[i]))
            return -1;
    }
    return 1;
}

/* Strict decimal of \p len bytes; accumulates negatively so that INT64_MIN
 * fits, and checks before each step so that nothing overflows. */
static int parse_int(const char *s, size_t len, int64_t *out)
{
    int neg = len > 0 && s[0] == '-';
    size_t i = (size_t)neg;
    int64_t v = 0;

    if (i == len || (s[i] == '0' && len - i > 1) || (neg && s[i] == '0'))
        return -1;
    for (; i < len; i++) {
        int d = s[i] - '0';
        if (s[i] < '0' || s[i] > '9' || v < (INT64_MIN + d) / 10)
            return -1;
        v = v * 10 - d;
    }
    if (!neg && v == INT64_MIN)
        return -1;
    *out = neg ? v : -v;
    return 0;
}

int of_headers_get_int(const rd_kafka_headers_t *h, const char *name,
                       int64_t min, int64_t max, int64_t *out)
{
    const void *val;
    size_t len;
    int64_t v;

    if (!h || rd_kafka_header_get_last(h, name, &val, &len) !=
                  RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    if (!val || parse_int(val, len, &v) != 0 || v < min || v > max)
        return -1;
    *out = v;
    return 1;
}

void of_headers_dead_letter(const rd_kafka_headers_t *h,
                            struct of_dead_letter *dl)
{
    char behind[2];
    int64_t v = 0;

    memset(dl, 0, sizeof(*dl));
    of_headers_get(h, "error", dl->error, sizeof(dl->error));
    of_headers_get(h, "original-topic", dl->original_topic,
                   sizeof(dl->original_topic));
    dl->parked_behind = of_headers_get(h, "parked-behind", behind,
                                       sizeof(behind));
    if (of_headers_get_int(h, "original-partition", 0, INT32_MAX, &v) == 1) {
        dl->has_partition = 1;
        dl->original_partition = (int32_t)v;
    }
    if (of_headers_get_int(h, "original-offset", 0, INT64_MAX, &v) == 1) {
        dl->has_offset = 1;
        dl->original_offset = v;
    }
}
