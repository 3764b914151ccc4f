/* Expression tree: allocation, release, and the walkers the checker uses (refs, calls). */
#include "expr/ast.h"

#include <stdlib.h>
#include <string.h>

#include "expr/builtins.h"

node *expr_node_new(rb_arena *a, node_kind kind, size_t offset)
{
    node *n = rb_arena_alloc(a, sizeof *n);
    if (n) {
        memset(n, 0, sizeof *n);
        n->kind = kind;
        n->offset = offset;
    }
    return n;
}

/* Capacity doubles at powers of two, so it need not be stored; a full list moves to a bigger
 * one in the arena (the old one is left there: lists are short). */
int expr_node_push(rb_arena *a, node ***items, size_t *n, node *child)
{
    if (*n == 0 || (*n & (*n - 1)) == 0) {
        size_t cap = *n ? *n * 2 : 2;
        node **p = rb_arena_alloc(a, cap * sizeof *p);
        if (!p)
            return -1;
        if (*n)
            memcpy(p, *items, *n * sizeof *p);
        *items = p;
    }
    (*items)[(*n)++] = child;
    return 0;
}

static void release_list(node **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        expr_node_release(items[i]);
}

void expr_node_release(node *n)
{
    if (!n)
        return;
    switch (n->kind) {
    case ND_LITERAL: json_decref(n->u.literal); n->u.literal = NULL; break;
    case ND_NAME:
        for (size_t i = 0; i < n->u.name.n; i++)
            expr_node_release(n->u.name.path[i].expr);
        break;
    case ND_CALL: release_list(n->u.call.args, n->u.call.n); break;
    case ND_AND:
    case ND_OR: release_list(n->u.list.items, n->u.list.n); break;
    case ND_NOT: expr_node_release(n->u.operand); break;
    case ND_COMPARE:
        expr_node_release(n->u.cmp.left);
        expr_node_release(n->u.cmp.right);
        break;
    case ND_MATCH:
        expr_node_release(n->u.match.subject);
        rb_regex_free(n->u.match.re);
        n->u.match.re = NULL;
        break;
    }
}

void rb_expr_free(rb_expr *e)
{
    if (!e)
        return;
    expr_node_release(e->root);
    rb_arena_cleanup(&e->arena);
    free(e);
}

/* The walkers visit children in source order; one visitor serves both listings. */
typedef struct walker {
    rb_ref_fn on_ref;
    rb_call_fn on_call;
    void *ctx;
} walker;

static void walk(const node *n, const walker *w);

static void walk_list(node *const *items, size_t count, const walker *w)
{
    for (size_t i = 0; i < count; i++)
        walk(items[i], w);
}

static void visit_name(const node *n, const walker *w)
{
    if (!w->on_ref)
        return;
    rb_ref ref = {n->u.name.root, NULL, NULL, n->offset};
    if (n->u.name.n > 0)
        ref.name = n->u.name.path[0].key;
    if (n->u.name.n > 1)
        ref.field = n->u.name.path[1].key;
    w->on_ref(&ref, w->ctx);
}

static void walk(const node *n, const walker *w)
{
    switch (n->kind) {
    case ND_LITERAL: break;
    case ND_NAME:
        visit_name(n, w);
        for (size_t i = 0; i < n->u.name.n; i++)
            if (n->u.name.path[i].expr)
                walk(n->u.name.path[i].expr, w);
        break;
    case ND_CALL:
        if (w->on_call)
            w->on_call(n->u.call.fn->name, n->u.call.n, n->offset, w->ctx);
        walk_list(n->u.call.args, n->u.call.n, w);
        break;
    case ND_AND:
    case ND_OR: walk_list(n->u.list.items, n->u.list.n, w); break;
    case ND_NOT: walk(n->u.operand, w); break;
    case ND_COMPARE:
        walk(n->u.cmp.left, w);
        walk(n->u.cmp.right, w);
        break;
    case ND_MATCH: walk(n->u.match.subject, w); break;
    }
}

void rb_expr_refs(const rb_expr *e, rb_ref_fn fn, void *ctx)
{
    walker w = {fn, NULL, ctx};
    if (e && fn)
        walk(e->root, &w);
}

void rb_expr_calls(const rb_expr *e, rb_call_fn fn, void *ctx)
{
    walker w = {NULL, fn, ctx};
    if (e && fn)
        walk(e->root, &w);
}
