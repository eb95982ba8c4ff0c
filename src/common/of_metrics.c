/* of_metrics: see of_metrics.h. */
#include "of_metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 4
static const double buckets[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
                                 0.2,   0.5,   1,     2,    5,    10};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

enum kind { COUNTER, GAUGE, HISTOGRAM };

struct of_metric_series {
    struct of_metric_series *next;
    char *values[MAX_LABELS];
    _Atomic uint64_t value; /* a double's bits: counter, gauge; sum */
    _Atomic uint64_t count;
    _Atomic uint64_t bucket[NBUCKETS];
};

struct of_metric {
    struct of_metric *next;
    struct of_metrics *registry;
    enum kind kind;
    char *name, *help;
    int nlabels;
    char *labels[MAX_LABELS];
    struct of_metric_series *series;
};

struct of_metrics {
    pthread_mutex_t lock;
    struct of_metric *head, *tail;
};

struct of_metrics *of_metrics_new(void)
{
    struct of_metrics *m = calloc(1, sizeof(*m));

    if (m)
        pthread_mutex_init(&m->lock, NULL);
    return m;
}

void of_metrics_destroy(struct of_metrics *m)
{
    if (!m)
        return;
    for (struct of_metric *f = m->head, *fn; f; f = fn) {
        fn = f->next;
        for (struct of_metric_series *s = f->series, *sn; s; s = sn) {
            sn = s->next;
            for (int i = 0; i < f->nlabels; i++)
                free(s->values[i]);
            free(s);
        }
        for (int i = 0; i < f->nlabels; i++)
            free(f->labels[i]);
        free(f->name);
        free(f->help);
        free(f);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static struct of_metric *declare(struct of_metrics *m, enum kind kind,
                                 const char *name, const char *help,
                                 const char *labels)
{
    struct of_metric *f = calloc(1, sizeof(*f));

    if (!f)
        abort(); /* at start-up only: no memory means no process */
    f->registry = m;
    f->kind = kind;
    f->name = strdup(name);
    f->help = strdup(help);
    if (labels) {
        char *copy = strdup(labels), *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t && f->nlabels < MAX_LABELS;
             t = strtok_r(NULL, ",", &save))
            f->labels[f->nlabels++] = strdup(t);
        free(copy);
    }
    pthread_mutex_lock(&m->lock);
    if (m->tail)
        m->tail->next = f;
    else
        m->head = f;
    m->tail = f;
    pthread_mutex_unlock(&m->lock);
    return f;
}

struct of_metric *of_metrics_counter(struct of_metrics *m, const char *name,
                                     const char *help, const char *labels)
{
    return declare(m, COUNTER, name, help, labels);
}

struct of_metric *of_metrics_gauge(struct of_metrics *m, const char *name,
                                   const char *help, const char *labels)
{
    return declare(m, GAUGE, name, help, labels);
}

struct of_metric *of_metrics_histogram(struct of_metrics *m, const char *name,
                                       const char *help, const char *labels)
{
    return declare(m, HISTOGRAM, name, help, labels);
}

static int same_values(const struct of_metric *f,
                       const struct of_metric_series *s,
                       const char *const *values)
{
    for (int i = 0; i < f->nlabels; i++) {
        if (strcmp(s->values[i], values[i]) != 0)
            return 0;
    }
    return 1;
}

struct of_metric_series *of_metrics_series(struct of_metric *f,
                                           const char *const *values)
{
    struct of_metric_series *s;

    pthread_mutex_lock(&f->registry->lock);
    for (s = f->series; s; s = s->next) {
        if (same_values(f, s, values))
            goto out;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    for (int i = 0; i < f->nlabels; i++)
        s->values[i] = strdup(values[i]);
    s->next = f->series;
    f->series = s;
out:
    pthread_mutex_unlock(&f->registry->lock);
    return s;
}

static double bits_to_double(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof(d));
    return d;
}

static uint64_t double_to_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof(b));
    return b;
}

/* An atomic add on a double kept as its bits: compare-and-swap until no
 * other thread changed it in between (C11 atomics have no double add
 * without libatomic). */
static void atomic_add_double(_Atomic uint64_t *p, double v)
{
    uint64_t old = atomic_load(p);

    while (!atomic_compare_exchange_weak(p, &old,
                                         double_to_bits(bits_to_double(old) +
                                                        v)))
        ;
}

void of_metrics_add(struct of_metric_series *s, double v)
{
    atomic_add_double(&s->value, v);
}

void of_metrics_set(struct of_metric_series *s, double v)
{
    atomic_store(&s->value, double_to_bits(v));
}

void of_metrics_observe(struct of_metric_series *s, double seconds)
{
    for (size_t i = 0; i < NBUCKETS; i++) {
        if (seconds <= buckets[i]) {
            s->bucket[i]++;
            break;
        }
    }
    s->count++;
    atomic_add_double(&s->value, seconds);
}

double of_metrics_value(const struct of_metric_series *s)
{
    return bits_to_double(atomic_load(&s->value));
}

struct buf {
    char *p;
    size_t len, cap;
};

static void bprintf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void bprintf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0,
                      fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)n;
        char *p = realloc(b->p, cap);
        if (!p)
            return;
        b->p = p;
        b->cap = cap;
    }
}

/* {a="x",b="y"} plus an optional extra label (le); label values are ours
 * (routes, statuses, topics), never client input, but are escaped anyway */
static void labels(struct buf *b, const struct of_metric *f,
                   const struct of_metric_series *s, const char *le)
{
    if (f->nlabels == 0 && !le)
        return;
    bprintf(b, "{");
    for (int i = 0; i < f->nlabels; i++) {
        bprintf(b, "%s%s=\"", i ? "," : "", f->labels[i]);
        for (const char *c = s->values[i]; *c; c++)
            bprintf(b, "%s%c", (*c == '"' || *c == '\\') ? "\\" : "",
                    *c == '\n' ? ' ' : *c);
        bprintf(b, "\"");
    }
    if (le)
        bprintf(b, "%sle=\"%s\"", f->nlabels ? "," : "", le);
    bprintf(b, "}");
}

static void render_histogram(struct buf *b, const struct of_metric *f,
                             const struct of_metric_series *s)
{
    uint64_t cum = 0;
    char le[32];

    for (size_t i = 0; i < NBUCKETS; i++) {
        cum += s->bucket[i];
        snprintf(le, sizeof(le), "%g", buckets[i]);
        bprintf(b, "%s_bucket", f->name);
        labels(b, f, s, le);
        bprintf(b, " %llu\n", (unsigned long long)cum);
    }
    bprintf(b, "%s_bucket", f->name);
    labels(b, f, s, "+Inf");
    bprintf(b, " %llu\n%s_sum", (unsigned long long)s->count, f->name);
    labels(b, f, s, NULL);
    bprintf(b, " %.6f\n%s_count", of_metrics_value(s), f->name);
    labels(b, f, s, NULL);
    bprintf(b, " %llu\n", (unsigned long long)s->count);
}

char *of_metrics_render(struct of_metrics *m, size_t *len)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    struct buf b = {0};

    pthread_mutex_lock(&m->lock);
    for (struct of_metric *f = m->head; f; f = f->next) {
        bprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                types[f->kind]);
        for (struct of_metric_series *s = f->series; s; s = s->next) {
            if (f->kind == HISTOGRAM) {
                render_histogram(&b, f, s);
                continue;
            }
            bprintf(&b, "%s", f->name);
            labels(&b, f, s, NULL);
            bprintf(&b, " %.17g\n", of_metrics_value(s));
        }
    }
    pthread_mutex_unlock(&m->lock);
    if (!b.p)
        bprintf(&b, "%s", "");
    if (len)
        *len = b.len;
    return b.p;
}
