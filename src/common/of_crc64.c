/*
 * of_crc64: see of_crc64.h. The canonical form is written straight from the
 * jansson tree into a bounded buffer; names and symbols must be Avro names,
 * so nothing written ever needs a JSON escape (the STRINGS rule).
 */
#include "of_crc64.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define CRC64_AVRO_EMPTY 0xc15d213aa4d7a795ULL
#define PCF_MAX_LEN      ((size_t)1 << 20) /* far above any schema of ours */
#define PCF_MAX_DEPTH    64  /* nesting, against stack exhaustion */
#define PCF_MAX_NAME     512 /* a full name, with its namespace */

static uint64_t crc64_table[256];
static pthread_once_t crc64_once = PTHREAD_ONCE_INIT;

static void crc64_init(void)
{
    for (int i = 0; i < 256; i++) {
        uint64_t fp = (uint64_t)i;

        for (int j = 0; j < 8; j++)
            fp = (fp >> 1) ^ (CRC64_AVRO_EMPTY & -(fp & 1));
        crc64_table[i] = fp;
    }
}

uint64_t of_crc64_avro(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint64_t fp = CRC64_AVRO_EMPTY;

    pthread_once(&crc64_once, crc64_init);
    for (size_t i = 0; i < len; i++)
        fp = (fp >> 8) ^ crc64_table[(fp ^ p[i]) & 0xff];
    return fp;
}

/* The output under construction; the first error sticks and stops output. */
struct pcf {
    char *buf;
    size_t len;
    size_t cap;
    int rc;
    struct of_err *err;
};

static const char *const primitives[] = {
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
};

static void put(struct pcf *p, const char *s)
{
    size_t n = strlen(s);
    char *grown;

    if (p->rc != OF_OK)
        return;
    if (!p->buf || p->len + n + 1 > p->cap) {
        size_t cap = (p->cap ? p->cap * 2 : 256) + n;

        if (cap > PCF_MAX_LEN) {
            p->rc = OF_EINVAL;
            of_err_set(p->err, OF_EINVAL,
                       "schema is too large: canonical form exceeds %zu bytes",
                       PCF_MAX_LEN);
            return;
        }
        grown = realloc(p->buf, cap);
        if (!grown) {
            p->rc = OF_EAGAIN;
            of_err_set(p->err, OF_EAGAIN, "out of memory");
            return;
        }
        p->buf = grown;
        p->cap = cap;
    }
    memcpy(p->buf + p->len, s, n + 1);
    p->len += n;
}

static void fail(struct pcf *p, const char *what, const char *subject)
{
    if (p->rc != OF_OK)
        return;
    of_err_set(p->err, OF_EINVAL, "invalid schema: %s \"%.64s\"", what,
               subject);
    p->rc = OF_EINVAL;
}

/* An Avro name: [A-Za-z_][A-Za-z0-9_]*, and with dots between, a full name. */
static bool is_name(const char *s, bool dotted)
{
    bool start = true;

    for (; *s; s++) {
        char c = *s;
        bool alpha =
            (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';

        if (dotted && c == '.' && !start) {
            start = true;
            continue;
        }
        if (!alpha && (start || c < '0' || c > '9'))
            return false;
        start = false;
    }
    return !start;
}

static bool is_primitive(const char *s)
{
    for (size_t i = 0; i < sizeof(primitives) / sizeof(primitives[0]); i++) {
        if (strcmp(s, primitives[i]) == 0)
            return true;
    }
    return false;
}

/* FULLNAMES: a dotted name is already full; otherwise it takes \p ns. */
static void full_name(struct pcf *p,
                      const char *name,
                      const char *ns,
                      char out[PCF_MAX_NAME])
{
    int n;

    if (strchr(name, '.') || !ns || !*ns)
        n = snprintf(out, PCF_MAX_NAME, "%s", name);
    else
        n = snprintf(out, PCF_MAX_NAME, "%s.%s", ns, name);
    if (n < 0 || n >= PCF_MAX_NAME)
        fail(p, "name too long", name);
    else if (!is_name(out, true))
        fail(p, "bad name", out);
}

static void put_quoted(struct pcf *p, const char *s)
{
    put(p, "\"");
    put(p, s);
    put(p, "\"");
}

static void emit(struct pcf *p, json_t *s, const char *ns, int depth);

static void
emit_record_fields(struct pcf *p, json_t *fields, const char *ns, int depth)
{
    size_t i;
    json_t *field;

    if (!json_is_array(fields)) {
        fail(p, "record without fields", "fields");
        return;
    }
    put(p, ",\"fields\":[");
    json_array_foreach(fields, i, field)
    {
        const char *name = json_string_value(json_object_get(field, "name"));

        if (!name || !is_name(name, false)) {
            fail(p, "bad field name", name ? name : "(none)");
            return;
        }
        put(p, i ? ",{\"name\":" : "{\"name\":");
        put_quoted(p, name);
        put(p, ",\"type\":");
        emit(p, json_object_get(field, "type"), ns, depth + 1);
        put(p, "}");
    }
    put(p, "]");
}

static void emit_enum_symbols(struct pcf *p, json_t *symbols)
{
    size_t i;
    json_t *sym;

    if (!json_is_array(symbols)) {
        fail(p, "enum without symbols", "symbols");
        return;
    }
    put(p, ",\"symbols\":[");
    json_array_foreach(symbols, i, sym)
    {
        const char *name = json_string_value(sym);

        if (!name || !is_name(name, false)) {
            fail(p, "bad enum symbol", name ? name : "(none)");
            return;
        }
        if (i)
            put(p, ",");
        put_quoted(p, name);
    }
    put(p, "]");
}

/* record, enum, fixed: {"name":FULLNAME,"type":KIND,<fields|symbols|size>} */
static void emit_named(
    struct pcf *p, json_t *s, const char *kind, const char *ns, int depth)
{
    const char *name = json_string_value(json_object_get(s, "name"));
    json_t *own_ns = json_object_get(s, "namespace");
    char full[PCF_MAX_NAME];
    char inner_ns[PCF_MAX_NAME];
    char num[32];
    char *dot;

    if (!name) {
        fail(p, "named type without name", kind);
        return;
    }
    if (json_is_string(own_ns))
        ns = json_string_value(own_ns);
    full_name(p, name, ns, full);
    if (p->rc != OF_OK)
        return;
    /* Names inside a record resolve against the record's own namespace. */
    snprintf(inner_ns, sizeof(inner_ns), "%s", full);
    dot = strrchr(inner_ns, '.');
    *(dot ? dot : inner_ns) = '\0';
    put(p, "{\"name\":");
    put_quoted(p, full);
    put(p, ",\"type\":");
    put_quoted(p, kind);
    if (strcmp(kind, "record") == 0) {
        emit_record_fields(p, json_object_get(s, "fields"), inner_ns, depth);
    } else if (strcmp(kind, "enum") == 0) {
        emit_enum_symbols(p, json_object_get(s, "symbols"));
    } else {
        json_t *size = json_object_get(s, "size");

        if (!json_is_integer(size) || json_integer_value(size) < 0) {
            fail(p, "fixed without a size", full);
            return;
        }
        snprintf(num, sizeof(num), ",\"size\":%" JSON_INTEGER_FORMAT,
                 json_integer_value(size));
        put(p, num);
    }
    put(p, "}");
}

/* An object: a primitive in long form, a complex type, or a name reference. */
static void emit_object(struct pcf *p, json_t *s, const char *ns, int depth)
{
    const char *type = json_string_value(json_object_get(s, "type"));
    char full[PCF_MAX_NAME];

    if (!type) {
        fail(p, "object without a string type", "type");
    } else if (is_primitive(type)) {
        put_quoted(p, type);
    } else if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0) {
        emit_named(p, s, "record", ns, depth);
    } else if (strcmp(type, "enum") == 0 || strcmp(type, "fixed") == 0) {
        emit_named(p, s, type, ns, depth);
    } else if (strcmp(type, "array") == 0) {
        put(p, "{\"type\":\"array\",\"items\":");
        emit(p, json_object_get(s, "items"), ns, depth + 1);
        put(p, "}");
    } else if (strcmp(type, "map") == 0) {
        put(p, "{\"type\":\"map\",\"values\":");
        emit(p, json_object_get(s, "values"), ns, depth + 1);
        put(p, "}");
    } else {
        full_name(p, type, ns, full);
        put_quoted(p, full);
    }
}

static void emit(struct pcf *p, json_t *s, const char *ns, int depth)
{
    char full[PCF_MAX_NAME];
    size_t i;
    json_t *branch;

    if (depth > PCF_MAX_DEPTH) {
        fail(p, "nested too deeply", "type");
    } else if (json_is_string(s)) {
        const char *name = json_string_value(s);

        if (is_primitive(name)) {
            put_quoted(p, name);
            return;
        }
        full_name(p, name, ns, full);
        put_quoted(p, full);
    } else if (json_is_array(s)) {
        put(p, "[");
        json_array_foreach(s, i, branch)
        {
            if (i)
                put(p, ",");
            emit(p, branch, ns, depth + 1);
        }
        put(p, "]");
    } else if (json_is_object(s)) {
        emit_object(p, s, ns, depth);
    } else {
        fail(p, "type is not a string, array or object", "type");
    }
}

/* The one implementation behind both public calls, so each keeps the rc. */
static int
canonical_form(const char *json, size_t len, char **out, struct of_err *err)
{
    struct pcf p = {.rc = OF_OK, .err = err};
    json_error_t jerr;
    json_t *root;

    *out = NULL;
    root =
        json_loadb(json, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        of_err_set(err, OF_EINVAL, "invalid schema: line %d: %s", jerr.line,
                   jerr.text);
        return OF_EINVAL;
    }
    emit(&p, root, "", 0);
    json_decref(root);
    if (p.rc != OF_OK) {
        free(p.buf);
        return p.rc;
    }
    *out = p.buf;
    return OF_OK;
}

char *of_crc64_canonical_form(const char *json, size_t len, struct of_err *err)
{
    char *pcf;

    canonical_form(json, len, &pcf, err);
    return pcf;
}

int of_crc64_schema_fingerprint(const char *json,
                                size_t len,
                                uint64_t *fp,
                                struct of_err *err)
{
    char *pcf;
    int rc;

    rc = canonical_form(json, len, &pcf, err);
    if (rc != OF_OK)
        return rc;
    *fp = of_crc64_avro(pcf, strlen(pcf));
    free(pcf);
    return OF_OK;
}
