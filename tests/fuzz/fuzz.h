/*
 * fuzz.h: what the libFuzzer targets of tests/fuzz/ and their seed maker
 * (seeds.c) share: the fixed keys and clock the targets run with, so that
 * the seeds made once stay valid, and a few small helpers. Test code only.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The clock of fuzz_jwt_auth: 2026-01-01T00:00:00Z. */
#define FUZZ_NOW 1767225600LL
/* The [auth] of fuzz_jwt_auth: HS256, and tokens must name us. */
#define FUZZ_JWT_KEY      "fuzz-jwt-key-0123456789abcdef-0123456789"
#define FUZZ_JWT_ISSUER   "orderflow-fuzz"
#define FUZZ_JWT_AUDIENCE "orderflow-api"
#define FUZZ_JWT_LEEWAY   30
#define FUZZ_JWT_MAX_TTL  86400
/* The cursor key of fuzz_cursor and the list its cursors belong to. */
#define FUZZ_CURSOR_KEY  "fuzz-cursor-key-0123456789abcdef"
#define FUZZ_CURSOR_USER 42

/* Every target's entry point, declared for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property broke: say which on stderr (libFuzzer keeps the input). */
#define FUZZ_CHECK(cond, ...)                                                 \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "fuzz check failed: %s: ", #cond);                \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
            abort();                                                          \
        }                                                                     \
    } while (0)

/* \p data as a NUL-terminated copy the caller frees (NULL: out of memory). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s) {
        memcpy(s, data, size);
        s[size] = '\0';
    }
    return s;
}

/* RFC 4648 §5 base64url without padding; \p out holds 4 * n / 3 + 4. */
static inline size_t fuzz_b64url(const unsigned char *in, size_t n, char *out)
{
    static const char a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i;

    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) |
                     in[i + 2];
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = a[(v >> 6) & 63];
        out[o++] = a[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = a[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

static inline int fuzz_b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Strict base64url (no padding, unused bits zero) of \p n chars into \p out
 * (room for 3 * n / 4 + 1). @returns the length, or -1. */
static inline long fuzz_b64url_decode(const char *in, size_t n,
                                      unsigned char *out)
{
    uint32_t acc = 0;
    int bits = 0;
    long o = 0;

    if (n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int v = fuzz_b64url_value(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return acc == 0 ? o : -1;
}

#endif
