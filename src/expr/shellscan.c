/* Where a ${{ }} stands in a shell script: a substituted value becomes one single-quoted word,
 * which is safe only where a word may start. Inside quotes, backticks, a heredoc, a comment or a
 * ${...} expansion the same text would be re-read, so those places are refused. */
#include <string.h>

#include "runbook/expr.h"

typedef enum { SH_PLAIN, SH_SINGLE, SH_DOUBLE, SH_BACKTICK, SH_COMMENT, SH_HEREDOC, SH_BRACE } sh_state;

static const char *const state_names[] = {
    NULL, "single quotes", "double quotes", "backticks", "a comment", "a heredoc", "a ${...} expansion"};

typedef struct scan {
    const char *s;
    size_t len, i;
    sh_state st;
    int brace_depth;
    char delim[64];     /* the pending or open heredoc's delimiter */
    int heredoc_pending, strip_tabs;
} scan;

/* Skips a ${{ ... }} part: it will be one quoted word, whatever is inside. */
static int skip_template(scan *c)
{
    if (c->i + 3 > c->len || memcmp(c->s + c->i, "${{", 3))
        return 0;
    const char *close = NULL;
    for (size_t j = c->i + 3; j + 1 < c->len; j++)
        if (c->s[j] == '}' && c->s[j + 1] == '}') {
            close = c->s + j;
            break;
        }
    c->i = close ? (size_t)(close - c->s) + 2 : c->len;
    return 1;
}

/* After << (or <<-): remember the delimiter word; the body starts at the next newline. */
static void read_heredoc_word(scan *c)
{
    c->strip_tabs = c->i < c->len && c->s[c->i] == '-';
    c->i += c->strip_tabs;
    while (c->i < c->len && (c->s[c->i] == ' ' || c->s[c->i] == '\t'))
        c->i++;
    size_t n = 0;
    while (c->i < c->len && !strchr(" \t\n;&|<>()", c->s[c->i])) {
        char ch = c->s[c->i++];
        if (ch != '\'' && ch != '"' && ch != '\\' && n + 1 < sizeof c->delim)
            c->delim[n++] = ch;
    }
    c->delim[n] = 0;
    c->heredoc_pending = n > 0;
}

/* At the start of a heredoc body line: does this line end it? Moves past the line if so. */
static int heredoc_ends(scan *c)
{
    size_t j = c->i;
    while (c->strip_tabs && j < c->len && c->s[j] == '\t')
        j++;
    size_t n = strlen(c->delim);
    if (c->len - j >= n && !memcmp(c->s + j, c->delim, n) && (j + n == c->len || c->s[j + n] == '\n')) {
        c->i = j + n;
        return 1;
    }
    return 0;
}

static void step_plain(scan *c)
{
    char ch = c->s[c->i++];
    int word_start = c->i == 1 || strchr(" \t\n;&|()", c->s[c->i - 2]) != NULL;
    if (ch == '\\')
        c->i++;
    else if (ch == '\'')
        c->st = SH_SINGLE;
    else if (ch == '"')
        c->st = SH_DOUBLE;
    else if (ch == '`')
        c->st = SH_BACKTICK;
    else if (ch == '#' && word_start)
        c->st = SH_COMMENT;
    else if (ch == '$' && c->i < c->len && c->s[c->i] == '{')
        c->st = SH_BRACE, c->brace_depth = 1, c->i++;
    else if (ch == '<' && c->i < c->len && c->s[c->i] == '<' && (c->i + 1 >= c->len || c->s[c->i + 1] != '<'))
        c->i++, read_heredoc_word(c);
    else if (ch == '\n' && c->heredoc_pending)
        c->heredoc_pending = 0, c->st = SH_HEREDOC;
}

static void step_quoted(scan *c)
{
    char ch = c->s[c->i++];
    switch (c->st) {
    case SH_SINGLE:
        if (ch == '\'')
            c->st = SH_PLAIN;
        break;
    case SH_DOUBLE:
        if (ch == '\\')
            c->i++;
        else if (ch == '"')
            c->st = SH_PLAIN;
        break;
    case SH_BACKTICK:
        if (ch == '\\')
            c->i++;
        else if (ch == '`')
            c->st = SH_PLAIN;
        break;
    case SH_COMMENT:
        if (ch == '\n')
            c->st = SH_PLAIN, c->i--; /* the newline may start a heredoc body */
        break;
    case SH_BRACE:
        c->brace_depth += ch == '{';
        if (ch == '}' && --c->brace_depth == 0)
            c->st = SH_PLAIN;
        break;
    default:
        break;
    }
}

static void step(scan *c)
{
    if (c->st == SH_HEREDOC) {
        int at_line_start = c->i == 0 || c->s[c->i - 1] == '\n';
        if (at_line_start && heredoc_ends(c)) {
            c->st = SH_PLAIN;
            return;
        }
        c->i++;
    } else if (c->st == SH_PLAIN) {
        step_plain(c);
    } else {
        step_quoted(c);
    }
}

const char *rb_shell_context(const char *script, size_t len, size_t offset)
{
    scan c = {script, len, 0, SH_PLAIN, 0, "", 0, 0};
    while (c.i < offset && c.i < len)
        if (!skip_template(&c)) /* an earlier part is one word: it changes no state */
            step(&c);
    return state_names[c.st];
}
