/*
 * libFuzzer target: any text as a total_amount (TESTPLAN, fuzz_money).
 *
 * of_money_parse() is checked against a slow reference written here from
 * the contract's grammar, ^(0|[1-9][0-9]{0,7})(\.[0-9]{1,2})?$ with a value
 * of 0.01..99999999.99: both accept the same texts with the same value,
 * nothing above 9,999,999,999 cents is ever accepted, and
 * format(parse(s)) is canonical: two decimals, s itself when s had two,
 * and it parses back to the same cents. The first 8 bytes, read as an
 * int64_t, also go through format then parse.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "of_err.h"
#include "of_money.h"

/* The reference: split at the dot, check each part, then add the value up
 * digit by digit in a wide type. Slow and obvious on purpose. */
static int ref_parse(const char *s, int64_t *cents)
{
    const char *dot = strchr(s, '.');
    size_t ilen = dot ? (size_t)(dot - s) : strlen(s);
    size_t flen = dot ? strlen(dot + 1) : 0;
    __int128 v = 0;

    if (ilen < 1 || ilen > 8 || (ilen > 1 && s[0] == '0'))
        return 0;
    if (dot && (flen < 1 || flen > 2))
        return 0;
    for (size_t i = 0; i < ilen; i++) {
        if (!memchr("0123456789", s[i], 10) || s[i] == '\0')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    for (size_t i = 0; i < 2; i++) {
        char c = i < flen ? dot[1 + i] : '0';
        if (c < '0' || c > '9')
            return 0;
        v = v * 10 + (c - '0');
    }
    if (v < 1 || v > 9999999999LL)
        return 0;
    *cents = (int64_t)v;
    return 1;
}

/* ^(0|[1-9][0-9]*)\.[0-9]{2}$ */
static int canonical(const char *s)
{
    const char *dot = strchr(s, '.');
    size_t ilen;

    if (!dot || strlen(dot + 1) != 2)
        return 0;
    ilen = (size_t)(dot - s);
    if (ilen < 1 || (ilen > 1 && s[0] == '0'))
        return 0;
    for (const char *p = s; *p; p++) {
        if (p != dot && (*p < '0' || *p > '9'))
            return 0;
    }
    return 1;
}

static void check_format(int64_t v)
{
    char text[OF_MONEY_STR_SIZE];
    int64_t back = 0;
    int ok;

    of_money_format(v, text);
    ok = of_money_parse(text, &back) == OF_OK;
    if (v >= OF_MONEY_MIN_CENTS && v <= OF_MONEY_MAX_CENTS) {
        FUZZ_CHECK(ok && back == v, "%lld formats as \"%s\"", (long long)v,
                   text);
        FUZZ_CHECK(canonical(text), "\"%s\"", text);
    } else {
        FUZZ_CHECK(!ok, "%lld out of range, but \"%s\" parses", (long long)v,
                   text);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[64], back[OF_MONEY_STR_SIZE];
    int64_t cents = -1, ref = -1, again = -1;
    int ok, ref_ok;

    if (size >= 8) {
        int64_t v;
        memcpy(&v, data, sizeof(v));
        check_format(v);
    }
    /* a C string: text with a NUL inside is refused before (of_money.h) */
    if (size >= sizeof(text) || memchr(data, '\0', size))
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    ok = of_money_parse(text, &cents) == OF_OK;
    ref_ok = ref_parse(text, &ref);
    FUZZ_CHECK(ok == ref_ok, "\"%s\": of_money_parse %d, reference %d", text,
               ok, ref_ok);
    if (!ok)
        return 0;
    FUZZ_CHECK(cents == ref, "\"%s\": %lld cents, reference %lld", text,
               (long long)cents, (long long)ref);
    FUZZ_CHECK(cents >= OF_MONEY_MIN_CENTS && cents <= OF_MONEY_MAX_CENTS,
               "\"%s\": %lld cents", text, (long long)cents);
    of_money_format(cents, back);
    FUZZ_CHECK(canonical(back), "\"%s\" formats as \"%s\"", text, back);
    FUZZ_CHECK(of_money_parse(back, &again) == OF_OK && again == cents,
               "\"%s\" -> \"%s\" does not parse back", text, back);
    /* with two decimals the text was canonical already */
    const char *dot = strchr(text, '.');
    if (dot && strlen(dot + 1) == 2)
        FUZZ_CHECK(strcmp(back, text) == 0, "\"%s\" formats as \"%s\"", text,
                   back);
    return 0;
}
