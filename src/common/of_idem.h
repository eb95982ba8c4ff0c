/*
 * of_idem: what "the same body" means for an Idempotency-Key (CONTRACT §3,
 * TESTPLAN fuzz_idem_fingerprint). A request's fingerprint is SHA-256 over
 * "<method> <url>\n<canonical body>" in lower-case hex; the canonical body is
 * the JSON re-serialised compactly with its object keys sorted, so blanks,
 * escapes and key order do not turn a retry into "another body" (422). A body
 * that is not JSON (an empty one) is taken byte for byte.
 *
 * Invariants: canonical(canonical(x)) == canonical(x); the fingerprint of
 * a body equals the fingerprint of its canonical form. Pure; any thread.
 */
#ifndef OF_IDEM_H
#define OF_IDEM_H

#include <stddef.h>

#define OF_IDEM_FINGERPRINT_SIZE 65 /* 64 hex digits and NUL */

/**
 * @brief The canonical form of the JSON text \p body (\p len bytes), parsed
 *        as the API parses bodies (duplicate keys refused, no NUL in
 *        strings); any JSON value is accepted here.
 * @returns a NUL-terminated string the caller frees with free(), or NULL
 *          when \p body is not such JSON (or out of memory).
 */
char *of_idem_canonical(const char *body, size_t len);

/**
 * @brief The fingerprint of \p method \p url with \p body (\p len bytes,
 *        may be NULL when \p len is 0).
 */
void of_idem_fingerprint(const char *method, const char *url,
                         const char *body, size_t len,
                         char out[OF_IDEM_FINGERPRINT_SIZE]);

#endif
