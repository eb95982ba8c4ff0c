/* of_jwt: see of_jwt.h. */
#include "of_jwt.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define OF_JWT_MIN_HMAC_KEY 32
#define OF_JWT_MAX_KEYS     16
#define OF_JWT_KID_MAX      64
#define OF_JWT_MAX_TOKEN    8192
#define OF_JWT_MAX_HEADER   2048 /* base64url characters of the header */

/* One [auth] jwt_keys entry: an HMAC secret named by the kid that picks it */
struct jwt_key {
    char kid[OF_JWT_KID_MAX + 1];
    unsigned char *key;
    int len;
};

struct of_jwt {
    jwt_alg_t alg;
    unsigned char *verify_key; /* HMAC secret or PEM public key */
    int verify_len;
    unsigned char *sign_key; /* HMAC secret or PEM private key */
    int sign_len;
    char sign_kid[OF_JWT_KID_MAX + 1]; /* kid header of signed tokens */
    int nkeys;
    struct jwt_key keys[OF_JWT_MAX_KEYS]; /* HS* only; nkeys 0: kid ignored */
    char issuer[256];
    char audience[256];
    int leeway;
    int max_ttl;
};

static const char *const role_names[] = {"user", "service", "admin"};

const char *of_role_name(enum of_role role)
{
    return role_names[role];
}

int of_role_parse(const char *name)
{
    for (int i = 0; i < 3; i++) {
        if (strcmp(name, role_names[i]) == 0)
            return i;
    }
    return -1;
}

int of_parse_id(const char *s, int64_t *id)
{
    int64_t v = 0;
    size_t i;

    if (!s || s[0] < '1' || s[0] > '9')
        return 0;
    for (i = 0; s[i]; i++) {
        if (s[i] < '0' || s[i] > '9' || i >= 10)
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    if (v > 2147483647)
        return 0;
    *id = v;
    return 1;
}

static int read_file(const char *path, unsigned char **out, int *len,
                     struct of_err *err)
{
    FILE *f = fopen(path, "rb");
    unsigned char buf[16384];
    size_t n;

    if (!f)
        return of_err_set(err, OF_EFATAL, "could not open key file \"%s\": %s",
                          path, strerror(errno));
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    if (n == 0 || n >= sizeof(buf) - 1)
        return of_err_set(err, OF_EFATAL, "key file \"%s\" is empty or larger "
                                          "than 16 KiB",
                          path);
    *out = malloc(n + 1);
    if (!*out)
        return of_err_set(err, OF_EFATAL, "out of memory");
    memcpy(*out, buf, n);
    (*out)[n] = '\0';
    *len = (int)n;
    explicit_bzero(buf, sizeof(buf));
    return OF_OK;
}

static int b64url_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int kid_char(char c)
{
    return b64url_char(c) || c == '.';
}

static const struct jwt_key *find_kid(const struct of_jwt *jwt, const char *kid)
{
    for (int i = 0; i < jwt->nkeys; i++) {
        if (strcmp(jwt->keys[i].kid, kid) == 0)
            return &jwt->keys[i];
    }
    return NULL;
}

/* One "kid:secret" of [auth] jwt_keys, blanks around it trimmed. The
 * secret is never quoted in an error. */
static int
parse_key(struct of_jwt *jwt, const char *p, size_t n, struct of_err *err)
{
    const char *colon;
    struct jwt_key *k;
    size_t kn, sn;

    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    colon = memchr(p, ':', n);
    kn = colon ? (size_t)(colon - p) : 0;
    if (!colon || kn == 0 || kn > OF_JWT_KID_MAX)
        return of_err_set(err, OF_EFATAL,
                          "[auth] jwt_keys: entry %d is not \"kid:secret\" "
                          "with a kid of 1 to %d characters",
                          jwt->nkeys + 1, OF_JWT_KID_MAX);
    for (size_t i = 0; i < kn; i++) {
        if (!kid_char(p[i]))
            return of_err_set(err, OF_EFATAL,
                              "[auth] jwt_keys: kid \"%.*s\" may only hold "
                              "letters, digits, '.', '_' and '-'",
                              (int)kn, p);
    }
    if (jwt->nkeys == OF_JWT_MAX_KEYS)
        return of_err_set(err, OF_EFATAL, "[auth] jwt_keys: more than %d keys",
                          OF_JWT_MAX_KEYS);
    k = &jwt->keys[jwt->nkeys];
    memcpy(k->kid, p, kn);
    k->kid[kn] = '\0';
    if (find_kid(jwt, k->kid))
        return of_err_set(err, OF_EFATAL,
                          "[auth] jwt_keys: kid \"%s\" is given twice",
                          k->kid);
    sn = n - kn - 1;
    if (sn < OF_JWT_MIN_HMAC_KEY)
        return of_err_set(err, OF_EFATAL,
                          "[auth] jwt_keys: the key of kid \"%s\" is %s: HMAC "
                          "needs a secret of at least %d bytes",
                          k->kid, sn ? "too short" : "empty",
                          OF_JWT_MIN_HMAC_KEY);
    k->key = malloc(sn + 1);
    if (!k->key)
        return of_err_set(err, OF_EFATAL, "out of memory");
    memcpy(k->key, colon + 1, sn);
    k->key[sn] = '\0';
    k->len = (int)sn;
    jwt->nkeys++;
    return OF_OK;
}

/* [auth] jwt_keys "kid:secret,kid:secret", then jwt_sign_kid among them */
static int load_key_map(struct of_jwt *jwt,
                        const struct of_config *cfg,
                        struct of_err *err)
{
    const char *p = cfg->auth.jwt_keys;
    const struct jwt_key *k;

    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (parse_key(jwt, p, n, err) != OF_OK)
            return OF_EFATAL;
        p += n + (comma ? 1 : 0);
        if (comma && !*p)
            return of_err_set(err, OF_EFATAL,
                              "[auth] jwt_keys ends with a comma");
    }
    if (!cfg->auth.jwt_sign_kid[0])
        return OF_OK;
    k = find_kid(jwt, cfg->auth.jwt_sign_kid);
    if (!k)
        return of_err_set(err, OF_EFATAL,
                          "[auth] jwt_sign_kid \"%s\" is not a kid of "
                          "jwt_keys",
                          cfg->auth.jwt_sign_kid);
    if (jwt->sign_key) /* jwt_key's copy: the entry signs instead */
        explicit_bzero(jwt->sign_key, (size_t)jwt->sign_len);
    free(jwt->sign_key);
    jwt->sign_key = malloc((size_t)k->len + 1);
    if (!jwt->sign_key)
        return of_err_set(err, OF_EFATAL, "out of memory");
    memcpy(jwt->sign_key, k->key, (size_t)k->len + 1);
    jwt->sign_len = k->len;
    snprintf(jwt->sign_kid, sizeof(jwt->sign_kid), "%s", k->kid);
    return OF_OK;
}

static int load_keys(struct of_jwt *jwt, const struct of_config *cfg,
                     int for_signing, struct of_err *err)
{
    int rc;

    if (jwt->alg <= JWT_ALG_HS512) {
        size_t n = strlen(cfg->auth.jwt_key);
        if (n < OF_JWT_MIN_HMAC_KEY)
            return of_err_set(err, OF_EFATAL,
                              "[auth] jwt_key is %s: %s needs a secret of at "
                              "least %d bytes (set ORDERFLOW_AUTH_JWT_KEY)",
                              n ? "too short" : "empty", cfg->auth.jwt_alg,
                              OF_JWT_MIN_HMAC_KEY);
        jwt->verify_key = (unsigned char *)strdup(cfg->auth.jwt_key);
        jwt->sign_key = (unsigned char *)strdup(cfg->auth.jwt_key);
        if (!jwt->verify_key || !jwt->sign_key)
            return of_err_set(err, OF_EFATAL, "out of memory");
        jwt->verify_len = jwt->sign_len = (int)n;
        return OF_OK;
    }
    if (!cfg->auth.jwt_public_key_file[0])
        return of_err_set(err, OF_EFATAL,
                          "[auth] jwt_public_key_file is required for %s",
                          cfg->auth.jwt_alg);
    rc = read_file(cfg->auth.jwt_public_key_file, &jwt->verify_key,
                   &jwt->verify_len, err);
    if (rc != OF_OK || !for_signing)
        return rc;
    if (!cfg->auth.jwt_private_key_file[0])
        return of_err_set(err, OF_EFATAL,
                          "[auth] jwt_private_key_file is required to sign "
                          "%s tokens",
                          cfg->auth.jwt_alg);
    return read_file(cfg->auth.jwt_private_key_file, &jwt->sign_key,
                     &jwt->sign_len, err);
}

struct of_jwt *of_jwt_new(const struct of_config *cfg, int for_signing,
                          struct of_err *err)
{
    struct of_jwt *jwt = calloc(1, sizeof(*jwt));

    if (!jwt) {
        of_err_set(err, OF_EFATAL, "out of memory");
        return NULL;
    }
    jwt->alg = jwt_str_alg(cfg->auth.jwt_alg);
    if (jwt->alg == JWT_ALG_INVAL || jwt->alg == JWT_ALG_NONE) {
        of_err_set(err, OF_EFATAL, "[auth] jwt_alg \"%s\" is not supported",
                   cfg->auth.jwt_alg);
        goto fail;
    }
    if (cfg->auth.jwt_keys[0] && jwt->alg > JWT_ALG_HS512) {
        of_err_set(err, OF_EFATAL,
                   "[auth] jwt_keys holds HMAC secrets: it cannot be used "
                   "with jwt_alg %s",
                   cfg->auth.jwt_alg);
        goto fail;
    }
    if (load_keys(jwt, cfg, for_signing, err) != OF_OK ||
        load_key_map(jwt, cfg, err) != OF_OK)
        goto fail;
    snprintf(jwt->issuer, sizeof(jwt->issuer), "%s", cfg->auth.jwt_issuer);
    snprintf(jwt->audience, sizeof(jwt->audience), "%s",
             cfg->auth.jwt_audience);
    jwt->leeway = cfg->auth.jwt_leeway_s;
    jwt->max_ttl = cfg->auth.jwt_max_ttl_s;
    return jwt;
fail:
    of_jwt_destroy(jwt);
    return NULL;
}

void of_jwt_destroy(struct of_jwt *jwt)
{
    if (!jwt)
        return;
    if (jwt->verify_key)
        explicit_bzero(jwt->verify_key, (size_t)jwt->verify_len);
    if (jwt->sign_key)
        explicit_bzero(jwt->sign_key, (size_t)jwt->sign_len);
    free(jwt->verify_key);
    free(jwt->sign_key);
    for (int i = 0; i < jwt->nkeys; i++) {
        explicit_bzero(jwt->keys[i].key, (size_t)jwt->keys[i].len);
        free(jwt->keys[i].key);
    }
    free(jwt);
}

/* A NumericDate claim: a JSON integer (not a string, not a float). */
static int int_claim(json_t *claims, const char *name, int required,
                     int64_t *out, struct of_err *err)
{
    json_t *v = json_object_get(claims, name);

    if (!v) {
        *out = 0;
        return required ? of_err_set(err, OF_EINVAL, "claim %s missing", name)
                        : OF_OK;
    }
    if (!json_is_integer(v))
        return of_err_set(err, OF_EINVAL, "claim %s is not an integer", name);
    *out = (int64_t)json_integer_value(v);
    return OF_OK;
}

static int check_aud(json_t *claims, const char *want, struct of_err *err)
{
    json_t *aud = json_object_get(claims, "aud");
    size_t i;
    json_t *v;

    if (!want[0])
        return OF_OK;
    if (json_is_string(aud) && strcmp(json_string_value(aud), want) == 0)
        return OF_OK;
    json_array_foreach(aud, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
            return OF_OK;
    }
    return of_err_set(err, OF_EINVAL, "aud does not name us");
}

static int check_times(const struct of_jwt *jwt, json_t *claims, time_t now,
                       struct of_jwt_claims *out, struct of_err *err)
{
    int64_t exp = 0, nbf = 0, iat = 0;

    if (int_claim(claims, "exp", 1, &exp, err) != OF_OK ||
        int_claim(claims, "nbf", 0, &nbf, err) != OF_OK ||
        int_claim(claims, "iat", 0, &iat, err) != OF_OK)
        return OF_EINVAL;
    /* Compared so that nothing overflows whatever a signed token claims
     * (exp near INT64_MAX, iat near INT64_MIN): now, leeway and max_ttl are
     * small, and exp is bounded by the time iat is looked at. */
    if (exp <= (int64_t)now - jwt->leeway)
        return of_err_set(err, OF_EINVAL, "token expired");
    /* no immortal tokens: exp far in the future is refused however it was
     * signed, and so is a lifetime longer than the maximum */
    if (exp > (int64_t)now + (int64_t)jwt->max_ttl + jwt->leeway)
        return of_err_set(err, OF_EINVAL, "exp beyond the maximum TTL");
    if (json_object_get(claims, "iat") && iat < exp - jwt->max_ttl)
        return of_err_set(err, OF_EINVAL, "exp - iat beyond the maximum TTL");
    if (json_object_get(claims, "nbf") && nbf > (int64_t)now + jwt->leeway)
        return of_err_set(err, OF_EINVAL, "token not valid yet (nbf)");
    out->exp = exp;
    return OF_OK;
}

static int check_claims(const struct of_jwt *jwt, json_t *claims, time_t now,
                        struct of_jwt_claims *out, struct of_err *err)
{
    json_t *sub = json_object_get(claims, "sub");
    json_t *role = json_object_get(claims, "role");
    json_t *iss = json_object_get(claims, "iss");
    int r;

    if (!json_is_object(claims))
        return of_err_set(err, OF_EINVAL, "claims are not an object");
    if (check_times(jwt, claims, now, out, err) != OF_OK)
        return OF_EINVAL;
    if (!json_is_string(sub) || !of_parse_id(json_string_value(sub), &out->sub))
        return of_err_set(err, OF_EINVAL, "sub is not a user id string");
    r = json_is_string(role) ? of_role_parse(json_string_value(role)) : -1;
    if (r < 0)
        return of_err_set(err, OF_EINVAL, "role is not user|service|admin");
    out->role = (enum of_role)r;
    if (jwt->issuer[0] &&
        (!json_is_string(iss) || strcmp(json_string_value(iss), jwt->issuer)))
        return of_err_set(err, OF_EINVAL, "iss mismatch");
    return check_aud(claims, jwt->audience, err);
}

/* Three non-empty base64url segments (RFC 7515 §2: no padding, no '+' or
 * '/'; libjwt 1.10.2 would take those too). @returns the length of the
 * header segment, or 0 if the token is not of that shape. */
static size_t token_shape(const char *token)
{
    size_t seg[3] = {0, 0, 0}, n = 0;
    int dots = 0;

    for (const char *c = token; *c; c++, n++) {
        if (n > OF_JWT_MAX_TOKEN)
            return 0;
        if (*c == '.') {
            if (++dots > 2)
                return 0;
        } else if (b64url_char(*c)) {
            seg[dots]++;
        } else {
            return 0;
        }
    }
    return dots == 2 && seg[0] && seg[1] && seg[2] ? seg[0] : 0;
}

/* The key that verifies \p token: with no jwt_keys, the one key whatever
 * the kid says; else the kid's key, jwt_key when the header has no kid,
 * and none (NULL) for an unknown or non-string kid, for an alg not spelt
 * exactly as configured, a typ other than the string "JWT", or a header
 * that is not a JSON object without duplicate names. */
static const unsigned char *verify_key(const struct of_jwt *jwt,
                                       const char *token,
                                       size_t hlen,
                                       int *len,
                                       struct of_err *err)
{
    char b64[OF_JWT_MAX_HEADER + 4];
    unsigned char raw[OF_JWT_MAX_HEADER];
    const unsigned char *key = NULL;
    size_t pad = (4 - hlen % 4) % 4;
    json_t *header = NULL, *kid, *alg, *typ;
    int n;

    *len = jwt->verify_len;
    if (hlen > OF_JWT_MAX_HEADER) {
        of_err_set(err, OF_EINVAL, "header longer than %d characters",
                   OF_JWT_MAX_HEADER);
        return NULL;
    }
    for (size_t i = 0; i < hlen; i++) {
        char c = token[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        b64[i] = c;
    }
    memset(b64 + hlen, '=', pad);
    n = hlen % 4 == 1
            ? -1
            : EVP_DecodeBlock(raw, (unsigned char *)b64, (int)(hlen + pad));
    header = n < (int)pad ? NULL
                          : json_loadb((const char *)raw, (size_t)n - pad,
                                       JSON_REJECT_DUPLICATES, NULL);
    kid = json_object_get(header, "kid");
    alg = json_object_get(header, "alg");
    typ = json_object_get(header, "typ");
    if (!json_is_object(header)) {
        of_err_set(err, OF_EINVAL, "header is not a JSON object");
    } else if (!json_is_string(alg) ||
               strcmp(json_string_value(alg), jwt_alg_str(jwt->alg)) != 0) {
        /* exactly our spelling: libjwt reads "hS256" as HS256 */
        of_err_set(err, OF_EINVAL, "alg is not %s", jwt_alg_str(jwt->alg));
    } else if (typ && (!json_is_string(typ) ||
                       strcmp(json_string_value(typ), "JWT") != 0)) {
        of_err_set(err, OF_EINVAL, "typ is not JWT");
    } else if (!kid || jwt->nkeys == 0) {
        /* without a kid -> key map, kid is ignored (TESTPLAN row 30) */
        key = jwt->verify_key;
    } else if (!json_is_string(kid) || !find_kid(jwt, json_string_value(kid))) {
        of_err_set(err, OF_EINVAL, "unknown kid");
    } else {
        const struct jwt_key *k = find_kid(jwt, json_string_value(kid));
        key = k->key;
        *len = k->len;
    }
    json_decref(header);
    return key;
}

int of_jwt_verify(const struct of_jwt *jwt, const char *token, time_t now,
                  struct of_jwt_claims *claims, struct of_err *err)
{
    jwt_t *t = NULL;
    char *json = NULL;
    json_t *root = NULL;
    const unsigned char *key;
    const char *typ;
    size_t hlen = token_shape(token);
    int rc, key_len = 0;

    if (!hlen)
        return of_err_set(err, OF_EINVAL,
                          "token is not three base64url "
                          "segments");
    key = verify_key(jwt, token, hlen, &key_len, err);
    if (!key)
        return OF_EINVAL;
    if (jwt_decode(&t, token, key, key_len) != 0 || !t) {
        rc = of_err_set(err, OF_EINVAL, "bad signature or malformed token");
        goto out;
    }
    /* libjwt let the token's header choose the algorithm: pin it here */
    if (jwt_get_alg(t) != jwt->alg) {
        rc = of_err_set(err, OF_EINVAL, "algorithm %s is not the configured "
                                        "one",
                        jwt_alg_str(jwt_get_alg(t)));
        goto out;
    }
    typ = jwt_get_header(t, "typ");
    if (typ && strcmp(typ, "JWT") != 0) {
        rc = of_err_set(err, OF_EINVAL, "typ is not JWT");
        goto out;
    }
    json = jwt_get_grants_json(t, NULL);
    root = json ? json_loads(json, JSON_REJECT_DUPLICATES, NULL) : NULL;
    rc = check_claims(jwt, root, now, claims, err);
out:
    json_decref(root);
    free(json);
    jwt_free(t);
    return rc;
}

/* ---- the verified-token cache (see of_jwt.h) ---- */

struct jwt_cache_entry {
    uint64_t hash;
    size_t len;
    int64_t from, until; /* answers while from <= now < until (exp) */
    struct of_jwt_claims claims;
    char token[OF_JWT_CACHE_TOKEN_MAX];
};

struct of_jwt_cache {
    const struct of_jwt *jwt; /* borrowed */
    pthread_mutex_t lock;     /* guards every slot */
    int nslots;
    struct jwt_cache_entry *slots; /* calloc'ed: untouched slots cost no RSS */
    long hits;                     /* under lock */
};

struct of_jwt_cache *of_jwt_cache_new(const struct of_jwt *jwt, int slots,
                                      struct of_err *err)
{
    struct of_jwt_cache *cache = calloc(1, sizeof(*cache));

    assert(slots > 0);
    if (cache)
        cache->slots = calloc((size_t)slots, sizeof(*cache->slots));
    if (!cache || !cache->slots) {
        free(cache);
        of_err_set(err, OF_EFATAL, "out of memory");
        return NULL;
    }
    cache->jwt = jwt;
    cache->nslots = slots;
    pthread_mutex_init(&cache->lock, NULL);
    return cache;
}

void of_jwt_cache_destroy(struct of_jwt_cache *cache)
{
    if (!cache)
        return;
    /* bearer tokens are credentials: leave none in freed memory */
    explicit_bzero(cache->slots, (size_t)cache->nslots * sizeof(*cache->slots));
    free(cache->slots);
    pthread_mutex_destroy(&cache->lock);
    free(cache);
}

/* FNV-1a: picks the slot only; a match is decided by the bytes. */
static uint64_t token_hash(const char *token, size_t len)
{
    uint64_t h = 14695981039346656037ULL;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)token[i]) * 1099511628211ULL;
    return h;
}

int of_jwt_verify_cached(struct of_jwt_cache *cache, const char *token,
                         time_t now, struct of_jwt_claims *claims,
                         struct of_err *err)
{
    size_t len = strnlen(token, OF_JWT_CACHE_TOKEN_MAX);
    uint64_t h;
    struct jwt_cache_entry *e;
    int hit, rc;

    if (len == OF_JWT_CACHE_TOKEN_MAX) /* too long to keep */
        return of_jwt_verify(cache->jwt, token, now, claims, err);
    h = token_hash(token, len);
    e = &cache->slots[h % (uint64_t)cache->nslots];
    pthread_mutex_lock(&cache->lock);
    /* constant time over the bytes: how long a compare takes must not
     * tell a caller how much of someone else's token it guessed */
    hit = e->hash == h && e->len == len && e->from <= (int64_t)now &&
          (int64_t)now < e->until && CRYPTO_memcmp(e->token, token, len) == 0;
    if (hit) {
        *claims = e->claims;
        cache->hits++;
    }
    pthread_mutex_unlock(&cache->lock);
    if (hit)
        return OF_OK;
    rc = of_jwt_verify(cache->jwt, token, now, claims, err);
    /* past exp but within the leeway: valid now, not kept */
    if (rc != OF_OK || claims->exp <= (int64_t)now)
        return rc;
    pthread_mutex_lock(&cache->lock);
    e->hash = h;
    e->len = len;
    e->from = (int64_t)now;
    e->until = claims->exp;
    e->claims = *claims;
    memcpy(e->token, token, len);
    pthread_mutex_unlock(&cache->lock);
    return rc;
}

long of_jwt_cache_hits(struct of_jwt_cache *cache)
{
    long n;

    pthread_mutex_lock(&cache->lock);
    n = cache->hits;
    pthread_mutex_unlock(&cache->lock);
    return n;
}

char *of_jwt_sign(const struct of_jwt *jwt, int64_t sub, enum of_role role,
                  int ttl, time_t now, struct of_err *err)
{
    jwt_t *t = NULL;
    char subs[24];
    char *out = NULL;

    if (jwt_new(&t) != 0) {
        of_err_set(err, OF_EFATAL, "out of memory");
        return NULL;
    }
    snprintf(subs, sizeof(subs), "%lld", (long long)sub);
    if (jwt_add_grant(t, "sub", subs) ||
        jwt_add_grant(t, "role", of_role_name(role)) ||
        jwt_add_grant_int(t, "iat", (long)now) ||
        jwt_add_grant_int(t, "exp", (long)(now + ttl)) ||
        (jwt->issuer[0] && jwt_add_grant(t, "iss", jwt->issuer)) ||
        (jwt->audience[0] && jwt_add_grant(t, "aud", jwt->audience)) ||
        (jwt->sign_kid[0] && jwt_add_header(t, "kid", jwt->sign_kid)) ||
        jwt_set_alg(t, jwt->alg, jwt->sign_key, jwt->sign_len)) {
        of_err_set(err, OF_EFATAL, "could not build token");
        goto out;
    }
    out = jwt_encode_str(t);
    if (!out)
        of_err_set(err, OF_EFATAL, "could not sign token");
out:
    jwt_free(t);
    return out;
}
