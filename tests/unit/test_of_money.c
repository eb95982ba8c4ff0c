/* Unit tests of of_money: the contract's amount text <-> int64_t cents,
 * including every bad amount of TESTPLAN row 15. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "of_err.h"
#include "of_money.h"

static void assert_parses(const char *s, int64_t want)
{
    int64_t cents = -1;

    if (of_money_parse(s, &cents) != OF_OK)
        fail_msg("\"%s\" was refused, want %lld cents", s, (long long)want);
    assert_int_equal(cents, want);
}

static void assert_refused(const char *s)
{
    int64_t cents = 12345;

    if (of_money_parse(s, &cents) != OF_EINVAL)
        fail_msg("\"%s\" was accepted as %lld cents", s, (long long)cents);
    assert_int_equal(cents, 12345); /* untouched */
}

static void money_accepts_whole_and_decimal_amounts(void **state)
{
    (void)state;
    assert_parses("199.00", 19900);
    assert_parses("199", 19900);
    assert_parses("199.5", 19950);
    assert_parses("1.05", 105);
    assert_parses("10", 1000);
}

static void money_accepts_the_smallest_and_largest_amounts(void **state)
{
    (void)state;
    assert_parses("0.01", 1);
    assert_parses("0.1", 10);
    assert_parses("0.5", 50);
    assert_parses("99999999.99", 9999999999LL);
    assert_parses("99999999", 9999999900LL);
}

static void money_rejects_zero(void **state)
{
    (void)state;
    assert_refused("0");
    assert_refused("0.0");
    assert_refused("0.00");
}

static void money_rejects_signs(void **state)
{
    (void)state;
    assert_refused("-1.00");
    assert_refused("+1.00");
    assert_refused("-0.01");
}

static void money_rejects_3_dp(void **state)
{
    (void)state;
    assert_refused("1.001");
    assert_refused("0.001");
    assert_refused("1.000");
}

static void money_rejects_more_than_99999999_99(void **state)
{
    (void)state;
    assert_refused("100000000.00");
    assert_refused("100000000");
    assert_refused("999999999");
    /* a digit run long enough to overflow int64 if accumulated blindly */
    assert_refused("99999999999999999999999999999999");
}

static void money_rejects_exponents_hex_and_words(void **state)
{
    (void)state;
    assert_refused("1e3");
    assert_refused("1E3");
    assert_refused("1.5e1");
    assert_refused("0x10");
    assert_refused("NaN");
    assert_refused("nan");
    assert_refused("Infinity");
    assert_refused("inf");
}

static void money_rejects_blanks(void **state)
{
    (void)state;
    assert_refused(" 1.00");
    assert_refused("1.00 ");
    assert_refused("1 .00");
    assert_refused("1.00\n");
    assert_refused("\t1");
}

static void money_rejects_non_ascii_digits(void **state)
{
    (void)state;
    assert_refused("\xd9\xa1\xd9\xa2\xd9\xa3"); /* Arabic-Indic 123 */
    assert_refused("\xef\xbc\x91");             /* fullwidth 1 */
    assert_refused("1\xd9\xa0");                /* 1 then Arabic 0 */
    assert_refused("\xe0\xa5\xa7.\xe0\xa5\xa6\xe0\xa5\xa6"); /* Devanagari */
}

static void money_rejects_leading_zeros(void **state)
{
    (void)state;
    assert_refused("007");
    assert_refused("00.5");
    assert_refused("01.00");
    assert_refused("00");
}

static void money_rejects_malformed_shapes(void **state)
{
    (void)state;
    assert_refused("");
    assert_refused(".");
    assert_refused(".5");
    assert_refused("1.");
    assert_refused("1..0");
    assert_refused("1.0.0");
    assert_refused("1,00");
    assert_refused("$1");
    assert_refused("1_000");
}

static void money_format_writes_two_decimals(void **state)
{
    char out[OF_MONEY_STR_SIZE];
    (void)state;

    of_money_format(19900, out);
    assert_string_equal(out, "199.00");
    of_money_format(1, out);
    assert_string_equal(out, "0.01");
    of_money_format(10, out);
    assert_string_equal(out, "0.10");
    of_money_format(9999999999LL, out);
    assert_string_equal(out, "99999999.99");
    of_money_format(0, out);
    assert_string_equal(out, "0.00");
}

static void money_format_handles_any_int64(void **state)
{
    char out[OF_MONEY_STR_SIZE];
    (void)state;

    of_money_format(-5, out);
    assert_string_equal(out, "-0.05");
    of_money_format(INT64_MAX, out);
    assert_string_equal(out, "92233720368547758.07");
    of_money_format(INT64_MIN, out);
    assert_string_equal(out, "-92233720368547758.08");
}

static void money_format_of_parse_is_canonical(void **state)
{
    static const struct {
        const char *in;
        const char *canonical;
    } cases[] = {
        {"1", "1.00"},        {"1.5", "1.50"},
        {"0.01", "0.01"},     {"12345678.9", "12345678.90"},
        {"199.00", "199.00"}, {"99999999.99", "99999999.99"},
    };
    char out[OF_MONEY_STR_SIZE];
    int64_t cents;
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(of_money_parse(cases[i].in, &cents), OF_OK);
        of_money_format(cents, out);
        assert_string_equal(out, cases[i].canonical);
        /* and the canonical text parses back to the same cents */
        assert_parses(out, cents);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(money_accepts_whole_and_decimal_amounts),
        cmocka_unit_test(money_accepts_the_smallest_and_largest_amounts),
        cmocka_unit_test(money_rejects_zero),
        cmocka_unit_test(money_rejects_signs),
        cmocka_unit_test(money_rejects_3_dp),
        cmocka_unit_test(money_rejects_more_than_99999999_99),
        cmocka_unit_test(money_rejects_exponents_hex_and_words),
        cmocka_unit_test(money_rejects_blanks),
        cmocka_unit_test(money_rejects_non_ascii_digits),
        cmocka_unit_test(money_rejects_leading_zeros),
        cmocka_unit_test(money_rejects_malformed_shapes),
        cmocka_unit_test(money_format_writes_two_decimals),
        cmocka_unit_test(money_format_handles_any_int64),
        cmocka_unit_test(money_format_of_parse_is_canonical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
