/* Filling an rb_expr_error; shared by every file of the expression stage. */
#ifndef RUNBOOK_EXPR_ERROR_H
#define RUNBOOK_EXPR_ERROR_H

#include "runbook/expr.h"

/* Sets err (when not NULL) to the offset and the printf-formatted one-line message.
 * Callers pass names and types only, never values: values can be secrets. */
void expr_fail(rb_expr_error *err, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
