/*
 * orderflowctl: the operator CLI (CONTRACT §7). Wiring only: options that
 * every subcommand shares, the config, then the subcommand.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "of_cli.h"

static const char usage[] =
    "usage: orderflowctl [--config FILE] COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  migrate                           apply pending schemas/sql migrations\n"
    "  topics create                     create the orderflow topics\n"
    "  token --sub ID --role ROLE [--ttl SECONDS]\n"
    "                                    print a JWT signed with [auth]\n"
    "  apikey create --name NAME --role ROLE\n"
    "                                    print a new API key once, store its "
    "hash\n"
    "  apikey revoke --name NAME         the key stops working (within 10 s)\n"
    "  rebuild-read-model (--user ID | --all)\n"
    "                                    rewrite Redis from MySQL\n"
    "  replay --topic T [--partition P] (--from-offset O | --from-time T)\n"
    "         [--to-offset O | --to-time T] [--dry-run]\n"
    "                                    re-apply a range of commands\n"
    "  dlq list [--limit N]              show dead letters, decoded\n"
    "  dlq redrive (--offset [P:]O | --all)\n"
    "                                    send dead letters back\n"
    "  dlq skip --topic T --key K        unpark a parked key\n"
    "  events tail --topic T [--from-beginning] [--json]\n"
    "                                    print events as they arrive\n"
    "\n"
    "Options:\n"
    "  --config FILE   configuration (default $ORDERFLOW_CONFIG, else\n"
    "                  config/orderflow.ini); ORDERFLOW_<SECTION>_<KEY>\n"
    "                  environment variables override it\n"
    "  --help          this text; --help-config lists every setting\n"
    "  --version       print the version\n"
    "\n"
    "Exit status: 0 done, 1 failed, 2 bad usage or configuration.\n";

static const struct {
    const char *name;
    int (*run)(struct of_config *cfg, int argc, char **argv);
} commands[] = {
    {"migrate", ctl_migrate},
    {"topics", ctl_topics},
    {"token", ctl_token},
    {"apikey", ctl_apikey},
    {"rebuild-read-model", ctl_rebuild},
    {"replay", ctl_replay},
    {"dlq", ctl_dlq},
    {"events", ctl_events},
};

void ctl_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("orderflowctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int main(int argc, char **argv)
{
    const char *config_path = of_cli_take_config(&argc, argv, "orderflowctl");
    struct of_config *cfg;
    int rc = 2;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--help-config") == 0) {
        of_config_help(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        of_cli_version("orderflowctl");
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        cfg = of_cli_config(config_path, "orderflowctl");
        if (!cfg)
            return 2;
        rc = commands[i].run(cfg, argc - 1, argv + 1);
        of_config_destroy(cfg);
        return rc;
    }
    ctl_fail("unknown command \"%s\" (see orderflowctl --help)", argv[1]);
    return 2;
}
