/*
 * worker_apply_int: what worker_apply.c (the transaction frame, the
 * commands and outbox rows, snapshots) shares with the per-aggregate
 * handlers in worker_apply_user.c and worker_apply_order.c.
 *
 * A handler runs inside the transaction that apply_run() opened, after the
 * dedupe check. It decides applied or rejected, locks and changes its
 * aggregate, and writes the outbox event; it never writes the commands row
 * nor commits. Its snapshots land in wa->out (has_user / has_order).
 */
#ifndef WORKER_APPLY_INT_H
#define WORKER_APPLY_INT_H

#include "worker_apply.h"

/* The fields every command has, as the commands row stores them. */
struct apply_cmd {
    const char *command_id;
    const char *command_type;  /* "RegisterUser", "PayOrder", ... */
    const char *resource_type; /* "user" | "order" */
    const char *actor_id;
    const char *trace_id;
    int64_t issued_at;           /* micros */
    const unsigned char *sha256; /* 32 bytes: the content hash (below) */
};

/* commands.trace_id and outbox.trace_id are VARCHAR(128) (schemas/sql/003)
 * and a command's trace id has at most OF_TRACE_ID_MAX = 128 bytes, so the
 * columns keep all of it; the cut (before a UTF-8 continuation byte, so it
 * stays valid) only guards against the two limits drifting apart. */
#define TRACE_COL_MAX 128

#define APPLY_CMD_PARAMS    15 /* the ?s of a commands row */
#define APPLY_OUTBOX_PARAMS 8  /* the ?s of an outbox row */

/* A command's outbox event (each applied command has one at most). */
struct apply_event {
    int set;
    const char *aggtype, *type; /* static strings */
    char aggid[24];
    void *payload; /* malloc'd Avro */
    size_t len;
    char event_id[OF_UUID_SIZE];
    int64_t version;
};

/* The text a commands or outbox row's parameters point at. */
struct apply_row_text {
    char trace[TRACE_COL_MAX + 1];
    char accepted[WSQL_TIME_SIZE], completed[WSQL_TIME_SIZE];
};

struct apply_batch; /* worker_apply_batch.c */
void apply_batch_destroy(struct apply_batch *b);

/* Room for the canonical form of any command: every string fits its buffer
 * in struct of_user_cmd / of_order_cmd, plus a few bytes per field. */
#define APPLY_HASH_BUF 16384

struct worker_apply {
    struct worker_sql *db;      /* borrowed */
    const struct of_avro *avro; /* borrowed */
    /* the command being applied; valid during apply_run() */
    const struct apply_cmd *c;
    const struct worker_msg *msg;
    struct worker_outcome *out;
    int64_t now; /* completed_at of the command, occurred_at of its event */
    union {
        struct of_user_event user;
        struct of_order_event order;
    } ev;
    /* NULL: write the outbox row at once; else keep the event here for
     * the batch to write with the others (worker_apply_batch.c) */
    struct apply_event *defer;
    struct apply_batch *batch; /* the batch path's scratch, made on use */
    /* the canonical form being hashed (apply_hash_*) */
    unsigned char hbuf[APPLY_HASH_BUF];
    size_t hn;
};

typedef int (*apply_fn)(struct worker_apply *wa,
                        const void *cmd,
                        struct of_err *err);

/**
 * @brief The frame: BEGIN, dedupe check, \p fn, the commands row, COMMIT;
 *        a duplicate (found first, or racing us to the commands row) is
 *        read back instead. See worker_apply_user().
 */
int apply_run(struct worker_apply *wa,
              const struct apply_cmd *c,
              apply_fn fn,
              const void *cmd,
              const struct worker_msg *msg,
              struct worker_outcome *out,
              struct of_err *err);

/*
 * The content hash of a command, commands.payload_sha256: SHA-256 of a
 * canonical form, each item a length-prefixed name and a length-prefixed
 * value (lengths 8 bytes little-endian). begin() puts the resource type,
 * the command type and the actor; then the type's own fields, in schema
 * order; end() writes the 32 bytes. Not in it: command_id (the row's key),
 * issued_at and trace_id, which an API retry of the same Idempotency-Key
 * sets anew for the same request.
 */
void apply_hash_begin(struct worker_apply *wa,
                      const char *resource_type,
                      const char *command_type,
                      const struct of_actor *actor);
void apply_hash_str(struct worker_apply *wa, const char *name, const char *v);
/** @brief An optional string: \p has 0 hashes as null, unlike "". */
void apply_hash_opt(struct worker_apply *wa,
                    const char *name,
                    int has,
                    const char *v);
void apply_hash_int(struct worker_apply *wa, const char *name, int64_t v);
void apply_hash_end(struct worker_apply *wa, unsigned char out[32]);

/** @brief Make the outcome a rejection with \p code and a message. */
void apply_reject(struct worker_apply *wa,
                  const char *code,
                  const char *fmt,
                  ...) __attribute__((format(printf, 3, 4)));

/**
 * @brief Read user \p id with statement \p how (WSQL_USER_GET, or
 *        WSQL_USER_LOCK to lock it) into wa->out->user and user_version.
 * @param found 0 if there is no such user (out->has_user is then 0).
 */
int apply_read_user(struct worker_apply *wa,
                    enum worker_sql_id how,
                    int64_t id,
                    int *found,
                    struct of_err *err);
/** @brief The same for orders: WSQL_ORDER_GET or WSQL_ORDER_LOCK. */
int apply_read_order(struct worker_apply *wa,
                     enum worker_sql_id how,
                     int64_t id,
                     int *found,
                     struct of_err *err);

/** @brief The parameters of \p c's commands row (WSQL_CMD_INSERT). */
void apply_command_params(const struct apply_cmd *c,
                          const struct worker_outcome *out,
                          const struct worker_msg *msg,
                          struct apply_row_text *t,
                          struct of_db_param p[APPLY_CMD_PARAMS]);
/** @brief The parameters of event \p ev's outbox row (WSQL_OUTBOX_INSERT). */
void apply_outbox_params(const struct apply_cmd *c,
                         const struct apply_event *ev,
                         struct apply_row_text *t,
                         struct of_db_param p[APPLY_OUTBOX_PARAMS]);

/** @brief wa->out for wa->c: applied, as of wa->now, nothing else known. */
void apply_outcome_init(struct worker_apply *wa);

/**
 * @brief The dedupe lookup of wa->c: *found is set if the command was
 *        applied (or rejected) before, and wa->out then says how, with its
 *        resource's snapshot as MySQL holds it now.
 */
int apply_find_done(struct worker_apply *wa, int *found, struct of_err *err);

/** @brief An orders row (WSQL_ORDER_GET's columns) as a snapshot. */
int apply_order_from_row(const struct worker_sql_row *row,
                         struct of_order *o,
                         int64_t *version);

/**
 * @brief The content hash and the commands-row fields of a command.
 * @param sha256 receives the hash; \p c points into it and into \p cmd.
 */
void apply_user_cmd_fields(struct worker_apply *wa,
                           const struct of_user_cmd *cmd,
                           unsigned char sha256[32],
                           struct apply_cmd *c);
void apply_order_cmd_fields(struct worker_apply *wa,
                            const struct of_order_cmd *cmd,
                            unsigned char sha256[32],
                            struct apply_cmd *c);

/** @returns the handler of a command (runs inside the frame). */
apply_fn apply_user_handler(const struct of_user_cmd *cmd);
apply_fn apply_order_handler(const struct of_order_cmd *cmd);

/**
 * @brief Write event \p type of the snapshot in wa->out (its version is the
 *        aggregate's version) to the outbox.
 */
int apply_user_event(struct worker_apply *wa,
                     enum of_user_event_type type,
                     struct of_err *err);
int apply_order_event(struct worker_apply *wa,
                      enum of_order_event_type type,
                      struct of_err *err);

#endif
