/* A shlex of the POSIX shell grammar, for one question: where does each ${{ }} of a `shell`
 * script or an `ssh` command stand? Values never enter the script's text: each ${{ }} becomes a
 * reference to an environment variable that holds the value (see shell_render.c), so no value
 * can be read as shell code. What the shlex decides is only which spelling of that reference
 * the place needs ("$RB_V1" where words are, ${RB_V1} inside double quotes or an expanding
 * here-document), and which places would not expand it at all (single quotes, quoted
 * here-documents, after a backslash) or would evaluate it again (arithmetic; backquotes, whose
 * nested quoting differs between shells; comments; ${...}). Those places, and any construct the
 * shlex cannot follow to its end, are refused with the offset where they start.
 *
 * The shlex reads the script as the template parser does: "$${{" is the literal text "${{",
 * and a ${{ ... }} ends at the "}}" the expression shlex finds (a "}}" in a string literal
 * does not end it). So the scanner and the renderer see the same parts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr/lexer.h"
#include "runbook/expr.h"

#define SYM_EOF (-1)
#define SYM_TPL 256 /* a ${{ }}: part of a word, never a shell character */
#define MAX_DEPTH 64 /* nested quotes and substitutions; deeper is refused, not guessed */

typedef enum { F_TOP, F_CMDSUB, F_DQ, F_BQ, F_BRACE, F_ARITH, F_HEREDOC } frame_kind;

typedef struct heredoc {
    char *delim; /* the delimiter word with its quotes removed */
    size_t len, at;
    int strip_tabs, quoted;
} heredoc;

typedef struct frame {
    frame_kind kind;
    size_t start;       /* offset of what opened it, for errors */
    int depth;          /* open ( in a command frame or $(( frame */
    int case_open;      /* case ... esac around us: a ) at depth 0 ends a pattern */
    int in_word, cmd_pos, assign, word_plain, name_ok;
    int word_escaped;   /* a backslash quoted part of the word: it is no reserved word */
    int word_dynamic;   /* quotes, $, ` or a ${{ }} in the word: its text is known only when run */
    int case_depth;     /* depth at which the innermost case was opened */
    const char *evaluates; /* the command name, when it reads its arguments as code */
    char word[8];       /* the current word, when it may be a reserved word */
    size_t word_len;
    size_t heredoc;     /* F_HEREDOC: index in the pending list */
    int line_start;     /* F_HEREDOC: at the start of a body line */
} frame;

typedef struct shlex {
    const char *s;
    size_t len;
    int c;          /* current symbol: a byte, SYM_TPL or SYM_EOF */
    size_t at, next; /* offsets of the current symbol and of the one after it */
    frame stack[MAX_DEPTH];
    size_t depth;
    heredoc *hd;
    size_t nhd, caphd, hd_next; /* pending here-documents, and the next whose body comes */
    rb_shell_part *parts;
    size_t nparts, found;
    rb_shell_error *err;
    int failed;
} shlex;

static int starts(const shlex *x, size_t i, const char *lit)
{
    size_t n = strlen(lit);
    return x->len - i >= n && memcmp(x->s + i, lit, n) == 0;
}

static void fail(shlex *x, size_t at, const char *hint, const char *fmt, const char *what)
{
    if (!x->failed) {
        x->err->offset = at;
        snprintf(x->err->message, sizeof x->err->message, fmt, what);
        x->err->hint = hint;
    }
    x->failed = 1;
    x->c = SYM_EOF;
}

/* Moves to the next symbol, in the template parser's order: "$${{" first, then "${{". */
static void advance(shlex *x)
{
    size_t i = x->at = x->next, bad;
    if (x->failed || i >= x->len) {
        x->c = SYM_EOF;
        return;
    }
    if (starts(x, i, "$${{")) {
        x->c = '$', x->next = i + 2; /* the "{{" that follows is plain text */
    } else if (starts(x, i, "${{")) {
        size_t close = expr_lex_find_close(x->s, i + 3, x->len, &bad);
        if (close == (size_t)-1) {
            fail(x, i, NULL, "%s", "unterminated ${{");
            return;
        }
        x->c = SYM_TPL, x->next = close + 2;
    } else {
        x->c = (unsigned char)x->s[i], x->next = i + 1;
    }
}

static int peek(const shlex *x)
{
    shlex copy = *x;
    copy.err = &(rb_shell_error){0};
    advance(&copy);
    return copy.c;
}

static frame *top(shlex *x)
{
    return &x->stack[x->depth - 1];
}

static void push(shlex *x, frame_kind kind, size_t start)
{
    if (x->depth == MAX_DEPTH) {
        fail(x, start, NULL, "%s", "quotes and substitutions nested too deeply");
        return;
    }
    x->stack[x->depth++] = (frame){.kind = kind, .start = start, .cmd_pos = 1, .line_start = 1};
}

/* The command frame (or here-document body) a ${{ }} is in: it decides whether the value
 * becomes part of a command's arguments. */
static int in_argv(const shlex *x)
{
    for (size_t i = x->depth; i-- > 0;) {
        const frame *f = &x->stack[i];
        if (f->kind == F_HEREDOC)
            return 0;
        if (f->kind == F_TOP || f->kind == F_CMDSUB)
            return !f->assign;
    }
    return 1;
}

/* The `evaluates` of a command whose name has quotes or expansions: it is known only when the
 * script runs, and may be eval ($x empty or "eval", 'eval'). */
static const char NAMED_AT_RUN_TIME[] = "a command whose name is known only when the script runs";

static const char *evaluating(const shlex *x)
{
    for (size_t i = x->depth; i-- > 0;) {
        const frame *f = &x->stack[i];
        if (f->kind == F_HEREDOC)
            return NULL;
        if (f->kind == F_TOP || f->kind == F_CMDSUB)
            return f->evaluates;
    }
    return NULL;
}

static void record(shlex *x, rb_shell_form form)
{
    const char *cmd = evaluating(x);
    if (cmd == NAMED_AT_RUN_TIME) {
        fail(x, x->at, "write the command's name as plain text (systemctl, not \"$CMD\" or 'systemctl')",
             "a ${{ }} as an argument of %s is refused: the name could be eval, which runs the value as code", cmd);
        return;
    }
    if (cmd) {
        char what[64];
        snprintf(what, sizeof what, "an argument of %s", cmd);
        fail(x, x->at, "a command that reads its arguments as code would run the value: pass data, not code",
             "a ${{ }} as %s is refused: that command evaluates it as code", what);
        return;
    }
    if (x->found < x->nparts)
        x->parts[x->found] = (rb_shell_part){x->at, (unsigned char)form, (unsigned char)in_argv(x)};
    x->found++;
    advance(x);
}

static void refuse_tpl(shlex *x, const char *where, const char *hint)
{
    fail(x, x->at, hint, "a ${{ }} inside %s is refused: the shell would not expand it as one value", where);
}

static const char HINT_OUTSIDE[] = "put it outside the quotes, as a word of its own: echo 'reason:' ${{ inputs.x }}";

/* '...' (and $'...' when `escapes`): no expansion inside, so no ${{ }} either. */
static void single_quoted(shlex *x, int escapes)
{
    size_t start = x->at;
    advance(x);
    while (x->c != '\'') {
        if (x->c == SYM_EOF) {
            fail(x, start, NULL, "%s", "unterminated ' (the shlex cannot tell where it ends)");
            return;
        }
        if (x->c == SYM_TPL) {
            refuse_tpl(x, escapes ? "$'...'" : "single quotes", HINT_OUTSIDE);
            return;
        }
        if (escapes && x->c == '\\')
            advance(x);
        if (x->c == SYM_TPL) {
            refuse_tpl(x, "$'...'", HINT_OUTSIDE);
            return;
        }
        if (x->c != SYM_EOF)
            advance(x);
    }
    advance(x);
}

/* After a '$' (current symbol): $( $(( ${ open a frame; $'...' is quoted; else plain text. */
static void dollar(shlex *x, int quoted)
{
    size_t start = x->at;
    advance(x);
    if (x->c == '(') {
        advance(x);
        if (x->c == '(') {
            advance(x);
            push(x, F_ARITH, start);
        } else {
            push(x, F_CMDSUB, start);
        }
    } else if (x->c == '{') {
        advance(x);
        push(x, F_BRACE, start);
    } else if (x->c == '\'' && !quoted) {
        single_quoted(x, 1);
    }
}

/* Steps past a backslash to the symbol it quotes; -1 (refused) when that is a ${{ }}, which the
 * shell would print, not expand. */
static int past_backslash(shlex *x)
{
    advance(x);
    if (x->c != SYM_TPL)
        return 0;
    fail(x, x->at, "remove the backslash", "%s", "a ${{ }} after a backslash is refused: the shell would not expand it");
    return -1;
}

/* A backslash: the next symbol is literal (in double quotes, only $ ` " \ and a newline). */
static void backslash(shlex *x, int any)
{
    if (past_backslash(x) == 0 && x->c != SYM_EOF && (any || strchr("$`\"\\\n", x->c)))
        advance(x);
}

/* ---- here-documents ---- */

static int add_byte(char **s, size_t *len, size_t *cap, int c)
{
    if (*len + 1 >= *cap) {
        size_t n = *cap ? 2 * *cap : 32;
        char *p = realloc(*s, n);
        if (!p)
            return -1;
        *s = p, *cap = n;
    }
    (*s)[(*len)++] = (char)c;
    (*s)[*len] = 0;
    return 0;
}

static int is_meta(int c)
{
    return c == SYM_EOF || (c != SYM_TPL && c < 128 && strchr(" \t\n;&|<>()", c) != NULL);
}

static int heredoc_push(shlex *x, const heredoc *h)
{
    if (x->nhd == x->caphd) {
        size_t n = x->caphd ? 2 * x->caphd : 4;
        heredoc *p = realloc(x->hd, n * sizeof *p);
        if (!p)
            return -1;
        x->hd = p, x->caphd = n;
    }
    x->hd[x->nhd++] = *h;
    return 0;
}

/* Reads the delimiter word of a here-document with the shell's quote removal; any quoting in it
 * makes the body literal. Returns 0, or -1 where the word cannot be read (reported). */
static int heredoc_delim(shlex *x, heredoc *h)
{
    size_t cap = 0, open = 0;
    int q = 0;
    while (!x->failed && (q || !is_meta(x->c))) {
        if (x->c == SYM_TPL) {
            fail(x, x->at, NULL, "%s", "a ${{ }} in a here-document's delimiter is refused");
            return -1;
        }
        if (x->c == SYM_EOF) {
            fail(x, open, NULL, "%s", "unterminated quote in a here-document's delimiter");
            return -1;
        }
        if (!q && (x->c == '\'' || x->c == '"')) {
            q = x->c, open = x->at, h->quoted = 1;
        } else if (q && x->c == q) {
            q = 0;
        } else {
            int keep = x->c;
            if (x->c == '\\' && q != '\'') {
                h->quoted = 1;
                advance(x);
                if (x->c == SYM_EOF || x->c == SYM_TPL)
                    continue;
                if (q == '"' && !strchr("$`\"\\\n", x->c) && add_byte(&h->delim, &h->len, &cap, '\\') < 0)
                    break;
                keep = x->c;
            }
            if (add_byte(&h->delim, &h->len, &cap, keep) < 0)
                break;
        }
        advance(x);
    }
    if (!x->failed && (q || !is_meta(x->c)))
        fail(x, h->at, NULL, "%s", "out of memory");
    return x->failed ? -1 : 0;
}

/* After << or <<- : queues the here-document; its body starts after the next newline. */
static void heredoc_word(shlex *x, size_t start, int strip)
{
    heredoc h = {NULL, 0, start, strip, 0};
    while (x->c == ' ' || x->c == '\t')
        advance(x);
    if (heredoc_delim(x, &h) == 0 && !h.len)
        fail(x, start, NULL, "%s", "a << without a delimiter word");
    if (!x->failed && heredoc_push(x, &h) < 0)
        fail(x, start, NULL, "%s", "out of memory");
    if (x->failed)
        free(h.delim);
}

static void next_heredoc(shlex *x)
{
    if (x->hd_next < x->nhd) {
        push(x, F_HEREDOC, x->hd[x->hd_next].at);
        if (!x->failed)
            top(x)->heredoc = x->hd_next++;
    }
}

/* At the start of a body line: when the line is the delimiter, moves past it and its newline. */
static int heredoc_line_ends(shlex *x, const heredoc *h)
{
    shlex y = *x;
    y.err = &(rb_shell_error){0};
    while (h->strip_tabs && y.c == '\t')
        advance(&y);
    for (size_t k = 0; k < h->len; k++) {
        if (y.c != (unsigned char)h->delim[k])
            return 0;
        advance(&y);
    }
    if (y.c != '\n' && y.c != SYM_EOF)
        return 0;
    if (y.c == '\n')
        advance(&y);
    x->c = y.c, x->at = y.at, x->next = y.next, x->failed = y.failed;
    return 1;
}

/* A body: literal when the delimiter was quoted, else expanded like double quotes (but a " is
 * plain text there). */
static void heredoc_body(shlex *x, frame *f)
{
    const heredoc *h = &x->hd[f->heredoc];
    if (f->line_start) {
        f->line_start = 0;
        if (heredoc_line_ends(x, h)) {
            x->depth--;
            next_heredoc(x);
            return;
        }
    }
    if (x->c == '\n') {
        f->line_start = 1;
        advance(x);
    } else if (h->quoted) {
        if (x->c == SYM_TPL) {
            refuse_tpl(x, "a here-document whose delimiter is quoted",
                              "unquote the delimiter (<<EOF): the value is then expanded once, as a whole");
            return;
        }
        advance(x);
    } else if (x->c == '\\') {
        backslash(x, 0);
    } else if (x->c == '`') {
        push(x, F_BQ, x->at);
        advance(x);
    } else if (x->c == '$') {
        dollar(x, 1);
    } else if (x->c == SYM_TPL) {
        record(x, RB_SHELL_QUOTED);
    } else {
        advance(x);
    }
}

/* ---- words and commands ---- */

static int is_name_char(int c, int first)
{
    return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (!first && c >= '0' && c <= '9');
}

/* A part of a word that is not a plain character: quotes, $, a backslash, a ${{ }}. */
static void word_part(frame *f)
{
    if (!f->in_word)
        f->in_word = 1, f->word_len = 0, f->word[0] = 0, f->word_escaped = 0;
    f->word_plain = f->name_ok = 0;
    f->word_dynamic = 1;
}

static void word_char(frame *f, int c)
{
    if (!f->in_word)
        f->in_word = f->word_plain = f->name_ok = 1, f->word_len = 0, f->word[0] = 0, f->word_escaped = 0,
        f->word_dynamic = 0;
    if (c == '=' && f->cmd_pos && f->name_ok && f->word_len > 0)
        f->assign = 1;
    f->name_ok = f->name_ok && is_name_char(c, f->word_len == 0);
    if (f->word_plain && c > ' ' && c < 127 && f->word_len + 1 < sizeof f->word) {
        f->word[f->word_len++] = (char)c;
        f->word[f->word_len] = 0;
    } else {
        f->word_plain = 0;
    }
}

static int listed(const char *w, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(w, *list))
            return 1;
    return 0;
}

/* The end of a word: reserved words keep the command position; case/esac are counted so that
 * a pattern's ) is not read as the end of a $( ). A command word is compared as the shell runs
 * it, after its backslashes are removed (\eval is eval, but no reserved word); `command`,
 * `builtin` and `time` run the next word as the command. */
static void end_word(frame *f)
{
    static const char *const keywords[] = {"if", "then", "else", "elif", "do", "while", "until", "!", "{", "}", "fi", "done", "time", NULL};
    static const char *const prefixes[] = {"command", "builtin", NULL};
    static const char *const evaluators[] = {"eval", "let", "[[", "trap", NULL};
    if (!f->in_word)
        return;
    const char *w = f->word_plain ? f->word : "", *reserved = f->word_escaped ? "" : w;
    int was_cmd = f->cmd_pos;
    f->cmd_pos = 0;
    if (was_cmd && f->assign) {
        f->cmd_pos = 1; /* NAME=value: the command may follow */
    } else if (was_cmd && !strcmp(reserved, "case")) {
        f->case_open++, f->case_depth = f->depth;
    } else if (was_cmd && !strcmp(reserved, "esac") && f->case_open) {
        f->case_open--;
    } else if (was_cmd && (listed(reserved, keywords) || listed(w, prefixes))) {
        f->cmd_pos = 1;
    } else if (was_cmd && f->word_dynamic) {
        f->evaluates = NAMED_AT_RUN_TIME; /* "$x" or 'eval' may be eval when the script runs */
    } else if (was_cmd) {
        for (size_t i = 0; evaluators[i]; i++)
            if (!strcmp(w, evaluators[i]))
                f->evaluates = evaluators[i];
    } else if (f->case_open && !strcmp(w, "in")) {
        f->cmd_pos = 1;
    }
    f->in_word = f->assign = 0;
}

static void end_command(frame *f)
{
    end_word(f);
    f->cmd_pos = 1;
    f->evaluates = NULL;
}

static void comment(shlex *x)
{
    while (x->c != '\n' && x->c != SYM_EOF) {
        if (x->c == SYM_TPL) {
            refuse_tpl(x, "a comment", "remove it, or write $${{ to keep the text as it is");
            return;
        }
        advance(x);
    }
}

static void close_paren(shlex *x, frame *f)
{
    end_command(f);
    if (f->case_open && f->depth == f->case_depth) {
        /* a case pattern's ) */
    } else if (f->depth > 0) {
        f->depth--;
    } else if (f->kind == F_CMDSUB) {
        x->depth--;
    } else {
        fail(x, x->at, NULL, "%s", "a ) without its ( : the shlex cannot classify it");
        return;
    }
    advance(x);
}

static void redirect(shlex *x, frame *f)
{
    int c = x->c;
    size_t start = x->at;
    end_word(f);
    advance(x);
    if (c != '<' || x->c != '<')
        return;
    advance(x);
    if (x->c == '<') { /* bash's here-string: a word follows */
        advance(x);
        return;
    }
    int strip = x->c == '-';
    if (strip)
        advance(x);
    heredoc_word(x, start, strip);
}

/* A backslash in a command: before a newline, a line continuation, gone before the shell reads
 * words (so `\<newline>eval` is eval); before any other character, that character as a literal
 * part of the word (so `\eval` is eval too, and `a\=b` no assignment). */
static void escaped(shlex *x, frame *f)
{
    if (peek(x) == '\n') {
        advance(x);
        advance(x);
        return;
    }
    if (past_backslash(x) != 0 || x->c == SYM_EOF)
        return;
    int assign = f->assign;
    word_char(f, x->c);
    f->assign = assign, f->name_ok = 0, f->word_escaped = 1;
    advance(x);
}

static void command(shlex *x, frame *f)
{
    int c = x->c;
    if (c == SYM_TPL && f->cmd_pos && !f->assign) {
        fail(x, x->at, "name the program in the script, and pass the value as its argument",
             "%s", "a ${{ }} as a command's name is refused: the value would choose the program to run");
        return;
    }
    if (c == SYM_TPL) {
        word_part(f);
        record(x, RB_SHELL_WORD);
        return;
    }
    if (c == '#' && !f->in_word) {
        comment(x);
        return;
    }
    switch (c) {
    case ' ':
    case '\t':
        end_word(f);
        advance(x);
        return;
    case '\n':
        end_command(f);
        advance(x);
        next_heredoc(x);
        return;
    case ';':
    case '&':
    case '|':
        end_command(f);
        advance(x);
        return;
    case '(':
        if (f->cmd_pos && !f->in_word && peek(x) == '(') { /* bash's (( )) is arithmetic */
            size_t start = x->at;
            advance(x);
            advance(x);
            f->cmd_pos = 0;
            push(x, F_ARITH, start);
            return;
        }
        end_command(f);
        f->depth++;
        advance(x);
        return;
    case ')':
        close_paren(x, f);
        return;
    case '<':
    case '>':
        redirect(x, f);
        return;
    case '\\':
        escaped(x, f);
        return;
    case '\'':
        word_part(f);
        single_quoted(x, 0);
        return;
    case '"':
        word_part(f);
        push(x, F_DQ, x->at);
        advance(x);
        return;
    case '`':
        word_part(f);
        push(x, F_BQ, x->at);
        advance(x);
        return;
    case '$':
        word_part(f);
        dollar(x, 0);
        return;
    default:
        word_char(f, c);
        advance(x);
        return;
    }
}

/* ---- quoted frames ---- */

static void dquoted(shlex *x)
{
    switch (x->c) {
    case '"':
        x->depth--;
        advance(x);
        return;
    case '\\':
        backslash(x, 0);
        return;
    case '`':
        push(x, F_BQ, x->at);
        advance(x);
        return;
    case '$':
        dollar(x, 1);
        return;
    case SYM_TPL:
        record(x, RB_SHELL_QUOTED);
        return;
    default:
        advance(x);
        return;
    }
}

static void backquoted(shlex *x)
{
    switch (x->c) {
    case '`':
        x->depth--;
        advance(x);
        return;
    case '\\':
        backslash(x, 1);
        return;
    case SYM_TPL:
        refuse_tpl(x, "backquotes", "use $(...) instead of `...`: a ${{ }} may stand there");
        return;
    default:
        advance(x);
        return;
    }
}

static int parent_quotes(const shlex *x)
{
    frame_kind k = x->depth >= 2 ? x->stack[x->depth - 2].kind : F_TOP;
    return k == F_DQ || k == F_HEREDOC;
}

/* ${...} and $((...)): a value inside would be read as a name, a pattern or arithmetic. */
static void expansion(shlex *x, frame *f)
{
    int c = x->c;
    if (c == SYM_TPL) {
        refuse_tpl(x, f->kind == F_BRACE ? "a ${...} expansion" : "arithmetic",
                          f->kind == F_BRACE ? "assign it to a variable first: v=${{ inputs.x }}; then use ${v...}"
                                             : "assign it to a variable and check it is a number first: n=${{ inputs.n }}");
        return;
    }
    if (f->kind == F_BRACE && c == '}') {
        x->depth--;
        advance(x);
        return;
    }
    if (f->kind == F_ARITH && c == ')') {
        if (f->depth > 0) {
            f->depth--;
            advance(x);
            return;
        }
        advance(x);
        if (x->c != ')') {
            fail(x, f->start, NULL, "%s", "the shlex cannot tell whether this (( is arithmetic or two subshells");
            return;
        }
        x->depth--;
        advance(x);
        return;
    }
    switch (c) {
    case '(':
        f->depth += f->kind == F_ARITH;
        advance(x);
        return;
    case '\\':
        backslash(x, 1);
        return;
    case '"':
        push(x, F_DQ, x->at);
        advance(x);
        return;
    case '`':
        push(x, F_BQ, x->at);
        advance(x);
        return;
    case '$':
        dollar(x, parent_quotes(x));
        return;
    case '\'':
        if (parent_quotes(x)) {
            fail(x, x->at, NULL, "%s", "a ' inside ${...} inside double quotes reads differently in different shells");
            return;
        }
        single_quoted(x, 0);
        return;
    default:
        advance(x);
        return;
    }
}

static void step(shlex *x)
{
    frame *f = top(x);
    switch (f->kind) {
    case F_TOP:
    case F_CMDSUB:
        command(x, f);
        return;
    case F_DQ:
        dquoted(x);
        return;
    case F_BQ:
        backquoted(x);
        return;
    case F_HEREDOC:
        heredoc_body(x, f);
        return;
    default:
        expansion(x, f);
        return;
    }
}

/* The script ended: anything still open cannot be classified. */
static void at_end(shlex *x)
{
    static const char *const names[] = {"(", "$(", "\"", "`", "${", "$((", NULL};
    frame *f = top(x);
    char msg[160];
    if (f->kind == F_HEREDOC) {
        const heredoc *h = &x->hd[f->heredoc];
        snprintf(msg, sizeof msg, "this here-document has no end line \"%.60s%s\"", h->delim, h->len > 60 ? "..." : "");
        fail(x, f->start, NULL, "%s", msg);
        return;
    }
    if (x->hd_next < x->nhd) {
        fail(x, x->hd[x->hd_next].at, NULL, "%s", "this here-document has no body (no newline after it)");
        return;
    }
    if (x->depth > 1 || f->depth > 0) {
        snprintf(msg, sizeof msg, "unterminated %s: the shlex cannot tell where it ends", names[x->depth > 1 ? f->kind : 0]);
        fail(x, f->depth > 0 && x->depth == 1 ? 0 : f->start, NULL, "%s", msg);
        return;
    }
}

long rb_shell_scan(const char *script, size_t len, rb_shell_part *parts, size_t nparts, rb_shell_error *err)
{
    rb_shell_error local;
    shlex x = {.s = script, .len = len, .parts = parts, .nparts = nparts, .err = err ? err : &local};
    x.err->offset = 0, x.err->message[0] = 0, x.err->hint = NULL;
    push(&x, F_TOP, 0);
    advance(&x);
    while (!x.failed && x.c != SYM_EOF)
        step(&x);
    if (!x.failed)
        at_end(&x);
    for (size_t i = 0; i < x.nhd; i++)
        free(x.hd[i].delim);
    free(x.hd);
    return x.failed ? -1 : (long)x.found;
}
