/*
 * orderflowctl rebuild-read-model [--user ID | --all]: rewrites the Redis
 * read model from MySQL (CONTRACT §7), in batches, with progress.
 *
 * Each hash is written with the version-guarded write, so a worker applying
 * commands at the same time can never be overwritten by an older row read
 * here: the higher version wins either way.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "of_db.h"
#include "of_jwt.h"
#include "of_model.h"
#include "of_money.h"

#define BATCH 1000

static const char usage[] =
    "usage: orderflowctl rebuild-read-model (--user ID | --all)\n"
    "Rewrites the Redis read model (user and order hashes, each user's order\n"
    "list) from MySQL, the source of truth. Safe while workers run.\n";

struct rebuild {
    struct of_db *db;
    struct of_redis *redis;
    struct of_err err;
    int64_t last;  /* keyset cursor */
    long rows;     /* in this batch */
    long users, orders, total;
    int failed;
    int tty;
    time_t started;
};

static int user_row(void *arg, int n, char **v, const unsigned long *l)
{
    struct rebuild *rb = arg;
    struct of_user u = {0};
    (void)n;
    (void)l;

    u.user_id = strtoll(v[0], NULL, 10);
    snprintf(u.email, sizeof(u.email), "%s", v[1]);
    snprintf(u.username, sizeof(u.username), "%s", v[2]);
    u.registration_date = of_time_parse_unix(v[3]);
    u.has_avatar_url = v[4] != NULL;
    snprintf(u.avatar_url, sizeof(u.avatar_url), "%s", v[4] ? v[4] : "");
    u.is_banned = strcmp(v[5], "0") != 0;
    rb->last = u.user_id;
    rb->rows++;
    if (of_model_redis_put_user(rb->redis, &u, strtoll(v[6], NULL, 10),
                                &rb->err) != OF_OK) {
        rb->failed = 1;
        return 1;
    }
    rb->users++;
    return 0;
}

static int order_row(void *arg, int n, char **v, const unsigned long *l)
{
    struct rebuild *rb = arg;
    struct of_order o = {0};
    (void)n;
    (void)l;

    o.order_id = strtoll(v[0], NULL, 10);
    o.user_id = strtoll(v[1], NULL, 10);
    rb->last = o.order_id;
    rb->rows++;
    if (of_avro_order_type_parse(v[2], &o.order_type) != OF_OK ||
        of_avro_order_status_parse(v[3], &o.order_status) != OF_OK ||
        of_money_parse(v[4], &o.total_amount) != OF_OK) {
        fprintf(stderr, "orderflowctl: order %lld has values the contract "
                        "does not allow; skipped\n",
                (long long)o.order_id);
        return 0;
    }
    o.created_at = of_time_parse_unix(v[5]);
    o.updated_at = of_time_parse_unix(v[6]);
    if (of_model_redis_put_order(rb->redis, &o, strtoll(v[7], NULL, 10),
                                 &rb->err) != OF_OK) {
        rb->failed = 1;
        return 1;
    }
    rb->orders++;
    return 0;
}

static void progress(struct rebuild *rb, int done)
{
    if (!rb->tty && !done)
        return;
    fprintf(stderr, "\rrebuilding: %ld users, %ld orders", rb->users,
            rb->orders);
    if (rb->total)
        fprintf(stderr, " (%ld%%)",
                (rb->users + rb->orders) * 100 / rb->total);
    if (done)
        fputc('\n', stderr);
}

static int count_cb(void *arg, int n, char **v, const unsigned long *l)
{
    (void)n;
    (void)l;
    *(long *)arg += strtol(v[0], NULL, 10);
    return 0;
}

/* Runs \p sql (with ? for the cursor, then the user filter if any) in
 * keyset batches until a batch comes back short. */
static int batches(struct rebuild *rb, const char *sql, int64_t user,
                   of_db_row_cb cb)
{
    rb->last = 0;
    do {
        rb->rows = 0;
        struct of_db_param p[] = {OF_DB_I(rb->last), OF_DB_I(user)};
        if (of_db_query(rb->db, sql, p, user ? 2 : 1, cb, rb, &rb->err) !=
                OF_OK ||
            rb->failed)
            return 1;
        progress(rb, 0);
    } while (rb->rows == BATCH);
    return 0;
}

#define USER_COLS                                                              \
    "SELECT user_id, email, username, UNIX_TIMESTAMP(registration_date), "    \
    "avatar_url, is_banned, version FROM users "
#define ORDER_COLS                                                             \
    "SELECT order_id, user_id, order_type, order_status, total_amount, "      \
    "UNIX_TIMESTAMP(created_at), UNIX_TIMESTAMP(updated_at), version "        \
    "FROM orders "

static int rebuild(struct rebuild *rb, int64_t user)
{
    if (user)
        return batches(rb,
                       USER_COLS "WHERE user_id > ? AND user_id = ? "
                                 "ORDER BY user_id LIMIT 1000",
                       user, user_row) ||
               batches(rb,
                       ORDER_COLS "WHERE order_id > ? AND user_id = ? "
                                  "ORDER BY order_id LIMIT 1000",
                       user, order_row);
    if (of_db_query(rb->db,
                    "SELECT COUNT(*) FROM users UNION ALL "
                    "SELECT COUNT(*) FROM orders",
                    NULL, 0, count_cb, &rb->total, &rb->err) != OF_OK)
        return 1;
    return batches(rb,
                   USER_COLS "WHERE user_id > ? ORDER BY user_id LIMIT 1000",
                   0, user_row) ||
           batches(rb,
                   ORDER_COLS "WHERE order_id > ? ORDER BY order_id LIMIT 1000",
                   0, order_row);
}

int ctl_rebuild(struct of_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {{"user", required_argument, 0, 'u'},
                                         {"all", no_argument, 0, 'a'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    struct rebuild rb = {0};
    int64_t user = 0;
    int all = 0, c, rc = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'u' && !of_parse_id(optarg, &user)) {
            ctl_fail("--user: \"%s\" is not a user id", optarg);
            return 2;
        } else if (c == 'a') {
            all = 1;
        } else if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        } else if (c == '?') {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (all == (user != 0) || optind != argc) {
        fputs(usage, stderr);
        return 2;
    }
    rb.tty = isatty(STDERR_FILENO);
    rb.started = time(NULL);
    rb.db = of_db_open(cfg, &rb.err);
    rb.redis = rb.db ? of_redis_new(cfg, &rb.err) : NULL;
    if (rb.redis && of_redis_ping(rb.redis, &rb.err) == OF_OK)
        rc = rebuild(&rb, user);
    progress(&rb, 1);
    if (rc != 0)
        ctl_fail("%s", rb.err.msg);
    else
        printf("rebuilt %ld users and %ld orders in %ld s\n", rb.users,
               rb.orders, (long)(time(NULL) - rb.started));
    of_redis_destroy(rb.redis);
    of_db_close(rb.db);
    return rc;
}
