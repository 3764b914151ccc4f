/* Diagnostics: a bounded list of located messages, and their text and GitHub renderings. */
#include "runbook/diag.h"
#include "runbook/show.h"

#include <stdlib.h>
#include <string.h>

#define MESSAGE_MAX 512

void rb_diags_init(rb_diags *d) { memset(d, 0, sizeof *d); }

static void diag_free(rb_diag *g)
{
    free(g->file);
    free(g->rule);
    free(g->message);
    free(g->source_line);
    free(g->waived);
    free(g->hint);
}

void rb_diags_cleanup(rb_diags *d)
{
    for (size_t i = 0; i < d->count; i++)
        diag_free(&d->items[i]);
    free(d->items);
    memset(d, 0, sizeof *d);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* Length of the valid UTF-8 sequence at s (at most `left` bytes), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
    size_t n = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (!n || n > left || (n == 2 && s[0] < 0xC2) || (n == 4 && s[0] > 0xF4))
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* Diagnostics go to JSON and SARIF too: a message cut by a byte limit (%.40s of user text)
 * or quoting bad input must still be valid UTF-8, so broken sequences become '?'. */
static void make_utf8(char *s)
{
    size_t left = strlen(s);
    unsigned char *p = (unsigned char *)s;
    while (left) {
        size_t n = utf8_len(p, left);
        if (!n)
            *p = '?', n = 1;
        p += n;
        left -= n;
    }
}

/* Keeps one line only, so a message can never break the "file:line:col:" framing. */
static char *one_line(const char *s, size_t len)
{
    const char *nl = memchr(s, '\n', len);
    if (nl)
        len = (size_t)(nl - s);
    if (len && s[len - 1] == '\r')
        len--;
    if (len > RB_DIAG_SOURCE_MAX) {
        len = RB_DIAG_SOURCE_MAX;
        while (len && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--; /* do not cut a character in two */
    }
    char *out = strndup(s, len);
    if (out)
        make_utf8(out);
    return out;
}

static int grow(rb_diags *d)
{
    if (d->count < d->cap)
        return 0;
    size_t cap = d->cap ? d->cap * 2 : 16;
    rb_diag *items = realloc(d->items, cap * sizeof *items);
    if (!items)
        return -1;
    d->items = items;
    d->cap = cap;
    return 0;
}

void rb_diag_add(rb_diags *d, rb_severity sev, const char *rule, const char *file, uint32_t line,
                 uint32_t col, const char *source_line, size_t source_len, const char *fmt, ...)
{
    if (sev == RB_SEV_ERROR)
        d->errors++;
    else if (sev == RB_SEV_WARNING)
        d->warnings++;
    if (d->count >= RB_DIAG_MAX || grow(d) != 0) {
        d->dropped++;
        return;
    }
    char msg[MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rb_diag *g = &d->items[d->count++];
    memset(g, 0, sizeof *g);
    g->sev = sev;
    g->file = dup_or_null(file);
    g->line = line;
    g->col = col;
    g->rule = dup_or_null(rule);
    g->message = one_line(msg, strlen(msg));
    g->source_line = source_line ? one_line(source_line, source_len) : NULL;
}

void rb_diag_hint(rb_diags *d, const char *fmt, ...)
{
    if (d->count == 0 || d->dropped)
        return;
    char msg[MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rb_diag *g = &d->items[d->count - 1];
    free(g->hint);
    g->hint = one_line(msg, strlen(msg));
}

void rb_diag_waive(rb_diags *d, size_t i, const char *why, int external)
{
    rb_diag *g = i < d->count ? &d->items[i] : NULL;
    if (!g || g->sev != RB_SEV_WARNING || g->waived)
        return;
    g->waived = one_line(why, strlen(why));
    g->waived_external = external;
    d->warnings--;
    d->waived++;
}

void rb_diags_promote_warnings(rb_diags *d)
{
    for (size_t i = 0; i < d->count; i++)
        if (d->items[i].sev == RB_SEV_WARNING && !d->items[i].waived)
            d->items[i].sev = RB_SEV_ERROR;
    d->errors += d->warnings;
    d->warnings = 0;
}

static int cmp_str(const char *a, const char *b)
{
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

/* Insertion sort: stable, and lists are short (bounded by RB_DIAG_MAX). */
static int diag_before(const rb_diag *a, const rb_diag *b)
{
    int c = cmp_str(a->file, b->file);
    if (c)
        return c < 0;
    if (a->line != b->line)
        return a->line < b->line;
    return a->col < b->col;
}

void rb_diags_sort(rb_diags *d)
{
    for (size_t i = 1; i < d->count; i++) {
        rb_diag tmp = d->items[i];
        size_t j = i;
        while (j > 0 && diag_before(&tmp, &d->items[j - 1])) {
            d->items[j] = d->items[j - 1];
            j--;
        }
        d->items[j] = tmp;
    }
}

static const char *sev_name(rb_severity s)
{
    return s == RB_SEV_ERROR ? "error" : s == RB_SEV_WARNING ? "warning" : "note";
}

/* The caret goes under column `col` counted in characters of the line as shown (escaped): copy
 * the line's own tabs so it lines up, and one space per other column. */
static void print_caret(FILE *out, const char *src, uint32_t col)
{
    const char *p = src;
    for (uint32_t seen = 1; *p && seen < col; seen++) {
        size_t n = 1; /* one character of the source: its bytes, escaped as rb_show would */
        while (p[n] && ((unsigned char)p[n] & 0xC0) == 0x80 && n < 4)
            n++;
        size_t w;
        char *shown = rb_show_escape(p, n, &w);
        for (size_t i = 0; shown && i < w; i++)
            if (((unsigned char)shown[i] & 0xC0) != 0x80)
                fputc(shown[i] == '\t' ? '\t' : ' ', out);
        free(shown);
        p += n;
    }
    fputs("^\n", out);
}

static void print_location(FILE *out, const rb_diag *g)
{
    if (g->file)
        rb_showf(out, NULL, "%s:", g->file);
    if (g->line)
        fprintf(out, "%u:%u:", g->line, g->col);
    if (g->file || g->line)
        fputc(' ', out);
}

/* Everything a diagnostic quotes (a file name, a step id, the source line) is shown escaped:
 * a runbook cannot drive the terminal of whoever validates it. */
void rb_diags_print_text(const rb_diags *d, FILE *out, int color)
{
    const char *bold = color ? "\033[1m" : "", *reset = color ? "\033[0m" : "";
    for (size_t i = 0; i < d->count; i++) {
        const rb_diag *g = &d->items[i];
        const char *tint = !color ? "" : g->sev == RB_SEV_ERROR ? "\033[1;31m" : "\033[1;35m";
        if (g->waived)
            continue;
        fputs(bold, out);
        print_location(out, g);
        fprintf(out, "%s%s:%s%s ", tint, sev_name(g->sev), reset, bold);
        rb_showf(out, NULL, "%s", g->message);
        if (g->rule)
            rb_showf(out, NULL, " [%s]", g->rule);
        fprintf(out, "%s\n", reset);
        if (g->source_line && g->line) {
            rb_showf(out, NULL, "  %s\n  ", g->source_line);
            print_caret(out, g->source_line, g->col);
        }
        if (g->hint)
            rb_showf(out, NULL, "  hint: %s\n", g->hint);
    }
    if (d->dropped)
        fprintf(out, "(%zu more diagnostics not shown)\n", d->dropped);
}

/* GitHub's workflow commands take %, \r, \n escaped in the message and also : , in properties;
 * other control characters are shown visibly (the log viewer renders escape codes). */
static void print_escaped(FILE *out, const char *s, int property)
{
    const char *run = s;
    for (; s && *s; s++) {
        const char *e = *s == '%' ? "%25" : *s == '\r' ? "%0D" : *s == '\n' ? "%0A"
                      : property && *s == ':' ? "%3A" : property && *s == ',' ? "%2C" : NULL;
        if (!e)
            continue;
        rb_show(out, NULL, run, (size_t)(s - run));
        fputs(e, out);
        run = s + 1;
    }
    if (run)
        rb_show(out, NULL, run, strlen(run));
}

void rb_diags_print_github(const rb_diags *d, FILE *out)
{
    for (size_t i = 0; i < d->count; i++) {
        const rb_diag *g = &d->items[i];
        if (g->waived)
            continue;
        fprintf(out, "::%s ", g->sev == RB_SEV_ERROR ? "error" : g->sev == RB_SEV_WARNING ? "warning" : "notice");
        fputs("file=", out);
        print_escaped(out, g->file ? g->file : "", 1);
        /* GitHub counts lines and columns from 1: a diagnostic about the whole file is at 1 */
        fprintf(out, ",line=%u,col=%u", g->line ? g->line : 1, g->col ? g->col : 1);
        if (g->rule) {
            fputs(",title=", out);
            print_escaped(out, g->rule, 1);
        }
        fputs("::", out);
        print_escaped(out, g->message, 0);
        if (g->hint) {
            fputs(" (", out);
            print_escaped(out, g->hint, 0);
            fputs(")", out);
        }
        fputc('\n', out);
    }
}
