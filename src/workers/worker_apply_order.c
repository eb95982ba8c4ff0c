/*
 * worker_apply_order: CreateOrder, PayOrder, RefundOrder and CancelOrder
 * inside the frame of worker_apply.c.
 *
 * Every transition reads its order with FOR UPDATE: MariaDB's REPEATABLE
 * READ (innodb_snapshot_isolation off) would otherwise let a pay and a
 * cancel of one order both succeed from the same snapshot (a lost update).
 * A create takes a shared lock on its user, so a ban committing meanwhile
 * is ordered before or after it, never across.
 */
#include "worker_apply_int.h"

#include <string.h>

#include "of_money.h"

/* The only moves an order makes (CONTRACT §3). */
static const struct transition {
    enum of_order_cmd_type cmd;
    const char *verb;
    enum of_order_status from, to;
    enum of_order_event_type event;
} transitions[] = {
    {OF_PAY_ORDER, "pay", OF_ORDER_STATUS_PENDING, OF_ORDER_STATUS_PAID,
     OF_ORDER_PAID},
    {OF_REFUND_ORDER, "refund", OF_ORDER_STATUS_PAID, OF_ORDER_STATUS_REFUNDED,
     OF_ORDER_REFUNDED},
    {OF_CANCEL_ORDER, "cancel", OF_ORDER_STATUS_PENDING,
     OF_ORDER_STATUS_CANCELLED, OF_ORDER_CANCELLED},
};

static int
create_order(struct worker_apply *wa, const void *arg, struct of_err *err)
{
    const struct of_order_cmd *cmd = arg;
    struct worker_sql_row row;
    char amount[OF_MONEY_STR_SIZE];
    uint64_t id;
    int found, rc;

    rc = worker_sql_run(wa->db, WSQL_USER_SHARE,
                        (struct of_db_param[]){OF_DB_I(cmd->user_id)}, 1, &row,
                        NULL, err);
    if (rc != OF_OK)
        return rc;
    if (!row.found) {
        apply_reject(wa, "user_not_found", "user %lld does not exist",
                     (long long)cmd->user_id);
        return OF_OK;
    }
    if (!row.v[0] || strcmp(row.v[0], "0") != 0) {
        apply_reject(wa, "user_banned", "user %lld is banned",
                     (long long)cmd->user_id);
        return OF_OK;
    }
    /* DECIMAL(10,2) from its exact text: no float anywhere */
    of_money_format(cmd->total_amount, amount);
    rc = worker_sql_run(wa->db, WSQL_ORDER_INSERT,
                        (struct of_db_param[]){
                            OF_DB_I(cmd->user_id),
                            OF_DB_S(of_avro_order_type_name(cmd->order_type)),
                            OF_DB_S(amount)},
                        3, NULL, NULL, err);
    if (rc != OF_OK)
        return rc;
    id = worker_sql_insert_id(wa->db, WSQL_ORDER_INSERT);
    rc = apply_read_order(wa, WSQL_ORDER_GET, (int64_t)id, &found, err);
    if (rc != OF_OK)
        return rc;
    if (!found)
        return of_err_set(err, OF_EFATAL,
                          "order %llu is not there after its "
                          "insert",
                          (unsigned long long)id);
    wa->out->cmd.resource_id = (int64_t)id;
    return apply_order_event(wa, OF_ORDER_CREATED, err);
}

static int
move_order(struct worker_apply *wa, const void *arg, struct of_err *err)
{
    const struct of_order_cmd *cmd = arg;
    const struct transition *t = NULL;
    uint64_t affected = 0;
    int found, rc;

    for (size_t i = 0; i < sizeof(transitions) / sizeof(transitions[0]); i++) {
        if (transitions[i].cmd == cmd->type)
            t = &transitions[i];
    }
    if (!t)
        return of_err_set(err, OF_EINVAL, "unknown order command %d",
                          (int)cmd->type);
    wa->out->cmd.resource_id = cmd->order_id;
    rc = apply_read_order(wa, WSQL_ORDER_LOCK, cmd->order_id, &found, err);
    if (rc != OF_OK)
        return rc;
    if (!found) {
        apply_reject(wa, "order_not_found", "order %lld does not exist",
                     (long long)cmd->order_id);
        return OF_OK;
    }
    if (wa->out->order.order_status != t->from) {
        apply_reject(wa, "invalid_transition", "cannot %s order %lld: it is %s",
                     t->verb, (long long)cmd->order_id,
                     of_avro_order_status_name(wa->out->order.order_status));
        return OF_OK;
    }
    rc = worker_sql_run(
        wa->db, WSQL_ORDER_SET_STATUS,
        (struct of_db_param[]){OF_DB_S(of_avro_order_status_name(t->to)),
                               OF_DB_I(cmd->order_id)},
        2, NULL, &affected, err);
    if (rc != OF_OK)
        return rc;
    rc = apply_read_order(wa, WSQL_ORDER_GET, cmd->order_id, &found, err);
    if (rc != OF_OK)
        return rc;
    if (!found || affected != 1 || wa->out->order.order_status != t->to)
        return of_err_set(err, OF_EFATAL,
                          "order %lld changed under its row lock",
                          (long long)cmd->order_id);
    return apply_order_event(wa, t->event, err);
}

/* The content hash (worker_apply_int.h): the fields of the command type,
 * in the schema's order. */
static void hash_cmd(struct worker_apply *wa,
                     const struct of_order_cmd *cmd,
                     unsigned char out[32])
{
    char amount[OF_MONEY_STR_SIZE];

    apply_hash_begin(wa, "order", of_avro_order_cmd_type_name(cmd->type),
                     &cmd->actor);
    switch (cmd->type) {
    case OF_CREATE_ORDER:
        of_money_format(cmd->total_amount, amount);
        apply_hash_int(wa, "user_id", cmd->user_id);
        apply_hash_str(wa, "order_type",
                       of_avro_order_type_name(cmd->order_type));
        apply_hash_str(wa, "total_amount", amount);
        break;
    case OF_PAY_ORDER:
        apply_hash_int(wa, "order_id", cmd->order_id);
        apply_hash_opt(wa, "payment_ref", cmd->has_payment_ref,
                       cmd->payment_ref);
        break;
    case OF_REFUND_ORDER:
        apply_hash_int(wa, "order_id", cmd->order_id);
        apply_hash_opt(wa, "reason", cmd->has_reason, cmd->reason);
        break;
    default:
        apply_hash_int(wa, "order_id", cmd->order_id);
        break;
    }
    apply_hash_end(wa, out);
}

void apply_order_cmd_fields(struct worker_apply *wa,
                            const struct of_order_cmd *cmd,
                            unsigned char sha256[32],
                            struct apply_cmd *c)
{
    hash_cmd(wa, cmd, sha256);
    *c = (struct apply_cmd){
        .command_id = cmd->command_id,
        .command_type = of_avro_order_cmd_type_name(cmd->type),
        .resource_type = "order",
        .actor_id = cmd->actor.id,
        .trace_id = cmd->trace_id,
        .issued_at = cmd->issued_at,
        .sha256 = sha256,
    };
}

apply_fn apply_order_handler(const struct of_order_cmd *cmd)
{
    return cmd->type == OF_CREATE_ORDER ? create_order : move_order;
}

int worker_apply_order(struct worker_apply *wa,
                       const struct worker_msg *msg,
                       const struct of_order_cmd *cmd,
                       struct worker_outcome *out,
                       struct of_err *err)
{
    unsigned char sha256[32];
    struct apply_cmd c;

    apply_order_cmd_fields(wa, cmd, sha256, &c);
    return apply_run(wa, &c, apply_order_handler(cmd), cmd, msg, out, err);
}
