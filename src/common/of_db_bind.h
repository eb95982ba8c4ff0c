/*
 * of_db_bind: turns struct of_db_param into libmariadb's MYSQL_BIND, for
 * the two places that bind parameters: of_db.c (statements prepared per
 * call) and the worker's kept statements (src/workers/worker_sql.c).
 * Separate from of_db.h so that header need not include mysql.h.
 */
#ifndef OF_DB_BIND_H
#define OF_DB_BIND_H

#include <mysql.h>

#include "of_db.h"

/**
 * @brief Fill bind[0..n) from params[0..n). String and blob lengths go to
 *        lens[i], which bind[i] points at: libmariadb reads them when the
 *        statement executes, so \p lens must live until then (keep it in
 *        the frame that calls mysql_stmt_execute).
 */
void of_db_fill_binds(MYSQL_BIND *bind, unsigned long *lens,
                      const struct of_db_param *params, int n);

#endif
