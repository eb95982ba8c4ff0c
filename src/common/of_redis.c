/* of_redis: see of_redis.h. */
#include "of_redis.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

#include "of_model.h"

/* Version-guarded replace: KEYS[1] the hash, ARGV[1] the new version,
 * ARGV[2..] field, value pairs. Stale writes (an older event applied late,
 * say by a zombie worker) change nothing. */
static const char put_versioned_lua[] =
    "local cur = redis.call('HGET', KEYS[1], 'version')\n"
    "if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('HSET', KEYS[1], 'version', ARGV[1], unpack(ARGV, 2))\n"
    "return 1\n";

/*
 * The circuit breaker. A stopped or unreachable server costs each command
 * the whole timeout, and a thread that waits that long for every request
 * (the API has few) makes the fallback to MySQL slow for all the requests
 * queued behind it. So after a failure to reach the server, every handle
 * of the process to that server fails at once with OF_EAGAIN for
 * BREAKER_HOLD_MS; then one command, alone, tries the server again (the
 * others still fail fast), and its success closes the breaker. Errors the
 * server answers with (OF_EINVAL) prove it is there and never open it.
 */
#define BREAKER_HOLD_MS 1000
#define BREAKERS_MAX    8 /* servers per process; more go without */

struct breaker {
    char server[300];      /* "host:port"; "" while the slot is free */
    _Atomic int64_t until; /* monotonic ms; 0 when closed */
};

static pthread_mutex_t breakers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct breaker breakers[BREAKERS_MAX];

struct of_redis {
    redisContext *c;
    char host[256];
    int port;
    char password[256];
    struct timeval timeout;
    struct breaker *breaker; /* shared with the process's other handles */
    int pending;             /* appended, replies not read yet */
    /* the scripts this connection has had a SCRIPT LOAD of queued */
    struct {
        const char *lua;
        char sha[2 * SHA_DIGEST_LENGTH + 1]; /* hex, for EVALSHA */
    } loaded[OF_REDIS_SCRIPTS_MAX];
    int nloaded;
};

/* The breaker of host:port, made if new; NULL when the table is full. */
static struct breaker *breaker_of(const char *host, int port)
{
    char server[sizeof(breakers[0].server)];
    struct breaker *b = NULL;

    snprintf(server, sizeof(server), "%s:%d", host, port);
    pthread_mutex_lock(&breakers_lock);
    for (int i = 0; i < BREAKERS_MAX && !b; i++) {
        if (!breakers[i].server[0])
            memcpy(breakers[i].server, server, sizeof(server));
        if (strcmp(breakers[i].server, server) == 0)
            b = &breakers[i];
    }
    pthread_mutex_unlock(&breakers_lock);
    return b;
}

/* @returns OF_OK when a command may go to the server now. */
static int breaker_admit(struct of_redis *r, struct of_err *err)
{
    struct breaker *b = r->breaker;
    int64_t until = b ? atomic_load(&b->until) : 0, now;

    if (until == 0)
        return OF_OK;
    now = (of_time_mono_us() / 1000);
    /* past the hold: the one who moves it on probes the server */
    if (now >= until && atomic_compare_exchange_strong(&b->until, &until,
                                                       now + BREAKER_HOLD_MS))
        return OF_OK;
    return of_err_set(err, OF_EAGAIN,
                      "Redis at \"%s:%d\" did not answer a moment ago; not "
                      "tried again for %lld ms",
                      r->host, r->port,
                      (long long)(until > now ? until - now : 0));
}

static void breaker_record(struct of_redis *r, int reached)
{
    if (!r->breaker)
        return;
    if (reached) {
        if (atomic_load(&r->breaker->until) != 0)
            atomic_store(&r->breaker->until, 0);
    } else {
        atomic_store(&r->breaker->until, (of_time_mono_us() / 1000) + BREAKER_HOLD_MS);
    }
}

struct of_redis *of_redis_new(const struct of_config *cfg, struct of_err *err)
{
    struct of_redis *r = calloc(1, sizeof(*r));

    if (!r) {
        of_err_set(err, OF_EFATAL, "out of memory");
        return NULL;
    }
    snprintf(r->host, sizeof(r->host), "%s", cfg->redis.host);
    snprintf(r->password, sizeof(r->password), "%s", cfg->redis.password);
    r->port = cfg->redis.port;
    r->timeout.tv_sec = cfg->redis.timeout_ms / 1000;
    r->timeout.tv_usec = (cfg->redis.timeout_ms % 1000) * 1000;
    r->breaker = breaker_of(r->host, r->port);
    return r;
}

static void drop(struct of_redis *r)
{
    if (r->c) {
        redisFree(r->c);
        r->c = NULL;
    }
    r->pending = 0;
    r->nloaded = 0;
}

void of_redis_destroy(struct of_redis *r)
{
    if (!r)
        return;
    drop(r);
    explicit_bzero(r->password, sizeof(r->password));
    free(r);
}

static int connect_now(struct of_redis *r, struct of_err *err)
{
    redisReply *reply;

    r->c = redisConnectWithTimeout(r->host, r->port, r->timeout);
    if (!r->c || r->c->err) {
        of_err_set(err, OF_EAGAIN, "could not connect to Redis at \"%s:%d\": %s",
                   r->host, r->port, r->c ? r->c->errstr : "out of memory");
        drop(r);
        return OF_EAGAIN;
    }
    redisSetTimeout(r->c, r->timeout);
    if (!r->password[0])
        return OF_OK;
    reply = redisCommand(r->c, "AUTH %s", r->password);
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        of_err_set(err, reply ? OF_EFATAL : OF_EAGAIN,
                   "could not authenticate to Redis at \"%s:%d\"", r->host,
                   r->port);
        if (reply)
            freeReplyObject(reply);
        drop(r);
        return err->rc;
    }
    freeReplyObject(reply);
    return OF_OK;
}

redisReply *of_redis_command(struct of_redis *r, int argc, const char **argv,
                             const size_t *lens, struct of_err *err)
{
    redisReply *reply;

    if (r->pending) {
        of_err_set(err, OF_EFATAL, "Redis: %d pipelined commands not flushed",
                   r->pending);
        return NULL;
    }
    if (breaker_admit(r, err) != OF_OK)
        return NULL;
    if (!r->c && connect_now(r, err) != OF_OK) {
        breaker_record(r, err->rc != OF_EAGAIN);
        return NULL;
    }
    reply = redisCommandArgv(r->c, argc, argv, lens);
    if (!reply) {
        of_err_set(err, OF_EAGAIN, "Redis at \"%s:%d\" failed: %s", r->host,
                   r->port, r->c->errstr);
        drop(r); /* a timed-out connection may hold a late reply */
        breaker_record(r, 0);
        return NULL;
    }
    breaker_record(r, 1);
    if (reply->type == REDIS_REPLY_ERROR) {
        of_err_set(err, OF_EINVAL, "Redis %s: %s", argv[0], reply->str);
        freeReplyObject(reply);
        return NULL;
    }
    return reply;
}

int of_redis_ping(struct of_redis *r, struct of_err *err)
{
    const char *argv[] = {"PING"};
    redisReply *reply = of_redis_command(r, 1, argv, NULL, err);
    int ok;

    if (!reply)
        return err->rc;
    ok = reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0;
    freeReplyObject(reply);
    return ok ? OF_OK
              : of_err_set(err, OF_EAGAIN, "Redis PING: unexpected answer");
}

/* The EVAL of put_versioned_lua into \p argv (room for 64) and \p ver
 * (24 bytes). @returns argc, or -1 with \p err. */
static int versioned_argv(const char **argv, char *ver, const char *key,
                          int64_t version, const char *const *fields,
                          const char *const *values, int n, struct of_err *err)
{
    int argc = 0;

    if (n > 28) {
        of_err_set(err, OF_EFATAL, "too many hash fields: %d", n);
        return -1;
    }
    snprintf(ver, 24, "%lld", (long long)version);
    argv[argc++] = "EVAL";
    argv[argc++] = put_versioned_lua;
    argv[argc++] = "1";
    argv[argc++] = key;
    argv[argc++] = ver;
    for (int i = 0; i < n; i++) {
        argv[argc++] = fields[i];
        argv[argc++] = values[i];
    }
    return argc;
}

int of_redis_put_versioned(struct of_redis *r, const char *key,
                           int64_t version, const char *const *fields,
                           const char *const *values, int n, int *applied,
                           struct of_err *err)
{
    const char *argv[64];
    char ver[24];
    redisReply *reply;
    int argc = versioned_argv(argv, ver, key, version, fields, values, n, err);

    if (argc < 0)
        return err->rc;
    reply = of_redis_command(r, argc, argv, NULL, err);
    if (!reply)
        return err->rc;
    *applied = reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;
    freeReplyObject(reply);
    return OF_OK;
}

int of_redis_append_versioned(struct of_redis *r, const char *key,
                              int64_t version, const char *const *fields,
                              const char *const *values, int n,
                              struct of_err *err)
{
    const char *argv[64];
    char ver[24];
    int argc = versioned_argv(argv, ver, key, version, fields, values, n, err);

    if (argc < 0)
        return err->rc;
    /* argv[0..2] are EVAL, the script, 1 */
    return of_redis_append_script(r, put_versioned_lua, 1, argc - 3, argv + 3,
                                  err);
}

/* Connects unless connected, through the circuit breaker. */
static int ensure_connected(struct of_redis *r, struct of_err *err)
{
    if (r->c)
        return OF_OK;
    if (breaker_admit(r, err) != OF_OK)
        return err->rc;
    if (connect_now(r, err) != OF_OK) {
        breaker_record(r, err->rc != OF_EAGAIN);
        return err->rc;
    }
    return OF_OK;
}

int of_redis_append_script(struct of_redis *r, const char *lua, int nkeys,
                           int argc, const char **argv, struct of_err *err)
{
    const char *full[OF_REDIS_SCRIPT_ARGS_MAX + 3];
    char nk[12];
    int k = 0, rc;

    if (argc > OF_REDIS_SCRIPT_ARGS_MAX)
        return of_err_set(err, OF_EFATAL, "a script call of %d arguments",
                          argc);
    rc = ensure_connected(r, err);
    if (rc != OF_OK)
        return rc;
    while (k < r->nloaded && r->loaded[k].lua != lua)
        k++;
    if (k == r->nloaded) {
        const char *load[] = {"SCRIPT", "LOAD", lua};
        unsigned char md[SHA_DIGEST_LENGTH];
        if (r->nloaded == OF_REDIS_SCRIPTS_MAX)
            return of_err_set(err, OF_EFATAL, "more than %d Redis scripts",
                              OF_REDIS_SCRIPTS_MAX);
        rc = of_redis_append(r, 3, load, NULL, err);
        if (rc != OF_OK)
            return rc;
        /* EVALSHA: the server has it by its SHA-1; sending the body with
         * every EVAL cost the parsing and the hashing of it each time. The
         * hash is ours once per connection, not per call. */
        SHA1((const unsigned char *)lua, strlen(lua), md);
        for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
            snprintf(r->loaded[k].sha + 2 * i, 3, "%02x", md[i]);
        r->loaded[k].lua = lua;
        r->nloaded++;
    }
    snprintf(nk, sizeof(nk), "%d", nkeys);
    full[0] = "EVALSHA";
    full[1] = r->loaded[k].sha;
    full[2] = nk;
    memcpy(full + 3, argv, (size_t)argc * sizeof(*argv));
    return of_redis_append(r, argc + 3, full, NULL, err);
}

int of_redis_append(struct of_redis *r, int argc, const char **argv,
                    const size_t *lens, struct of_err *err)
{
    int rc = ensure_connected(r, err);

    if (rc != OF_OK)
        return rc;
    if (redisAppendCommandArgv(r->c, argc, argv, lens) != REDIS_OK) {
        of_err_set(err, OF_EAGAIN, "Redis at \"%s:%d\" failed: %s", r->host,
                   r->port, r->c->errstr);
        drop(r); /* and the commands queued before this one */
        return OF_EAGAIN;
    }
    r->pending++;
    return OF_OK;
}

int of_redis_send(struct of_redis *r, struct of_err *err)
{
    int done = 0;

    if (!r->c || r->pending == 0)
        return OF_OK;
    do {
        if (redisBufferWrite(r->c, &done) != REDIS_OK) {
            of_err_set(err, OF_EAGAIN, "Redis at \"%s:%d\" failed: %s",
                       r->host, r->port, r->c->errstr);
            drop(r);
            breaker_record(r, 0);
            return OF_EAGAIN;
        }
    } while (!done);
    return OF_OK;
}

int of_redis_flush(struct of_redis *r, struct of_err *err)
{
    int n = r->pending, rc = OF_OK, noscript = 0;
    char first[256] = "";

    r->pending = 0;
    for (int i = 0; i < n; i++) {
        void *p = NULL;
        redisReply *reply;

        if (redisGetReply(r->c, &p) != REDIS_OK || !p) {
            of_err_set(err, OF_EAGAIN, "Redis at \"%s:%d\" failed: %s",
                       r->host, r->port, r->c->errstr);
            drop(r); /* the replies not read yet go with it */
            breaker_record(r, 0);
            return OF_EAGAIN;
        }
        reply = p;
        if (reply->type == REDIS_REPLY_ERROR && rc == OF_OK) {
            rc = OF_EINVAL;
            snprintf(first, sizeof(first), "%s", reply->str);
        }
        if (reply->type == REDIS_REPLY_ERROR &&
            strncmp(reply->str, "NOSCRIPT", 8) == 0)
            noscript = 1;
        freeReplyObject(reply);
    }
    if (n > 0)
        breaker_record(r, 1);
    if (noscript) {
        /* SCRIPT FLUSH, or a failover to a replica without them: a new
         * connection loads them again */
        drop(r);
        return of_err_set(err, OF_EAGAIN,
                          "Redis no longer has our scripts (%s): loading "
                          "them again",
                          first);
    }
    if (rc != OF_OK)
        return of_err_set(err, rc, "Redis answered a pipelined command: %s",
                          first);
    return OF_OK;
}

int of_redis_run_id(struct of_redis *r, char *out, size_t cap,
                    struct of_err *err)
{
    const char *argv[] = {"INFO", "server"};
    redisReply *reply = of_redis_command(r, 2, argv, NULL, err);
    const char *p;
    size_t n = 0;

    if (!reply)
        return err->rc;
    p = reply->type == REDIS_REPLY_STRING ? strstr(reply->str, "run_id:")
                                          : NULL;
    if (p) {
        p += 7;
        while (p[n] && p[n] != '\r' && p[n] != '\n' && n + 1 < cap)
            n++;
        memcpy(out, p, n);
    }
    out[n] = '\0';
    freeReplyObject(reply);
    return p ? OF_OK : of_err_set(err, OF_EAGAIN, "Redis INFO: no run_id");
}
