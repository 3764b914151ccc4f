/* The functions of the expression language, one row each in `builtins` (as Lua's lstrlib).
 * Messages name the function and the types involved, never a value: values can be secrets. */
#include "expr/builtins.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "expr/buf.h"
#include "expr/error.h"
#include "expr/value.h"

static json_t *fail_type(const expr_call *c, const char *want, const json_t *got)
{
    expr_fail(c->err, c->offset, "%s() expects %s, not %s", c->name, want,
              expr_value_type_name(got));
    return NULL;
}

/* jansson returns NULL when out of memory or when a built string is not valid UTF-8. */
static json_t *made(json_t *v, const expr_call *c)
{
    if (!v)
        expr_fail(c->err, c->offset, "%s(): out of memory or invalid UTF-8 in the result",
                  c->name);
    return v;
}

static const char *arg_string(const json_t *v, const expr_call *c, size_t *len)
{
    if (!json_is_string(v)) {
        fail_type(c, "a string", v);
        return NULL;
    }
    *len = json_string_length(v);
    return json_string_value(v);
}

static json_t *contains_item(const json_t *array, const json_t *needle)
{
    size_t i;
    json_t *item;
    json_array_foreach(array, i, item) {
        if (expr_value_equal(item, needle))
            return json_true();
    }
    return json_false();
}

static json_t *fn_contains(json_t *const *a, const expr_call *c)
{
    size_t hl, nl;
    if (json_is_array(a[0]))
        return contains_item(a[0], a[1]);
    if (!json_is_string(a[0]))
        return fail_type(c, "a string or an array", a[0]);
    const char *hay = arg_string(a[0], c, &hl), *needle = arg_string(a[1], c, &nl);
    if (!needle)
        return NULL;
    return json_boolean(nl == 0 || memmem(hay, hl, needle, nl) != NULL);
}

static json_t *fn_starts_with(json_t *const *a, const expr_call *c)
{
    size_t sl, pl;
    const char *s = arg_string(a[0], c, &sl), *p = s ? arg_string(a[1], c, &pl) : NULL;
    if (!p)
        return NULL;
    return json_boolean(pl <= sl && memcmp(s, p, pl) == 0);
}

static json_t *fn_ends_with(json_t *const *a, const expr_call *c)
{
    size_t sl, pl;
    const char *s = arg_string(a[0], c, &sl), *p = s ? arg_string(a[1], c, &pl) : NULL;
    if (!p)
        return NULL;
    return json_boolean(pl <= sl && memcmp(s + sl - pl, p, pl) == 0);
}

static json_t *fn_len(json_t *const *a, const expr_call *c)
{
    if (json_is_string(a[0]))
        return made(json_integer((json_int_t)json_string_length(a[0])), c);
    if (json_is_array(a[0]))
        return made(json_integer((json_int_t)json_array_size(a[0])), c);
    if (json_is_object(a[0]))
        return made(json_integer((json_int_t)json_object_size(a[0])), c);
    return fail_type(c, "a string, an array or an object", a[0]);
}

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

/* Surrounding whitespace is allowed: command output usually ends with a newline. */
static json_t *string_to_int(const json_t *v, const expr_call *c)
{
    const char *s = json_string_value(v), *stop = s + json_string_length(v), *end;
    const char *p = s;
    while (p < stop && is_blank(*p))
        p++;
    errno = 0;
    long long n = strtoll(p, (char **)&end, 10);
    int range = errno == ERANGE;
    while (end > p && end < stop && is_blank(*end))
        end++;
    if (end == p || end != stop || range) {
        expr_fail(c->err, c->offset, range ? "int(): the string's number is out of range"
                                           : "int(): the string is not an integer");
        return NULL;
    }
    return made(json_integer(n), c);
}

static json_t *fn_int(json_t *const *a, const expr_call *c)
{
    const json_t *v = a[0];
    if (json_is_integer(v))
        return json_incref(a[0]);
    if (json_is_boolean(v))
        return made(json_integer(json_is_true(v)), c);
    if (json_is_string(v))
        return string_to_int(v, c);
    if (!json_is_real(v))
        return fail_type(c, "a string, a number or a boolean", v);
    double d = json_real_value(v);
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) {
        expr_fail(c->err, c->offset, "int(): the decimal is out of range");
        return NULL;
    }
    return made(json_integer((json_int_t)d), c); /* toward zero, as C does */
}

static json_t *fn_string(json_t *const *a, const expr_call *c)
{
    expr_buf b;
    expr_buf_init(&b, RB_EXPR_MAX_VALUE);
    expr_value_to_text(a[0], &b);
    size_t len = 0;
    char *s = expr_buf_take(&b, &len);
    if (!s) {
        expr_fail(c->err, c->offset, "string(): the text would be too long");
        return NULL;
    }
    json_t *r = made(json_stringn(s, len), c);
    free(s);
    return r;
}

/* ASCII case mapping: bytes of multi-byte UTF-8 characters are all >= 0x80 and stay. */
static json_t *map_case(json_t *const *a, const expr_call *c, int upper)
{
    size_t len;
    const char *s = arg_string(a[0], c, &len);
    if (!s)
        return NULL;
    if (len > RB_EXPR_MAX_VALUE) {
        expr_fail(c->err, c->offset, "%s(): the string is too long", c->name);
        return NULL;
    }
    char *t = malloc(len + 1);
    if (!t)
        return made(NULL, c);
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (upper && ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        else if (!upper && ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        t[i] = ch;
    }
    json_t *r = made(json_stringn_nocheck(t, len), c);
    free(t);
    return r;
}

static json_t *fn_lower(json_t *const *a, const expr_call *c) { return map_case(a, c, 0); }
static json_t *fn_upper(json_t *const *a, const expr_call *c) { return map_case(a, c, 1); }

static json_t *fn_trim(json_t *const *a, const expr_call *c)
{
    size_t len;
    const char *s = arg_string(a[0], c, &len);
    if (!s)
        return NULL;
    while (len > 0 && is_blank(*s))
        s++, len--;
    while (len > 0 && is_blank(s[len - 1]))
        len--;
    return made(json_stringn_nocheck(s, len), c);
}

static json_t *fn_duration(json_t *const *a, const expr_call *c)
{
    long long ms;
    if (json_is_integer(a[0]))
        return json_incref(a[0]); /* already milliseconds */
    size_t len;
    const char *s = arg_string(a[0], c, &len);
    if (!s)
        return NULL;
    if (rb_duration_parse(s, len, &ms) < 0) {
        expr_fail(c->err, c->offset, "duration(): the string is not a duration like 90s or 1h30m");
        return NULL;
    }
    return made(json_integer(ms), c);
}

/* Numbers and booleans are quoted by their text; null, arrays and objects are refused. */
static json_t *sql_quote(json_t *const *a, const expr_call *c, int ident)
{
    const json_t *v = a[0];
    if (json_is_null(v) || json_is_array(v) || json_is_object(v))
        return fail_type(c, "a string, a number or a boolean", v);
    expr_buf b;
    expr_buf_init(&b, RB_EXPR_MAX_VALUE);
    expr_value_to_text(v, &b);
    size_t len = 0;
    char *text = expr_buf_take(&b, &len), *q = NULL;
    if (text && !memchr(text, '\0', len))
        q = c->scope->sql_escape ? c->scope->sql_escape(c->scope->ctx, text, len, ident)
                                 : expr_sql_quote(text, len, ident);
    int nul = text && memchr(text, '\0', len);
    free(text);
    if (!q) {
        expr_fail(c->err, c->offset, nul ? "%s(): the string contains a NUL byte"
                                         : "%s(): the value could not be quoted", c->name);
        return NULL;
    }
    json_t *r = made(json_string(q), c);
    free(q);
    return r;
}

static json_t *fn_sql_literal(json_t *const *a, const expr_call *c) { return sql_quote(a, c, 0); }
static json_t *fn_sql_ident(json_t *const *a, const expr_call *c) { return sql_quote(a, c, 1); }

static const expr_builtin builtins[] = {
    {"contains", 2, fn_contains, RB_T_BOOL},         {"starts_with", 2, fn_starts_with, RB_T_BOOL},
    {"ends_with", 2, fn_ends_with, RB_T_BOOL},       {"len", 1, fn_len, RB_T_NUMBER},
    {"int", 1, fn_int, RB_T_NUMBER},                 {"string", 1, fn_string, RB_T_STRING},
    {"lower", 1, fn_lower, RB_T_STRING},             {"upper", 1, fn_upper, RB_T_STRING},
    {"trim", 1, fn_trim, RB_T_STRING},               {"duration", 1, fn_duration, RB_T_NUMBER},
    {"sql_literal", 1, fn_sql_literal, RB_T_STRING}, {"sql_ident", 1, fn_sql_ident, RB_T_STRING},
    {"default", 2, NULL, RB_T_UNKNOWN},
};

const expr_builtin *expr_builtin_find(const char *name)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(builtins[i].name, name) == 0)
            return &builtins[i];
    return NULL;
}

int rb_expr_function_known(const char *name, size_t nargs)
{
    const expr_builtin *f = name ? expr_builtin_find(name) : NULL;
    if (!f)
        return 0;
    return f->nargs == nargs ? 1 : -1;
}
