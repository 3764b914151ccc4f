/* Value helpers shared by the evaluator, the builtins and the templates: type names for error
 * messages, the text form of a value, and the equality of ==. */
#ifndef RUNBOOK_EXPR_VALUE_H
#define RUNBOOK_EXPR_VALUE_H

#include <jansson.h>

#include "expr/buf.h"

/* "string", "integer", "decimal", "boolean", "null", "array", "object" or "unknown". */
const char *expr_value_type_name(const json_t *v);
/* Appends the rendered text of v (strings as is, numbers in decimal, true/false, null as
 * nothing, arrays and objects as compact JSON); -1 when out of memory or over out->limit. */
int expr_value_to_text(const json_t *v, expr_buf *out);
/* == : numbers by value across integer/decimal, strings bytewise, arrays and objects deeply;
 * values of different types are unequal. */
int expr_value_equal(const json_t *a, const json_t *b);
/* json_t* that is a number: its value as a double. */
double expr_value_number(const json_t *v);

#endif
