/* of_cursor: see of_cursor.h. */
#include "of_cursor.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "of_jwt.h" /* of_parse_id */

#define MAC_HEX 32

static void cursor_mac(const char *key, int64_t user_id, int64_t order_id,
                       char out[MAC_HEX + 1])
{
    char msg[64];
    unsigned char mac[32];
    unsigned int len = 0;

    snprintf(msg, sizeof(msg), "%lld:%lld", (long long)user_id,
             (long long)order_id);
    HMAC(EVP_sha256(), key, (int)strlen(key), (unsigned char *)msg,
         strlen(msg), mac, &len);
    for (int i = 0; i < MAC_HEX / 2; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

void of_cursor_make(const char *key, int64_t user_id, int64_t order_id,
                    char out[OF_CURSOR_SIZE])
{
    char mac[MAC_HEX + 1];

    cursor_mac(key, user_id, order_id, mac);
    snprintf(out, OF_CURSOR_SIZE, "%lld.%s", (long long)order_id, mac);
}

int of_cursor_parse(const char *key, int64_t user_id, const char *cursor,
                    int64_t *after)
{
    char id[16], mac[MAC_HEX + 1];
    const char *dot = strchr(cursor, '.');

    if (!dot || (size_t)(dot - cursor) >= sizeof(id) ||
        strlen(dot + 1) != MAC_HEX)
        return 0;
    memcpy(id, cursor, (size_t)(dot - cursor));
    id[dot - cursor] = '\0';
    if (!of_parse_id(id, after))
        return 0;
    cursor_mac(key, user_id, *after, mac);
    return CRYPTO_memcmp(mac, dot + 1, MAC_HEX) == 0;
}
