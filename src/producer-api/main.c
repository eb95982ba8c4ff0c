/*
 * orderflow-api: the HTTP ingress (CONTRACT §1, §3). Wiring only: options,
 * config, the process-wide handles, the wait for a signal, and the drain.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "of_cli.h"
#include "of_log.h"

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
    "SIGTERM or SIGINT: stop accepting, finish in-flight requests, flush the\n"
    "producer, exit 0. SIGHUP reopens the log file.\n";

#define API_JWT_CACHE_SLOTS 512

static volatile sig_atomic_t running = 1;
static volatile sig_atomic_t reopen_log;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        reopen_log = 1;
    else
        running = 0;
}

static void metrics_declare(struct api *api)
{
    api->metrics = of_metrics_new();
    api->m_requests = of_metrics_counter(api->metrics,
                                         "orderflow_http_requests_total",
                                         "HTTP requests by route and status",
                                         "route,status");
    api->m_latency = of_metrics_histogram(
        api->metrics, "orderflow_http_request_duration_seconds",
        "time from the request's headers to its completion", "route");
    api->m_produce_errors = of_metrics_counter(
        api->metrics, "orderflow_produce_errors_total",
        "commands Kafka did not take, by reason", "reason");
    api->m_deadline_closed = of_metrics_counter(
        api->metrics, "orderflow_http_deadline_closed_total",
        "connections closed for not sending a whole request within "
        "request_deadline_s",
        NULL);
}

/* Stop accepting, let in-flight requests finish, flush. Bounded by the
 * produce budget (every publish is answered by then, see api_publish.c)
 * plus a margin: a request still suspended when MHD stops aborts it. */
static void drain(struct api *api)
{
    time_t until = time(NULL) + api->cfg->api.produce_timeout_ms / 1000 + 3;

    api->stopping = 1;
    MHD_quiesce_daemon(api->mhd);
    api_producer_flush(api->producer, 5000);
    while (api->inflight > 0 && time(NULL) < until) {
        api_wait_release_all(api->waiters);
        usleep(20000);
    }
    if (api->inflight > 0)
        of_warn("shutting down with %d requests still open", api->inflight);
}

static int run(const struct of_config *cfg)
{
    struct api api = {0};
    struct of_err err = {0};
    int rc = 1;

    api.cfg = cfg;
    metrics_declare(&api);
    api.jwt = of_jwt_new(cfg, 0, &err);
    if (!api.jwt)
        goto out;
    /* one slot per active token: clients reuse a token for its lifetime,
     * and a few hundred of them busy at once is plenty for one process
     * (a miss only costs the full verification) */
    api.jwt_cache = of_jwt_cache_new(api.jwt, API_JWT_CACHE_SLOTS, &err);
    if (!api.jwt_cache)
        goto out;
    api.avro = of_avro_new(&err);
    if (!api.avro)
        goto out;
    api.producer = api_producer_new(&api, &err);
    if (!api.producer)
        goto out;
    api.waiters = api_waiters_new(&api, &err);
    if (!api.waiters)
        goto out;
    if (api_http_start(&api, &err) != OF_OK)
        goto out;
    of_info("listening on %s:%d (%d threads)", cfg->api.listen_address,
            cfg->api.port, cfg->api.threads);
    while (running) {
        usleep(100000);
        api_http_sweep(&api);
        if (reopen_log) {
            reopen_log = 0;
            of_log_reopen();
        }
    }
    of_info("shutting down");
    drain(&api);
    rc = 0;
out:
    if (rc != 0)
        of_error("%s", err.msg);
    api_http_stop(&api);
    api_admin_stats_shutdown(&api); /* made by a request, if any */
    api_waiters_destroy(api.waiters);
    api_producer_destroy(api.producer);
    of_avro_destroy(api.avro);
    of_jwt_cache_destroy(api.jwt_cache);
    of_jwt_destroy(api.jwt);
    of_metrics_destroy(api.metrics);
    return rc;
}

int main(int argc, char **argv)
{
    const char *config_path = of_cli_take_config(&argc, argv, "orderflow-api");
    struct of_config *cfg;
    int check, rc;

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
    check = of_cli_has(argc, argv, "--check-config");
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
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    rc = run(cfg);
    of_config_destroy(cfg);
    return rc;
}
