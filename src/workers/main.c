/*
 * orderflow-worker: --role commands applies commands in MySQL and Redis;
 * --role outbox relays committed events to Kafka (CONTRACT §1). Wiring
 * only: arguments, configuration, signals, /metrics, the role, teardown in
 * reverse.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "of_cli.h"
#include "of_log.h"
#include "of_metrics.h"
#include "worker_commands.h"
#include "worker_health.h"
#include "worker_outbox.h"
#include "worker_metrics.h"
#include "worker_reconcile.h"

typedef int (*role_fn)(const struct of_config *cfg,
                       struct of_metrics *metrics,
                       volatile sig_atomic_t *running);

/* The roles; run is NULL for a role this build does not have yet.
 * reconcile: the role writes the Redis read model, so it also watches it
 * for a rollback or a flush (worker_reconcile.h). */
static const struct role {
    const char *name;
    role_fn run;
    int reconcile;
} roles[] = {
    {"commands", worker_commands_run, 1},
    {"outbox", worker_outbox_run, 0},
};

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
    "SIGTERM or SIGINT: finish the batch, commit, leave the group. SIGHUP:\n"
    "reopen the log file ([log] file), for logrotate.\n";

/* Cleared by SIGTERM and SIGINT; the role's loop checks it between polls. */
static volatile sig_atomic_t running = 1;

static void on_signal(int sig)
{
    (void)sig;
    running = 0;
}

static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* restart interrupted reads: a MySQL or Redis call cut short by the
     * signal would look like a failure of the message being finished */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    of_log_reopen_on_sighup();
    /* a peer closing a socket (Redis, MySQL) must be an error, not death */
    signal(SIGPIPE, SIG_IGN);
}

static const struct role *find_role(const char *name)
{
    for (size_t i = 0; name && i < sizeof(roles) / sizeof(roles[0]); i++) {
        if (strcmp(roles[i].name, name) == 0)
            return &roles[i];
    }
    return NULL;
}

/* --metrics-port: 0..65535, or -1 when malformed */
static int parse_port(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);

    return *s && !*end && v >= 0 && v <= 65535 ? (int)v : -1;
}

/* Serves /metrics, /healthz and /readyz, starts the reconciler, runs the
 * role, stops both. */
static int
run_role(const struct role *role, const struct of_config *cfg, int port)
{
    struct of_metrics *metrics = of_metrics_new();
    struct worker_http *http = NULL;
    struct worker_reconcile *reconcile = NULL;
    struct of_err err = {0};
    int status = 1;

    if (!metrics) {
        of_error("out of memory");
        return 1;
    }
    /* one MySQL read may block for rw_timeout_s, and a retry's reconnect
     * for connect_timeout_s more: a stall_s below that kills a worker that
     * was only waiting */
    if (cfg->worker.stall_s <=
        cfg->mysql.rw_timeout_s + cfg->mysql.connect_timeout_s)
        of_warn("worker.stall_s = %d is not above mysql.rw_timeout_s + "
                "connect_timeout_s = %d: /healthz may fail while the worker "
                "only waits for MySQL",
                cfg->worker.stall_s,
                cfg->mysql.rw_timeout_s + cfg->mysql.connect_timeout_s);
    worker_health_init(cfg->worker.stall_s);
    if (port > 0) {
        http = worker_http_start(metrics, port, &err);
        if (!http) {
            of_error("%s", err.msg);
            goto out;
        }
    }
    if (role->reconcile) {
        reconcile = worker_reconcile_start(cfg, metrics, &err);
        if (!reconcile) {
            of_error("%s", err.msg);
            goto out;
        }
    }
    of_info("orderflow-worker %s starting, role %s, metrics port %d",
            OF_VERSION, role->name, port);
    status = role->run(cfg, metrics, &running);
    of_info("orderflow-worker stopped (exit status %d)", status);
out:
    worker_reconcile_stop(reconcile);
    worker_http_stop(http);
    of_metrics_destroy(metrics);
    return status;
}

struct args {
    const char *config_path;
    const char *role;
    const char *port;
    int check;
};

/* @returns -1 to go on, or the exit status (--help and the like, errors) */
static int parse_args(int argc, char **argv, struct args *a)
{
    static const struct option opts[] = {
        {"role", required_argument, 0, 'r'},
        {"metrics-port", required_argument, 0, 'm'},
        {"check-config", no_argument, 0, 'c'},
        {"help-config", no_argument, 0, 'H'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0}};
    int c;

    a->config_path = of_cli_take_config(&argc, argv, "orderflow-worker");
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            a->role = optarg;
            break;
        case 'm':
            a->port = optarg;
            break;
        case 'c':
            a->check = 1;
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
    if (optind < argc) {
        fprintf(stderr, "orderflow-worker: unexpected argument \"%s\"\n",
                argv[optind]);
        return 2;
    }
    if (a->port && parse_port(a->port) < 0) {
        fprintf(stderr,
                "orderflow-worker: --metrics-port must be 0..65535, "
                "not \"%s\"\n",
                a->port);
        return 2;
    }
    return -1;
}

int main(int argc, char **argv)
{
    struct args a = {0};
    const struct role *role;
    struct of_config *cfg;
    int status = parse_args(argc, argv, &a);

    if (status >= 0)
        return status;
    role = find_role(a.role);
    if (!a.check && !role) {
        fprintf(stderr, "orderflow-worker: --role commands|outbox is "
                        "required\n");
        return 2;
    }
    if (!a.check && !role->run) {
        fprintf(stderr, "orderflow-worker: --role %s is not implemented yet\n",
                role->name);
        return 2;
    }
    cfg = of_cli_config(a.config_path, "orderflow-worker");
    if (!cfg)
        return 2;
    if (a.check) {
        of_config_dump(cfg, stdout);
        of_config_destroy(cfg);
        return 0;
    }
    install_signals();
    status = run_role(role, cfg,
                      a.port ? parse_port(a.port) : cfg->worker.metrics_port);
    of_config_destroy(cfg);
    return status;
}
