/*
 * libFuzzer target: any text as a UUID, and any bytes as a UUIDv5 name
 * (TESTPLAN, fuzz_uuid).
 *
 * of_uuid_valid() takes exactly the canonical lower-case form: a text is
 * valid iff libuuid parses it and writes the same text back (parse and
 * format round-trip). of_uuid_v5() is deterministic and is RFC 4122 §4.3
 * computed here with OpenSSL's SHA-1: version 5, variant 10x, valid.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>
#include <uuid/uuid.h>

#include "fuzz.h"
#include "of_uuid.h"

/* of_uuid.c's namespace, copied: changing it would change the command id
 * of every retried Idempotency-Key, which this target is here to notice. */
static const unsigned char orderflow_ns[16] = {
    0x7b, 0x1c, 0x4f, 0x3e, 0x9a, 0x52, 0x5d, 0x0b,
    0x8e, 0x61, 0x2f, 0x44, 0xa7, 0x13, 0xc9, 0x05};
/* RFC 4122 Appendix C, NameSpace_DNS */
static const unsigned char ns_dns[16] = {0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad,
                                         0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0,
                                         0x4f, 0xd4, 0x30, 0xc8};

/* RFC 4122 §4.3 with SHA-1, written out. */
static void ref_v5(const unsigned char ns[16], const void *name, size_t len,
                   char out[OF_UUID_STR])
{
    unsigned char h[EVP_MAX_MD_SIZE];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    FUZZ_CHECK(ctx, "out of memory");
    EVP_DigestInit_ex(ctx, EVP_sha1(), NULL);
    EVP_DigestUpdate(ctx, ns, 16);
    EVP_DigestUpdate(ctx, name, len);
    EVP_DigestFinal_ex(ctx, h, NULL);
    EVP_MD_CTX_free(ctx);
    h[6] = (unsigned char)((h[6] & 0x0f) | 0x50);
    h[8] = (unsigned char)((h[8] & 0x3f) | 0x80);
    snprintf(out, OF_UUID_STR,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9],
             h[10], h[11], h[12], h[13], h[14], h[15]);
}

static void check_reference_once(void)
{
    static int done;
    char out[OF_UUID_STR];

    if (done)
        return;
    done = 1;
    /* the well-known v5 vector: the reference itself must be right */
    ref_v5(ns_dns, "www.example.com", 15, out);
    FUZZ_CHECK(strcmp(out, "2ed6657d-e927-568b-95e1-2665a8aea6a2") == 0,
               "%s", out);
    of_uuid_v4(out);
    FUZZ_CHECK(of_uuid_valid(out) && out[14] == '4', "v4 %s", out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char a[OF_UUID_STR], b[OF_UUID_STR], ref[OF_UUID_STR], back[OF_UUID_STR];
    char *s;
    uuid_t u;

    check_reference_once();
    /* as a name: v5 is a pure function of it */
    of_uuid_v5(a, (const char *)data, size);
    of_uuid_v5(b, (const char *)data, size);
    ref_v5(orderflow_ns, data, size, ref);
    FUZZ_CHECK(strcmp(a, b) == 0, "%s then %s", a, b);
    FUZZ_CHECK(strcmp(a, ref) == 0, "%s, RFC 4122 says %s", a, ref);
    FUZZ_CHECK(of_uuid_valid(a), "%s", a);
    /* as a text: valid iff it round-trips through libuuid */
    s = fuzz_strndup(data, size);
    if (!s)
        return 0;
    int valid = of_uuid_valid(s);
    int round = strlen(s) == 36 && uuid_parse(s, u) == 0;
    if (round) {
        uuid_unparse_lower(u, back);
        round = strcmp(back, s) == 0;
    }
    FUZZ_CHECK(valid == round, "\"%s\": valid %d, round trip %d", s, valid,
               round);
    free(s);
    return 0;
}
