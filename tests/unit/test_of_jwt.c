/* Unit tests of of_jwt: every claim check is ours (libjwt 1.10.2 checks
 * only the signature), so each rule has a token built by hand that breaks
 * it (TESTPLAN bad inputs 23-34). */
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

static struct of_config *config(const char *extra)
{
    char text[1024];
    struct of_err err;

    snprintf(text, sizeof(text), "[auth]\njwt_key = %s\n%s", KEY,
             extra ? extra : "");
    struct of_config *cfg = of_config_load_string(text, "t.ini", &err);
    assert_non_null(cfg);
    return cfg;
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

/* header.payload signed with HMAC-\p md and \p key. */
static char *forge(const char *header, const char *payload, const EVP_MD *md,
                   const char *key)
{
    static char tok[4096];
    unsigned char mac[64];
    unsigned int maclen = 0;
    char sig[128];

    b64url((const unsigned char *)header, strlen(header), tok);
    strcat(tok, ".");
    b64url((const unsigned char *)payload, strlen(payload),
           tok + strlen(tok));
    if (md) {
        HMAC(md, key, (int)strlen(key), (unsigned char *)tok, strlen(tok), mac,
             &maclen);
        b64url(mac, maclen, sig);
    } else {
        sig[0] = '\0';
    }
    strcat(tok, ".");
    strcat(tok, sig);
    return tok;
}

static const char hs256[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

static int verify(const char *token, struct of_jwt_claims *c)
{
    struct of_config *cfg = config(NULL);
    struct of_err err;
    struct of_jwt *jwt = of_jwt_new(cfg, 0, &err);
    int rc;

    assert_non_null(jwt);
    rc = of_jwt_verify(jwt, token, NOW, c, &err);
    of_jwt_destroy(jwt);
    of_config_destroy(cfg);
    return rc;
}

static int verify_payload(const char *payload)
{
    struct of_jwt_claims c;
    return verify(forge(hs256, payload, EVP_sha256(), KEY), &c);
}

static void signed_token_round_trips(void **state)
{
    struct of_config *cfg = config(NULL);
    struct of_err err;
    struct of_jwt *jwt = of_jwt_new(cfg, 1, &err);
    struct of_jwt_claims c;
    (void)state;

    char *tok = of_jwt_sign(jwt, 42, OF_ROLE_ADMIN, 600, NOW, &err);
    assert_non_null(tok);
    assert_int_equal(of_jwt_verify(jwt, tok, NOW, &c, &err), OF_OK);
    assert_int_equal(c.sub, 42);
    assert_int_equal(c.role, OF_ROLE_ADMIN);
    assert_int_equal(c.exp, NOW + 600);
    free(tok);
    of_jwt_destroy(jwt);
    of_config_destroy(cfg);
}

static void forged_valid_token_is_accepted(void **state)
{
    struct of_jwt_claims c;
    (void)state;
    /* the control for every rejection below: same forge, valid claims */
    assert_int_equal(
        verify(forge(hs256,
                     "{\"sub\":\"7\",\"role\":\"user\",\"exp\":1800000100}",
                     EVP_sha256(), KEY),
               &c),
        OF_OK);
    assert_int_equal(c.sub, 7);
    assert_int_equal(c.role, OF_ROLE_USER);
}

static void empty_or_short_key_refuses_to_start(void **state)
{
    struct of_err err;
    struct of_config *cfg;
    (void)state;

    cfg = of_config_load_string("", "t.ini", &err);
    assert_null(of_jwt_new(cfg, 0, &err));
    assert_non_null(strstr(err.msg, "jwt_key is empty"));
    of_config_destroy(cfg);
    cfg = of_config_load_string("[auth]\njwt_key = short\n", "t.ini", &err);
    assert_null(of_jwt_new(cfg, 0, &err));
    assert_non_null(strstr(err.msg, "too short"));
    of_config_destroy(cfg);
}

static void alg_none_is_rejected(void **state)
{
    struct of_jwt_claims c;
    (void)state;
    assert_int_equal(
        verify(forge("{\"alg\":\"none\"}",
                     "{\"sub\":\"7\",\"role\":\"admin\",\"exp\":1800000100}",
                     NULL, NULL),
               &c),
        OF_EINVAL);
}

static void other_hmac_algorithms_are_rejected(void **state)
{
    struct of_jwt_claims c;
    const char *p = "{\"sub\":\"7\",\"role\":\"user\",\"exp\":1800000100}";
    (void)state;
    assert_int_equal(verify(forge("{\"alg\":\"HS384\",\"typ\":\"JWT\"}", p,
                                  EVP_sha384(), KEY),
                            &c),
                     OF_EINVAL);
    assert_int_equal(verify(forge("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", p,
                                  EVP_sha512(), KEY),
                            &c),
                     OF_EINVAL);
}

static void wrong_key_and_edited_payload_are_rejected(void **state)
{
    struct of_jwt_claims c;
    char tok[4096], *dot;
    (void)state;
    assert_int_equal(
        verify(forge(hs256, "{\"sub\":\"7\",\"role\":\"user\",\"exp\":1800000100}",
                     EVP_sha256(), "another-key-another-key-another-k"),
               &c),
        OF_EINVAL);
    /* user -> admin with the old signature */
    snprintf(tok, sizeof(tok), "%s",
             forge(hs256, "{\"sub\":\"7\",\"role\":\"user\",\"exp\":1800000100}",
                   EVP_sha256(), KEY));
    dot = strrchr(tok, '.');
    char sig[256];
    snprintf(sig, sizeof(sig), "%s", dot);
    char *edited = forge(hs256,
                         "{\"sub\":\"7\",\"role\":\"admin\",\"exp\":1800000100}",
                         NULL, NULL);
    edited[strlen(edited) - 1] = '\0';
    strcat(edited, sig);
    assert_int_equal(verify(edited, &c), OF_EINVAL);
}

static void exp_rules(void **state)
{
    (void)state;
    /* missing, expired beyond the 30 s leeway, string, float */
    assert_int_equal(verify_payload("{\"sub\":\"7\",\"role\":\"user\"}"),
                     OF_EINVAL);
    assert_int_equal(
        verify_payload("{\"sub\":\"7\",\"role\":\"user\",\"exp\":1799999960}"),
        OF_EINVAL);
    assert_int_equal(
        verify_payload("{\"sub\":\"7\",\"role\":\"user\",\"exp\":1799999990}"),
        OF_OK); /* within leeway */
    assert_int_equal(verify_payload("{\"sub\":\"7\",\"role\":\"user\","
                                    "\"exp\":\"9999999999\"}"),
                     OF_EINVAL);
    assert_int_equal(
        verify_payload("{\"sub\":\"7\",\"role\":\"user\",\"exp\":1.9e9}"),
        OF_EINVAL);
    /* 2^62 and a lifetime above the 86400 s maximum */
    assert_int_equal(verify_payload("{\"sub\":\"7\",\"role\":\"user\","
                                    "\"exp\":4611686018427387904}"),
                     OF_EINVAL);
    assert_int_equal(verify_payload("{\"sub\":\"7\",\"role\":\"user\","
                                    "\"iat\":1799990000,\"exp\":1800086401}"),
                     OF_EINVAL);
}

static void nbf_in_future_is_rejected(void **state)
{
    (void)state;
    assert_int_equal(verify_payload("{\"sub\":\"7\",\"role\":\"user\","
                                    "\"exp\":1800000100,\"nbf\":1800000060}"),
                     OF_EINVAL);
    assert_int_equal(verify_payload("{\"sub\":\"7\",\"role\":\"user\","
                                    "\"exp\":1800000100,\"nbf\":1800000020}"),
                     OF_OK);
}

static void sub_must_be_a_positive_decimal_string(void **state)
{
    const char *bad[] = {"\"0\"", "\"-5\"", "\"1e3\"", "\"00042\"", "42",
                         "\"\"", "\"2147483648\"", "null"};
    char p[256];
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(p, sizeof(p),
                 "{\"sub\":%s,\"role\":\"user\",\"exp\":1800000100}", bad[i]);
        assert_int_equal(verify_payload(p), OF_EINVAL);
    }
    assert_int_equal(verify_payload("{\"role\":\"user\",\"exp\":1800000100}"),
                     OF_EINVAL);
}

static void role_must_be_exact(void **state)
{
    const char *bad[] = {"\"ADMIN\"", "\"superadmin\"", "[\"admin\"]", "1"};
    char p[256];
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(p, sizeof(p), "{\"sub\":\"7\",\"role\":%s,\"exp\":1800000100}",
                 bad[i]);
        assert_int_equal(verify_payload(p), OF_EINVAL);
    }
}

static void typ_other_than_jwt_is_rejected(void **state)
{
    struct of_jwt_claims c;
    (void)state;
    assert_int_equal(
        verify(forge("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}",
                     "{\"sub\":\"7\",\"role\":\"user\",\"exp\":1800000100}",
                     EVP_sha256(), KEY),
               &c),
        OF_EINVAL);
}

static void kid_and_jku_do_not_choose_keys(void **state)
{
    struct of_jwt_claims c;
    (void)state;
    assert_int_equal(
        verify(forge("{\"alg\":\"HS256\",\"kid\":\"../../dev/null\","
                     "\"jku\":\"http://127.0.0.1/k\"}",
                     "{\"sub\":\"7\",\"role\":\"user\",\"exp\":1800000100}",
                     EVP_sha256(), KEY),
               &c),
        OF_OK);
    assert_int_equal(
        verify(forge("{\"alg\":\"HS256\",\"kid\":\"' OR 1=1--\"}",
                     "{\"sub\":\"7\",\"role\":\"user\",\"exp\":1800000100}",
                     EVP_sha256(), ""),
               &c),
        OF_EINVAL);
}

static void iss_and_aud_are_checked_when_configured(void **state)
{
    struct of_config *cfg =
        config("jwt_issuer = https://auth.example\njwt_audience = orderflow\n");
    struct of_err err;
    struct of_jwt *jwt = of_jwt_new(cfg, 0, &err);
    struct of_jwt_claims c;
    (void)state;

    const char *ok = "{\"sub\":\"7\",\"role\":\"user\",\"exp\":1800000100,"
                     "\"iss\":\"https://auth.example\",\"aud\":[\"x\","
                     "\"orderflow\"]}";
    const char *bad_iss = "{\"sub\":\"7\",\"role\":\"user\",\"exp\":1800000100,"
                          "\"iss\":\"https://evil\",\"aud\":\"orderflow\"}";
    const char *bad_aud = "{\"sub\":\"7\",\"role\":\"user\",\"exp\":1800000100,"
                          "\"iss\":\"https://auth.example\",\"aud\":[\"x\"]}";
    assert_int_equal(
        of_jwt_verify(jwt, forge(hs256, ok, EVP_sha256(), KEY), NOW, &c, &err),
        OF_OK);
    assert_int_equal(of_jwt_verify(jwt, forge(hs256, bad_iss, EVP_sha256(), KEY),
                                   NOW, &c, &err),
                     OF_EINVAL);
    assert_int_equal(of_jwt_verify(jwt, forge(hs256, bad_aud, EVP_sha256(), KEY),
                                   NOW, &c, &err),
                     OF_EINVAL);
    of_jwt_destroy(jwt);
    of_config_destroy(cfg);
}

static void garbage_tokens_are_rejected(void **state)
{
    struct of_jwt_claims c;
    const char *bad[] = {"", ".", "..", "a.b.c", "eyJ", "a.b", "....."};
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(verify(bad[i], &c), OF_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signed_token_round_trips),
        cmocka_unit_test(forged_valid_token_is_accepted),
        cmocka_unit_test(empty_or_short_key_refuses_to_start),
        cmocka_unit_test(alg_none_is_rejected),
        cmocka_unit_test(other_hmac_algorithms_are_rejected),
        cmocka_unit_test(wrong_key_and_edited_payload_are_rejected),
        cmocka_unit_test(exp_rules),
        cmocka_unit_test(nbf_in_future_is_rejected),
        cmocka_unit_test(sub_must_be_a_positive_decimal_string),
        cmocka_unit_test(role_must_be_exact),
        cmocka_unit_test(typ_other_than_jwt_is_rejected),
        cmocka_unit_test(kid_and_jku_do_not_choose_keys),
        cmocka_unit_test(iss_and_aud_are_checked_when_configured),
        cmocka_unit_test(garbage_tokens_are_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
