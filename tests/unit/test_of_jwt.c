/* Unit tests of of_jwt: every claim check is ours (libjwt 1.10.2 checks
 * only the signature), so each rule has a token built by hand that breaks
 * it (TESTPLAN bad inputs 23-34). RS256 and ES256 tokens are forged here
 * with OpenSSL in the standard JOSE form (ES256: raw R||S), with keys made
 * for the run in a temporary directory; key rotation ([auth] jwt_keys) has
 * its kid rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include <cmocka.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "of_jwt.h"

#define KEY "0123456789abcdef0123456789abcdef"
#define NOW 1800000000L

static struct of_config *config(const char *extra)
{
    char text[4096];
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

/* ---- key rotation: [auth] jwt_keys ---- */

#define KEY1 "key-one-0123456789abcdef0123456789"
#define KEY2 "key-two-0123456789abcdef0123456789"
#define MAP  "jwt_keys = k1:" KEY1 ", k2:" KEY2 "\n"

static const char claims7[] =
    "{\"sub\":\"7\",\"role\":\"user\",\"exp\":1800000100}";

static int verify_with(const char *extra, const char *token)
{
    struct of_config *cfg = config(extra);
    struct of_err err;
    struct of_jwt *jwt = of_jwt_new(cfg, 0, &err);
    struct of_jwt_claims c;
    int rc;

    if (!jwt)
        fail_msg("of_jwt_new: %s", err.msg);
    rc = of_jwt_verify(jwt, token, NOW, &c, &err);
    of_jwt_destroy(jwt);
    of_config_destroy(cfg);
    return rc;
}

static void kid_picks_its_key_from_jwt_keys(void **state)
{
    const char *k1 = "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}";
    const char *k2 = "{\"alg\":\"HS256\",\"kid\":\"k2\"}";
    (void)state;

    assert_int_equal(verify_with(MAP, forge(k1, claims7, EVP_sha256(), KEY1)),
                     OF_OK);
    assert_int_equal(verify_with(MAP, forge(k2, claims7, EVP_sha256(), KEY2)),
                     OF_OK);
    /* the kid names the key: another configured key does not do */
    assert_int_equal(verify_with(MAP, forge(k1, claims7, EVP_sha256(), KEY2)),
                     OF_EINVAL);
    assert_int_equal(verify_with(MAP, forge(k2, claims7, EVP_sha256(), KEY)),
                     OF_EINVAL);
    /* no kid: jwt_key, and only jwt_key */
    assert_int_equal(verify_with(MAP, forge(hs256, claims7, EVP_sha256(), KEY)),
                     OF_OK);
    assert_int_equal(
        verify_with(MAP, forge(hs256, claims7, EVP_sha256(), KEY1)), OF_EINVAL);
    /* jku and x5u change nothing: the kid's key still decides */
    assert_int_equal(
        verify_with(MAP, forge("{\"alg\":\"HS256\",\"kid\":\"k1\",\"jku\":"
                               "\"http://127.0.0.1/k\",\"x5u\":\"http://x\"}",
                               claims7, EVP_sha256(), KEY1)),
        OF_OK);
}

static void unknown_kid_is_refused_when_keys_are_configured(void **state)
{
    const char *kids[] = {"\"../../dev/null\"",
                          "\"' OR 1=1--\"",
                          "\"k3\"",
                          "\"K1\"",
                          "\"k1 \"",
                          "\"\"",
                          "1",
                          "[\"k1\"]",
                          "null"};
    char header[128];
    (void)state;

    for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]); i++) {
        snprintf(header, sizeof(header), "{\"alg\":\"HS256\",\"kid\":%s}",
                 kids[i]);
        /* signed with the default key, with a map key, and with an empty
         * key (what "/dev/null" would read): all refused */
        assert_int_equal(
            verify_with(MAP, forge(header, claims7, EVP_sha256(), KEY)),
            OF_EINVAL);
        assert_int_equal(
            verify_with(MAP, forge(header, claims7, EVP_sha256(), KEY1)),
            OF_EINVAL);
        assert_int_equal(
            verify_with(MAP, forge(header, claims7, EVP_sha256(), "")),
            OF_EINVAL);
    }
    /* a repeated kid cannot be read two ways */
    assert_int_equal(verify_with(MAP, forge("{\"alg\":\"HS256\",\"kid\":\"k3\","
                                            "\"kid\":\"k1\"}",
                                            claims7, EVP_sha256(), KEY1)),
                     OF_EINVAL);
}

static void jwt_keys_must_be_well_formed_and_long_enough(void **state)
{
    const struct {
        const char *ini, *want;
    } bad[] = {
        {"jwt_keys = k1:short-secret\n", "kid \"k1\" is too short"},
        {"jwt_keys = k1:\n", "kid \"k1\" is empty"},
        {"jwt_keys = k1:" KEY1 ",k2:" KEY2 ",k3:x\n", "\"k3\" is too short"},
        {"jwt_keys = " KEY1 "\n", "is not \"kid:secret\""},
        {"jwt_keys = :" KEY1 "\n", "is not \"kid:secret\""},
        {"jwt_keys = ../k:" KEY1 "\n", "may only hold"},
        {"jwt_keys = k1:" KEY1 ",k1:" KEY2 "\n", "given twice"},
        {"jwt_keys = k1:" KEY1 ",\n", "ends with a comma"},
        {"jwt_keys = k1:" KEY1 ",,k2:" KEY2 "\n", "entry 2"},
        {MAP "jwt_sign_kid = k9\n", "jwt_sign_kid \"k9\" is not a kid"},
        {MAP "jwt_alg = RS256\njwt_public_key_file = /dev/null\n",
         "cannot be used with jwt_alg RS256"},
    };
    struct of_err err;
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct of_config *cfg = config(bad[i].ini);
        struct of_jwt *jwt = of_jwt_new(cfg, 0, &err);
        if (jwt)
            fail_msg("accepted: %s", bad[i].ini);
        if (!strstr(err.msg, bad[i].want))
            fail_msg("%s: \"%s\" does not say \"%s\"", bad[i].ini, err.msg,
                     bad[i].want);
        /* secrets never appear in the error */
        assert_null(strstr(err.msg, "0123456789abcdef"));
        assert_null(strstr(err.msg, "short-secret"));
        of_config_destroy(cfg);
    }
}

static void sign_kid_signs_with_that_key(void **state)
{
    struct of_config *cfg = config(MAP "jwt_sign_kid = k2\n");
    struct of_err err;
    struct of_jwt *jwt = of_jwt_new(cfg, 1, &err);
    struct of_jwt_claims c;
    (void)state;

    assert_non_null(jwt);
    char *tok = of_jwt_sign(jwt, 9, OF_ROLE_SERVICE, 600, NOW, &err);
    assert_non_null(tok);
    assert_int_equal(of_jwt_verify(jwt, tok, NOW, &c, &err), OF_OK);
    assert_int_equal(c.sub, 9);
    /* it was signed with KEY2: a verifier that knows only jwt_key (and so
     * ignores the kid) refuses it */
    assert_int_equal(verify(tok, &c), OF_EINVAL);
    free(tok);
    of_jwt_destroy(jwt);
    of_config_destroy(cfg);
}

static void only_base64url_is_accepted(void **state)
{
    struct of_jwt_claims c;
    char tok[1024], std[1100];
    int64_t sub = 1;
    (void)state;

    /* a token whose signature has a '-' or '_' to respell */
    for (;; sub++) {
        char p[128];
        snprintf(p, sizeof(p),
                 "{\"sub\":\"%lld\",\"role\":\"user\",\"exp\":1800000100}",
                 (long long)sub);
        snprintf(tok, sizeof(tok), "%s", forge(hs256, p, EVP_sha256(), KEY));
        const char *sig = strrchr(tok, '.');
        if (strpbrk(sig, "-_"))
            break;
    }
    assert_int_equal(verify(tok, &c), OF_OK); /* the control */
    snprintf(std, sizeof(std), "%s", tok);
    for (char *p = strrchr(std, '.'); *p; p++)
        *p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
    assert_int_equal(verify(std, &c), OF_EINVAL); /* libjwt alone: OF_OK */
    snprintf(std, sizeof(std), "%s=", tok);
    assert_int_equal(verify(std, &c), OF_EINVAL);
    snprintf(std, sizeof(std), "%s.", tok);
    assert_int_equal(verify(std, &c), OF_EINVAL);
    snprintf(std, sizeof(std), " %s", tok);
    assert_int_equal(verify(std, &c), OF_EINVAL);
    /* the header padded */
    snprintf(std, sizeof(std), "%s", tok);
    char *dot = strchr(std, '.');
    memmove(dot + 1, dot, strlen(dot) + 1);
    *dot = '=';
    assert_int_equal(verify(std, &c), OF_EINVAL);
}

/* ---- RS256 and ES256: keys made for this run ---- */

static char keydir[64];
static char rsa_pub[128], rsa_priv[128], ec_pub[128], ec_priv[128];
static EVP_PKEY *rsa_key, *ec_key;

static void write_pem(const char *path, EVP_PKEY *pk, int private)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    if (private)
        assert_int_equal(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL),
                         1);
    else
        assert_int_equal(PEM_write_PUBKEY(f, pk), 1);
    fclose(f);
}

static int make_keys(void **state)
{
    (void)state;
    snprintf(keydir, sizeof(keydir), "/tmp/test_of_jwt.XXXXXX");
    if (!mkdtemp(keydir))
        return -1;
    rsa_key = EVP_RSA_gen(2048);
    ec_key = EVP_EC_gen("P-256");
    if (!rsa_key || !ec_key)
        return -1;
    snprintf(rsa_pub, sizeof(rsa_pub), "%s/rsa.pub", keydir);
    snprintf(rsa_priv, sizeof(rsa_priv), "%s/rsa.pem", keydir);
    snprintf(ec_pub, sizeof(ec_pub), "%s/ec.pub", keydir);
    snprintf(ec_priv, sizeof(ec_priv), "%s/ec.pem", keydir);
    write_pem(rsa_pub, rsa_key, 0);
    write_pem(rsa_priv, rsa_key, 1);
    write_pem(ec_pub, ec_key, 0);
    write_pem(ec_priv, ec_key, 1);
    return 0;
}

static int drop_keys(void **state)
{
    (void)state;
    unlink(rsa_pub);
    unlink(rsa_priv);
    unlink(ec_pub);
    unlink(ec_priv);
    rmdir(keydir);
    EVP_PKEY_free(rsa_key);
    EVP_PKEY_free(ec_key);
    return 0;
}

/* header.payload signed with \p pk and SHA-256 as JOSE wants it: PKCS#1
 * v1.5 for RSA, the raw 32-byte R and S for ECDSA (not OpenSSL's DER). */
static char *forge_pk(const char *header, const char *payload, EVP_PKEY *pk)
{
    static char tok[4096];
    unsigned char der[512], sig[512];
    size_t der_len = sizeof(der), sig_len;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    b64url((const unsigned char *)header, strlen(header), tok);
    strcat(tok, ".");
    b64url((const unsigned char *)payload, strlen(payload), tok + strlen(tok));
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pk), 1);
    assert_int_equal(
        EVP_DigestSign(ctx, der, &der_len, (unsigned char *)tok, strlen(tok)),
        1);
    EVP_MD_CTX_free(ctx);
    if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC) {
        const unsigned char *p = der;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
        assert_non_null(es);
        assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32), 32);
        assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32), 32);
        ECDSA_SIG_free(es);
        sig_len = 64;
    } else {
        memcpy(sig, der, der_len);
        sig_len = der_len;
    }
    strcat(tok, ".");
    b64url(sig, sig_len, tok + strlen(tok));
    return tok;
}

static char *read_all(const char *path)
{
    static char buf[8192];
    FILE *f = fopen(path, "rb");
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static char *pk_ini(const char *alg, const char *pub, const char *priv)
{
    static char ini[512];

    snprintf(ini, sizeof(ini),
             "jwt_alg = %s\njwt_public_key_file = %s\n"
             "jwt_private_key_file = %s\n",
             alg, pub, priv);
    return ini;
}

static void rs256_token_is_accepted(void **state)
{
    const char *ini = pk_ini("RS256", rsa_pub, rsa_priv);
    const char *rs = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
    struct of_config *cfg = config(ini);
    struct of_err err;
    struct of_jwt *jwt = of_jwt_new(cfg, 1, &err);
    struct of_jwt_claims c;
    (void)state;

    assert_non_null(jwt);
    /* a standard RS256 token made by OpenSSL, not by libjwt */
    assert_int_equal(
        of_jwt_verify(jwt, forge_pk(rs, claims7, rsa_key), NOW, &c, &err),
        OF_OK);
    assert_int_equal(c.sub, 7);
    /* and our own signer round-trips */
    char *tok = of_jwt_sign(jwt, 5, OF_ROLE_ADMIN, 600, NOW, &err);
    assert_non_null(tok);
    assert_int_equal(of_jwt_verify(jwt, tok, NOW, &c, &err), OF_OK);
    assert_int_equal(c.role, OF_ROLE_ADMIN);
    free(tok);
    /* signed by another RSA key, or the payload edited: refused */
    EVP_PKEY *other = EVP_RSA_gen(2048);
    assert_int_equal(
        of_jwt_verify(jwt, forge_pk(rs, claims7, other), NOW, &c, &err),
        OF_EINVAL);
    EVP_PKEY_free(other);
    /* claims are checked as for HS256 */
    assert_int_equal(
        of_jwt_verify(
            jwt, forge_pk(rs, "{\"sub\":\"7\",\"role\":\"user\"}", rsa_key),
            NOW, &c, &err),
        OF_EINVAL);
    of_jwt_destroy(jwt);
    of_config_destroy(cfg);
}

static void hs256_signed_with_the_rs256_public_key_is_rejected(void **state)
{
    struct of_config *cfg = config(pk_ini("RS256", rsa_pub, rsa_priv));
    struct of_err err;
    struct of_jwt *jwt = of_jwt_new(cfg, 0, &err);
    struct of_jwt_claims c;
    (void)state;

    assert_non_null(jwt);
    /* key confusion (TESTPLAN 25): the public PEM, which libjwt hands to
     * HMAC when the token says HS256, as the secret */
    char *pem = read_all(rsa_pub);
    assert_int_equal(of_jwt_verify(jwt,
                                   forge(hs256, claims7, EVP_sha256(), pem),
                                   NOW, &c, &err),
                     OF_EINVAL);
    /* refused on its header, before libjwt is asked to verify it */
    assert_non_null(strstr(err.msg, "alg is not RS256"));
    /* and alg none, ES256 signed by an EC key, or RS256 signed by HMAC */
    assert_int_equal(
        of_jwt_verify(jwt, forge("{\"alg\":\"none\"}", claims7, NULL, NULL),
                      NOW, &c, &err),
        OF_EINVAL);
    assert_int_equal(
        of_jwt_verify(jwt, forge_pk("{\"alg\":\"ES256\"}", claims7, ec_key),
                      NOW, &c, &err),
        OF_EINVAL);
    assert_int_equal(
        of_jwt_verify(jwt,
                      forge("{\"alg\":\"RS256\"}", claims7, EVP_sha256(), pem),
                      NOW, &c, &err),
        OF_EINVAL);
    of_jwt_destroy(jwt);
    of_config_destroy(cfg);
}

static void es256_token_is_accepted(void **state)
{
    struct of_config *cfg = config(pk_ini("ES256", ec_pub, ec_priv));
    struct of_err err;
    struct of_jwt *jwt = of_jwt_new(cfg, 1, &err);
    struct of_jwt_claims c;
    (void)state;

    assert_non_null(jwt);
    assert_int_equal(
        of_jwt_verify(
            jwt,
            forge_pk("{\"alg\":\"ES256\",\"typ\":\"JWT\"}", claims7, ec_key),
            NOW, &c, &err),
        OF_OK);
    char *tok = of_jwt_sign(jwt, 5, OF_ROLE_USER, 600, NOW, &err);
    assert_non_null(tok);
    assert_int_equal(of_jwt_verify(jwt, tok, NOW, &c, &err), OF_OK);
    free(tok);
    /* HS256 with the EC public key as secret, and RS256: refused */
    assert_int_equal(
        of_jwt_verify(jwt,
                      forge(hs256, claims7, EVP_sha256(), read_all(ec_pub)),
                      NOW, &c, &err),
        OF_EINVAL);
    assert_int_equal(
        of_jwt_verify(jwt, forge_pk("{\"alg\":\"RS256\"}", claims7, rsa_key),
                      NOW, &c, &err),
        OF_EINVAL);
    of_jwt_destroy(jwt);
    of_config_destroy(cfg);
}

static void missing_public_key_refuses_to_start(void **state)
{
    struct of_err err;
    struct of_config *cfg = config("jwt_alg = RS256\n");
    (void)state;

    assert_null(of_jwt_new(cfg, 0, &err));
    assert_non_null(strstr(err.msg, "jwt_public_key_file is required"));
    of_config_destroy(cfg);
    cfg = config("jwt_alg = ES256\njwt_public_key_file = /nonexistent/k\n");
    assert_null(of_jwt_new(cfg, 0, &err));
    assert_non_null(strstr(err.msg, "could not open key file"));
    of_config_destroy(cfg);
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
        cmocka_unit_test(kid_picks_its_key_from_jwt_keys),
        cmocka_unit_test(unknown_kid_is_refused_when_keys_are_configured),
        cmocka_unit_test(jwt_keys_must_be_well_formed_and_long_enough),
        cmocka_unit_test(sign_kid_signs_with_that_key),
        cmocka_unit_test(only_base64url_is_accepted),
        cmocka_unit_test(rs256_token_is_accepted),
        cmocka_unit_test(hs256_signed_with_the_rs256_public_key_is_rejected),
        cmocka_unit_test(es256_token_is_accepted),
        cmocka_unit_test(missing_public_key_refuses_to_start),
    };
    return cmocka_run_group_tests(tests, make_keys, drop_keys);
}
