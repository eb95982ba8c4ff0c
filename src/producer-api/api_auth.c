/*
 * api_auth: who is calling. "Authorization: Bearer <JWT>" (of_jwt does every
 * check) or "X-API-Key: <key>" (looked up by its SHA-256 in api_keys, never
 * stored or logged in clear). Anything else, or both at once, or the header
 * twice, is 401 unauthenticated with WWW-Authenticate: Bearer.
 *
 * Verified API keys are cached per process for a short time so that a busy
 * client does not cost a MySQL round trip per request; a revoked key stops
 * working within that time (API_KEY_CACHE_US). Verified JWTs are cached
 * until their exp (of_jwt_verify_cached): a token is never revoked, and
 * any later verification before exp would say the same.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api.h"
#include "of_apikey.h"
#include "of_log.h"

#define API_KEY_CACHE_SLOTS 64
#define API_KEY_CACHE_US    (10 * 1000000LL)

struct key_cache_entry {
    unsigned char hash[32];
    struct api_principal who;
    int64_t until_us;
};

static struct key_cache_entry key_cache[API_KEY_CACHE_SLOTS];
static pthread_mutex_t key_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static int cache_get(const unsigned char hash[32], struct api_principal *who)
{
    struct key_cache_entry *e = &key_cache[hash[0] % API_KEY_CACHE_SLOTS];
    int hit;

    pthread_mutex_lock(&key_cache_lock);
    hit = e->until_us > of_time_now_us() &&
          of_apikey_hash_cmp(e->hash, hash) == 0;
    if (hit)
        *who = e->who;
    pthread_mutex_unlock(&key_cache_lock);
    return hit;
}

static void cache_put(const unsigned char hash[32],
                      const struct api_principal *who)
{
    struct key_cache_entry *e = &key_cache[hash[0] % API_KEY_CACHE_SLOTS];

    pthread_mutex_lock(&key_cache_lock);
    memcpy(e->hash, hash, 32);
    e->who = *who;
    e->until_us = of_time_now_us() + API_KEY_CACHE_US;
    pthread_mutex_unlock(&key_cache_lock);
}

struct key_row {
    int found;
    struct api_principal *who;
    const unsigned char *hash;
};

static int key_row_cb(void *arg, int ncols, char **v, const unsigned long *lens)
{
    struct key_row *kr = arg;
    int role = of_role_parse(v[1]);
    (void)ncols;

    /* the lookup was by hash; compare again in constant time anyway */
    if (role < 0 || lens[2] != 32 ||
        of_apikey_hash_cmp((const unsigned char *)v[2], kr->hash) != 0)
        return 1;
    kr->who->role = (enum of_role)role;
    kr->who->user_id = 0;
    snprintf(kr->who->id, sizeof(kr->who->id), "apikey:%s", v[0]);
    kr->found = 1;
    return 1;
}

/* @returns OF_OK (found), OF_EINVAL (no such key), OF_EAGAIN (no MySQL) */
static int lookup_key(struct api_req *req, const char *key,
                      struct api_principal *who)
{
    unsigned char hash[32];
    struct key_row kr = {0, who, hash};
    struct of_err err;
    struct of_db *db;
    int rc;

    if (!of_apikey_well_formed(key))
        return OF_EINVAL;
    of_apikey_hash(key, hash);
    if (cache_get(hash, who))
        return OF_OK;
    db = api_db(req->api, &err);
    if (!db)
        return OF_EAGAIN;
    rc = of_db_query(db,
                     "SELECT name, role, key_hash FROM api_keys "
                     "WHERE key_hash = ? AND revoked_at IS NULL",
                     (struct of_db_param[]){OF_DB_B(hash, 32)}, 1, key_row_cb,
                     &kr, &err);
    if (rc == OF_EAGAIN)
        api_db_reset(req->api);
    if (rc != OF_OK) {
        of_warn("could not look up an API key: %s", err.msg);
        return OF_EAGAIN;
    }
    if (!kr.found)
        return OF_EINVAL;
    cache_put(hash, who);
    return OF_OK;
}

static int count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                        const char *value)
{
    int *n = cls;
    (void)kind;
    (void)value;

    if (strcasecmp(key, "Authorization") == 0 ||
        strcasecmp(key, "X-API-Key") == 0)
        (*n)++;
    return MHD_YES;
}

static int unauthenticated(struct api_req *req, enum MHD_Result *ret,
                           const char *why)
{
    of_info("401 %s %s: %s", req->method, req->route, why);
    *ret = api_reply_error(req, 401, "unauthenticated",
                           "valid credentials are required");
    return OF_EINVAL;
}

int api_authenticate(struct api_req *req, enum MHD_Result *ret)
{
    const char *auth = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                                   "Authorization");
    const char *key =
        MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-API-Key");
    struct of_jwt_claims claims;
    struct of_err err;
    int n = 0, rc;

    MHD_get_connection_values(req->conn, MHD_HEADER_KIND,
                              (MHD_KeyValueIterator)count_header, &n);
    if (n != 1)
        return unauthenticated(req, ret, n ? "more than one credential"
                                           : "no credentials");
    if (key) {
        rc = lookup_key(req, key, &req->who);
        if (rc == OF_EAGAIN) {
            *ret = api_reply_error(req, 503, "unavailable",
                                   "could not check the API key; retry");
            return OF_EAGAIN;
        }
        return rc == OF_OK ? OF_OK
                           : unauthenticated(req, ret, "unknown API key");
    }
    if (strncmp(auth, "Bearer ", 7) != 0)
        return unauthenticated(req, ret, "not a Bearer token");
    if (of_jwt_verify_cached(req->api->jwt_cache, auth + 7, time(NULL),
                             &claims, &err) != OF_OK)
        return unauthenticated(req, ret, err.msg);
    req->who.role = claims.role;
    req->who.user_id = claims.sub;
    snprintf(req->who.id, sizeof(req->who.id), "user:%lld",
             (long long)claims.sub);
    return OF_OK;
}

int api_may_act_for(const struct api_req *req, int64_t user_id)
{
    if (req->who.role == OF_ROLE_SERVICE || req->who.role == OF_ROLE_ADMIN)
        return 1;
    return req->who.user_id != 0 && req->who.user_id == user_id;
}
