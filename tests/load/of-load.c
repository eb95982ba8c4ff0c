/*
 * of-load: the open-loop load generator (of_load.h) as a program, for the
 * benchmark and for runs by hand. Writes the per-operation log that of-check
 * reads and prints the latency summary.
 *
 *   of-load --port P --token JWT --sub N --user-id U --rate R --duration S
 *           [--mix create:40,pay:20,refund:10,cancel:5,read:150]
 *           [--targets ID,ID,...] [--log FILE] [--timeout-ms MS]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "of_load.h"

static void usage(FILE *f)
{
    fputs("usage: of-load --port P --token JWT --sub N --user-id U --rate R\n"
          "               --duration S [--mix KIND:W,...] [--targets ID,...]\n"
          "               [--log FILE] [--timeout-ms MS] [--max-inflight N]\n"
          "Sends R operations per second for S seconds to 127.0.0.1:P, open\n"
          "loop, as principal user:N (the token's sub); orders are created\n"
          "for user U. KIND is create, pay, refund, cancel or read; the\n"
          "others pick an order from --targets. Prints latency by kind and\n"
          "status; --log writes one line per operation for of-check.\n",
          f);
}

static int parse_mix(const char *s, int *w)
{
    char *copy = strdup(s), *save = NULL;
    int rc = 0;

    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(t, ':');
        int k;
        if (!colon)
            rc = -1;
        else {
            *colon = '\0';
            for (k = 0; k < OF_LOAD_KINDS && strcmp(of_load_kind_name(k), t); k++)
                ;
            if (k == OF_LOAD_KINDS)
                rc = -1;
            else
                w[k] = atoi(colon + 1);
        }
    }
    free(copy);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"port", 1, NULL, 'p'},        {"token", 1, NULL, 't'},
        {"sub", 1, NULL, 's'},         {"user-id", 1, NULL, 'u'},
        {"rate", 1, NULL, 'r'},        {"duration", 1, NULL, 'd'},
        {"mix", 1, NULL, 'm'},         {"targets", 1, NULL, 'T'},
        {"log", 1, NULL, 'l'},         {"timeout-ms", 1, NULL, 'o'},
        {"max-inflight", 1, NULL, 'i'}, {"help", 0, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    struct of_load_spec spec = {0};
    char auth[4096] = "", principal[64] = "", prefix[64];
    const char *log = NULL;
    int64_t *targets = NULL;
    int c;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'p': spec.port = atoi(optarg); break;
        case 't': snprintf(auth, sizeof(auth), "Authorization: Bearer %s", optarg); break;
        case 's': snprintf(principal, sizeof(principal), "user:%s", optarg); break;
        case 'u': spec.user_id = atoll(optarg); break;
        case 'r': spec.rate = atof(optarg); break;
        case 'd': spec.duration_s = atof(optarg); break;
        case 'm':
            if (parse_mix(optarg, spec.weight) != 0) {
                fprintf(stderr, "of-load: bad --mix \"%s\"\n", optarg);
                return 2;
            }
            break;
        case 'T':
            for (const char *p = optarg; *p;) {
                targets = realloc(targets, (spec.ntargets + 1) * sizeof(*targets));
                targets[spec.ntargets++] = strtoll(p, (char **)&p, 10);
                if (*p == ',')
                    p++;
                else if (*p) {
                    fprintf(stderr, "of-load: bad --targets\n");
                    return 2;
                }
            }
            break;
        case 'l': log = optarg; break;
        case 'o': spec.timeout_ms = atol(optarg); break;
        case 'i': spec.max_inflight = atoi(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!spec.port || !auth[0] || !principal[0] || spec.user_id <= 0 ||
        spec.rate <= 0 || spec.duration_s <= 0) {
        usage(stderr);
        return 2;
    }
    snprintf(prefix, sizeof(prefix), "ofl-%d-%ld", (int)getpid(), (long)time(NULL));
    spec.auth = auth;
    spec.principal = principal;
    spec.key_prefix = prefix;
    spec.targets = targets;
    struct of_load *l = of_load_start(&spec);
    if (!l) {
        fprintf(stderr, "of-load: could not start\n");
        return 1;
    }
    struct of_load_result *r = of_load_join(l);
    of_load_print(r, stdout);
    if (log && of_load_write_log(r, log) != 0) {
        fprintf(stderr, "of-load: could not write %s\n", log);
        return 1;
    }
    of_load_free(r);
    free(targets);
    return 0;
}
