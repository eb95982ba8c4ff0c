/* of_uuid: see of_uuid.h. */
#include "of_uuid.h"

#include <string.h>
#include <sys/random.h>

#include <uuid/uuid.h>

/* orderflow's v5 namespace: uuid5(NAMESPACE_URL, "https://orderflow/v1") */
static const uuid_t orderflow_ns = {0x7b, 0x1c, 0x4f, 0x3e, 0x9a, 0x52,
                                    0x5d, 0x0b, 0x8e, 0x61, 0x2f, 0x44,
                                    0xa7, 0x13, 0xc9, 0x05};

/* 122 random bits from the kernel's CSPRNG. Not uuid_generate_random():
 * libuuid 2.38 reseeds random(3) on every call (random_get_fd: srandom()
 * and up to 31 random() calls), which was 5 % of the worker's profile. */
void of_uuid_v4(char out[OF_UUID_STR])
{
    uuid_t u;

    if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u)) {
        uuid_generate_random(u); /* no getrandom(2): libuuid's own way */
    } else {
        u[6] = (unsigned char)((u[6] & 0x0F) | 0x40); /* version 4 */
        u[8] = (unsigned char)((u[8] & 0x3F) | 0x80); /* RFC 4122 variant */
    }
    uuid_unparse_lower(u, out);
}

void of_uuid_v5(char out[OF_UUID_STR], const char *name, size_t len)
{
    uuid_t u;

    uuid_generate_sha1(u, orderflow_ns, name, len);
    uuid_unparse_lower(u, out);
}

int of_uuid_valid(const char *s)
{
    if (strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-'
                 : !((s[i] >= '0' && s[i] <= '9') ||
                     (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return 1;
}
