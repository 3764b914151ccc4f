/* Static types for the checker: what an expression's operands are known to be before any run,
 * so that `validate` finds a comparison that can only fail (ordering text against a number) or
 * only be false (equality across types, stdout against text without its newline). */
#include <stdio.h>
#include <string.h>

#include "ast.h"
#include "builtins.h"

typedef struct typer {
    rb_type_of_ref_fn type_of;
    rb_type_issue_fn issue;
    void *ctx;
} typer;

static rb_static_type type_of_node(const node *n, const typer *t);

static rb_static_type literal_type(const json_t *v)
{
    if (json_is_string(v))
        return RB_T_STRING;
    if (json_is_integer(v) || json_is_real(v))
        return RB_T_NUMBER;
    if (json_is_boolean(v))
        return RB_T_BOOL;
    return json_is_null(v) ? RB_T_NULL : RB_T_UNKNOWN;
}

/* A function gives the type its table says; default(a, b) gives a's when b's is the same. */
static rb_static_type call_type(const node *n, const typer *t)
{
    if (n->u.call.fn->result != RB_T_UNKNOWN || n->u.call.n != 2)
        return n->u.call.fn->result;
    rb_static_type a = type_of_node(n->u.call.args[0], t), b = type_of_node(n->u.call.args[1], t);
    return a == b ? a : RB_T_UNKNOWN;
}

static rb_static_type name_type(const node *n, const typer *t)
{
    /* a deeper path (steps.s.json.x, a computed key) reads into a value of unknown shape */
    if (n->u.name.n > 2)
        return RB_T_UNKNOWN;
    for (size_t i = 0; i < n->u.name.n; i++)
        if (n->u.name.path[i].expr || !n->u.name.path[i].key)
            return RB_T_UNKNOWN;
    rb_ref ref = {n->u.name.root, n->u.name.n > 0 ? n->u.name.path[0].key : NULL,
                  n->u.name.n > 1 ? n->u.name.path[1].key : NULL, n->offset};
    return t->type_of(&ref, t->ctx);
}

static rb_static_type type_of_node(const node *n, const typer *t)
{
    switch (n->kind) {
    case ND_LITERAL: return literal_type(n->u.literal);
    case ND_NAME: return name_type(n, t);
    case ND_CALL: return call_type(n, t);
    default: return RB_T_BOOL;
    }
}

static const char *type_name(rb_static_type ty)
{
    return ty == RB_T_NUMBER ? "a number" : ty == RB_T_BOOL ? "a boolean" : ty == RB_T_NULL ? "null" : "text";
}

static int is_text(rb_static_type ty) { return ty == RB_T_STRING || ty == RB_T_TEXT_LINE; }

/* Text that ends in a newline (stdout) against a literal that does not. */
static int newline_mismatch(const node *text, const node *other, rb_static_type ty)
{
    if (ty != RB_T_TEXT_LINE || other->kind != ND_LITERAL || !json_is_string(other->u.literal))
        return 0;
    size_t len = json_string_length(other->u.literal);
    return len == 0 || json_string_value(other->u.literal)[len - 1] != '\n';
}

static void check_compare(const node *n, const typer *t)
{
    rb_static_type l = type_of_node(n->u.cmp.left, t), r = type_of_node(n->u.cmp.right, t);
    char msg[200];
    int ordering = n->u.cmp.op != CMP_EQ && n->u.cmp.op != CMP_NE;
    if (l == RB_T_UNKNOWN || r == RB_T_UNKNOWN)
        return;
    if (ordering && !((l == RB_T_NUMBER && r == RB_T_NUMBER) || (is_text(l) && is_text(r)))) {
        snprintf(msg, sizeof msg, "cannot order %s and %s%s", type_name(l), type_name(r),
                 is_text(l) || is_text(r) ? ": convert the text with int()" : "");
        t->issue(n->offset, 0, msg, t->ctx);
    } else if (!ordering && l != r && !(is_text(l) && is_text(r)) && l != RB_T_NULL && r != RB_T_NULL) {
        snprintf(msg, sizeof msg, "%s compared with %s is never equal%s", type_name(l), type_name(r),
                 is_text(l) || is_text(r) ? ": convert the text with int() or the number with string()" : "");
        t->issue(n->offset, 1, msg, t->ctx);
    } else if (newline_mismatch(n->u.cmp.left, n->u.cmp.right, l) || newline_mismatch(n->u.cmp.right, n->u.cmp.left, r)) {
        t->issue(n->offset, 1, "stdout keeps its trailing newline, so this compares unequal: compare trim(...) instead", t->ctx);
    }
}

static void walk_types(const node *n, const typer *t)
{
    switch (n->kind) {
    case ND_CALL:
        for (size_t i = 0; i < n->u.call.n; i++)
            walk_types(n->u.call.args[i], t);
        break;
    case ND_AND:
    case ND_OR:
        for (size_t i = 0; i < n->u.list.n; i++)
            walk_types(n->u.list.items[i], t);
        break;
    case ND_NOT: walk_types(n->u.operand, t); break;
    case ND_COMPARE:
        walk_types(n->u.cmp.left, t);
        walk_types(n->u.cmp.right, t);
        check_compare(n, t);
        break;
    default: break;
    }
}

void rb_expr_check_types(const rb_expr *e, rb_type_of_ref_fn type_of, rb_type_issue_fn issue, void *ctx)
{
    typer t = {type_of, issue, ctx};
    if (e && type_of && issue)
        walk_types(e->root, &t);
}

rb_static_type rb_expr_static_type(const rb_expr *e, rb_type_of_ref_fn type_of, void *ctx)
{
    typer t = {type_of, NULL, ctx};
    return e && type_of ? type_of_node(e->root, &t) : RB_T_UNKNOWN;
}
