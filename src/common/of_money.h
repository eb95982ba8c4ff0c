/*
 * of_money: order amounts as integer cents, never a binary float.
 *
 * The contract's total_amount is a decimal string ("199.00"): greater than
 * zero, at most 99999999.99, at most two decimals; MySQL stores it as
 * DECIMAL(10,2) and Avro as decimal(10,2). Everything in between holds an
 * int64_t count of cents, 1..OF_MONEY_MAX_CENTS.
 */
#ifndef OF_MONEY_H
#define OF_MONEY_H

#include <stdint.h>

#define OF_MONEY_MIN_CENTS 1LL
#define OF_MONEY_MAX_CENTS 9999999999LL /* 99999999.99 */
#define OF_MONEY_STR_SIZE  24           /* any int64_t, sign and NUL included */

/**
 * @brief Parse the contract's amount text \p s into \p cents.
 *
 * Accepts exactly ^(0|[1-9][0-9]{0,7})(\.[0-9]{1,2})?$ (ASCII digits only,
 * no sign, exponent, blank or leading zero: "0.01" yes, "00.5" and "007" no)
 * with a value in 0.01..99999999.99. \p s is a C string: text with an
 * embedded NUL must be refused before (jansson refuses \u0000 by default).
 * @returns OF_OK with *\p cents set, or OF_EINVAL leaving it untouched.
 */
int of_money_parse(const char *s, int64_t *cents);

/**
 * @brief Write \p cents as the contract's text, always with two decimals:
 *        19900 -> "199.00", 1 -> "0.01", -5 -> "-0.05".
 */
void of_money_format(int64_t cents, char out[OF_MONEY_STR_SIZE]);

#endif
