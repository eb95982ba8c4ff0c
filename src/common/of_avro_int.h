/*
 * of_avro_int: what of_avro.c, of_avro_check.c and of_avro_value.c share.
 * Not for other callers: they use of_avro.h.
 *
 * of_avro_check.c  the limits of each struct, and the bounded reader that
 *                  vouches for a datum before avro-c reads it;
 * of_avro_value.c  structs <-> avro-c generic values;
 * of_avro.c        handle, framing, the public encode/decode, enum names.
 */
#ifndef OF_AVRO_INT_H
#define OF_AVRO_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <avro.h>

#include "of_avro.h"

/* A sequence of steps that keeps its first error: once rc is set, later
 * steps do nothing, so a put, get or check reads as a list of fields. */
struct of_avro_ctx {
    int rc;
    struct of_err *err;
};

/** @brief Record OF_EINVAL 'invalid "<field>": <reason>' unless c failed. */
void of_avro_invalid(struct of_avro_ctx *c,
                     const char *field,
                     const char *reason);

/*
 * Limits (of_avro_check.c): \p obj is the struct of the schema's type.
 * @returns OF_OK, or OF_EINVAL naming the first field out of bounds.
 */
int of_avro_check_user_cmd(const void *obj, struct of_err *err);
int of_avro_check_order_cmd(const void *obj, struct of_err *err);
int of_avro_check_user_event(const void *obj, struct of_err *err);
int of_avro_check_order_event(const void *obj, struct of_err *err);

/**
 * @brief Walk the datum \p value[OF_AVRO_HEADER_SIZE..len) along \p schema
 *        without allocating: every varint, length, boolean, branch and enum
 *        index in bounds, and the datum ends exactly at \p len.
 * @param what the schema's full name, for messages.
 * @returns OF_OK, or OF_EINVAL with the byte offset in \p value.
 */
int of_avro_walk(avro_schema_t schema,
                 const void *value,
                 size_t len,
                 const char *what,
                 struct of_err *err);

/** @returns whether of_avro_walk() checks every type that \p schema uses. */
bool of_avro_walkable(avro_schema_t schema);

/*
 * Struct -> generic value (of_avro_value.c), after the struct's check; a
 * failure is OF_EFATAL (schema and code disagree) in c.
 */
void of_avro_put_user_cmd(struct of_avro_ctx *c,
                          avro_value_t *val,
                          const void *obj);
void of_avro_put_order_cmd(struct of_avro_ctx *c,
                           avro_value_t *val,
                           const void *obj);
void of_avro_put_user_event(struct of_avro_ctx *c,
                            avro_value_t *val,
                            const void *obj);
void of_avro_put_order_event(struct of_avro_ctx *c,
                             avro_value_t *val,
                             const void *obj);

/*
 * Generic value -> zeroed struct (of_avro_value.c), after of_avro_walk();
 * OF_EINVAL in c when a string does not fit its array or holds a NUL.
 */
void of_avro_get_user_cmd(struct of_avro_ctx *c, avro_value_t *val, void *obj);
void of_avro_get_order_cmd(struct of_avro_ctx *c, avro_value_t *val, void *obj);
void of_avro_get_user_event(struct of_avro_ctx *c,
                            avro_value_t *val,
                            void *obj);
void of_avro_get_order_event(struct of_avro_ctx *c,
                             avro_value_t *val,
                             void *obj);

#endif
