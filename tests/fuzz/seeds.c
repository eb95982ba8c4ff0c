/*
 * fuzz-seeds: writes the seed corpora of tests/fuzz/corpus/ that our own
 * code makes: Avro values from our encoder, tokens from of_jwt_sign(),
 * cursors from of_cursor_make(), dead-letter headers and Redis hashes as the
 * worker writes them, the contract's request bodies and the TESTPLAN's bad
 * inputs. Run it after a change to any of these and commit the result:
 *
 *   cmake --build build-fuzz --target fuzz-seeds
 *   build-fuzz/fuzz-seeds tests/fuzz/corpus
 *
 * Files are named by what they hold; existing files are overwritten, others
 * (hand-written seeds, regression inputs) are left alone.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz.h"
#include "of_avro.h"
#include "of_config.h"
#include "of_cursor.h"
#include "of_jwt.h"

static const char *root;

static void put(const char *target, const char *name, const void *data,
                size_t len)
{
    char path[1024];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", root, target);
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
    f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void puts_(const char *target, const char *name, const char *text)
{
    put(target, name, text, strlen(text));
}

/* a one-byte selector then text */
static void put_sel(const char *target, const char *name, unsigned char sel,
                    const char *text)
{
    size_t n = strlen(text);
    char *buf = malloc(n + 1);

    buf[0] = (char)sel;
    memcpy(buf + 1, text, n);
    put(target, name, buf, n + 1);
    free(buf);
}

/* ---- avro_decode: one value of each command and event type ---- */

static void avro_seeds(void)
{
    static struct of_user_cmd uc;
    static struct of_order_cmd oc;
    static struct of_user_event ue;
    static struct of_order_event oe;
    static const char *const ucn[] = {"user_register", "user_ban",
                                      "user_unban"};
    static const char *const ocn[] = {"order_create", "order_pay",
                                      "order_refund", "order_cancel"};
    struct of_err err;
    struct of_avro *avro = of_avro_new(&err);
    void *v;
    size_t n;

    if (!avro) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    for (int t = 0; t < 3; t++) {
        memset(&uc, 0, sizeof(uc));
        snprintf(uc.command_id, sizeof(uc.command_id),
                 "0b6b0d5e-3f1c-4a2b-9c7d-1e2f3a4b5c6%d", t);
        uc.issued_at = FUZZ_NOW * 1000000;
        snprintf(uc.actor.id, sizeof(uc.actor.id), "apikey:ops");
        uc.actor.role = OF_ROLE_ADMIN;
        snprintf(uc.trace_id, sizeof(uc.trace_id), "4bf92f3577b34da6");
        uc.type = (enum of_user_cmd_type)t;
        snprintf(uc.email, sizeof(uc.email), "ada@example.com");
        snprintf(uc.username, sizeof(uc.username), "ada");
        uc.has_avatar_url = true;
        snprintf(uc.avatar_url, sizeof(uc.avatar_url), "https://e.com/a.png");
        uc.user_id = 42;
        if (of_avro_encode_user_cmd(avro, &uc, &v, &n, &err) != OF_OK)
            goto fail;
        put("avro_decode", ucn[t], v, n);
        free(v);
    }
    for (int t = 0; t < 4; t++) {
        memset(&oc, 0, sizeof(oc));
        snprintf(oc.command_id, sizeof(oc.command_id),
                 "1b6b0d5e-3f1c-4a2b-9c7d-1e2f3a4b5c6%d", t);
        oc.issued_at = FUZZ_NOW * 1000000;
        snprintf(oc.actor.id, sizeof(oc.actor.id), "user:42");
        oc.type = (enum of_order_cmd_type)t;
        oc.user_id = 42;
        oc.order_type = OF_ORDER_TYPE_JEWELRY;
        oc.total_amount = 19900;
        oc.order_id = 7;
        oc.has_payment_ref = true;
        snprintf(oc.payment_ref, sizeof(oc.payment_ref), "pi_123");
        oc.has_reason = true;
        snprintf(oc.reason, sizeof(oc.reason), "damaged");
        if (of_avro_encode_order_cmd(avro, &oc, &v, &n, &err) != OF_OK)
            goto fail;
        put("avro_decode", ocn[t], v, n);
        free(v);
    }
    snprintf(ue.event_id, sizeof(ue.event_id),
             "2b6b0d5e-3f1c-4a2b-9c7d-1e2f3a4b5c6d");
    memcpy(ue.command_id, uc.command_id, sizeof(ue.command_id));
    ue.occurred_at = FUZZ_NOW * 1000000;
    ue.version = 3;
    ue.type = OF_USER_BANNED;
    ue.user.user_id = 42;
    snprintf(ue.user.email, sizeof(ue.user.email), "ada@example.com");
    snprintf(ue.user.username, sizeof(ue.user.username), "ada");
    ue.user.registration_date = FUZZ_NOW * 1000000;
    ue.user.is_banned = true;
    if (of_avro_encode_user_event(avro, &ue, &v, &n, &err) != OF_OK)
        goto fail;
    put("avro_decode", "user_event", v, n);
    free(v);
    snprintf(oe.event_id, sizeof(oe.event_id),
             "3b6b0d5e-3f1c-4a2b-9c7d-1e2f3a4b5c6d");
    memcpy(oe.command_id, oc.command_id, sizeof(oe.command_id));
    oe.occurred_at = FUZZ_NOW * 1000000;
    oe.version = 2;
    oe.type = OF_ORDER_PAID;
    oe.order.order_id = 7;
    oe.order.user_id = 42;
    oe.order.order_status = OF_ORDER_STATUS_PAID;
    oe.order.total_amount = 9999999999LL;
    oe.order.created_at = FUZZ_NOW * 1000000;
    oe.order.updated_at = FUZZ_NOW * 1000000 + 1;
    if (of_avro_encode_order_event(avro, &oe, &v, &n, &err) != OF_OK)
        goto fail;
    put("avro_decode", "order_event", v, n);
    free(v);
    of_avro_destroy(avro);
    return;
fail:
    fprintf(stderr, "avro: %s\n", err.msg);
    exit(1);
}

/* ---- command_validate: the contract's bodies, TESTPLAN rows 9-20 ---- */

static void command_seeds(void)
{
    static const struct {
        unsigned char route; /* see fuzz_command_validate.c */
        const char *name, *body;
    } b[] = {
        {0, "user", "{\"email\":\"ada@example.com\",\"username\":\"ada\"}"},
        {0, "user_avatar",
         "{\"email\":\"ada@example.com\",\"username\":\"ada\","
         "\"avatar_url\":\"https://example.com/ada.png\"}"},
        {0, "row13_is_banned",
         "{\"email\":\"a@b.co\",\"username\":\"a\",\"is_banned\":true}"},
        {0, "row12_nul", "{\"email\":\"a@b.co\",\"username\":\"a\\u0000b\"}"},
        {0, "row18_sql",
         "{\"email\":\"r@b.co\",\"username\":\"Robert'); DROP TABLE users;--"
         "\"}"},
        {0, "row18_emoji",
         "{\"email\":\"e@b.co\",\"username\":\"\\ud83d\\ude00 %_\"}"},
        {0, "row20_javascript",
         "{\"email\":\"a@b.co\",\"username\":\"a\",\"avatar_url\":"
         "\"javascript:alert(1)\"}"},
        {0, "row20_file",
         "{\"email\":\"a@b.co\",\"username\":\"a\",\"avatar_url\":"
         "\"file:///etc/passwd\"}"},
        {1, "order", "{\"order_type\":\"vip\",\"total_amount\":\"199.00\"}"},
        {2, "order_for",
         "{\"order_type\":\"jewelry\",\"total_amount\":\"0.01\","
         "\"user_id\":42}"},
        {2, "order_max",
         "{\"order_type\":\"vip\",\"total_amount\":\"99999999.99\","
         "\"user_id\":2147483647}"},
        {1, "row10_duplicate",
         "{\"total_amount\":\"1.00\",\"total_amount\":\"99999999.99\"}"},
        {1, "row13_status",
         "{\"order_type\":\"vip\",\"total_amount\":\"1.00\","
         "\"order_status\":\"paid\",\"version\":9}"},
        {1, "row14_number", "{\"order_type\":\"vip\",\"total_amount\":199.0}"},
        {1, "row15_exponent",
         "{\"order_type\":\"vip\",\"total_amount\":\"1e3\"}"},
        {1, "row16_case", "{\"order_type\":\"VIP\",\"total_amount\":\"1.00\"}"},
        {2, "row17_injection",
         "{\"order_type\":\"vip\",\"total_amount\":\"1.00\","
         "\"user_id\":\"1 OR 1=1\"}"},
        {2, "row17_big",
         "{\"order_type\":\"vip\",\"total_amount\":\"1.00\","
         "\"user_id\":12345678901234567890}"},
        {3, "pay", "{\"payment_ref\":\"pi_3N2\"}"},
        {3, "pay_empty", ""},
        {4, "refund", "{\"reason\":\"arrived broken\"}"},
        {4, "refund_null", "{\"reason\":null}"},
        {5, "cancel", "{}"},
        {5, "cancel_extra", "{\"reason\":\"no\"}"},
        {1, "row9_array", "[{\"order_type\":\"vip\"}]"},
        {1, "row9_truncated", "{\"order_type\":"},
    };

    for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++)
        put_sel("command_validate", b[i].name, b[i].route, b[i].body);
}

/* ---- money: TESTPLAN rows 14-15 ---- */

static void money_seeds(void)
{
    static const char *const m[][2] = {
        {"row15_zero", "0"},          {"row15_negative", "-1.00"},
        {"row15_3dp", "1.001"},       {"row15_too_big", "100000000.00"},
        {"row15_exponent", "1e3"},    {"row15_blank", " 1.00"},
        {"row15_nan", "NaN"},         {"row15_hex", "0x10"},
        {"row15_arabic", "\xd9\xa1\xd9\xa2\xd9\xa3"},
        {"row14_one_dp", "199.0"},    {"cent", "0.01"},
        {"leading_zero", "007"},      {"dot", "1."},
        {"frac_only", ".5"},          {"plus", "+1.00"},
    };

    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
        puts_("money", m[i][0], m[i][1]);
}

/* ---- jwt_auth: valid tokens and TESTPLAN rows 23-34 ---- */

static char *b64(const char *s)
{
    char *out = malloc(4 * strlen(s) / 3 + 8);

    fuzz_b64url((const unsigned char *)s, strlen(s), out);
    return out;
}

/* "<b64 header>.<b64 claims>.<b64 HMAC>", mode byte 0 first */
static void token(const char *name, const char *header, const char *claims,
                  const EVP_MD *md, const char *key)
{
    char *h = b64(header), *c = b64(claims);
    char text[4096], sig[128];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    snprintf(text, sizeof(text), "%s.%s", h, c);
    sig[0] = '\0';
    if (md) {
        HMAC(md, key, (int)strlen(key), (unsigned char *)text, strlen(text),
             mac, &n);
        fuzz_b64url(mac, n, sig);
    }
    snprintf(text + strlen(text), sizeof(text) - strlen(text), ".%s", sig);
    put_sel("jwt_auth", name, 0, text);
    free(h);
    free(c);
}

/* the harness signs: mode 1, signer \p how, header NUL claims */
static void signed_by_harness(const char *name, unsigned char how,
                              const char *header, const char *claims)
{
    size_t hl = header ? strlen(header) + 1 : 0, cl = strlen(claims);
    char *buf = malloc(2 + hl + cl);

    buf[0] = 1;
    buf[1] = (char)how;
    if (header)
        memcpy(buf + 2, header, hl);
    memcpy(buf + 2 + hl, claims, cl);
    put("jwt_auth", name, buf, 2 + hl + cl);
    free(buf);
}

#define HS "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define ISS_AUD                                                               \
    "\"iss\":\"" FUZZ_JWT_ISSUER "\",\"aud\":\"" FUZZ_JWT_AUDIENCE "\""

static void jwt_seeds(void)
{
    static const char *const roles[] = {"user", "service", "admin"};
    static const struct {
        const char *name, *claims;
    } bad[] = {
        {"row27_exp_missing",
         "{\"sub\":\"42\",\"role\":\"user\"," ISS_AUD "}"},
        {"row27_exp_past",
         "{\"sub\":\"42\",\"role\":\"user\",\"exp\":1767225500," ISS_AUD "}"},
        {"row27_exp_string",
         "{\"sub\":\"42\",\"role\":\"user\",\"exp\":\"9999999999\"," ISS_AUD
         "}"},
        {"row27_exp_float",
         "{\"sub\":\"42\",\"role\":\"user\",\"exp\":1.9e9," ISS_AUD "}"},
        {"row28_exp_2_62",
         "{\"sub\":\"42\",\"role\":\"user\",\"exp\":4611686018427387904,"
         ISS_AUD "}"},
        {"row28_ttl",
         "{\"sub\":\"42\",\"role\":\"user\",\"exp\":1767229200,\"iat\":"
         "1767000000," ISS_AUD "}"},
        {"row29_nbf",
         "{\"sub\":\"42\",\"role\":\"user\",\"exp\":1767229200,\"nbf\":"
         "1767229000," ISS_AUD "}"},
        {"row29_iss",
         "{\"sub\":\"42\",\"role\":\"user\",\"exp\":1767229200,\"iss\":"
         "\"evil\",\"aud\":\"" FUZZ_JWT_AUDIENCE "\"}"},
        {"row29_aud_array",
         "{\"sub\":\"42\",\"role\":\"user\",\"exp\":1767229200,\"iss\":\""
         FUZZ_JWT_ISSUER "\",\"aud\":[\"a\",\"b\"]}"},
        {"aud_array_ok",
         "{\"sub\":\"42\",\"role\":\"user\",\"exp\":1767229200,\"iss\":\""
         FUZZ_JWT_ISSUER "\",\"aud\":[\"a\",\"" FUZZ_JWT_AUDIENCE "\"]}"},
        {"row31_sub_zero",
         "{\"sub\":\"0\",\"role\":\"user\",\"exp\":1767229200," ISS_AUD "}"},
        {"row31_sub_negative",
         "{\"sub\":\"-5\",\"role\":\"user\",\"exp\":1767229200," ISS_AUD "}"},
        {"row31_sub_exponent",
         "{\"sub\":\"1e3\",\"role\":\"user\",\"exp\":1767229200," ISS_AUD
         "}"},
        {"row31_sub_zeros",
         "{\"sub\":\"00042\",\"role\":\"user\",\"exp\":1767229200," ISS_AUD
         "}"},
        {"row31_sub_number",
         "{\"sub\":42,\"role\":\"user\",\"exp\":1767229200," ISS_AUD "}"},
        {"row32_role_case",
         "{\"sub\":\"42\",\"role\":\"ADMIN\",\"exp\":1767229200," ISS_AUD
         "}"},
        {"row32_role_array",
         "{\"sub\":\"42\",\"role\":[\"admin\"],\"exp\":1767229200," ISS_AUD
         "}"},
        {"exp_int64_max",
         "{\"sub\":\"42\",\"role\":\"user\",\"exp\":9223372036854775807,"
         ISS_AUD "}"},
        {"iat_int64_min",
         "{\"sub\":\"42\",\"role\":\"user\",\"exp\":1767229200,\"iat\":"
         "-9223372036854775808," ISS_AUD "}"},
    };
    static const struct {
        const char *name, *header;
    } headers[] = {
        {"row30_kid_path",
         "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"../../dev/null\"}"},
        {"row30_kid_sql",
         "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"' OR 1=1--\"}"},
        {"row30_jku",
         "{\"alg\":\"HS256\",\"jku\":\"https://evil.example/keys\"}"},
        {"row30_x5u", "{\"alg\":\"HS256\",\"x5u\":\"https://evil.example/c\"}"},
        {"row34_typ", "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}"},
        {"typ_number", "{\"alg\":\"HS256\",\"typ\":5}"},
        {"row23_none", "{\"alg\":\"none\"}"},
        {"row26_hs384", "{\"alg\":\"HS384\",\"typ\":\"JWT\"}"},
    };
    const char *good = "{\"sub\":\"42\",\"role\":\"user\",\"exp\":1767229200,"
                       "\"iat\":1767225600," ISS_AUD "}";
    struct of_config *cfg;
    struct of_jwt *jwt;
    struct of_err err;
    char name[64];

    cfg = of_config_load_string("", "seeds.ini", &err);
    if (!cfg)
        goto fail;
    snprintf(cfg->auth.jwt_key, sizeof(cfg->auth.jwt_key), FUZZ_JWT_KEY);
    snprintf(cfg->auth.jwt_issuer, sizeof(cfg->auth.jwt_issuer),
             FUZZ_JWT_ISSUER);
    snprintf(cfg->auth.jwt_audience, sizeof(cfg->auth.jwt_audience),
             FUZZ_JWT_AUDIENCE);
    cfg->auth.jwt_max_ttl_s = FUZZ_JWT_MAX_TTL;
    jwt = of_jwt_new(cfg, 1, &err);
    of_config_destroy(cfg);
    if (!jwt)
        goto fail;
    for (int r = 0; r < 3; r++) {
        char *t = of_jwt_sign(jwt, 42 + r, (enum of_role)r, 3600,
                              (time_t)FUZZ_NOW, &err);
        if (!t)
            goto fail;
        snprintf(name, sizeof(name), "valid_%s", roles[r]);
        put_sel("jwt_auth", name, 0, t);
        if (r == 0) {
            /* row 33: the payload edited to admin, the old signature */
            char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.');
            char *c = b64("{\"sub\":\"42\",\"role\":\"admin\",\"exp\":"
                          "1767229200," ISS_AUD "}");
            char edited[4096];
            snprintf(edited, sizeof(edited), "%.*s.%s%s", (int)(d1 - t), t,
                     c, d2);
            put_sel("jwt_auth", "row33_edited", 0, edited);
            /* row 33: the signature in the '+/=' alphabet */
            for (char *p = d2; *p; p++)
                *p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
            snprintf(edited, sizeof(edited), "%s=", t);
            put_sel("jwt_auth", "row33_std_alphabet", 0, edited);
            free(c);
        }
        free(t);
    }
    of_jwt_destroy(jwt);
    token("valid_handmade", HS, good, EVP_sha256(), FUZZ_JWT_KEY);
    token("row23_alg_none", "{\"alg\":\"none\"}", good, NULL, NULL);
    token("row25_other_key", HS, good, EVP_sha256(),
          "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n");
    token("row26_hs384", "{\"alg\":\"HS384\",\"typ\":\"JWT\"}", good,
          EVP_sha384(), FUZZ_JWT_KEY);
    token("row26_hs512", "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", good,
          EVP_sha512(), FUZZ_JWT_KEY);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        token(bad[i].name, HS, bad[i].claims, EVP_sha256(), FUZZ_JWT_KEY);
        snprintf(name, sizeof(name), "signed_%s", bad[i].name);
        signed_by_harness(name, 0, NULL, bad[i].claims);
    }
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        token(headers[i].name, headers[i].header, good, EVP_sha256(),
              FUZZ_JWT_KEY);
        snprintf(name, sizeof(name), "signed_%s", headers[i].name);
        signed_by_harness(name, 0, headers[i].header, good);
    }
    signed_by_harness("signed_valid", 0, NULL, good);
    signed_by_harness("signed_hs384", 1, NULL, good);
    signed_by_harness("signed_hs512", 2, NULL, good);
    signed_by_harness("signed_other_key", 3, NULL, good);
    put_sel("jwt_auth", "row22_empty", 0, "");
    put_sel("jwt_auth", "garbage", 0, "Bearer abc.def");
    return;
fail:
    fprintf(stderr, "jwt: %s\n", err.msg);
    exit(1);
}

/* ---- idem_fingerprint: the contract's bodies, spelt several ways ---- */

static void idem_seeds(void)
{
    static const char *const b[][2] = {
        {"order", "{\"order_type\":\"vip\",\"total_amount\":\"199.00\"}"},
        {"order_reordered",
         "{ \"total_amount\" : \"199.00\",\n  \"order_type\": \"vip\" }"},
        {"user",
         "{\"email\":\"ada@example.com\",\"username\":\"ada\","
         "\"avatar_url\":null}"},
        {"escapes", "{\"username\":\"\\u00e9\\u0041\\/\\ud83d\\ude00\"}"},
        {"numbers", "{\"a\":[1,-0,0.1,1e308,-1.5e-300,9223372036854775807]}"},
        {"nested", "{\"z\":{\"b\":[{\"y\":1,\"x\":2}],\"a\":{}},\"a\":[]}"},
        {"duplicate", "{\"a\":1,\"a\":2}"},
        {"scalar", "\"text\""},
        {"empty", ""},
        {"not_json", "order_type=vip"},
    };

    for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++)
        puts_("idem_fingerprint", b[i][0], b[i][1]);
}

/* ---- cursor: cursors we issued ---- */

static void cursor_seeds(void)
{
    static const int64_t ids[] = {1, 20, 1000, 2147483647};
    char c[OF_CURSOR_SIZE], name[64];

    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        of_cursor_make(FUZZ_CURSOR_KEY, FUZZ_CURSOR_USER, ids[i], c);
        snprintf(name, sizeof(name), "issued_%lld", (long long)ids[i]);
        puts_("cursor", name, c);
    }
    of_cursor_make(FUZZ_CURSOR_KEY, FUZZ_CURSOR_USER + 1, 20, c);
    puts_("cursor", "row21_other_user", c);
    puts_("cursor", "row21_garbage", "garbage");
}

/* ---- kafka_headers: dead letters as the worker writes them ---- */

struct hbuf {
    unsigned char b[4096];
    size_t n;
};

/* a record: known name \p known (index, see fuzz_kafka_headers.c) or -1
 * and \p name; value \p v (NULL: a NULL value) */
static void hrec(struct hbuf *h, int known, const char *name, const char *v)
{
    size_t vl = v ? strlen(v) : 0xffff;

    if (known >= 0) {
        h->b[h->n++] = (unsigned char)(0x80 | known);
    } else {
        h->b[h->n++] = (unsigned char)strlen(name);
        memcpy(h->b + h->n, name, strlen(name));
        h->n += strlen(name);
    }
    h->b[h->n++] = (unsigned char)(vl & 0xff);
    h->b[h->n++] = (unsigned char)(vl >> 8);
    if (v) {
        memcpy(h->b + h->n, v, vl);
        h->n += vl;
    }
}

static void headers_seeds(void)
{
    enum { CT, MT, TRACE, ERROR, TOPIC, PART, OFFSET, FAILED, BEHIND, EVENT };
    struct hbuf h = {{0}, 0};
    char trace[1100];

    hrec(&h, CT, NULL, "application/avro");
    hrec(&h, MT, NULL, "CreateOrder");
    hrec(&h, TRACE, NULL, "4bf92f3577b34da6a3ce929d0e0e4736");
    hrec(&h, ERROR, NULL, "parked: invalid \"total_amount\": outside range");
    hrec(&h, TOPIC, NULL, "orderflow.order-commands");
    hrec(&h, PART, NULL, "3");
    hrec(&h, OFFSET, NULL, "12345");
    hrec(&h, FAILED, NULL, "2026-01-01T00:00:00.000001Z");
    put("kafka_headers", "dead_letter_parker", h.b, h.n);

    h.n = 0;
    hrec(&h, CT, NULL, "application/avro");
    hrec(&h, ERROR, NULL, "parked behind 3:12345");
    hrec(&h, TOPIC, NULL, "orderflow.user-commands");
    hrec(&h, PART, NULL, "0");
    hrec(&h, OFFSET, NULL, "9223372036854775807");
    hrec(&h, BEHIND, NULL, "3:12345");
    put("kafka_headers", "dead_letter_behind", h.b, h.n);

    h.n = 0;
    memset(trace, 'a', 1024);
    trace[1024] = '\0';
    hrec(&h, TRACE, NULL, trace);
    hrec(&h, CT, NULL, "text/plain");
    hrec(&h, CT, NULL, "application/avro");
    hrec(&h, OFFSET, NULL, "9223372036854775808");
    hrec(&h, PART, NULL, "-1");
    put("kafka_headers", "row46_long_trace_repeated", h.b, h.n);

    h.n = 0;
    hrec(&h, OFFSET, NULL, "007");
    hrec(&h, PART, NULL, "2147483648");
    hrec(&h, -1, "trace-id", NULL);
    hrec(&h, EVENT, NULL, "2b6b0d5e-3f1c-4a2b-9c7d-1e2f3a4b5c6d");
    put("kafka_headers", "bad_numbers", h.b, h.n);
    put("kafka_headers", "none", "", 0);
}

/* ---- redis_reply: HGETALL answers of the read model ---- */

static void resp(char *out, size_t cap, const char *const *kv, int n)
{
    size_t o = (size_t)snprintf(out, cap, "*%d\r\n", n);

    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(out + o, cap - o, "$%zu\r\n%s\r\n",
                              strlen(kv[i]), kv[i]);
}

static void redis_seeds(void)
{
    static const char *const user[] = {
        "version",  "3",       "user_id",  "42",
        "email",    "ada@example.com", "username", "ada",
        "registration_date", "2026-01-01T00:00:00Z", "is_banned", "false",
        "avatar_url", "https://example.com/ada.png"};
    static const char *const order[] = {
        "version",    "2",       "order_id",     "42",
        "user_id",    "7",       "order_type",   "vip",
        "order_status", "paid",  "total_amount", "199.00",
        "created_at", "2026-01-01T00:00:00Z", "updated_at",
        "2026-01-01T00:05:00Z"};
    static const char *const cmd[] = {
        "command_id", "0b6b0d5e-3f1c-4a2b-9c7d-1e2f3a4b5c6d",
        "status", "rejected", "resource_type", "order",
        "resource_id", "42", "error_code", "invalid_transition",
        "error_message", "order 42 is paid", "actor_id", "user:7",
        "accepted_at", "2026-01-01T00:00:00.000001Z", "completed_at", ""};
    static const char *const bad_version[] = {"version", "+3", "user_id", "42",
                                              "email", "a@b.co", "username",
                                              "a", "is_banned", "true"};
    static const char *const big_version[] = {
        "version", "99999999999999999999", "order_id", "42", "user_id", "7",
        "order_type", "vip", "order_status", "paid", "total_amount", "1.00",
        "created_at", "0", "updated_at", "0"};
    char buf[2048];

    resp(buf, sizeof(buf), user, 14);
    puts_("redis_reply", "user", buf);
    resp(buf, sizeof(buf), order, 16);
    puts_("redis_reply", "order", buf);
    resp(buf, sizeof(buf), cmd, 18);
    puts_("redis_reply", "command", buf);
    resp(buf, sizeof(buf), bad_version, 10);
    puts_("redis_reply", "version_sign", buf);
    resp(buf, sizeof(buf), big_version, 16);
    puts_("redis_reply", "version_overflow", buf);
    puts_("redis_reply", "empty", "*0\r\n");
    puts_("redis_reply", "wrong_types",
          "*4\r\n:1\r\n$-1\r\n$7\r\nversion\r\n*1\r\n+OK\r\n");
    puts_("redis_reply", "error", "-WRONGTYPE Operation against a key\r\n");
    puts_("redis_reply", "pipelined", "+OK\r\n:1\r\n$2\r\nhi\r\n*0\r\n");
}

/* ---- uuid: RFC 4122 vectors ---- */

static void uuid_seeds(void)
{
    static const char *const u[][2] = {
        {"rfc4122_ns_dns", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"},
        {"rfc4122_ns_url", "6ba7b811-9dad-11d1-80b4-00c04fd430c8"},
        {"rfc4122_example", "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"},
        {"v5_www_example_com", "2ed6657d-e927-568b-95e1-2665a8aea6a2"},
        {"upper_case", "F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6"},
        {"urn", "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"},
        {"braces", "{f81d4fae-7dec-11d0-a765-00a0c91e6bf6}"},
        {"nil", "00000000-0000-0000-0000-000000000000"},
        {"name_principal_key", "user:42\nmy-idempotency-key"},
        {"name_www_example_com", "www.example.com"},
    };

    for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++)
        puts_("uuid", u[i][0], u[i][1]);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz-seeds tests/fuzz/corpus\n");
        return 2;
    }
    root = argv[1];
    avro_seeds();
    command_seeds();
    money_seeds();
    jwt_seeds();
    idem_seeds();
    cursor_seeds();
    headers_seeds();
    redis_seeds();
    uuid_seeds();
    return 0;
}
