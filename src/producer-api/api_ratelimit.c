/*
 * api_ratelimit: per-principal rate limiting, [api] rate_limit_per_s
 * requests per second with a burst of one second's worth (a token bucket
 * per principal id). Over the limit: 429 rate_limited with Retry-After.
 *
 * Buckets live in a fixed open-addressed table; when a slot is needed for
 * a new principal and the probe finds none free, the stalest bucket of the
 * probe window is reused (it had refilled anyway if idle for a second), so
 * memory stays bounded however many principals call.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "api.h"

#define SLOTS 4096
#define PROBE 8

struct bucket {
    char id[OF_ACTOR_ID_SIZE];
    double tokens;
    int64_t last_us;
};

static struct bucket buckets[SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u; /* FNV-1a */

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static struct bucket *find(const char *id, double rate, int64_t now)
{
    unsigned h = hash(id);
    struct bucket *stalest = NULL;

    for (int i = 0; i < PROBE; i++) {
        struct bucket *b = &buckets[(h + (unsigned)i) % SLOTS];
        if (strcmp(b->id, id) == 0)
            return b;
        if (!stalest || b->last_us < stalest->last_us)
            stalest = b;
    }
    snprintf(stalest->id, sizeof(stalest->id), "%s", id);
    stalest->tokens = rate;
    stalest->last_us = now;
    return stalest;
}

int api_rate_limited(struct api_req *req, enum MHD_Result *ret)
{
    double rate = req->api->cfg->api.rate_limit_per_s;
    int64_t now = of_time_now_us();
    double wait_s = 0;

    if (rate <= 0)
        return 0;
    pthread_mutex_lock(&lock);
    struct bucket *b = find(req->who.id, rate, now);
    b->tokens += rate * (double)(now - b->last_us) / 1e6;
    if (b->tokens > rate)
        b->tokens = rate;
    b->last_us = now;
    if (b->tokens >= 1)
        b->tokens -= 1;
    else
        wait_s = (1 - b->tokens) / rate;
    pthread_mutex_unlock(&lock);
    if (wait_s <= 0)
        return 0;
    snprintf(req->retry_after, sizeof(req->retry_after), "%d",
             (int)ceil(wait_s));
    *ret = api_reply_error(req, 429, "rate_limited",
                           "more than %g requests per second; retry later",
                           rate);
    return 1;
}
