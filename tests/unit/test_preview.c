/* A dry run's previews (src/actions/preview.c): shell words that paste back, the bound, and the
 * line diff: a fixed case as diff -u writes it, and random edits whose diff, applied to the old
 * text by a small patcher here, gives the new text exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runbook/action.h"

#define CAP (64u * 1024u)

static rb_act_preview fresh(char *buf, size_t cap)
{
    buf[0] = 0;
    return (rb_act_preview){.text = buf, .cap = cap};
}

static void words_are_quoted_only_when_needed(void **state)
{
    (void)state;
    char buf[256];
    rb_act_preview p = fresh(buf, sizeof buf);
    const char *w[] = {"systemctl", "nginx web", "it's", "", "a/b.c:d=1", "$HOME"};
    for (size_t i = 0; i < sizeof w / sizeof *w; i++) {
        rb_act_say_word(&p, w[i], strlen(w[i]));
        rb_act_say_n(&p, " ", 1);
    }
    assert_string_equal(buf, "systemctl 'nginx web' 'it'\\''s' '' a/b.c:d=1 '$HOME' ");
}

static void the_bound_cuts_and_says_so(void **state)
{
    (void)state;
    char buf[16];
    rb_act_preview p = fresh(buf, sizeof buf);
    rb_act_say(&p, "%s", "0123456789abcdefghij");
    assert_int_equal(p.cut, 1);
    assert_int_equal(strlen(buf), 15);
    rb_act_say(&p, "more");
    assert_int_equal(strlen(buf), 15);
}

static void a_diff_reads_as_diff_u(void **state)
{
    (void)state;
    static char buf[CAP];
    rb_act_preview p = fresh(buf, CAP);
    const char *old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n", *new_ = "1\n2\nthree\n4\n5\n6\n7\n8\n9\n10\n11\n12";
    rb_act_say_diff(&p, old, strlen(old), new_, strlen(new_), "f", 100);
    assert_string_equal(buf, "--- f (before)\n+++ f (after)\n"
                             "@@ -1,6 +1,6 @@\n 1\n 2\n-3\n+three\n 4\n 5\n 6\n"
                             "@@ -9,3 +9,4 @@\n 9\n 10\n 11\n+12\n\\ No newline at end of file\n");
    p = fresh(buf, CAP);
    rb_act_say_diff(&p, old, strlen(old), old, strlen(old), "f", 100);
    assert_string_equal(buf, "(no change: f already has this content)\n");
    p = fresh(buf, CAP);
    rb_act_say_diff(&p, "a\0b", 3, "c", 1, "f", 100);
    assert_non_null(strstr(buf, "binary"));
}

static void a_long_diff_is_cut_at_its_line_bound(void **state)
{
    (void)state;
    static char buf[CAP], old[4096], new_[4096];
    size_t o = 0, n = 0;
    for (int i = 0; i < 100; i++) {
        o += (size_t)snprintf(old + o, sizeof old - o, "old %d\n", i);
        n += (size_t)snprintf(new_ + n, sizeof new_ - n, "new %d\n", i);
    }
    rb_act_preview p = fresh(buf, CAP);
    rb_act_say_diff(&p, old, o, new_, n, "f", 20);
    assert_non_null(strstr(buf, "cut at 20 lines"));
    size_t lines = 0;
    for (char *s = buf; *s; s++)
        lines += *s == '\n';
    assert_true(lines <= 20 + 3);
}

/* ---- random edits, checked by applying the diff ---- */

/* Applies a unified diff (as rb_act_say_diff writes it) to old; returns the result (malloc'd). */
static char *apply(const char *old, const char *diff)
{
    const char *lines[512];
    size_t nold = 0, at = 0;
    for (const char *s = old; *s && nold < 512;) {
        lines[nold++] = s;
        const char *nl = strchr(s, '\n');
        s = nl ? nl + 1 : s + strlen(s);
    }
    char *out = calloc(1, 65536);
    size_t len = 0;
#define LINE_LEN(i) ((i) + 1 < nold ? (size_t)(lines[(i) + 1] - lines[i]) : strlen(lines[i]))
    const char *d = strstr(diff, "@@");
    while (d && *d) {
        const char *nl = strchr(d, '\n');
        size_t dl = (size_t)(nl - d);
        if (!strncmp(d, "@@", 2)) {
            unsigned long os, ol;
            sscanf(d, "@@ -%lu,%lu", &os, &ol);
            size_t start = ol ? os - 1 : os;
            while (at < start)
                memcpy(out + len, lines[at], LINE_LEN(at)), len += LINE_LEN(at), at++;
        } else if (d[0] == ' ') {
            memcpy(out + len, lines[at], LINE_LEN(at)), len += LINE_LEN(at), at++;
        } else if (d[0] == '-') {
            at++;
        } else if (d[0] == '+') {
            memcpy(out + len, d + 1, dl - 1), len += dl - 1;
            out[len++] = '\n';
            if (!strncmp(nl + 1, "\\ No newline", 12))
                out[--len] = 0;
        }
        d = nl + 1;
    }
    while (at < nold)
        memcpy(out + len, lines[at], LINE_LEN(at)), len += LINE_LEN(at), at++;
#undef LINE_LEN
    return out;
}

static size_t random_text(char *buf, unsigned *seed, int lines, int newline_at_end)
{
    size_t len = 0;
    for (int i = 0; i < lines; i++)
        len += (size_t)sprintf(buf + len, "%c%s", "abcde"[rand_r(seed) % 5], i + 1 < lines || newline_at_end ? "\n" : "");
    return len;
}

/* new = old with a few lines removed, inserted or replaced. */
static size_t edited(const char *old, char *out, unsigned *seed)
{
    size_t len = 0;
    for (const char *s = old; *s;) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) + 1 : strlen(s);
        int r = (int)(rand_r(seed) % 10);
        if (r == 0)
            len += (size_t)sprintf(out + len, "ins%u\n", rand_r(seed) % 3);
        if (r != 1) /* r == 1: removed */
            memcpy(out + len, r == 2 ? "zz\n" : s, r == 2 ? 3 : n), len += r == 2 ? 3 : n;
        s += n;
    }
    if (rand_r(seed) % 3 == 0)
        len += (size_t)sprintf(out + len, "tail");
    out[len] = 0;
    return len;
}

static void random_diffs_apply_back(void **state)
{
    (void)state;
    static char buf[CAP], old[4096], new_[8192];
    for (unsigned trial = 0; trial < 300; trial++) {
        unsigned seed = trial;
        size_t ol = random_text(old, &seed, (int)(rand_r(&seed) % 40), (int)(rand_r(&seed) % 4));
        old[ol] = 0;
        size_t nl = edited(old, new_, &seed);
        rb_act_preview p = fresh(buf, CAP);
        rb_act_say_diff(&p, old, ol, new_, nl, "f", 10000);
        if (ol == nl && !memcmp(old, new_, ol))
            continue;
        char *got = apply(old, buf);
        if (strcmp(got, new_))
            fprintf(stderr, "trial %u:\nold:\n%s\nnew:\n%s\ndiff:\n%s\ngot:\n%s\n", trial, old, new_, buf, got), fail();
        free(got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(words_are_quoted_only_when_needed),
        cmocka_unit_test(the_bound_cuts_and_says_so),
        cmocka_unit_test(a_diff_reads_as_diff_u),
        cmocka_unit_test(a_long_diff_is_cut_at_its_line_bound),
        cmocka_unit_test(random_diffs_apply_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
