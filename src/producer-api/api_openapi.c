/*
 * GET /v1/openapi.json: schemas/openapi.yaml as JSON, converted at build
 * time (cmake/yaml2json.py) and embedded in the binary, so the document a
 * client fetches is the one the binary was built with.
 */
#include "api.h"
#include "of_embed.h"

enum MHD_Result api_openapi(struct api_req *req)
{
    const struct of_embedded *doc =
        of_embed_find(of_embedded_openapi, "openapi.json");
    static const char *const headers[] = {"Cache-Control", "no-cache", NULL};

    if (!doc)
        return api_reply_error(req, 500, "internal",
                               "the OpenAPI document was not built in");
    return api_reply_static(req, 200, "application/json", doc->data, doc->len,
                            headers);
}
