/*
 * of_check: the invariants of TESTPLAN.md, checked after a load or fault run
 * against what the system stored, from the log of an of_load run:
 *   I1 every ok write ends applied or rejected in MySQL within wait_s;
 *   I2 one commands row per command; each order's applied commands, in the
 *      order its partition delivered them, replayed through the state
 *      machine (pending -> paid -> refunded, pending -> cancelled) give
 *      exactly the stored row: status, amount (the create's), version;
 *   I3 a command whose every attempt failed (4xx, 503) is not in MySQL;
 *   I4 every order's Redis hash equals its MySQL row (within wait_s);
 *   I5 every order's events on the order-events topic carry versions
 *      1..version with no gap, in order (a repeat must repeat its
 *      event_id), ending at the row's version (within wait_s).
 * Unknown outcomes may go either way; they are counted.
 */
#ifndef OF_CHECK_H
#define OF_CHECK_H

#include <stdio.h>

#include "of_config.h"
#include "of_load.h"

struct of_check_opts {
    int wait_s;       /* N of TESTPLAN: 5 steady, 10 after a fault */
    int skip_redis;   /* 1: leave out I4 */
    int skip_events;  /* 1: leave out I5 (no outbox relay running) */
};

struct of_check {
    long writes_ok, writes_fail, writes_unknown;
    long applied, rejected;           /* commands rows of ok writes */
    long unknown_applied;             /* unknown writes that were applied */
    long orders;                      /* orders checked */
    long events;                      /* order events read */
    /* accepted_at -> completed_at of the commands found (the API's clock
     * to the worker's): how long applying took, faults included */
    double apply_p50_s, apply_p99_s, apply_max_s;
    /* violations, by invariant */
    long i1_missing, i2_mismatch, i3_fail_applied, i4_mismatch, i5_mismatch;
    long violations;
    char first[8][256];               /* the first violations, for the log */
    int nfirst;
};

/**
 * @returns 0 when every invariant holds, 1 when one does not (details in
 *          \p out), -1 when the check itself could not run.
 */
int of_check_run(const struct of_config *cfg, const struct of_load_result *r,
                 const struct of_check_opts *opts, struct of_check *out);

void of_check_print(const struct of_check *c, FILE *f);

#endif
