/* A growable byte buffer private to the expression stage, bounded so hostile values cannot
 * make it grow without limit. */
#ifndef RUNBOOK_EXPR_BUF_H
#define RUNBOOK_EXPR_BUF_H

#include <stddef.h>

typedef struct expr_buf {
    char *data; /* always NUL-terminated once anything was added */
    size_t len, cap;
    size_t limit; /* 0: no limit beyond size_t */
    int failed;   /* set when an append ran out of memory or over the limit */
} expr_buf;

void expr_buf_init(expr_buf *b, size_t limit);
void expr_buf_cleanup(expr_buf *b);
/* Appends; on failure sets b->failed and returns -1 (later appends are no-ops). */
int expr_buf_add(expr_buf *b, const char *s, size_t n);
int expr_buf_addc(expr_buf *b, char c);
/* Hands the NUL-terminated contents to the caller (never NULL unless failed) and resets b. */
char *expr_buf_take(expr_buf *b, size_t *len);

#endif
