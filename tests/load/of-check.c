/*
 * of-check: the invariant checker (of_check.h) as a program: reads an
 * of-load log and compares it with MySQL, Redis and the order events of the
 * configuration given. Exit 0: every invariant holds; 1: one does not;
 * 2: bad usage or the check could not run.
 *
 *   of-check --config FILE --log FILE [--wait S] [--no-redis] [--no-events]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "of_check.h"
#include "of_config.h"

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", 1, NULL, 'c'}, {"log", 1, NULL, 'l'},
        {"wait", 1, NULL, 'w'},   {"no-redis", 0, NULL, 'R'},
        {"no-events", 0, NULL, 'E'}, {"help", 0, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    struct of_check_opts o = {.wait_s = 5};
    const char *config = NULL, *log = NULL;
    struct of_err err;
    struct of_check out;
    int c, rc;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'l': log = optarg; break;
        case 'w': o.wait_s = atoi(optarg); break;
        case 'R': o.skip_redis = 1; break;
        case 'E': o.skip_events = 1; break;
        case 'h':
            puts("usage: of-check --config FILE --log FILE [--wait S] "
                 "[--no-redis] [--no-events]\n"
                 "Checks TESTPLAN's I1-I5 for the operations of an of-load "
                 "log; waits up to S\nseconds (default 5) for the system to "
                 "catch up. Exit 0 when all hold.");
            return 0;
        default: return 2;
        }
    }
    if (!config || !log) {
        fputs("of-check: --config and --log are required (see --help)\n", stderr);
        return 2;
    }
    struct of_config *cfg = of_config_load(config, &err);
    if (!cfg) {
        fprintf(stderr, "of-check: %s\n", err.msg);
        return 2;
    }
    struct of_load_result *r = of_load_read_log(log);
    if (!r) {
        fprintf(stderr, "of-check: cannot read the log %s\n", log);
        return 2;
    }
    rc = of_check_run(cfg, r, &o, &out);
    if (rc >= 0)
        of_check_print(&out, stdout);
    of_load_free(r);
    of_config_destroy(cfg);
    return rc < 0 ? 2 : rc;
}
