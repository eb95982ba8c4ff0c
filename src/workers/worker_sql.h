/*
 * worker_sql: the command worker's MySQL connection and its prepared
 * statements, the hot path of `orderflow-worker --role commands`.
 *
 * of_db prepares a statement on every call; here each statement of the
 * apply path is prepared once per connection and reused, so a command costs
 * executes only (mysql.h is used directly for that, which is why this is
 * not of_db). A lost connection is closed with all its statements; the next
 * worker_sql_begin() reconnects and prepares them again.
 *
 * The session runs with autocommit off (a transaction begins with its
 * first statement), time_zone '+00:00' (TIMESTAMP parameters are UTC
 * text, see worker_sql_time()), a strict sql_mode (a value that does not
 * fit fails instead of being cut) and a short lock wait timeout (see the
 * .c). One connection, one thread.
 */
#ifndef WORKER_SQL_H
#define WORKER_SQL_H

#include <stdint.h>

#include "of_config.h"
#include "of_db.h" /* struct of_db_param, OF_DB_S/I/B/NULLP */
#include "of_err.h"

/* The statements; their SQL is in worker_sql.c, next to each other. */
enum worker_sql_id {
    WSQL_CMD_GET,
    WSQL_CMD_INSERT,
    WSQL_OUTBOX_INSERT,
    WSQL_USER_GET,
    WSQL_USER_LOCK,
    WSQL_USER_SHARE,
    WSQL_USER_EMAIL_LOCK,
    WSQL_USER_INSERT,
    WSQL_USER_SET_BANNED,
    WSQL_ORDER_GET,
    WSQL_ORDER_LOCK,
    WSQL_ORDER_INSERT,
    WSQL_ORDER_SET_STATUS,
    WSQL_ORDER_RANGE, /* orders order_id BETWEEN ? AND ?, by order_id */
    WSQL_COUNT
};

#define WSQL_MAX_COLS 10

/*
 * Statements of many rows, for the batch path (worker_apply_batch.c): a
 * prefix, one group of ?s per row, a suffix. Each is prepared at connect
 * for the row counts 1 to 16, 32, 64, 128, 256 and 512
 * (worker_sql_many_chunk()), so a connection holds at most 21 of each.
 */
enum worker_sql_many_id {
    /* SELECT command_id FROM commands WHERE command_id IN (...) */
    WSQL_MANY_CMD_FIND,
    /* SELECT user_id, is_banned FROM users WHERE user_id IN (...)
     * LOCK IN SHARE MODE */
    WSQL_MANY_USER_SHARE,
    /* the rows of WSQL_ORDER_INSERT, WSQL_OUTBOX_INSERT, WSQL_CMD_INSERT */
    WSQL_MANY_ORDER_INSERT,
    WSQL_MANY_OUTBOX_INSERT,
    WSQL_MANY_CMD_INSERT,
    WSQL_MANY_COUNT
};

#define WSQL_MANY_MAX 512 /* rows in one statement */

/* The first row of a result, every column as text. */
struct worker_sql_row {
    int found; /* 0: the statement returned no row */
    int ncols;
    /* NULL for SQL NULL, else NUL-terminated. Borrowed: valid until the
     * next worker_sql_run() on the same connection. */
    const char *v[WSQL_MAX_COLS];
};

/* "YYYY-MM-DD HH:MM:SS.ffffff" + NUL: a TIMESTAMP(6) parameter */
#define WSQL_TIME_SIZE 27

struct worker_sql;

/** @brief A handle for [mysql] of \p cfg; it connects lazily (never fails
 *         but for memory). */
struct worker_sql *worker_sql_new(const struct of_config *cfg);
/** @brief Close the connection and free; NULL does nothing. */
void worker_sql_destroy(struct worker_sql *db);

/**
 * @brief Connect (and prepare every statement) unless connected.
 * @returns OF_OK; OF_EAGAIN when MySQL cannot be reached now; OF_EFATAL
 *          when it refused us or a statement does not prepare (schema not
 *          migrated, wrong database).
 */
int worker_sql_connect(struct worker_sql *db, struct of_err *err);

/** @brief worker_sql_connect(); the transaction begins with the next
 *         statement (the session runs with autocommit off). */
int worker_sql_begin(struct worker_sql *db, struct of_err *err);
int worker_sql_commit(struct worker_sql *db, struct of_err *err);
/** @brief Roll back; errors are ignored (a lost connection is dropped). */
void worker_sql_rollback(struct worker_sql *db);

/**
 * @brief Execute statement \p id with \p params bound to its ?s.
 * @param row if not NULL, receives the first row of the result (the
 *        statements look rows up by key: there is at most one).
 * @param affected if not NULL, the affected row count.
 * @returns OF_OK; otherwise \p err carries the MySQL text and
 *          worker_sql_errno() the MySQL error number. The class is
 *          OF_EAGAIN (retry the transaction: deadlock, lock wait timeout,
 *          lost connection), OF_EINVAL (this data can never be stored:
 *          too long, out of range, duplicate key) or OF_EFATAL (anything
 *          else: our SQL and the schema disagree).
 */
int worker_sql_run(struct worker_sql *db,
                   enum worker_sql_id id,
                   const struct of_db_param *params,
                   int nparams,
                   struct worker_sql_row *row,
                   uint64_t *affected,
                   struct of_err *err);

/** @brief A row of a many-row result; \p row is borrowed for the call. */
typedef void (*worker_sql_row_fn)(void *arg, const struct worker_sql_row *row);

/**
 * @brief Execute \p rows rows' worth of statement \p id; \p params holds
 *        each row's parameters one row after the other.
 * @param rows 1 to WSQL_MANY_MAX. The two SELECTs take any count (the IN
 *        list is filled up to the prepared size with the last value); the
 *        INSERTs take the sizes of worker_sql_many_chunk() only.
 * @param cb called for each row of a SELECT's result (may be NULL).
 * @param insert_id if not NULL, the AUTO_INCREMENT id of the first row an
 *        INSERT wrote (LAST_INSERT_ID()).
 * @returns as worker_sql_run().
 */
int worker_sql_run_many(struct worker_sql *db,
                        enum worker_sql_many_id id,
                        int rows,
                        const struct of_db_param *params,
                        worker_sql_row_fn cb,
                        void *arg,
                        uint64_t *insert_id,
                        struct of_err *err);

/** @returns the rows of the next INSERT chunk of \p left rows: all of
 *           them up to 16, else the largest power of two up to 512 that
 *           is at most \p left. */
int worker_sql_many_chunk(int left);

/**
 * @brief Like worker_sql_run(), calling \p cb for every row of the result
 *        (\p cb runs no statement: the connection is busy meanwhile).
 */
int worker_sql_run_each(struct worker_sql *db,
                        enum worker_sql_id id,
                        const struct of_db_param *params,
                        int nparams,
                        worker_sql_row_fn cb,
                        void *arg,
                        struct of_err *err);

/** @returns the MySQL error number of the last failed call, or 0. */
unsigned int worker_sql_errno(const struct worker_sql *db);

/** @returns the AUTO_INCREMENT id of the last insert of statement \p id. */
uint64_t worker_sql_insert_id(struct worker_sql *db, enum worker_sql_id id);

/** @brief \p micros since the epoch as a TIMESTAMP(6) parameter (UTC). */
void worker_sql_time(int64_t micros, char out[WSQL_TIME_SIZE]);


#endif
