/* Growable byte buffer for the expression stage (see buf.h). */
#include "expr/buf.h"

#include <stdlib.h>
#include <string.h>

void expr_buf_init(expr_buf *b, size_t limit)
{
    memset(b, 0, sizeof *b);
    b->limit = limit;
}

void expr_buf_cleanup(expr_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

static int grow(expr_buf *b, size_t need)
{
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > ((size_t)-1) / 2)
            return -1;
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int expr_buf_add(expr_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return -1;
    /* +1 keeps room for the terminating NUL */
    if (n >= ((size_t)-1) - b->len || (b->limit && b->len + n > b->limit) ||
        (b->len + n + 1 > b->cap && grow(b, b->len + n + 1) < 0)) {
        b->failed = 1;
        return -1;
    }
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int expr_buf_addc(expr_buf *b, char c)
{
    return expr_buf_add(b, &c, 1);
}

char *expr_buf_take(expr_buf *b, size_t *len)
{
    if (b->failed || (!b->data && expr_buf_add(b, "", 0) < 0)) {
        expr_buf_cleanup(b);
        return NULL;
    }
    char *s = b->data;
    if (len)
        *len = b->len;
    memset(b, 0, sizeof *b);
    return s;
}
