/* of_body: see of_body.h. */
#include "of_body.h"

#include <string.h>
#include <strings.h>

#include "of_money.h"

static int invalid(struct of_err *err, const char *field, const char *why)
{
    return of_err_set(err, OF_EINVAL, "%s: %s", field, why);
}

/* OF_OK if \p body has no key outside \p allowed (NULL-ended). */
static int only_fields(json_t *body, const char *const *allowed,
                       struct of_err *err)
{
    const char *key;
    json_t *v;

    json_object_foreach(body, key, v)
    {
        const char *const *a = allowed;
        while (*a && strcmp(*a, key) != 0)
            a++;
        if (!*a)
            return invalid(err, key, "unknown or read-only field");
    }
    return OF_OK;
}

static size_t utf8_chars(const char *s)
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

/* String field \p name: at most \p max_chars code points, no control
 * characters; absent or null leaves *present 0 (an error if required). */
static int get_string(json_t *body, const char *name, int required,
                      size_t max_chars, char *out, size_t cap, int *present,
                      struct of_err *err)
{
    json_t *v = json_object_get(body, name);
    const char *s;

    *present = 0;
    out[0] = '\0';
    if (!v || json_is_null(v))
        return required ? invalid(err, name, "is required") : OF_OK;
    if (!json_is_string(v))
        return invalid(err, name, "must be a string");
    s = json_string_value(v);
    if (strlen(s) != json_string_length(v) || has_control(s))
        return invalid(err, name, "must not contain control characters");
    if (!*s)
        return invalid(err, name, "must not be empty");
    if (utf8_chars(s) > max_chars || strlen(s) >= cap)
        return invalid(err, name, "is too long");
    memcpy(out, s, strlen(s) + 1);
    *present = 1;
    return OF_OK;
}

/* Integer id field (1..2147483647); absent or null: *present 0. */
static int get_id(json_t *body, const char *name, int required, int64_t *out,
                  int *present, struct of_err *err)
{
    json_t *v = json_object_get(body, name);

    *present = 0;
    if (!v || json_is_null(v))
        return required ? invalid(err, name, "is required") : OF_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > 2147483647)
        return invalid(err, name,
                       "must be an integer id between 1 and 2147483647");
    *out = (int64_t)json_integer_value(v);
    *present = 1;
    return OF_OK;
}

static int email_ok(const char *s)
{
    const char *at = strchr(s, '@');

    return at && at != s && at[1] && !strchr(at + 1, '@') &&
           !strpbrk(s, " \t<>()[],;:\\\"") && strchr(at + 1, '.');
}

static int url_ok(const char *s)
{
    return (strncasecmp(s, "https://", 8) == 0 && s[8]) ||
           (strncasecmp(s, "http://", 7) == 0 && s[7]);
}

int of_body_register_user(json_t *body, struct of_user_cmd *cmd,
                          struct of_err *err)
{
    static const char *const fields[] = {"email", "username", "avatar_url",
                                         NULL};
    int present, avatar;

    cmd->type = OF_REGISTER_USER;
    if (only_fields(body, fields, err) != OF_OK ||
        get_string(body, "email", 1, OF_EMAIL_MAX, cmd->email,
                   sizeof(cmd->email), &present, err) != OF_OK ||
        get_string(body, "username", 1, OF_USERNAME_MAX, cmd->username,
                   sizeof(cmd->username), &present, err) != OF_OK ||
        get_string(body, "avatar_url", 0, 255, cmd->avatar_url,
                   sizeof(cmd->avatar_url), &avatar, err) != OF_OK)
        return OF_EINVAL;
    if (!email_ok(cmd->email))
        return invalid(err, "email", "is not an email address");
    if (avatar && !url_ok(cmd->avatar_url))
        return invalid(err, "avatar_url", "must be an http or https URL");
    cmd->has_avatar_url = avatar;
    return OF_OK;
}

int of_body_create_order(json_t *body, int user_id_required,
                         struct of_order_cmd *cmd, int *has_user_id,
                         struct of_err *err)
{
    static const char *const fields[] = {"order_type", "total_amount",
                                         "user_id", NULL};
    json_t *type = json_object_get(body, "order_type");
    json_t *amount = json_object_get(body, "total_amount");

    cmd->type = OF_CREATE_ORDER;
    *has_user_id = 0;
    if (only_fields(body, fields, err) != OF_OK)
        return OF_EINVAL;
    if (!json_is_string(type) ||
        of_avro_order_type_parse(json_string_value(type), &cmd->order_type) !=
            OF_OK)
        return invalid(err, "order_type", "must be \"vip\" or \"jewelry\"");
    if (!json_is_string(amount) ||
        strlen(json_string_value(amount)) != json_string_length(amount) ||
        of_money_parse(json_string_value(amount), &cmd->total_amount) != OF_OK)
        return invalid(err, "total_amount",
                       "must be a decimal string greater than 0, at most "
                       "99999999.99, with at most two decimals");
    return get_id(body, "user_id", user_id_required, &cmd->user_id,
                  has_user_id, err);
}

int of_body_order_action(json_t *body, struct of_order_cmd *cmd,
                         struct of_err *err)
{
    static const char *const pay[] = {"payment_ref", NULL};
    static const char *const refund[] = {"reason", NULL};
    static const char *const none[] = {NULL};
    int present;

    switch (cmd->type) {
    case OF_PAY_ORDER:
        if (only_fields(body, pay, err) != OF_OK ||
            get_string(body, "payment_ref", 0, OF_PAYMENT_REF_MAX,
                       cmd->payment_ref, sizeof(cmd->payment_ref), &present,
                       err) != OF_OK)
            return OF_EINVAL;
        cmd->has_payment_ref = present;
        return OF_OK;
    case OF_REFUND_ORDER:
        if (only_fields(body, refund, err) != OF_OK ||
            get_string(body, "reason", 0, OF_REASON_MAX, cmd->reason,
                       sizeof(cmd->reason), &present, err) != OF_OK)
            return OF_EINVAL;
        cmd->has_reason = present;
        return OF_OK;
    default:
        return only_fields(body, none, err);
    }
}
