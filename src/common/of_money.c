/*
 * of_money: see of_money.h. A hand-written scanner rather than strtod or
 * sscanf: both accept blanks, signs, exponents, hex and locale digits.
 */
#include "of_money.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

#include "of_err.h"

#define MONEY_MAX_INT_DIGITS  8
#define MONEY_MAX_FRAC_DIGITS 2

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int of_money_parse(const char *s, int64_t *cents)
{
    const char *p = s;
    int64_t units = 0;
    int64_t frac = 0;
    int n;

    /* Count before accumulating: a long digit run must not overflow. */
    for (n = 0; is_digit(*p); n++, p++) {
        if (n == MONEY_MAX_INT_DIGITS)
            return OF_EINVAL;
        units = (units * 10) + (*p - '0');
    }
    if (n == 0 || (n > 1 && s[0] == '0'))
        return OF_EINVAL;
    if (*p == '.') {
        p++;
        for (n = 0; is_digit(*p); n++, p++) {
            if (n == MONEY_MAX_FRAC_DIGITS)
                return OF_EINVAL;
            frac = (frac * 10) + (*p - '0');
        }
        if (n == 0)
            return OF_EINVAL;
        if (n == 1)
            frac *= 10;
    }
    if (*p != '\0')
        return OF_EINVAL;
    units = (units * 100) + frac;
    if (units < OF_MONEY_MIN_CENTS || units > OF_MONEY_MAX_CENTS)
        return OF_EINVAL;
    *cents = units;
    return OF_OK;
}

void of_money_format(int64_t cents, char out[OF_MONEY_STR_SIZE])
{
    /* Negate in unsigned arithmetic so INT64_MIN formats too. */
    uint64_t mag = cents < 0 ? -(uint64_t)cents : (uint64_t)cents;

    snprintf(out, OF_MONEY_STR_SIZE, "%s%" PRIu64 ".%02" PRIu64,
             cents < 0 ? "-" : "", mag / 100, mag % 100);
}
