/* What a dry run shows for a write step: bounded text that actions append to (their "would
 * run: ..." line), shell words that can be pasted back, and a small unified line diff for file
 * steps (as `ansible --check --diff`), bounded in input and output. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runbook/action.h"

#define DIFF_CONTEXT 3
#define DIFF_MAX_CELLS (4u << 20) /* the changed middle's old x new lines compared one by one */
#define DIFF_MAX_BYTES (1u << 20) /* larger contents are compared by size only */

void rb_act_say_n(rb_act_preview *p, const char *s, size_t n)
{
    if (p->cut || !p->text || !p->cap)
        return;
    size_t room = p->cap - 1 - p->len;
    if (n > room) {
        n = room;
        p->cut = 1;
    }
    memcpy(p->text + p->len, s, n);
    p->len += n;
    p->text[p->len] = 0;
}

void rb_act_say(rb_act_preview *p, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    rb_act_say_n(p, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* Bytes the shell takes literally outside quotes. */
static int plain_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("_@%+=:,./-", c) ||
           c >= 0x80;
}

void rb_act_say_word(rb_act_preview *p, const char *s, size_t n)
{
    int plain = n > 0;
    for (size_t i = 0; i < n && plain; i++)
        plain = plain_byte((unsigned char)s[i]) && s[i];
    if (plain) {
        rb_act_say_n(p, s, n);
        return;
    }
    rb_act_say_n(p, "'", 1);
    for (size_t i = 0; i < n; i++)
        rb_act_say_n(p, s[i] == '\'' ? "'\\''" : s + i, s[i] == '\'' ? 4 : 1);
    rb_act_say_n(p, "'", 1);
}

void rb_act_say_script_vars(rb_act_preview *p, const json_t *env)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)env, k, v)
    {
        if (strncmp(k, "RB_V", 4) || !json_is_string(v))
            continue;
        rb_act_say(p, "%s=", k);
        rb_act_say_word(p, json_string_value(v), json_string_length(v));
        rb_act_say_n(p, " ", 1);
    }
}

/* ---- the line diff ---- */

typedef struct text_lines {
    const char **at;
    size_t *len;
    size_t n;
    int last_open; /* the last line has no newline */
} text_lines;

static int split_lines(const char *s, size_t len, text_lines *t)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += s[i] == '\n';
    n += len && s[len - 1] != '\n';
    t->at = calloc(n + 1, sizeof *t->at);
    t->len = calloc(n + 1, sizeof *t->len);
    t->n = 0;
    t->last_open = len && s[len - 1] != '\n';
    if (!t->at || !t->len)
        return -1;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t k = nl ? (size_t)(nl - (s + i)) : len - i;
        t->at[t->n] = s + i;
        t->len[t->n++] = k;
        i += k + 1;
    }
    return 0;
}

static void lines_free(text_lines *t)
{
    free(t->at);
    free(t->len);
}

/* The same text, and both end with a newline or neither does. */
static int same_line(const text_lines *a, size_t i, const text_lines *b, size_t j)
{
    int a_open = i + 1 == a->n && a->last_open, b_open = j + 1 == b->n && b->last_open;
    return a->len[i] == b->len[j] && !memcmp(a->at[i], b->at[j], a->len[i]) && a_open == b_open;
}

typedef struct edit {
    char kind;     /* ' ', '-' or '+' */
    size_t oi, ni; /* the old and new line it is at */
} edit;

/* The changed middle [lo, ohi) x [lo', nhi): a longest common subsequence when small enough,
 * else everything removed then everything added (still a true diff). */
static size_t edit_middle(const text_lines *a, size_t o0, size_t o1, const text_lines *b, size_t n0, size_t n1,
                          edit *out)
{
    size_t rows = o1 - o0, cols = n1 - n0, k = 0;
    uint32_t *t = rows * cols <= DIFF_MAX_CELLS ? calloc((rows + 1) * (cols + 1), sizeof *t) : NULL;
    if (!t) {
        for (size_t i = o0; i < o1; i++)
            out[k++] = (edit){'-', i, n0};
        for (size_t j = n0; j < n1; j++)
            out[k++] = (edit){'+', o1, j};
        return k;
    }
#define L(i, j) t[(i) * (cols + 1) + (j)]
    for (size_t i = rows; i-- > 0;)
        for (size_t j = cols; j-- > 0;)
            L(i, j) = same_line(a, o0 + i, b, n0 + j) ? L(i + 1, j + 1) + 1
                      : L(i + 1, j) >= L(i, j + 1) ? L(i + 1, j) : L(i, j + 1);
    size_t i = 0, j = 0;
    while (i < rows || j < cols) {
        if (i < rows && j < cols && same_line(a, o0 + i, b, n0 + j))
            out[k++] = (edit){' ', o0 + i++, n0 + j++};
        else if (i < rows && (j == cols || L(i + 1, j) >= L(i, j + 1))) /* removals first, as diff -u */
            out[k++] = (edit){'-', o0 + i++, n0 + j};
        else
            out[k++] = (edit){'+', o0 + i, n0 + j++};
    }
#undef L
    free(t);
    return k;
}

static size_t edit_script(const text_lines *a, const text_lines *b, edit *out)
{
    size_t pre = 0, suf = 0, k = 0;
    while (pre < a->n && pre < b->n && same_line(a, pre, b, pre))
        pre++;
    while (suf < a->n - pre && suf < b->n - pre && same_line(a, a->n - 1 - suf, b, b->n - 1 - suf))
        suf++;
    for (size_t i = 0; i < pre; i++)
        out[k++] = (edit){' ', i, i};
    k += edit_middle(a, pre, a->n - suf, b, pre, b->n - suf, out + k);
    for (size_t i = suf; i > 0; i--)
        out[k++] = (edit){' ', a->n - i, b->n - i};
    return k;
}

typedef struct diff_out {
    rb_act_preview *p;
    size_t lines, max;
} diff_out;

static int emit_line(diff_out *d, char kind, const text_lines *t, size_t i)
{
    if (d->lines++ >= d->max)
        return -1;
    rb_act_say_n(d->p, &kind, 1);
    rb_act_say_n(d->p, t->at[i], t->len[i]);
    rb_act_say_n(d->p, "\n", 1);
    if (i + 1 == t->n && t->last_open)
        rb_act_say(d->p, "\\ No newline at end of file\n");
    return 0;
}

/* One hunk: edits [from, to), with its @@ header. */
static int emit_hunk(diff_out *d, const edit *e, size_t from, size_t to, const text_lines *a, const text_lines *b)
{
    size_t ol = 0, nl = 0;
    for (size_t k = from; k < to; k++)
        ol += e[k].kind != '+', nl += e[k].kind != '-';
    /* unified format: a range of no lines names the line before it */
    rb_act_say(d->p, "@@ -%zu,%zu +%zu,%zu @@\n", e[from].oi + (ol > 0), ol, e[from].ni + (nl > 0), nl);
    d->lines++;
    for (size_t k = from; k < to; k++) {
        int rc = e[k].kind == '+' ? emit_line(d, '+', b, e[k].ni) : emit_line(d, e[k].kind, a, e[k].oi);
        if (rc)
            return -1;
    }
    return 0;
}

static void emit_hunks(diff_out *d, const edit *e, size_t n, const text_lines *a, const text_lines *b)
{
    for (size_t k = 0; k < n;) {
        while (k < n && e[k].kind == ' ')
            k++;
        if (k == n)
            return;
        size_t from = k > DIFF_CONTEXT ? k - DIFF_CONTEXT : 0, last = k;
        for (size_t j = k; j < n && j <= last + 2 * DIFF_CONTEXT; j++)
            if (e[j].kind != ' ')
                last = j;
        size_t to = last + 1 + DIFF_CONTEXT < n ? last + 1 + DIFF_CONTEXT : n;
        if (emit_hunk(d, e, from, to, a, b)) {
            rb_act_say(d->p, "... (the diff goes on: cut at %zu lines)\n", d->max);
            return;
        }
        k = to;
    }
}

static void say_diff(rb_act_preview *p, const char *old, size_t olen, const char *new_, size_t nlen,
                     const char *label, size_t max_lines);

void rb_act_say_diff(rb_act_preview *p, const char *old, size_t olen, const char *new_, size_t nlen,
                     const char *label, size_t max_lines)
{
    if (!p->mask) {
        say_diff(p, old, olen, new_, nlen, label, max_lines);
        return;
    }
    size_t mo = 0, mn = 0;
    char *o = p->mask(p->mask_ctx, old, olen, &mo), *n = p->mask(p->mask_ctx, new_, nlen, &mn);
    if (o && n)
        say_diff(p, o, mo, n, mn, label, max_lines);
    else
        rb_act_say(p, "(%s: out of memory for its diff)\n", label);
    free(o);
    free(n);
}

static void say_diff(rb_act_preview *p, const char *old, size_t olen, const char *new_, size_t nlen,
                     const char *label, size_t max_lines)
{
    if (olen == nlen && (!olen || !memcmp(old, new_, olen))) {
        rb_act_say(p, "(no change: %s already has this content)\n", label);
        return;
    }
    if (olen > DIFF_MAX_BYTES || nlen > DIFF_MAX_BYTES || memchr(old, 0, olen) || memchr(new_, 0, nlen)) {
        rb_act_say(p, "(%s: %zu bytes -> %zu bytes; too large or binary to show line by line)\n", label, olen, nlen);
        return;
    }
    text_lines a = {0}, b = {0};
    edit *e = NULL;
    if (split_lines(old, olen, &a) == 0 && split_lines(new_, nlen, &b) == 0 &&
        (e = calloc(a.n + b.n + 1, sizeof *e))) {
        rb_act_say(p, "--- %s (before)\n+++ %s (after)\n", label, label);
        diff_out d = {p, 0, max_lines};
        emit_hunks(&d, e, edit_script(&a, &b, e), &a, &b);
    }
    free(e);
    lines_free(&a);
    lines_free(&b);
}
