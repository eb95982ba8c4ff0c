/* of_it_sys: see of_it_sys.h. */
#include "of_it_sys.h"

#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "of_db.h"
#include "of_it.h"
#include "of_jwt.h"

static const char *const proc_names[] = {"api", "worker", "outbox"};

void of_it_sys_init(struct of_it_sys *s, const char *name,
                    const char *const *extra_env)
{
    struct of_it_app app;
    int partitions = 3;

    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    /* the load generator is one address with many requests held open
     * while a fault lasts: the default 64 per address would refuse some */
    setenv("ORDERFLOW_API_PER_IP_CONNECTION_LIMIT", "1000", 1);
    for (const char *const *e = extra_env; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        char key[128];
        assert_non_null(eq);
        snprintf(key, sizeof(key), "%.*s", (int)(eq - *e), *e);
        setenv(key, eq + 1, 1);
        /* of_it_app_start sets the partitions itself: taken from here */
        if (strcmp(key, "ORDERFLOW_TOPICS_PARTITIONS") == 0)
            partitions = atoi(eq + 1);
    }
    assert_true(partitions >= 1);
    /* the processes are the test's to start: of_it_sys_start */
    of_it_app_start(&app, name, partitions,
                    OF_IT_APP_NO_API | OF_IT_APP_ALL_TOPICS);
    s->cfg = app.cfg;
    s->jwt = app.jwt;
    s->port = app.port;
    snprintf(s->dir, sizeof(s->dir), "%s", app.dir);
    snprintf(s->bin, sizeof(s->bin), "%s", app.bin);
    snprintf(s->auth, sizeof(s->auth), "%s", app.admin);
    snprintf(s->principal, sizeof(s->principal), "user:1");
}

void of_it_sys_start(struct of_it_sys *s, enum of_it_proc p)
{
    char exe[600], log[600];

    assert_int_equal(s->pid[p], 0);
    snprintf(log, sizeof(log), "%s/%s.log", s->dir, proc_names[p]);
    if (p == OF_IT_API) {
        snprintf(exe, sizeof(exe), "%s/orderflow-api", s->bin);
        char *argv[] = {exe, "--config", "/dev/null", NULL};
        s->pid[p] = of_it_spawn(argv, NULL, log);
        of_it_wait_http(s->port, 30);
    } else {
        snprintf(exe, sizeof(exe), "%s/orderflow-worker", s->bin);
        char *argv[] = {exe,       "--config", "/dev/null",
                        "--role",  p == OF_IT_WORKER ? "commands" : "outbox",
                        "--metrics-port", "0", NULL};
        s->pid[p] = of_it_spawn(argv, NULL, log);
    }
    s->starts[p]++;
}

void of_it_sys_up(struct of_it_sys *s)
{
    of_it_sys_start(s, OF_IT_WORKER);
    of_it_sys_start(s, OF_IT_OUTBOX);
    of_it_sys_start(s, OF_IT_API);
    of_it_sys_user(s);
}

int of_it_sys_spawn_worker(const struct of_it_sys *s, const char *role,
                           const char *logname)
{
    char exe[600], log[600], r[32];

    snprintf(exe, sizeof(exe), "%s/orderflow-worker", s->bin);
    snprintf(log, sizeof(log), "%s/%s", s->dir, logname);
    snprintf(r, sizeof(r), "%s", role);
    char *argv[] = {exe, "--config", "/dev/null", "--role", r,
                    "--metrics-port", "0", NULL};
    return of_it_spawn(argv, NULL, log);
}

long of_it_rss_kib(int pid)
{
    char path[64], line[256];
    long kib = -1;

    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

int of_it_fd_count(int pid)
{
    char path[64];
    DIR *d;
    struct dirent *e;
    int n = 0;

    snprintf(path, sizeof(path), "/proc/%d/fd", pid);
    if (!(d = opendir(path)))
        return -1;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

long long of_it_db_count(const struct of_it_sys *s, const char *sql,
                         long long arg)
{
    struct of_err err;
    struct of_db *db = of_db_open(s->cfg, &err);
    long long n;

    if (!db)
        fail_msg("MySQL: %s", err.msg);
    n = of_it_count(db, sql, (struct of_db_param[]){OF_DB_I(arg)}, 1);
    of_db_close(db);
    return n;
}

int of_it_sys_stop(struct of_it_sys *s, enum of_it_proc p, int sig,
                   int timeout_s)
{
    int rc;

    assert_int_not_equal(s->pid[p], 0);
    rc = of_it_stop(s->pid[p], sig, timeout_s);
    s->pid[p] = 0;
    return rc;
}

static json_t *post_wait(struct of_it_sys *s, const char *path,
                         const char *body, long want)
{
    const char *h[] = {s->auth, "Content-Type: application/json",
                       "Prefer: wait=30", NULL};
    struct of_it_resp r;
    json_t *j;

    of_it_http(s->port, "POST", path, h, body, &r);
    if (r.status != want)
        fail_msg("POST %s: %ld %s (wanted %ld)", path, r.status, r.body, want);
    j = json_loads(r.body, 0, NULL);
    of_it_resp_free(&r);
    assert_non_null(j);
    return j;
}

void of_it_sys_user(struct of_it_sys *s)
{
    char email[128], body[256];

    of_it_unique(email, sizeof(email), s->name);
    snprintf(body, sizeof(body),
             "{\"email\":\"%s@example.com\",\"username\":\"%s\"}", email,
             s->name);
    json_t *u = post_wait(s, "/v1/users", body, 201);
    s->user_id = json_integer_value(json_object_get(u, "user_id"));
    json_decref(u);
    assert_true(s->user_id > 0);
}

void of_it_sys_orders(struct of_it_sys *s, int n, int64_t *ids)
{
    char body[256];

    for (int i = 0; i < n; i++) {
        snprintf(body, sizeof(body),
                 "{\"user_id\":%lld,\"order_type\":\"vip\","
                 "\"total_amount\":\"%d.50\"}",
                 (long long)s->user_id, i + 1);
        json_t *o = post_wait(s, "/v1/orders", body, 201);
        ids[i] = json_integer_value(json_object_get(o, "order_id"));
        json_decref(o);
        assert_true(ids[i] > 0);
    }
}

void of_it_sys_down(struct of_it_sys *s)
{
    for (int p = OF_IT_PROCS - 1; p >= 0; p--)
        if (s->pid[p])
            of_it_sys_stop(s, (enum of_it_proc)p, SIGTERM, 15);
    of_jwt_destroy(s->jwt);
    of_config_destroy(s->cfg);
    s->jwt = NULL;
    s->cfg = NULL;
}

void of_it_sys_stop_clean(struct of_it_sys *s)
{
    assert_int_equal(of_it_sys_stop(s, OF_IT_API, SIGTERM, 15), 0);
    assert_int_equal(of_it_sys_stop(s, OF_IT_WORKER, SIGTERM, 15), 0);
    assert_int_equal(of_it_sys_stop(s, OF_IT_OUTBOX, SIGTERM, 15), 0);
}

int of_it_pid_alive(int pid)
{
    return pid > 0 && kill(pid, 0) == 0;
}

long of_it_readyz(int port)
{
    struct of_it_resp r;
    long st;

    of_it_http(port, "GET", "/readyz", NULL, NULL, &r);
    st = r.status;
    of_it_resp_free(&r);
    return st;
}

long of_it_produce_errors(int port, const char *reason)
{
    char series[128];
    double v;

    snprintf(series, sizeof(series),
             "orderflow_produce_errors_total{reason=\"%s\"}", reason);
    v = of_it_metric(port, series);
    return v < 0 ? 0 : (long)v;
}

long of_it_sys_log_count(const struct of_it_sys *s, const char *log,
                         const char *what)
{
    char path[700], line[2048];
    long n = 0;

    snprintf(path, sizeof(path), "%s/%s", s->dir, log);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        n += strstr(line, what) != NULL;
    if (f)
        fclose(f);
    return n;
}

void of_it_sys_produce(const struct of_it_sys *s, struct of_it_produce *pe)
{
    pe->not_persisted = of_it_produce_errors(s->port, "not_persisted");
    pe->possibly = of_it_produce_errors(s->port, "possibly_persisted");
    pe->refused = of_it_produce_errors(s->port, "refused") +
                  of_it_produce_errors(s->port, "queue_full");
    pe->recreated =
        of_it_sys_log_count(s, "api.log", "Kafka producer recreated");
    pe->fatal = of_it_sys_log_count(s, "api.log", "Kafka producer fatal error");
}

void of_it_sys_logs(const struct of_it_sys *s, int lines)
{
    for (int p = 0; p < OF_IT_PROCS; p++) {
        char cmd[1200];
        snprintf(cmd, sizeof(cmd),
                 "f='%s/%s.log'; [ -s \"$f\" ] && { echo \"----- tail of $f\"; "
                 "tail -n %d \"$f\"; } >&2",
                 s->dir, proc_names[p], lines);
        if (system(cmd) < 0)
            break;
    }
}

int of_it_node_pid(const char *node)
{
    char path[600];
    FILE *f;
    int pid = 0;

    snprintf(path, sizeof(path), "%s/%s/%s.pid",
             of_it_env("ORDERFLOW_TEST_STACK_DIR"), node, node);
    f = fopen(path, "r");
    if (!f || fscanf(f, "%d", &pid) != 1)
        fail_msg("no pid in %s", path);
    fclose(f);
    return pid;
}

/* Dead: gone, or a zombie with no thread left (a zombie group leader can
 * still have threads holding its sockets). The node is not our child. */
static int node_dead(int pid)
{
    char path[64], st = 0;
    FILE *f;
    int threads = 0;
    DIR *d;
    struct dirent *e;

    if (kill(pid, 0) != 0)
        return 1;
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    f = fopen(path, "r");
    if (!f || fscanf(f, "%*d %*s %c", &st) != 1) {
        if (f)
            fclose(f);
        return 1;
    }
    fclose(f);
    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    if ((d = opendir(path))) {
        while ((e = readdir(d)))
            threads += e->d_name[0] != '.';
        closedir(d);
    }
    return st == 'Z' && threads <= 1;
}

void of_it_node_kill(const char *node)
{
    int pid = of_it_node_pid(node);

    kill(pid, SIGKILL);
    for (int i = 0; i < 400 && !node_dead(pid); i++)
        usleep(25000);
    if (!node_dead(pid))
        fail_msg("%s (pid %d) still alive 10 s after SIGKILL", node, pid);
}

void of_it_node_start(const char *node)
{
    of_it_sh("'%s/tests/lib/node.sh' start %s '%s' >>'%s/%s-restarts.log' 2>&1",
             of_it_env("ORDERFLOW_SOURCE_DIR"), node,
             of_it_env("ORDERFLOW_TEST_STACK_DIR"),
             of_it_env("ORDERFLOW_TEST_STACK_DIR"), node);
}
