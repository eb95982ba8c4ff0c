/* of_err: see of_err.h. */
#include "of_err.h"

#include <stdarg.h>
#include <stdio.h>

int of_err_set(struct of_err *err, enum of_rc rc, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return rc;
    err->rc = rc;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return rc;
}

void of_err_clear(struct of_err *err)
{
    err->rc = OF_OK;
    err->msg[0] = '\0';
}

const char *of_rc_name(int rc)
{
    switch (rc) {
    case OF_OK:
        return "ok";
    case OF_EAGAIN:
        return "transient";
    case OF_EINVAL:
        return "invalid";
    case OF_EFATAL:
        return "fatal";
    default:
        return "unknown";
    }
}
