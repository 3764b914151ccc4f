/* Quoting of values for the places they land: one /bin/sh word, or an SQL literal/identifier
 * when no connection is at hand to do libpq's escaping. */
#include <string.h>

#include "expr/buf.h"
#include "expr/builtins.h"
#include "runbook/expr.h"

/* Inside '...' the shell gives no byte a meaning except ', which closes the quote; so a ' is
 * written as '\'' (close, escaped quote, reopen). A NUL cannot be part of a shell word. */
char *rb_shell_quote(const char *s, size_t len)
{
    expr_buf b;
    if (len && memchr(s, '\0', len))
        return NULL;
    expr_buf_init(&b, 0);
    expr_buf_addc(&b, '\'');
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\'')
            expr_buf_add(&b, "'\\''", 4);
        else
            expr_buf_addc(&b, s[i]);
    }
    expr_buf_addc(&b, '\'');
    return expr_buf_take(&b, NULL);
}

/* Doubling the closing quote is enough under standard_conforming_strings; when the text has a
 * backslash, the E'' form with doubled backslashes reads the same whatever that setting is. */
char *expr_sql_quote(const char *s, size_t len, int ident)
{
    char q = ident ? '"' : '\'';
    int e = !ident && len && memchr(s, '\\', len) != NULL;
    expr_buf b;
    if (len && memchr(s, '\0', len))
        return NULL;
    expr_buf_init(&b, RB_EXPR_MAX_VALUE);
    if (e)
        expr_buf_addc(&b, 'E');
    expr_buf_addc(&b, q);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == q || (e && s[i] == '\\'))
            expr_buf_addc(&b, s[i]);
        expr_buf_addc(&b, s[i]);
    }
    expr_buf_addc(&b, q);
    return expr_buf_take(&b, NULL);
}
