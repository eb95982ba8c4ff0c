/*
 * worker_apply_user: RegisterUser, BanUser and UnbanUser inside the frame
 * of worker_apply.c.
 *
 * Ban of a banned user and unban of an unbanned one are applied as no-ops:
 * the commands are "set the ban state", already true, so the command is
 * recorded `applied` with no new version and no event. Rejecting them
 * would make a retried or concurrent admin action look like a failure, and
 * bumping the version would publish an event for a change that did not
 * happen.
 */
#include "worker_apply_int.h"

#include <mysqld_error.h>

static int
register_user(struct worker_apply *wa, const void *arg, struct of_err *err)
{
    const struct of_user_cmd *cmd = arg;
    struct worker_sql_row row;
    uint64_t id;
    int found, rc;

    /* FOR UPDATE on a missing key takes a gap lock: two registrations of
     * one email serialise (one of them gets a deadlock and is retried). */
    rc = worker_sql_run(wa->db, WSQL_USER_EMAIL_LOCK,
                        (struct of_db_param[]){OF_DB_S(cmd->email)}, 1, &row,
                        NULL, err);
    if (rc != OF_OK)
        return rc;
    if (row.found)
        goto taken;
    rc = worker_sql_run(
        wa->db, WSQL_USER_INSERT,
        (struct of_db_param[]){OF_DB_S(cmd->email), OF_DB_S(cmd->username),
                               cmd->has_avatar_url ? OF_DB_S(cmd->avatar_url)
                                                   : OF_DB_NULLP},
        3, NULL, NULL, err);
    /* users_email caught a registration the gap lock did not (a server
     * running READ COMMITTED takes none); only the statement failed, the
     * transaction goes on */
    if (rc == OF_EINVAL && worker_sql_errno(wa->db) == ER_DUP_ENTRY)
        goto taken;
    if (rc != OF_OK)
        return rc;
    id = worker_sql_insert_id(wa->db, WSQL_USER_INSERT);
    rc = apply_read_user(wa, WSQL_USER_GET, (int64_t)id, &found, err);
    if (rc != OF_OK)
        return rc;
    if (!found)
        return of_err_set(err, OF_EFATAL,
                          "user %llu is not there after "
                          "its insert",
                          (unsigned long long)id);
    wa->out->cmd.resource_id = (int64_t)id;
    return apply_user_event(wa, OF_USER_REGISTERED, err);
taken:
    /* the message leaves the address out: it may be 1020 bytes long */
    apply_reject(wa, "email_taken", "the email address is already registered");
    return OF_OK;
}

static int
set_banned(struct worker_apply *wa, const void *arg, struct of_err *err)
{
    const struct of_user_cmd *cmd = arg;
    int ban = cmd->type == OF_BAN_USER, found, rc;
    uint64_t affected = 0;

    wa->out->cmd.resource_id = cmd->user_id;
    rc = apply_read_user(wa, WSQL_USER_LOCK, cmd->user_id, &found, err);
    if (rc != OF_OK)
        return rc;
    if (!found) {
        apply_reject(wa, "user_not_found", "user %lld does not exist",
                     (long long)cmd->user_id);
        return OF_OK;
    }
    if (wa->out->user.is_banned == ban)
        return OF_OK; /* already so: applied, no version, no event (above) */
    rc = worker_sql_run(
        wa->db, WSQL_USER_SET_BANNED,
        (struct of_db_param[]){OF_DB_I(ban), OF_DB_I(cmd->user_id)}, 2, NULL,
        &affected, err);
    if (rc != OF_OK)
        return rc;
    rc = apply_read_user(wa, WSQL_USER_GET, cmd->user_id, &found, err);
    if (rc != OF_OK)
        return rc;
    if (!found || affected != 1)
        return of_err_set(err, OF_EFATAL,
                          "user %lld changed under its row lock",
                          (long long)cmd->user_id);
    return apply_user_event(wa, ban ? OF_USER_BANNED : OF_USER_UNBANNED, err);
}

/* The content hash (worker_apply_int.h): the fields of the command type,
 * in the schema's order. */
static void hash_cmd(struct worker_apply *wa,
                     const struct of_user_cmd *cmd,
                     unsigned char out[32])
{
    apply_hash_begin(wa, "user", of_avro_user_cmd_type_name(cmd->type),
                     &cmd->actor);
    if (cmd->type == OF_REGISTER_USER) {
        apply_hash_str(wa, "email", cmd->email);
        apply_hash_str(wa, "username", cmd->username);
        apply_hash_opt(wa, "avatar_url", cmd->has_avatar_url,
                       cmd->avatar_url);
    } else {
        apply_hash_int(wa, "user_id", cmd->user_id);
    }
    apply_hash_end(wa, out);
}

void apply_user_cmd_fields(struct worker_apply *wa,
                           const struct of_user_cmd *cmd,
                           unsigned char sha256[32],
                           struct apply_cmd *c)
{
    hash_cmd(wa, cmd, sha256);
    *c = (struct apply_cmd){
        .command_id = cmd->command_id,
        .command_type = of_avro_user_cmd_type_name(cmd->type),
        .resource_type = "user",
        .actor_id = cmd->actor.id,
        .trace_id = cmd->trace_id,
        .issued_at = cmd->issued_at,
        .sha256 = sha256,
    };
}

apply_fn apply_user_handler(const struct of_user_cmd *cmd)
{
    return cmd->type == OF_REGISTER_USER ? register_user : set_banned;
}

int worker_apply_user(struct worker_apply *wa,
                      const struct worker_msg *msg,
                      const struct of_user_cmd *cmd,
                      struct worker_outcome *out,
                      struct of_err *err)
{
    unsigned char sha256[32];
    struct apply_cmd c;

    apply_user_cmd_fields(wa, cmd, sha256, &c);
    return apply_run(wa, &c, apply_user_handler(cmd), cmd, msg, out, err);
}
