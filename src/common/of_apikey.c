/* of_apikey: see of_apikey.h. */
#include "of_apikey.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int of_apikey_generate(char *out, struct of_err *err)
{
    unsigned char raw[33];
    size_t o = 3;

    if (getrandom(raw, 32, 0) != 32)
        return of_err_set(err, OF_EFATAL, "could not read random bytes: %s",
                          strerror(errno));
    raw[32] = 0;
    memcpy(out, "of_", 3);
    /* 32 bytes -> 43 base64url characters, no padding */
    for (size_t i = 0; i < 33; i += 3) {
        unsigned v = ((unsigned)raw[i] << 16) | ((unsigned)raw[i + 1] << 8) |
                     (unsigned)raw[i + 2];
        for (int k = 0; k < 4 && o < OF_APIKEY_LEN; k++)
            out[o++] = b64url[(v >> (18 - 6 * k)) & 63];
    }
    out[OF_APIKEY_LEN] = '\0';
    OPENSSL_cleanse(raw, sizeof(raw));
    return OF_OK;
}

void of_apikey_hash(const char *key, unsigned char hash[32])
{
    SHA256((const unsigned char *)key, strlen(key), hash);
}

int of_apikey_well_formed(const char *key)
{
    if (strlen(key) != OF_APIKEY_LEN || strncmp(key, "of_", 3) != 0)
        return 0;
    for (size_t i = 3; i < OF_APIKEY_LEN; i++) {
        if (!strchr(b64url, key[i]) || key[i] == '\0')
            return 0;
    }
    return 1;
}

int of_apikey_hash_cmp(const unsigned char *a, const unsigned char *b)
{
    return CRYPTO_memcmp(a, b, 32);
}
