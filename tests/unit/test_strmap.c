/* rb_strmap: put/get, duplicates keep the first value, keys are borrowed, growth past 10,000
 * keys keeps every entry reachable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runbook/strmap.h"

static void empty_map_finds_nothing(void **state)
{
    (void)state;
    rb_strmap m;
    rb_strmap_init(&m);
    size_t v = 77;
    assert_int_equal(rb_strmap_get(&m, "a", &v), 0);
    assert_int_equal(rb_strmap_get(&m, "", &v), 0);
    assert_int_equal(v, 77); /* untouched on a miss */
    assert_int_equal(m.count, 0);
    rb_strmap_cleanup(&m);
    rb_strmap_cleanup(&m); /* cleanup twice is harmless */
}

static void put_and_get(void **state)
{
    (void)state;
    rb_strmap m;
    rb_strmap_init(&m);
    assert_int_equal(rb_strmap_put(&m, "alpha", 1, NULL), 1);
    assert_int_equal(rb_strmap_put(&m, "beta", 2, NULL), 1);
    assert_int_equal(rb_strmap_put(&m, "", 3, NULL), 1); /* the empty string is a key too */
    assert_int_equal(m.count, 3);
    size_t v = 0;
    assert_int_equal(rb_strmap_get(&m, "alpha", &v), 1);
    assert_int_equal(v, 1);
    assert_int_equal(rb_strmap_get(&m, "beta", &v), 1);
    assert_int_equal(v, 2);
    assert_int_equal(rb_strmap_get(&m, "", &v), 1);
    assert_int_equal(v, 3);
    v = 99;
    assert_int_equal(rb_strmap_get(&m, "alph", &v), 0);
    assert_int_equal(rb_strmap_get(&m, "alphaa", &v), 0);
    assert_int_equal(rb_strmap_get(&m, "Alpha", &v), 0);
    assert_int_equal(v, 99);
    rb_strmap_cleanup(&m);
}

static void duplicate_keeps_first(void **state)
{
    (void)state;
    rb_strmap m;
    rb_strmap_init(&m);
    char k1[] = "step", k2[] = "step"; /* equal text, different storage */
    assert_int_equal(rb_strmap_put(&m, k1, 5, NULL), 1);
    size_t old = 0;
    assert_int_equal(rb_strmap_put(&m, k2, 9, &old), 0);
    assert_int_equal(old, 5);
    assert_int_equal(rb_strmap_put(&m, "step", 10, NULL), 0); /* old may be NULL */
    assert_int_equal(m.count, 1);
    size_t v = 0;
    assert_int_equal(rb_strmap_get(&m, "step", &v), 1);
    assert_int_equal(v, 5);
    rb_strmap_cleanup(&m);
}

static void keys_are_borrowed(void **state)
{
    (void)state;
    rb_strmap m;
    rb_strmap_init(&m);
    const char *key = "borrowed";
    rb_strmap_put(&m, key, 1, NULL);
    int found = 0;
    for (size_t i = 0; i < m.cap; i++)
        if (m.keys[i] == key) /* the very pointer, not a copy */
            found = 1;
    assert_true(found);
    rb_strmap_cleanup(&m);
}

static void grows_past_ten_thousand(void **state)
{
    (void)state;
    enum { N = 12000 };
    char (*keys)[16] = malloc(N * sizeof *keys);
    assert_non_null(keys);
    rb_strmap m;
    rb_strmap_init(&m);
    for (size_t i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "step-%zu", i);
        assert_int_equal(rb_strmap_put(&m, keys[i], i * 3, NULL), 1);
        /* an early key is still reachable after every growth */
        size_t v;
        assert_int_equal(rb_strmap_get(&m, "step-0", &v), 1);
        assert_int_equal(v, 0);
    }
    assert_int_equal(m.count, N);
    assert_true(m.cap >= N);
    assert_true((m.cap & (m.cap - 1)) == 0); /* a power of two */
    for (size_t i = 0; i < N; i++) {
        size_t v = 0;
        if (rb_strmap_get(&m, keys[i], &v) != 1 || v != i * 3)
            fail_msg("key %s lost after growth", keys[i]);
    }
    /* duplicates of any of them are still refused */
    size_t old = 0;
    assert_int_equal(rb_strmap_put(&m, "step-11999", 1, &old), 0);
    assert_int_equal(old, 11999 * 3);
    char miss[16];
    for (size_t i = N; i < N + 100; i++) {
        size_t v;
        snprintf(miss, sizeof miss, "step-%zu", i);
        assert_int_equal(rb_strmap_get(&m, miss, &v), 0);
    }
    rb_strmap_cleanup(&m);
    free(keys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_map_finds_nothing),
        cmocka_unit_test(put_and_get),
        cmocka_unit_test(duplicate_keeps_first),
        cmocka_unit_test(keys_are_borrowed),
        cmocka_unit_test(grows_past_ten_thousand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
