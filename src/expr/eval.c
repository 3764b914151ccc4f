/* The evaluator: walks the tree over JSON values from the scope. The unknown value (plans, dry
 * runs) flows through every operator except where && or || is already decided on its left. */
#include <string.h>

#include "expr/ast.h"
#include "expr/buf.h"
#include "expr/builtins.h"
#include "expr/error.h"
#include "expr/value.h"

typedef struct evaluator {
    const rb_scope *scope;
    rb_expr_error *err;
} evaluator;

/* Shaped like jansson's own null/true/false: a refcount of (size_t)-1 makes json_incref and
 * json_decref leave it alone, so it is never freed and threads may share it. */
static json_t unknown_value = {.type = JSON_NULL, .refcount = (size_t)-1};

json_t *rb_unknown(void)
{
    return &unknown_value;
}

int rb_is_unknown(const json_t *v)
{
    return v == &unknown_value;
}

int rb_value_truthy(const json_t *v)
{
    if (rb_is_unknown(v))
        return -1;
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_TRUE: return 1;
    case JSON_INTEGER: return json_integer_value(v) != 0;
    case JSON_REAL: return json_real_value(v) != 0.0;
    case JSON_STRING: return json_string_length(v) > 0;
    case JSON_ARRAY: return json_array_size(v) > 0;
    case JSON_OBJECT: return json_object_size(v) > 0;
    default: return 0; /* false, null */
    }
}

static json_t *eval(const node *n, const evaluator *ev);

/* One step of a name chain. Null stays null (a field of a step that did not succeed is null,
 * and so is everything below it); a missing key or index is null too. */
static json_t *member(json_t *v, const access *a, const evaluator *ev)
{
    json_t *m = NULL;
    if (json_is_null(v))
        return v;
    if (a->key && !json_is_object(v)) {
        expr_fail(ev->err, a->offset, "cannot read field '%.40s': the value is of type %s", a->key,
                  expr_value_type_name(v));
        return NULL;
    }
    if (!a->key && !json_is_array(v)) {
        expr_fail(ev->err, a->offset, "cannot index: the value is of type %s",
                  expr_value_type_name(v));
        return NULL;
    }
    if (a->key)
        m = json_object_getn(v, a->key, a->key_len);
    else if ((unsigned long long)a->index < json_array_size(v))
        m = json_array_get(v, (size_t)a->index);
    return m ? m : json_null();
}

/* v[expr]: a string computes a key, an integer of 0 or more an index. Borrowed result. */
static json_t *computed_member(json_t *v, const access *a, const evaluator *ev)
{
    json_t *k = eval(a->expr, ev);
    if (!k)
        return NULL;
    access fixed = {NULL, 0, 0, a->offset, NULL};
    json_t *m = NULL;
    if (rb_is_unknown(k))
        m = rb_unknown();
    else if (json_is_string(k))
        fixed.key = (char *)json_string_value(k), fixed.key_len = json_string_length(k), m = member(v, &fixed, ev);
    else if (json_is_integer(k) && json_integer_value(k) >= 0)
        fixed.index = json_integer_value(k), m = member(v, &fixed, ev);
    else
        expr_fail(ev->err, a->offset, "an index inside [ ] must be a string or an integer of 0 or more, not %s",
                  expr_value_type_name(k));
    json_decref(k);
    return m;
}

static json_t *eval_name(const node *n, const evaluator *ev)
{
    const rb_scope *s = ev->scope;
    json_t *v = s->lookup ? s->lookup(s->ctx, n->u.name.root) : NULL;
    if (!v) {
        expr_fail(ev->err, n->offset, "unknown name '%.60s'", n->u.name.root);
        return NULL;
    }
    for (size_t i = 0; i < n->u.name.n && !rb_is_unknown(v); i++)
        if (!(v = n->u.name.path[i].expr ? computed_member(v, &n->u.name.path[i], ev)
                                         : member(v, &n->u.name.path[i], ev)))
            return NULL;
    return json_incref(v);
}

/* default(x, y): y is evaluated only when x is null, as a run would need it. */
static json_t *eval_default(const node *n, const evaluator *ev)
{
    json_t *x = eval(n->u.call.args[0], ev);
    if (!x || rb_is_unknown(x) || !json_is_null(x))
        return x;
    json_decref(x);
    return eval(n->u.call.args[1], ev);
}

#define MAX_ARGS 4

static json_t *eval_call(const node *n, const evaluator *ev)
{
    const expr_builtin *fn = n->u.call.fn;
    json_t *args[MAX_ARGS] = {NULL};
    json_t *r = NULL;
    int unknown = 0;
    size_t got = 0;
    if (!fn->fn)
        return eval_default(n, ev);
    for (; got < n->u.call.n && got < MAX_ARGS; got++) {
        if (!(args[got] = eval(n->u.call.args[got], ev)))
            break;
        unknown |= rb_is_unknown(args[got]);
    }
    if (got == n->u.call.n) {
        expr_call c = {fn->name, ev->scope, n->offset, ev->err};
        r = unknown ? rb_unknown() : fn->fn(args, &c);
    }
    for (size_t i = 0; i < got; i++)
        json_decref(args[i]);
    return r;
}

static json_t *eval_not(const node *n, const evaluator *ev)
{
    json_t *v = eval(n->u.operand, ev);
    if (!v)
        return NULL;
    int t = rb_value_truthy(v);
    json_decref(v);
    return t < 0 ? rb_unknown() : json_boolean(!t);
}

/* && and ||, left to right; the first operand that decides ends it (the rest is not evaluated),
 * and an unknown operand before that makes the whole unknown. */
static json_t *eval_logic(const node *n, const evaluator *ev)
{
    /* Three-valued (Kleene) logic: an operand that decides wins even after an unknown one,
     * so `unknown && false` is false; only an undecided chain is unknown. */
    int decides = n->kind == ND_OR, unknown = 0;
    for (size_t i = 0; i < n->u.list.n; i++) {
        json_t *v = eval(n->u.list.items[i], ev);
        if (!v)
            return NULL;
        int t = rb_value_truthy(v);
        json_decref(v);
        if (t < 0)
            unknown = 1;
        else if (t == decides)
            return json_boolean(decides);
    }
    return unknown ? rb_unknown() : json_boolean(!decides);
}

static int compare_numbers(const json_t *l, const json_t *r)
{
    if (json_is_integer(l) && json_is_integer(r)) {
        json_int_t a = json_integer_value(l), b = json_integer_value(r);
        return (a > b) - (a < b);
    }
    double a = expr_value_number(l), b = expr_value_number(r);
    return (a > b) - (a < b);
}

static int compare_strings(const json_t *l, const json_t *r)
{
    size_t a = json_string_length(l), b = json_string_length(r);
    int c = memcmp(json_string_value(l), json_string_value(r), a < b ? a : b);
    return c ? (c > 0) - (c < 0) : (a > b) - (a < b);
}

/* < <= > >= order numbers with numbers and strings with strings (bytewise), nothing else. */
static json_t *order(const json_t *l, const json_t *r, const node *n, const evaluator *ev)
{
    int c;
    if (json_is_number(l) && json_is_number(r))
        c = compare_numbers(l, r);
    else if (json_is_string(l) && json_is_string(r))
        c = compare_strings(l, r);
    else {
        expr_fail(ev->err, n->offset, "cannot order %s and %s", expr_value_type_name(l),
                  expr_value_type_name(r));
        return NULL;
    }
    switch (n->u.cmp.op) {
    case CMP_LT: return json_boolean(c < 0);
    case CMP_LE: return json_boolean(c <= 0);
    case CMP_GT: return json_boolean(c > 0);
    default: return json_boolean(c >= 0);
    }
}

static json_t *eval_compare(const node *n, const evaluator *ev)
{
    json_t *l = eval(n->u.cmp.left, ev), *r = l ? eval(n->u.cmp.right, ev) : NULL, *res;
    compare_op op = n->u.cmp.op;
    if (!r) {
        json_decref(l);
        return NULL;
    }
    if (rb_is_unknown(l) || rb_is_unknown(r))
        res = rb_unknown();
    else if (op == CMP_EQ || op == CMP_NE)
        res = json_boolean(expr_value_equal(l, r) == (op == CMP_EQ));
    else
        res = order(l, r, n, ev);
    json_decref(l);
    json_decref(r);
    return res;
}

/* The subject is matched as text: strings as they are, other values as a template renders them. */
static json_t *eval_match(const node *n, const evaluator *ev)
{
    json_t *v = eval(n->u.match.subject, ev);
    if (!v || rb_is_unknown(v))
        return v;
    expr_buf text;
    expr_buf_init(&text, 0);
    int m = -1;
    if (json_is_string(v))
        m = rb_regex_match(n->u.match.re, json_string_value(v), json_string_length(v), -1, NULL,
                           NULL);
    else if (expr_value_to_text(v, &text) == 0)
        m = rb_regex_match(n->u.match.re, text.data, text.len, -1, NULL, NULL);
    expr_buf_cleanup(&text);
    json_decref(v);
    if (m < 0) {
        expr_fail(ev->err, n->offset, "regex match failed: too much backtracking, or the text "
                                      "is not valid UTF-8");
        return NULL;
    }
    return json_boolean(m != n->u.match.negate);
}

static json_t *eval(const node *n, const evaluator *ev)
{
    switch (n->kind) {
    case ND_LITERAL: return json_incref(n->u.literal);
    case ND_NAME: return eval_name(n, ev);
    case ND_CALL: return eval_call(n, ev);
    case ND_NOT: return eval_not(n, ev);
    case ND_AND:
    case ND_OR: return eval_logic(n, ev);
    case ND_COMPARE: return eval_compare(n, ev);
    case ND_MATCH: return eval_match(n, ev);
    }
    return NULL;
}

json_t *rb_expr_eval(const rb_expr *e, const rb_scope *scope, rb_expr_error *err)
{
    static const rb_scope empty;
    evaluator ev = {scope ? scope : &empty, err};
    if (!e) {
        expr_fail(err, 0, "no expression");
        return NULL;
    }
    return eval(e->root, &ev);
}
