/*
 * libFuzzer target: any bytes as what Redis answers, fed to hiredis's reply
 * reader (redisReaderFeed, in two pieces), then every reply it makes
 * through our hash -> struct mapping of the read model (of_model.h) for a
 * user, an order and a command (TESTPLAN, fuzz_redis_reply).
 *
 * Nothing crashes, whatever shape the reply has (nested arrays, integers
 * and nils where a hash has bulk strings). A mapped user or order has a
 * version that was written as a strict decimal (^[1-9][0-9]*$: no sign,
 * blank or trailing byte, within int64_t) and equals it, and ids that are
 * the key's.
 *
 * hiredis 0.14.1 callocs whatever a multi-bulk count up to INT_MAX claims
 * (no maxelements before 1.0.0), so this reader refuses counts above 4096
 * as a newer hiredis would; the Redis we read is our own.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "fuzz.h"
#include "of_model.h"

#define ID         42
#define COMMAND_ID "0b6b0d5e-3f1c-4a2b-9c7d-1e2f3a4b5c6d"
#define MAX_COUNT  4096
#define MAX_REPLIES 16

static redisReplyObjectFunctions fns;
static void *(*default_array)(const redisReadTask *, int);

static void *capped_array(const redisReadTask *task, int elements)
{
    if (elements > MAX_COUNT)
        return NULL; /* the reader reports out of memory */
    return default_array(task, elements);
}

/* The first value of \p field, as hget() finds it, or NULL. */
static const redisReply *field(const redisReply *r, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i];
        if (f->type == REDIS_REPLY_STRING && (size_t)f->len == n &&
            memcmp(f->str, name, n) == 0)
            return r->element[i + 1];
    }
    return NULL;
}

/* ^[1-9][0-9]*$ within int64_t, and its value */
static int strict_positive(const redisReply *v, int64_t *out)
{
    __int128 x = 0;

    if (!v || v->type != REDIS_REPLY_STRING || v->len < 1 || v->len > 19 ||
        v->str[0] == '0')
        return 0;
    for (size_t i = 0; i < v->len; i++) {
        if (v->str[i] < '0' || v->str[i] > '9')
            return 0;
        x = x * 10 + (v->str[i] - '0');
    }
    if (x > INT64_MAX)
        return 0;
    *out = (int64_t)x;
    return 1;
}

static void check_versioned(const redisReply *r, const char *id_field,
                            int64_t version)
{
    int64_t want = 0, id = 0;

    FUZZ_CHECK(r->type == REDIS_REPLY_ARRAY && r->element, "not a hash");
    FUZZ_CHECK(strict_positive(field(r, "version"), &want) && want == version,
               "version %lld was not written strictly", (long long)version);
    FUZZ_CHECK(strict_positive(field(r, id_field), &id) && id == ID,
               "%s is not %d", id_field, ID);
}

static void map(const redisReply *r)
{
    static struct of_user u;
    static struct of_order o;
    static struct of_cmd_status c;
    struct of_err err;
    int64_t version = 0;

    if (of_model_user_from_hash(r, ID, &u, &version, &err) == OF_OK) {
        check_versioned(r, "user_id", version);
        FUZZ_CHECK(u.user_id == ID, "user %lld", (long long)u.user_id);
    } else {
        FUZZ_CHECK(err.rc == OF_EINVAL && strstr(err.msg, "orderflow:user:42"),
                   "%s", err.msg);
    }
    if (of_model_order_from_hash(r, ID, &o, &version, &err) == OF_OK) {
        check_versioned(r, "order_id", version);
        FUZZ_CHECK(o.order_id == ID && o.user_id > 0 &&
                       o.total_amount >= 1 && o.total_amount <= 9999999999LL,
                   "order %lld user %lld amount %lld", (long long)o.order_id,
                   (long long)o.user_id, (long long)o.total_amount);
    } else {
        FUZZ_CHECK(err.rc == OF_EINVAL &&
                       strstr(err.msg, "orderflow:order:42"),
                   "%s", err.msg);
    }
    if (of_model_cmd_from_hash(r, COMMAND_ID, &c, &err) == OF_OK)
        FUZZ_CHECK(r->type == REDIS_REPLY_ARRAY &&
                       strlen(c.command_id) < sizeof(c.command_id),
                   "command");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    redisReader *reader = redisReaderCreate();
    size_t cut;
    void *reply = NULL;

    FUZZ_CHECK(reader, "out of memory");
    if (!default_array) {
        fns = *reader->fn;
        default_array = fns.createArray;
        fns.createArray = capped_array;
    }
    reader->fn = &fns;
    cut = size ? data[0] % (size + 1) : 0;
    if (redisReaderFeed(reader, (const char *)data, cut) != REDIS_OK ||
        redisReaderFeed(reader, (const char *)data + cut, size - cut) !=
            REDIS_OK)
        goto out;
    for (int i = 0; i < MAX_REPLIES; i++) {
        if (redisReaderGetReply(reader, &reply) != REDIS_OK || !reply)
            break;
        map(reply);
        freeReplyObject(reply);
        reply = NULL;
    }
out:
    redisReaderFree(reader);
    return 0;
}
