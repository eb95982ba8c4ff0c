/*
 * of_jwt: sign and verify the bearer tokens of CONTRACT §3 with libjwt.
 *
 * libjwt 1.10.2 checks the signature and nothing else, and lets the token's
 * own alg header pick the verify path. So every check that matters is ours
 * and happens after jwt_decode(): the algorithm must equal the configured
 * one, exp must be an integer in the future (within leeway) and not further
 * than the maximum TTL, nbf/iat/iss/aud are honoured, sub must be a decimal
 * string naming a user id > 0, role exactly user|service|admin. An empty or
 * short HMAC key refuses to start (libjwt accepts alg none with an empty key).
 * A token must be three non-empty base64url segments: libjwt would also
 * take the '+/=' alphabet, so one token could be spelt several ways.
 *
 * Keys come from the config only; jku and x5u are ignored, and so is kid
 * unless [auth] jwt_keys names more HS* secrets for key rotation
 * ("kid:secret,kid:secret", each at least 32 bytes). Then a token's kid
 * picks its key by exact match, a kid not in the map (or not a string) is
 * refused whatever the signature, and a token without kid is verified with
 * jwt_key. A kid is a name to look up, never a path or a query.
 * [auth] jwt_sign_kid makes of_jwt_sign() use that entry and set its kid.
 */
#ifndef OF_JWT_H
#define OF_JWT_H

#include <stdint.h>
#include <time.h>

#include "of_config.h"
#include "of_err.h"

enum of_role { OF_ROLE_USER = 0, OF_ROLE_SERVICE = 1, OF_ROLE_ADMIN = 2 };

/** @returns "user", "service", "admin". */
const char *of_role_name(enum of_role role);
/** @returns the role named exactly \p name, or -1. */
int of_role_parse(const char *name);

struct of_jwt_claims {
    int64_t sub; /* user id, > 0 */
    enum of_role role;
    int64_t exp; /* seconds since the epoch */
};

struct of_jwt; /* verifier/signer: config and keys, immutable, thread-safe */

/**
 * @brief Load the algorithm and keys of [auth].
 * @param for_signing also load jwt_private_key_file for RS256/ES256.
 * @returns a handle or NULL with \p err (bad alg, empty/short HS key,
 *          a jwt_keys entry that is malformed, short, repeated or used with
 *          RS256/ES256, a jwt_sign_kid not in jwt_keys, unreadable key file).
 */
struct of_jwt *of_jwt_new(const struct of_config *cfg, int for_signing,
                          struct of_err *err);
void of_jwt_destroy(struct of_jwt *jwt);

/**
 * @brief Verify \p token at time \p now.
 * @returns OF_OK with \p claims filled, or OF_EINVAL with \p err saying why
 *          (for our logs; clients only ever see 401 unauthenticated).
 * @locality any thread.
 */
int of_jwt_verify(const struct of_jwt *jwt, const char *token, time_t now,
                  struct of_jwt_claims *claims, struct of_err *err);

/*
 * A cache of verified tokens, for a server that sees the same bearer token
 * on request after request: a hit costs a hash and a compare instead of
 * base64, JSON and HMAC (a quarter of orderflow-api's CPU per POST in the
 * bench's profile).
 *
 * An entry is keyed by the token's exact bytes (compared in constant time)
 * and answers only while verified_at <= now < exp: every other check of
 * of_jwt_verify() gives the same answer at any such later time (the keys
 * and [auth] settings cannot change under a verifier, nbf and the TTL
 * bounds only get easier as time goes on), so a hit says what a full
 * verification would. Past exp, or if the clock stepped back, the token is
 * verified in full again (exp within the leeway is never cached). Tokens
 * carry no revocation, so there is nothing else to expire.
 * Only verified tokens are kept: a bad token costs a full verification
 * every time, and cannot evict more than one slot. The table has a fixed
 * number of slots, one token each (a newer one replaces it); tokens longer
 * than OF_JWT_CACHE_TOKEN_MAX bytes are never kept.
 */
#define OF_JWT_CACHE_TOKEN_MAX 1024

struct of_jwt_cache;

/**
 * @brief A cache of \p slots tokens verified by \p jwt (borrowed: it must
 *        outlive the cache).
 * @returns a handle or NULL with \p err (out of memory).
 */
struct of_jwt_cache *of_jwt_cache_new(const struct of_jwt *jwt, int slots,
                                      struct of_err *err);
void of_jwt_cache_destroy(struct of_jwt_cache *cache);

/**
 * @brief of_jwt_verify() with the cache's verifier, answered from \p cache
 *        when it holds \p token and \p now is within its entry's lifetime.
 * @returns what of_jwt_verify() would.
 * @locality any thread (one lock, held for a compare or a copy).
 */
int of_jwt_verify_cached(struct of_jwt_cache *cache, const char *token,
                         time_t now, struct of_jwt_claims *claims,
                         struct of_err *err);

/** @returns how many verifications \p cache answered itself so far. */
long of_jwt_cache_hits(struct of_jwt_cache *cache);

/**
 * @brief Sign a token for \p sub and \p role valid for \p ttl seconds.
 * @returns a string the caller frees with free(), or NULL with \p err.
 */
char *of_jwt_sign(const struct of_jwt *jwt, int64_t sub, enum of_role role,
                  int ttl, time_t now, struct of_err *err);

/**
 * @brief Parse a user id: a decimal string without sign or leading zero,
 *        1..2147483647 (users.user_id is an INT).
 * @returns 1 and \p id, or 0.
 */
int of_parse_id(const char *s, int64_t *id);

#endif
