/*
 * fault_mariadb: what the MariaDB fault tests (F7 kill, F8 pause, F9 lock
 * contention) share: a query from the test that may fail (the server may be
 * down), the dead-letter count, a command's row, a worker started with a
 * metrics port or a group of its own, its /metrics figures and log lines,
 * and the consumer group as the broker sees it (members, committed
 * offsets). Header-only (static inline): each fault test is one executable.
 * Include after <cmocka.h>.
 */
#ifndef FAULT_MARIADB_H
#define FAULT_MARIADB_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "ctl_scan.h"
#include "of_check.h"
#include "of_db.h"
#include "of_it.h"
#include "of_it_sys.h"
#include "of_kafka.h"
#include "of_load.h"

/* Copies \p src into \p out, cut to fit. */
static inline void fm_copy(char *out, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);

    memcpy(out, src, n);
    out[n] = '\0';
}

struct fm_cell {
    char *out;
    size_t cap;
    int found;
};

static inline int fm_cell_cb(void *arg, int n, char **v, const unsigned long *l)
{
    struct fm_cell *c = arg;
    (void)n;
    (void)l;
    c->found = 1;
    snprintf(c->out, c->cap, "%s", v[0] ? v[0] : "NULL");
    return 1;
}

/*
 * The first column of the first row of \p sql (the test's own text), on a
 * connection of its own as the orderflow user. Never fails the test: the
 * server may be down.
 * @returns 1 (a row), 0 (no row) or -1 (MySQL failed; \p out says why).
 */
static inline int fm_query(const struct of_config *cfg,
                           const char *sql,
                           const struct of_db_param *p,
                           int np,
                           char *out,
                           size_t cap)
{
    struct of_err err = {0};
    struct of_db *db = of_db_open(cfg, &err);
    struct fm_cell c = {out, cap, 0};
    int rc;

    out[0] = '\0';
    if (!db) {
        fm_copy(out, cap, err.msg);
        return -1;
    }
    rc = of_db_query(db, sql, p, np, fm_cell_cb, &c, &err);
    of_db_close(db);
    if (rc != OF_OK) {
        fm_copy(out, cap, err.msg);
        return -1;
    }
    return c.found;
}

/* A COUNT(*) or other number of \p sql; -1 when MySQL failed. */
static inline long fm_count(const struct of_config *cfg,
                            const char *sql,
                            const struct of_db_param *p,
                            int np)
{
    char v[256];

    return fm_query(cfg, sql, p, np, v, sizeof(v)) == 1 ? strtol(v, NULL, 10)
                                                        : -1;
}

/* A server variable (SHOW VARIABLES): into \p out, "absent" if unknown. */
static inline void fm_variable(const struct of_config *cfg,
                               const char *name,
                               char *out,
                               size_t cap)
{
    int rc = fm_query(cfg,
                      "SELECT VARIABLE_VALUE FROM "
                      "information_schema.GLOBAL_VARIABLES "
                      "WHERE VARIABLE_NAME = UPPER(?)",
                      (struct of_db_param[]){OF_DB_S(name)}, 1, out, cap);
    if (rc < 0)
        fail_msg("could not read the variable %s: %s", name, out);
    if (rc == 0)
        snprintf(out, cap, "absent");
}

/* A server status counter (SHOW GLOBAL STATUS); -1 if unreadable. */
static inline long fm_status(const struct of_config *cfg, const char *name)
{
    return fm_count(cfg,
                    "SELECT VARIABLE_VALUE FROM "
                    "information_schema.GLOBAL_STATUS "
                    "WHERE VARIABLE_NAME = UPPER(?)",
                    (struct of_db_param[]){OF_DB_S(name)}, 1);
}

/* The status ("applied", "rejected") of \p command_id, "" if no row yet;
 * with error_code appended after a space when it has one. */
static inline int fm_command(const struct of_config *cfg,
                             const char *command_id,
                             char *out,
                             size_t cap)
{
    return fm_query(cfg,
                    "SELECT CONCAT_WS(' ', status, error_code) FROM commands "
                    "WHERE command_id = ?",
                    (struct of_db_param[]){OF_DB_S(command_id)}, 1, out, cap);
}

/* Waits up to \p timeout_s for \p command_id's row.
 * @returns the seconds waited, or -1 if it did not come. */
static inline double fm_wait_command(const struct of_config *cfg,
                                     const char *command_id,
                                     int timeout_s,
                                     char *status,
                                     size_t cap)
{
    long long t0 = of_it_now_us();

    for (;;) {
        if (fm_command(cfg, command_id, status, cap) == 1)
            return (double)(of_it_now_us() - t0) / 1e6;
        if (of_it_now_us() - t0 > timeout_s * 1000000LL)
            return -1;
        usleep(100000);
    }
}

static inline int fm_count_cb(void *arg, const rd_kafka_message_t *m)
{
    (void)m;
    (*(long *)arg)++;
    return 0;
}

/* The messages on the dead-letter topic (fails the test if unreadable). */
static inline long fm_dead_letters(const struct of_config *cfg)
{
    struct of_dlq_range range = {.topic = cfg->topics.dead_letter,
                              .partition = -1,
                              .from_offset = -1,
                              .from_ms = -1,
                              .to_offset = -1,
                              .to_ms = -1};
    long n = 0;

    if (ctl_scan(cfg, &range, fm_count_cb, &n, NULL) != 0)
        fail_msg("could not read the dead-letter topic %s",
                 cfg->topics.dead_letter);
    return n;
}

/*
 * Starts one more command worker, its log in s->dir/\p log, serving
 * /metrics on \p metrics_port (0: off), in \p group (NULL: the test's).
 * @returns its pid (stop it with of_it_stop).
 */
static inline int fm_spawn_worker(const struct of_it_sys *s,
                                  const char *log,
                                  int metrics_port,
                                  const char *group)
{
    static char genv[8][300];
    static int ngenv;
    char exe[600], path[600], port[16];
    char *env[2] = {NULL, NULL};

    snprintf(exe, sizeof(exe), "%s/orderflow-worker", s->bin);
    snprintf(path, sizeof(path), "%s/%s", s->dir, log);
    snprintf(port, sizeof(port), "%d", metrics_port);
    if (group) {
        assert_true(ngenv < 8);
        snprintf(genv[ngenv], sizeof(genv[0]), "ORDERFLOW_WORKER_GROUP_ID=%s",
                 group);
        env[0] = genv[ngenv++]; /* putenv keeps the pointer */
    }
    char *argv[] = {exe,        "--config",       "/dev/null", "--role",
                    "commands", "--metrics-port", port,        NULL};
    return of_it_spawn(argv, env, path);
}

/* @returns 1 if \p pid (our child) is still running. */
static inline int fm_alive(int pid)
{
    char path[64], st = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    f = fopen(path, "r");
    if (f && fscanf(f, "%*d %*s %c", &st) != 1)
        st = 0;
    if (f)
        fclose(f);
    return st != 0 && st != 'Z';
}

/* The lines of the file at \p path that contain \p needle. */
static inline long fm_log_count(const char *path, const char *needle)
{
    char line[4096];
    FILE *f = fopen(path, "r");
    long n = 0;

    while (f && fgets(line, sizeof(line), f))
        n += strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return n;
}

/*
 * The sum of the series of metric \p name whose labels contain \p match
 * (NULL: all) on http://127.0.0.1:PORT/metrics; -1 if it did not answer.
 */
static inline double fm_metric(int port, const char *name, const char *match)
{
    struct of_it_resp r;
    double sum = 0;
    size_t len = strlen(name);

    of_it_http(port, "GET", "/metrics", NULL, NULL, &r);
    if (r.status != 200) {
        of_it_resp_free(&r);
        return -1;
    }
    for (char *line = r.body; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (strncmp(line, name, len) == 0 &&
            (line[len] == '{' || line[len] == ' ') &&
            (!match || strstr(line, match))) {
            const char *v = strrchr(line, ' ');
            sum += v ? atof(v + 1) : 0;
        }
        line = nl ? nl + 1 : NULL;
    }
    of_it_resp_free(&r);
    return sum;
}

/* A Kafka handle for the checks below (a consumer that never subscribes). */
static inline rd_kafka_t *fm_kafka(const struct of_config *cfg,
                                   const char *group)
{
    struct of_err err;
    const char *extra[] = {"group.id", group, NULL};
    rd_kafka_conf_t *conf = of_kafka_conf_new(cfg, extra, &err);
    rd_kafka_t *rk = conf ? of_kafka_new(RD_KAFKA_CONSUMER, conf, &err) : NULL;

    if (!rk)
        fail_msg("Kafka handle: %s", err.msg);
    return rk;
}

/*
 * The group's members as the broker sees them: their member ids (each a
 * new one after a member was evicted and came back), sorted and joined
 * with spaces into \p out, and the group state.
 * @returns the number of members, or -1 on error (\p out says why).
 */
static inline int fm_members(const struct of_config *cfg,
                             const char *group,
                             char *out,
                             size_t cap)
{
    rd_kafka_t *rk = fm_kafka(cfg, group);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    const char *groups[] = {group};
    rd_kafka_event_t *ev;
    int n = -1;

    out[0] = '\0';
    rd_kafka_AdminOptions_set_request_timeout(o, 10000, NULL, 0);
    rd_kafka_DescribeConsumerGroups(rk, groups, 1, o, q);
    ev = rd_kafka_queue_poll(q, 15000);
    if (!ev || rd_kafka_event_error(ev)) {
        snprintf(out, cap, "%s",
                 ev ? rd_kafka_event_error_string(ev) : "no answer");
    } else {
        size_t cnt = 0;
        const rd_kafka_ConsumerGroupDescription_t **g =
            rd_kafka_DescribeConsumerGroups_result_groups(
                rd_kafka_event_DescribeConsumerGroups_result(ev), &cnt);
        if (cnt == 1 && !rd_kafka_ConsumerGroupDescription_error(g[0])) {
            size_t m = rd_kafka_ConsumerGroupDescription_member_count(g[0]);
            const char *ids[16];
            size_t len = 0;
            n = (int)m;
            for (size_t i = 0; i < m && i < 16; i++)
                ids[i] = rd_kafka_MemberDescription_consumer_id(
                    rd_kafka_ConsumerGroupDescription_member(g[0], i));
            for (size_t i = 1; i < m && i < 16; i++) /* insertion sort */
                for (size_t j = i; j > 0 && strcmp(ids[j - 1], ids[j]) > 0;
                     j--) {
                    const char *t = ids[j];
                    ids[j] = ids[j - 1];
                    ids[j - 1] = t;
                }
            len = (size_t)snprintf(
                out, cap, "%s:",
                rd_kafka_consumer_group_state_name(
                    rd_kafka_ConsumerGroupDescription_state(g[0])));
            for (size_t i = 0; i < m && i < 16 && len < cap; i++)
                len += (size_t)snprintf(out + len, cap - len, " %s", ids[i]);
        } else {
            snprintf(out, cap, "no description of group %s", group);
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return n;
}

#define FM_MAX_PARTS 64

/* The end (high watermark) of every partition of \p topic, into \p hw.
 * @returns the number of partitions. */
static inline int
fm_ends(const struct of_config *cfg, const char *topic, int64_t *hw)
{
    rd_kafka_t *rk = fm_kafka(cfg, "fm-ends");
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int n;

    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != 0 || md->topic_cnt != 1)
        fail_msg("no metadata for %s", topic);
    n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    assert_true(n > 0 && n <= FM_MAX_PARTS);
    for (int p = 0; p < n; p++) {
        int64_t lo;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hw[p], 10000))
            fail_msg("no watermarks for %s [%d]", topic, p);
    }
    rd_kafka_destroy(rk);
    return n;
}

/* @returns how many messages of \p topic below \p hw (n partitions) group
 *          \p group has not committed yet; -1 if Kafka did not answer. */
static inline long fm_behind(const struct of_config *cfg,
                             const char *group,
                             const char *topic,
                             const int64_t *hw,
                             int n)
{
    rd_kafka_t *rk = fm_kafka(cfg, group);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    long behind = 0;

    for (int p = 0; p < n; p++)
        rd_kafka_topic_partition_list_add(l, topic, p);
    if (rd_kafka_committed(rk, l, 5000) != 0) {
        behind = -1;
    } else {
        for (int p = 0; p < n; p++) {
            int64_t c = l->elems[p].offset < 0 ? 0 : l->elems[p].offset;
            if (c < hw[p])
                behind += (long)(hw[p] - c);
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return behind;
}

static inline double fm_env_num(const char *name, double dflt)
{
    const char *v = getenv(name);
    return v && *v ? atof(v) : dflt;
}

/* The end check of F7 and F8 (\p label "F7"/"F8"): I1-I5 for the load
 * \p r (waiting up to 20 s), the figures and the dead letters printed,
 * the process logs when either is off; fails the test unless the check
 * passes and nothing went to the dead-letter topic. */
static inline void fm_check(const struct of_it_sys *s,
                            const struct of_load_result *r,
                            const char *label,
                            struct of_check *c)
{
    struct of_check_opts o = {.wait_s = 20};
    int rc = of_check_run(s->cfg, r, &o, c);
    of_check_print(c, stdout);
    long dead = fm_dead_letters(s->cfg);
    printf("# %s: %ld dead letters, %ld skipped by the load, %ld writes ok, "
           "%ld unknown, %ld failed\n",
           label, dead, r->skipped, r->count[OF_LOAD_OK],
           r->count[OF_LOAD_UNKNOWN], r->count[OF_LOAD_FAIL]);
    if (rc != 0 || dead != 0)
        of_it_sys_logs(s, 30);
    assert_int_equal(rc, 0);
    assert_int_equal(dead, 0);
}

/* I6, cheaply, and the end of F7 and F8: the command worker neither
 * crashed nor was restarted; the API, the worker and the relay all stop
 * cleanly; then \p r and \p s are freed. */
static inline void fm_finish(struct of_it_sys *s, struct of_load_result *r)
{
    assert_int_equal(s->starts[OF_IT_WORKER], 1);
    assert_true(fm_alive(s->pid[OF_IT_WORKER]));
    of_it_sys_stop_clean(s);
    of_load_free(r);
    of_it_sys_down(s);
}

#endif
