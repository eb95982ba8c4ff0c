/*
 * /admin: the admin panel's HTML, CSS and JavaScript, embedded at build time
 * (src/producer-api/admin/, table of_embedded_admin[] of of_embed.h).
 *
 * What it is not: an authenticated resource. The files hold no data and no
 * secret, so they are served to anyone; every call the panel makes goes to
 * /v1/... with the operator's token or API key, and is checked there.
 *
 * Invariants: only a file of the table is ever served, looked up by its
 * bare name, so no path ("..", a subdirectory, an encoded slash) can reach
 * anything else; the answer always carries a Content-Security-Policy that
 * allows this origin's scripts and styles only (the panel has no inline
 * script or style), so a value that slipped into the page as markup could
 * still not run.
 */
#include "api.h"

#include <string.h>

#include "of_embed.h"

/* Content types by file name extension; anything else is served as bytes */
static const struct {
    const char *ext;
    const char *type;
} content_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *const ui_headers[] = {
    "Content-Security-Policy",
    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'",
    "Cache-Control",
    "no-cache",
    "Referrer-Policy",
    "no-referrer",
    NULL,
};

static const char *content_type_of(const char *name)
{
    size_t len = strlen(name);

    for (size_t i = 0; i < sizeof(content_types) / sizeof(content_types[0]);
         i++) {
        size_t n = strlen(content_types[i].ext);
        if (len > n && strcmp(name + len - n, content_types[i].ext) == 0)
            return content_types[i].type;
    }
    return "application/octet-stream";
}

/*
 * The embedded file that \p path ("/admin", "/admin/", "/admin/NAME") names,
 * or NULL. NAME is one path segment: a name with a slash, or one starting
 * with a dot ("..", ".hidden"), never matches, whatever the table holds.
 */
static const struct of_embedded *file_of(const char *path)
{
    const char *name;

    if (strncmp(path, "/admin", 6) != 0)
        return NULL; /* "//admin/...": route() drops empty segments */
    name = path + 6;
    if (name[0] == '\0' || strcmp(name, "/") == 0)
        return of_embed_find(of_embedded_admin, "index.html");
    if (name[0] != '/')
        return NULL;
    name++;
    if (name[0] == '.' || strchr(name, '/'))
        return NULL;
    return of_embed_find(of_embedded_admin, name);
}

enum MHD_Result api_admin_ui(struct api_req *req, const char *path)
{
    const struct of_embedded *f = file_of(path);

    if (!f)
        return api_reply_error(req, 404, "not_found", "no such resource");
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
        return api_method_not_allowed(req, "GET, HEAD");
    return api_reply_static(req, 200, content_type_of(f->name), f->data,
                            f->len, ui_headers);
}
