/* The expression tree shared by the parser, the evaluator and the walkers. Every node keeps the
 * source offset of its first token (its operator for binary nodes) for error messages. */
#ifndef RUNBOOK_EXPR_AST_H
#define RUNBOOK_EXPR_AST_H

#include <jansson.h>

#include "runbook/expr.h"
#include "runbook/regex.h"
#include "util/arena.h"

struct expr_builtin;

typedef enum {
    ND_LITERAL, ND_NAME, ND_CALL, ND_NOT, ND_AND, ND_OR, ND_COMPARE, ND_MATCH
} node_kind;

typedef enum { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE } compare_op;

/* One step of a name chain: .ident or ["key"] (key != NULL), [index] (key == NULL), or
 * [expr] (expr != NULL: a key or an index computed at evaluation). */
typedef struct node node;
typedef struct access {
    char *key;
    size_t key_len;
    long long index;
    size_t offset;
    node *expr;
} access;

struct node {
    node_kind kind;
    size_t offset;
    union {
        json_t *literal;
        struct {
            char *root;
            access *path;
            size_t n;
        } name;
        struct {
            const struct expr_builtin *fn;
            node **args;
            size_t n;
        } call;
        struct { /* ND_AND, ND_OR: flat lists keep long chains from deepening the tree */
            node **items;
            size_t n;
        } list;
        node *operand; /* ND_NOT */
        struct {
            compare_op op;
            node *left, *right;
        } cmp;
        struct {
            int negate; /* !~ */
            node *subject;
            rb_regex *re;
        } match;
    } u;
};

struct rb_expr {
    node *root;
    rb_arena arena; /* every node, name and list of the tree */
    _Alignas(16) char first[448]; /* the arena's first block: most expressions fit in it */
};

/* Nodes, their lists and names live in the expression's arena; what a tree holds outside it
 * (literal values, compiled regexes) is released by expr_node_release. */
node *expr_node_new(rb_arena *a, node_kind kind, size_t offset);
/* Appends `child` to a node list in the arena; -1 when out of memory. */
int expr_node_push(rb_arena *a, node ***items, size_t *n, node *child);
void expr_node_release(node *n);

#endif
