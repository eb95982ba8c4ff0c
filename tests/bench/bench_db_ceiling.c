/*
 * bench_db_ceiling N [BATCH]: the DB ceiling of the benchmark (issue 6,
 * item 5). Inserts N times the rows the command worker writes for one
 * CreateOrder -- the orders row, the commands dedupe row and the outbox row
 * with an encoded OrderCreated payload -- from a tight loop: multi-row
 * INSERTs of BATCH rows (default 500) per table, one transaction per batch,
 * statements prepared once. Settings come from the usual config and
 * ORDERFLOW_* environment.
 *
 * The server must be durable (innodb_flush_log_at_trx_commit=1): it is read
 * and printed, and anything else is an error, since the figure would then
 * not be a ceiling for the worker. The orders belong to a user made first
 * (orders.user_id has a foreign key). At the end the rows are counted and
 * joined back, so a figure is only printed for rows that are really there.
 *
 * Prints "key=value" lines, the last one
 *   db_batched_ceiling_rps=R   CreateOrders (row triples) per second
 *
 * Setup and checks go through of_db; the loop keeps its own MYSQL_STMTs
 * (bound with of_db_fill_binds, as the worker's worker_sql.c does), because
 * of_db_exec() prepares per call and binds at most 32 parameters, and a
 * 500-row commands INSERT has 7,500.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>

#include "of_avro.h"
#include "of_cli.h"
#include "of_db.h"
#include "of_db_bind.h"
#include "of_model.h"
#include "of_money.h"
#include "of_uuid.h"

/* 15 placeholders a commands row; a statement takes at most 65,535 */
#define MAX_BATCH 4000

enum table { T_ORDERS, T_OUTBOX, T_COMMANDS, T_COUNT };

/* The worker's statements (src/workers/worker_sql.c), as multi-row forms. */
static const struct {
    const char *name, *head, *tuple;
    int nparams; /* per row */
} tables[T_COUNT] = {
    [T_ORDERS] = {"orders",
                  "INSERT INTO orders (user_id, order_type, order_status, "
                  "total_amount, version) VALUES ",
                  "(?, ?, 'pending', ?, 1)", 3},
    [T_OUTBOX] = {"outbox",
                  "INSERT INTO outbox (aggregatetype, aggregateid, type, "
                  "payload, event_id, version, command_id, trace_id) VALUES ",
                  "(?, ?, ?, ?, ?, ?, ?, ?)", 8},
    [T_COMMANDS] = {"commands",
                    "INSERT INTO commands (command_id, command_type, status, "
                    "resource_type, resource_id, error_code, error_message, "
                    "actor_id, trace_id, accepted_at, completed_at, "
                    "kafka_topic, kafka_partition, kafka_offset, "
                    "payload_sha256) VALUES ",
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", 15},
};

/* What one CreateOrder writes, kept until its batch has executed (the
 * binds point into it). */
struct row {
    char command_id[OF_UUID_STR], event_id[OF_UUID_STR];
    char aggid[24], amount[OF_MONEY_STR_SIZE];
    unsigned char sha256[32];
    int64_t order_id, cents;
    enum of_order_type type;
    void *payload; /* the encoded OrderCreated, ours */
    size_t len;
};

struct bench {
    const struct of_config *cfg; /* borrowed */
    const struct of_avro *avro;  /* borrowed */
    MYSQL *conn;
    MYSQL_STMT *stmt[2][T_COUNT]; /* [0]: full batches, [1]: the rest */
    int rows_of[2];
    struct of_db_param *params; /* 15 * batch */
    MYSQL_BIND *bind;
    unsigned long *lens;
    struct row *rows;
    int64_t user_id, offset;
    char actor[32], trace[33], topic[200];
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail_conn(struct bench *b, const char *what)
{
    fprintf(stderr, "bench_db_ceiling: could not %s: %s (%u)\n", what,
            mysql_error(b->conn), mysql_errno(b->conn));
    return -1;
}

static int fail_stmt(MYSQL_STMT *stmt, const char *what, enum table t)
{
    fprintf(stderr, "bench_db_ceiling: could not %s the %s insert: %s\n", what,
            tables[t].name, mysql_stmt_error(stmt));
    return -1;
}

/* A connection set up as the worker's (worker_sql.c setup_session). */
static int connect_raw(struct bench *b)
{
    const struct of_config *cfg = b->cfg;
    my_bool off = 0;

    b->conn = mysql_init(NULL);
    if (!b->conn)
        return -1;
    mysql_options(b->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_options(b->conn, MYSQL_OPT_RECONNECT, &off);
    if (!mysql_real_connect(b->conn, cfg->mysql.host, cfg->mysql.user,
                            cfg->mysql.password, cfg->mysql.database,
                            (unsigned int)cfg->mysql.port, NULL, 0))
        return fail_conn(b, "connect to MySQL");
    /* clang-format off */
    if (mysql_query(b->conn, "SET SESSION time_zone = '+00:00', "
        "sql_mode = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,"
        "NO_ENGINE_SUBSTITUTION'"))
        return fail_conn(b, "set up the session");
    /* clang-format on */
    return 0;
}

/* Prepares "head tuple, tuple, ..." (\p rows tuples): text from the
 * literals above only, never from input. */
static MYSQL_STMT *prepare_multi(struct bench *b, enum table t, int rows)
{
    size_t hl = strlen(tables[t].head), tl = strlen(tables[t].tuple);
    char *sql = malloc(hl + (size_t)rows * (tl + 2) + 1), *p = sql;
    MYSQL_STMT *stmt = mysql_stmt_init(b->conn);

    if (!sql || !stmt)
        goto fail;
    memcpy(p, tables[t].head, hl);
    p += hl;
    for (int i = 0; i < rows; i++) {
        if (i > 0) {
            memcpy(p, ", ", 2);
            p += 2;
        }
        memcpy(p, tables[t].tuple, tl);
        p += tl;
    }
    *p = '\0';
    if (mysql_stmt_prepare(stmt, sql, (unsigned long)(p - sql))) {
        fail_stmt(stmt, "prepare", t);
        goto fail;
    }
    free(sql);
    return stmt;
fail:
    free(sql);
    if (stmt)
        mysql_stmt_close(stmt);
    return NULL;
}

static int exec_stmt(struct bench *b, MYSQL_STMT *stmt, enum table t, int n)
{
    int np = n * tables[t].nparams;

    of_db_fill_binds(b->bind, b->lens, b->params, np);
    if (mysql_stmt_bind_param(stmt, b->bind))
        return fail_stmt(stmt, "bind", t);
    if (mysql_stmt_execute(stmt))
        return fail_stmt(stmt, "execute", t);
    return 0;
}

/* The OrderCreated event of row \p r, as apply_order_event() makes it. */
static int encode_event(struct bench *b, struct row *r, int64_t now)
{
    struct of_order_event ev;
    struct of_err err;

    memset(&ev, 0, sizeof(ev));
    memcpy(ev.event_id, r->event_id, sizeof(ev.event_id));
    memcpy(ev.command_id, r->command_id, sizeof(ev.command_id));
    snprintf(ev.trace_id, sizeof(ev.trace_id), "%s", b->trace);
    ev.occurred_at = now;
    ev.version = 1;
    ev.type = OF_ORDER_CREATED;
    ev.order.order_id = r->order_id;
    ev.order.user_id = b->user_id;
    ev.order.order_type = r->type;
    ev.order.order_status = OF_ORDER_STATUS_PENDING;
    ev.order.total_amount = r->cents;
    ev.order.created_at = ev.order.updated_at = now;
    if (of_avro_encode_order_event(b->avro, &ev, &r->payload, &r->len, &err)) {
        fprintf(stderr, "bench_db_ceiling: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static void sql_time(int64_t micros, char out[32])
{
    time_t sec = (time_t)(micros / 1000000);
    struct tm tm;
    size_t n;

    gmtime_r(&sec, &tm);
    n = strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%06d", (int)(micros % 1000000));
}

static void fill_commands(struct bench *b,
                          int n,
                          const char *accepted,
                          const char *completed)
{
    struct of_db_param *p = b->params;

    for (int i = 0; i < n; i++) {
        const struct row *r = &b->rows[i];
        *p++ = OF_DB_S(r->command_id);
        *p++ = OF_DB_S("CreateOrder");
        *p++ = OF_DB_S("applied");
        *p++ = OF_DB_S("order");
        *p++ = OF_DB_I(r->order_id);
        *p++ = OF_DB_NULLP;
        *p++ = OF_DB_NULLP;
        *p++ = OF_DB_S(b->actor);
        *p++ = OF_DB_S(b->trace);
        *p++ = OF_DB_S(accepted);
        *p++ = OF_DB_S(completed);
        *p++ = OF_DB_S(b->topic);
        *p++ = OF_DB_I(b->offset % 6);
        *p++ = OF_DB_I(b->offset++);
        *p++ = OF_DB_B(r->sha256, 32);
    }
}

/* One transaction: the orders, then their outbox and commands rows (the
 * worker's order within a command). */
static int run_batch(struct bench *b, int which, int64_t seq)
{
    int n = b->rows_of[which], rc = -1;
    int64_t now = of_time_now_us(), first;
    char accepted[32], completed[32];
    struct of_db_param *p = b->params;

    for (int i = 0; i < n; i++) {
        struct row *r = &b->rows[i];
        of_uuid_v4(r->command_id);
        of_uuid_v4(r->event_id);
        memcpy(r->sha256, r->command_id, 32); /* any 32 bytes */
        r->cents = 100 + (seq + i) % 100000;
        r->type = ((seq + i) & 1) ? OF_ORDER_TYPE_VIP : OF_ORDER_TYPE_JEWELRY;
        of_money_format(r->cents, r->amount);
        *p++ = OF_DB_I(b->user_id);
        *p++ = OF_DB_S(of_avro_order_type_name(r->type));
        *p++ = OF_DB_S(r->amount);
    }
    if (mysql_query(b->conn, "START TRANSACTION"))
        return fail_conn(b, "start a transaction");
    if (exec_stmt(b, b->stmt[which][T_ORDERS], T_ORDERS, n))
        goto out;
    /* one statement's AUTO_INCREMENT ids are consecutive (a "simple
     * insert"); main() checks the rows joined back at the end */
    first = (int64_t)mysql_stmt_insert_id(b->stmt[which][T_ORDERS]);
    p = b->params;
    for (int i = 0; i < n; i++) {
        struct row *r = &b->rows[i];
        r->order_id = first + i;
        snprintf(r->aggid, sizeof(r->aggid), "%" PRId64, r->order_id);
        if (encode_event(b, r, now))
            goto out;
        *p++ = OF_DB_S("order");
        *p++ = OF_DB_S(r->aggid);
        *p++ = OF_DB_S("OrderCreated");
        *p++ = OF_DB_B(r->payload, r->len);
        *p++ = OF_DB_S(r->event_id);
        *p++ = OF_DB_I(1);
        *p++ = OF_DB_S(r->command_id);
        *p++ = OF_DB_S(b->trace);
    }
    if (exec_stmt(b, b->stmt[which][T_OUTBOX], T_OUTBOX, n))
        goto out;
    sql_time(now - 5000, accepted);
    sql_time(of_time_now_us(), completed);
    fill_commands(b, n, accepted, completed);
    if (exec_stmt(b, b->stmt[which][T_COMMANDS], T_COMMANDS, n))
        goto out;
    if (mysql_commit(b->conn)) {
        fail_conn(b, "commit");
        goto out;
    }
    rc = 0;
out:
    for (int i = 0; i < n; i++) {
        free(b->rows[i].payload);
        b->rows[i].payload = NULL;
    }
    if (rc)
        mysql_rollback(b->conn);
    return rc;
}

static int one_int(void *arg, int ncols, char **vals, const unsigned long *l)
{
    (void)l;
    *(long long *)arg = ncols > 0 && vals[0] ? strtoll(vals[0], NULL, 10) : -1;
    return 1;
}

static long long query_int(struct of_db *db,
                           const char *sql,
                           const struct of_db_param *params,
                           int n)
{
    struct of_err err;
    long long v = -1;

    if (of_db_query(db, sql, params, n, one_int, &v, &err) != OF_OK)
        fprintf(stderr, "bench_db_ceiling: %s\n", err.msg);
    return v;
}

/* Durability first, then the user the orders belong to. */
static int setup(struct bench *b, struct of_db *db)
{
    char email[80], id[OF_UUID_STR];
    struct of_err err;
    long long flush;

    flush = query_int(db, "SELECT @@innodb_flush_log_at_trx_commit", NULL, 0);
    printf("innodb_flush_log_at_trx_commit=%lld\n", flush);
    printf("innodb_doublewrite=%lld\n",
           query_int(db, "SELECT @@innodb_doublewrite", NULL, 0));
    if (flush != 1) {
        fprintf(stderr,
                "bench_db_ceiling: innodb_flush_log_at_trx_commit is "
                "%lld, not 1: not a durable ceiling\n",
                flush);
        return -1;
    }
    of_uuid_v4(id);
    snprintf(email, sizeof(email), "bench-db-%s@example.com", id);
    if (of_db_exec(db,
                   "INSERT INTO users (email, username) VALUES (?, "
                   "'bench db ceiling')",
                   (struct of_db_param[]){OF_DB_S(email)}, 1, NULL, &err)) {
        fprintf(stderr, "bench_db_ceiling: %s\n", err.msg);
        return -1;
    }
    b->user_id = (int64_t)of_db_insert_id(db);
    snprintf(b->actor, sizeof(b->actor), "user:%" PRId64, b->user_id);
    /* a trace id of the API's form (32 hex), marking this run's rows */
    for (int i = 0, o = 0; id[i]; i++) {
        if (id[i] != '-')
            b->trace[o++] = id[i];
    }
    snprintf(b->topic, sizeof(b->topic), "%s", b->cfg->topics.order_commands);
    return 0;
}

/* @returns the CreateOrders whose three rows are all there. */
static long long count_complete(struct bench *b, struct of_db *db)
{
    return query_int(
        db,
        "SELECT COUNT(*) FROM commands c JOIN orders o ON "
        "o.order_id = c.resource_id JOIN outbox x ON "
        "x.command_id = c.command_id AND x.aggregatetype = "
        "'order' AND x.aggregateid = o.order_id WHERE "
        "c.trace_id = ? AND o.user_id = ?",
        (struct of_db_param[]){OF_DB_S(b->trace), OF_DB_I(b->user_id)}, 2);
}

static int alloc_scratch(struct bench *b, int batch, long n)
{
    size_t np = (size_t)batch * 15;

    b->rows_of[0] = batch;
    b->rows_of[1] = (int)(n % batch);
    b->params = calloc(np, sizeof(*b->params));
    b->bind = calloc(np, sizeof(*b->bind));
    b->lens = calloc(np, sizeof(*b->lens));
    b->rows = calloc((size_t)batch, sizeof(*b->rows));
    if (!b->params || !b->bind || !b->lens || !b->rows)
        return -1;
    for (int w = 0; w < 2; w++) {
        if (b->rows_of[w] == 0)
            break; /* N is a multiple of BATCH: no remainder statements */
        for (int t = 0; t < T_COUNT; t++) {
            b->stmt[w][t] = prepare_multi(b, (enum table)t, b->rows_of[w]);
            if (!b->stmt[w][t])
                return -1;
        }
    }
    return 0;
}

static void release(struct bench *b)
{
    for (int w = 0; w < 2; w++) {
        for (int t = 0; t < T_COUNT; t++) {
            if (b->stmt[w][t])
                mysql_stmt_close(b->stmt[w][t]);
        }
    }
    if (b->conn)
        mysql_close(b->conn);
    free(b->params);
    free(b->bind);
    free(b->lens);
    free(b->rows);
}

int main(int argc, char **argv)
{
    struct of_err err;
    struct bench b = {0};
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
    int batch = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 500;
    struct of_config *cfg = of_cli_config(NULL, "bench_db_ceiling");
    struct of_avro *avro = NULL;
    struct of_db *db = NULL;
    long long complete;
    int rc = 1;
    double t0, s;

    if (!cfg || n <= 0 || batch <= 0 || batch > MAX_BATCH || argc > 3) {
        fprintf(stderr, "usage: bench_db_ceiling N [BATCH]\n");
        of_config_destroy(cfg);
        return 2;
    }
    b.cfg = cfg;
    avro = of_avro_new(&err);
    db = avro ? of_db_open(cfg, &err) : NULL;
    if (!db) {
        fprintf(stderr, "bench_db_ceiling: %s\n", err.msg);
        goto out;
    }
    b.avro = avro;
    if (setup(&b, db) || connect_raw(&b) || alloc_scratch(&b, batch, n))
        goto out;
    t0 = now_s();
    for (long done = 0; done < n; done += b.rows_of[n - done < batch]) {
        if (run_batch(&b, n - done < batch, done))
            goto out;
    }
    s = now_s() - t0;
    complete = count_complete(&b, db);
    if (complete != n) {
        fprintf(stderr,
                "bench_db_ceiling: %lld of %ld CreateOrders have "
                "their three rows\n",
                complete, n);
        goto out;
    }
    printf("orders=%ld batch=%d seconds=%.2f\n", n, batch, s);
    printf("rows_per_s=%.0f\n", 3.0 * (double)n / s);
    printf("db_batched_ceiling_rps=%.1f\n", (double)n / s);
    rc = 0;
out:
    release(&b);
    of_db_close(db);
    of_avro_destroy(avro);
    of_config_destroy(cfg);
    return rc;
}
