/*
 * of_err: the one error convention of orderflow.
 *
 * Functions return an enum of_rc and fill the caller's struct of_err;
 * constructors return NULL and fill it. Callers act on the class of the
 * error, not on lists of codes: OF_EAGAIN is retried with backoff, OF_EINVAL
 * becomes a 4xx or a dead letter, OF_EFATAL ends the process.
 */
#ifndef OF_ERR_H
#define OF_ERR_H

enum of_rc {
    OF_OK = 0,
    OF_EAGAIN = -1, /* transient: the same call may succeed later */
    OF_EINVAL = -2, /* this input will never succeed: 4xx or dead letter */
    OF_EFATAL = -3, /* the process cannot go on: log, exit non-zero */
};

struct of_err {
    enum of_rc rc;
    char msg[256];
};

/**
 * @brief Fill \p err (may be NULL) with \p rc and a formatted message.
 * @returns \p rc, so callers write: return of_err_set(err, OF_EINVAL, ...);
 */
int of_err_set(struct of_err *err, enum of_rc rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** @brief Reset \p err to OF_OK with an empty message. */
void of_err_clear(struct of_err *err);

/** @returns a static name for \p rc ("ok", "transient", ...). */
const char *of_rc_name(int rc);

#endif
