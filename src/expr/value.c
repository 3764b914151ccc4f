/* Value helpers shared across the expression stage (see value.h). */
#include "expr/value.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runbook/expr.h"

const char *expr_value_type_name(const json_t *v)
{
    if (rb_is_unknown(v))
        return "unknown";
    switch (json_typeof(v)) {
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "decimal";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_ARRAY: return "array";
    case JSON_OBJECT: return "object";
    default: return "null";
    }
}

double expr_value_number(const json_t *v)
{
    return json_is_integer(v) ? (double)json_integer_value(v) : json_real_value(v);
}

/* The fewest digits (from 15) that read back as the same double; jansson does the printing
 * so the text does not depend on the C locale's decimal point. */
static int real_to_text(const json_t *v, expr_buf *out)
{
    char buf[64];
    size_t n = 0;
    for (int p = 15; p <= 17; p++) {
        n = json_dumpb(v, buf, sizeof buf, JSON_ENCODE_ANY | JSON_REAL_PRECISION(p));
        if (n == 0 || n >= sizeof buf)
            return -1;
        json_t *back = json_loadb(buf, n, JSON_DECODE_ANY, NULL);
        int same = json_is_real(back) && json_real_value(back) == json_real_value(v);
        json_decref(back);
        if (same)
            break;
    }
    return expr_buf_add(out, buf, n);
}

static int json_to_text(const json_t *v, expr_buf *out)
{
    char *s = json_dumps(v, JSON_COMPACT);
    if (!s) {
        out->failed = 1;
        return -1;
    }
    int rc = expr_buf_add(out, s, strlen(s));
    free(s);
    return rc;
}

int expr_value_to_text(const json_t *v, expr_buf *out)
{
    char num[32];
    switch (json_typeof(v)) {
    case JSON_STRING: return expr_buf_add(out, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return expr_buf_add(out, num, strlen(num));
    case JSON_REAL: return real_to_text(v, out);
    case JSON_TRUE: return expr_buf_add(out, "true", 4);
    case JSON_FALSE: return expr_buf_add(out, "false", 5);
    case JSON_NULL: return expr_buf_add(out, "", 0);
    default: return json_to_text(v, out);
    }
}

int expr_value_equal(const json_t *a, const json_t *b)
{
    if (rb_is_unknown(a) || rb_is_unknown(b))
        return a == b;
    if (json_is_integer(a) && json_is_integer(b))
        return json_integer_value(a) == json_integer_value(b);
    if (json_is_number(a) && json_is_number(b))
        return expr_value_number(a) == expr_value_number(b);
    if (json_typeof(a) != json_typeof(b))
        return 0;
    if (json_is_string(a))
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    if (json_is_array(a) || json_is_object(a))
        return json_equal(a, b);
    return 1; /* true, false, null */
}
