/*
 * api_validate: field checks for request bodies. Each failing check queues
 * a 400 validation_failed whose message names the field, and returns 0.
 */
#ifndef API_VALIDATE_H
#define API_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api.h"

/** @returns 1 if \p body has no key outside \p allowed (NULL-ended). */
int api_only_fields(struct api_req *req, json_t *body,
                    const char *const *allowed, enum MHD_Result *ret);

/**
 * @brief String field \p name: at most \p max_chars code points, no control
 *        characters; absent or null sets *present = 0 (an error if
 *        \p required).
 */
int api_get_string(struct api_req *req, json_t *body, const char *name,
                   int required, size_t max_chars, char *out, size_t cap,
                   int *present, enum MHD_Result *ret);

/** @brief Integer id field (1..2147483647); absent: *present = 0. */
int api_get_id(struct api_req *req, json_t *body, const char *name,
               int required, int64_t *out, int *present, enum MHD_Result *ret);

/** @returns the number of UTF-8 code points in \p s. */
size_t api_utf8_chars(const char *s);

#endif
