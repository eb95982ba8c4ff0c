/* of_check: see of_check.h. */
#include "of_check.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_scan.h"
#include "of_avro.h"
#include "of_db.h"
#include "of_model.h"
#include "of_money.h"
#include "of_redis.h"

/* ctl_scan.c reports through orderflowctl's ctl_fail. */
void ctl_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("of_check: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* One distinct command of the log (all attempts with the same key). */
struct cmd {
    const char *id;
    enum of_load_kind kind;
    int any_ok, any_unknown;
    int64_t target, cents;
    int found; /* in commands */
    char status[16];
    int64_t resource_id;
    int64_t apply_us; /* completed_at - accepted_at */
};

/* One order's commands replayed through the state machine (I2). */
struct replay {
    enum of_order_status status;
    int64_t version;
    int created, bad;
    char why[160];
};

struct order {
    int64_t id;
    int64_t cents; /* -1: its create is not in the log */
    /* from MySQL */
    int found;
    struct of_order row;
    int64_t version;
    /* from the event topic */
    int64_t ev_max, ev_next;
    int ev_bad;
    char ev_last_id[40];
    struct replay rp; /* its commands through the state machine (I2) */
};

struct ctx {
    const struct of_config *cfg;
    struct of_db *db;
    struct of_check *out;
    struct cmd *cmds;
    size_t ncmds;
    struct order *orders;
    size_t norders;
    struct of_avro *avro;
};

static void violation(struct of_check *c, long *counter, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void violation(struct of_check *c, long *counter, const char *fmt, ...)
{
    va_list ap;

    (*counter)++;
    c->violations++;
    if (c->nfirst < 8) {
        va_start(ap, fmt);
        vsnprintf(c->first[c->nfirst++], sizeof(c->first[0]), fmt, ap);
        va_end(ap);
    }
}

static int64_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_cmd(const void *a, const void *b)
{
    return strcmp(((const struct cmd *)a)->id, ((const struct cmd *)b)->id);
}

static int cmp_order(const void *a, const void *b)
{
    int64_t x = ((const struct order *)a)->id, y = ((const struct order *)b)->id;
    return (x > y) - (x < y);
}

static struct order *find_order(struct ctx *x, int64_t id)
{
    struct order key = {.id = id};
    return bsearch(&key, x->orders, x->norders, sizeof(key), cmp_order);
}

/* The distinct commands of the log, sorted by id. */
static int collect_cmds(struct ctx *x, const struct of_load_result *r)
{
    size_t n = 0;

    x->cmds = calloc(r->n ? r->n : 1, sizeof(*x->cmds));
    if (!x->cmds)
        return -1;
    for (size_t i = 0; i < r->n; i++) {
        const struct of_load_op *op = &r->ops[i];
        if (op->kind == OF_LOAD_READ || !op->command_id[0])
            continue;
        x->cmds[n].id = op->command_id;
        x->cmds[n].kind = op->kind;
        x->cmds[n].target = op->target;
        x->cmds[n].cents = op->cents;
        x->cmds[n].any_ok = op->outcome == OF_LOAD_OK;
        x->cmds[n].any_unknown = op->outcome == OF_LOAD_UNKNOWN;
        n++;
    }
    qsort(x->cmds, n, sizeof(*x->cmds), cmp_cmd);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (w > 0 && strcmp(x->cmds[w - 1].id, x->cmds[i].id) == 0) {
            x->cmds[w - 1].any_ok |= x->cmds[i].any_ok;
            x->cmds[w - 1].any_unknown |= x->cmds[i].any_unknown;
            continue;
        }
        x->cmds[w++] = x->cmds[i];
    }
    x->ncmds = w;
    for (size_t i = 0; i < w; i++) {
        if (x->cmds[i].any_ok)
            x->out->writes_ok++;
        else if (x->cmds[i].any_unknown)
            x->out->writes_unknown++;
        else
            x->out->writes_fail++;
    }
    return 0;
}

static int cmd_row_cb(void *arg, int ncols, char **v, const unsigned long *l)
{
    struct cmd *c = arg;
    (void)ncols;
    (void)l;
    c->found = 1;
    snprintf(c->status, sizeof(c->status), "%s", v[0] ? v[0] : "");
    c->resource_id = v[1] ? strtoll(v[1], NULL, 10) : 0;
    c->apply_us = v[2] ? strtoll(v[2], NULL, 10) : 0;
    return 1;
}

static struct cmd *find_cmd(struct ctx *x, const char *id)
{
    struct cmd key = {.id = id};
    return bsearch(&key, x->cmds, x->ncmds, sizeof(key), cmp_cmd);
}

/* A row of the bulk lookup: id, status, resource_id, apply time. */
static int bulk_cmd_cb(void *arg, int ncols, char **v, const unsigned long *l)
{
    struct ctx *x = arg;
    struct cmd *c = v[0] ? find_cmd(x, v[0]) : NULL;

    if (c && !c->found)
        cmd_row_cb(c, ncols - 1, v + 1, l + 1);
    return 0;
}

/* I1 and I3: look every command up, waiting up to wait_s for ok ones. A
 * run that knows when it began reads every command accepted since then in
 * one query; otherwise one query per command. */
static int check_commands(struct ctx *x, int64_t since_s, int wait_s)
{
    struct of_err err;
    int64_t deadline = mono_s() + wait_s;

    for (;;) {
        long missing = 0;
        if (since_s > 0 &&
            of_db_query(x->db,
                        "SELECT command_id, status, resource_id, "
                        "TIMESTAMPDIFF(MICROSECOND, accepted_at, completed_at) "
                        "FROM commands WHERE accepted_at >= FROM_UNIXTIME(?)",
                        (struct of_db_param[]){OF_DB_I(since_s)}, 1,
                        bulk_cmd_cb, x, &err) != OF_OK) {
            fprintf(stderr, "of_check: %s\n", err.msg);
            return -1;
        }
        for (size_t i = 0; i < x->ncmds; i++) {
            struct cmd *c = &x->cmds[i];
            if (c->found)
                continue;
            if (since_s <= 0 &&
                of_db_query(x->db,
                            "SELECT status, resource_id, TIMESTAMPDIFF("
                            "MICROSECOND, accepted_at, completed_at) "
                            "FROM commands WHERE command_id = ?",
                            (struct of_db_param[]){OF_DB_S(c->id)}, 1,
                            cmd_row_cb, c, &err) != OF_OK) {
                fprintf(stderr, "of_check: %s\n", err.msg);
                return -1;
            }
            if (!c->found && c->any_ok)
                missing++;
        }
        if (missing == 0 || mono_s() >= deadline)
            break;
        sleep(1);
    }
    int64_t *lat = calloc(x->ncmds ? x->ncmds : 1, sizeof(*lat));
    size_t nlat = 0;
    for (size_t i = 0; i < x->ncmds; i++) {
        struct cmd *c = &x->cmds[i];
        if (c->found && lat)
            lat[nlat++] = c->apply_us;
        if (c->any_ok) {
            if (!c->found)
                violation(x->out, &x->out->i1_missing,
                          "I1: %s command %s answered 202 but is not in "
                          "MySQL after %d s",
                          of_load_kind_name(c->kind), c->id, wait_s);
            else if (strcmp(c->status, "applied") == 0)
                x->out->applied++;
            else
                x->out->rejected++;
        } else if (c->any_unknown) {
            x->out->unknown_applied += c->found;
        } else if (c->found) {
            violation(x->out, &x->out->i3_fail_applied,
                      "I3: %s command %s failed every attempt but is %s",
                      of_load_kind_name(c->kind), c->id, c->status);
        }
    }
    if (nlat) {
        qsort(lat, nlat, sizeof(*lat), cmp_i64);
        x->out->apply_p50_s = (double)lat[nlat / 2] / 1e6;
        x->out->apply_p99_s = (double)lat[(nlat * 99) / 100] / 1e6;
        x->out->apply_max_s = (double)lat[nlat - 1] / 1e6;
    }
    free(lat);
    return 0;
}

/* The orders to check: every target, and every applied create's order. */
static int collect_orders(struct ctx *x)
{
    size_t n = 0;

    x->orders = calloc(x->ncmds ? x->ncmds : 1, sizeof(*x->orders));
    if (!x->orders)
        return -1;
    for (size_t i = 0; i < x->ncmds; i++) {
        struct cmd *c = &x->cmds[i];
        int64_t id = c->kind == OF_LOAD_CREATE
                         ? (c->found && strcmp(c->status, "applied") == 0
                                ? c->resource_id
                                : 0)
                         : c->target;
        if (id <= 0)
            continue;
        x->orders[n].id = id;
        x->orders[n].cents = c->kind == OF_LOAD_CREATE ? c->cents : -1;
        n++;
    }
    qsort(x->orders, n, sizeof(*x->orders), cmp_order);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (w > 0 && x->orders[w - 1].id == x->orders[i].id) {
            if (x->orders[i].cents >= 0) {
                if (x->orders[w - 1].cents >= 0)
                    violation(x->out, &x->out->i2_mismatch,
                              "I2: order %" PRId64 " was made by two creates",
                              x->orders[i].id);
                x->orders[w - 1].cents = x->orders[i].cents;
            }
            continue;
        }
        x->orders[w++] = x->orders[i];
    }
    x->norders = w;
    x->out->orders = (long)w;
    return 0;
}

static void replay_step(struct replay *rp, const char *type, const char *st)
{
    enum of_order_cmd_type t;
    int applied, valid;
    enum of_order_status to;

    if (!type || !st || of_avro_order_cmd_type_parse(type, &t) != OF_OK)
        return;
    applied = strcmp(st, "applied") == 0;
    switch (t) {
    case OF_CREATE_ORDER:
        valid = !rp->created;
        rp->created |= applied;
        to = OF_ORDER_STATUS_PENDING;
        break;
    case OF_PAY_ORDER:
        valid = rp->status == OF_ORDER_STATUS_PENDING;
        to = OF_ORDER_STATUS_PAID;
        break;
    case OF_REFUND_ORDER:
        valid = rp->status == OF_ORDER_STATUS_PAID;
        to = OF_ORDER_STATUS_REFUNDED;
        break;
    default:
        valid = rp->status == OF_ORDER_STATUS_PENDING;
        to = OF_ORDER_STATUS_CANCELLED;
        break;
    }
    if (valid != applied && !rp->bad) {
        rp->bad = 1;
        snprintf(rp->why, sizeof(rp->why),
                 "%s at version %" PRId64 " in status %s was %s", type,
                 rp->version, of_avro_order_status_name(rp->status), st);
    }
    if (applied && t != OF_CREATE_ORDER) {
        rp->status = to;
        rp->version++;
    }
}

/* orders rows: order_id, user_id, order_status, total_amount, version */
static int order_row_cb(void *arg, int ncols, char **v, const unsigned long *l)
{
    struct ctx *x = arg;
    struct order *o = v[0] ? find_order(x, strtoll(v[0], NULL, 10)) : NULL;
    (void)ncols;
    (void)l;

    if (!o)
        return 0;
    o->found = 1;
    o->row.order_id = o->id;
    o->row.user_id = v[1] ? strtoll(v[1], NULL, 10) : 0;
    if (!v[2] || of_avro_order_status_parse(v[2], &o->row.order_status) != OF_OK ||
        !v[3] || of_money_parse(v[3], &o->row.total_amount) != OF_OK)
        o->found = 0;
    o->version = v[4] ? strtoll(v[4], NULL, 10) : 0;
    return 0;
}

/* commands rows of orders: resource_id, command_type, status, in delivery
 * order per order (the create first; the rest share the order's partition) */
static int replay_row_cb(void *arg, int ncols, char **v, const unsigned long *l)
{
    struct ctx *x = arg;
    struct order *o = v[0] ? find_order(x, strtoll(v[0], NULL, 10)) : NULL;
    (void)ncols;
    (void)l;

    if (o)
        replay_step(&o->rp, v[1], v[2]);
    return 0;
}

/* I2 for every order: two queries over the range of order ids. */
static int check_orders_model(struct ctx *x)
{
    struct of_err err;

    if (x->norders == 0)
        return 0;
    struct of_db_param range[] = {OF_DB_I(x->orders[0].id),
                                  OF_DB_I(x->orders[x->norders - 1].id)};
    for (size_t i = 0; i < x->norders; i++)
        x->orders[i].rp = (struct replay){.status = OF_ORDER_STATUS_PENDING,
                                          .version = 1};
    if (of_db_query(x->db,
                    "SELECT order_id, user_id, order_status, total_amount, "
                    "version FROM orders WHERE order_id BETWEEN ? AND ?",
                    range, 2, order_row_cb, x, &err) != OF_OK ||
        of_db_query(x->db,
                    "SELECT resource_id, command_type, status FROM commands "
                    "WHERE resource_type = 'order' AND resource_id BETWEEN ? "
                    "AND ? ORDER BY resource_id, command_type <> "
                    "'CreateOrder', kafka_partition, kafka_offset",
                    range, 2, replay_row_cb, x, &err) != OF_OK) {
        fprintf(stderr, "of_check: %s\n", err.msg);
        return -1;
    }
    for (size_t i = 0; i < x->norders; i++) {
        struct order *o = &x->orders[i];
        struct replay *rp = &o->rp;
        if (!o->found) {
            violation(x->out, &x->out->i2_mismatch,
                      "I2: order %" PRId64 " is not in MySQL", o->id);
            continue;
        }
        if (rp->bad)
            violation(x->out, &x->out->i2_mismatch, "I2: order %" PRId64 ": %s",
                      o->id, rp->why);
        if (rp->status != o->row.order_status || rp->version != o->version)
            violation(x->out, &x->out->i2_mismatch,
                      "I2: order %" PRId64 " is %s v%" PRId64
                      " in MySQL; its commands make %s v%" PRId64,
                      o->id, of_avro_order_status_name(o->row.order_status),
                      o->version, of_avro_order_status_name(rp->status),
                      rp->version);
        if (o->cents >= 0 && o->cents != o->row.total_amount)
            violation(x->out, &x->out->i2_mismatch,
                      "I2: order %" PRId64 " has %" PRId64
                      " cents; it was created with %" PRId64,
                      o->id, o->row.total_amount, o->cents);
    }
    return 0;
}

/* I4: Redis equals MySQL for every order (retried up to the deadline). */
static int check_redis(struct ctx *x, int64_t deadline)
{
    struct of_err err;
    struct of_redis *rd = of_redis_new(x->cfg, &err);
    size_t i = 0;

    if (!rd) {
        fprintf(stderr, "of_check: %s\n", err.msg);
        return -1;
    }
    while (i < x->norders) {
        struct order *o = &x->orders[i];
        struct of_order ro;
        int64_t rv = 0;
        int found = 0, rc;
        if (!o->found) {
            i++;
            continue;
        }
        rc = of_model_redis_get_order(rd, o->id, &ro, &rv, &found, &err);
        int same = rc == OF_OK && found && rv == o->version &&
                   ro.order_status == o->row.order_status &&
                   ro.total_amount == o->row.total_amount &&
                   ro.user_id == o->row.user_id;
        if (same) {
            i++;
            continue;
        }
        if (mono_s() < deadline) {
            usleep(200000);
            continue;
        }
        violation(x->out, &x->out->i4_mismatch,
                  "I4: order %" PRId64 ": Redis %s%s v%" PRId64
                  ", MySQL %s v%" PRId64,
                  o->id, rc != OF_OK ? "error " : (found ? "" : "missing "),
                  found ? of_avro_order_status_name(ro.order_status) : "",
                  rv, of_avro_order_status_name(o->row.order_status),
                  o->version);
        i++;
    }
    of_redis_destroy(rd);
    return 0;
}

static int event_cb(void *arg, const rd_kafka_message_t *m)
{
    struct ctx *x = arg;
    struct of_order_event ev;
    struct of_err err;
    struct order *o;

    if (!m->payload ||
        of_avro_decode_order_event(x->avro, m->payload, m->len, &ev, &err) !=
            OF_OK)
        return 0;
    x->out->events++;
    if (!(o = find_order(x, ev.order.order_id)))
        return 0;
    if (ev.version == o->ev_next) {
        o->ev_next++;
        snprintf(o->ev_last_id, sizeof(o->ev_last_id), "%s", ev.event_id);
    } else if (ev.version == o->ev_next - 1 &&
               strcmp(ev.event_id, o->ev_last_id) == 0) {
        /* a duplicate delivery of the last event: allowed */
    } else if (ev.version < o->ev_next - 1) {
        /* an older duplicate (a relay redelivered a batch): allowed only
         * because versions are unique per order in the outbox; order is
         * what we check, so it must not be newer than what we saw */
    } else if (!o->ev_bad) {
        o->ev_bad = 1;
        o->ev_max = ev.version;
    }
    return 0;
}

/* I5: scan the order events; retried (the relay lags) up to deadline. */
static int check_events(struct ctx *x, int64_t deadline)
{
    struct of_err err;
    struct of_dlq_range range = {.topic = x->cfg->topics.order_events,
                              .partition = -1,
                              .from_offset = -1,
                              .from_ms = -1,
                              .to_offset = -1,
                              .to_ms = -1};
    long bad;

    if (!(x->avro = of_avro_new(&err))) {
        fprintf(stderr, "of_check: %s\n", err.msg);
        return -1;
    }
    for (;;) {
        x->out->events = 0;
        for (size_t i = 0; i < x->norders; i++) {
            x->orders[i].ev_next = 1;
            x->orders[i].ev_bad = 0;
            x->orders[i].ev_last_id[0] = '\0';
        }
        if (ctl_scan(x->cfg, &range, event_cb, x, NULL) != 0)
            return -1;
        bad = 0;
        for (size_t i = 0; i < x->norders; i++) {
            struct order *o = &x->orders[i];
            if (o->found && (o->ev_bad || o->ev_next - 1 != o->version))
                bad++;
        }
        if (bad == 0 || mono_s() >= deadline)
            break;
        sleep(1);
    }
    for (size_t i = 0; i < x->norders; i++) {
        struct order *o = &x->orders[i];
        if (!o->found)
            continue;
        if (o->ev_bad)
            violation(x->out, &x->out->i5_mismatch,
                      "I5: order %" PRId64 ": event version %" PRId64
                      " after version %" PRId64 " (gap or out of order)",
                      o->id, o->ev_max, o->ev_next - 1);
        else if (o->ev_next - 1 != o->version)
            violation(x->out, &x->out->i5_mismatch,
                      "I5: order %" PRId64 " is at version %" PRId64
                      " but its events end at %" PRId64,
                      o->id, o->version, o->ev_next - 1);
    }
    return 0;
}

int of_check_run(const struct of_config *cfg, const struct of_load_result *r,
                 const struct of_check_opts *opts, struct of_check *out)
{
    struct ctx x = {.cfg = cfg, .out = out};
    struct of_err err;
    int rc = -1;
    int64_t deadline;

    memset(out, 0, sizeof(*out));
    if (!(x.db = of_db_open(cfg, &err))) {
        fprintf(stderr, "of_check: %s\n", err.msg);
        return -1;
    }
    if (collect_cmds(&x, r) != 0 ||
        check_commands(&x, r->started_us / 1000000 - 5, opts->wait_s) != 0 ||
        collect_orders(&x) != 0 || check_orders_model(&x) != 0)
        goto out;
    deadline = mono_s() + opts->wait_s;
    if (!opts->skip_redis && check_redis(&x, deadline) != 0)
        goto out;
    if (!opts->skip_events && check_events(&x, deadline) != 0)
        goto out;
    rc = out->violations ? 1 : 0;
out:
    of_avro_destroy(x.avro);
    of_db_close(x.db);
    free(x.cmds);
    free(x.orders);
    return rc;
}

void of_check_print(const struct of_check *c, FILE *f)
{
    fprintf(f,
            "check: writes %ld ok (%ld applied, %ld rejected), %ld failed, "
            "%ld unknown (%ld of them applied); %ld orders, %ld events read\n",
            c->writes_ok, c->applied, c->rejected, c->writes_fail,
            c->writes_unknown, c->unknown_applied, c->orders, c->events);
    fprintf(f,
            "check: accepted -> applied: p50 %.3f s, p99 %.3f s, max %.3f s\n",
            c->apply_p50_s, c->apply_p99_s, c->apply_max_s);
    fprintf(f,
            "check: violations: I1 %ld, I2 %ld, I3 %ld, I4 %ld, I5 %ld\n",
            c->i1_missing, c->i2_mismatch, c->i3_fail_applied, c->i4_mismatch,
            c->i5_mismatch);
    for (int i = 0; i < c->nfirst; i++)
        fprintf(f, "check:   %s\n", c->first[i]);
}
