/*
 * Issue 8, "several workers, one machine": 12 partitions, three command
 * workers and two outbox relays under a 60 s open-loop load of mixed
 * commands -- creates, pays, refunds, cancels and reads of orders by six
 * users (so creates, keyed by user id, spread over the partitions), and
 * beside them registrations, bans and unbans of users -- while the workers
 * are restarted one by one (SIGTERM, 3 s down, started again: at 10, 25
 * and 40 s) and one relay is killed with -9 (at 32 s) and started again at
 * once. Holds when:
 *   - every write was answered 202 (a worker restart is not the API's
 *     business), each SIGTERMed worker exited 0, each restarted worker got
 *     partitions again, and every process still runs and stops cleanly;
 *   - the group drains both command topics and the relays the outbox after
 *     the load (the time is printed);
 *   - orders: of_check's I1-I5 (every 202 applied or rejected exactly once,
 *     the rows equal their commands replayed in partition order, Redis
 *     equals MySQL, the order-events topic has versions 1..n with no gap);
 *   - users: every accepted registration, ban and unban applied, each
 *     user's row at the version and ban state its commands give, Redis
 *     equal to MySQL, the user-events topic gapless;
 *   - every aggregate (each order and user in MySQL): outbox versions
 *     1..version, all published; one outbox row per applied command and
 *     none for anything else; every order made by one CreateOrder.
 * The aggregate checks are then shown to fail on a lost event and an order
 * claimed by two creates. A one-line summary ("# scale: ...") gives the
 * figures.
 * ORDERFLOW_LOAD_SECONDS overrides the 60 s (the restarts keep their
 * fractions of the run); ORDERFLOW_SCALE_RATE the 250 operations/s.
 */
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "ctl_scan.h"
#include "of_avro.h"
#include "of_check.h"
#include "of_db.h"
#include "of_it.h"
#include "of_it_sys.h"
#include "of_load.h"
#include "of_model.h"
#include "of_redis.h"

enum {
    WORKERS = 3,
    RELAYS = 2,
    LOAD_USERS = 6,   /* of_load runs, one user each */
    SEEDS = 60,       /* orders pays, refunds and cancels pick from */
    MAX_USERS = 4096, /* registrations of the user traffic */
    DOWN_S = 3,       /* how long a stopped worker stays down */
};

static struct of_it_sys s;

/* ---- the command workers and relays, beside of_it_sys's API ---- */

struct proc {
    int pid;
    char log[32];
};

static struct proc workers[WORKERS], relays[RELAYS];

static void proc_start(struct proc *p, const char *role)
{
    p->pid = of_it_sys_spawn_worker(&s, role, p->log);
}

static void procs_logs(void)
{
    char path[700];

    of_it_sys_logs(&s, 20);
    for (int i = 0; i < WORKERS + RELAYS; i++) {
        struct proc *p = i < WORKERS ? &workers[i] : &relays[i - WORKERS];
        snprintf(path, sizeof(path), "%s/%s", s.dir, p->log);
        of_it_log_tail(path, 20);
    }
}

/* ---- user traffic: registrations, then a ban, then (half) an unban ---- */

struct tuser {
    char reg[40], ban[40], unban[40]; /* command ids of the 202s */
    int64_t user_id;                  /* once its registration applied */
    int state;                        /* 0 registered, 1 banned, 2 unbanned */
    long long at_us;                  /* when the last command was sent */
};

struct traffic {
    pthread_t thread;
    atomic_int stop;
    struct tuser u[MAX_USERS];
    int n;
    long sent, non202;
    char first_error[256];
    char prefix[64];
};

static struct traffic tr;

/* One POST; @returns its status, the command id of a 202 into \p cid. */
static long post1(const char *path, const char *body, char cid[40])
{
    const char *h[] = {s.auth, "Content-Type: application/json", NULL};
    long st = 0;
    char *out = NULL;

    of_it_http_many(s.port, 1, "POST", path, h, body, NULL, &st, &out);
    tr.sent++;
    cid[0] = '\0';
    if (st == 202) {
        json_t *j = json_loads(out, 0, NULL);
        const char *id = json_string_value(json_object_get(j, "command_id"));
        snprintf(cid, 40, "%s", id ? id : "");
        json_decref(j);
    }
    if (st != 202 || !cid[0]) {
        if (!tr.non202++)
            snprintf(tr.first_error, sizeof(tr.first_error), "POST %s: %ld %s",
                     path, st, out ? out : "");
        st = st == 202 ? -1 : st;
    }
    free(out);
    return st;
}

static int resource_cb(void *arg, int ncols, char **v, const unsigned long *l)
{
    (void)ncols;
    (void)l;
    if (v[0] && strcmp(v[0], "applied") == 0 && v[1])
        *(int64_t *)arg = strtoll(v[1], NULL, 10);
    return 1;
}

/*
 * Twice a second: two registrations; a ban for each user whose registration
 * is applied (a ban before it would race it: the registration is keyed by
 * email, the ban by user id); an unban for every other banned user. The
 * ban and unban of a user share its partition and are sent one after the
 * other's 202, so they apply in that order: the end state is known.
 */
static void *traffic_run(void *arg)
{
    struct of_err err;
    struct of_db *db = of_db_open(s.cfg, &err);
    char path[96], body[256];
    (void)arg;

    while (!atomic_load(&tr.stop)) {
        long long now = of_it_now_us();
        for (int k = 0; k < 2 && tr.n < MAX_USERS; k++) {
            struct tuser *u = &tr.u[tr.n];
            snprintf(body, sizeof(body),
                     "{\"email\":\"%s-%d@example.com\",\"username\":"
                     "\"scaleuser%d\"}",
                     tr.prefix, tr.n, tr.n);
            if (post1("/v1/users", body, u->reg) == 202) {
                u->at_us = now;
                tr.n++;
            }
        }
        for (int i = 0; db && i < tr.n; i++) {
            struct tuser *u = &tr.u[i];
            if (now - u->at_us < 500000)
                continue;
            if (u->state == 0 && !u->user_id &&
                of_db_query(db,
                            "SELECT status, resource_id FROM commands "
                            "WHERE command_id = ?",
                            (struct of_db_param[]){OF_DB_S(u->reg)}, 1,
                            resource_cb, &u->user_id, &err) != OF_OK)
                break;
            if (u->state == 0 && u->user_id) {
                snprintf(path, sizeof(path), "/v1/users/%" PRId64 "/ban",
                         u->user_id);
                if (post1(path, "{}", u->ban) == 202) {
                    u->state = 1;
                    u->at_us = now;
                }
            } else if (u->state == 1 && i % 2 == 0) {
                snprintf(path, sizeof(path), "/v1/users/%" PRId64 "/unban",
                         u->user_id);
                if (post1(path, "{}", u->unban) == 202) {
                    u->state = 2;
                    u->at_us = now;
                }
            }
        }
        if (!db && !tr.non202++)
            snprintf(tr.first_error, sizeof(tr.first_error), "MySQL: %.200s",
                     err.msg);
        usleep(500000);
    }
    of_db_close(db);
    return NULL;
}

/* ---- the checks of the users ---- */

struct uev {
    int64_t next; /* the version expected next; 1 at first */
    int bad;
    char last_id[40];
};

struct uscan {
    struct of_avro *avro;
    struct uev *ev;
    int64_t max_id;
    long events;
};

static int user_event_cb(void *arg, const rd_kafka_message_t *m)
{
    struct uscan *x = arg;
    struct of_user_event ev;
    struct of_err err;

    if (!m->payload ||
        of_avro_decode_user_event(x->avro, m->payload, m->len, &ev, &err) !=
            OF_OK)
        return 0;
    x->events++;
    if (ev.user.user_id < 1 || ev.user.user_id > x->max_id)
        return 0;
    struct uev *e = &x->ev[ev.user.user_id];
    if (ev.version == e->next) {
        e->next++;
        snprintf(e->last_id, sizeof(e->last_id), "%s", ev.event_id);
    } else if (ev.version < e->next - 1 ||
               (ev.version == e->next - 1 &&
                strcmp(ev.event_id, e->last_id) == 0)) {
        /* a repeat (a relay killed between produce and mark): allowed */
    } else {
        e->bad = 1;
    }
    return 0;
}

struct uver {
    struct uev *ev;
    int64_t max_id;
    long users, bad;
    char first[160];
};

static int user_version_cb(void *arg, int ncols, char **v,
                           const unsigned long *l)
{
    struct uver *x = arg;
    int64_t id = strtoll(v[0], NULL, 10), version = strtoll(v[1], NULL, 10);
    (void)ncols;
    (void)l;

    x->users++;
    if (id < 1 || id > x->max_id || x->ev[id].bad ||
        x->ev[id].next - 1 != version) {
        if (!x->bad++)
            snprintf(x->first, sizeof(x->first),
                     "user %" PRId64 " at version %" PRId64
                     ": its events end at %" PRId64 "%s",
                     id, version,
                     id >= 1 && id <= x->max_id ? x->ev[id].next - 1 : -1,
                     id >= 1 && id <= x->max_id && x->ev[id].bad
                         ? " (a gap or out of order)"
                         : "");
    }
    return 0;
}

/* Every accepted user command applied; rows, Redis and events agree.
 * @returns the user events read. */
static long check_users(struct of_db *db)
{
    struct of_err err;
    struct of_redis *rd = of_redis_new(s.cfg, &err);
    long long deadline = of_it_now_us() + 20000000LL;

    if (!rd)
        fail_msg("Redis: %s", err.msg);
    for (int i = 0; i < tr.n; i++) {
        struct tuser *u = &tr.u[i];
        const char *ids[] = {u->reg, u->ban, u->unban};
        for (int k = 0; k <= u->state; k++) {
            struct of_it_row r = of_it_query(
                db, "SELECT status, resource_id FROM commands WHERE "
                    "command_id = ?",
                (struct of_db_param[]){OF_DB_S(ids[k])}, 1);
            if (r.n != 1 || strcmp(r.v[0], "applied") != 0)
                fail_msg("user command %s (%s of user #%d) is %s", ids[k],
                         k == 0 ? "registration" : k == 1 ? "ban" : "unban",
                         i, r.n ? r.v[0] : "not in MySQL");
            if (k == 0 && !u->user_id)
                u->user_id = strtoll(r.v[1], NULL, 10);
            assert_int_equal(strtoll(r.v[1], NULL, 10), u->user_id);
        }
        struct of_it_row r = of_it_query(
            db, "SELECT version, is_banned FROM users WHERE user_id = ?",
            (struct of_db_param[]){OF_DB_I(u->user_id)}, 1);
        assert_int_equal(r.n, 1);
        if (atoi(r.v[0]) != 1 + u->state || atoi(r.v[1]) != (u->state == 1))
            fail_msg("user %" PRId64 " is v%s banned=%s; its commands make "
                     "v%d banned=%d",
                     u->user_id, r.v[0], r.v[1], 1 + u->state, u->state == 1);
        /* the read model: the same version and ban state in Redis */
        for (;;) {
            struct of_user ru;
            int64_t rv = 0;
            int found = 0;
            int rc = of_model_redis_get_user(rd, u->user_id, &ru, &rv, &found,
                                             &err);
            if (rc == OF_OK && found && rv == 1 + u->state &&
                ru.is_banned == (u->state == 1))
                break;
            if (of_it_now_us() > deadline)
                fail_msg("user %" PRId64 ": Redis %s v%" PRId64
                         " banned=%d, MySQL v%d banned=%d",
                         u->user_id, rc != OF_OK ? "error" : found ? "" : "missing",
                         rv, found ? ru.is_banned : -1, 1 + u->state,
                         u->state == 1);
            usleep(200000);
        }
    }
    of_redis_destroy(rd);

    /* the user-events topic: versions 1..version of every user, in order */
    struct uscan x = {.avro = of_avro_new(&err)};
    assert_non_null(x.avro);
    x.max_id = of_it_count(db, "SELECT MAX(user_id) FROM users", NULL, 0);
    assert_true(x.max_id >= 1);
    x.ev = calloc((size_t)x.max_id + 1, sizeof(*x.ev));
    assert_non_null(x.ev);
    struct uver ver = {.ev = x.ev, .max_id = x.max_id};
    for (int tries = 0;; tries++) {
        for (int64_t i = 0; i <= x.max_id; i++)
            x.ev[i] = (struct uev){.next = 1};
        x.events = 0;
        struct of_dlq_range range = {.topic = s.cfg->topics.user_events,
                                  .partition = -1, .from_offset = -1,
                                  .from_ms = -1, .to_offset = -1, .to_ms = -1};
        assert_int_equal(ctl_scan(s.cfg, &range, user_event_cb, &x, NULL), 0);
        ver.users = ver.bad = 0;
        assert_int_equal(of_db_query(db, "SELECT user_id, version FROM users",
                                     NULL, 0, user_version_cb, &ver, &err),
                         OF_OK);
        if (!ver.bad || tries >= 10)
            break;
        sleep(1);
    }
    if (ver.bad)
        fail_msg("I5 (users): %ld of %ld users: %s", ver.bad, ver.users,
                 ver.first);
    free(x.ev);
    of_avro_destroy(x.avro);
    return x.events;
}

/* One aggregate: its row's version, and what the outbox holds of it. */
struct agg {
    int64_t version; /* 0: no such row */
    int64_t n, lo, hi;
};

struct aggs {
    struct agg *a[2]; /* orders, users: indexed by id */
    int64_t max[2];
    long stray;       /* outbox rows of no aggregate in MySQL */
};

static int agg_row_cb(void *arg, int ncols, char **v, const unsigned long *l)
{
    struct aggs *x = arg;
    int t = atoi(v[0]);
    int64_t id = strtoll(v[1], NULL, 10);
    (void)ncols;
    (void)l;

    if (id >= 1 && id <= x->max[t])
        x->a[t][id].version = strtoll(v[2], NULL, 10);
    return 0;
}

static int agg_outbox_cb(void *arg, int ncols, char **v,
                         const unsigned long *l)
{
    struct aggs *x = arg;
    int t = strcmp(v[0], "user") == 0;
    int64_t id = strtoll(v[1], NULL, 10);
    (void)ncols;
    (void)l;

    if (id < 1 || id > x->max[t] || !x->a[t][id].version) {
        x->stray++;
        return 0;
    }
    x->a[t][id].n = strtoll(v[2], NULL, 10);
    x->a[t][id].lo = strtoll(v[3], NULL, 10);
    x->a[t][id].hi = strtoll(v[4], NULL, 10);
    return 0;
}

/* A violation of check_aggregates: counted, the first printed. */
static void agg_bad(long *bad, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void agg_bad(long *bad, const char *fmt, ...)
{
    va_list ap;

    if (!(*bad)++) {
        fputs("# scale: aggregates: ", stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
    }
}

/* Every aggregate in MySQL against the outbox and the commands.
 * @returns how many checks failed (the first is printed). */
static long check_aggregates(struct of_db *db)
{
    static const char *const names[] = {"order", "user"};
    struct aggs x = {0};
    struct of_err err;
    long bad = 0;

    /* outbox versions of each order and user: 1..version, no gap (the
     * unique key (aggregatetype, aggregateid, version) makes COUNT = MAX =
     * version and MIN = 1 mean exactly 1..version) */
    x.max[0] = of_it_count(db, "SELECT COALESCE(MAX(order_id), 0) FROM orders",
                           NULL, 0);
    x.max[1] = of_it_count(db, "SELECT COALESCE(MAX(user_id), 0) FROM users",
                           NULL, 0);
    for (int t = 0; t < 2; t++)
        assert_non_null(x.a[t] = calloc((size_t)x.max[t] + 1, sizeof(struct agg)));
    assert_int_equal(
        of_db_query(db,
                    "SELECT 0, order_id, version FROM orders UNION ALL "
                    "SELECT 1, user_id, version FROM users",
                    NULL, 0, agg_row_cb, &x, &err),
        OF_OK);
    assert_int_equal(
        of_db_query(db,
                    "SELECT aggregatetype, aggregateid, COUNT(*), "
                    "MIN(version), MAX(version) FROM outbox GROUP BY "
                    "aggregatetype, aggregateid",
                    NULL, 0, agg_outbox_cb, &x, &err),
        OF_OK);
    if (x.stray)
        agg_bad(&bad, "%ld aggregates in the outbox are not in MySQL",
                x.stray);
    for (int t = 0; t < 2; t++) {
        for (int64_t id = 1; id <= x.max[t]; id++) {
            struct agg *g = &x.a[t][id];
            if (g->version && (g->n != g->version || g->lo != 1 ||
                               g->hi != g->version))
                agg_bad(&bad, "%s %" PRId64 " is at version %" PRId64
                         " but the outbox has %" PRId64
                         " events, versions %" PRId64 "..%" PRId64,
                         names[t], id, g->version, g->n, g->lo, g->hi);
        }
        free(x.a[t]);
    }

    static const char *const none[] = {
        /* each outbox row is the event of an applied command, and no
         * command has two */
        "SELECT COUNT(*) FROM outbox x LEFT JOIN commands c ON c.command_id "
        "= x.command_id WHERE c.status IS NULL OR c.status <> 'applied'",
        "SELECT COUNT(*) FROM (SELECT command_id FROM outbox GROUP BY "
        "command_id HAVING COUNT(*) > 1) d",
    };
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        long long rows = of_it_count(db, none[i], NULL, 0);
        if (rows != 0)
            agg_bad(&bad, "%lld rows: %s", rows, none[i]);
    }
    /* every applied command made one event (none of this test's applied
     * commands is a no-op: no ban of a banned user) */
    long long applied = of_it_count(
        db, "SELECT COUNT(*) FROM commands WHERE status = 'applied'", NULL, 0);
    long long events = of_it_count(db, "SELECT COUNT(*) FROM outbox", NULL, 0);
    if (applied != events)
        agg_bad(&bad, "%lld applied commands but %lld outbox rows", applied,
                events);
    /* each order made by exactly one applied CreateOrder, and each applied
     * CreateOrder made one order */
    long long orders = of_it_count(db, "SELECT COUNT(*) FROM orders", NULL, 0);
    struct of_it_row r = of_it_query(
        db,
        "SELECT COUNT(*), COUNT(DISTINCT c.resource_id), COUNT(o.order_id) "
        "FROM commands c LEFT JOIN orders o ON o.order_id = c.resource_id "
        "WHERE c.command_type = 'CreateOrder' AND c.status = 'applied'",
        NULL, 0);
    if (atoll(r.v[0]) != orders || atoll(r.v[1]) != orders ||
        atoll(r.v[2]) != orders)
        agg_bad(&bad, "%lld orders, but %s applied CreateOrders naming %s "
                "distinct ids, %s of them orders",
                orders, r.v[0], r.v[1], r.v[2]);
    return bad;
}

/* ---- the test ---- */

static double env_num(const char *name, double def)
{
    const char *v = getenv(name);
    return v && *v ? atof(v) : def;
}

static void register_load_user(int64_t *id, int i)
{
    const char *h[] = {s.auth, "Content-Type: application/json",
                       "Prefer: wait=30", NULL};
    char email[96], body[256];
    struct of_it_resp r;

    of_it_unique(email, sizeof(email), "scale-load");
    snprintf(body, sizeof(body),
             "{\"email\":\"%s@example.com\",\"username\":\"loaduser%d\"}",
             email, i);
    of_it_http(s.port, "POST", "/v1/users", h, body, &r);
    if (r.status != 201)
        fail_msg("POST /v1/users: %ld %s", r.status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    *id = json_integer_value(json_object_get(j, "user_id"));
    json_decref(j);
    of_it_resp_free(&r);
    assert_true(*id > 0);
}

/* Sleep until \p at_s seconds after \p t0 (monotonic microseconds). */
static void sleep_until(long long t0, double at_s)
{
    long long due = t0 + (long long)(at_s * 1e6);
    for (long long now; (now = of_it_now_us()) < due;)
        usleep((useconds_t)(due - now < 100000 ? due - now : 100000));
}

static void workers_restarted_under_load_apply_exactly_once(void **state)
{
    double secs = env_num("ORDERFLOW_LOAD_SECONDS", 60);
    double rate = env_num("ORDERFLOW_SCALE_RATE", 250);
    struct of_load *l[LOAD_USERS];
    struct of_load_result *r[LOAD_USERS];
    struct of_load_spec spec[LOAD_USERS];
    int64_t users[LOAD_USERS], seeds[SEEDS];
    char prefix[LOAD_USERS][48];
    double stop_s[WORKERS];
    (void)state;

    if (secs < 30)
        secs = 30; /* room for the restarts */
    of_it_sys_init(&s, "scale",
                   (const char *[]){"ORDERFLOW_TOPICS_PARTITIONS=12", NULL});
    for (int i = 0; i < WORKERS; i++) {
        snprintf(workers[i].log, sizeof(workers[i].log), "worker-%c.log",
                 'a' + i);
        proc_start(&workers[i], "commands");
    }
    for (int i = 0; i < RELAYS; i++) {
        snprintf(relays[i].log, sizeof(relays[i].log), "relay-%c.log", 'a' + i);
        proc_start(&relays[i], "outbox");
    }
    of_it_sys_start(&s, OF_IT_API);
    of_it_sys_user(&s);
    of_it_sys_orders(&s, SEEDS, seeds);
    for (int i = 0; i < LOAD_USERS; i++)
        register_load_user(&users[i], i);

    const char *group = getenv("ORDERFLOW_WORKER_GROUP_ID");
    for (int i = 0; i < LOAD_USERS; i++) {
        of_it_unique(prefix[i], sizeof(prefix[i]), "sc");
        spec[i] = (struct of_load_spec){
            .port = s.port, .auth = s.auth, .principal = s.principal,
            .user_id = users[i], .rate = rate / LOAD_USERS,
            .duration_s = secs,
            .weight = {[OF_LOAD_CREATE] = 50, [OF_LOAD_PAY] = 20,
                       [OF_LOAD_REFUND] = 10, [OF_LOAD_CANCEL] = 10,
                       [OF_LOAD_READ] = 10},
            .targets = seeds, .ntargets = SEEDS, .timeout_ms = 20000,
            .key_prefix = prefix[i]};
    }
    of_it_unique(tr.prefix, sizeof(tr.prefix), "scale-user");
    long long t0 = of_it_now_us();
    for (int i = 0; i < LOAD_USERS; i++)
        assert_non_null(l[i] = of_load_start(&spec[i]));
    assert_int_equal(pthread_create(&tr.thread, NULL, traffic_run, NULL), 0);

    /* the restarts, at 10/60, 25/60 and 40/60 of the run; the relay kill
     * at 32/60, between the second and the third */
    static const double at[WORKERS] = {10.0 / 60, 25.0 / 60, 40.0 / 60};
    int relay_killed = 0;
    for (int i = 0; i < WORKERS; i++) {
        if (!relay_killed && at[i] > 32.0 / 60) {
            sleep_until(t0, secs * 32 / 60);
            assert_int_equal(of_it_stop(relays[0].pid, SIGKILL, 10),
                             128 + SIGKILL);
            proc_start(&relays[0], "outbox");
            relay_killed = 1;
            printf("# scale: relay a killed with -9 at %.1f s, started again\n",
                   (double)(of_it_now_us() - t0) / 1e6);
        }
        sleep_until(t0, secs * at[i]);
        long long t1 = of_it_now_us();
        int rc = of_it_stop(workers[i].pid, SIGTERM, 20);
        stop_s[i] = (double)(of_it_now_us() - t1) / 1e6;
        printf("# scale: worker %c stopped (SIGTERM) at %.1f s: exit %d in "
               "%.2f s\n",
               'a' + i, (double)(t1 - t0) / 1e6, rc, stop_s[i]);
        if (rc != 0)
            procs_logs();
        assert_int_equal(rc, 0);
        sleep(DOWN_S);
        proc_start(&workers[i], "commands");
    }

    for (int i = 0; i < LOAD_USERS; i++)
        r[i] = of_load_join(l[i]);
    long long load_end = of_it_now_us();
    atomic_store(&tr.stop, 1);
    pthread_join(tr.thread, NULL);
    /* one log of all the runs, for the statuses and the checker */
    struct of_load_result all;
    assert_int_equal(of_load_merge(&all, r, LOAD_USERS), 0);
    for (int i = 0; i < LOAD_USERS; i++)
        of_load_free(r[i]);
    of_load_print(&all, stdout);
    printf("# scale: user traffic: %d registrations accepted, %ld requests, "
           "%ld not 202%s%s\n",
           tr.n, tr.sent, tr.non202, tr.non202 ? ": " : "", tr.first_error);

    /* drained: both command topics committed to their ends, and no
     * outbox row waiting */
    of_it_wait_caught_up(s.cfg, group, s.cfg->topics.order_commands, 90);
    of_it_wait_caught_up(s.cfg, group, s.cfg->topics.user_commands, 30);
    long backlog = -1;
    while (of_it_now_us() - load_end < 120000000LL) {
        backlog = (long)of_it_db_count(
            &s, "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL AND "
                "? = 1", 1);
        if (backlog == 0)
            break;
        usleep(100000);
    }
    double drain_s = (double)(of_it_now_us() - load_end) / 1e6;
    if (backlog != 0)
        procs_logs();
    assert_int_equal(backlog, 0);

    struct of_check c;
    struct of_check_opts o = {.wait_s = 30};
    int rc = of_check_run(s.cfg, &all, &o, &c);
    of_check_print(&c, stdout);
    if (rc != 0)
        procs_logs();
    assert_int_equal(rc, 0);

    struct of_err err;
    struct of_db *db = of_db_open(s.cfg, &err);
    if (!db)
        fail_msg("MySQL: %s", err.msg);
    long uevents = check_users(db);
    assert_int_equal(check_aggregates(db), 0);
    long long applied = of_it_count(
        db, "SELECT COUNT(*) FROM commands WHERE status = 'applied'", NULL, 0);
    long long outbox = of_it_count(db, "SELECT COUNT(*) FROM outbox", NULL, 0);
    of_db_close(db);

    /* each restarted worker was given partitions again: two non-empty
     * assignments in its log, one per start */
    long assigned[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        assigned[i] = of_it_sys_log_count(&s, workers[i].log, "assigned ") -
                      of_it_sys_log_count(&s, workers[i].log,
                                          "assigned 0 partition");
    }
    double max_stop = 0;
    for (int i = 0; i < WORKERS; i++)
        max_stop = stop_s[i] > max_stop ? stop_s[i] : max_stop;
    printf("# scale: 12 partitions, %d workers, %d relays, %.0f s at %.0f/s: "
           "%zu operations (%ld ok, %ld failed, %ld unknown), %ld order "
           "writes accepted -> %ld applied + %ld rejected, %d users "
           "registered, %lld commands applied in all, %lld events (%ld order "
           "+ %ld user read back); %d worker restarts (SIGTERM exits in at "
           "most %.2f s), 1 relay kill -9; drained %.1f s after the load; "
           "accepted -> applied p50 %.3f s, p99 %.3f s, max %.3f s; "
           "assignments per worker %ld/%ld/%ld\n",
           WORKERS, RELAYS, secs, rate, all.n, all.count[OF_LOAD_OK],
           all.count[OF_LOAD_FAIL], all.count[OF_LOAD_UNKNOWN], c.writes_ok,
           c.applied, c.rejected, tr.n, applied, outbox, c.events, uevents,
           WORKERS, max_stop, drain_s, c.apply_p50_s, c.apply_p99_s,
           c.apply_max_s, assigned[0], assigned[1], assigned[2]);

    assert_int_equal(all.count[OF_LOAD_OK], (long)all.n);
    assert_int_equal(all.id_mismatch, 0);
    assert_int_equal(all.skipped, 0);
    assert_int_equal(tr.non202, 0);
    assert_true(tr.n >= (int)secs); /* about 4 a second */
    assert_true(c.applied >= c.writes_ok / 2); /* most creates and some more */
    for (int i = 0; i < WORKERS; i++)
        assert_true(assigned[i] >= 2);

    /* I6: nothing died on its own; everything stops cleanly */
    for (int i = 0; i < WORKERS; i++)
        assert_int_equal(of_it_stop(workers[i].pid, SIGTERM, 15), 0);
    for (int i = 0; i < RELAYS; i++)
        assert_int_equal(of_it_stop(relays[i].pid, SIGTERM, 15), 0);
    assert_int_equal(of_it_sys_stop(&s, OF_IT_API, SIGTERM, 15), 0);

    /* The checks must be able to fail: lose the ban event of a user who
     * was banned and unbanned (a gap at version 2, one event fewer than
     * applied commands) and make one order of two creates. */
    int64_t victim = 0;
    for (int i = 0; i < tr.n && !victim; i++)
        victim = tr.u[i].state == 2 ? tr.u[i].user_id : 0;
    assert_true(victim > 0);
    char sql[512];
    snprintf(sql, sizeof(sql),
             "DELETE FROM %s.outbox WHERE aggregatetype = 'user' AND "
             "aggregateid = '%" PRId64 "' AND version = 2",
             of_it_env("ORDERFLOW_TEST_MYSQL_DATABASE"), victim);
    of_it_root_sql(sql);
    snprintf(sql, sizeof(sql),
             "UPDATE %s.commands SET resource_id = %" PRId64 " WHERE "
             "command_type = 'CreateOrder' AND status = 'applied' AND "
             "resource_id <> %" PRId64 " LIMIT 1",
             of_it_env("ORDERFLOW_TEST_MYSQL_DATABASE"), seeds[0], seeds[0]);
    of_it_root_sql(sql);
    assert_non_null(db = of_db_open(s.cfg, &err));
    assert_int_equal(check_aggregates(db), 3); /* gap, count, creates */
    of_db_close(db);
    free(all.ops);
    of_it_sys_down(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(workers_restarted_under_load_apply_exactly_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
