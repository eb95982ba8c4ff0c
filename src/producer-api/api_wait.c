/*
 * api_wait: "Prefer: wait=N" without a thread or a poll loop per request.
 *
 * One thread holds every waiting request (suspended connections) in a list
 * and a Redis connection SUBSCRIBEd to orderflow:command-done, on which the
 * worker PUBLISHes a command id after writing its final status. A request
 * is let go (resumed) when its id is published, when its deadline passes,
 * or at shutdown. A request added after its command already completed would
 * miss the publication, so each new entry's status is checked once, after
 * it is in the list: whichever comes first, check or publication, lets go.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "of_log.h"

#define CHANNEL "orderflow:command-done"

struct waiter {
    struct waiter *next;
    struct api_req *req;
    int fresh; /* status not checked yet */
};

struct api_waiters {
    struct api *api;
    pthread_mutex_t lock;
    struct waiter *head;
    pthread_t thread;
    atomic_int run;
    redisContext *sub;
    struct of_redis *redis; /* status checks */
};

static void release(struct waiter *w)
{
    w->req->waited = 1;
    api_resume(w->req);
    free(w);
}

/* Lets go of the requests for \p command_id (NULL: all, or expired ones
 * when \p now is set). */
static void release_matching(struct api_waiters *ws, const char *command_id,
                             int64_t now)
{
    struct waiter **pp = &ws->head, *done = NULL;

    pthread_mutex_lock(&ws->lock);
    while (*pp) {
        struct waiter *w = *pp;
        int match = command_id ? strcmp(w->req->command_id, command_id) == 0
                    : now      ? w->req->deadline_us <= now
                               : 1;
        if (match) {
            *pp = w->next;
            w->next = done;
            done = w;
        } else {
            pp = &w->next;
        }
    }
    pthread_mutex_unlock(&ws->lock);
    while (done) {
        struct waiter *next = done->next;
        release(done);
        done = next;
    }
}

static void check_fresh(struct api_waiters *ws)
{
    char ids[64][OF_UUID_SIZE];
    int n = 0;

    pthread_mutex_lock(&ws->lock);
    for (struct waiter *w = ws->head; w && n < 64; w = w->next) {
        if (w->fresh) {
            w->fresh = 0;
            snprintf(ids[n++], OF_UUID_SIZE, "%s", w->req->command_id);
        }
    }
    pthread_mutex_unlock(&ws->lock);
    for (int i = 0; i < n; i++) {
        struct of_cmd_status c;
        struct of_err err;
        int found = 0;
        if (of_model_redis_get_cmd(ws->redis, ids[i], &c, &found, &err) ==
                OF_OK &&
            found && c.status != OF_CMD_ACCEPTED)
            release_matching(ws, ids[i], 0);
    }
}

static int subscribe(struct api_waiters *ws)
{
    const struct of_config *cfg = ws->api->cfg;
    struct timeval tv = {1, 0};
    redisReply *reply;

    ws->sub = redisConnectWithTimeout(cfg->redis.host, cfg->redis.port, tv);
    if (!ws->sub || ws->sub->err)
        goto fail;
    redisSetTimeout(ws->sub, tv);
    if (cfg->redis.password[0]) {
        reply = redisCommand(ws->sub, "AUTH %s", cfg->redis.password);
        if (!reply || reply->type == REDIS_REPLY_ERROR) {
            if (reply)
                freeReplyObject(reply);
            goto fail;
        }
        freeReplyObject(reply);
    }
    reply = redisCommand(ws->sub, "SUBSCRIBE " CHANNEL);
    if (!reply)
        goto fail;
    freeReplyObject(reply);
    return 0;
fail:
    if (ws->sub)
        redisFree(ws->sub);
    ws->sub = NULL;
    return -1;
}

/* Reads what arrived on the subscription, waiting at most 100 ms. */
static void read_messages(struct api_waiters *ws)
{
    struct pollfd pfd = {ws->sub->fd, POLLIN, 0};
    void *r = NULL;

    if (poll(&pfd, 1, 100) <= 0)
        return;
    if (redisBufferRead(ws->sub) != REDIS_OK) {
        of_warn("Redis subscription lost: %s", ws->sub->errstr);
        redisFree(ws->sub);
        ws->sub = NULL;
        return;
    }
    while (redisGetReplyFromReader(ws->sub, &r) == REDIS_OK && r) {
        redisReply *reply = r;
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
            reply->element[2]->type == REDIS_REPLY_STRING)
            release_matching(ws, reply->element[2]->str, 0);
        freeReplyObject(reply);
        r = NULL;
    }
}

static void *wait_main(void *arg)
{
    struct api_waiters *ws = arg;

    while (ws->run) {
        if (!ws->sub && subscribe(ws) != 0) {
            usleep(100000);
        }
        check_fresh(ws);
        if (ws->sub)
            read_messages(ws);
        release_matching(ws, NULL, of_time_now_us());
    }
    return NULL;
}

struct api_waiters *api_waiters_new(struct api *api, struct of_err *err)
{
    struct api_waiters *ws = calloc(1, sizeof(*ws));

    if (!ws) {
        of_err_set(err, OF_EFATAL, "out of memory");
        return NULL;
    }
    ws->api = api;
    ws->redis = of_redis_new(api->cfg, err);
    pthread_mutex_init(&ws->lock, NULL);
    ws->run = 1;
    pthread_create(&ws->thread, NULL, wait_main, ws);
    return ws;
}

void api_wait_add(struct api_waiters *ws, struct api_req *req)
{
    struct waiter *w = calloc(1, sizeof(*w));

    if (!w) {
        req->waited = 1;
        api_resume(req);
        return;
    }
    w->req = req;
    w->fresh = 1;
    pthread_mutex_lock(&ws->lock);
    w->next = ws->head;
    ws->head = w;
    pthread_mutex_unlock(&ws->lock);
}

void api_wait_release_all(struct api_waiters *ws)
{
    release_matching(ws, NULL, 0);
}

void api_waiters_destroy(struct api_waiters *ws)
{
    if (!ws)
        return;
    ws->run = 0;
    pthread_join(ws->thread, NULL);
    release_matching(ws, NULL, 0);
    if (ws->sub)
        redisFree(ws->sub);
    of_redis_destroy(ws->redis);
    pthread_mutex_destroy(&ws->lock);
    free(ws);
}
