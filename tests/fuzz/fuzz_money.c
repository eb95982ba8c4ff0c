/* libFuzzer target: any text as a total_amount. Whatever parses must format
 * back to the same text and stay within the contract's bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "of_money.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[64], back[OF_MONEY_STR_SIZE];
    int64_t cents;

    if (size >= sizeof(text))
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (of_money_parse(text, &cents) != 0)
        return 0;
    if (cents < OF_MONEY_MIN_CENTS || cents > OF_MONEY_MAX_CENTS)
        abort();
    of_money_format(cents, back);
    /* "1.5" formats as "1.50": compare the values, not the texts */
    int64_t again;
    if (of_money_parse(back, &again) != 0 || again != cents)
        abort();
    return 0;
}
