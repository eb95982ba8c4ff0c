/*
 * worker_parking: see worker_parking.h.
 *
 * The copy is an array sorted by (topic, key) and searched with bsearch():
 * parked keys are few (each is an incident), inserts are rare, and a
 * lookup on the hot path costs no allocation. Past CACHE_MAX rows the copy
 * gives up and every message is looked up in MySQL instead, which is slow
 * but still right.
 */
#include "worker_parking.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "of_db.h"
#include "of_log.h"
#include "of_model.h"

#define RELOAD_EVERY_MS 5000
#define CACHE_MAX       100000
#define REASON_MAX      255 /* reason VARCHAR(255) */

struct parked {
    char *topic;        /* owned */
    unsigned char *key; /* owned, key_len bytes */
    size_t key_len;
    int32_t partition;
    int64_t offset;
};

struct cache {
    struct parked *v; /* sorted by cmp_parked() */
    size_t n, cap;
    int overflow; /* more than CACHE_MAX rows: not a complete copy */
    int oom;
};

struct worker_parking {
    const struct of_config *cfg; /* borrowed, outlives us */
    struct of_db *db;            /* NULL: not connected */
    struct cache c;
    int64_t loaded_at; /* monotonic ms of the last reload; -1: due now */
};

static int cmp_parked(const void *a, const void *b)
{
    const struct parked *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);

    if (c)
        return c;
    if (x->key_len != y->key_len)
        return x->key_len < y->key_len ? -1 : 1;
    return memcmp(x->key, y->key, x->key_len);
}

static void cache_release(struct cache *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].topic);
        free(c->v[i].key);
    }
    free(c->v);
    memset(c, 0, sizeof(*c));
}

/* Appends a copy (unsorted); sets c->oom or c->overflow when it cannot. */
static void cache_append(struct cache *c,
                         const char *topic,
                         const void *key,
                         size_t key_len,
                         int32_t partition,
                         int64_t offset)
{
    struct parked *p;

    if (c->n == CACHE_MAX) {
        c->overflow = 1;
        return;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct parked *v = realloc(c->v, cap * sizeof(*v));
        if (!v) {
            c->oom = 1;
            return;
        }
        c->v = v;
        c->cap = cap;
    }
    p = &c->v[c->n];
    p->topic = strdup(topic);
    p->key = malloc(key_len ? key_len : 1);
    if (!p->topic || !p->key) {
        free(p->topic);
        free(p->key);
        c->oom = 1;
        return;
    }
    memcpy(p->key, key, key_len);
    p->key_len = key_len;
    p->partition = partition;
    p->offset = offset;
    c->n++;
}

static struct parked *cache_find(const struct cache *c,
                                 const char *topic,
                                 const void *key,
                                 size_t key_len)
{
    struct parked probe = {(char *)topic, (unsigned char *)key, key_len, 0, 0};

    if (c->n == 0)
        return NULL;
    return bsearch(&probe, c->v, c->n, sizeof(*c->v), cmp_parked);
}

static void cache_remove(struct cache *c, struct parked *p)
{
    size_t i = (size_t)(p - c->v);

    free(p->topic);
    free(p->key);
    memmove(p, p + 1, (c->n - i - 1) * sizeof(*p));
    c->n--;
}

struct worker_parking *worker_parking_new(const struct of_config *cfg)
{
    struct worker_parking *pk = calloc(1, sizeof(*pk));

    if (!pk)
        return NULL;
    pk->cfg = cfg;
    pk->loaded_at = -1;
    return pk;
}

void worker_parking_destroy(struct worker_parking *pk)
{
    if (!pk)
        return;
    cache_release(&pk->c);
    of_db_close(pk->db);
    free(pk);
}

void worker_parking_invalidate(struct worker_parking *pk)
{
    pk->loaded_at = -1;
}

/* ---- MySQL ---- */

static int connect_db(struct worker_parking *pk, struct of_err *err)
{
    if (pk->db)
        return OF_OK;
    pk->db = of_db_open(pk->cfg, err);
    return pk->db ? OF_OK : err->rc;
}

/* The class of a failed statement, as the header promises: a transient
 * failure drops the connection (the next call reconnects); anything else
 * means parked_keys is not what this code expects. */
static int sql_fail(struct worker_parking *pk, struct of_err *err)
{
    if (err->rc == OF_EAGAIN) {
        of_db_close(pk->db);
        pk->db = NULL;
        return OF_EAGAIN;
    }
    char msg[sizeof(err->msg)];

    memcpy(msg, err->msg, sizeof(msg));
    return of_err_set(err, OF_EFATAL,
                      "parked keys: %s (has `orderflowctl "
                      "migrate` run?)",
                      msg);
}

static int
load_row(void *arg, int ncols, char **vals, const unsigned long *lens)
{
    struct cache *c = arg;

    if (ncols != 4 || !vals[0] || !vals[1] || !vals[2] || !vals[3])
        return 0;
    cache_append(c, vals[0], vals[1], lens[1],
                 (int32_t)strtol(vals[2], NULL, 10),
                 strtoll(vals[3], NULL, 10));
    return c->oom || c->overflow;
}

/* Replaces the copy with the rows of our two topics; on failure the old
 * copy stays. */
static int reload(struct worker_parking *pk, struct of_err *err)
{
    struct cache c = {0};
    struct of_db_param p[] = {OF_DB_S(pk->cfg->topics.user_commands),
                              OF_DB_S(pk->cfg->topics.order_commands)};
    int rc = connect_db(pk, err);

    if (rc != OF_OK)
        return rc;
    rc = of_db_query(pk->db,
                     "SELECT topic, msg_key, parked_partition, parked_offset "
                     "FROM parked_keys WHERE topic IN (?, ?)",
                     p, 2, load_row, &c, err);
    if (rc != OF_OK) {
        cache_release(&c);
        return sql_fail(pk, err);
    }
    if (c.oom) {
        cache_release(&c);
        return of_err_set(err, OF_EAGAIN,
                          "could not load the parked keys: out of memory");
    }
    if (c.overflow && !pk->c.overflow)
        of_warn("more than %d parked keys: looking each message's key up in "
                "MySQL",
                CACHE_MAX);
    if (c.n > 1)
        qsort(c.v, c.n, sizeof(*c.v), cmp_parked);
    if (c.n != pk->c.n)
        of_info("%zu parked key(s) on our topics", c.n);
    cache_release(&pk->c);
    pk->c = c;
    pk->loaded_at = (of_time_mono_us() / 1000);
    return OF_OK;
}

struct row {
    int found;
    int32_t partition;
    int64_t offset;
};

static int get_row(void *arg, int ncols, char **vals, const unsigned long *lens)
{
    struct row *r = arg;
    (void)lens;

    if (ncols == 2 && vals[0] && vals[1]) {
        r->found = 1;
        r->partition = (int32_t)strtol(vals[0], NULL, 10);
        r->offset = strtoll(vals[1], NULL, 10);
    }
    return 1;
}

/* The row of (topic, key) in MySQL, which is the truth the copy lags. */
static int lookup(struct worker_parking *pk,
                  const char *topic,
                  const void *key,
                  size_t key_len,
                  struct row *r,
                  struct of_err *err)
{
    struct of_db_param p[] = {OF_DB_S(topic), OF_DB_B(key, key_len)};
    int rc = connect_db(pk, err);

    memset(r, 0, sizeof(*r));
    if (rc != OF_OK)
        return rc;
    rc = of_db_query(pk->db,
                     "SELECT parked_partition, parked_offset FROM parked_keys "
                     "WHERE topic = ? AND msg_key = ?",
                     p, 2, get_row, r, err);
    return rc == OF_OK ? OF_OK : sql_fail(pk, err);
}

/* Makes the copy agree with \p r for (topic, key). */
static void cache_update(struct worker_parking *pk,
                         const char *topic,
                         const void *key,
                         size_t key_len,
                         const struct row *r)
{
    struct parked *p = cache_find(&pk->c, topic, key, key_len);

    if (p && !r->found) {
        cache_remove(&pk->c, p);
    } else if (p) {
        p->partition = r->partition;
        p->offset = r->offset;
    } else if (r->found && !pk->c.overflow) {
        cache_append(&pk->c, topic, key, key_len, r->partition, r->offset);
        if (pk->c.oom)
            worker_parking_invalidate(pk); /* incomplete: reload */
        else
            qsort(pk->c.v, pk->c.n, sizeof(*pk->c.v), cmp_parked);
    }
}

int worker_parking_check(struct worker_parking *pk,
                         const char *topic,
                         const void *key,
                         size_t key_len,
                         int32_t partition,
                         int64_t offset,
                         char behind[48],
                         struct of_err *err)
{
    struct row r;
    int rc;

    behind[0] = '\0';
    if (pk->loaded_at < 0 || (of_time_mono_us() / 1000) - pk->loaded_at >= RELOAD_EVERY_MS) {
        rc = reload(pk, err);
        if (rc != OF_OK)
            return rc;
    }
    if (!pk->c.overflow && !cache_find(&pk->c, topic, key, key_len))
        return OF_OK;
    /* parked in the copy: confirm, `dlq redrive` may just have unparked */
    rc = lookup(pk, topic, key, key_len, &r, err);
    if (rc != OF_OK)
        return rc;
    cache_update(pk, topic, key, key_len, &r);
    if (r.found && (r.partition != partition || offset > r.offset))
        snprintf(behind, 48, "%" PRId32 ":%" PRId64, r.partition, r.offset);
    return OF_OK;
}

int worker_parking_park(struct worker_parking *pk,
                        const char *topic,
                        const void *key,
                        size_t key_len,
                        int32_t partition,
                        int64_t offset,
                        const char *reason,
                        struct of_err *err)
{
    char why[REASON_MAX + 1];
    size_t n = strlen(reason);
    struct row r;
    int rc;

    /* at most 255 bytes, so at most 255 characters, cut before a UTF-8
     * continuation byte so that the text stays valid */
    if (n > REASON_MAX) {
        n = REASON_MAX;
        while (n > 0 && ((unsigned char)reason[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(why, reason, n);
    why[n] = '\0';
    rc = connect_db(pk, err);
    if (rc != OF_OK)
        return rc;
    /* not INSERT IGNORE, which would also cut too-long values silently */
    rc =
        of_db_exec(pk->db,
                   "INSERT INTO parked_keys (topic, msg_key, parked_partition, "
                   "parked_offset, reason) VALUES (?, ?, ?, ?, ?) "
                   "ON DUPLICATE KEY UPDATE topic = topic",
                   (struct of_db_param[]){OF_DB_S(topic), OF_DB_B(key, key_len),
                                          OF_DB_I(partition), OF_DB_I(offset),
                                          OF_DB_S(why)},
                   5, NULL, err);
    if (rc != OF_OK)
        return sql_fail(pk, err);
    /* the first parker wins: read back which one that is */
    rc = lookup(pk, topic, key, key_len, &r, err);
    if (rc != OF_OK)
        return rc;
    cache_update(pk, topic, key, key_len, &r);
    of_info("parked a key of %s behind %" PRId32 ":%" PRId64 ": %s", topic,
            r.partition, r.offset, why);
    return OF_OK;
}
