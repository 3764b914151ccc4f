/* Located error messages for the expression stage (see error.h). */
#include "expr/error.h"

#include <stdarg.h>
#include <stdio.h>

void expr_fail(rb_expr_error *err, size_t offset, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    err->offset = offset;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    /* One line: a name echoed from the source must not break the caret display. */
    for (char *p = err->message; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}
