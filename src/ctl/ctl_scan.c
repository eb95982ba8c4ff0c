/* ctl_scan: see ctl_scan.h. The reader itself is of_dlq_scan() (of_dlq.h),
 * which the API's dead-letter endpoints share; this is its orderflowctl
 * face: ten-second requests, 30 s without a message fails, errors printed
 * with ctl_fail. */
#include "ctl_scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "of_dlq.h"

int ctl_parse_time(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);

    if (!p)
        return -1;
    if (*p == '.') /* fractions of a second are dropped */
        while (*++p >= '0' && *p <= '9')
            ;
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
        return -1;
    *ms = (int64_t)timegm(&tm) * 1000;
    return 0;
}

int ctl_scan(const struct of_config *cfg, const struct of_dlq_range *range,
             of_dlq_scan_cb cb, void *arg, int64_t *total)
{
    const struct of_dlq_opts opts = {.request_ms = 10000,
                                     .idle_ms = 30000,
                                     .flush_ms = 30000,
                                     .client = "orderflowctl-scan"};
    struct of_err err;

    if (of_dlq_scan(cfg, range, &opts, cb, arg, total, &err) != OF_OK) {
        ctl_fail("%s", err.msg);
        return 1;
    }
    return 0;
}
