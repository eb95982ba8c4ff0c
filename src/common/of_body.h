/*
 * of_body: the request bodies of the contract's writes (CONTRACT §3) turned
 * into command payloads: POST /v1/users, POST /v1/orders and the order
 * actions pay, refund and cancel.
 *
 * Pure: a parsed JSON object in, a struct or one error out; no HTTP, no
 * principal, no I/O (the API adds who may do what, fuzz_command_validate
 * calls it directly). Every refusal is OF_EINVAL with a message that starts
 * with the field it is about, "<field>: <why>", which the API sends as a
 * 400 validation_failed. Fields outside a route's list are refused (no mass
 * assignment, TESTPLAN row 13). Strings are what jansson decoded, so valid
 * UTF-8; lengths count code points as the Avro limits (of_avro.h) do.
 */
#ifndef OF_BODY_H
#define OF_BODY_H

#include <jansson.h>

#include "of_avro.h"
#include "of_err.h"

/**
 * @brief POST /v1/users: email, username (required), avatar_url (optional
 *        http(s) URL). Fills the payload of \p cmd (type OF_REGISTER_USER).
 * @returns OF_OK, or OF_EINVAL with \p err naming the field.
 */
int of_body_register_user(json_t *body, struct of_user_cmd *cmd,
                          struct of_err *err);

/**
 * @brief POST /v1/orders: order_type, total_amount (a decimal string, see
 *        of_money.h) and user_id, required when \p user_id_required (a
 *        service or admin principal; a user orders for itself).
 * @param has_user_id set to 1 when the body named a user_id.
 * @returns OF_OK with the payload of \p cmd filled (type OF_CREATE_ORDER),
 *          or OF_EINVAL with \p err naming the field.
 */
int of_body_create_order(json_t *body, int user_id_required,
                         struct of_order_cmd *cmd, int *has_user_id,
                         struct of_err *err);

/**
 * @brief The body of the order action \p cmd->type: pay (optional
 *        payment_ref), refund (optional reason), cancel (empty object).
 * @returns OF_OK, or OF_EINVAL with \p err naming the field.
 */
int of_body_order_action(json_t *body, struct of_order_cmd *cmd,
                         struct of_err *err);

#endif
