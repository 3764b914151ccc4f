/* The function table of the expression language: one row per function, looked up by name at
 * parse time so an unknown function or a wrong arity is a parse error. */
#ifndef RUNBOOK_EXPR_BUILTINS_H
#define RUNBOOK_EXPR_BUILTINS_H

#include <jansson.h>

#include "runbook/expr.h"

typedef struct expr_call {
    const char *name;      /* the function's name, for messages */
    const rb_scope *scope; /* for sql_escape */
    size_t offset;         /* of the call, for messages */
    rb_expr_error *err;
} expr_call;

/* Gets the evaluated arguments (never unknown: the evaluator decides those) and returns a new
 * reference, or NULL with c->err set. */
typedef json_t *(*builtin_fn)(json_t *const *args, const expr_call *c);

typedef struct expr_builtin {
    const char *name;
    size_t nargs;
    builtin_fn fn; /* NULL for default(), which the evaluator runs lazily */
    rb_static_type result; /* what it gives, for the checker (RB_T_UNKNOWN: depends) */
} expr_builtin;

const expr_builtin *expr_builtin_find(const char *name);

/* Standard-conforming SQL quoting without a connection: '...' (E'...' when there is a
 * backslash) or "..." for an identifier. NULL on a NUL byte, over RB_EXPR_MAX_VALUE, or OOM. */
char *expr_sql_quote(const char *s, size_t len, int ident);

#endif
