/*
 * of_uuid: command and event ids. v4 for fresh ids; v5 (SHA-1, RFC 4122)
 * for the command id of a request with an Idempotency-Key, derived from the
 * principal and the key, so a retry after a lost answer makes the same
 * command and the worker's dedupe row catches it.
 */
#ifndef OF_UUID_H
#define OF_UUID_H

#include <stddef.h>

#define OF_UUID_STR 37

/** @brief A random (v4) UUID as 36 lower-case characters + NUL. */
void of_uuid_v4(char out[OF_UUID_STR]);

/** @brief The v5 UUID of \p name (\p len bytes) in orderflow's namespace. */
void of_uuid_v5(char out[OF_UUID_STR], const char *name, size_t len);

/** @returns 1 if \p s is a canonical lower-case UUID string. */
int of_uuid_valid(const char *s);

#endif
