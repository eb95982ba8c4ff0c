/*
 * worker_apply_batch: a polled batch of commands in one MySQL transaction
 * (see worker_apply.h). Durable commits cost a log flush each, and every
 * statement a round trip: one command at a time, the worker applied ~1,100
 * CreateOrders/s on a machine where MySQL takes ~30,000/s in multi-row
 * INSERTs (issue 6). Here a batch costs, whatever its size n:
 *
 *   BEGIN; one dedupe SELECT ... IN; per run of CreateOrders: one share
 *   lock SELECT of their users, then per INSERT chunk (up to 16 rows, or
 *   32, 64 ... 512: worker_sql_many_chunk) the orders INSERT and a read
 *   back of the rows it made; the outbox and commands rows in chunks;
 *   COMMIT
 *
 * plus, per other command (pay, refund, cancel, any user command), the
 * statements of its handler, the same code as one at a time. Its outbox
 * and commands rows join the batch's multi-row INSERTs.
 *
 * Order: commands are applied in the batch's order, so a command sees the
 * effect of every earlier one. A run of consecutive CreateOrders is done
 * together: creates do not see each other (each reads its user's ban flag
 * and makes a new order), so together is the same as one by one, and
 * their order ids are given in the run's order.
 *
 * Order ids: a multi-row INSERT reports its first AUTO_INCREMENT id. The
 * ids are consecutive with innodb_autoinc_lock_mode 0 or 1 (MariaDB's
 * default); with 2 (MySQL 8's default) and another writer they may not be.
 * So the rows are read back by id range and matched against what was
 * inserted, and any mismatch abandons the batch to the one-by-one path.
 *
 * Anything unusual abandons the batch: the transaction is rolled back and
 * the caller applies the same commands one at a time (worker_apply_user,
 * worker_apply_order), whose per-command outcomes are the reference.
 */
#include "worker_apply_int.h"

#include <stdlib.h>
#include <string.h>

#include "of_money.h"

struct slot {
    struct apply_cmd c;
    unsigned char sha256[32];
    int dup; /* its commands row exists already */
    struct apply_event ev;
    char amount[OF_MONEY_STR_SIZE]; /* a create's total_amount as text */
};

struct user_flag {
    int64_t id;
    int found, banned;
};

struct apply_batch {
    int cap;
    struct slot *slots;
    struct of_db_param *params;  /* cap rows of up to APPLY_CMD_PARAMS */
    struct apply_row_text *text; /* cap rows */
    int *idx;                    /* the creates of a run that go ahead */
    struct user_flag *users;     /* the distinct users of a run */
    int nusers;
    int *table; /* command id hash -> slot index + 1; 2 * cap, a power of 2 */
    int tsize;
};

static void batch_free(struct apply_batch *b)
{
    if (!b)
        return;
    free(b->slots);
    free(b->params);
    free(b->text);
    free(b->idx);
    free(b->users);
    free(b->table);
    free(b);
}

void apply_batch_destroy(struct apply_batch *b)
{
    batch_free(b);
}

/* wa->batch with room for \p n commands. */
static struct apply_batch *batch_get(struct worker_apply *wa, int n)
{
    struct apply_batch *b = wa->batch;
    size_t cap;

    if (b && b->cap >= n)
        return b;
    batch_free(b);
    wa->batch = b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    cap = (size_t)n;
    b->tsize = 16;
    while ((size_t)b->tsize < 2 * cap)
        b->tsize *= 2;
    b->slots = calloc(cap, sizeof(*b->slots));
    b->params = calloc(cap * APPLY_CMD_PARAMS, sizeof(*b->params));
    b->text = calloc(cap, sizeof(*b->text));
    b->idx = calloc(cap, sizeof(*b->idx));
    b->users = calloc(cap, sizeof(*b->users));
    b->table = calloc((size_t)b->tsize, sizeof(*b->table));
    if (!b->slots || !b->params || !b->text || !b->idx || !b->users ||
        !b->table) {
        batch_free(b);
        wa->batch = NULL;
        return NULL;
    }
    b->cap = n;
    return b;
}

int worker_apply_reserve(struct worker_apply *wa, int n)
{
    struct apply_batch *b = batch_get(wa, n);

    if (!b)
        return OF_EFATAL;
    /* touched now, so that the resident size is what it will be under
     * full batches (a soak test sees no growth later) */
    explicit_bzero(b->slots, (size_t)n * sizeof(*b->slots));
    explicit_bzero(b->params,
                   (size_t)n * APPLY_CMD_PARAMS * sizeof(*b->params));
    explicit_bzero(b->text, (size_t)n * sizeof(*b->text));
    return OF_OK;
}

/* ---- command ids: the repeat check and the dedupe lookup's matching ---- */

static size_t id_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)h;
}

/* The slot of command id \p id, or -1. */
static int slot_of(const struct apply_batch *b, const char *id)
{
    size_t mask = (size_t)b->tsize - 1;

    for (size_t h = id_hash(id) & mask; b->table[h]; h = (h + 1) & mask) {
        int i = b->table[h] - 1;
        if (strcmp(b->slots[i].c.command_id, id) == 0)
            return i;
    }
    return -1;
}

/* Fills the table; 0 if a command id comes twice. */
static int index_ids(struct apply_batch *b, int n)
{
    size_t mask = (size_t)b->tsize - 1;

    memset(b->table, 0, (size_t)b->tsize * sizeof(*b->table));
    for (int i = 0; i < n; i++) {
        const char *id = b->slots[i].c.command_id;
        size_t h = id_hash(id) & mask;
        for (; b->table[h]; h = (h + 1) & mask) {
            if (strcmp(b->slots[b->table[h] - 1].c.command_id, id) == 0)
                return 0;
        }
        b->table[h] = i + 1;
    }
    return 1;
}

static void mark_dup(void *arg, const struct worker_sql_row *row)
{
    struct apply_batch *b = arg;
    int i = row->v[0] ? slot_of(b, row->v[0]) : -1;

    if (i >= 0)
        b->slots[i].dup = 1;
}

static int find_dups(struct worker_apply *wa, int n, struct of_err *err)
{
    struct apply_batch *b = wa->batch;
    int rc = OF_OK;

    for (int i = 0; i < n; i++)
        b->params[i] = OF_DB_S(b->slots[i].c.command_id);
    for (int i = 0; rc == OF_OK && i < n; i += WSQL_MANY_MAX) {
        int rows = n - i < WSQL_MANY_MAX ? n - i : WSQL_MANY_MAX;
        rc = worker_sql_run_many(wa->db, WSQL_MANY_CMD_FIND, rows,
                                 b->params + i, mark_dup, b, NULL, err);
    }
    return rc;
}

/* ---- one command in the batch's transaction ---- */

/* Points wa at command \p i (its outcome reset if \p init). */
static void enter(struct worker_apply *wa,
                  const struct worker_batch_cmd *cmd,
                  struct slot *s,
                  int init)
{
    wa->c = &s->c;
    wa->msg = &cmd->msg;
    wa->out = cmd->out;
    wa->defer = &s->ev;
    if (init)
        apply_outcome_init(wa);
}

static int read_dup(struct worker_apply *wa,
                    const struct worker_batch_cmd *cmd,
                    struct slot *s,
                    struct of_err *err)
{
    int found = 0, rc;

    enter(wa, cmd, s, 1);
    rc = apply_find_done(wa, &found, err);
    if (rc == OF_OK && !found)
        rc = of_err_set(err, OF_EAGAIN,
                        "command %s was in the commands table, then not",
                        s->c.command_id);
    return rc;
}

static int apply_one(struct worker_apply *wa,
                     const struct worker_batch_cmd *cmd,
                     struct slot *s,
                     struct of_err *err)
{
    enter(wa, cmd, s, 1);
    if (cmd->is_user)
        return apply_user_handler(cmd->user)(wa, cmd->user, err);
    return apply_order_handler(cmd->order)(wa, cmd->order, err);
}

/* ---- a run of CreateOrders ---- */

static struct user_flag *user_flag(struct apply_batch *b, int64_t id)
{
    for (int k = 0; k < b->nusers; k++) {
        if (b->users[k].id == id)
            return &b->users[k];
    }
    return NULL;
}

static void mark_user(void *arg, const struct worker_sql_row *row)
{
    struct apply_batch *b = arg;
    struct user_flag *u =
        row->v[0] ? user_flag(b, strtoll(row->v[0], NULL, 10)) : NULL;

    if (u) {
        u->found = 1;
        u->banned = !row->v[1] || strcmp(row->v[1], "0") != 0;
    }
}

/* Share-locks the users of creates [from, to), as create_order() does one
 * at a time, and reads their ban flags. */
static int lock_users(struct worker_apply *wa,
                      const struct worker_batch_cmd *cmds,
                      int from,
                      int to,
                      struct of_err *err)
{
    struct apply_batch *b = wa->batch;
    int rc = OF_OK;

    b->nusers = 0;
    for (int i = from; i < to; i++) {
        int64_t id = cmds[i].order->user_id;
        if (!user_flag(b, id)) {
            b->users[b->nusers] = (struct user_flag){.id = id};
            b->params[b->nusers++] = OF_DB_I(id);
        }
    }
    for (int k = 0; rc == OF_OK && k < b->nusers; k += WSQL_MANY_MAX) {
        int rows = b->nusers - k < WSQL_MANY_MAX ? b->nusers - k
                                                 : WSQL_MANY_MAX;
        rc = worker_sql_run_many(wa->db, WSQL_MANY_USER_SHARE, rows,
                                 b->params + k, mark_user, b, NULL, err);
    }
    return rc;
}

/* The read back of one orders INSERT chunk. */
struct readback {
    const struct worker_batch_cmd *cmds;
    const int *idx; /* the chunk's commands */
    int rows, seen, bad;
    uint64_t first;
};

static void match_order(void *arg, const struct worker_sql_row *row)
{
    struct readback *rb = arg;
    const struct of_order_cmd *cmd;
    struct worker_outcome *out;
    struct of_order o;
    int64_t version;
    int j = rb->seen++;

    if (j >= rb->rows || apply_order_from_row(row, &o, &version) != OF_OK) {
        rb->bad = 1;
        return;
    }
    cmd = rb->cmds[rb->idx[j]].order;
    if ((uint64_t)o.order_id != rb->first + (uint64_t)j ||
        o.user_id != cmd->user_id || o.order_type != cmd->order_type ||
        o.total_amount != cmd->total_amount ||
        o.order_status != OF_ORDER_STATUS_PENDING || version != 1) {
        rb->bad = 1;
        return;
    }
    out = rb->cmds[rb->idx[j]].out;
    out->order = o;
    out->order_version = version;
    out->has_order = 1;
    out->cmd.resource_id = o.order_id;
}

/* Inserts the orders of the \p m creates b->idx[0..m) in chunks, each
 * read back. */
static int insert_orders(struct worker_apply *wa,
                         const struct worker_batch_cmd *cmds,
                         int m,
                         struct of_err *err)
{
    struct apply_batch *b = wa->batch;
    int rc = OF_OK;

    for (int k = 0, r; rc == OF_OK && k < m; k += r) {
        struct readback rb = {.cmds = cmds, .idx = b->idx + k};
        r = worker_sql_many_chunk(m - k);
        for (int j = 0; j < r; j++) {
            int i = b->idx[k + j];
            const struct of_order_cmd *cmd = cmds[i].order;
            b->params[3 * j] = OF_DB_I(cmd->user_id);
            b->params[3 * j + 1] =
                OF_DB_S(of_avro_order_type_name(cmd->order_type));
            b->params[3 * j + 2] = OF_DB_S(b->slots[i].amount);
        }
        rc = worker_sql_run_many(wa->db, WSQL_MANY_ORDER_INSERT, r, b->params,
                                 NULL, NULL, &rb.first, err);
        if (rc != OF_OK)
            break;
        rb.rows = r;
        const struct of_db_param range[] = {
            OF_DB_I((long long)rb.first),
            OF_DB_I((long long)(rb.first + (uint64_t)r - 1))};
        rc = worker_sql_run_each(wa->db, WSQL_ORDER_RANGE, range, 2,
                                 match_order, &rb, err);
        if (rc == OF_OK && (rb.bad || rb.seen != r))
            rc = of_err_set(err, OF_EAGAIN,
                            "the %d orders of a multi-row INSERT did not "
                            "get consecutive ids from %llu",
                            r, (unsigned long long)rb.first);
    }
    return rc;
}

static int create_run(struct worker_apply *wa,
                      const struct worker_batch_cmd *cmds,
                      int from,
                      int to,
                      struct of_err *err)
{
    struct apply_batch *b = wa->batch;
    int m = 0, rc = lock_users(wa, cmds, from, to, err);

    for (int i = from; rc == OF_OK && i < to; i++) {
        const struct of_order_cmd *cmd = cmds[i].order;
        const struct user_flag *u = user_flag(b, cmd->user_id);

        enter(wa, &cmds[i], &b->slots[i], 1);
        /* the same rejections as create_order() */
        if (!u->found) {
            apply_reject(wa, "user_not_found", "user %lld does not exist",
                         (long long)cmd->user_id);
        } else if (u->banned) {
            apply_reject(wa, "user_banned", "user %lld is banned",
                         (long long)cmd->user_id);
        } else {
            of_money_format(cmd->total_amount, b->slots[i].amount);
            b->idx[m++] = i;
        }
    }
    if (rc == OF_OK)
        rc = insert_orders(wa, cmds, m, err);
    for (int k = 0; rc == OF_OK && k < m; k++) {
        int i = b->idx[k];
        enter(wa, &cmds[i], &b->slots[i], 0);
        rc = apply_order_event(wa, OF_ORDER_CREATED, err);
    }
    return rc;
}

/* ---- the rows written together ---- */

static int insert_rows(struct worker_apply *wa,
                       enum worker_sql_many_id id,
                       int per_row,
                       int m,
                       struct of_err *err)
{
    const struct of_db_param *p = wa->batch->params;
    int rc = OF_OK;

    for (int k = 0, r; rc == OF_OK && k < m; k += r) {
        r = worker_sql_many_chunk(m - k);
        rc = worker_sql_run_many(wa->db, id, r, p + (size_t)k * per_row, NULL,
                                 NULL, NULL, err);
    }
    return rc;
}

static int write_rows(struct worker_apply *wa,
                      const struct worker_batch_cmd *cmds,
                      int n,
                      struct of_err *err)
{
    struct apply_batch *b = wa->batch;
    int m = 0, rc;

    /* in the batch's order: the relay publishes by outbox id */
    for (int i = 0; i < n; i++) {
        const struct slot *s = &b->slots[i];
        if (!s->ev.set)
            continue;
        apply_outbox_params(&s->c, &s->ev, &b->text[m],
                            b->params + (size_t)m * APPLY_OUTBOX_PARAMS);
        m++;
    }
    rc = insert_rows(wa, WSQL_MANY_OUTBOX_INSERT, APPLY_OUTBOX_PARAMS, m, err);
    if (rc != OF_OK)
        return rc;
    m = 0;
    for (int i = 0; i < n; i++) {
        const struct slot *s = &b->slots[i];
        if (s->dup)
            continue;
        apply_command_params(&s->c, cmds[i].out, &cmds[i].msg, &b->text[m],
                             b->params + (size_t)m * APPLY_CMD_PARAMS);
        m++;
    }
    return insert_rows(wa, WSQL_MANY_CMD_INSERT, APPLY_CMD_PARAMS, m, err);
}

/* ---- the batch ---- */

static int is_create(const struct worker_batch_cmd *cmd)
{
    return !cmd->is_user && cmd->order->type == OF_CREATE_ORDER;
}

static int run(struct worker_apply *wa,
               const struct worker_batch_cmd *cmds,
               int n,
               struct of_err *err)
{
    struct apply_batch *b = wa->batch;
    int rc = find_dups(wa, n, err);

    for (int i = 0; rc == OF_OK && i < n;) {
        struct slot *s = &b->slots[i];
        int j = i;

        if (s->dup) {
            rc = read_dup(wa, &cmds[i], s, err);
            i++;
        } else if (is_create(&cmds[i])) {
            while (j < n && !b->slots[j].dup && is_create(&cmds[j]))
                j++;
            rc = create_run(wa, cmds, i, j, err);
            i = j;
        } else {
            rc = apply_one(wa, &cmds[i], s, err);
            i++;
        }
    }
    if (rc == OF_OK)
        rc = write_rows(wa, cmds, n, err);
    return rc;
}

int worker_apply_batch(struct worker_apply *wa,
                       const struct worker_batch_cmd *cmds,
                       int n,
                       struct of_err *err)
{
    struct apply_batch *b = batch_get(wa, n);
    int rc;

    if (!b)
        return of_err_set(err, OF_EAGAIN, "out of memory for a batch of %d",
                          n);
    wa->now = of_time_now_us();
    for (int i = 0; i < n; i++) {
        struct slot *s = &b->slots[i];
        memset(&s->ev, 0, sizeof(s->ev));
        s->dup = 0;
        if (cmds[i].is_user)
            apply_user_cmd_fields(wa, cmds[i].user, s->sha256, &s->c);
        else
            apply_order_cmd_fields(wa, cmds[i].order, s->sha256, &s->c);
    }
    if (!index_ids(b, n))
        return of_err_set(err, OF_EAGAIN,
                          "a command id comes twice in the batch");
    rc = worker_sql_begin(wa->db, err);
    if (rc == OF_OK)
        rc = run(wa, cmds, n, err);
    if (rc == OF_OK)
        rc = worker_sql_commit(wa->db, err);
    if (rc != OF_OK)
        worker_sql_rollback(wa->db);
    for (int i = 0; i < n; i++)
        free(b->slots[i].ev.payload);
    wa->defer = NULL;
    return rc;
}
