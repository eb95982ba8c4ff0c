/*
 * /v1/admin/...: the admin panel's list and operations endpoints.
 */
#include "api.h"

enum MHD_Result api_admin_route(struct api_req *req, char **seg, int n)
{
    (void)seg;
    (void)n;
    return api_reply_error(req, 404, "not_found", "no such resource");
}
