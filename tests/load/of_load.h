/*
 * of_load: the open-loop load generator of TESTPLAN.md. Requests are sent
 * at their scheduled times whether or not earlier ones have answered
 * (libcurl multi, one thread), so a stalled server shows up as latency and
 * outstanding requests, not as a politely slower client. Every operation
 * carries a unique Idempotency-Key, so its command id is known whatever the
 * answer (UUIDv5 of principal and key, CONTRACT §3), and is logged as
 *   ok      (202, or 200 for a read),
 *   fail    (any 4xx, 503: certainly not stored), or
 *   unknown (504, a timeout, a reset, or 409 idempotency_key_in_flight
 *           after a crash: it may or may not be applied),
 * for of_check to compare with MySQL, Redis and the event topics.
 */
#ifndef OF_LOAD_H
#define OF_LOAD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum of_load_kind {
    OF_LOAD_CREATE, /* POST /v1/orders */
    OF_LOAD_PAY,    /* POST /v1/orders/{id}/pay */
    OF_LOAD_REFUND, /* POST /v1/orders/{id}/refund */
    OF_LOAD_CANCEL, /* POST /v1/orders/{id}/cancel */
    OF_LOAD_READ,   /* GET /v1/orders/{id} */
    OF_LOAD_KINDS,
};

enum of_load_outcome { OF_LOAD_OK, OF_LOAD_FAIL, OF_LOAD_UNKNOWN };

struct of_load_op {
    int64_t seq;
    enum of_load_kind kind;
    enum of_load_outcome outcome;
    long status;         /* HTTP status; 0 for a transport error */
    char key[64];        /* Idempotency-Key (empty for reads) */
    char command_id[40]; /* UUIDv5(principal, key) */
    int64_t target;      /* the order of a pay/refund/cancel/read */
    int64_t cents;       /* a create's total_amount */
    int64_t start_us;    /* since the run began */
    int64_t latency_us;
    char error[64];      /* the error code of the body, or curl's */
    int retried;         /* of_load_retry_unknown sent it again */
};

struct of_load_spec {
    int port;              /* API on 127.0.0.1 */
    const char *auth;      /* "Authorization: Bearer ..." */
    const char *principal; /* "user:<sub>" of that token */
    int64_t user_id;       /* whom the orders are for */
    double rate;           /* operations per second */
    double duration_s;
    long max_ops;          /* stop after sending this many; 0: no limit */
    int max_inflight;      /* 0: 1,000 */
    long timeout_ms;       /* per request; 0: 15,000 */
    /* Relative weights of each kind; all 0 means creates only. */
    int weight[OF_LOAD_KINDS];
    /* Orders pay/refund/cancel/read pick from (uniformly). */
    const int64_t *targets;
    size_t ntargets;
    const char *key_prefix; /* Idempotency-Key prefix, unique per run */
    int retry_unknown;      /* after the run, retry each unknown op once
                               with the same key (F3, F6) */
};

struct of_load_result {
    struct of_load_op *ops;
    size_t n;
    double elapsed_s;
    int64_t started_us;    /* wall clock (CLOCK_REALTIME) at the start; 0:
                              unknown (of_check then looks commands up one
                              by one) */
    long skipped;          /* not sent: max_inflight outstanding */
    long stalled_windows;  /* 1 s windows with requests outstanding and
                              no completion */
    long id_mismatch;      /* 202 bodies whose command_id was not ours */
    long count[3];         /* by outcome */
};

struct of_load;

/** @brief Start the run in a thread of its own. @returns NULL on error. */
struct of_load *of_load_start(const struct of_load_spec *spec);

/** @brief Ask the run to stop sending (outstanding requests still end). */
void of_load_stop(struct of_load *l);

/** @returns the operations completed so far (for "kill at 100 answered"). */
long of_load_completed(const struct of_load *l);

/** @brief Wait for the end; the result is the caller's (of_load_free). */
struct of_load_result *of_load_join(struct of_load *l);

void of_load_free(struct of_load_result *r);

/**
 * @brief One log of several runs (\p parts, \p n of them, left as they
 *        are) in \p all: their ops one after another, counts summed, the
 *        earliest start and the longest run. all->ops is malloc()ed (free
 *        it). @returns 0, or -1 when out of memory.
 */
int of_load_merge(struct of_load_result *all,
                  struct of_load_result *const *parts, int n);

/**
 * @brief Send every unknown write of \p r not yet retried once more, with
 *        the same key and body, and wait for the answers, which are appended
 *        to \p r (their start_us counts from the retry). For a restart
 *        between the run and its retries (F3); call again for the retries
 *        that are still unknown.
 */
void of_load_retry_unknown(const struct of_load_spec *spec,
                           struct of_load_result *r);

/**
 * @brief Latency percentile (0..100) in milliseconds over the operations of
 *        \p kind (-1: all) that answered \p status (0: any). -1 if none.
 */
double of_load_percentile(const struct of_load_result *r, int kind,
                          long status, double p);

/** @brief One summary line per kind and status, and the stall figures. */
void of_load_print(const struct of_load_result *r, FILE *f);

/** @brief The log: one line per operation (see of_load_read_log). */
int of_load_write_log(const struct of_load_result *r, const char *path);
struct of_load_result *of_load_read_log(const char *path);

const char *of_load_kind_name(enum of_load_kind k);
const char *of_load_outcome_name(enum of_load_outcome o);

#endif
