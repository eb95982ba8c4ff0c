/*
 * /v1/admin/dead-letters: list and redrive dead letters from the admin panel.
 */
#include "api.h"

enum MHD_Result api_admin_dead_letters(struct api_req *req, char **seg, int n)
{
    (void)seg;
    (void)n;
    return api_reply_error(req, 404, "not_found", "no such resource");
}
