/*
 * of_config: the one configuration of orderflow, shared by all binaries.
 *
 * The INI file is read once with libinih, then ORDERFLOW_<SECTION>_<KEY>
 * environment variables override it, then every value is validated; any
 * unknown key, bad value or missing value is one error naming the file (or
 * variable), the line and the key, and the caller exits before doing anything.
 * Every key lives in one table in of_config.c (name, type, default, bounds,
 * help), as redis config.c does; the [kafka] section is free-form and goes to
 * rd_kafka_conf_set() verbatim (checked at load time, so a typo is reported
 * with its line). The loaded struct is passed down; there are no globals.
 */
#ifndef OF_CONFIG_H
#define OF_CONFIG_H

#include <stdio.h>

#include "of_err.h"

#define OF_CONFIG_MAX_KAFKA 64

struct of_config_kv {
    char key[128];
    char value[512];
};

struct of_config {
    char path[1024]; /* the file it came from */
    struct {
        char level[16];
        char format[16];
        char file[1024];
    } log;
    struct {
        char listen_address[64];
        int port;
        int threads;
        int max_body_bytes;
        int connection_limit;
        int per_ip_connection_limit;
        int connection_timeout_s;
        int request_deadline_s;
        int produce_timeout_ms;
        int idempotency_ttl_s;
        int rate_limit_per_s;
        char tls_cert_file[1024];
        char tls_key_file[1024];
    } api;
    struct {
        char jwt_alg[16];
        char jwt_key[512];
        char jwt_keys[4096];   /* "kid:secret,kid:secret" (key rotation) */
        char jwt_sign_kid[65]; /* jwt_keys entry that signs, "" jwt_key */
        char jwt_public_key_file[1024];
        char jwt_private_key_file[1024];
        char jwt_issuer[256];
        char jwt_audience[256];
        int jwt_leeway_s;
        int jwt_max_ttl_s;
        char cursor_secret[256];
    } auth;
    struct {
        char host[256];
        int port;
        char user[128];
        char password[256];
        char database[128];
        int connect_timeout_s;
        int rw_timeout_s;
    } mysql;
    struct {
        char host[256];
        int port;
        char password[256];
        int timeout_ms;
        int command_ttl_s;
    } redis;
    struct {
        char user_commands[200];
        char order_commands[200];
        char user_events[200];
        char order_events[200];
        char dead_letter[200];
        int partitions;
        int replication_factor;
    } topics;
    struct {
        char group_id[200];
        int metrics_port;
        int batch_max;
        int batch_ms;
        int retry_max_ms;
        int stall_s;
    } worker;
    struct {
        int batch_max;
        int poll_ms;
        int lease_s;
    } outbox;
    int kafka_n;
    struct of_config_kv kafka[OF_CONFIG_MAX_KAFKA];
};

/**
 * @brief Load \p path (NULL: $ORDERFLOW_CONFIG, else config/orderflow.ini),
 *        apply the environment and validate everything.
 * @returns a config the caller frees with of_config_destroy(), or NULL with
 *          \p err saying which file, line and key are wrong.
 */
struct of_config *of_config_load(const char *path, struct of_err *err);

/**
 * @brief Load from an in-memory INI text (tests); \p name stands for the file.
 */
struct of_config *of_config_load_string(const char *text, const char *name,
                                        struct of_err *err);

void of_config_destroy(struct of_config *cfg);

/** @returns the value of \p key in [kafka] (borrowed) or NULL. */
const char *of_config_kafka_get(const struct of_config *cfg, const char *key);

/** @brief Print the effective configuration, secrets masked. */
void of_config_dump(const struct of_config *cfg, FILE *out);

/** @brief Print every key with its default and help (for --help). */
void of_config_help(FILE *out);

/**
 * @brief Apply [log] to of_log for process \p process.
 * @returns OF_OK, or OF_EFATAL if the log file cannot be opened.
 */
int of_config_apply_log(const struct of_config *cfg, const char *process,
                        struct of_err *err);

#endif
