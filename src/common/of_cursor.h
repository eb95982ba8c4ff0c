/*
 * of_cursor: the keyset-pagination cursor of GET /v1/users/{id}/orders
 * (CONTRACT §3), "<last order id>.<mac>": mac is the first 16 bytes of
 * HMAC-SHA256(key, "<user id>:<order id>") in lower-case hex. The MAC binds
 * a cursor to its list, so a client can neither forge one nor page through
 * another user's orders with it (TESTPLAN row 21).
 *
 * Pure: no I/O, no state; any thread. The key is the caller's ([auth]
 * cursor_secret, else jwt_key).
 */
#ifndef OF_CURSOR_H
#define OF_CURSOR_H

#include <stdint.h>

#define OF_CURSOR_SIZE 64 /* any int64_t, ".", 32 hex digits, NUL */

/** @brief The cursor that continues \p user_id's list after \p order_id. */
void of_cursor_make(const char *key, int64_t user_id, int64_t order_id,
                    char out[OF_CURSOR_SIZE]);

/**
 * @brief Check \p cursor, a client's text, against \p user_id's list.
 * @returns 1 with *\p after set to its order id (1..2147483647, written
 *          without sign or leading zero) when the MAC is the one
 *          of_cursor_make() writes; else 0, *\p after unspecified.
 */
int of_cursor_parse(const char *key, int64_t user_id, const char *cursor,
                    int64_t *after);

#endif
