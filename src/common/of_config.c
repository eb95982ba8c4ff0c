/*
 * of_config: see of_config.h.
 *
 * Values reach set_value() from the file, then from the environment; each is
 * checked there, so the first bad one is reported with where it came from.
 * libinih's handler is not told line numbers by Debian's build, so the reader
 * below counts the lines it hands to the parser: the handler always runs for
 * the line most recently read.
 */
#include "of_config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>
#include <librdkafka/rdkafka.h>

#include "of_log.h"

extern char **environ;

enum key_type { KEY_STR, KEY_INT, KEY_ENUM, KEY_SECRET };

struct key_def {
    const char *section;
    const char *name;
    enum key_type type;
    size_t off;
    size_t size; /* of the char array, for strings */
    const char *def;
    long min, max;      /* KEY_INT */
    const char *values; /* KEY_ENUM: "a|b|c" */
    const char *help;
};

#define S(sec, field, def, help)                                               \
    {#sec, #field, KEY_STR, offsetof(struct of_config, sec.field),             \
     sizeof(((struct of_config *)0)->sec.field), def, 0, 0, NULL, help}
#define P(sec, field, help)                                                    \
    {#sec, #field, KEY_SECRET, offsetof(struct of_config, sec.field),          \
     sizeof(((struct of_config *)0)->sec.field), "", 0, 0, NULL, help}
#define I(sec, field, def, lo, hi, help)                                       \
    {#sec, #field, KEY_INT, offsetof(struct of_config, sec.field), 0, #def,    \
     lo, hi, NULL, help}
#define E(sec, field, def, values, help)                                       \
    {#sec, #field, KEY_ENUM, offsetof(struct of_config, sec.field),            \
     sizeof(((struct of_config *)0)->sec.field), def, 0, 0, values, help}

static const struct key_def keys[] = {
    E(log, level, "info", "debug|info|warn|error", "lowest level logged"),
    E(log, format, "text", "text|json", "text for a terminal, json lines"),
    S(log, file, "", "append to this file instead of stderr (SIGHUP reopens)"),

    S(api, listen_address, "127.0.0.1", "address the HTTP API binds"),
    I(api, port, 8080, 1, 65535, "HTTP port"),
    I(api, threads, 2, 1, 64, "libmicrohttpd worker threads"),
    I(api, max_body_bytes, 65536, 1024, 16777216, "larger bodies get 413"),
    I(api, connection_limit, 1000, 1, 100000, "open connections at most"),
    I(api, per_ip_connection_limit, 64, 1, 100000, "per client address"),
    I(api, connection_timeout_s, 10, 1, 3600, "idle connection timeout"),
    I(api, request_deadline_s, 10, 1, 3600,
      "whole-request deadline: a request not received in full by then "
      "has its connection closed (slowloris)"),
    I(api, produce_timeout_ms, 10000, 100, 300000,
      "Kafka delivery budget for a command (message.timeout.ms)"),
    I(api, idempotency_ttl_s, 86400, 60, 604800, "Idempotency-Key lifetime"),
    I(api, rate_limit_per_s, 200, 0, 1000000,
      "requests per second per principal (0: no limit)"),
    S(api, tls_cert_file, "", "PEM certificate: serve HTTPS when set"),
    S(api, tls_key_file, "", "PEM private key for tls_cert_file"),

    E(auth, jwt_alg, "HS256", "HS256|HS384|HS512|RS256|ES256",
      "the one JWT algorithm accepted"),
    P(auth, jwt_key, "HMAC secret for HS*, at least 32 bytes"),
    P(auth, jwt_keys,
      "more HS* secrets by key id, \"kid:secret,kid:secret\": a token's kid "
      "picks one (unknown kid: 401), a token without kid uses jwt_key"),
    S(auth, jwt_sign_kid, "",
      "the jwt_keys entry that signs new tokens (empty: jwt_key, no kid)"),
    S(auth, jwt_public_key_file, "", "PEM public key for RS256/ES256"),
    S(auth, jwt_private_key_file, "",
      "PEM private key for RS256/ES256 (orderflowctl token only)"),
    S(auth, jwt_issuer, "", "required iss claim (empty: not checked)"),
    S(auth, jwt_audience, "", "required aud claim (empty: not checked)"),
    I(auth, jwt_leeway_s, 30, 0, 300, "clock skew allowed on exp and nbf"),
    I(auth, jwt_max_ttl_s, 86400, 60, 31536000, "largest exp - iat accepted"),
    P(auth, cursor_secret, "HMAC key for pagination cursors (empty: jwt_key)"),

    S(mysql, host, "127.0.0.1", "MySQL or MariaDB host"),
    I(mysql, port, 3306, 1, 65535, "MySQL port"),
    S(mysql, user, "orderflow", "MySQL user"),
    P(mysql, password, "MySQL password"),
    S(mysql, database, "orderflow", "MySQL database"),
    I(mysql, connect_timeout_s, 5, 1, 300, "connect timeout"),
    I(mysql, rw_timeout_s, 30, 1, 3600, "read and write timeout"),

    S(redis, host, "127.0.0.1", "Redis host"),
    I(redis, port, 6379, 1, 65535, "Redis port"),
    P(redis, password, "Redis AUTH password (empty: none)"),
    I(redis, timeout_ms, 200, 10, 60000, "connect and command timeout"),
    I(redis, command_ttl_s, 86400, 60, 2592000, "TTL of command status keys"),

    S(topics, user_commands, "orderflow.user-commands", "user command topic"),
    S(topics, order_commands, "orderflow.order-commands", "order commands"),
    S(topics, user_events, "orderflow.user-events", "user event topic"),
    S(topics, order_events, "orderflow.order-events", "order event topic"),
    S(topics, dead_letter, "orderflow.dead-letter", "dead-letter topic"),
    I(topics, partitions, 6, 1, 10000, "partitions for topics create"),
    I(topics, replication_factor, 1, 1, 32, "replicas for topics create"),

    S(worker, group_id, "orderflow-commands", "command consumer group"),
    I(worker, metrics_port, 9100, 0, 65535, "/metrics port (0: off)"),
    I(worker, batch_max, 512, 1, 5000, "commands per MySQL transaction"),
    I(worker, batch_ms, 20, 0, 10000, "longest time gathering a batch"),
    I(worker, retry_max_ms, 30000, 100, 600000, "backoff cap for retries"),
    I(worker, stall_s, 120, 5, 3600, "/healthz fails after this long stuck"),

    I(outbox, batch_max, 500, 1, 100000, "rows published per round"),
    I(outbox, poll_ms, 50, 1, 60000, "idle poll interval"),
    I(outbox, lease_s, 10, 1, 3600, "relay lease length"),
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

struct load_ctx {
    struct of_config *cfg;
    struct of_err *err;
    const char *name;
    int lineno;
    unsigned char seen[NKEYS];
    /* string reader state (of_config_load_string) */
    const char *text;
};

static const struct key_def *find_key(const char *section, const char *name)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(keys[i].section, section) == 0 &&
            strcmp(keys[i].name, name) == 0)
            return &keys[i];
    }
    return NULL;
}

static int section_known(const char *section)
{
    if (strcmp(section, "kafka") == 0)
        return 1;
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(keys[i].section, section) == 0)
            return 1;
    }
    return 0;
}

static int enum_has(const char *values, const char *v)
{
    size_t n = strlen(v);
    const char *p = values;

    while (n && p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0)
            return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

/* Checks \p value for \p k and stores it; \p where names its origin. */
static int set_value(struct of_config *cfg, const struct key_def *k,
                     const char *value, const char *where, struct of_err *err)
{
    char *base = (char *)cfg + k->off;

    if (k->type == KEY_INT) {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (!*value || *end || errno || v < k->min || v > k->max)
            return of_err_set(err, OF_EINVAL,
                              "%s: bad value for %s.%s: \"%s\" is not an "
                              "integer in [%ld, %ld]",
                              where, k->section, k->name, value, k->min,
                              k->max);
        *(int *)(void *)base = (int)v;
        return OF_OK;
    }
    if (k->type == KEY_ENUM && !enum_has(k->values, value))
        return of_err_set(err, OF_EINVAL,
                          "%s: bad value for %s.%s: \"%s\" is not one of %s",
                          where, k->section, k->name, value, k->values);
    if (strlen(value) >= k->size)
        return of_err_set(err, OF_EINVAL,
                          "%s: value for %s.%s is too long (at most %zu bytes)",
                          where, k->section, k->name, k->size - 1);
    memcpy(base, value, strlen(value) + 1);
    return OF_OK;
}

/* librdkafka judges its own keys: a scratch conf reports typos and bad
 * values with its errstr, which we prefix with the key's origin. */
static int set_kafka(struct of_config *cfg, const char *key, const char *value,
                     const char *where, struct of_err *err)
{
    char errstr[256];
    int i;

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_res_t res =
        rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr));
    rd_kafka_conf_destroy(conf);
    if (res != RD_KAFKA_CONF_OK)
        return of_err_set(err, OF_EINVAL, "%s: bad [kafka] key \"%s\": %s",
                          where, key, errstr);
    if (strlen(key) >= sizeof(cfg->kafka[0].key) ||
        strlen(value) >= sizeof(cfg->kafka[0].value))
        return of_err_set(err, OF_EINVAL, "%s: [kafka] %s is too long", where,
                          key);
    for (i = 0; i < cfg->kafka_n; i++) {
        if (strcmp(cfg->kafka[i].key, key) == 0)
            break;
    }
    if (i == OF_CONFIG_MAX_KAFKA)
        return of_err_set(err, OF_EINVAL, "%s: more than %d [kafka] keys",
                          where, OF_CONFIG_MAX_KAFKA);
    if (i == cfg->kafka_n)
        cfg->kafka_n++;
    snprintf(cfg->kafka[i].key, sizeof(cfg->kafka[i].key), "%s", key);
    snprintf(cfg->kafka[i].value, sizeof(cfg->kafka[i].value), "%s", value);
    return OF_OK;
}

static int config_handler(void *user, const char *section, const char *name,
                       const char *value)
{
    struct load_ctx *ctx = user;
    char where[1100];

    if (ctx->err->rc != OF_OK)
        return 1; /* report the first error only */
    snprintf(where, sizeof(where), "%s:%d", ctx->name, ctx->lineno);
    if (!section_known(section)) {
        of_err_set(ctx->err, OF_EINVAL, "%s: unknown section [%s]", where,
                   section);
        return 1;
    }
    if (strcmp(section, "kafka") == 0) {
        set_kafka(ctx->cfg, name, value, where, ctx->err);
        return 1;
    }
    const struct key_def *k = find_key(section, name);
    if (!k) {
        of_err_set(ctx->err, OF_EINVAL, "%s: unknown key \"%s\" in [%s]",
                   where, name, section);
        return 1;
    }
    if (ctx->seen[k - keys]) {
        of_err_set(ctx->err, OF_EINVAL, "%s: duplicate key \"%s\" in [%s]",
                   where, name, section);
        return 1;
    }
    ctx->seen[k - keys] = 1;
    set_value(ctx->cfg, k, value, where, ctx->err);
    return 1;
}

/* libinih hands a line longer than its buffer (INI_MAX_LINE, 200 in
 * Debian's build) over in pieces and parses each piece as a line of its
 * own, so a long value would be cut and its tail misread, and every line
 * number after it would be wrong. The readers stop at such a line instead,
 * with an error naming it; so lineno is always the line inih is reading. */
static char *too_long(struct load_ctx *ctx, int num)
{
    if (ctx->err->rc == OF_OK)
        of_err_set(ctx->err, OF_EINVAL,
                   "%s:%d: line longer than %d characters", ctx->name,
                   ctx->lineno + 1, num - 2);
    return NULL;
}

static char *file_reader(char *str, int num, void *stream)
{
    struct load_ctx *ctx = stream;
    FILE *f = (FILE *)(void *)ctx->text;
    char *line = fgets(str, num, f);
    size_t len = line ? strlen(line) : 0;

    if (len == (size_t)num - 1 && line[len - 1] != '\n') {
        int c = fgetc(f);
        if (c != EOF)
            return too_long(ctx, num);
    }
    if (line)
        ctx->lineno++;
    return line;
}

static char *string_reader(char *str, int num, void *stream)
{
    struct load_ctx *ctx = stream;
    const char *nl;
    size_t len;

    if (!*ctx->text || num < 2)
        return NULL;
    nl = strchr(ctx->text, '\n');
    len = nl ? (size_t)(nl - ctx->text) + 1 : strlen(ctx->text);
    if (len > (size_t)num - 1)
        return too_long(ctx, num);
    memcpy(str, ctx->text, len);
    str[len] = '\0';
    ctx->text += len;
    ctx->lineno++;
    return str;
}

static void env_name(char *out, size_t cap, const char *section,
                     const char *key)
{
    size_t n = (size_t)snprintf(out, cap, "ORDERFLOW_%s_%s", section, key);
    for (size_t i = 0; i < n && i < cap; i++)
        out[i] = (char)toupper((unsigned char)out[i]);
}

/* ORDERFLOW_KAFKA_<KEY>: KEY lower-cased with '_' for '.', so
 * ORDERFLOW_KAFKA_BOOTSTRAP_SERVERS sets bootstrap.servers. The stack's
 * ORDERFLOW_KAFKA_BOOTSTRAP (CONTRACT §2) is the same setting. */
static int apply_kafka_env(struct of_config *cfg, struct of_err *err)
{
    static const char prefix[] = "ORDERFLOW_KAFKA_";

    for (char **e = environ; *e; e++) {
        char key[128];
        const char *eq = strchr(*e, '=');
        size_t plen = sizeof(prefix) - 1;
        if (!eq || strncmp(*e, prefix, plen) != 0)
            continue;
        size_t klen = (size_t)(eq - *e) - plen;
        if (klen == 0 || klen >= sizeof(key))
            continue;
        for (size_t i = 0; i < klen; i++) {
            char c = (char)tolower((unsigned char)(*e)[plen + i]);
            key[i] = c == '_' ? '.' : c;
        }
        key[klen] = '\0';
        if (strcmp(key, "bootstrap") == 0)
            snprintf(key, sizeof(key), "bootstrap.servers");
        char where[160];
        snprintf(where, sizeof(where), "%.*s", (int)(eq - *e), *e);
        if (set_kafka(cfg, key, eq + 1, where, err) != OF_OK)
            return err->rc;
    }
    return OF_OK;
}

static int apply_env(struct of_config *cfg, struct of_err *err)
{
    for (size_t i = 0; i < NKEYS; i++) {
        char name[128];
        env_name(name, sizeof(name), keys[i].section, keys[i].name);
        const char *v = getenv(name);
        if (v && set_value(cfg, &keys[i], v, name, err) != OF_OK)
            return err->rc;
    }
    return apply_kafka_env(cfg, err);
}

static struct of_config *config_new(const char *name)
{
    struct of_config *cfg = calloc(1, sizeof(*cfg));

    if (!cfg)
        return NULL;
    snprintf(cfg->path, sizeof(cfg->path), "%s", name);
    for (size_t i = 0; i < NKEYS; i++) {
        int rc = set_value(cfg, &keys[i], keys[i].def, "default", NULL);
        assert(rc == OF_OK); /* the table's defaults pass its own checks */
        (void)rc;
    }
    return cfg;
}

static struct of_config *finish(struct load_ctx *ctx, int parse_rc)
{
    struct of_config *cfg = ctx->cfg;

    if (ctx->err->rc == OF_OK && parse_rc > 0)
        of_err_set(ctx->err, OF_EINVAL, "%s:%d: syntax error", ctx->name,
                   parse_rc);
    if (ctx->err->rc == OF_OK)
        apply_env(cfg, ctx->err);
    if (ctx->err->rc != OF_OK) {
        of_config_destroy(cfg);
        return NULL;
    }
    return cfg;
}

struct of_config *of_config_load(const char *path, struct of_err *err)
{
    struct load_ctx ctx = {0};
    FILE *f;

    if (!path)
        path = getenv("ORDERFLOW_CONFIG");
    if (!path) {
        path = "config/orderflow.ini";
        if (access(path, R_OK) != 0)
            path = OF_SYSCONFDIR "/orderflow.ini";
    }
    f = fopen(path, "r");
    if (!f) {
        of_err_set(err, OF_EINVAL, "could not open config file \"%s\": %s",
                   path, strerror(errno));
        return NULL;
    }
    of_err_clear(err);
    ctx.cfg = config_new(path);
    ctx.err = err;
    ctx.name = path;
    ctx.text = (const char *)(void *)f;
    int rc = ini_parse_stream(file_reader, &ctx, config_handler, &ctx);
    fclose(f);
    return finish(&ctx, rc);
}

struct of_config *of_config_load_string(const char *text, const char *name,
                                        struct of_err *err)
{
    struct load_ctx ctx = {0};

    of_err_clear(err);
    ctx.cfg = config_new(name);
    ctx.err = err;
    ctx.name = name;
    ctx.text = text;
    int rc = ini_parse_stream(string_reader, &ctx, config_handler, &ctx);
    return finish(&ctx, rc);
}

void of_config_destroy(struct of_config *cfg)
{
    if (!cfg)
        return;
    /* secrets do not outlive the config in freed memory */
    explicit_bzero(cfg, sizeof(*cfg));
    free(cfg);
}

const char *of_config_kafka_get(const struct of_config *cfg, const char *key)
{
    for (int i = 0; i < cfg->kafka_n; i++) {
        if (strcmp(cfg->kafka[i].key, key) == 0)
            return cfg->kafka[i].value;
    }
    return NULL;
}

static int kafka_key_secret(const char *key)
{
    return strstr(key, "password") || strstr(key, "secret") ||
           strstr(key, "key.pem") || strstr(key, "token");
}

void of_config_dump(const struct of_config *cfg, FILE *out)
{
    const char *section = "";

    fprintf(out, "# effective configuration from %s\n", cfg->path);
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key_def *k = &keys[i];
        const char *base = (const char *)cfg + k->off;
        if (strcmp(section, k->section) != 0) {
            fprintf(out, "\n[%s]\n", k->section);
            section = k->section;
        }
        if (k->type == KEY_INT)
            fprintf(out, "%s = %d\n", k->name, *(const int *)(const void *)base);
        else if (k->type == KEY_SECRET)
            fprintf(out, "%s = %s\n", k->name, *base ? "********" : "");
        else
            fprintf(out, "%s = %s\n", k->name, base);
    }
    fprintf(out, "\n[kafka]\n");
    for (int i = 0; i < cfg->kafka_n; i++)
        fprintf(out, "%s = %s\n", cfg->kafka[i].key,
                kafka_key_secret(cfg->kafka[i].key) ? "********"
                                                     : cfg->kafka[i].value);
}

void of_config_help(FILE *out)
{
    const char *section = "";

    fprintf(out, "Configuration keys (file [section] key = value, or the "
                 "environment as ORDERFLOW_<SECTION>_<KEY>):\n");
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key_def *k = &keys[i];
        char name[128];
        if (strcmp(section, k->section) != 0) {
            fprintf(out, "  [%s]\n", k->section);
            section = k->section;
        }
        snprintf(name, sizeof(name), "%s = %s", k->name,
                 k->type == KEY_SECRET ? "(secret)" : k->def);
        fprintf(out, "    %-40s %s\n", name, k->help);
    }
    fprintf(out, "  [kafka]\n    any librdkafka property, passed unchanged "
                 "(ORDERFLOW_KAFKA_BOOTSTRAP_SERVERS = bootstrap.servers)\n");
}

int of_config_apply_log(const struct of_config *cfg, const char *process,
                        struct of_err *err)
{
    int level = of_log_level_parse(cfg->log.level);
    int json = strcmp(cfg->log.format, "json") == 0;

    if (of_log_init(process, level, json, cfg->log.file) != 0)
        return of_err_set(err, OF_EFATAL, "could not open log file \"%s\": %s",
                          cfg->log.file, strerror(errno));
    return OF_OK;
}
