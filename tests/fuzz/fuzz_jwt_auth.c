/*
 * libFuzzer target: bearer tokens through of_jwt_verify() (TESTPLAN,
 * fuzz_jwt_auth), with [auth] HS256, the key, issuer and audience of
 * fuzz.h and the clock at FUZZ_NOW.
 *
 * Input: the first byte picks how the rest is used.
 *   even: the rest is the token, as sent.
 *   odd:  the harness signs: the second byte picks HMAC-SHA256, -384 or
 *         -512 with the key, or HMAC-SHA256 with another key; the rest is
 *         "<header JSON>\0<claims JSON>", or just the claims under
 *         {"alg":"HS256","typ":"JWT"}. So the fuzzer can reach every claim
 *         check with a valid signature.
 * A token is accepted ONLY if its third segment is the base64url
 * HMAC-SHA256 of "<header>.<payload>" under the key (computed here with
 * OpenSSL), its header says alg "HS256" exactly (never none) and typ, if
 * present, the string "JWT", and every claim passes the rules
 * of of_jwt.h, checked here in wide arithmetic; the claims it returns are
 * the token's. A token the harness signed right, under the plain header,
 * with claims that pass, is accepted.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz.h"
#include "of_config.h"
#include "of_jwt.h"

#define PLAIN_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define MAX_TOKEN    8192

static struct of_jwt *jwt;

static void setup(void)
{
    struct of_config *cfg;
    struct of_err err;

    cfg = of_config_load_string("", "fuzz.ini", &err);
    FUZZ_CHECK(cfg, "%s", err.msg);
    snprintf(cfg->auth.jwt_alg, sizeof(cfg->auth.jwt_alg), "HS256");
    snprintf(cfg->auth.jwt_key, sizeof(cfg->auth.jwt_key), FUZZ_JWT_KEY);
    snprintf(cfg->auth.jwt_issuer, sizeof(cfg->auth.jwt_issuer),
             FUZZ_JWT_ISSUER);
    snprintf(cfg->auth.jwt_audience, sizeof(cfg->auth.jwt_audience),
             FUZZ_JWT_AUDIENCE);
    cfg->auth.jwt_leeway_s = FUZZ_JWT_LEEWAY;
    cfg->auth.jwt_max_ttl_s = FUZZ_JWT_MAX_TTL;
    jwt = of_jwt_new(cfg, 0, &err);
    FUZZ_CHECK(jwt, "%s", err.msg);
    of_config_destroy(cfg);
}

/* base64url(HMAC(md, key, text)) */
static void sign(const EVP_MD *md, const char *key, const char *text,
                 size_t len, char *out)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    HMAC(md, key, (int)strlen(key), (const unsigned char *)text, len, mac,
         &n);
    fuzz_b64url(mac, n, out);
}

/* The JSON object of a base64url segment, decoded as libjwt does (the
 * text up to a NUL), or NULL. */
static json_t *segment_json(const char *seg, size_t n)
{
    unsigned char *raw = malloc(n + 1);
    json_t *j = NULL;
    long len;

    FUZZ_CHECK(raw, "out of memory");
    len = fuzz_b64url_decode(seg, n, raw);
    if (len >= 0) {
        raw[len] = '\0';
        j = json_loads((const char *)raw, 0, NULL);
    }
    free(raw);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* A NumericDate: absent (0, *has 0) or a JSON integer. @returns 0 if
 * present and not an integer. */
static int date(json_t *claims, const char *name, __int128 *v, int *has)
{
    json_t *j = json_object_get(claims, name);

    *has = j != NULL;
    *v = 0;
    if (!j)
        return 1;
    if (!json_is_integer(j))
        return 0;
    *v = json_integer_value(j);
    return 1;
}

/* ^[1-9][0-9]{0,9}$ up to 2147483647 */
static int ref_id(json_t *sub, int64_t *id)
{
    const char *s = json_string_value(sub);
    int64_t v = 0;
    size_t n;

    if (!s || (n = strlen(s)) < 1 || n > 10 || s[0] == '0')
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *id = v;
    return v <= 2147483647;
}

/* The rules of of_jwt.h over the decoded claims. */
static int ref_claims(json_t *c, struct of_jwt_claims *want)
{
    __int128 exp, nbf, iat, now = FUZZ_NOW;
    int has_exp, has_nbf, has_iat, r = -1;
    json_t *aud = json_object_get(c, "aud");
    json_t *iss = json_object_get(c, "iss");
    json_t *role = json_object_get(c, "role");
    int aud_ok = 0;

    if (!date(c, "exp", &exp, &has_exp) || !has_exp ||
        !date(c, "nbf", &nbf, &has_nbf) || !date(c, "iat", &iat, &has_iat))
        return 0;
    if (exp + FUZZ_JWT_LEEWAY <= now ||
        exp - now > FUZZ_JWT_MAX_TTL + FUZZ_JWT_LEEWAY ||
        (has_iat && exp - iat > FUZZ_JWT_MAX_TTL) ||
        (has_nbf && nbf - FUZZ_JWT_LEEWAY > now))
        return 0;
    if (!ref_id(json_object_get(c, "sub"), &want->sub))
        return 0;
    for (int i = 0; json_is_string(role) && i < 3; i++) {
        if (strcmp(json_string_value(role),
                   of_role_name((enum of_role)i)) == 0)
            r = i;
    }
    if (r < 0)
        return 0;
    want->role = (enum of_role)r;
    want->exp = (int64_t)exp;
    if (!json_is_string(iss) || strcmp(json_string_value(iss),
                                       FUZZ_JWT_ISSUER) != 0)
        return 0;
    if (json_is_string(aud))
        aud_ok = strcmp(json_string_value(aud), FUZZ_JWT_AUDIENCE) == 0;
    for (size_t i = 0; json_is_array(aud) && i < json_array_size(aud); i++) {
        json_t *a = json_array_get(aud, i);
        aud_ok |= json_is_string(a) &&
                  strcmp(json_string_value(a), FUZZ_JWT_AUDIENCE) == 0;
    }
    return aud_ok;
}

/* What an accepted \p token must be; \p plain: the harness signed it right
 * under the plain header, so it must also be accepted if its claims pass. */
static void check(const char *token, int accepted,
                  const struct of_jwt_claims *got, int plain)
{
    const char *d1 = strchr(token, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    char *want_sig;
    json_t *header = NULL, *claims = NULL, *alg, *typ;
    struct of_jwt_claims want = {0};
    int ok;

    if (!d2) {
        FUZZ_CHECK(!accepted, "accepted without three segments");
        return;
    }
    want_sig = malloc(2 * EVP_MAX_MD_SIZE);
    FUZZ_CHECK(want_sig, "out of memory");
    sign(EVP_sha256(), FUZZ_JWT_KEY, token, (size_t)(d2 - token), want_sig);
    ok = strcmp(d2 + 1, want_sig) == 0;
    free(want_sig);
    if (ok) {
        header = segment_json(token, (size_t)(d1 - token));
        claims = segment_json(d1 + 1, (size_t)(d2 - d1 - 1));
    }
    alg = json_object_get(header, "alg");
    typ = json_object_get(header, "typ");
    /* alg exactly "HS256" (libjwt 1.10.2 alone would take "hS256"); typ,
     * if present, exactly the string "JWT" */
    ok = ok && header && claims && json_is_string(alg) &&
         strcmp(json_string_value(alg), "HS256") == 0 &&
         (!typ || (json_is_string(typ) &&
                   strcmp(json_string_value(typ), "JWT") == 0));
    ok = ok && ref_claims(claims, &want);
    FUZZ_CHECK(!accepted || ok, "accepted \"%.200s\"", token);
    FUZZ_CHECK(!plain || !ok || accepted, "refused \"%.200s\"", token);
    if (accepted)
        FUZZ_CHECK(got->sub == want.sub && got->role == want.role &&
                       got->exp == want.exp,
                   "claims of \"%.200s\"", token);
    json_decref(header);
    json_decref(claims);
}

/* "<b64 header>.<b64 claims>.<b64 mac>" into a new string. */
static char *make_token(const uint8_t *data, size_t size, int *plain)
{
    static const char other_key[] = "not-the-key-0123456789abcdef0123456789";
    const uint8_t *nul = memchr(data, '\0', size);
    const char *hdr = PLAIN_HEADER;
    size_t hlen = strlen(PLAIN_HEADER), max = 4 * size / 3 + 200;
    char *token = malloc(max + 2 * EVP_MAX_MD_SIZE);
    const EVP_MD *md = EVP_sha256();
    const char *key = FUZZ_JWT_KEY;
    uint8_t how = size ? data[0] : 0;
    size_t n;

    FUZZ_CHECK(token, "out of memory");
    if (size) {
        data++;
        size--;
        nul = memchr(data, '\0', size);
    }
    if (nul) {
        hdr = (const char *)data;
        hlen = (size_t)(nul - data);
        size -= hlen + 1;
        data = nul + 1;
    }
    switch (how % 4) {
    case 1:
        md = EVP_sha384();
        break;
    case 2:
        md = EVP_sha512();
        break;
    case 3:
        key = other_key;
        break;
    default:
        break;
    }
    *plain = !nul && how % 4 == 0;
    n = fuzz_b64url((const unsigned char *)hdr, hlen, token);
    token[n++] = '.';
    n += fuzz_b64url(data, size, token + n);
    sign(md, key, token, n, token + n + 1);
    token[n] = '.';
    return token;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct of_jwt_claims got = {0};
    struct of_err err;
    char *token;
    int plain = 0, accepted;

    if (!jwt)
        setup();
    if (size < 1 || size > MAX_TOKEN)
        return 0;
    if (data[0] & 1)
        token = make_token(data + 1, size - 1, &plain);
    else
        token = fuzz_strndup(data + 1, size - 1);
    FUZZ_CHECK(token, "out of memory");
    plain = plain && strlen(token) <= MAX_TOKEN; /* of_jwt's own limit */
    accepted = of_jwt_verify(jwt, token, (time_t)FUZZ_NOW, &got, &err) ==
               OF_OK;
    check(token, accepted, &got, plain);
    free(token);
    return 0;
}
