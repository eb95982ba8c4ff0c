/* of_idem: see of_idem.h. */
#include "of_idem.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

char *of_idem_canonical(const char *body, size_t len)
{
    json_t *root;
    char *text;

    if (!body || len == 0)
        return NULL;
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                      NULL);
    if (!root)
        return NULL;
    /* %.17g reals read back as the same double, so a second pass is
     * unchanged */
    text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(root);
    return text;
}

void of_idem_fingerprint(const char *method, const char *url,
                         const char *body, size_t len,
                         char out[OF_IDEM_FINGERPRINT_SIZE])
{
    static const char digits[] = "0123456789abcdef";
    char *canon = of_idem_canonical(body, len);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char h[32];
    unsigned int n = 0;

    if (canon) {
        body = canon;
        len = strlen(canon);
    }
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, method, strlen(method));
    EVP_DigestUpdate(ctx, " ", 1);
    EVP_DigestUpdate(ctx, url, strlen(url));
    EVP_DigestUpdate(ctx, "\n", 1);
    if (len)
        EVP_DigestUpdate(ctx, body, len);
    EVP_DigestFinal_ex(ctx, h, &n);
    EVP_MD_CTX_free(ctx);
    free(canon);
    for (size_t i = 0; i < sizeof(h); i++) {
        out[2 * i] = digits[h[i] >> 4];
        out[2 * i + 1] = digits[h[i] & 15];
    }
    out[2 * sizeof(h)] = '\0';
}
