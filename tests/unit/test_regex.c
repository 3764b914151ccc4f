/* rb_regex: PCRE2 behind one interface — located compile errors, groups, UTF-8, and the limits
 * that keep hostile patterns and subjects from taking unbounded time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "runbook/regex.h"

static rb_regex *compile_ok(const char *pattern)
{
    size_t off = 0;
    char msg[128] = "";
    rb_regex *re = rb_regex_compile(pattern, strlen(pattern), &off, msg, sizeof msg);
    if (!re)
        fail_msg("'%s' did not compile: %s at %zu", pattern, msg, off);
    return re;
}

static void compile_fails_at(const char *pattern, size_t want_offset, const char *want_msg)
{
    size_t off = 12345;
    char msg[128] = "";
    rb_regex *re = rb_regex_compile(pattern, strlen(pattern), &off, msg, sizeof msg);
    assert_null(re);
    assert_int_equal(off, want_offset);
    if (!strstr(msg, want_msg))
        fail_msg("'%s': message '%s' lacks '%s'", pattern, msg, want_msg);
}

static void match_is(const char *pattern, const char *subject, int want)
{
    rb_regex *re = compile_ok(pattern);
    int got = rb_regex_match(re, subject, strlen(subject), -1, NULL, NULL);
    rb_regex_free(re);
    if (got != want)
        fail_msg("'%s' =~ '%s': got %d, want %d", subject, pattern, got, want);
}

static void compile_errors_are_located(void **state)
{
    (void)state;
    compile_fails_at("ab)", 2, "unmatched closing parenthesis");
    compile_fails_at("[z-a]", 3, "range out of order");
    compile_fails_at("a(b", 3, "missing closing parenthesis");
    compile_fails_at("a**", 2, "quantifier");
    compile_fails_at("\xff", 0, "UTF-8");
}

static void compile_error_tolerates_null_outputs(void **state)
{
    (void)state;
    assert_null(rb_regex_compile("(", 1, NULL, NULL, 0));
    char tiny[4];
    size_t off;
    assert_null(rb_regex_compile("(", 1, &off, tiny, sizeof tiny));
    assert_int_equal(strlen(tiny), 3); /* truncated, terminated */
}

static void matches_and_groups(void **state)
{
    (void)state;
    match_is("^OK$", "OK", 1);
    match_is("^OK$", "OK\n", 1); /* PCRE2's $ allows one final newline */
    match_is("^OK$", "NOT OK", 0);
    match_is("", "", 1);

    rb_regex *re = compile_ok("status=(\\d+)|(down)");
    assert_int_equal(rb_regex_groups(re), 2);
    size_t start = 0, len = 99;
    const char *s = "x status=503 y";
    assert_int_equal(rb_regex_match(re, s, strlen(s), 1, &start, &len), 1);
    assert_int_equal(start, 9);
    assert_int_equal(len, 3);
    /* group 2 did not take part */
    assert_int_equal(rb_regex_match(re, s, strlen(s), 2, &start, &len), 1);
    assert_int_equal(start, (size_t)-1);
    assert_int_equal(len, 0);
    /* a group beyond the pattern's is treated as not taking part */
    assert_int_equal(rb_regex_match(re, s, strlen(s), 7, &start, &len), 1);
    assert_int_equal(start, (size_t)-1);
    /* no match also clears the outputs */
    start = 5, len = 5;
    assert_int_equal(rb_regex_match(re, "nothing", 7, 1, &start, &len), 0);
    assert_int_equal(start, (size_t)-1);
    assert_int_equal(len, 0);
    rb_regex_free(re);
}

static void nul_bytes_in_pattern_and_subject(void **state)
{
    (void)state;
    size_t off;
    char msg[64];
    rb_regex *re = rb_regex_compile("a\0b", 3, &off, msg, sizeof msg);
    assert_non_null(re);
    assert_int_equal(rb_regex_match(re, "xa\0by", 5, -1, NULL, NULL), 1);
    assert_int_equal(rb_regex_match(re, "ab", 2, -1, NULL, NULL), 0);
    rb_regex_free(re);
}

static void utf8_mode(void **state)
{
    (void)state;
    match_is("^.$", "\xc3\xa9", 1); /* one code point, two bytes */
    match_is("^..$", "\xc3\xa9", 0);
    /* an invalid subject is an error, not a crash or a silent no-match */
    match_is("a", "\xff" "a", -1);
    match_is("a", "a\xc3", -1);
}

static void catastrophic_backtracking_hits_the_limit(void **state)
{
    (void)state;
    char subject[64];
    memset(subject, 'a', 40);
    strcpy(subject + 40, "!");
    rb_regex *re = compile_ok("(a+)+$");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(rb_regex_match(re, subject, strlen(subject), -1, NULL, NULL), -1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(secs < 2.0);
    /* the same pattern still works on a benign subject */
    assert_int_equal(rb_regex_match(re, "aaa", 3, -1, NULL, NULL), 1);
    rb_regex_free(re);
}

static void deep_recursion_hits_a_limit(void **state)
{
    (void)state;
    /* Each repetition of a capturing group with alternation keeps a backtracking frame. */
    static char subject[200001];
    memset(subject, 'a', sizeof subject - 1);
    rb_regex *re = compile_ok("^(a|b)*c");
    assert_int_equal(rb_regex_match(re, subject, sizeof subject - 1, -1, NULL, NULL), -1);
    rb_regex_free(re);
}

static void backslash_c_is_refused(void **state)
{
    (void)state;
    size_t off;
    char msg[128];
    assert_null(rb_regex_compile("a\\Cb", 4, &off, msg, sizeof msg));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(compile_errors_are_located),
        cmocka_unit_test(compile_error_tolerates_null_outputs),
        cmocka_unit_test(matches_and_groups),
        cmocka_unit_test(nul_bytes_in_pattern_and_subject),
        cmocka_unit_test(utf8_mode),
        cmocka_unit_test(catastrophic_backtracking_hits_the_limit),
        cmocka_unit_test(deep_recursion_hits_a_limit),
        cmocka_unit_test(backslash_c_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
