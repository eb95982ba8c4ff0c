/*
 * fault_check: the invariant check most fault tests end with. Header-only
 * (static inline): each fault test is one executable, and of_check lives in
 * the of_load library, which the of_it library does not link. Include after
 * <cmocka.h>.
 */
#ifndef FAULT_CHECK_H
#define FAULT_CHECK_H

#include <stdio.h>

#include "of_check.h"
#include "of_it_sys.h"
#include "of_load.h"

/* I1-I5 for the load \p r against \p s (of_check_run, waiting up to
 * \p wait_s for the system to catch up), the figures printed to stdout;
 * when the check fails, the tails of the process logs to stderr, then the
 * test fails. \p c has the counts for the test's own assertions. */
static inline void fault_check(const struct of_it_sys *s,
                               const struct of_load_result *r,
                               int wait_s,
                               struct of_check *c)
{
    struct of_check_opts o = {.wait_s = wait_s};
    int rc = of_check_run(s->cfg, r, &o, c);

    of_check_print(c, stdout);
    if (rc != 0)
        of_it_sys_logs(s, 30);
    assert_int_equal(rc, 0);
}

/* Stop the load \p l (spec.retry_unknown: of_load_join then retries each
 * unknown op once, appending the retry after the run's own ops), print its
 * figures; \p retried gets how many retries were appended, so the run's
 * own ops are the first r->n - *retried. @returns the result. */
static inline struct of_load_result *fault_stop_load(struct of_load *l,
                                                     long *retried)
{
    of_load_stop(l);
    struct of_load_result *r = of_load_join(l); /* unknowns retried once */
    of_load_print(r, stdout);
    *retried = 0;
    for (size_t i = 0; i < r->n; i++)
        *retried += r->ops[i].retried;
    return r;
}

#endif
