/* Templates: literal text with ${{ expr }} parts, parsed once and rendered many times.
 * "$${{" is the escape for a literal "${{". */
#include <stdlib.h>
#include <string.h>

#include "expr/ast.h"
#include "expr/buf.h"
#include "expr/error.h"
#include "expr/lexer.h"
#include "expr/parser.h"
#include "expr/value.h"

typedef struct part {
    char *text; /* literal text (NUL-terminated copy), or NULL for an expression part */
    size_t len;
    rb_expr *expr;
    size_t offset; /* of the "${{" or of the literal's first byte */
} part;

#define INLINE_PARTS 4 /* most templates have a few parts: they need no more allocation */

struct rb_template {
    part *parts;
    size_t n, cap;
    size_t *exprs; /* index in parts of the i-th expression part */
    size_t nexprs;
    part inline_parts[INLINE_PARTS];
    size_t inline_exprs[INLINE_PARTS];
};

/* A bigger copy of an array that starts inline and moves to the heap when it outgrows it. */
static void *grow_array(void *cur, const void *inline_array, size_t used, size_t cap, size_t size)
{
    if (cur != inline_array)
        return realloc(cur, cap * size);
    void *p = malloc(cap * size);
    if (p)
        memcpy(p, inline_array, used * size);
    return p;
}

static int grow_parts(rb_template *t)
{
    size_t cap = 2 * t->cap;
    part *parts = grow_array(t->parts, t->inline_parts, t->n, cap, sizeof *parts);
    if (!parts)
        return -1;
    t->parts = parts;
    size_t *idx = grow_array(t->exprs, t->inline_exprs, t->nexprs, cap, sizeof *idx);
    if (!idx)
        return -1; /* each array is still whole: rb_template_free frees what is on the heap */
    t->exprs = idx;
    t->cap = cap;
    return 0;
}

static int push_part(rb_template *t, const part *p)
{
    if (t->n == t->cap && grow_parts(t) < 0)
        return -1;
    if (p->expr)
        t->exprs[t->nexprs++] = t->n;
    t->parts[t->n++] = *p;
    return 0;
}

/* Moves the pending literal text into a part. */
static int flush_literal(rb_template *t, expr_buf *lit, size_t offset)
{
    if (lit->len == 0)
        return lit->failed ? -1 : 0;
    part p = {NULL, 0, NULL, offset};
    if (!(p.text = expr_buf_take(lit, &p.len)) || push_part(t, &p) < 0) {
        free(p.text);
        return -1;
    }
    return 0;
}

/* Parses the ${{ at src[at]; on success *next is the index after its "}}". */
static int add_expr_part(rb_template *t, const char *src, size_t at, size_t len, size_t *next,
                         rb_expr_error *err)
{
    size_t bad, close = expr_lex_find_close(src, at + 3, len, &bad);
    if (close == (size_t)-1) {
        expr_fail(err, bad != (size_t)-1 ? bad : at,
                  bad != (size_t)-1 ? "unterminated string" : "unterminated ${{");
        return -1;
    }
    part p = {NULL, 0, expr_parse_range(src, at + 3, close, err), at};
    if (!p.expr)
        return -1;
    if (push_part(t, &p) < 0) {
        rb_expr_free(p.expr);
        expr_fail(err, at, "out of memory");
        return -1;
    }
    *next = close + 2;
    return 0;
}

static int starts_with_at(const char *src, size_t i, size_t len, const char *s)
{
    size_t n = strlen(s);
    return len - i >= n && memcmp(src + i, s, n) == 0;
}

/* Scans literal text up to the next "$", then decides what the "$" starts. */
static int scan(rb_template *t, const char *src, size_t len, expr_buf *lit, rb_expr_error *err)
{
    size_t i = 0, lit_start = 0;
    while (i < len) {
        const char *d = memchr(src + i, '$', len - i);
        size_t stop = d ? (size_t)(d - src) : len;
        expr_buf_add(lit, src + i, stop - i);
        if ((i = stop) >= len)
            break;
        if (starts_with_at(src, i, len, "$${{")) {
            expr_buf_add(lit, "${{", 3);
            i += 4;
        } else if (starts_with_at(src, i, len, "${{")) {
            if (flush_literal(t, lit, lit_start) < 0 || add_expr_part(t, src, i, len, &i, err) < 0)
                return -1;
            lit_start = i;
        } else {
            expr_buf_addc(lit, src[i++]);
        }
    }
    return flush_literal(t, lit, lit_start);
}

rb_template *rb_template_parse(const char *src, size_t len, rb_expr_error *err)
{
    rb_template *t = malloc(sizeof *t); /* the inline arrays need no zeroing: n counts them */
    if (t)
        *t = (rb_template){.parts = t->inline_parts, .exprs = t->inline_exprs, .cap = INLINE_PARTS};
    expr_buf lit;
    expr_buf_init(&lit, 0);
    rb_expr_error local;
    if (!err)
        err = &local;
    err->message[0] = '\0';
    if (!t || scan(t, src, len, &lit, err) < 0) {
        if (!err->message[0])
            expr_fail(err, 0, "out of memory");
        expr_buf_cleanup(&lit);
        rb_template_free(t);
        return NULL;
    }
    expr_buf_cleanup(&lit);
    return t;
}

void rb_template_free(rb_template *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->parts[i].text);
        rb_expr_free(t->parts[i].expr);
    }
    if (t->parts != t->inline_parts)
        free(t->parts);
    if (t->exprs != t->inline_exprs)
        free(t->exprs);
    free(t);
}

int rb_template_is_literal(const rb_template *t)
{
    return t->nexprs == 0;
}

const rb_expr *rb_template_single(const rb_template *t)
{
    return t->n == 1 && t->nexprs == 1 ? t->parts[0].expr : NULL;
}

size_t rb_template_parts(const rb_template *t)
{
    return t->nexprs;
}

const rb_expr *rb_template_part(const rb_template *t, size_t i, size_t *offset)
{
    if (i >= t->nexprs)
        return NULL;
    const part *p = &t->parts[t->exprs[i]];
    if (offset)
        *offset = p->offset;
    return p->expr;
}

/* Appends one expression's text; 1 when its value is unknown, -1 on error. */
static int render_part(const part *p, size_t index, const rb_scope *scope, rb_template_subst_fn subst,
                       void *ctx, expr_buf *out, rb_expr_error *err)
{
    json_t *v = rb_expr_eval(p->expr, scope, err);
    if (!v || rb_is_unknown(v))
        return v ? 1 : -1;
    expr_buf text;
    expr_buf_init(&text, 0);
    expr_value_to_text(v, &text);
    json_decref(v);
    size_t len = 0;
    char *s = expr_buf_take(&text, &len);
    if (s && subst) {
        char *q = subst(ctx, index, s, len);
        free(s);
        if (!q) {
            expr_fail(err, p->offset, "the value holds a NUL byte, which cannot be passed on");
            return -1;
        }
        s = q;
        len = strlen(q);
    }
    int rc = s ? expr_buf_add(out, s, len) : -1;
    free(s);
    if (rc < 0)
        expr_fail(err, p->offset, "out of memory");
    return rc;
}

char *rb_template_render_with(const rb_template *t, const rb_scope *scope, rb_template_subst_fn subst,
                              void *ctx, int *unknown, rb_expr_error *err)
{
    size_t index = 0;
    expr_buf out;
    size_t unknown_at = (size_t)-1; /* offset of the first unknown part */
    expr_buf_init(&out, 0);
    if (unknown)
        *unknown = 0;
    for (size_t i = 0; i < t->n; i++) {
        const part *p = &t->parts[i];
        int rc = p->expr ? render_part(p, index++, scope, subst, ctx, &out, err)
                         : expr_buf_add(&out, p->text, p->len);
        if (rc < 0) {
            if (!p->expr)
                expr_fail(err, p->offset, "out of memory");
            expr_buf_cleanup(&out);
            return NULL;
        }
        if (rc == 1 && unknown_at == (size_t)-1)
            unknown_at = p->offset;
        /* the result is a C string: a NUL in a value would cut it there, and the rest would be
         * lost without a word (prod\0-staging passed as prod) */
        if (p->expr && out.len && memchr(out.data, 0, out.len)) {
            expr_fail(err, p->offset, "the value holds a NUL byte, which cannot be passed on");
            expr_buf_cleanup(&out);
            return NULL;
        }
    }
    if (unknown_at != (size_t)-1) {
        if (unknown)
            *unknown = 1;
        else
            expr_fail(err, unknown_at, "a value is unknown before the run");
        expr_buf_cleanup(&out);
        return NULL;
    }
    return expr_buf_take(&out, NULL);
}

typedef struct quote_fn {
    char *(*quote)(const char *s, size_t len);
} quote_fn;

static char *apply_quote(void *ctx, size_t index, const char *s, size_t len)
{
    (void)index;
    return ((quote_fn *)ctx)->quote(s, len);
}

char *rb_template_render(const rb_template *t, const rb_scope *scope,
                         char *(*quote)(const char *s, size_t len), int *unknown,
                         rb_expr_error *err)
{
    quote_fn q = {quote};
    return rb_template_render_with(t, scope, quote ? apply_quote : NULL, &q, unknown, err);
}
