/*
 * worker_fault: fault points for the fault tests (TESTPLAN: F2 and the
 * like). WORKER_FAULT("after_db_commit") aborts the process there when
 * ORDERFLOW_FAULT names that point. Compiled in only by -DOF_FAULTS=ON
 * (test builds); in any other build it is nothing at all.
 */
#ifndef WORKER_FAULT_H
#define WORKER_FAULT_H

#ifdef OF_FAULTS
#include <stdlib.h>
#include <string.h>

#include "of_log.h"

static inline void worker_fault(const char *point)
{
    const char *want = getenv("ORDERFLOW_FAULT");

    if (want && strcmp(want, point) == 0) {
        of_error("fault point %s reached: aborting (ORDERFLOW_FAULT)", point);
        abort();
    }
}
#define WORKER_FAULT(point) worker_fault(point)
#else
#define WORKER_FAULT(point) ((void)0)
#endif

#endif
