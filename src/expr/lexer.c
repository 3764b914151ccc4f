/* The expression lexer. Identifiers may contain hyphens (step ids such as read-dns), which is
 * why the language has no arithmetic: a '-' is part of a name or the sign of a number. */
#include "expr/lexer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "expr/error.h"

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_ident_char(char c) { return is_alpha(c) || is_digit(c) || c == '-'; }
static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

void expr_lex_init(lexer *lx, const char *src, size_t start, size_t end)
{
    memset(lx, 0, sizeof *lx);
    lx->src = src;
    lx->pos = start;
    lx->end = end;
    expr_buf_init(&lx->text, 0);
}

void expr_lex_cleanup(lexer *lx)
{
    expr_buf_cleanup(&lx->text);
}

/* Copies src[s, e) into lx->text so strtoll and the parser see a NUL-terminated string. */
static int set_text(lexer *lx, size_t s, size_t e)
{
    lx->text.len = 0;
    lx->text.failed = 0;
    return expr_buf_add(&lx->text, lx->src + s, e - s);
}

/* Identifiers are not copied: the parser reads them from the source (tok.start, tok.end). */
static int is_word(const lexer *lx, size_t s, size_t len, const char *word)
{
    return strlen(word) == len && memcmp(lx->src + s, word, len) == 0;
}

static int lex_ident(lexer *lx, rb_expr_error *err)
{
    (void)err;
    size_t s = lx->pos, p = s;
    while (p < lx->end && is_ident_char(lx->src[p]))
        p++;
    lx->tok.kind = TK_IDENT;
    if (is_word(lx, s, p - s, "true"))
        lx->tok.kind = TK_TRUE;
    else if (is_word(lx, s, p - s, "false"))
        lx->tok.kind = TK_FALSE;
    else if (is_word(lx, s, p - s, "null"))
        lx->tok.kind = TK_NULL;
    lx->tok.end = lx->pos = p;
    return 0;
}

static int finish_int(lexer *lx, size_t s, size_t p, rb_expr_error *err)
{
    if (set_text(lx, s, p) < 0) {
        expr_fail(err, s, "out of memory");
        return -1;
    }
    errno = 0;
    lx->tok.ival = strtoll(lx->text.data, NULL, 10);
    if (errno == ERANGE) {
        expr_fail(err, s, "integer out of range (64-bit)");
        return -1;
    }
    lx->tok.kind = TK_INT;
    lx->tok.end = lx->pos = p;
    return 0;
}

/* jansson reads the decimal, so the result does not depend on the C locale. */
static int finish_real(lexer *lx, size_t s, size_t p, rb_expr_error *err)
{
    json_t *v = json_loadb(lx->src + s, p - s, JSON_DECODE_ANY, NULL);
    if (!json_is_real(v)) {
        json_decref(v);
        expr_fail(err, s, "malformed or out-of-range decimal number");
        return -1;
    }
    lx->tok.rval = json_real_value(v);
    json_decref(v);
    lx->tok.kind = TK_REAL;
    lx->tok.end = lx->pos = p;
    return 0;
}

/* A number immediately followed by letters is a duration: 90s, 1h30m, 250ms. */
static int finish_duration(lexer *lx, size_t s, size_t p, rb_expr_error *err)
{
    while (p < lx->end && (is_alpha(lx->src[p]) || is_digit(lx->src[p])))
        p++;
    if (lx->src[s] == '-') {
        expr_fail(err, s, "a duration cannot be negative");
        return -1;
    }
    if (rb_duration_parse(lx->src + s, p - s, &lx->tok.ival) < 0) {
        expr_fail(err, s, "malformed number or duration (durations look like 250ms, 90s, 1h30m)");
        return -1;
    }
    lx->tok.kind = TK_DURATION;
    lx->tok.end = lx->pos = p;
    return 0;
}

static int lex_number(lexer *lx, rb_expr_error *err)
{
    size_t s = lx->pos, p = s + (lx->src[s] == '-');
    while (p < lx->end && is_digit(lx->src[p]))
        p++;
    if (p + 1 < lx->end && lx->src[p] == '.' && is_digit(lx->src[p + 1])) {
        p++;
        while (p < lx->end && is_digit(lx->src[p]))
            p++;
        if (p < lx->end && is_alpha(lx->src[p])) {
            expr_fail(err, s, "malformed number (a duration takes whole numbers: 1500ms)");
            return -1;
        }
        return finish_real(lx, s, p, err);
    }
    if (p < lx->end && is_alpha(lx->src[p]))
        return finish_duration(lx, s, p, err);
    return finish_int(lx, s, p, err);
}

static int unescape(char c, char *out)
{
    switch (c) {
    case '"': *out = '"'; return 0;
    case '\\': *out = '\\'; return 0;
    case 'n': *out = '\n'; return 0;
    case 't': *out = '\t'; return 0;
    case 'r': *out = '\r'; return 0;
    default: return -1;
    }
}

/* 'single' strings take every byte as is; "double" ones know \" \\ \n \t \r. */
static int lex_string(lexer *lx, rb_expr_error *err)
{
    size_t s = lx->pos, i = s + 1;
    char q = lx->src[s];
    const char *close = memchr(lx->src + i, q, lx->end - i);
    if (close && (q == '\'' || !memchr(lx->src + i, '\\', (size_t)(close - lx->src) - i))) {
        lx->str = lx->src + i; /* nothing to decode: the token is its source */
        lx->str_len = (size_t)(close - lx->src) - i;
        lx->tok.kind = TK_STRING;
        lx->tok.end = lx->pos = (size_t)(close - lx->src) + 1;
        return 0;
    }
    lx->text.len = 0;
    lx->text.failed = 0;
    while (i < lx->end && lx->src[i] != q) {
        size_t run = i; /* copy a stretch without escapes in one go */
        while (run < lx->end && lx->src[run] != q && lx->src[run] != '\\')
            run++;
        if (run > i) {
            expr_buf_add(&lx->text, lx->src + i, run - i);
            i = run;
            continue;
        }
        char c = lx->src[i++];
        if (c == '\\' && q == '"') {
            if (i >= lx->end)
                break;
            if (unescape(lx->src[i], &c) < 0) {
                expr_fail(err, i - 1, "unknown escape in a double-quoted string "
                                      "(single quotes keep backslashes as they are)");
                return -1;
            }
            i++;
        }
        expr_buf_addc(&lx->text, c);
    }
    if (i >= lx->end) {
        expr_fail(err, s, "unterminated string");
        return -1;
    }
    if (expr_buf_add(&lx->text, "", 0) < 0) {
        expr_fail(err, s, "out of memory");
        return -1;
    }
    lx->str = lx->text.data;
    lx->str_len = lx->text.len;
    lx->tok.kind = TK_STRING;
    lx->tok.end = lx->pos = i + 1;
    return 0;
}

static int punct_error(lexer *lx, rb_expr_error *err)
{
    unsigned char c = (unsigned char)lx->src[lx->pos];
    if (c == '-')
        expr_fail(err, lx->pos, "unexpected '-': there is no arithmetic, and a name with a "
                                "hyphen has no spaces around it");
    else if (c == '=')
        expr_fail(err, lx->pos, "unexpected '=': compare with ==");
    else if (c == '&' || c == '|')
        expr_fail(err, lx->pos, "unexpected '%c': use %c%c", c, c, c);
    else if (c > ' ' && c < 127)
        expr_fail(err, lx->pos, "unexpected character '%c'", c);
    else
        expr_fail(err, lx->pos, "unexpected byte 0x%02x", c);
    return -1;
}

/* The operator at lx->pos: two-character ones first, so "<=" is not "<" then "=". */
static token_kind punct_kind(const lexer *lx, size_t *len)
{
    char c = lx->src[lx->pos], d = lx->pos + 1 < lx->end ? lx->src[lx->pos + 1] : 0;
    *len = 2;
    switch (c) {
    case '|': return d == '|' ? TK_OR : TK_EOF;
    case '&': return d == '&' ? TK_AND : TK_EOF;
    case '=': return d == '=' ? TK_EQ : d == '~' ? TK_MATCH : TK_EOF;
    case '!': return d == '=' ? TK_NE : d == '~' ? TK_NOMATCH : (*len = 1, TK_NOT);
    case '<': return d == '=' ? TK_LE : (*len = 1, TK_LT);
    case '>': return d == '=' ? TK_GE : (*len = 1, TK_GT);
    }
    *len = 1;
    switch (c) {
    case '(': return TK_LPAREN;
    case ')': return TK_RPAREN;
    case '[': return TK_LBRACKET;
    case ']': return TK_RBRACKET;
    case '.': return TK_DOT;
    case ',': return TK_COMMA;
    default: return TK_EOF;
    }
}

static int lex_punct(lexer *lx, rb_expr_error *err)
{
    size_t n;
    token_kind k = punct_kind(lx, &n);
    if (k == TK_EOF)
        return punct_error(lx, err);
    lx->tok.kind = k;
    lx->tok.end = lx->pos += n;
    return 0;
}

int expr_lex_next(lexer *lx, rb_expr_error *err)
{
    while (lx->pos < lx->end && is_space(lx->src[lx->pos]))
        lx->pos++;
    lx->tok.start = lx->tok.end = lx->pos;
    lx->tok.ival = 0;
    lx->tok.rval = 0;
    if (lx->pos >= lx->end) {
        lx->tok.kind = TK_EOF;
        return 0;
    }
    char c = lx->src[lx->pos];
    if (is_alpha(c))
        return lex_ident(lx, err);
    if (is_digit(c) || (c == '-' && lx->pos + 1 < lx->end && is_digit(lx->src[lx->pos + 1])))
        return lex_number(lx, err);
    if (c == '\'' || c == '"')
        return lex_string(lx, err);
    return lex_punct(lx, err);
}

size_t expr_lex_skip_string(const char *src, size_t i, size_t end)
{
    char q = src[i++];
    while (i < end) {
        if (src[i] == q)
            return i + 1;
        i += (q == '"' && src[i] == '\\') ? 2 : 1;
    }
    return (size_t)-1;
}

/* The next quote or '}' at or after i (end if none): memchr runs a word at a time, which
 * matters because every template part is scanned here before it is lexed. */
static size_t next_stop(const char *src, size_t i, size_t end)
{
    const char *brace = memchr(src + i, '}', end - i);
    size_t stop = brace ? (size_t)(brace - src) : end;
    const char *q1 = memchr(src + i, '\'', stop - i);
    if (q1)
        stop = (size_t)(q1 - src);
    const char *q2 = memchr(src + i, '"', stop - i);
    return q2 ? (size_t)(q2 - src) : stop;
}

size_t expr_lex_find_close(const char *src, size_t i, size_t end, size_t *bad_quote)
{
    *bad_quote = (size_t)-1;
    while ((i = next_stop(src, i, end)) < end) {
        if (src[i] == '\'' || src[i] == '"') {
            size_t next = expr_lex_skip_string(src, i, end);
            if (next == (size_t)-1) {
                *bad_quote = i;
                return (size_t)-1;
            }
            i = next;
        } else if (src[i] == '}' && i + 1 < end && src[i + 1] == '}') {
            return i;
        } else {
            i++;
        }
    }
    return (size_t)-1;
}

size_t expr_lex_string_source_offset(const char *src, size_t quote, size_t decoded)
{
    char q = src[quote];
    size_t i = quote + 1;
    for (size_t n = 0; n < decoded && src[i] != q; n++)
        i += (q == '"' && src[i] == '\\') ? 2 : 1;
    return i;
}

const char *expr_lex_token_name(token_kind k)
{
    static const char *const names[] = {
        "end of expression", "name", "string", "integer", "decimal", "duration", "'true'",
        "'false'", "'null'", "'('", "')'", "'['", "']'", "'.'", "','", "'||'", "'&&'", "'!'",
        "'=='", "'!='", "'=~'", "'!~'", "'<'", "'<='", "'>'", "'>='",
    };
    return names[k];
}
