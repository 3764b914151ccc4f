/* Entry point of the parser for the template code. */
#ifndef RUNBOOK_EXPR_PARSER_H
#define RUNBOOK_EXPR_PARSER_H

#include "runbook/expr.h"

/* Parses the expression in src[start, end); offsets (in errors and in the tree) are relative to
 * `src`, so a template's parts report positions in the template's text. */
rb_expr *expr_parse_range(const char *src, size_t start, size_t end, rb_expr_error *err);

#endif
