/*
 * orderflowctl rebuild-read-model [--user ID | --all]: rewrites the Redis
 * read model from MySQL (CONTRACT §7), in batches, with progress.
 *
 * Each hash is written with the version-guarded write, so a worker applying
 * commands at the same time can never be overwritten by an older row read
 * here: the higher version wins either way. The work itself is
 * of_readmodel_rebuild(), which the command worker's reconciler
 * (worker_reconcile.h) also runs by itself when Redis restarts from an old
 * snapshot or is flushed.
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
#include "of_readmodel.h"

static const char usage[] =
    "usage: orderflowctl rebuild-read-model (--user ID | --all)\n"
    "Rewrites the Redis read model (user and order hashes, each user's order\n"
    "list) from MySQL, the source of truth. Safe while workers run.\n";

struct rebuild {
    struct of_db *db;
    struct of_redis *redis;
    struct of_err err;
    struct of_readmodel_stats st;
    long total;
    int tty;
    time_t started;
};

static void progress(struct rebuild *rb, int done)
{
    if (!rb->tty && !done)
        return;
    fprintf(stderr, "\rrebuilding: %ld users, %ld orders", rb->st.users,
            rb->st.orders);
    if (rb->total)
        fprintf(stderr, " (%ld%%)",
                (rb->st.users + rb->st.orders) * 100 / rb->total);
    if (done)
        fputc('\n', stderr);
}

/* of_readmodel_batch_fn: progress after each batch (\p st is rb->st) */
static int on_batch(void *arg, const struct of_readmodel_stats *st)
{
    (void)st;
    progress(arg, 0);
    return 0;
}

static int count_cb(void *arg, int n, char **v, const unsigned long *l)
{
    (void)n;
    (void)l;
    *(long *)arg += strtol(v[0], NULL, 10);
    return 0;
}

/* @returns 0 done, 1 failed (rb->err says why) */
static int rebuild(struct rebuild *rb, int64_t user)
{
    int rc;

    if (!user && of_db_query(rb->db,
                             "SELECT COUNT(*) FROM users UNION ALL "
                             "SELECT COUNT(*) FROM orders",
                             NULL, 0, count_cb, &rb->total,
                             &rb->err) != OF_OK)
        return 1;
    rc = of_readmodel_rebuild(rb->db, rb->redis, user, &rb->st, on_batch, rb,
                              &rb->err);
    return rc != OF_OK;
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
        printf("rebuilt %ld users and %ld orders in %ld s\n", rb.st.users,
               rb.st.orders, (long)(time(NULL) - rb.started));
    if (rb.st.skipped)
        fprintf(stderr,
                "orderflowctl: %ld orders have values the contract does "
                "not allow; skipped (see the log)\n",
                rb.st.skipped);
    of_redis_destroy(rb.redis);
    of_db_close(rb.db);
    return rc;
}
