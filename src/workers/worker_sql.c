/*
 * worker_sql: see worker_sql.h.
 *
 * Every statement here binds its input; the only SQL sent as text is the
 * literal session set-up.
 */
#include "worker_sql.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "of_db_bind.h"
#include "of_log.h"

/* Long enough for any column we select (VARCHAR(255) utf8mb4 is 1020
 * bytes); a longer value is a schema change this code has not caught up
 * with, reported as such rather than cut. */
#define WSQL_COL_SIZE 2048

#define USER_COLS                                                              \
    "user_id, email, username, UNIX_TIMESTAMP(registration_date), "            \
    "avatar_url, is_banned, version"
#define ORDER_COLS                                                             \
    "order_id, user_id, order_type, order_status, total_amount, "              \
    "UNIX_TIMESTAMP(created_at), UNIX_TIMESTAMP(updated_at), version"

static const struct {
    const char *name; /* for error messages */
    const char *sql;
} statements[WSQL_COUNT] = {
    [WSQL_CMD_GET] = {"commands lookup",
                      "SELECT status, resource_type, resource_id, error_code, "
                      "error_message, actor_id, UNIX_TIMESTAMP(accepted_at), "
                      "UNIX_TIMESTAMP(completed_at), HEX(payload_sha256) "
                      "FROM commands WHERE command_id = ?"},
    [WSQL_CMD_INSERT] = {"commands insert",
                         "INSERT INTO commands (command_id, command_type, "
                         "status, resource_type, resource_id, error_code, "
                         "error_message, actor_id, trace_id, accepted_at, "
                         "completed_at, kafka_topic, kafka_partition, "
                         "kafka_offset, payload_sha256) VALUES "
                         "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"},
    [WSQL_OUTBOX_INSERT] = {"outbox insert",
                            "INSERT INTO outbox (aggregatetype, aggregateid, "
                            "type, payload, event_id, version, command_id, "
                            "trace_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"},
    [WSQL_USER_GET] = {"user read",
                       "SELECT " USER_COLS " FROM users WHERE user_id = ?"},
    [WSQL_USER_LOCK] = {"user lock", "SELECT " USER_COLS " FROM users "
                                     "WHERE user_id = ? FOR UPDATE"},
    /* LOCK IN SHARE MODE rather than FOR SHARE: MariaDB 10.11 has only the
     * former, MySQL 8 accepts both */
    [WSQL_USER_SHARE] = {"user share lock",
                         "SELECT is_banned FROM users WHERE user_id = ? "
                         "LOCK IN SHARE MODE"},
    [WSQL_USER_EMAIL_LOCK] = {"user email lock",
                              "SELECT user_id FROM users WHERE email = ? "
                              "FOR UPDATE"},
    [WSQL_USER_INSERT] = {"user insert",
                          "INSERT INTO users (email, username, avatar_url, "
                          "is_banned, version) VALUES (?, ?, ?, FALSE, 1)"},
    [WSQL_USER_SET_BANNED] = {"user ban update",
                              "UPDATE users SET is_banned = ?, "
                              "version = version + 1, "
                              "updated_at = CURRENT_TIMESTAMP "
                              "WHERE user_id = ?"},
    [WSQL_ORDER_GET] = {"order read",
                        "SELECT " ORDER_COLS " FROM orders WHERE order_id = ?"},
    [WSQL_ORDER_LOCK] = {"order lock", "SELECT " ORDER_COLS " FROM orders "
                                       "WHERE order_id = ? FOR UPDATE"},
    [WSQL_ORDER_INSERT] = {"order insert",
                           "INSERT INTO orders (user_id, order_type, "
                           "order_status, total_amount, version) "
                           "VALUES (?, ?, 'pending', ?, 1)"},
    [WSQL_ORDER_SET_STATUS] = {"order status update",
                               "UPDATE orders SET order_status = ?, "
                               "version = version + 1, "
                               "updated_at = CURRENT_TIMESTAMP "
                               "WHERE order_id = ?"},
    [WSQL_ORDER_RANGE] = {"order range read",
                          "SELECT " ORDER_COLS " FROM orders WHERE order_id "
                          "BETWEEN ? AND ? ORDER BY order_id"},
};

/* The many-row statements: prefix, a group per row (joined by ", "),
 * suffix. The inserts' groups are the single-row statements' VALUES. */
static const struct {
    const char *name;
    const char *prefix, *group, *suffix;
    int nparams; /* per row */
} many[WSQL_MANY_COUNT] = {
    [WSQL_MANY_CMD_FIND] = {"commands lookup of a batch",
                            "SELECT command_id FROM commands WHERE "
                            "command_id IN (",
                            "?", ")", 1},
    [WSQL_MANY_USER_SHARE] = {"user share lock of a batch",
                              "SELECT user_id, is_banned FROM users WHERE "
                              "user_id IN (",
                              "?", ") LOCK IN SHARE MODE", 1},
    [WSQL_MANY_ORDER_INSERT] = {"order insert of a batch",
                                "INSERT INTO orders (user_id, order_type, "
                                "order_status, total_amount, version) VALUES ",
                                "(?, ?, 'pending', ?, 1)", "", 3},
    [WSQL_MANY_OUTBOX_INSERT] = {"outbox insert of a batch",
                                 "INSERT INTO outbox (aggregatetype, "
                                 "aggregateid, type, payload, event_id, "
                                 "version, command_id, trace_id) VALUES ",
                                 "(?, ?, ?, ?, ?, ?, ?, ?)", "", 8},
    [WSQL_MANY_CMD_INSERT] = {"commands insert of a batch",
                              "INSERT INTO commands (command_id, "
                              "command_type, status, resource_type, "
                              "resource_id, error_code, error_message, "
                              "actor_id, trace_id, accepted_at, "
                              "completed_at, kafka_topic, kafka_partition, "
                              "kafka_offset, payload_sha256) VALUES ",
                              "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              "", 15},
};

/* The sizes prepared: every row count up to MANY_EXACT (a batch at a
 * modest rate is one statement per table, whatever its size), then the
 * powers of two 32 to 512: 21 at most of each statement. Not more: each
 * prepared statement keeps client memory for its parameters (112 bytes
 * each: a 64-row commands INSERT 105 KiB), and new sizes appearing one by
 * one would look like a leak. */
#define MANY_EXACT 16
#define MANY_SIZES (MANY_EXACT + 5)
#define MANY_PARAMS_MAX (WSQL_MANY_MAX * 15)

struct worker_sql {
    const struct of_config *cfg; /* borrowed, outlives us */
    MYSQL *conn;                 /* NULL: not connected */
    MYSQL_STMT *stmt[WSQL_COUNT];
    MYSQL_STMT *many[WSQL_MANY_COUNT][MANY_SIZES]; /* prepared when used */
    unsigned int last_errno;
    /* the binds of a many-row statement, and an IN list's filled copy */
    MYSQL_BIND mbind[MANY_PARAMS_MAX];
    unsigned long mlens[MANY_PARAMS_MAX];
    struct of_db_param mparams[WSQL_MANY_MAX];
    char col[WSQL_MAX_COLS][WSQL_COL_SIZE];
};

struct worker_sql *worker_sql_new(const struct of_config *cfg)
{
    struct worker_sql *db = calloc(1, sizeof(*db));

    if (!db)
        return NULL;
    /* touched now (the binds of 512-row statements, 1 MiB): the resident
     * size does not grow the first time a big batch comes */
    explicit_bzero(db, sizeof(*db)); /* not optimised away */
    db->cfg = cfg;
    return db;
}

/* Closes the connection and its statements; the next connect starts over. */
static void drop(struct worker_sql *db)
{
    for (int i = 0; i < WSQL_COUNT; i++) {
        if (db->stmt[i])
            mysql_stmt_close(db->stmt[i]);
        db->stmt[i] = NULL;
    }
    for (int i = 0; i < WSQL_MANY_COUNT; i++) {
        for (int j = 0; j < MANY_SIZES; j++) {
            if (db->many[i][j])
                mysql_stmt_close(db->many[i][j]);
            db->many[i][j] = NULL;
        }
    }
    if (db->conn)
        mysql_close(db->conn);
    db->conn = NULL;
}

void worker_sql_destroy(struct worker_sql *db)
{
    if (!db)
        return;
    drop(db);
    free(db);
}

unsigned int worker_sql_errno(const struct worker_sql *db)
{
    return db->last_errno;
}

/* The class of MySQL error \p e, as worker_sql_run() documents it. */
static int classify(unsigned int e)
{
    if (of_db_errclass(e) == OF_EAGAIN)
        return OF_EAGAIN;
    switch (e) {
    case ER_CHECKREAD: /* "record has changed since last read": a conflict */
        return OF_EAGAIN;
    case ER_DUP_ENTRY:
    case ER_DATA_TOO_LONG:
    case ER_TRUNCATED_WRONG_VALUE:
    case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD:
    case ER_WARN_DATA_OUT_OF_RANGE:
    case ER_BAD_NULL_ERROR:
    case ER_NO_REFERENCED_ROW_2:
    case ER_CONSTRAINT_FAILED: /* 4025, MariaDB: a CHECK refused the row */
    case 3819: /* ER_CHECK_CONSTRAINT_VIOLATED, MySQL's 4025 */
        return OF_EINVAL;
    default:
        return OF_EFATAL;
    }
}

/* Lock conflicts leave the connection usable; other transient errors mean
 * it is gone or going (server restart, KILL, network). */
static int keeps_connection(unsigned int e)
{
    return e == ER_LOCK_DEADLOCK || e == ER_LOCK_WAIT_TIMEOUT ||
           e == ER_CHECKREAD || e == ER_QUERY_INTERRUPTED;
}

static int
conn_fail(struct worker_sql *db, const char *what, struct of_err *err)
{
    unsigned int e = mysql_errno(db->conn);
    int rc = classify(e);

    db->last_errno = e;
    of_err_set(err, rc, "could not %s: %s (%u)", what, mysql_error(db->conn),
               e);
    if (rc != OF_EAGAIN || !keeps_connection(e))
        drop(db);
    return rc;
}

static int stmt_fail_named(struct worker_sql *db,
                           MYSQL_STMT *stmt,
                           const char *name,
                           const char *what,
                           struct of_err *err)
{
    unsigned int e = mysql_stmt_errno(stmt);
    int rc = classify(e);

    db->last_errno = e;
    of_err_set(err, rc, "could not %s %s: %s (%u)", what, name,
               mysql_stmt_error(stmt), e);
    if (rc == OF_EAGAIN && !keeps_connection(e))
        drop(db);
    return rc;
}

static int stmt_fail(struct worker_sql *db,
                     enum worker_sql_id id,
                     const char *what,
                     struct of_err *err)
{
    return stmt_fail_named(db, db->stmt[id], statements[id].name, what, err);
}

static int many_rows(int k);
static int many_prepare(struct worker_sql *db,
                        enum worker_sql_many_id id,
                        int k,
                        struct of_err *err);

/* Every statement, the many-row ones in each size a batch of up to [worker]
 * batch_max can use: at connect, so that an impossible one fails now, and
 * the client memory they keep (3 MiB for 512) does not come bit by bit as
 * sizes are first met (a soak test would see it grow). */
static int prepare_all(struct worker_sql *db, struct of_err *err)
{
    for (int i = 0; i < WSQL_COUNT; i++) {
        const char *sql = statements[i].sql;

        db->stmt[i] = mysql_stmt_init(db->conn);
        if (!db->stmt[i])
            return of_err_set(err, OF_EFATAL, "out of memory");
        if (mysql_stmt_prepare(db->stmt[i], sql, strlen(sql))) {
            int rc = stmt_fail(db, (enum worker_sql_id)i, "prepare", err);
            /* a missing table or column is the usual cause */
            if (rc == OF_EFATAL)
                of_err_set(err, rc,
                           "%.200s (is the schema migrated? run "
                           "orderflowctl migrate)",
                           err->msg);
            return rc;
        }
        assert(mysql_stmt_field_count(db->stmt[i]) <= WSQL_MAX_COLS);
    }
    for (int i = 0; i < WSQL_MANY_COUNT; i++) {
        for (int k = 0; k < MANY_SIZES; k++) {
            /* an IN list of batch_max fills up to the next size */
            if (k > 0 && many_rows(k - 1) >= db->cfg->worker.batch_max)
                break;
            int rc = many_prepare(db, (enum worker_sql_many_id)i, k, err);
            if (rc != OF_OK)
                return rc;
        }
    }
    return OF_OK;
}

/* Each session gets the same rules, whatever the server's defaults:
 * - time_zone UTC: TIMESTAMP parameters are UTC text (worker_sql_time);
 * - strict sql_mode: a value that does not fit fails, never gets cut;
 * - innodb_lock_wait_timeout 10 s: while blocked on a row lock the worker
 *   polls no Kafka and sees no SIGTERM; a timeout is retried anyway;
 * - autocommit off: a transaction begins with its first statement, so
 *   worker_sql_begin() costs no START TRANSACTION round trip (10 % of a
 *   small batch's time). Every statement here runs between a
 *   worker_sql_begin() and a commit or a rollback, so none is left in an
 *   open transaction. */
static int setup_session(struct worker_sql *db, struct of_err *err)
{
    int failed;

    /* the literal starts on the call's line: tests/run.sh checks that
     * text SQL is only ever a literal */
    /* clang-format off */
    failed = mysql_query(db->conn, "SET SESSION time_zone = '+00:00', "
        "sql_mode = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,"
        "NO_ENGINE_SUBSTITUTION', innodb_lock_wait_timeout = 10, "
        "autocommit = 0");
    /* clang-format on */
    if (failed)
        return conn_fail(db, "set up the MySQL session", err);
    return OF_OK;
}

int worker_sql_connect(struct worker_sql *db, struct of_err *err)
{
    const struct of_config *cfg = db->cfg;
    unsigned int timeout = (unsigned int)cfg->mysql.connect_timeout_s;
    unsigned int rw = (unsigned int)cfg->mysql.rw_timeout_s;
    my_bool off = 0;
    int rc;

    if (db->conn)
        return OF_OK;
    db->conn = mysql_init(NULL);
    if (!db->conn)
        return of_err_set(err, OF_EFATAL, "mysql_init failed");
    mysql_options(db->conn, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(db->conn, MYSQL_OPT_READ_TIMEOUT, &rw);
    mysql_options(db->conn, MYSQL_OPT_WRITE_TIMEOUT, &rw);
    mysql_options(db->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    /* a silent reconnect would lose the transaction and the statements */
    mysql_options(db->conn, MYSQL_OPT_RECONNECT, &off);
    if (!mysql_real_connect(db->conn, cfg->mysql.host, cfg->mysql.user,
                            cfg->mysql.password, cfg->mysql.database,
                            (unsigned int)cfg->mysql.port, NULL, 0)) {
        unsigned int e = mysql_errno(db->conn);
        rc = (e == ER_ACCESS_DENIED_ERROR || e == ER_BAD_DB_ERROR ||
              e == ER_DBACCESS_DENIED_ERROR)
                 ? OF_EFATAL
                 : OF_EAGAIN;
        db->last_errno = e;
        of_err_set(err, rc, "could not connect to MySQL at \"%s:%d\": %s",
                   cfg->mysql.host, cfg->mysql.port, mysql_error(db->conn));
        drop(db);
        return rc;
    }
    rc = setup_session(db, err);
    if (rc == OF_OK)
        rc = prepare_all(db, err);
    if (rc != OF_OK)
        drop(db);
    return rc;
}

int worker_sql_begin(struct worker_sql *db, struct of_err *err)
{
    /* autocommit is off (setup_session): the first statement begins it */
    return worker_sql_connect(db, err);
}

int worker_sql_commit(struct worker_sql *db, struct of_err *err)
{
    if (!db->conn)
        return of_err_set(err, OF_EAGAIN, "could not commit: not connected");
    if (mysql_commit(db->conn))
        return conn_fail(db, "commit", err);
    return OF_OK;
}

void worker_sql_rollback(struct worker_sql *db)
{
    if (db->conn && mysql_rollback(db->conn)) {
        of_debug("rollback failed: %s; reconnecting", mysql_error(db->conn));
        drop(db);
    }
}

static int bind_params(struct worker_sql *db,
                       enum worker_sql_id id,
                       const struct of_db_param *params,
                       int nparams,
                       unsigned long *lens,
                       struct of_err *err)
{
    MYSQL_STMT *stmt = db->stmt[id];
    MYSQL_BIND bind[16];

    assert(nparams <= 16 &&
           (unsigned long)nparams == mysql_stmt_param_count(stmt));
    of_db_fill_binds(bind, lens, params, nparams);
    /* the MYSQL_BIND array is copied, the buffers (params, lens) are read
     * at execute time, which is still inside our caller */
    if (nparams > 0 && mysql_stmt_bind_param(stmt, bind))
        return stmt_fail(db, id, "bind", err);
    return OF_OK;
}

/* Fetches the result of \p stmt row by row into db->col as text: into
 * \p first (the first row; the others are discarded) if not NULL, else to
 * \p cb for each row. */
static int fetch(struct worker_sql *db,
                 MYSQL_STMT *stmt,
                 const char *name,
                 struct worker_sql_row *first,
                 worker_sql_row_fn cb,
                 void *arg,
                 struct of_err *err)
{
    MYSQL_BIND bind[WSQL_MAX_COLS];
    unsigned long lens[WSQL_MAX_COLS];
    my_bool nulls[WSQL_MAX_COLS];
    int ncols = (int)mysql_stmt_field_count(stmt), rc = OF_OK, f;
    struct worker_sql_row row;

    if (first)
        memset(first, 0, sizeof(*first));
    memset(bind, 0, sizeof(bind));
    for (int i = 0; i < ncols; i++) {
        bind[i].buffer_type = MYSQL_TYPE_STRING;
        bind[i].buffer = db->col[i];
        bind[i].buffer_length = WSQL_COL_SIZE - 1;
        bind[i].length = &lens[i];
        bind[i].is_null = &nulls[i];
    }
    if (mysql_stmt_bind_result(stmt, bind))
        return stmt_fail_named(db, stmt, name, "bind the result of", err);
    while ((f = mysql_stmt_fetch(stmt)) != MYSQL_NO_DATA) {
        if (f == 1) {
            rc = stmt_fail_named(db, stmt, name, "fetch from", err);
            goto out;
        }
        memset(&row, 0, sizeof(row));
        row.found = 1;
        row.ncols = ncols;
        for (int i = 0; i < ncols; i++) {
            if (!nulls[i] && lens[i] >= WSQL_COL_SIZE) {
                rc = of_err_set(err, OF_EFATAL,
                                "column %d of %s is longer than %d bytes",
                                i + 1, name, WSQL_COL_SIZE - 1);
                goto out;
            }
            db->col[i][nulls[i] ? 0 : lens[i]] = '\0';
            row.v[i] = nulls[i] ? NULL : db->col[i];
        }
        if (first) {
            *first = row;
            break;
        }
        if (cb)
            cb(arg, &row);
    }
    if (first)
        first->ncols = ncols;
out:
    if (db->conn)
        mysql_stmt_free_result(stmt);
    return rc;
}

/* Binds, executes; the result, if any, is left to the caller. */
static int execute(struct worker_sql *db,
                   enum worker_sql_id id,
                   const struct of_db_param *params,
                   int nparams,
                   uint64_t *affected,
                   struct of_err *err)
{
    unsigned long lens[16];
    int rc;

    db->last_errno = 0;
    if (!db->conn)
        return of_err_set(err, OF_EAGAIN, "could not run %s: not connected",
                          statements[id].name);
    rc = bind_params(db, id, params, nparams, lens, err);
    if (rc != OF_OK)
        return rc;
    if (mysql_stmt_execute(db->stmt[id]))
        return stmt_fail(db, id, "execute", err);
    if (affected)
        *affected = mysql_stmt_affected_rows(db->stmt[id]);
    return OF_OK;
}

int worker_sql_run(struct worker_sql *db,
                   enum worker_sql_id id,
                   const struct of_db_param *params,
                   int nparams,
                   struct worker_sql_row *row,
                   uint64_t *affected,
                   struct of_err *err)
{
    int rc = execute(db, id, params, nparams, affected, err);

    if (rc != OF_OK)
        return rc;
    if (row)
        return fetch(db, db->stmt[id], statements[id].name, row, NULL, NULL,
                     err);
    if (mysql_stmt_field_count(db->stmt[id]) > 0)
        mysql_stmt_free_result(db->stmt[id]);
    return OF_OK;
}

int worker_sql_run_each(struct worker_sql *db,
                        enum worker_sql_id id,
                        const struct of_db_param *params,
                        int nparams,
                        worker_sql_row_fn cb,
                        void *arg,
                        struct of_err *err)
{
    int rc = execute(db, id, params, nparams, NULL, err);

    if (rc != OF_OK)
        return rc;
    return fetch(db, db->stmt[id], statements[id].name, NULL, cb, arg, err);
}

int worker_sql_many_chunk(int left)
{
    int r = WSQL_MANY_MAX;

    if (left <= MANY_EXACT)
        return left;
    while (r > left)
        r /= 2;
    return r;
}

/* The rows of size slot \p k of db->many. */
static int many_rows(int k)
{
    return k < MANY_EXACT ? k + 1 : (2 * MANY_EXACT) << (k - MANY_EXACT);
}

/* The slot of the smallest prepared size that holds \p rows rows. */
static int many_slot(int rows)
{
    int k = rows <= MANY_EXACT ? rows - 1 : MANY_EXACT;

    while (many_rows(k) < rows)
        k++;
    return k;
}

/* Prepares many[id] for the rows of slot k. */
static int many_prepare(struct worker_sql *db,
                        enum worker_sql_many_id id,
                        int k,
                        struct of_err *err)
{
    size_t glen = strlen(many[id].group), rows = (size_t)many_rows(k);
    size_t cap = strlen(many[id].prefix) + rows * (glen + 2) +
                 strlen(many[id].suffix) + 1;
    char *sql = malloc(cap), *p;
    MYSQL_STMT *stmt;
    int rc = OF_OK;

    if (!sql)
        return of_err_set(err, OF_EFATAL, "out of memory");
    p = sql + sprintf(sql, "%s", many[id].prefix);
    for (size_t i = 0; i < rows; i++)
        p += sprintf(p, "%s%s", i ? ", " : "", many[id].group);
    sprintf(p, "%s", many[id].suffix);
    stmt = mysql_stmt_init(db->conn);
    if (!stmt) {
        rc = of_err_set(err, OF_EFATAL, "out of memory");
    } else if (mysql_stmt_prepare(stmt, sql, strlen(sql))) {
        rc = stmt_fail_named(db, stmt, many[id].name, "prepare", err);
        /* drop() closed everything but this one, not yet kept */
        mysql_stmt_close(stmt);
    } else {
        db->many[id][k] = stmt;
    }
    free(sql);
    return rc;
}

int worker_sql_run_many(struct worker_sql *db,
                        enum worker_sql_many_id id,
                        int rows,
                        const struct of_db_param *params,
                        worker_sql_row_fn cb,
                        void *arg,
                        uint64_t *insert_id,
                        struct of_err *err)
{
    int k = many_slot(rows), size = many_rows(k), rc;
    int np = many[id].nparams, total = size * np, is_select = np == 1;
    MYSQL_STMT *stmt;

    assert(rows >= 1 && rows <= WSQL_MANY_MAX);
    assert(is_select || rows == size);
    db->last_errno = 0;
    if (!db->conn)
        return of_err_set(err, OF_EAGAIN, "could not run %s: not connected",
                          many[id].name);
    if (!db->many[id][k]) {
        rc = many_prepare(db, id, k, err);
        if (rc != OF_OK)
            return rc;
    }
    stmt = db->many[id][k];
    if (is_select && rows < size) {
        /* the IN list's free places repeat the last value */
        memcpy(db->mparams, params, (size_t)rows * sizeof(*params));
        for (int i = rows; i < size; i++)
            db->mparams[i] = params[rows - 1];
        params = db->mparams;
    }
    of_db_fill_binds(db->mbind, db->mlens, params, total);
    if (mysql_stmt_bind_param(stmt, db->mbind))
        return stmt_fail_named(db, stmt, many[id].name, "bind", err);
    if (mysql_stmt_execute(stmt))
        return stmt_fail_named(db, stmt, many[id].name, "execute", err);
    if (insert_id)
        *insert_id = mysql_stmt_insert_id(stmt);
    if (is_select)
        return fetch(db, stmt, many[id].name, NULL, cb, arg, err);
    return OF_OK;
}

uint64_t worker_sql_insert_id(struct worker_sql *db, enum worker_sql_id id)
{
    return db->stmt[id] ? mysql_stmt_insert_id(db->stmt[id]) : 0;
}

void worker_sql_time(int64_t micros, char out[WSQL_TIME_SIZE])
{
    time_t sec = (time_t)(micros / 1000000);
    struct tm tm;
    size_t n;

    gmtime_r(&sec, &tm);
    n = strftime(out, WSQL_TIME_SIZE, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(out + n, WSQL_TIME_SIZE - n, ".%06d", (int)(micros % 1000000));
}
