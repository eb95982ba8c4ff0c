/*
 * /admin: the admin panel's HTML, CSS and JavaScript, embedded at build time.
 */
#include "api.h"

enum MHD_Result api_admin_ui(struct api_req *req, const char *path)
{
    (void)path;
    return api_reply_error(req, 404, "not_found", "no such resource");
}
