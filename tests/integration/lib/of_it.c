/* of_it: see of_it.h. */
#include "of_it.h"

#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <mysql.h>

#include "of_avro.h"
#include "of_db.h"
#include "of_jwt.h"
#include "of_kafka.h"

extern char **environ;

const char *of_it_env(const char *name)
{
    const char *v = getenv(name);

    if (!v || !*v)
        fail_msg("%s is not set: run under tests/lib/with-stack.sh", name);
    return v;
}

struct of_config *of_it_config(const char *extra_ini)
{
    static const char *const map[][2] = {
        {"ORDERFLOW_TEST_MYSQL_HOST", "ORDERFLOW_MYSQL_HOST"},
        {"ORDERFLOW_TEST_MYSQL_PORT", "ORDERFLOW_MYSQL_PORT"},
        {"ORDERFLOW_TEST_MYSQL_USER", "ORDERFLOW_MYSQL_USER"},
        {"ORDERFLOW_TEST_MYSQL_PASSWORD", "ORDERFLOW_MYSQL_PASSWORD"},
        {"ORDERFLOW_TEST_MYSQL_DATABASE", "ORDERFLOW_MYSQL_DATABASE"},
        {"ORDERFLOW_TEST_REDIS_HOST", "ORDERFLOW_REDIS_HOST"},
        {"ORDERFLOW_TEST_REDIS_PORT", "ORDERFLOW_REDIS_PORT"},
        {"ORDERFLOW_TEST_KAFKA_BOOTSTRAP", "ORDERFLOW_KAFKA_BOOTSTRAP_SERVERS"},
    };
    char text[4096];
    struct of_err err;
    struct of_config *cfg;

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (!getenv(map[i][1]))
            setenv(map[i][1], of_it_env(map[i][0]), 1);
    }
    if (!getenv("ORDERFLOW_AUTH_JWT_KEY"))
        setenv("ORDERFLOW_AUTH_JWT_KEY", OF_IT_JWT_KEY, 1);
    snprintf(text, sizeof(text), "[log]\nlevel = warn\n%s",
             extra_ini ? extra_ini : "");
    cfg = of_config_load_string(text, "integration.ini", &err);
    if (!cfg)
        fail_msg("test config: %s", err.msg);
    return cfg;
}

void of_it_unique(char *out, size_t cap, const char *prefix)
{
    static int n;

    snprintf(out, cap, "%s-%d-%d-%ld", prefix, (int)getpid(), ++n,
             (long)time(NULL));
}

void of_it_root_sql(const char *sql)
{
    MYSQL *m = mysql_init(NULL);

    if (!mysql_real_connect(m, NULL, "root", NULL, NULL, 0,
                            of_it_env("ORDERFLOW_TEST_MYSQL_ROOT_SOCKET"), 0))
        fail_msg("root connect: %s", mysql_error(m));
    /* test-only: the SQL is the test's own literal text */
    if (mysql_real_query(m, sql, strlen(sql)) != 0)
        fail_msg("root SQL \"%s\": %s", sql, mysql_error(m));
    mysql_close(m);
}

/* Below Linux's ephemeral range (32768-60999): a port the kernel picks for
 * bind(0) is one it may hand to the next outgoing connection too, before
 * the process we give it to has bound it (a worker once lost its metrics
 * port that way). 30000-31999 also stays clear of deploy/local/lib/nodes.sh,
 * which picks the stack's ports in 20000-29999. */
int of_it_free_port(void)
{
    static unsigned seed;
    struct sockaddr_in a = {0};

    if (!seed)
        seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int tries = 0; tries < 1000; tries++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
        int port = 30000 + (int)(rand_r(&seed) % 2000);
        if (fd < 0)
            break;
        a.sin_port = htons((uint16_t)port);
        ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        if (ok)
            return port;
    }
    fail_msg("could not find a free port in 30000-31999");
    return -1;
}

/* Every process a test starts; whatever is still running when the test
 * program exits (a failed assertion skips the test's own stop) is killed,
 * so no relay or worker outlives its test and steals another's work. */
static int spawned[64];
static int nspawned;

static void kill_spawned(void)
{
    for (int i = 0; i < nspawned; i++) {
        if (spawned[i] > 0 && kill(spawned[i], SIGKILL) == 0)
            waitpid(spawned[i], NULL, 0);
    }
}

static void note_server(char *const *argv, char *const *env);

int of_it_spawn(char *const *argv, char *const *env, const char *log)
{
    int pid;

    note_server(argv, env);
    if (nspawned == 0)
        atexit(kill_spawned);
    pid = fork();
    if (pid < 0)
        fail_msg("fork failed");
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        /* nothing of the test's own (the load generator's sockets, say)
         * leaks into the child: it would count as the child's and keep
         * those connections open */
        for (int i = 3; i < 4096; i++)
            close(i);
        for (; env && *env; env++)
            putenv(*env);
        execv(argv[0], argv);
        _exit(127);
    }
    if (nspawned < 64)
        spawned[nspawned++] = pid;
    return pid;
}

static void forget(int pid)
{
    for (int i = 0; i < nspawned; i++) {
        if (spawned[i] == pid)
            spawned[i] = 0;
    }
}

int of_it_stop(int pid, int sig, int timeout_s)
{
    int status = 0;

    /* kill(0 or -1, ...) would signal the whole process group (ctest, the
     * shell) or every process: a test that stops what it never started
     * fails instead */
    if (pid <= 0)
        fail_msg("of_it_stop: no process to stop (pid %d)", pid);
    forget(pid);
    kill(pid, sig);
    for (int i = 0; i < timeout_s * 20; i++) {
        int r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status)
                                     : 128 + WTERMSIG(status);
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

long long of_it_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct grow {
    char *p;
    size_t n;
};

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
    struct grow *g = arg;
    char *p = realloc(g->p, g->n + size * n + 1);

    if (!p)
        return 0;
    memcpy(p + g->n, data, size * n);
    g->n += size * n;
    p[g->n] = '\0';
    g->p = p;
    return size * n;
}

/* ---- recording answers (ORDERFLOW_OPENAPI_RECORD) ----
 *
 * With ORDERFLOW_OPENAPI_RECORD naming a file, every answer of of_it_http
 * and of_it_http_many is appended to it as one JSON line: {"test", "port",
 * "server", "method", "path", "status", "headers": {lower-case name: value},
 * "body"}. tests/openapi/validate.py then checks each against
 * schemas/openapi.yaml, so the document cannot drift from what the API
 * answers. The file is opened with O_APPEND and each line is one write(2):
 * every test program of a ctest run appends to the same file. */

/* the /metrics ports of the workers this program started: their answers
 * are recorded as "orderflow-worker", not checked against the API's
 * document */
static int worker_ports[16];
static int nworker_ports;

static int port_arg(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);

    return *s && !*end && v > 0 && v < 65536 ? (int)v : 0;
}

static void forget_port(int port)
{
    for (int i = 0; i < nworker_ports; i++) {
        if (worker_ports[i] == port)
            worker_ports[i] = 0;
    }
}

static void note_server(char *const *argv, char *const *env)
{
    const char *base = strrchr(argv[0], '/');
    int port = 0;

    base = base ? base + 1 : argv[0];
    if (strcmp(base, "orderflow-worker") == 0) {
        for (int i = 1; argv[i] && argv[i + 1]; i++) {
            if (strcmp(argv[i], "--metrics-port") == 0)
                port = port_arg(argv[i + 1]);
        }
        if (port && nworker_ports < 16)
            worker_ports[nworker_ports++] = port;
    } else if (strcmp(base, "orderflow-api") == 0) {
        const char *v = getenv("ORDERFLOW_API_PORT");
        for (; env && *env; env++) {
            if (strncmp(*env, "ORDERFLOW_API_PORT=", 19) == 0)
                v = *env + 19;
        }
        if (v && (port = port_arg(v)) != 0)
            forget_port(port); /* a port reused by an API is the API's */
    }
}

static const char *server_of(int port)
{
    for (int i = 0; i < nworker_ports; i++) {
        if (worker_ports[i] == port)
            return "orderflow-worker";
    }
    return "orderflow-api";
}

/* \p len bytes as a JSON string: UTF-8 as is, anything else byte by byte
 * as Latin-1 (the validator then sees a body that is not the JSON it
 * expects, rather than no body) */
static json_t *text_json(const char *p, size_t len)
{
    json_t *s = json_stringn(p, len);
    char *latin;
    size_t n = 0;

    if (s)
        return s;
    latin = malloc(len * 2 + 1);
    if (!latin)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x80) {
            latin[n++] = (char)c;
        } else {
            latin[n++] = (char)(0xc0 | (c >> 6));
            latin[n++] = (char)(0x80 | (c & 0x3f));
        }
    }
    s = json_stringn(latin, n);
    free(latin);
    return s;
}

/* One answer appended to $ORDERFLOW_OPENAPI_RECORD (nothing if unset);
 * fails the test when it cannot be, rather than leave a gap that the
 * validator would not see. */
static void record(int port, const char *method, const char *path,
                   long status, json_t *headers, const char *body,
                   size_t len)
{
    const char *file = getenv("ORDERFLOW_OPENAPI_RECORD");
    json_t *line;
    char *text;
    size_t n, off = 0;
    int fd, saved = 0;

    if (!file || !*file)
        return;
    line = json_pack("{s:s, s:i, s:s, s:s, s:s, s:i, s:O, s:o}", "test",
                     program_invocation_short_name, "port", port, "server",
                     server_of(port), "method", method, "path", path,
                     "status", (int)status, "headers", headers, "body",
                     text_json(body ? body : "", body ? len : 0));
    text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    if (!text)
        fail_msg("could not record %s %s for %s", method, path, file);
    n = strlen(text);
    text[n] = '\n'; /* in place of the NUL: one write for the line */
    fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    while (fd >= 0 && off < n + 1) {
        ssize_t w = write(fd, text + off, n + 1 - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    saved = errno;
    if (fd >= 0)
        close(fd);
    free(text);
    if (off != n + 1)
        fail_msg("could not append to %s (ORDERFLOW_OPENAPI_RECORD): %s",
                 file, strerror(saved));
}

/* what a header callback fills: the test's fields, and every header for
 * the recording */
struct hdrs {
    struct of_it_resp *resp; /* NULL for of_it_http_many */
    json_t *all;             /* NULL unless recording */
};

static void keep_header(json_t *all, const char *line)
{
    const char *colon = strchr(line, ':');
    char name[128];
    const char *v;
    json_t *old;
    size_t n;

    if (!colon || colon == line || (size_t)(colon - line) >= sizeof(name))
        return;
    n = (size_t)(colon - line);
    for (size_t i = 0; i < n; i++)
        name[i] = (char)tolower((unsigned char)line[i]);
    name[n] = '\0';
    for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
        ;
    old = json_object_get(all, name);
    if (old && json_is_string(old)) {
        /* a repeated header: one comma-separated value (RFC 9110 5.3) */
        json_t *both = json_sprintf("%s, %s", json_string_value(old), v);
        if (both)
            json_object_set_new(all, name, both);
    } else {
        json_object_set_new(all, name, text_json(v, strlen(v)));
    }
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct hdrs *h = arg;
    struct of_it_resp *resp = h->resp;
    size_t len = size * n;
    char line[512];

    snprintf(line, sizeof(line), "%.*s", (int)len, data);
    line[strcspn(line, "\r\n")] = '\0';
    if (h->all) {
        /* a status line starts another answer (after a 100 Continue) */
        if (strncmp(line, "HTTP/", 5) == 0)
            json_object_clear(h->all);
        else
            keep_header(h->all, line);
    }
    if (!resp)
        return len;
    if (strncasecmp(line, "Location: ", 10) == 0)
        snprintf(resp->location, sizeof(resp->location), "%.255s", line + 10);
    if (strncasecmp(line, "Retry-After: ", 13) == 0)
        snprintf(resp->retry_after, sizeof(resp->retry_after), "%.15s",
                 line + 13);
    if (strncasecmp(line, "Allow: ", 7) == 0)
        snprintf(resp->allow, sizeof(resp->allow), "%.63s", line + 7);
    if (strncasecmp(line, "Content-Type: ", 14) == 0)
        snprintf(resp->content_type, sizeof(resp->content_type), "%.127s",
                 line + 14);
    if (strncasecmp(line, "WWW-Authenticate: ", 18) == 0)
        snprintf(resp->www_authenticate, sizeof(resp->www_authenticate),
                 "%.127s", line + 18);
    return len;
}

void of_it_http(int port, const char *method, const char *path,
                const char *const *headers, const char *body,
                struct of_it_resp *resp)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    struct grow g = {0};
    struct hdrs hd = {resp, NULL};
    const char *rec = getenv("ORDERFLOW_OPENAPI_RECORD");
    char url[1024];
    CURLcode rc;

    memset(resp, 0, sizeof(*resp));
    if (rec && *rec)
        hd.all = json_object();
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    for (; headers && *headers; headers++)
        h = curl_slist_append(h, *headers);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 40L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &g);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hd);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        json_decref(hd.all);
        free(g.p);
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    }
    if (hd.all)
        record(port, method, path, resp->status, hd.all, g.p, g.n);
    json_decref(hd.all);
    resp->body = g.p ? g.p : strdup("");
}

void of_it_resp_free(struct of_it_resp *resp)
{
    free(resp->body);
    resp->body = NULL;
}

void of_it_wait_http(int port, int timeout_s)
{
    long long until = of_it_now_us() + timeout_s * 1000000LL;

    while (of_it_now_us() < until) {
        CURL *c = curl_easy_init();
        char url[128];
        long status = 0;
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", port);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 1L);
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
        if (status == 200)
            return;
        usleep(100000);
    }
    fail_msg("http://127.0.0.1:%d/healthz did not answer 200 in %d s", port,
             timeout_s);
}

void of_it_log_tail(const char *path, int lines)
{
    char cmd[1200];

    snprintf(cmd, sizeof(cmd), "tail -n %d '%s' >&2", lines, path);
    fprintf(stderr, "----- last lines of %s -----\n", path);
    if (system(cmd) != 0)
        fprintf(stderr, "(no log)\n");
}

void of_it_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    rc = system(cmd);
    if (rc != 0)
        fail_msg("command failed (%d): %s", rc, cmd);
}

/* 1 if every partition's committed offset equals its high watermark */
static int caught_up(rd_kafka_t *rk, const char *topic, int n)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    int ok = 1;

    for (int p = 0; p < n; p++)
        rd_kafka_topic_partition_list_add(l, topic, p);
    if (rd_kafka_committed(rk, l, 5000) != 0)
        ok = 0;
    for (int p = 0; ok && p < n; p++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 5000))
            ok = 0;
        else if (hi > lo && l->elems[p].offset != hi)
            ok = 0;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return ok;
}

void of_it_wait_caught_up(const struct of_config *cfg, const char *group,
                          const char *topic, int timeout_s)
{
    struct of_err err;
    const char *extra[] = {"group.id", group, NULL};
    rd_kafka_conf_t *conf = of_kafka_conf_new(cfg, extra, &err);
    rd_kafka_t *rk = of_kafka_new(RD_KAFKA_CONSUMER, conf, &err);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    long long until = of_it_now_us() + timeout_s * 1000000LL;
    int n, ok = 0;

    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != 0)
        fail_msg("no metadata for %s", topic);
    n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    while (!ok && of_it_now_us() < until) {
        ok = caught_up(rk, topic, n);
        if (!ok)
            usleep(200000);
    }
    rd_kafka_destroy(rk);
    if (!ok)
        fail_msg("group %s did not catch up on %s within %d s", group, topic,
                 timeout_s);
}

void of_it_http_many(int port, int n, const char *method, const char *path,
                     const char *const *headers, const char *body,
                     const char *const *bodies, long *statuses, char **out)
{
    CURLM *multi = curl_multi_init();
    CURL **easy = calloc((size_t)n, sizeof(*easy));
    struct grow *g = calloc((size_t)n, sizeof(*g));
    struct hdrs *hd = calloc((size_t)n, sizeof(*hd));
    const char *rec = getenv("ORDERFLOW_OPENAPI_RECORD");
    struct curl_slist *h = NULL;
    char url[1024];
    int running = 0;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    for (; headers && *headers; headers++)
        h = curl_slist_append(h, *headers);
    for (int i = 0; i < n; i++) {
        easy[i] = curl_easy_init();
        curl_easy_setopt(easy[i], CURLOPT_URL, url);
        curl_easy_setopt(easy[i], CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(easy[i], CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(easy[i], CURLOPT_TIMEOUT, 60L);
        curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(easy[i], CURLOPT_WRITEDATA, &g[i]);
        curl_easy_setopt(easy[i], CURLOPT_POSTFIELDS,
                         bodies ? bodies[i] : body);
        if (rec && *rec) {
            hd[i].all = json_object();
            curl_easy_setopt(easy[i], CURLOPT_HEADERFUNCTION, on_header);
            curl_easy_setopt(easy[i], CURLOPT_HEADERDATA, &hd[i]);
        }
        curl_multi_add_handle(multi, easy[i]);
    }
    do {
        curl_multi_perform(multi, &running);
        if (running)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    } while (running);
    for (int i = 0; i < n; i++) {
        statuses[i] = 0;
        curl_easy_getinfo(easy[i], CURLINFO_RESPONSE_CODE, &statuses[i]);
        /* a transfer that got no answer (status 0) has nothing to check */
        if (hd[i].all && statuses[i] != 0)
            record(port, method, path, statuses[i], hd[i].all, g[i].p,
                   g[i].n);
        json_decref(hd[i].all);
        if (out)
            out[i] = g[i].p ? g[i].p : strdup("");
        else
            free(g[i].p);
        curl_multi_remove_handle(multi, easy[i]);
        curl_easy_cleanup(easy[i]);
    }
    curl_slist_free_all(h);
    curl_multi_cleanup(multi);
    free(easy);
    free(g);
    free(hd);
}

void of_it_bearer(const struct of_jwt *jwt, int64_t sub, int role, char *out,
                  size_t cap)
{
    struct of_err err;
    char *tok = of_jwt_sign(jwt, sub, (enum of_role)role, 3600, time(NULL),
                            &err);

    if (!tok)
        fail_msg("could not sign a token: %s", err.msg);
    snprintf(out, cap, "Authorization: Bearer %s", tok);
    free(tok);
}

/* ---- of_it_app ---- */

void of_it_app_start(struct of_it_app *app, const char *prefix, int partitions,
                     unsigned flags)
{
    static const char *const topics[][2] = {
        {"ORDERFLOW_TOPICS_USER_COMMANDS", "user-commands"},
        {"ORDERFLOW_TOPICS_ORDER_COMMANDS", "order-commands"},
        {"ORDERFLOW_TOPICS_USER_EVENTS", "user-events"},
        {"ORDERFLOW_TOPICS_ORDER_EVENTS", "order-events"},
        {"ORDERFLOW_TOPICS_DEAD_LETTER", "dead-letter"},
    };
    size_t ntopics = flags & OF_IT_APP_ALL_TOPICS ? 5 : 2;
    char name[128], v[200];
    struct of_err err;

    memset(app, 0, sizeof(*app));
    snprintf(app->bin, sizeof(app->bin), "%s", of_it_env("ORDERFLOW_BIN_DIR"));
    snprintf(app->dir, sizeof(app->dir), "%s/%s-%d",
             of_it_env("ORDERFLOW_TEST_STACK_DIR"), prefix, (int)getpid());
    of_it_sh("mkdir -p '%s'", app->dir);
    /* topics and group of our own, so no other test sees our commands */
    for (size_t i = 0; i < ntopics; i++) {
        snprintf(name, sizeof(name), "%s.%s", prefix, topics[i][1]);
        of_it_unique(v, sizeof(v), name);
        setenv(topics[i][0], v, 1);
    }
    snprintf(name, sizeof(name), "%s-group", prefix);
    of_it_unique(app->group, sizeof(app->group), name);
    setenv("ORDERFLOW_WORKER_GROUP_ID", app->group, 1);
    snprintf(v, sizeof(v), "%d", partitions);
    setenv("ORDERFLOW_TOPICS_PARTITIONS", v, 1);
    if (!(flags & OF_IT_APP_RATE_LIMIT))
        setenv("ORDERFLOW_API_RATE_LIMIT_PER_S", "0", 1);
    app->port = of_it_free_port();
    snprintf(v, sizeof(v), "%d", app->port);
    setenv("ORDERFLOW_API_PORT", v, 1);
    /* a port just closed may be picked again: not the API's */
    while ((flags & OF_IT_APP_METRICS) &&
           (!app->metrics_port || app->metrics_port == app->port))
        app->metrics_port = of_it_free_port();
    app->cfg = of_it_config(NULL);
    of_it_sh("'%s/orderflowctl' --config /dev/null migrate >/dev/null && "
             "'%s/orderflowctl' --config /dev/null topics create >/dev/null",
             app->bin, app->bin);
    app->jwt = of_jwt_new(app->cfg, 1, &err);
    if (!app->jwt)
        fail_msg("jwt: %s", err.msg);
    of_it_bearer(app->jwt, 1, OF_ROLE_ADMIN, app->admin, sizeof(app->admin));
    if (flags & OF_IT_APP_WORKER)
        of_it_app_start_worker(app, NULL);
    if (flags & OF_IT_APP_OUTBOX) {
        char exe[512], log[512];
        snprintf(exe, sizeof(exe), "%s/orderflow-worker", app->bin);
        snprintf(log, sizeof(log), "%s/outbox.log", app->dir);
        char *argv[] = {exe,      "--config",       "/dev/null", "--role",
                        "outbox", "--metrics-port", "0",         NULL};
        app->outbox = of_it_spawn(argv, NULL, log);
    }
    if (!(flags & OF_IT_APP_NO_API)) {
        char exe[512], log[512];
        snprintf(exe, sizeof(exe), "%s/orderflow-api", app->bin);
        snprintf(log, sizeof(log), "%s/api.log", app->dir);
        char *argv[] = {exe, "--config", "/dev/null", NULL};
        app->api = of_it_spawn(argv, NULL, log);
        of_it_wait_http(app->port, 20);
    }
}

int of_it_app_start_worker(struct of_it_app *app, char *const *env)
{
    char exe[512], log[512], port[16];

    snprintf(exe, sizeof(exe), "%s/orderflow-worker", app->bin);
    snprintf(log, sizeof(log), "%s/worker.log", app->dir);
    snprintf(port, sizeof(port), "%d", app->metrics_port);
    char *argv[] = {exe,        "--config",       "/dev/null", "--role",
                    "commands", "--metrics-port", port,        NULL};
    app->worker = of_it_spawn(argv, env, log);
    return app->worker;
}

void of_it_app_stop(struct of_it_app *app)
{
    int *pids[] = {&app->api, &app->worker, &app->outbox};

    for (size_t i = 0; i < sizeof(pids) / sizeof(pids[0]); i++) {
        int pid = *pids[i];
        if (!pid)
            continue;
        *pids[i] = 0;
        assert_int_equal(of_it_stop(pid, SIGTERM, 15), 0);
    }
    of_jwt_destroy(app->jwt);
    of_config_destroy(app->cfg);
    app->jwt = NULL;
    app->cfg = NULL;
}

double of_it_metric(int port, const char *series)
{
    struct of_it_resp resp;
    size_t n = strlen(series);
    double v = -1;

    of_it_http(port, "GET", "/metrics", NULL, NULL, &resp);
    assert_int_equal(resp.status, 200);
    for (char *p = resp.body; p && *p;
         p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            v = strtod(p + n + 1, NULL);
    }
    of_it_resp_free(&resp);
    return v;
}

int of_it_kafka_find(const struct of_config *cfg, const char *topic,
                     int timeout_s,
                     int (*match)(void *arg, const rd_kafka_message_t *m),
                     void *arg)
{
    char group[160];
    struct of_err err;
    const struct rd_kafka_metadata *md = NULL;
    int found = 0;

    of_it_unique(group, sizeof(group), "it-reader");
    rd_kafka_conf_t *conf = of_kafka_conf_new(
        cfg, (const char *[]){"group.id", group, NULL}, &err);
    rd_kafka_t *rk = conf ? of_kafka_new(RD_KAFKA_CONSUMER, conf, &err) : NULL;
    if (!rk)
        fail_msg("consumer of %s: %s", topic, err.msg);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != 0)
        fail_msg("no metadata for %s", topic);
    int n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *parts =
        rd_kafka_topic_partition_list_new(n);
    for (int p = 0; p < n; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
    long long until = of_it_now_us() + timeout_s * 1000000LL;
    while (!found && of_it_now_us() < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (!m->err)
            found = match(arg, m) != 0;
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return found;
}

void *of_it_pay_order(struct of_avro *avro, long long order_id,
                      const char *trace, char cid[OF_UUID_STR], size_t *len)
{
    struct of_order_cmd *cmd = calloc(1, sizeof(*cmd));
    struct of_err err;
    void *out = NULL;

    assert_non_null(cmd);
    of_uuid_v4(cmd->command_id);
    memcpy(cid, cmd->command_id, OF_UUID_STR);
    cmd->issued_at = (int64_t)time(NULL) * 1000000;
    snprintf(cmd->actor.id, sizeof(cmd->actor.id), "apikey:it");
    cmd->actor.role = OF_ROLE_ADMIN;
    snprintf(cmd->trace_id, sizeof(cmd->trace_id), "%s", trace);
    cmd->type = OF_PAY_ORDER;
    cmd->order_id = order_id;
    assert_int_equal(of_avro_encode_order_cmd(avro, cmd, &out, len, &err),
                     OF_OK);
    free(cmd);
    return out;
}

static int count_cb(void *arg, int n, char **v, const unsigned long *l)
{
    (void)n;
    (void)l;
    *(long long *)arg = v[0] ? strtoll(v[0], NULL, 10) : -1;
    return 1;
}

long long of_it_count(struct of_db *db, const char *sql,
                      const struct of_db_param *p, int np)
{
    struct of_err err;
    long long n = -1;

    if (of_db_query(db, sql, p, np, count_cb, &n, &err) != OF_OK)
        fail_msg("%s: %s", sql, err.msg);
    return n;
}

static int row_cb(void *arg, int ncols, char **vals, const unsigned long *l)
{
    struct of_it_row *r = arg;

    (void)l;
    for (int i = 0; i < ncols && i < 8 && r->n == 0; i++)
        snprintf(r->v[i], sizeof(r->v[i]), "%s", vals[i] ? vals[i] : "NULL");
    r->n++;
    return 0;
}

struct of_it_row of_it_query(struct of_db *db, const char *sql,
                             const struct of_db_param *p, int np)
{
    struct of_it_row r = {0};
    struct of_err err;

    if (of_db_query(db, sql, p, np, row_cb, &r, &err) != OF_OK)
        fail_msg("%s: %s", sql, err.msg);
    return r;
}

rd_kafka_t *of_it_producer(const struct of_config *cfg,
                           const char *const *extra,
                           void (*on_delivery)(rd_kafka_t *rk,
                                               const rd_kafka_message_t *m,
                                               void *opaque))
{
    const char *kv[32] = {"acks", "all"};
    struct of_err err;
    size_t n = 2;
    rd_kafka_t *rk = NULL;

    for (; extra && *extra && n + 2 < sizeof(kv) / sizeof(kv[0]); extra += 2) {
        kv[n++] = extra[0];
        kv[n++] = extra[1];
    }
    kv[n] = NULL;
    rd_kafka_conf_t *conf = of_kafka_conf_new(cfg, kv, &err);
    if (conf && on_delivery)
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    if (conf)
        rk = of_kafka_new(RD_KAFKA_PRODUCER, conf, &err);
    if (!rk)
        fail_msg("producer: %s", err.msg);
    return rk;
}
