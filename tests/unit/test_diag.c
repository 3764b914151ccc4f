/* rb_diags: adding (copies, one line, bounds), hints, promotion, sorting, the RB_DIAG_MAX cap
 * with `dropped`, and the text and GitHub renderings (captured with open_memstream). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runbook/diag.h"

/* A test of a known bug: skipped so the suite stays green, run with RUNBOOK_KNOWN_BUGS=1. */
#define KNOWN_BUG()                          \
    do {                                     \
        if (!getenv("RUNBOOK_KNOWN_BUGS"))   \
            skip();                          \
    } while (0)

/* ---- helpers ---- */

typedef struct capture {
    char *buf;
    size_t len;
    FILE *f;
} capture;

static void cap_open(capture *c)
{
    c->buf = NULL;
    c->len = 0;
    c->f = open_memstream(&c->buf, &c->len);
    assert_non_null(c->f);
}

/* Closes the stream; the text is then in c->buf (the caller frees it). */
static void cap_text(capture *c)
{
    fclose(c->f);
    c->f = NULL;
}

static char *text_of(const rb_diags *d, int color)
{
    capture c;
    cap_open(&c);
    rb_diags_print_text(d, c.f, color);
    cap_text(&c);
    return c.buf;
}

static char *github_of(const rb_diags *d)
{
    capture c;
    cap_open(&c);
    rb_diags_print_github(d, c.f);
    cap_text(&c);
    return c.buf;
}

static void assert_text(const char *got, const char *want)
{
    if (strcmp(got, want) != 0)
        fail_msg("output differs.\n--- got ---\n%s\n--- want ---\n%s", got, want);
}

/* 1 when `s` is well-formed UTF-8 (no truncated or stray sequences). */
static int valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2 : (*p & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0)
            return 0;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xC0) != 0x80)
                return 0;
    }
    return 1;
}

/* ---- adding ---- */

static void add_copies_everything(void **state)
{
    (void)state;
    rb_diags d;
    rb_diags_init(&d);
    char file[] = "dir/a.yaml", rule[] = "no-rollback", src[] = "  key: value\nnext line", word[] = "abc";
    rb_diag_add(&d, RB_SEV_WARNING, rule, file, 3, 5, src, strlen(src), "message %s %d", word, 7);
    /* The caller's buffers may change or die: the diagnostic keeps its own copies. */
    memset(file, 'x', sizeof file - 1);
    memset(rule, 'x', sizeof rule - 1);
    memset(src, 'x', sizeof src - 1);
    memset(word, 'x', sizeof word - 1);
    assert_int_equal(d.count, 1);
    const rb_diag *g = &d.items[0];
    assert_int_equal(g->sev, RB_SEV_WARNING);
    assert_string_equal(g->file, "dir/a.yaml");
    assert_string_equal(g->rule, "no-rollback");
    assert_string_equal(g->message, "message abc 7");
    assert_string_equal(g->source_line, "  key: value"); /* up to its first newline */
    assert_int_equal(g->line, 3);
    assert_int_equal(g->col, 5);
    assert_null(g->hint);
    assert_int_equal(d.warnings, 1);
    assert_int_equal(d.errors, 0);
    assert_int_equal(d.dropped, 0);
    rb_diags_cleanup(&d);
    assert_int_equal(d.count, 0);
    assert_null(d.items);
}

static void add_null_parts_and_counts(void **state)
{
    (void)state;
    rb_diags d;
    rb_diags_init(&d);
    rb_diag_add(&d, RB_SEV_ERROR, NULL, NULL, 0, 0, NULL, 0, "whole-file problem");
    rb_diag_add(&d, RB_SEV_NOTE, NULL, "f.yaml", 1, 1, NULL, 0, "a note");
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "f.yaml", 2, 1, NULL, 0, "second");
    assert_int_equal(d.count, 3);
    assert_null(d.items[0].file);
    assert_null(d.items[0].rule);
    assert_null(d.items[0].source_line);
    assert_int_equal(d.errors, 2);
    assert_int_equal(d.warnings, 0); /* notes count as neither */
    rb_diags_cleanup(&d);
}

static void source_line_respects_length_and_bound(void **state)
{
    (void)state;
    rb_diags d;
    rb_diags_init(&d);
    /* source_len bounds the copy: bytes past it are not read. */
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "f", 1, 1, "abcdef", 3, "m");
    assert_string_equal(d.items[0].source_line, "abc");
    /* A CRLF line keeps no \r. */
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "f", 1, 1, "key: 1\r\nnext", 13, "m");
    assert_string_equal(d.items[1].source_line, "key: 1");
    /* Long lines are bounded. */
    char big[1000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "f", 1, 1, big, strlen(big), "m");
    assert_int_equal(strlen(d.items[2].source_line), RB_DIAG_SOURCE_MAX);
    rb_diags_cleanup(&d);
}

static void message_is_one_line(void **state)
{
    (void)state;
    rb_diags d;
    rb_diags_init(&d);
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "f", 1, 1, NULL, 0, "first %s", "line\nsecond line");
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "f", 1, 1, NULL, 0, "crlf\r\nrest");
    rb_diag_hint(&d, "hint%s", "\nnot this");
    assert_string_equal(d.items[0].message, "first line");
    assert_string_equal(d.items[1].message, "crlf");
    assert_string_equal(d.items[1].hint, "hint");
    rb_diags_cleanup(&d);
}

/* Bounding a line must not cut a UTF-8 character in half: the text goes to JSON and SARIF
 * output, whose encoders refuse invalid UTF-8. */
static void bounded_text_stays_utf8(void **state)
{
    (void)state;
    /* BUG: one_line() in src/util/diag.c cuts source lines (and messages) at
     * RB_DIAG_SOURCE_MAX bytes, not characters, so a line of multi-byte characters that starts
     * at an odd byte offset loses half of its last character. Reproduction:
     *   char s[600] = "a"; for (i = 0; i < 250; i++) strcat(s, "\xc3\xa9");  // "aéééé..."
     *   rb_diag_add(&d, RB_SEV_ERROR, NULL, "f", 1, 1, s, strlen(s), "%s", s);
     *   d.items[0].source_line and .message end in a lone 0xC3 byte.
     * (validate --format json then fails to encode such a message: json_pack refuses it.) */
    rb_diags d;
    rb_diags_init(&d);
    char s[600] = "a";
    for (int i = 0; i < 250; i++)
        strcat(s, "\xc3\xa9");
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "f", 1, 1, s, strlen(s), "%s", s);
    assert_true(valid_utf8(d.items[0].source_line));
    assert_true(valid_utf8(d.items[0].message));
    rb_diags_cleanup(&d);
}

/* ---- hints ---- */

static void hint_attaches_to_last(void **state)
{
    (void)state;
    rb_diags d;
    rb_diags_init(&d);
    rb_diag_hint(&d, "nothing to attach to"); /* no-op, no crash */
    assert_int_equal(d.count, 0);
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "f", 1, 1, NULL, 0, "one");
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "f", 2, 1, NULL, 0, "two");
    rb_diag_hint(&d, "did you mean \"%s\"?", "steps");
    assert_null(d.items[0].hint);
    assert_string_equal(d.items[1].hint, "did you mean \"steps\"?");
    rb_diag_hint(&d, "replaced"); /* a second hint replaces the first (no leak under ASan) */
    assert_string_equal(d.items[1].hint, "replaced");
    rb_diags_cleanup(&d);
}

/* ---- the bound ---- */

static void bound_counts_dropped(void **state)
{
    (void)state;
    rb_diags d;
    rb_diags_init(&d);
    for (int i = 0; i < RB_DIAG_MAX + 5; i++)
        rb_diag_add(&d, i % 2 ? RB_SEV_WARNING : RB_SEV_ERROR, NULL, "f", (uint32_t)i + 1, 1, NULL, 0, "d%d", i);
    assert_int_equal(d.count, RB_DIAG_MAX);
    assert_int_equal(d.dropped, 5);
    assert_int_equal(d.errors + d.warnings, RB_DIAG_MAX + 5); /* counts include the dropped */
    assert_int_equal(d.errors, (RB_DIAG_MAX + 5 + 1) / 2);
    assert_string_equal(d.items[RB_DIAG_MAX - 1].message, "d999");
    /* A hint after a dropped diagnostic must not land on the last stored one. */
    rb_diag_hint(&d, "for a dropped one");
    assert_null(d.items[RB_DIAG_MAX - 1].hint);
    char *out = text_of(&d, 0);
    const char *tail = "(5 more diagnostics not shown)\n";
    assert_true(strlen(out) > strlen(tail));
    assert_string_equal(out + strlen(out) - strlen(tail), tail);
    free(out);
    rb_diags_cleanup(&d);
}

/* ---- promote and sort ---- */

static void promote_turns_warnings_into_errors(void **state)
{
    (void)state;
    rb_diags d;
    rb_diags_init(&d);
    rb_diag_add(&d, RB_SEV_WARNING, "no-timeout", "f", 1, 1, NULL, 0, "w1");
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "f", 2, 1, NULL, 0, "e1");
    rb_diag_add(&d, RB_SEV_NOTE, NULL, "f", 3, 1, NULL, 0, "n1");
    rb_diag_add(&d, RB_SEV_WARNING, "no-rollback", "f", 4, 1, NULL, 0, "w2");
    rb_diags_promote_warnings(&d);
    assert_int_equal(d.items[0].sev, RB_SEV_ERROR);
    assert_int_equal(d.items[1].sev, RB_SEV_ERROR);
    assert_int_equal(d.items[2].sev, RB_SEV_NOTE);
    assert_int_equal(d.items[3].sev, RB_SEV_ERROR);
    assert_string_equal(d.items[0].rule, "no-timeout"); /* the rule name stays */
    assert_int_equal(d.errors, 3);
    assert_int_equal(d.warnings, 0);
    rb_diags_cleanup(&d);
}

static void sort_by_file_line_col_stable(void **state)
{
    (void)state;
    rb_diags d;
    rb_diags_init(&d);
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "b.yaml", 1, 1, NULL, 0, "b1");
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "a.yaml", 10, 2, NULL, 0, "a10.2");
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "a.yaml", 2, 9, NULL, 0, "a2.9");
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "a.yaml", 10, 1, NULL, 0, "a10.1");
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "a.yaml", 2, 9, NULL, 0, "a2.9-second");
    rb_diag_add(&d, RB_SEV_ERROR, NULL, NULL, 0, 0, NULL, 0, "nofile");
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "a.yaml", 2, 9, NULL, 0, "a2.9-third");
    rb_diags_sort(&d);
    const char *want[] = {"nofile", "a2.9", "a2.9-second", "a2.9-third", "a10.1", "a10.2", "b1"};
    assert_int_equal(d.count, 7);
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(d.items[i].message, want[i]);
    rb_diags_cleanup(&d);
}

static void sort_keeps_hints_with_their_diagnostic(void **state)
{
    (void)state;
    rb_diags d;
    rb_diags_init(&d);
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "f", 9, 1, NULL, 0, "late");
    rb_diag_hint(&d, "late hint");
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "f", 1, 1, NULL, 0, "early");
    rb_diags_sort(&d);
    assert_string_equal(d.items[0].message, "early");
    assert_null(d.items[0].hint);
    assert_string_equal(d.items[1].message, "late");
    assert_string_equal(d.items[1].hint, "late hint");
    rb_diags_cleanup(&d);
}

/* ---- text ---- */

static void text_format(void **state)
{
    (void)state;
    rb_diags d;
    rb_diags_init(&d);
    const char *src = "    timeout: 30";
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "file", 3, 5, src, strlen(src), "msg");
    rb_diag_add(&d, RB_SEV_WARNING, "no-rollback", "file", 4, 1, "- id: x", 7, "changes %s", "things");
    rb_diag_hint(&d, "add rollback:");
    rb_diag_add(&d, RB_SEV_NOTE, NULL, NULL, 0, 0, NULL, 0, "just a note");
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "whole.yaml", 0, 0, "ignored source", 14, "empty file");
    char *out = text_of(&d, 0);
    assert_text(out, "file:3:5: error: msg\n"
                     "      timeout: 30\n"
                     "      ^\n"
                     "file:4:1: warning: changes things [no-rollback]\n"
                     "  - id: x\n"
                     "  ^\n"
                     "  hint: add rollback:\n"
                     "note: just a note\n"
                     "whole.yaml: error: empty file\n");
    free(out);
    rb_diags_cleanup(&d);
}

static void text_caret_counts_characters(void **state)
{
    (void)state;
    rb_diags d;
    rb_diags_init(&d);
    /* A tab before the column is copied so the caret lines up whatever the tab width. */
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "f", 1, 3, "\tx: 1", 5, "tab");
    /* "é" and "日" are one column each although 2 and 3 bytes long: ':' is column 3. */
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "f", 2, 3, "é日: 1", strlen("é日: 1"), "utf8");
    /* Both at once: tab, 4-byte emoji, 2-byte é, then 'k' at column 4. */
    const char *mixed = "\t\xf0\x9f\x98\x80\xc3\xa9k: v";
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "f", 3, 4, mixed, strlen(mixed), "mixed");
    /* A column past the end of the (bounded) line puts the caret just after it. */
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "f", 4, 50, "ab", 2, "past");
    char *out = text_of(&d, 0);
    assert_text(out, "f:1:3: error: tab\n"
                     "  \tx: 1\n"
                     "  \t ^\n"
                     "f:2:3: error: utf8\n"
                     "  é日: 1\n"
                     "    ^\n"
                     "f:3:4: error: mixed\n"
                     "  \t\xf0\x9f\x98\x80\xc3\xa9k: v\n"
                     "  \t  ^\n"
                     "f:4:50: error: past\n"
                     "  ab\n"
                     "    ^\n");
    free(out);
    rb_diags_cleanup(&d);
}

static void text_color_only_when_asked(void **state)
{
    (void)state;
    rb_diags d;
    rb_diags_init(&d);
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "f", 1, 1, NULL, 0, "boom");
    char *plain = text_of(&d, 0), *color = text_of(&d, 1);
    assert_null(strchr(plain, '\033'));
    assert_non_null(strstr(color, "\033[1;31m")); /* errors in red */
    assert_non_null(strstr(color, "boom"));
    free(plain);
    free(color);
    rb_diags_cleanup(&d);
}

/* ---- GitHub ---- */

static void github_format_and_escaping(void **state)
{
    (void)state;
    rb_diags d;
    rb_diags_init(&d);
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "a:b,c.yaml", 3, 5, NULL, 0, "100%% sure: a, b\rc");
    rb_diag_add(&d, RB_SEV_WARNING, "no-timeout", "x.yaml", 7, 2, NULL, 0, "w");
    rb_diag_hint(&d, "set 50%% more, please: now");
    rb_diag_add(&d, RB_SEV_NOTE, NULL, NULL, 0, 0, NULL, 0, "n");
    rb_diag_add(&d, RB_SEV_ERROR, NULL, "new\nline\r.yaml", 1, 1, NULL, 0, "m");
    char *out = github_of(&d);
    assert_text(out, "::error file=a%3Ab%2Cc.yaml,line=3,col=5::100%25 sure: a, b%0Dc\n"
                     "::warning file=x.yaml,line=7,col=2,title=no-timeout::w (set 50%25 more, please: now)\n"
                     "::notice file=,line=1,col=1::n\n" /* GitHub counts from 1 */
                     "::error file=new%0Aline%0D.yaml,line=1,col=1::m\n");
    free(out);
    rb_diags_cleanup(&d);
}

static void empty_list_prints_nothing(void **state)
{
    (void)state;
    rb_diags d;
    rb_diags_init(&d);
    char *t = text_of(&d, 1), *g = github_of(&d);
    assert_string_equal(t, "");
    assert_string_equal(g, "");
    free(t);
    free(g);
    rb_diags_sort(&d);
    rb_diags_promote_warnings(&d);
    rb_diags_cleanup(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(add_copies_everything),
        cmocka_unit_test(add_null_parts_and_counts),
        cmocka_unit_test(source_line_respects_length_and_bound),
        cmocka_unit_test(message_is_one_line),
        cmocka_unit_test(bounded_text_stays_utf8),
        cmocka_unit_test(hint_attaches_to_last),
        cmocka_unit_test(bound_counts_dropped),
        cmocka_unit_test(promote_turns_warnings_into_errors),
        cmocka_unit_test(sort_by_file_line_col_stable),
        cmocka_unit_test(sort_keeps_hints_with_their_diagnostic),
        cmocka_unit_test(text_format),
        cmocka_unit_test(text_caret_counts_characters),
        cmocka_unit_test(text_color_only_when_asked),
        cmocka_unit_test(github_format_and_escaping),
        cmocka_unit_test(empty_list_prints_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
