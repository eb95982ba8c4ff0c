/*
 * libFuzzer target: any text as the ?cursor= of GET /v1/users/{id}/orders
 * (TESTPLAN, fuzz_cursor).
 *
 * Nothing crashes, and a cursor decodes only if its MAC is the HMAC-SHA256
 * of its list and order id under the key, computed here with OpenSSL:
 * then it is exactly the text of_cursor_make() issues for that id, and it
 * decodes for no other user and under no other key. The first 4 bytes,
 * read as an order id, are also issued and read back.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz.h"
#include "of_cursor.h"

/* "<id>.<first 16 bytes of HMAC-SHA256(key, "<user>:<id>") in hex>" */
static void ref_cursor(int64_t user, int64_t id, char out[OF_CURSOR_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    char msg[48];
    int n;

    snprintf(msg, sizeof(msg), "%lld:%lld", (long long)user, (long long)id);
    HMAC(EVP_sha256(), FUZZ_CURSOR_KEY, (int)strlen(FUZZ_CURSOR_KEY),
         (const unsigned char *)msg, strlen(msg), mac, &len);
    n = snprintf(out, OF_CURSOR_SIZE, "%lld.", (long long)id);
    for (int i = 0; i < 16; i++) {
        out[n + 2 * i] = hex[mac[i] >> 4];
        out[n + 2 * i + 1] = hex[mac[i] & 15];
    }
    out[n + 32] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char issued[OF_CURSOR_SIZE], ref[OF_CURSOR_SIZE];
    int64_t after = 0, other = 0;
    char *s;

    if (size >= 4) {
        uint32_t id;
        memcpy(&id, data, sizeof(id));
        id &= 0x7fffffff;
        if (id > 0) {
            of_cursor_make(FUZZ_CURSOR_KEY, FUZZ_CURSOR_USER, id, issued);
            ref_cursor(FUZZ_CURSOR_USER, id, ref);
            FUZZ_CHECK(strcmp(issued, ref) == 0, "%s, expected %s", issued,
                       ref);
            FUZZ_CHECK(of_cursor_parse(FUZZ_CURSOR_KEY, FUZZ_CURSOR_USER,
                                       issued, &after) &&
                           after == id,
                       "%s", issued);
        }
    }
    s = fuzz_strndup(data, size);
    if (!s)
        return 0;
    if (of_cursor_parse(FUZZ_CURSOR_KEY, FUZZ_CURSOR_USER, s, &after)) {
        FUZZ_CHECK(after >= 1 && after <= 2147483647, "\"%s\": %lld", s,
                   (long long)after);
        ref_cursor(FUZZ_CURSOR_USER, after, ref);
        FUZZ_CHECK(strcmp(s, ref) == 0, "\"%s\" decoded, HMAC says %s", s,
                   ref);
        FUZZ_CHECK(!of_cursor_parse(FUZZ_CURSOR_KEY, FUZZ_CURSOR_USER + 1, s,
                                    &other),
                   "\"%s\" decodes for another user", s);
        FUZZ_CHECK(!of_cursor_parse("another-key-0123456789abcdef012345",
                                    FUZZ_CURSOR_USER, s, &other),
                   "\"%s\" decodes under another key", s);
    }
    free(s);
    return 0;
}
