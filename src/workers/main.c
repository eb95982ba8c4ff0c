/*
 * orderflow-worker: --role commands applies commands in MySQL and Redis;
 * --role outbox relays committed events to Kafka (CONTRACT §1). Wiring only.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "of_cli.h"

static const char usage[] =
    "usage: orderflow-worker --role commands|outbox [--config FILE]\n"
    "                        [--metrics-port PORT] [--check-config]\n"
    "\n"
    "  --role commands   consume user and order commands, apply each exactly\n"
    "                    once in MySQL, update the Redis read model\n"
    "  --role outbox     publish committed outbox rows as events\n"
    "  --metrics-port P  serve Prometheus /metrics on P (default [worker]\n"
    "                    metrics_port; 0 turns it off)\n"
    "  --config FILE     configuration (default $ORDERFLOW_CONFIG, else\n"
    "                    config/orderflow.ini)\n"
    "  --check-config    validate the configuration, print it, exit\n"
    "  --help-config     list every setting with its default\n"
    "  --version         print the version\n"
    "\n"
    "SIGTERM or SIGINT: finish the batch, commit, leave the group.\n";

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"role", required_argument, 0, 'r'},
        {"metrics-port", required_argument, 0, 'm'},
        {"check-config", no_argument, 0, 'c'},
        {"help-config", no_argument, 0, 'H'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0}};
    const char *config_path =
        of_cli_take_config(&argc, argv, "orderflow-worker");
    const char *role = NULL;
    int check = 0, c;
    struct of_config *cfg;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            role = optarg;
            break;
        case 'm':
            break;
        case 'c':
            check = 1;
            break;
        case 'H':
            of_config_help(stdout);
            return 0;
        case 'h':
            fputs(usage, stdout);
            return 0;
        case 'V':
            of_cli_version("orderflow-worker");
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (!check && (!role || (strcmp(role, "commands") != 0 &&
                             strcmp(role, "outbox") != 0))) {
        fprintf(stderr, "orderflow-worker: --role commands|outbox is "
                        "required\n");
        return 2;
    }
    cfg = of_cli_config(config_path, "orderflow-worker");
    if (!cfg)
        return 2;
    if (check) {
        of_config_dump(cfg, stdout);
        of_config_destroy(cfg);
        return 0;
    }
    fprintf(stderr, "orderflow-worker: role %s is not built yet\n", role);
    of_config_destroy(cfg);
    return 1;
}
