/* Unit tests of of_jwt_verify_cached(): it must answer exactly what
 * of_jwt_verify() would, at every time, for every token, and answer from
 * the cache only while that is so (verified_at <= now < exp, the exact
 * bytes). Tokens are signed with of_jwt_sign() or forged with HMAC, as in
 * test_of_jwt.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "of_jwt.h"

#define KEY "0123456789abcdef0123456789abcdef"
#define NOW 1800000000L

struct fixture {
    struct of_config *cfg;
    struct of_jwt *jwt;
    struct of_jwt_cache *cache;
};

/* A verifier with [auth] \p extra and a cache of \p slots in front of it. */
static void open_fixture(struct fixture *f, const char *extra, int slots)
{
    char text[1024];
    struct of_err err;

    snprintf(text, sizeof(text), "[auth]\njwt_key = %s\n%s", KEY,
             extra ? extra : "");
    f->cfg = of_config_load_string(text, "t.ini", &err);
    assert_non_null(f->cfg);
    f->jwt = of_jwt_new(f->cfg, 1, &err);
    assert_non_null(f->jwt);
    f->cache = of_jwt_cache_new(f->jwt, slots, &err);
    assert_non_null(f->cache);
}

static void close_fixture(struct fixture *f)
{
    of_jwt_cache_destroy(f->cache);
    of_jwt_destroy(f->jwt);
    of_config_destroy(f->cfg);
}

static void b64url(const unsigned char *in, size_t n, char *out)
{
    size_t len = (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    while (len && out[len - 1] == '=')
        out[--len] = '\0';
    for (size_t i = 0; i < len; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
}

/* An HS256 token of \p payload, signed with KEY, in \p tok (4096 bytes). */
static char *forge(const char *payload, char *tok)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    unsigned char mac[64];
    unsigned int maclen = 0;

    b64url((const unsigned char *)header, strlen(header), tok);
    strcat(tok, ".");
    b64url((const unsigned char *)payload, strlen(payload), tok + strlen(tok));
    HMAC(EVP_sha256(), KEY, (int)strlen(KEY), (unsigned char *)tok,
         strlen(tok), mac, &maclen);
    strcat(tok, ".");
    b64url(mac, maclen, tok + strlen(tok));
    return tok;
}

static void second_verification_is_answered_by_the_cache(void **state)
{
    struct fixture f;
    struct of_jwt_claims c;
    struct of_err err;
    (void)state;

    open_fixture(&f, NULL, 16);
    char *tok = of_jwt_sign(f.jwt, 42, OF_ROLE_ADMIN, 600, NOW, &err);
    assert_non_null(tok);
    assert_int_equal(of_jwt_verify_cached(f.cache, tok, NOW, &c, &err), OF_OK);
    assert_int_equal(of_jwt_cache_hits(f.cache), 0);
    memset(&c, 0, sizeof(c));
    assert_int_equal(of_jwt_verify_cached(f.cache, tok, NOW + 599, &c, &err),
                     OF_OK);
    assert_int_equal(of_jwt_cache_hits(f.cache), 1);
    /* the cached claims are the token's */
    assert_int_equal(c.sub, 42);
    assert_int_equal(c.role, OF_ROLE_ADMIN);
    assert_int_equal(c.exp, NOW + 600);
    free(tok);
    close_fixture(&f);
}

static void cache_never_answers_at_or_past_exp(void **state)
{
    struct fixture f;
    struct of_jwt_claims c;
    struct of_err err;
    (void)state;

    /* no leeway: at exp the full verification refuses the token */
    open_fixture(&f, "jwt_leeway_s = 0\n", 16);
    char *tok = of_jwt_sign(f.jwt, 7, OF_ROLE_USER, 600, NOW, &err);
    assert_int_equal(of_jwt_verify_cached(f.cache, tok, NOW, &c, &err), OF_OK);
    assert_int_equal(of_jwt_verify_cached(f.cache, tok, NOW + 600, &c, &err),
                     OF_EINVAL);
    assert_non_null(strstr(err.msg, "expired"));
    assert_int_equal(of_jwt_cache_hits(f.cache), 0);
    free(tok);
    close_fixture(&f);
}

static void token_within_leeway_past_exp_is_verified_not_cached(void **state)
{
    struct fixture f;
    struct of_jwt_claims c;
    struct of_err err;
    (void)state;

    open_fixture(&f, NULL, 16); /* leeway 30 s */
    char *tok = of_jwt_sign(f.jwt, 7, OF_ROLE_USER, 600, NOW, &err);
    /* accepted 10 s past exp, as of_jwt_verify does, but never kept */
    assert_int_equal(of_jwt_verify_cached(f.cache, tok, NOW + 610, &c, &err),
                     OF_OK);
    assert_int_equal(of_jwt_verify_cached(f.cache, tok, NOW + 610, &c, &err),
                     OF_OK);
    assert_int_equal(of_jwt_cache_hits(f.cache), 0);
    assert_int_equal(of_jwt_verify_cached(f.cache, tok, NOW + 631, &c, &err),
                     OF_EINVAL);
    free(tok);
    close_fixture(&f);
}

static void clock_stepping_back_is_verified_again(void **state)
{
    struct fixture f;
    struct of_jwt_claims c;
    struct of_err err;
    char tok[4096];
    (void)state;

    open_fixture(&f, NULL, 16);
    forge("{\"sub\":\"7\",\"role\":\"user\",\"nbf\":1800000000,"
          "\"exp\":1800000600}",
          tok);
    assert_int_equal(of_jwt_verify_cached(f.cache, tok, NOW, &c, &err), OF_OK);
    /* 100 s earlier the token is not valid yet (nbf, leeway 30 s): the
     * cache must not say otherwise */
    assert_int_equal(of_jwt_verify_cached(f.cache, tok, NOW - 100, &c, &err),
                     OF_EINVAL);
    assert_non_null(strstr(err.msg, "nbf"));
    assert_int_equal(of_jwt_cache_hits(f.cache), 0);
    close_fixture(&f);
}

static void only_the_exact_bytes_hit(void **state)
{
    struct fixture f;
    struct of_jwt_claims c;
    struct of_err err;
    char edited[4096];
    (void)state;

    open_fixture(&f, NULL, 16);
    char *tok = of_jwt_sign(f.jwt, 7, OF_ROLE_USER, 600, NOW, &err);
    size_t n = strlen(tok);
    assert_int_equal(of_jwt_verify_cached(f.cache, tok, NOW, &c, &err), OF_OK);
    /* the signature's first character changed (all six of its bits are
     * significant), one byte appended, the last one cut */
    memcpy(edited, tok, n + 1);
    char *sig = strrchr(edited, '.') + 1;
    *sig = *sig == 'A' ? 'B' : 'A';
    assert_int_equal(of_jwt_verify_cached(f.cache, edited, NOW, &c, &err),
                     OF_EINVAL);
    memcpy(edited, tok, n);
    memcpy(edited + n, "A", 2);
    assert_int_equal(of_jwt_verify_cached(f.cache, edited, NOW, &c, &err),
                     OF_EINVAL);
    memcpy(edited, tok, n - 1);
    edited[n - 1] = '\0';
    assert_int_equal(of_jwt_verify_cached(f.cache, edited, NOW, &c, &err),
                     OF_EINVAL);
    assert_int_equal(of_jwt_cache_hits(f.cache), 0);
    /* and the real one still hits */
    assert_int_equal(of_jwt_verify_cached(f.cache, tok, NOW, &c, &err), OF_OK);
    assert_int_equal(of_jwt_cache_hits(f.cache), 1);
    free(tok);
    close_fixture(&f);
}

static void more_tokens_than_slots_keep_their_own_claims(void **state)
{
    struct fixture f;
    struct of_jwt_claims c;
    struct of_err err;
    char *tok[12];
    (void)state;

    open_fixture(&f, NULL, 2);
    for (int i = 0; i < 12; i++)
        tok[i] = of_jwt_sign(f.jwt, 100 + i, (enum of_role)(i % 3), 600 + i,
                             NOW, &err);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 12; i++) {
            assert_int_equal(
                of_jwt_verify_cached(f.cache, tok[i], NOW + round, &c, &err),
                OF_OK);
            assert_int_equal(c.sub, 100 + i);
            assert_int_equal(c.role, i % 3);
            assert_int_equal(c.exp, NOW + 600 + i);
        }
    }
    /* two slots for twelve tokens: some hits, far from all */
    assert_true(of_jwt_cache_hits(f.cache) < 24);
    for (int i = 0; i < 12; i++)
        free(tok[i]);
    close_fixture(&f);
}

static void long_token_is_verified_every_time(void **state)
{
    struct fixture f;
    struct of_jwt_claims c;
    struct of_err err;
    char payload[1500], tok[4096];
    (void)state;

    open_fixture(&f, NULL, 16);
    snprintf(payload, sizeof(payload),
             "{\"sub\":\"7\",\"role\":\"user\",\"exp\":1800000600,"
             "\"pad\":\"%0900d\"}",
             0);
    forge(payload, tok);
    assert_true(strlen(tok) >= OF_JWT_CACHE_TOKEN_MAX);
    assert_int_equal(of_jwt_verify_cached(f.cache, tok, NOW, &c, &err), OF_OK);
    assert_int_equal(of_jwt_verify_cached(f.cache, tok, NOW, &c, &err), OF_OK);
    assert_int_equal(c.sub, 7);
    assert_int_equal(of_jwt_cache_hits(f.cache), 0);
    close_fixture(&f);
}

static void rejected_token_is_rejected_every_time(void **state)
{
    struct fixture f;
    struct of_jwt_claims c;
    struct of_err err;
    char tok[4096];
    (void)state;

    open_fixture(&f, NULL, 16);
    forge("{\"sub\":\"7\",\"role\":\"root\",\"exp\":1800000600}", tok);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(of_jwt_verify_cached(f.cache, tok, NOW, &c, &err),
                         OF_EINVAL);
        assert_non_null(strstr(err.msg, "role"));
    }
    assert_int_equal(of_jwt_cache_hits(f.cache), 0);
    close_fixture(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(second_verification_is_answered_by_the_cache),
        cmocka_unit_test(cache_never_answers_at_or_past_exp),
        cmocka_unit_test(token_within_leeway_past_exp_is_verified_not_cached),
        cmocka_unit_test(clock_stepping_back_is_verified_again),
        cmocka_unit_test(only_the_exact_bytes_hit),
        cmocka_unit_test(more_tokens_than_slots_keep_their_own_claims),
        cmocka_unit_test(long_token_is_verified_every_time),
        cmocka_unit_test(rejected_token_is_rejected_every_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
