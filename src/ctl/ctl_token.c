/* orderflowctl token: print a JWT signed with the configured key. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "of_jwt.h"

static const char usage[] =
    "usage: orderflowctl token --sub ID --role user|service|admin "
    "[--ttl SECONDS]\n"
    "Prints a JWT for user ID signed with [auth] (default ttl 3600 s, at "
    "most [auth] jwt_max_ttl_s).\n";

int ctl_token(struct of_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {{"sub", required_argument, 0, 's'},
                                         {"role", required_argument, 0, 'r'},
                                         {"ttl", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    struct of_err err = {0};
    int64_t sub = 0;
    int role = -1, ttl = 3600, c;
    char *end;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 's' && !of_parse_id(optarg, &sub)) {
            ctl_fail("--sub: \"%s\" is not a user id (1..2147483647)", optarg);
            return 2;
        } else if (c == 'r') {
            role = of_role_parse(optarg);
        } else if (c == 't') {
            ttl = (int)strtol(optarg, &end, 10);
            if (*end || ttl <= 0 || ttl > cfg->auth.jwt_max_ttl_s) {
                ctl_fail("--ttl: must be 1..%d seconds", cfg->auth.jwt_max_ttl_s);
                return 2;
            }
        } else if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        } else if (c == '?') {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (sub == 0 || role < 0 || optind != argc) {
        fputs(usage, stderr);
        return 2;
    }
    struct of_jwt *jwt = of_jwt_new(cfg, 1, &err);
    if (!jwt) {
        ctl_fail("%s", err.msg);
        return 1;
    }
    char *token = of_jwt_sign(jwt, sub, (enum of_role)role, ttl, time(NULL),
                              &err);
    of_jwt_destroy(jwt);
    if (!token) {
        ctl_fail("%s", err.msg);
        return 1;
    }
    printf("%s\n", token);
    free(token);
    return 0;
}
