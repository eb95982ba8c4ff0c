/* libFuzzer target: any text as an orderflow.ini. Either a config or one
 * error naming a line; nothing may crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "of_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    struct of_err err;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    of_config_destroy(of_config_load_string(text, "fuzz.ini", &err));
    free(text);
    return 0;
}
