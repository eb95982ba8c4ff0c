/*
 * of_db: MySQL/MariaDB connections through libmariadb, prepared statements
 * only, and the schema migrations of schemas/sql/.
 *
 * Every statement that carries input goes through of_db_exec() or
 * of_db_query(), which prepare it and bind the parameters: no SQL text is
 * ever built from input. Errors are classed the orderflow way: a lost
 * connection, a deadlock or a lock wait timeout is OF_EAGAIN (retry the whole
 * transaction), anything else OF_EINVAL or OF_EFATAL.
 * A struct of_db is one connection: use it from one thread at a time.
 */
#ifndef OF_DB_H
#define OF_DB_H

#include <stddef.h>
#include <stdint.h>

#include "of_config.h"
#include "of_err.h"

struct of_db;

enum of_db_type { OF_DB_NULL, OF_DB_STR, OF_DB_INT, OF_DB_BLOB };

struct of_db_param {
    enum of_db_type type;
    const void *p; /* OF_DB_STR (NUL-terminated) or OF_DB_BLOB */
    size_t len;    /* OF_DB_BLOB */
    long long i;   /* OF_DB_INT */
};

#define OF_DB_S(s)      ((struct of_db_param){OF_DB_STR, (s), 0, 0})
#define OF_DB_I(v)      ((struct of_db_param){OF_DB_INT, NULL, 0, (v)})
#define OF_DB_B(b, n)   ((struct of_db_param){OF_DB_BLOB, (b), (n), 0})
#define OF_DB_NULLP     ((struct of_db_param){OF_DB_NULL, NULL, 0, 0})

/**
 * @brief A row of of_db_query(): vals[i] is NULL for SQL NULL, else a
 *        NUL-terminated copy of the column as text (binary columns too,
 *        with lens[i] their length). Borrowed: valid during the call.
 * @returns 0 to go on, non-zero to stop fetching.
 */
typedef int (*of_db_row_cb)(void *arg, int ncols, char **vals,
                            const unsigned long *lens);

/**
 * @brief Connect to [mysql] of \p cfg (utf8mb4, autocommit on).
 * @returns a connection or NULL with \p err (OF_EAGAIN when the server
 *          could not be reached, OF_EFATAL when it refused us).
 */
struct of_db *of_db_open(const struct of_config *cfg, struct of_err *err);

void of_db_close(struct of_db *db);

/**
 * @brief Prepare and run \p sql (a literal) with \p params bound to its ?s.
 * @param affected if not NULL, the affected row count.
 */
int of_db_exec(struct of_db *db, const char *sql,
               const struct of_db_param *params, int nparams,
               uint64_t *affected, struct of_err *err);

/** @brief Like of_db_exec(), calling \p cb for each row of the result. */
int of_db_query(struct of_db *db, const char *sql,
                const struct of_db_param *params, int nparams, of_db_row_cb cb,
                void *arg, struct of_err *err);

/** @returns the AUTO_INCREMENT id of the last insert on \p db. */
uint64_t of_db_insert_id(struct of_db *db);

int of_db_begin(struct of_db *db, struct of_err *err);
int of_db_commit(struct of_db *db, struct of_err *err);
/** @brief Roll back; errors are ignored (the connection may be gone). */
void of_db_rollback(struct of_db *db);

/** @returns OF_EAGAIN for MySQL error numbers worth retrying, else OF_EINVAL. */
int of_db_errclass(unsigned int mysql_errno);

/**
 * @brief Apply the pending files of schemas/sql/ in order, each recorded in
 *        schema_migrations; a second run changes nothing.
 * @param applied the number of files applied by this call.
 */
int of_db_migrate(struct of_db *db, int *applied, struct of_err *err);

/**
 * @brief Split \p text into SQL statements at ';' outside quotes and
 *        comments, calling \p cb with each (trimmed, without ';').
 * @returns what the first failing \p cb returned, or OF_OK.
 */
int of_db_split_sql(const char *text,
                    int (*cb)(void *arg, const char *stmt, size_t len),
                    void *arg);

#endif
