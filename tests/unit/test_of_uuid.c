/* Unit tests of of_uuid: v4 from getrandom(2), v5 of the namespace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "of_uuid.h"

#define N 4096

static int cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Version 4, RFC 4122 variant, canonical lower-case form, and no repeats
 * in N of them (122 random bits: a repeat would mean broken randomness). */
static void v4_has_version_variant_and_no_repeats(void **state)
{
    static char ids[N][OF_UUID_STR];
    int nibble_seen[16] = {0};

    (void)state;
    for (int i = 0; i < N; i++) {
        of_uuid_v4(ids[i]);
        assert_int_equal(strlen(ids[i]), 36);
        assert_true(of_uuid_valid(ids[i]));
        assert_int_equal(ids[i][14], '4');
        assert_non_null(strchr("89ab", ids[i][19]));
        nibble_seen[ids[i][0] <= '9' ? ids[i][0] - '0' : ids[i][0] - 'a' + 10]++;
    }
    qsort(ids, N, sizeof(ids[0]), cmp);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    /* the first hex digit takes all 16 values (each ~256 times) */
    for (int d = 0; d < 16; d++)
        assert_true(nibble_seen[d] > 100);
}

static void v5_is_stable_and_name_dependent(void **state)
{
    char a[OF_UUID_STR], b[OF_UUID_STR], c[OF_UUID_STR];

    (void)state;
    of_uuid_v5(a, "key-1", 5);
    of_uuid_v5(b, "key-1", 5);
    of_uuid_v5(c, "key-2", 5);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(a[14], '5');
    assert_true(of_uuid_valid(a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(v4_has_version_variant_and_no_repeats),
        cmocka_unit_test(v5_is_stable_and_name_dependent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
