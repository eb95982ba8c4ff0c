/* orderflowctl apikey create: a new key, printed once, its hash stored. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "of_apikey.h"
#include "of_db.h"
#include "of_jwt.h"

static const char usage[] =
    "usage: orderflowctl apikey create --name NAME --role "
    "user|service|admin\n"
    "       orderflowctl apikey revoke --name NAME\n"
    "create prints a new API key once; only its SHA-256 is stored in "
    "api_keys.\n"
    "revoke stops it working (the API caches keys for at most 10 s).\n";

static int valid_name(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

static int create(struct of_config *cfg, const char *name, int role)
{
    struct of_err err = {0};
    char key[OF_APIKEY_LEN + 1], prefix[12];
    unsigned char hash[32];
    struct of_db *db;
    int rc;

    if (of_apikey_generate(key, &err) != OF_OK) {
        ctl_fail("%s", err.msg);
        return 1;
    }
    of_apikey_hash(key, hash);
    snprintf(prefix, sizeof(prefix), "%.11s", key);
    db = of_db_open(cfg, &err);
    if (!db) {
        ctl_fail("%s", err.msg);
        return 1;
    }
    rc = of_db_exec(db,
                    "INSERT INTO api_keys (name, role, key_prefix, key_hash) "
                    "VALUES (?, ?, ?, ?)",
                    (struct of_db_param[]){OF_DB_S(name),
                                           OF_DB_S(of_role_name(role)),
                                           OF_DB_S(prefix), OF_DB_B(hash, 32)},
                    4, NULL, &err);
    of_db_close(db);
    if (rc != OF_OK) {
        if (strstr(err.msg, "Duplicate entry"))
            ctl_fail("an API key named \"%s\" exists already", name);
        else
            ctl_fail("could not store API key: %s", err.msg);
        return 1;
    }
    printf("%s\n", key);
    fprintf(stderr, "API key \"%s\" (%s) created; it is shown only once\n",
            name, of_role_name(role));
    return 0;
}

static int revoke(struct of_config *cfg, const char *name)
{
    struct of_err err = {0};
    uint64_t n = 0;
    struct of_db *db = of_db_open(cfg, &err);
    int rc;

    if (!db) {
        ctl_fail("%s", err.msg);
        return 1;
    }
    rc = of_db_exec(db,
                    "UPDATE api_keys SET revoked_at = NOW() "
                    "WHERE name = ? AND revoked_at IS NULL",
                    (struct of_db_param[]){OF_DB_S(name)}, 1, &n, &err);
    of_db_close(db);
    if (rc != OF_OK) {
        ctl_fail("could not revoke API key: %s", err.msg);
        return 1;
    }
    if (n == 0) {
        ctl_fail("no active API key named \"%s\"", name);
        return 1;
    }
    printf("API key \"%s\" revoked\n", name);
    return 0;
}

int ctl_apikey(struct of_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {{"name", required_argument, 0, 'n'},
                                         {"role", required_argument, 0, 'r'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *name = NULL;
    int role = -1, c;

    int creating = argc >= 2 && strcmp(argv[1], "create") == 0;
    if (argc < 2 || (!creating && strcmp(argv[1], "revoke") != 0)) {
        if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        fputs(usage, stderr);
        return 2;
    }
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        if (c == 'n') {
            name = optarg;
        } else if (c == 'r') {
            role = of_role_parse(optarg);
        } else if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        } else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (!name || (creating && role < 0) || (!creating && role >= 0) ||
        optind != argc - 1) {
        fputs(usage, stderr);
        return 2;
    }
    if (!valid_name(name)) {
        ctl_fail("--name: 1 to 64 of A-Z a-z 0-9 . _ -");
        return 2;
    }
    return creating ? create(cfg, name, role) : revoke(cfg, name);
}
