/*
 * orderflow-api: the HTTP ingress (CONTRACT §1, §3). Wiring only.
 */
#include <stdio.h>
#include <string.h>

#include "of_cli.h"

static const char usage[] =
    "usage: orderflow-api [--config FILE] [--check-config] [--help] "
    "[--version]\n"
    "\n"
    "Serves the orderflow HTTP API: authenticates requests, validates them,\n"
    "publishes commands to Kafka and answers reads from Redis and MySQL.\n"
    "\n"
    "  --config FILE    configuration (default $ORDERFLOW_CONFIG, else\n"
    "                   config/orderflow.ini); ORDERFLOW_<SECTION>_<KEY>\n"
    "                   environment variables override it\n"
    "  --check-config   load and validate the configuration, print it with\n"
    "                   secrets masked, and exit\n"
    "  --help-config    list every setting with its default\n"
    "  --version        print the version\n"
    "\n"
    "SIGTERM or SIGINT: stop accepting, finish in-flight requests, flush.\n";

int main(int argc, char **argv)
{
    const char *config_path = of_cli_take_config(&argc, argv, "orderflow-api");
    struct of_config *cfg;

    if (of_cli_has(argc, argv, "--help") || of_cli_has(argc, argv, "-h")) {
        fputs(usage, stdout);
        return 0;
    }
    if (of_cli_has(argc, argv, "--help-config")) {
        of_config_help(stdout);
        return 0;
    }
    if (of_cli_has(argc, argv, "--version")) {
        of_cli_version("orderflow-api");
        return 0;
    }
    int check = of_cli_has(argc, argv, "--check-config");
    if (argc > 1 + check) {
        fprintf(stderr, "orderflow-api: unknown argument \"%s\"\n%s",
                argv[check && strcmp(argv[1], "--check-config") == 0 ? 2 : 1],
                usage);
        return 2;
    }
    cfg = of_cli_config(config_path, "orderflow-api");
    if (!cfg)
        return 2;
    if (check) {
        of_config_dump(cfg, stdout);
        of_config_destroy(cfg);
        return 0;
    }
    fprintf(stderr, "orderflow-api: the HTTP server is not built yet\n");
    of_config_destroy(cfg);
    return 1;
}
