/* api_validate: see api_validate.h. */
#include "api_validate.h"

#include <string.h>

static int invalid(struct api_req *req, enum MHD_Result *ret,
                   const char *field, const char *why)
{
    *ret = api_reply_error(req, 400, "validation_failed", "%s: %s", field, why);
    return 0;
}

int api_only_fields(struct api_req *req, json_t *body,
                    const char *const *allowed, enum MHD_Result *ret)
{
    const char *key;
    json_t *v;

    json_object_foreach(body, key, v)
    {
        const char *const *a = allowed;
        while (*a && strcmp(*a, key) != 0)
            a++;
        if (!*a)
            return invalid(req, ret, key, "unknown or read-only field");
    }
    return 1;
}

size_t api_utf8_chars(const char *s)
{
    size_t n = 0;

    for (; *s; s++) {
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    }
    return n;
}

static int has_control(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            return 1;
    }
    return 0;
}

int api_get_string(struct api_req *req, json_t *body, const char *name,
                   int required, size_t max_chars, char *out, size_t cap,
                   int *present, enum MHD_Result *ret)
{
    json_t *v = json_object_get(body, name);
    const char *s;

    *present = 0;
    out[0] = '\0';
    if (!v || json_is_null(v))
        return required ? invalid(req, ret, name, "is required") : 1;
    if (!json_is_string(v))
        return invalid(req, ret, name, "must be a string");
    s = json_string_value(v);
    if (strlen(s) != json_string_length(v) || has_control(s))
        return invalid(req, ret, name, "must not contain control characters");
    if (!*s)
        return invalid(req, ret, name, "must not be empty");
    if (api_utf8_chars(s) > max_chars || strlen(s) >= cap)
        return invalid(req, ret, name, "is too long");
    memcpy(out, s, strlen(s) + 1);
    *present = 1;
    return 1;
}

int api_get_id(struct api_req *req, json_t *body, const char *name,
               int required, int64_t *out, int *present, enum MHD_Result *ret)
{
    json_t *v = json_object_get(body, name);

    *present = 0;
    if (!v || json_is_null(v))
        return required ? invalid(req, ret, name, "is required") : 1;
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > 2147483647)
        return invalid(req, ret, name,
                       "must be an integer id between 1 and 2147483647");
    *out = (int64_t)json_integer_value(v);
    *present = 1;
    return 1;
}
