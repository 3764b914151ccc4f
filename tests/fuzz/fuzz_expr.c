/* libFuzzer target for src/expr: the input is parsed as a template, as an expression and as a
 * duration; whatever parses is listed, evaluated over small fixed values, rendered and freed.
 * Build: clang -fsanitize=fuzzer,address,undefined -Iinclude -Isrc src/expr/[a-z]*.c
 *        tests/fuzz/fuzz_expr.c -lpcre2-8 -ljansson */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runbook/expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *values;

/* Built once; jansson's refcounting is atomic, and the fuzzer never frees it. */
static json_t *fixed_values(void)
{
    if (!values) {
        values = json_pack("{s:{s:s, s:i, s:f, s:b, s:[i,s,n]}, s:{s:{s:s, s:i, s:{s:s}}, "
                           "s:{s:[{s:i}]}, s:n}, s:{s:s}, s:{s:s}}",
                           "inputs", "host", "db1", "tries", 3, "ratio", 1.5, "flag", 1, "list", 1,
                           "x", "steps", "read-dns", "previous", "a'b\\c", "status", 200,
                           "headers", "content-type", "text/plain", "q", "rows", "lag", 7,
                           "failed", "env", "HOME", "/root", "secrets", "pw", "$(touch x)");
        if (!values)
            abort();
        json_object_set(json_object_get(values, "steps"), "u", rb_unknown());
    }
    return values;
}

static json_t *lookup(void *ctx, const char *root)
{
    (void)ctx;
    if (strcmp(root, "plan") == 0)
        return rb_unknown();
    return json_object_get(fixed_values(), root);
}

/* The walkers hand out strings that must stay readable while the expression lives. */
static void on_ref(const rb_ref *r, void *ctx)
{
    size_t *n = ctx;
    *n += strlen(r->root) + (r->name ? strlen(r->name) : 0) + (r->field ? strlen(r->field) : 0);
}

static void on_call(const char *name, size_t nargs, size_t offset, void *ctx)
{
    size_t *n = ctx;
    if (rb_expr_function_known(name, nargs) != 1)
        abort(); /* the parser admits only known functions with their arity */
    *n += offset;
}

static void exercise_expr(const rb_expr *e, const rb_scope *scope)
{
    size_t n = 0;
    rb_expr_error err;
    rb_expr_refs(e, on_ref, &n);
    rb_expr_calls(e, on_call, &n);
    json_t *v = rb_expr_eval(e, scope, &err);
    if (v && rb_value_truthy(v) == -1 && !rb_is_unknown(v))
        abort();
    json_decref(v);
}

static void exercise_template(const char *s, size_t len, const rb_scope *scope)
{
    rb_expr_error err;
    rb_template *t = rb_template_parse(s, len, &err);
    if (!t)
        return;
    size_t off;
    for (size_t i = 0; i < rb_template_parts(t); i++) {
        exercise_expr(rb_template_part(t, i, &off), scope);
        if (off >= len)
            abort();
    }
    int unknown;
    free(rb_template_render(t, scope, NULL, &unknown, &err));
    free(rb_template_render(t, scope, rb_shell_quote, NULL, &err));
    rb_template_free(t);
}

/* Whatever parses as a duration formats back to the same milliseconds. */
static void exercise_duration(const char *s, size_t len)
{
    long long ms, back;
    char buf[64];
    if (rb_duration_parse(s, len, &ms) != 0)
        return;
    rb_duration_format(ms, buf, sizeof buf);
    if (rb_duration_parse(buf, strlen(buf), &back) != 0 || back != ms)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    rb_scope scope = {lookup, NULL, NULL};
    rb_expr_error err;
    exercise_template(s, size, &scope);
    rb_expr *e = rb_expr_parse(s, size, &err);
    if (e) {
        exercise_expr(e, &scope);
        rb_expr_free(e);
    } else if (err.offset > size) {
        abort(); /* an error points inside the text or just past its end */
    }
    exercise_duration(s, size);
    char *q = rb_shell_quote(s, size);
    free(q);
    return 0;
}
