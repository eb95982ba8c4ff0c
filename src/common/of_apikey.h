/*
 * of_apikey: API keys (CONTRACT §3, §7).
 *
 * A key is "of_" followed by 43 base64url characters (256 random bits from
 * getrandom). Only its SHA-256 is stored; keys carry full entropy, so a
 * plain hash resists guessing as well as a password hash would, and it can
 * be looked up by value. The first 8 characters after "of_" are stored too,
 * so operators can tell keys apart in lists.
 */
#ifndef OF_APIKEY_H
#define OF_APIKEY_H

#include <stddef.h>

#include "of_err.h"

#define OF_APIKEY_LEN 46 /* "of_" + 43 */

/** @brief Fill \p out (OF_APIKEY_LEN + 1 bytes) with a new random key. */
int of_apikey_generate(char *out, struct of_err *err);

/** @brief SHA-256 of \p key (any length) into \p hash. */
void of_apikey_hash(const char *key, unsigned char hash[32]);

/** @returns 1 if \p key has the shape of one of our keys, else 0. */
int of_apikey_well_formed(const char *key);

/** @returns 0 if the 32-byte hashes are equal, in constant time. */
int of_apikey_hash_cmp(const unsigned char *a, const unsigned char *b);

#endif
