/*
 * of_avro: see of_avro.h; the handle, the framing and the public calls.
 *
 * Decoding runs in three steps, and only the second lets avro-c near the
 * bytes:
 * 1. of_avro_walk() (of_avro_check.c) checks the datum without allocating;
 * 2. avro_value_read() into a generic value: safe now, since every
 *    allocation it makes is bounded by a length the walk saw fit in the
 *    input;
 * 3. of_avro_get_*() copy into the caller's struct, of_avro_check_*()
 *    validate the limits.
 * Encoding runs of_avro_check_*() first, then of_avro_put_*() and
 * avro_value_write(), so it never writes what decoding would refuse.
 */
#include "of_avro.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>

#include "of_avro_int.h"
#include "of_crc64.h"
#include "of_embed.h"

#define AVRO_MARKER_0 0xC3
#define AVRO_MARKER_1 0x01

struct of_avro {
    avro_schema_t schema[OF_AVRO_SCHEMA_COUNT];      /* one ref each, ours */
    avro_value_iface_t *iface[OF_AVRO_SCHEMA_COUNT]; /* one ref each, ours */
    uint64_t fp[OF_AVRO_SCHEMA_COUNT];
};

static const struct {
    const char *file; /* in of_embedded_avro */
    const char *name; /* Avro full name */
} schema_info[OF_AVRO_SCHEMA_COUNT] = {
    [OF_AVRO_USER_COMMAND] = {"UserCommand.avsc", "orderflow.UserCommand"},
    [OF_AVRO_ORDER_COMMAND] = {"OrderCommand.avsc", "orderflow.OrderCommand"},
    [OF_AVRO_USER_EVENT] = {"UserEvent.avsc", "orderflow.UserEvent"},
    [OF_AVRO_ORDER_EVENT] = {"OrderEvent.avsc", "orderflow.OrderEvent"},
};

/* ------------------------------------------------------------------------
 * Enum names
 */

static const char *const order_type_names[] = {"vip", "jewelry"};
static const char *const order_status_names[] = {"pending", "paid", "refunded",
                                                 "cancelled"};
static const char *const user_cmd_names[] = {"RegisterUser", "BanUser",
                                             "UnbanUser"};
static const char *const order_cmd_names[] = {"CreateOrder", "PayOrder",
                                              "RefundOrder", "CancelOrder"};
static const char *const user_event_names[] = {"UserRegistered", "UserBanned",
                                               "UserUnbanned"};
static const char *const order_event_names[] = {
    "OrderCreated", "OrderPaid", "OrderRefunded", "OrderCancelled"};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *enum_name(const char *const *names, int count, int v)
{
    return v >= 0 && v < count ? names[v] : "unknown";
}

static int
enum_parse(const char *const *names, int count, const char *s, int *out)
{
    for (int i = 0; s && i < count; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return OF_OK;
        }
    }
    return OF_EINVAL;
}

const char *of_avro_order_type_name(enum of_order_type type)
{
    return enum_name(order_type_names, COUNT(order_type_names), (int)type);
}

int of_avro_order_type_parse(const char *s, enum of_order_type *out)
{
    int v;
    int rc = enum_parse(order_type_names, COUNT(order_type_names), s, &v);

    if (rc == OF_OK)
        *out = (enum of_order_type)v;
    return rc;
}

const char *of_avro_order_status_name(enum of_order_status status)
{
    return enum_name(order_status_names, COUNT(order_status_names),
                     (int)status);
}

int of_avro_order_status_parse(const char *s, enum of_order_status *out)
{
    int v;
    int rc = enum_parse(order_status_names, COUNT(order_status_names), s, &v);

    if (rc == OF_OK)
        *out = (enum of_order_status)v;
    return rc;
}

const char *of_avro_user_cmd_type_name(enum of_user_cmd_type type)
{
    return enum_name(user_cmd_names, COUNT(user_cmd_names), (int)type);
}

int of_avro_user_cmd_type_parse(const char *s, enum of_user_cmd_type *out)
{
    int v;
    int rc = enum_parse(user_cmd_names, COUNT(user_cmd_names), s, &v);

    if (rc == OF_OK)
        *out = (enum of_user_cmd_type)v;
    return rc;
}

const char *of_avro_order_cmd_type_name(enum of_order_cmd_type type)
{
    return enum_name(order_cmd_names, COUNT(order_cmd_names), (int)type);
}

int of_avro_order_cmd_type_parse(const char *s, enum of_order_cmd_type *out)
{
    int v;
    int rc = enum_parse(order_cmd_names, COUNT(order_cmd_names), s, &v);

    if (rc == OF_OK)
        *out = (enum of_order_cmd_type)v;
    return rc;
}

const char *of_avro_user_event_type_name(enum of_user_event_type type)
{
    return enum_name(user_event_names, COUNT(user_event_names), (int)type);
}

int of_avro_user_event_type_parse(const char *s, enum of_user_event_type *out)
{
    int v;
    int rc = enum_parse(user_event_names, COUNT(user_event_names), s, &v);

    if (rc == OF_OK)
        *out = (enum of_user_event_type)v;
    return rc;
}

const char *of_avro_order_event_type_name(enum of_order_event_type type)
{
    return enum_name(order_event_names, COUNT(order_event_names), (int)type);
}

int of_avro_order_event_type_parse(const char *s, enum of_order_event_type *out)
{
    int v;
    int rc = enum_parse(order_event_names, COUNT(order_event_names), s, &v);

    if (rc == OF_OK)
        *out = (enum of_order_event_type)v;
    return rc;
}

/* ------------------------------------------------------------------------
 * Framing and the public codec
 */

struct codec {
    int (*check)(const void *obj, struct of_err *err);
    void (*put)(struct of_avro_ctx *c, avro_value_t *val, const void *obj);
    void (*get)(struct of_avro_ctx *c, avro_value_t *val, void *obj);
    size_t size; /* of the struct */
};

static const struct codec codecs[OF_AVRO_SCHEMA_COUNT] = {
    [OF_AVRO_USER_COMMAND] = {of_avro_check_user_cmd, of_avro_put_user_cmd,
                              of_avro_get_user_cmd, sizeof(struct of_user_cmd)},
    [OF_AVRO_ORDER_COMMAND] = {of_avro_check_order_cmd, of_avro_put_order_cmd,
                               of_avro_get_order_cmd,
                               sizeof(struct of_order_cmd)},
    [OF_AVRO_USER_EVENT] = {of_avro_check_user_event, of_avro_put_user_event,
                            of_avro_get_user_event,
                            sizeof(struct of_user_event)},
    [OF_AVRO_ORDER_EVENT] = {of_avro_check_order_event, of_avro_put_order_event,
                             of_avro_get_order_event,
                             sizeof(struct of_order_event)},
};

static int new_value(const struct of_avro *avro,
                     enum of_avro_schema id,
                     avro_value_t *val,
                     struct of_err *err)
{
    if (avro_generic_value_new(avro->iface[id], val) != 0) {
        val->iface = NULL;
        return of_err_set(err, OF_EAGAIN, "could not allocate %s value: %s",
                          schema_info[id].name, avro_strerror());
    }
    return OF_OK;
}

/* C3 01, the fingerprint little-endian, then \p val's binary datum. */
static int write_value(const struct of_avro *avro,
                       enum of_avro_schema id,
                       avro_value_t *val,
                       void **out,
                       size_t *out_len,
                       struct of_err *err)
{
    avro_writer_t writer = NULL;
    unsigned char *buf = NULL;
    size_t size;
    int rc = OF_OK;

    if (avro_value_sizeof(val, &size) != 0) {
        rc = of_err_set(err, OF_EFATAL, "cannot size %s value: %s",
                        schema_info[id].name, avro_strerror());
        goto out;
    }
    buf = malloc(OF_AVRO_HEADER_SIZE + size);
    if (buf)
        writer = avro_writer_memory((char *)buf + OF_AVRO_HEADER_SIZE,
                                    (int64_t)size);
    if (!writer) {
        rc = of_err_set(err, OF_EAGAIN, "out of memory");
        goto out;
    }
    buf[0] = AVRO_MARKER_0;
    buf[1] = AVRO_MARKER_1;
    for (int i = 0; i < 8; i++)
        buf[2 + i] = (unsigned char)(avro->fp[id] >> (8 * i));
    if (avro_value_write(writer, val) != 0) {
        rc = of_err_set(err, OF_EFATAL, "cannot encode %s: %s",
                        schema_info[id].name, avro_strerror());
        goto out;
    }
    *out = buf;
    *out_len = OF_AVRO_HEADER_SIZE + size;
    buf = NULL;
out:
    if (writer)
        avro_writer_free(writer);
    free(buf);
    return rc;
}

static int encode_any(const struct of_avro *avro,
                      enum of_avro_schema id,
                      const void *obj,
                      void **out,
                      size_t *out_len,
                      struct of_err *err)
{
    struct of_avro_ctx c = {OF_OK, err};
    avro_value_t val = {NULL, NULL};
    int rc;

    *out = NULL;
    *out_len = 0;
    rc = codecs[id].check(obj, err);
    if (rc != OF_OK)
        goto out;
    rc = new_value(avro, id, &val, err);
    if (rc != OF_OK)
        goto out;
    codecs[id].put(&c, &val, obj);
    rc = c.rc;
    if (rc == OF_OK)
        rc = write_value(avro, id, &val, out, out_len, err);
out:
    if (val.iface)
        avro_value_decref(&val);
    return rc;
}

/* The framing of a value meant to be \p id: marker, a fingerprint we know,
 * and the fingerprint of \p id rather than of another of our schemas. */
static int check_frame(const struct of_avro *avro,
                       enum of_avro_schema id,
                       const void *buf,
                       size_t len,
                       struct of_err *err)
{
    const unsigned char *p = buf;
    enum of_avro_schema got = id;
    uint64_t fp = 0;

    switch (of_avro_peek(avro, buf, len, &got, &fp)) {
    case OF_AVRO_FRAME_NONE:
        if (len >= 2 && p[0] == AVRO_MARKER_0 && p[1] == AVRO_MARKER_1)
            return of_err_set(
                err, OF_EINVAL,
                "truncated %s: %zu bytes, the single-object header alone is 10",
                schema_info[id].name, len);
        return of_err_set(
            err, OF_EINVAL,
            "not an Avro single-object value: missing the C3 01 marker");
    case OF_AVRO_FRAME_UNKNOWN:
        return of_err_set(err, OF_EINVAL,
                          "unknown schema fingerprint 0x%016" PRIx64
                          ": expected %s",
                          fp, schema_info[id].name);
    case OF_AVRO_FRAME_KNOWN:
        break;
    }
    if (got != id)
        return of_err_set(err, OF_EINVAL, "expected %s, got %s",
                          schema_info[id].name, schema_info[got].name);
    return OF_OK;
}

/* Walk, then let avro-c read: see the top of this file. */
static int read_value(const struct of_avro *avro,
                      enum of_avro_schema id,
                      const void *buf,
                      size_t len,
                      avro_value_t *val,
                      struct of_err *err)
{
    const char *datum = (const char *)buf + OF_AVRO_HEADER_SIZE;
    avro_reader_t reader;
    int rc;

    rc = of_avro_walk(avro->schema[id], buf, len, schema_info[id].name, err);
    if (rc != OF_OK)
        return rc;
    rc = new_value(avro, id, val, err);
    if (rc != OF_OK)
        return rc;
    reader = avro_reader_memory(datum, (int64_t)(len - OF_AVRO_HEADER_SIZE));
    if (!reader)
        return of_err_set(err, OF_EAGAIN, "out of memory");
    if (avro_value_read(reader, val) != 0)
        rc = of_err_set(err, OF_EINVAL, "could not decode %s: %s",
                        schema_info[id].name, avro_strerror());
    avro_reader_free(reader);
    return rc;
}

static int decode_any(const struct of_avro *avro,
                      enum of_avro_schema id,
                      const void *buf,
                      size_t len,
                      void *obj,
                      struct of_err *err)
{
    struct of_avro_ctx c = {OF_OK, err};
    avro_value_t val = {NULL, NULL};
    int rc;

    memset(obj, 0, codecs[id].size);
    rc = check_frame(avro, id, buf, len, err);
    if (rc != OF_OK)
        goto out;
    rc = read_value(avro, id, buf, len, &val, err);
    if (rc != OF_OK)
        goto out;
    codecs[id].get(&c, &val, obj);
    rc = c.rc;
    if (rc == OF_OK)
        rc = codecs[id].check(obj, err);
out:
    if (val.iface)
        avro_value_decref(&val);
    if (rc != OF_OK)
        memset(obj, 0, codecs[id].size);
    return rc;
}

enum of_avro_frame of_avro_peek(const struct of_avro *avro,
                                const void *buf,
                                size_t len,
                                enum of_avro_schema *schema,
                                uint64_t *fp)
{
    const unsigned char *p = buf;
    uint64_t v = 0;

    if (len < OF_AVRO_HEADER_SIZE || p[0] != AVRO_MARKER_0 ||
        p[1] != AVRO_MARKER_1)
        return OF_AVRO_FRAME_NONE;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[2 + i];
    if (fp)
        *fp = v;
    for (int i = 0; i < OF_AVRO_SCHEMA_COUNT; i++) {
        if (avro->fp[i] != v)
            continue;
        if (schema)
            *schema = (enum of_avro_schema)i;
        return OF_AVRO_FRAME_KNOWN;
    }
    return OF_AVRO_FRAME_UNKNOWN;
}

/* ------------------------------------------------------------------------
 * Lifecycle
 */

static int
load_schema(struct of_avro *avro, enum of_avro_schema id, struct of_err *err)
{
    const char *file = schema_info[id].file;
    const struct of_embedded *e = of_embed_find(of_embedded_avro, file);
    char full[128];
    const char *ns;
    struct of_err ferr;

    if (!e)
        return of_err_set(
            err, OF_EFATAL,
            "cannot find schema \"%s\" among the embedded schemas", file);
    if (avro_schema_from_json_length(e->data, e->len, &avro->schema[id])) {
        avro->schema[id] = NULL;
        return of_err_set(err, OF_EFATAL, "cannot parse schema \"%s\": %s",
                          file, avro_strerror());
    }
    ns = avro_schema_namespace(avro->schema[id]);
    snprintf(full, sizeof(full), "%s.%s", ns ? ns : "",
             avro_schema_name(avro->schema[id]));
    if (strcmp(full, schema_info[id].name) != 0)
        return of_err_set(err, OF_EFATAL,
                          "cannot use schema \"%s\": it names %s, not %s", file,
                          full, schema_info[id].name);
    if (!of_avro_walkable(avro->schema[id]))
        return of_err_set(err, OF_EFATAL,
                          "cannot use schema \"%s\": it has a type the bounded "
                          "reader does not check",
                          file);
    if (of_crc64_schema_fingerprint(e->data, e->len, &avro->fp[id], &ferr))
        return of_err_set(err, OF_EFATAL,
                          "cannot fingerprint schema \"%s\": %s", file,
                          ferr.msg);
    avro->iface[id] = avro_generic_class_from_schema(avro->schema[id]);
    if (!avro->iface[id])
        return of_err_set(err, OF_EFATAL,
                          "cannot make a value class for schema \"%s\": %s",
                          file, avro_strerror());
    return OF_OK;
}

struct of_avro *of_avro_new(struct of_err *err)
{
    struct of_avro *avro = calloc(1, sizeof(*avro));

    if (!avro) {
        of_err_set(err, OF_EFATAL, "out of memory");
        return NULL;
    }
    for (int i = 0; i < OF_AVRO_SCHEMA_COUNT; i++) {
        if (load_schema(avro, (enum of_avro_schema)i, err) != OF_OK) {
            of_avro_destroy(avro);
            return NULL;
        }
        /* peek() tells schemas apart by fingerprint alone. */
        for (int j = 0; j < i; j++) {
            if (avro->fp[j] != avro->fp[i])
                continue;
            of_err_set(err, OF_EFATAL,
                       "cannot tell %s from %s: same fingerprint",
                       schema_info[i].name, schema_info[j].name);
            of_avro_destroy(avro);
            return NULL;
        }
    }
    return avro;
}

void of_avro_destroy(struct of_avro *avro)
{
    if (!avro)
        return;
    for (int i = 0; i < OF_AVRO_SCHEMA_COUNT; i++) {
        if (avro->iface[i])
            avro_value_iface_decref(avro->iface[i]);
        if (avro->schema[i])
            avro_schema_decref(avro->schema[i]);
    }
    free(avro);
}

uint64_t of_avro_fingerprint(const struct of_avro *avro,
                             enum of_avro_schema schema)
{
    return avro->fp[schema];
}

const char *of_avro_schema_name(enum of_avro_schema schema)
{
    if (schema < 0 || schema >= OF_AVRO_SCHEMA_COUNT)
        return "unknown";
    return schema_info[schema].name;
}

int of_avro_encode_user_cmd(const struct of_avro *avro,
                            const struct of_user_cmd *cmd,
                            void **out,
                            size_t *out_len,
                            struct of_err *err)
{
    return encode_any(avro, OF_AVRO_USER_COMMAND, cmd, out, out_len, err);
}

int of_avro_encode_order_cmd(const struct of_avro *avro,
                             const struct of_order_cmd *cmd,
                             void **out,
                             size_t *out_len,
                             struct of_err *err)
{
    return encode_any(avro, OF_AVRO_ORDER_COMMAND, cmd, out, out_len, err);
}

int of_avro_encode_user_event(const struct of_avro *avro,
                              const struct of_user_event *ev,
                              void **out,
                              size_t *out_len,
                              struct of_err *err)
{
    return encode_any(avro, OF_AVRO_USER_EVENT, ev, out, out_len, err);
}

int of_avro_encode_order_event(const struct of_avro *avro,
                               const struct of_order_event *ev,
                               void **out,
                               size_t *out_len,
                               struct of_err *err)
{
    return encode_any(avro, OF_AVRO_ORDER_EVENT, ev, out, out_len, err);
}

int of_avro_decode_user_cmd(const struct of_avro *avro,
                            const void *buf,
                            size_t len,
                            struct of_user_cmd *cmd,
                            struct of_err *err)
{
    return decode_any(avro, OF_AVRO_USER_COMMAND, buf, len, cmd, err);
}

int of_avro_decode_order_cmd(const struct of_avro *avro,
                             const void *buf,
                             size_t len,
                             struct of_order_cmd *cmd,
                             struct of_err *err)
{
    return decode_any(avro, OF_AVRO_ORDER_COMMAND, buf, len, cmd, err);
}

int of_avro_decode_user_event(const struct of_avro *avro,
                              const void *buf,
                              size_t len,
                              struct of_user_event *ev,
                              struct of_err *err)
{
    return decode_any(avro, OF_AVRO_USER_EVENT, buf, len, ev, err);
}

int of_avro_decode_order_event(const struct of_avro *avro,
                               const void *buf,
                               size_t len,
                               struct of_order_event *ev,
                               struct of_err *err)
{
    return decode_any(avro, OF_AVRO_ORDER_EVENT, buf, len, ev, err);
}
