/*
 * of_db: see of_db.h.
 *
 * Statements are prepared per call here; hot paths that run a statement
 * thousands of times keep their own MYSQL_STMT (see the worker).
 */
#include "of_db.h"
#include "of_db_bind.h"

#include <stdlib.h>
#include <string.h>

#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>

#include "of_embed.h"
#include "of_log.h"

#define OF_DB_MAX_PARAMS 32
#define OF_DB_MAX_COLS   32

struct of_db {
    MYSQL *conn;
    unsigned int last_errno; /* the server's error number of run()'s last failure, or 0 */
};

int of_db_errclass(unsigned int e)
{
    switch (e) {
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_SERVER_LOST_EXTENDED:
    case ER_LOCK_DEADLOCK:
    case ER_LOCK_WAIT_TIMEOUT:
    case ER_CON_COUNT_ERROR:
    case ER_SERVER_SHUTDOWN:
    case ER_QUERY_INTERRUPTED:
    case 1927: /* ER_CONNECTION_KILLED */
        return OF_EAGAIN;
    default:
        return OF_EINVAL;
    }
}

struct of_db *of_db_open(const struct of_config *cfg, struct of_err *err)
{
    struct of_db *db = calloc(1, sizeof(*db));
    unsigned int timeout = (unsigned int)cfg->mysql.connect_timeout_s;
    unsigned int rw = (unsigned int)cfg->mysql.rw_timeout_s;
    my_bool off = 0;

    if (!db) {
        of_err_set(err, OF_EFATAL, "out of memory");
        return NULL;
    }
    db->conn = mysql_init(NULL);
    if (!db->conn) {
        free(db);
        of_err_set(err, OF_EFATAL, "mysql_init failed");
        return NULL;
    }
    mysql_options(db->conn, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(db->conn, MYSQL_OPT_READ_TIMEOUT, &rw);
    mysql_options(db->conn, MYSQL_OPT_WRITE_TIMEOUT, &rw);
    mysql_options(db->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    /* reconnecting silently would lose the transaction and session state:
     * callers see CR_SERVER_LOST as OF_EAGAIN and reopen explicitly */
    mysql_options(db->conn, MYSQL_OPT_RECONNECT, &off);
    if (!mysql_real_connect(db->conn, cfg->mysql.host, cfg->mysql.user,
                            cfg->mysql.password, cfg->mysql.database,
                            (unsigned int)cfg->mysql.port, NULL, 0)) {
        unsigned int e = mysql_errno(db->conn);
        int rc = (e == ER_ACCESS_DENIED_ERROR || e == ER_BAD_DB_ERROR ||
                  e == ER_DBACCESS_DENIED_ERROR)
                     ? OF_EFATAL
                     : OF_EAGAIN;
        of_err_set(err, rc, "could not connect to MySQL at \"%s:%d\": %s",
                   cfg->mysql.host, cfg->mysql.port, mysql_error(db->conn));
        of_db_close(db);
        return NULL;
    }
    return db;
}

void of_db_close(struct of_db *db)
{
    if (!db)
        return;
    mysql_close(db->conn);
    free(db);
}

uint64_t of_db_insert_id(struct of_db *db)
{
    return mysql_insert_id(db->conn);
}

static int stmt_fail(MYSQL_STMT *stmt, const char *what, struct of_err *err)
{
    unsigned int e = mysql_stmt_errno(stmt);
    return of_err_set(err, of_db_errclass(e), "could not %s statement: %s (%u)",
                      what, mysql_stmt_error(stmt), e);
}

void of_db_fill_binds(MYSQL_BIND *bind, unsigned long *lens,
                      const struct of_db_param *params, int n)
{
    memset(bind, 0, sizeof(bind[0]) * (size_t)n);
    for (int i = 0; i < n; i++) {
        const struct of_db_param *p = &params[i];
        switch (p->type) {
        case OF_DB_NULL:
            bind[i].buffer_type = MYSQL_TYPE_NULL;
            break;
        case OF_DB_INT:
            bind[i].buffer_type = MYSQL_TYPE_LONGLONG;
            bind[i].buffer = (void *)(uintptr_t)&p->i;
            break;
        case OF_DB_STR:
        case OF_DB_BLOB:
            lens[i] = p->type == OF_DB_STR ? strlen(p->p) : p->len;
            bind[i].buffer_type =
                p->type == OF_DB_STR ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
            bind[i].buffer = (void *)(uintptr_t)p->p;
            bind[i].buffer_length = lens[i];
            bind[i].length = &lens[i];
            break;
        }
    }
}

/* Fetches every row as text, growing a column's buffer when it was cut. */
static int fetch_rows(MYSQL_STMT *stmt, of_db_row_cb cb, void *arg,
                      struct of_err *err)
{
    MYSQL_RES *meta = mysql_stmt_result_metadata(stmt);
    MYSQL_BIND bind[OF_DB_MAX_COLS];
    char *vals[OF_DB_MAX_COLS] = {0}, *bufs[OF_DB_MAX_COLS] = {0};
    unsigned long lens[OF_DB_MAX_COLS], caps[OF_DB_MAX_COLS];
    my_bool nulls[OF_DB_MAX_COLS], errs[OF_DB_MAX_COLS];
    int ncols, rc = OF_OK;

    if (!meta)
        return OF_OK; /* no result set */
    ncols = (int)mysql_num_fields(meta);
    mysql_free_result(meta);
    if (ncols > OF_DB_MAX_COLS)
        return of_err_set(err, OF_EFATAL, "too many columns: %d", ncols);
    memset(bind, 0, sizeof(bind[0]) * (size_t)ncols);
    for (int i = 0; i < ncols; i++) {
        caps[i] = 256;
        bufs[i] = malloc(caps[i]);
        if (!bufs[i]) {
            rc = of_err_set(err, OF_EFATAL, "out of memory");
            goto out;
        }
        bind[i].buffer_type = MYSQL_TYPE_STRING;
        bind[i].buffer = bufs[i];
        bind[i].buffer_length = caps[i] - 1;
        bind[i].length = &lens[i];
        bind[i].is_null = &nulls[i];
        bind[i].error = &errs[i];
    }
    if (mysql_stmt_bind_result(stmt, bind)) {
        rc = stmt_fail(stmt, "bind result of", err);
        goto out;
    }
    for (;;) {
        int f = mysql_stmt_fetch(stmt);
        if (f == MYSQL_NO_DATA)
            break;
        if (f == 1) {
            rc = stmt_fail(stmt, "fetch from", err);
            goto out;
        }
        for (int i = 0; i < ncols; i++) {
            if (!nulls[i] && lens[i] >= caps[i]) {
                char *nb = realloc(bufs[i], lens[i] + 1);
                if (!nb) {
                    rc = of_err_set(err, OF_EFATAL, "out of memory");
                    goto out;
                }
                bufs[i] = nb;
                caps[i] = lens[i] + 1;
                bind[i].buffer = nb;
                bind[i].buffer_length = caps[i] - 1;
                mysql_stmt_fetch_column(stmt, &bind[i], (unsigned int)i, 0);
            }
            if (!nulls[i])
                bufs[i][lens[i]] = '\0';
            vals[i] = nulls[i] ? NULL : bufs[i];
        }
        if (cb(arg, ncols, vals, lens) != 0)
            break;
    }
out:
    for (int i = 0; i < ncols; i++)
        free(bufs[i]);
    return rc;
}

/* Prepares \p sql, binds \p params and executes it.
 * @returns the statement (caller closes it), or NULL with \p err. */
static MYSQL_STMT *run(struct of_db *db, const char *sql,
                       const struct of_db_param *params, int nparams,
                       struct of_err *err)
{
    MYSQL_STMT *stmt = mysql_stmt_init(db->conn);
    MYSQL_BIND bind[OF_DB_MAX_PARAMS];
    unsigned long lens[OF_DB_MAX_PARAMS];

    db->last_errno = 0;
    if (!stmt) {
        of_err_set(err, OF_EAGAIN, "could not make a statement: %s",
                   mysql_error(db->conn));
        return NULL;
    }
    if (mysql_stmt_prepare(stmt, sql, strlen(sql))) {
        stmt_fail(stmt, "prepare", err);
        goto fail;
    }
    if (nparams > OF_DB_MAX_PARAMS) {
        of_err_set(err, OF_EFATAL, "%d parameters given, at most %d bound",
                   nparams, OF_DB_MAX_PARAMS);
        goto fail;
    }
    if ((unsigned long)nparams != mysql_stmt_param_count(stmt)) {
        of_err_set(err, OF_EFATAL, "statement takes %lu parameters, %d given",
                   mysql_stmt_param_count(stmt), nparams);
        goto fail;
    }
    /* bind and lens stay in this frame until execute has read them */
    of_db_fill_binds(bind, lens, params, nparams);
    if (nparams > 0 && mysql_stmt_bind_param(stmt, bind)) {
        stmt_fail(stmt, "bind", err);
        goto fail;
    }
    if (mysql_stmt_execute(stmt)) {
        stmt_fail(stmt, "execute", err);
        goto fail;
    }
    return stmt;
fail:
    db->last_errno = mysql_stmt_errno(stmt);
    mysql_stmt_close(stmt);
    return NULL;
}

int of_db_query(struct of_db *db, const char *sql,
                const struct of_db_param *params, int nparams, of_db_row_cb cb,
                void *arg, struct of_err *err)
{
    MYSQL_STMT *stmt = run(db, sql, params, nparams, err);
    int rc;

    if (!stmt)
        return err->rc;
    rc = cb ? fetch_rows(stmt, cb, arg, err) : OF_OK;
    mysql_stmt_close(stmt);
    return rc;
}

int of_db_exec(struct of_db *db, const char *sql,
               const struct of_db_param *params, int nparams,
               uint64_t *affected, struct of_err *err)
{
    MYSQL_STMT *stmt = run(db, sql, params, nparams, err);

    if (!stmt)
        return err->rc;
    if (affected)
        *affected = mysql_stmt_affected_rows(stmt);
    mysql_stmt_close(stmt);
    return OF_OK;
}

static int simple(struct of_db *db, const char *sql, struct of_err *err)
{
    return of_db_exec(db, sql, NULL, 0, NULL, err);
}

int of_db_begin(struct of_db *db, struct of_err *err)
{
    /* the text protocol: MySQL cannot prepare START TRANSACTION (error
     * 1295), MariaDB can */
    if (mysql_query(db->conn, "START TRANSACTION")) {
        unsigned int e = mysql_errno(db->conn);
        return of_err_set(err, of_db_errclass(e),
                          "could not start a transaction: %s (%u)",
                          mysql_error(db->conn), e);
    }
    return OF_OK;
}

int of_db_commit(struct of_db *db, struct of_err *err)
{
    if (mysql_commit(db->conn)) {
        unsigned int e = mysql_errno(db->conn);
        return of_err_set(err, of_db_errclass(e), "could not commit: %s (%u)",
                          mysql_error(db->conn), e);
    }
    return OF_OK;
}

void of_db_rollback(struct of_db *db)
{
    (void)mysql_rollback(db->conn);
}

/* ---- migrations ---- */

int of_db_split_sql(const char *text,
                    int (*cb)(void *arg, const char *stmt, size_t len),
                    void *arg)
{
    const char *start = text, *p = text;
    char quote = 0;

    for (; *p; p++) {
        if (quote) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == quote)
                quote = 0;
        } else if (*p == '\'' || *p == '"' || *p == '`') {
            quote = *p;
        } else if (*p == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
            if (!*p)
                break;
        } else if (*p == ';') {
            const char *b = start, *e = p;
            /* skip leading blanks and comment lines */
            for (;;) {
                while (b < e && (*b == ' ' || *b == '\n' || *b == '\t' ||
                                 *b == '\r'))
                    b++;
                if (b + 1 < e && b[0] == '-' && b[1] == '-') {
                    while (b < e && *b != '\n')
                        b++;
                    continue;
                }
                break;
            }
            while (e > b && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t'))
                e--;
            if (e > b) {
                int rc = cb(arg, b, (size_t)(e - b));
                if (rc != OF_OK)
                    return rc;
            }
            start = p + 1;
        }
    }
    return OF_OK;
}

struct migrate_ctx {
    struct of_db *db;
    struct of_err *err;
    const char *file;
};

/* The errors of a statement whose object is already there (or, for a
 * DROP, already gone). The same numbers on MySQL and MariaDB. */
static int already_done(unsigned int e)
{
    return e == ER_TABLE_EXISTS_ERROR       /* 1050 CREATE TABLE */
           || e == ER_DUP_FIELDNAME         /* 1060 ADD COLUMN */
           || e == ER_DUP_KEYNAME           /* 1061 ADD INDEX */
           || e == ER_CANT_DROP_FIELD_OR_KEY; /* 1091 DROP INDEX/COLUMN */
}

/* Runs one statement of a migration. A migration is recorded only after
 * its last statement, and DDL cannot share a transaction with that record,
 * so a run stopped in between leaves statements applied but the file not
 * recorded; the next run starts the file again. MySQL has no IF [NOT]
 * EXISTS for columns and indexes (MariaDB has), so instead a statement that
 * fails only because what it makes is already there counts as applied, with
 * a warning. That is sound because each ALTER is atomic on both servers
 * (InnoDB's atomic DDL: MySQL 8.0, MariaDB 10.6), so finding one of its
 * changes means finding all of them; migrations keep to one such statement
 * per change they cannot repeat. */
static int migrate_stmt(void *arg, const char *stmt, size_t len)
{
    struct migrate_ctx *ctx = arg;
    char *sql = strndup(stmt, len);
    int rc;

    if (!sql)
        return of_err_set(ctx->err, OF_EFATAL, "out of memory");
    rc = simple(ctx->db, sql, ctx->err);
    if (rc != OF_OK && already_done(ctx->db->last_errno)) {
        of_warn("migration %s: %s; taken as applied by an earlier run that "
                "stopped before recording the file",
                ctx->file, ctx->err->msg);
        rc = OF_OK;
    } else if (rc != OF_OK) {
        char msg[sizeof(ctx->err->msg)];
        snprintf(msg, sizeof(msg), "%s", ctx->err->msg);
        of_err_set(ctx->err, rc, "migration \"%s\" failed: %s", ctx->file, msg);
    }
    free(sql);
    return rc;
}

static int is_applied_cb(void *arg, int ncols, char **vals,
                         const unsigned long *lens)
{
    (void)ncols;
    (void)vals;
    (void)lens;
    *(int *)arg = 1;
    return 1;
}

static int migrate_file(struct of_db *db, const struct of_embedded *f,
                        int *applied, struct of_err *err)
{
    struct migrate_ctx ctx = {db, err, f->name};
    long version = strtol(f->name, NULL, 10);
    int done = 0, rc;

    if (version <= 0)
        return of_err_set(err, OF_EFATAL,
                          "migration \"%s\" does not start with NNN_",
                          f->name);
    rc = of_db_query(db, "SELECT 1 FROM schema_migrations WHERE version = ?",
                     (struct of_db_param[]){OF_DB_I(version)}, 1, is_applied_cb,
                     &done, err);
    if (rc != OF_OK || done)
        return rc;
    of_info("applying migration %s", f->name);
    rc = of_db_split_sql(f->data, migrate_stmt, &ctx);
    if (rc != OF_OK)
        return rc;
    rc = of_db_exec(db,
                    "INSERT INTO schema_migrations (version, name) "
                    "VALUES (?, ?)",
                    (struct of_db_param[]){OF_DB_I(version), OF_DB_S(f->name)},
                    2, NULL, err);
    if (rc == OF_OK)
        (*applied)++;
    return rc;
}

static int lock_cb(void *arg, int ncols, char **vals, const unsigned long *lens)
{
    (void)ncols;
    (void)lens;
    *(int *)arg = vals[0] && strcmp(vals[0], "1") == 0;
    return 1;
}

int of_db_migrate(struct of_db *db, int *applied, struct of_err *err)
{
    int locked = 0, rc;

    *applied = 0;
    rc = simple(db,
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INT NOT NULL PRIMARY KEY,"
                " name VARCHAR(255) NOT NULL,"
                " applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP"
                ") ENGINE = InnoDB DEFAULT CHARSET = utf8mb4",
                err);
    if (rc != OF_OK)
        return rc;
    /* DDL cannot run in a transaction: a named lock keeps two concurrent
     * `migrate` runs from applying the same file twice */
    rc = of_db_query(db, "SELECT GET_LOCK('orderflow_migrate', 60)", NULL, 0,
                     lock_cb, &locked, err);
    if (rc != OF_OK)
        return rc;
    if (!locked)
        return of_err_set(err, OF_EAGAIN,
                          "could not take the migration lock in 60 s: another "
                          "migrate is running");
    for (const struct of_embedded *f = of_embedded_sql; f->name; f++) {
        rc = migrate_file(db, f, applied, err);
        if (rc != OF_OK)
            break;
    }
    struct of_err ignored;
    simple(db, "DO RELEASE_LOCK('orderflow_migrate')", &ignored);
    return rc;
}
