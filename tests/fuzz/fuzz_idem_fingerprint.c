/*
 * libFuzzer target: any bytes as the body of a write with an
 * Idempotency-Key (TESTPLAN, fuzz_idem_fingerprint).
 *
 * The canonical form does not change on a second pass; it ignores key
 * order and blanks (the same value written with every object's keys
 * reversed and indented has the same canonical form); the fingerprint is
 * stable (the same twice, the same for the body and its canonical form, and
 * for a body that is not JSON the SHA-256 of its raw bytes, computed here).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "fuzz.h"
#include "of_idem.h"

#define METHOD "POST"
#define URL    "/v1/orders"

/* \p v with every object's keys in reverse order, recursively. */
static json_t *reversed(json_t *v)
{
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            json_array_append_new(a, reversed(e));
        }
        return a;
    }
    if (json_is_object(v)) {
        size_t n = json_object_size(v), i = 0;
        const char **keys = calloc(n ? n : 1, sizeof(*keys));
        json_t *o = json_object();
        const char *k;
        json_t *e;
        FUZZ_CHECK(keys && o, "out of memory");
        json_object_foreach(v, k, e)
        {
            keys[i++] = k;
        }
        while (i-- > 0)
            json_object_set_new(o, keys[i],
                                reversed(json_object_get(v, keys[i])));
        free(keys);
        return o;
    }
    return json_incref(v);
}

/* SHA-256 of METHOD " " URL "\n" + body, in hex */
static void ref_fingerprint(const void *body, size_t len,
                            char out[OF_IDEM_FINGERPRINT_SIZE])
{
    unsigned char h[EVP_MAX_MD_SIZE];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    FUZZ_CHECK(ctx, "out of memory");
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, METHOD " " URL "\n", strlen(METHOD " " URL "\n"));
    EVP_DigestUpdate(ctx, body, len);
    EVP_DigestFinal_ex(ctx, h, NULL);
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    char fp[OF_IDEM_FINGERPRINT_SIZE], fp2[OF_IDEM_FINGERPRINT_SIZE];
    char ref[OF_IDEM_FINGERPRINT_SIZE];
    char *canon, *again, *shuffled_text, *shuffled_canon;
    json_t *root, *shuffled;

    of_idem_fingerprint(METHOD, URL, body, size, fp);
    of_idem_fingerprint(METHOD, URL, body, size, fp2);
    FUZZ_CHECK(strcmp(fp, fp2) == 0, "%s then %s", fp, fp2);
    canon = of_idem_canonical(body, size);
    if (!canon) {
        ref_fingerprint(body, size, ref);
        FUZZ_CHECK(strcmp(fp, ref) == 0, "not JSON: %s, raw bytes %s", fp,
                   ref);
        return 0;
    }
    again = of_idem_canonical(canon, strlen(canon));
    FUZZ_CHECK(again && strcmp(again, canon) == 0,
               "second pass changed \"%s\" to \"%s\"", canon,
               again ? again : "(not JSON)");
    ref_fingerprint(canon, strlen(canon), ref);
    FUZZ_CHECK(strcmp(fp, ref) == 0, "%s, of the canonical form %s", fp, ref);
    of_idem_fingerprint(METHOD, URL, canon, strlen(canon), fp2);
    FUZZ_CHECK(strcmp(fp, fp2) == 0, "body %s, canonical form %s", fp, fp2);

    root = json_loads(canon, JSON_DECODE_ANY, NULL);
    FUZZ_CHECK(root, "canonical \"%s\" is not JSON", canon);
    shuffled = reversed(root);
    shuffled_text =
        json_dumps(shuffled, JSON_INDENT(1) | JSON_ENCODE_ANY);
    FUZZ_CHECK(shuffled_text, "out of memory");
    shuffled_canon = of_idem_canonical(shuffled_text, strlen(shuffled_text));
    FUZZ_CHECK(shuffled_canon && strcmp(shuffled_canon, canon) == 0,
               "\"%s\" reordered gives \"%s\"", canon,
               shuffled_canon ? shuffled_canon : "(not JSON)");
    of_idem_fingerprint(METHOD, URL, shuffled_text, strlen(shuffled_text),
                        fp2);
    FUZZ_CHECK(strcmp(fp, fp2) == 0, "reordered: %s, %s", fp, fp2);
    free(shuffled_canon);
    free(shuffled_text);
    json_decref(shuffled);
    json_decref(root);
    free(again);
    free(canon);
    return 0;
}
