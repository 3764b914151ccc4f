/* The expression lexer: turns source bytes into tokens carrying absolute source offsets. */
#ifndef RUNBOOK_EXPR_LEXER_H
#define RUNBOOK_EXPR_LEXER_H

#include "expr/buf.h"
#include "runbook/expr.h"

typedef enum {
    TK_EOF, TK_IDENT, TK_STRING, TK_INT, TK_REAL, TK_DURATION, TK_TRUE, TK_FALSE, TK_NULL,
    TK_LPAREN, TK_RPAREN, TK_LBRACKET, TK_RBRACKET, TK_DOT, TK_COMMA,
    TK_OR, TK_AND, TK_NOT, TK_EQ, TK_NE, TK_MATCH, TK_NOMATCH, TK_LT, TK_LE, TK_GT, TK_GE
} token_kind;

typedef struct token {
    token_kind kind;
    size_t start, end; /* [start, end) in the source */
    long long ival;    /* TK_INT, TK_DURATION (milliseconds) */
    double rval;       /* TK_REAL */
} token;

typedef struct lexer {
    const char *src; /* the whole text; offsets are relative to it */
    size_t pos, end; /* next byte, and where this expression stops */
    token tok;       /* the current token */
    expr_buf text;   /* decoded contents of a TK_STRING that has escapes */
    const char *str; /* the current TK_STRING's contents: a slice of src, or text.data */
    size_t str_len;
} lexer;

void expr_lex_init(lexer *lx, const char *src, size_t start, size_t end);
void expr_lex_cleanup(lexer *lx);
/* Reads the next token into lx->tok; -1 with *err on a malformed token. */
int expr_lex_next(lexer *lx, rb_expr_error *err);
/* Maps an offset into the decoded contents of the string token at `quote` back to the source. */
size_t expr_lex_string_source_offset(const char *src, size_t quote, size_t decoded);
const char *expr_lex_token_name(token_kind k);
/* Where a string literal that starts at src[i] (a quote) ends: the index after its closing
 * quote, or (size_t)-1 when it is not closed before `end`. Shared with the template scanner. */
size_t expr_lex_skip_string(const char *src, size_t i, size_t end);
/* Finds the "}}" that closes a ${{ whose expression starts at src[i], skipping string literals
 * (a "}}" inside one does not close). Returns its index, or (size_t)-1 with *bad_quote set to
 * the offset of an unterminated string literal, or to (size_t)-1 when none was open. */
size_t expr_lex_find_close(const char *src, size_t i, size_t end, size_t *bad_quote);

#endif
