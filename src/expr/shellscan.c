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

/* A variable's name in the script's text; len 0 stands for a name the shlex could not read
 * (escaped, too many to keep), which matches any name. `use` is where it was met. */
typedef struct span {
    size_t at, len, use;
    size_t part; /* tainted: the ${{ }} that gave the value */
} span;

#define MAX_NAMES 64
typedef struct name_set {
    span v[MAX_NAMES];
    size_t n;
} name_set;

/* What a command does with an argument that is a ${{ }}: bash, the remote shell of many
 * hosts, reads some arguments as code or as a variable's name, where a subscript a[$(cmd)] runs. */
typedef enum {
    CK_EVAL,   /* runs its arguments as code, or names the code to run: refused anywhere below it */
    CK_NAMES,  /* takes variables' names: refused as its argument */
    CK_VNAME,  /* takes a variable's name after -v (printf -v, test -v) */
    CK_DECL,   /* declare and kin: only as NAME=value, and without options (-i, -n evaluate) */
    CK_JOINED, /* joins its arguments into a line a shell runs (ssh, watch): refused anywhere below it */
    CK_SHELL   /* runs the word after -c as a script: refused there, and anywhere below it */
} command_kind;

typedef struct command_rule {
    const char *name;
    command_kind kind;
} command_rule;

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
    const command_rule *rule; /* what the current command does with its arguments, if listed */
    int opts;           /* an option word (-x, +x) among the current command's arguments */
    int prev_v, prev_c; /* the previous argument was -v / an option holding c (sh -c) */
    int for_state;      /* 1: after `for`, 2: its name read, 3: in its word list */
    int brace_arith;    /* F_BRACE: a subscript or offset follows the name: bash evaluates it */
    size_t arith_from;  /* F_BRACE: where that subscript or offset starts */
    span assign_name;   /* NAME of the NAME=value word being read */
    span for_name;      /* the variable of the enclosing `for NAME in` */
    char word[16];      /* the current word, when it may be a command's or a reserved word */
    size_t word_len, word_at;
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
    name_set tainted; /* variables that receive a value (use: the ${{ }}) */
    name_set arith;   /* variables whose content bash evaluates: arithmetic, subscripts, ${!v} */
    name_set joined;  /* variables expanded into a line a shell runs (ssh, sh -c) */
    size_t argv_tpl;  /* 1 + offset of the first ${{ }} among a command's arguments, or 0 */
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

#define SYM_BAD (-2) /* an unterminated ${{ */

/* The symbol at offset i, in the template parser's order ("$${{" first, then "${{"); *next gets
 * the offset after it. */
static int symbol_at(const shlex *x, size_t i, size_t *next)
{
    size_t bad;
    if (i >= x->len)
        return SYM_EOF;
    if (starts(x, i, "$${{")) {
        *next = i + 2; /* the "{{" that follows is plain text */
        return '$';
    }
    if (starts(x, i, "${{")) {
        size_t close = expr_lex_find_close(x->s, i + 3, x->len, &bad);
        if (close == (size_t)-1)
            return SYM_BAD;
        *next = close + 2;
        return SYM_TPL;
    }
    *next = i + 1;
    return (unsigned char)x->s[i];
}

static void advance(shlex *x)
{
    x->at = x->next;
    int c = x->failed ? SYM_EOF : symbol_at(x, x->at, &x->next);
    if (c == SYM_BAD) {
        fail(x, x->at, NULL, "%s", "unterminated ${{");
        return;
    }
    x->c = c;
}

static int peek(const shlex *x)
{
    size_t next;
    int c = symbol_at(x, x->next, &next);
    return c == SYM_BAD ? SYM_EOF : c;
}

static int is_name_char(int c, int first)
{
    return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (!first && c >= '0' && c <= '9');
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

/* ---- where values go: commands that read code or names, and variables given a value ---- */

static const command_rule COMMANDS[] = {
    {"eval", CK_EVAL},     {"let", CK_EVAL},       {"[[", CK_EVAL},       {"trap", CK_EVAL},
    {"alias", CK_EVAL},    {".", CK_EVAL},         {"source", CK_EVAL},   {"exec", CK_EVAL},
    {"fc", CK_EVAL},       {"bind", CK_EVAL},      {"complete", CK_EVAL}, {"compgen", CK_EVAL},
    {"enable", CK_EVAL},   {"hash", CK_EVAL},      {"read", CK_NAMES},    {"mapfile", CK_NAMES},
    {"readarray", CK_NAMES}, {"getopts", CK_NAMES}, {"unset", CK_NAMES},  {"printf", CK_VNAME},
    {"test", CK_VNAME},    {"[", CK_VNAME},        {"declare", CK_DECL},  {"typeset", CK_DECL},
    {"local", CK_DECL},    {"export", CK_DECL},    {"readonly", CK_DECL}, {"ssh", CK_JOINED},
    {"watch", CK_JOINED},  {"sh", CK_SHELL},       {"bash", CK_SHELL},    {"dash", CK_SHELL},
    {"zsh", CK_SHELL},     {"ksh", CK_SHELL},      {"mksh", CK_SHELL},    {"su", CK_SHELL},
    {"runuser", CK_SHELL},
};

/* [[ ]] operators that read both sides as arithmetic. */
static const char *const ARITH_TESTS[] = {"-eq", "-ne", "-lt", "-le", "-gt", "-ge", NULL};

/* Variables the shell itself reads: a value given to one changes what the script runs. */
static const char *const SHELL_READS[] = {"PATH", "IFS", "ENV", "BASH_ENV", "CDPATH", "PS1", "PS2", "PS3", "PS4",
                                          "PROMPT_COMMAND", "SHELLOPTS", "BASHOPTS", "GLOBIGNORE", "EXECIGNORE",
                                          "FPATH", "BASH_XTRACEFD", "BASH_LOADABLES_PATH", NULL};

static const command_rule *rule_for(const char *w)
{
    for (size_t i = 0; i < sizeof COMMANDS / sizeof *COMMANDS; i++)
        if (!strcmp(w, COMMANDS[i].name))
            return &COMMANDS[i];
    return NULL;
}

static int is_positional(int c)
{
    return (c >= '0' && c <= '9') || c == '@' || c == '*';
}

/* The name written at `at` (one character for $1, $@, $*), as met at `use`. */
static span name_at(const shlex *x, size_t at, size_t use)
{
    size_t end = at;
    if (at < x->len && is_positional((unsigned char)x->s[at]))
        end = at + 1;
    else
        while (end < x->len && is_name_char((unsigned char)x->s[end], end == at))
            end++;
    return (span){at, end - at, use, 0};
}

/* The name of a NAME= word read from `from` to `to`: unreadable (len 0, any name) when a line
 * continuation split it. */
static span name_before(const shlex *x, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (!is_name_char((unsigned char)x->s[i], i == from))
            return (span){0, 0, from, 0};
    return (span){from, to - from, from, 0};
}

/* The name at the start of a word NAME or NAME=value. */
static span name_prefix(const shlex *x, size_t from, size_t to)
{
    span v = name_at(x, from, from);
    return v.len && v.at + v.len <= to ? v : (span){0, 0, from, 0};
}

static void add_name(name_set *set, span v)
{
    if (set->n < MAX_NAMES)
        set->v[set->n++] = v;
    else
        set->v[MAX_NAMES - 1] = (span){0, 0, v.use, v.part}; /* too many to keep: stands for any name */
}

static int same_name(const shlex *x, span a, span b)
{
    return !a.len || !b.len || (a.len == b.len && !memcmp(x->s + a.at, x->s + b.at, a.len));
}

static int shell_reads(const shlex *x, span v)
{
    if (!v.len || (v.len >= 3 && !memcmp(x->s + v.at, "LD_", 3)))
        return 1;
    for (size_t i = 0; SHELL_READS[i]; i++)
        if (strlen(SHELL_READS[i]) == v.len && !memcmp(x->s + v.at, SHELL_READS[i], v.len))
            return 1;
    return 0;
}

static void quote_name(const shlex *x, span v, char *buf, size_t len)
{
    if (v.len)
        snprintf(buf, len, "%.*s", v.len > 40 ? 40 : (int)v.len, x->s + v.at);
    else
        snprintf(buf, len, "%s", "a variable whose name the shlex cannot read");
}

/* A ${{ }} (the current symbol) gives its value to variable v. */
static void taint(shlex *x, span v)
{
    char name[48], msg[200];
    if (shell_reads(x, v)) {
        quote_name(x, v, name, sizeof name);
        snprintf(msg, sizeof msg, "a ${{ }} given to %s is refused: the shell itself reads that variable to decide what to run", name);
        fail(x, x->at, "use a variable of your own, and write the shell's variables in the script", "%s", msg);
        return;
    }
    add_name(&x->tainted, (span){v.at, v.len, x->at, x->found});
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

static void refuse_for(shlex *x, const frame *f, const char *why, const char *hint)
{
    char msg[200];
    snprintf(msg, sizeof msg, "a ${{ }} as an argument of %s is refused: %s", f->rule ? f->rule->name : f->evaluates, why);
    fail(x, x->at, hint, "%s", msg);
}

static const char HINT_DATA[] = "a command that reads its arguments as code would run the value: pass data, not code";
static const char HINT_NAME[] = "give the value to a variable of your own instead: v=${{ inputs.x }}";
static const char HINT_JOINED[] = "use an `ssh` step (its values are passed safely), or send the value on standard input";

/* What the commands around a ${{ }} (the current symbol) do with it: a command that runs its
 * arguments as code refuses it at any depth below it (eval "$(echo ${{ }})" too); one that reads
 * names refuses it as its own argument. Returns -1 when refused. */
static int judge_commands(shlex *x)
{
    int innermost = 1;
    for (size_t i = x->depth; i-- > 0 && !x->failed;) {
        frame *f = &x->stack[i];
        if (f->kind == F_HEREDOC)
            innermost = 0;
        if (f->kind != F_TOP && f->kind != F_CMDSUB)
            continue;
        command_kind k = f->rule ? f->rule->kind : CK_EVAL;
        if (f->evaluates == NAMED_AT_RUN_TIME)
            fail(x, x->at, "write the command's name as plain text (systemctl, not \"$CMD\" or 'systemctl')",
                 "a ${{ }} as an argument of %s is refused: the name could be eval, which runs the value as code", NAMED_AT_RUN_TIME);
        else if (f->evaluates)
            refuse_for(x, f, "that command evaluates it as code", HINT_DATA);
        else if (f->rule && (k == CK_JOINED || (k == CK_SHELL && f->prev_c)))
            refuse_for(x, f, "it joins it into a command line that a shell runs", HINT_JOINED);
        else if (f->rule && innermost && (k == CK_NAMES || (k == CK_VNAME && f->prev_v)))
            refuse_for(x, f, "it reads it as a variable's name, and bash evaluates a subscript in a name (a[$(cmd)])", HINT_NAME);
        else if (f->rule && innermost && k == CK_DECL && (!f->assign || f->opts))
            refuse_for(x, f, "only NAME=value without options may take one (declare -i and -n evaluate it)", HINT_NAME);
        if (!x->failed && f->assign)
            taint(x, f->assign_name);
        if (!x->failed && f->for_state == 3)
            taint(x, f->for_name);
        innermost = 0;
    }
    return x->failed ? -1 : 0;
}

static void record(shlex *x, rb_shell_form form)
{
    if (judge_commands(x) != 0)
        return;
    int argv = in_argv(x);
    if (argv && !x->argv_tpl)
        x->argv_tpl = x->at + 1;
    if (x->found < x->nparts)
        x->parts[x->found] = (rb_shell_part){x->at, (unsigned char)form, (unsigned char)argv, RB_SHELL_STAYS, 0};
    x->found++;
    advance(x);
}

/* Whether a $name expanded here is joined into a line a shell runs. */
static int joined_here(const shlex *x)
{
    for (size_t i = x->depth; i-- > 0;) {
        const frame *f = &x->stack[i];
        if (f->kind != F_TOP && f->kind != F_CMDSUB)
            continue;
        command_kind k = f->rule ? f->rule->kind : CK_NAMES;
        /* [[ and let evaluate arithmetic, which the arithmetic names stand for; a string test
         * [[ -n $v ]] runs nothing */
        int runs = f->evaluates && f->evaluates != NAMED_AT_RUN_TIME && strcmp(f->evaluates, "[[") && strcmp(f->evaluates, "let");
        if (runs || k == CK_JOINED || (k == CK_SHELL && f->prev_c))
            return 1;
    }
    return 0;
}

/* A $name or ${name} expanded at the current place: remembered where bash would evaluate its
 * content (arithmetic) or a shell would run it (eval, ssh, sh -c). */
static void note_use(shlex *x, span v)
{
    const frame *f = top(x);
    if (f->kind == F_ARITH || (f->kind == F_BRACE && f->brace_arith))
        add_name(&x->arith, v);
    else if (joined_here(x))
        add_name(&x->joined, v);
}

static int line_of(const shlex *x, size_t at)
{
    int line = 1;
    for (size_t i = 0; i < at && i < x->len; i++)
        line += x->s[i] == '\n';
    return line;
}

/* A part whose value reaches a place where bash evaluates or a shell runs it: flagged for the
 * caller (only a number may go there), or refused when parts[] has no room for it. */
static int flag_part(shlex *x, size_t part, rb_shell_flow flow, int line, size_t at, const char *msg, const char *hint)
{
    if (!x->parts || part >= x->nparts) {
        fail(x, at, hint, "%s", msg);
        return -1;
    }
    if (!x->parts[part].flow)
        x->parts[part].flow = (unsigned char)flow, x->parts[part].flow_line = (unsigned)line;
    return 0;
}

/* A variable given a value, met where bash evaluates or a shell runs it: the value would run
 * unless it is a number. */
static int flows_into(shlex *x, const name_set *uses, rb_shell_flow flow, const char *what, const char *hint)
{
    char name[48], msg[200];
    for (size_t i = 0; i < x->tainted.n; i++)
        for (size_t j = 0; j < uses->n; j++) {
            span t = x->tainted.v[i], u = uses->v[j];
            if ((u.len && is_positional((unsigned char)x->s[u.at])) || !same_name(x, t, u))
                continue;
            quote_name(x, u.len ? u : t, name, sizeof name);
            snprintf(msg, sizeof msg, "this value goes into %s, which the script's line %d %s: a value like a[$(cmd)] would run", name, line_of(x, u.use), what);
            if (flag_part(x, t.part, flow, line_of(x, u.use), t.use, msg, hint) != 0)
                return -1;
        }
    for (size_t j = 0; j < uses->n && x->argv_tpl; j++) {
        span u = uses->v[j];
        if (!u.len || !is_positional((unsigned char)x->s[u.at]))
            continue;
        snprintf(msg, sizeof msg, "this value is an argument, and the script's line %d %s $%c (a function's or set's argument): a value like a[$(cmd)] would run",
                 line_of(x, u.use), what, x->s[u.at]);
        for (size_t p = 0; p < x->found; p++)
            if ((p >= x->nparts || !x->parts || x->parts[p].argv) &&
                flag_part(x, p, flow, line_of(x, u.use), x->argv_tpl - 1, msg, hint) != 0)
                return -1;
    }
    return 0;
}

static void check_flows(shlex *x)
{
    if (flows_into(x, &x->arith, RB_SHELL_EVALUATED, "evaluates as arithmetic or as a name (bash)",
                   "only a number may go there: give the input type int, or compare it as data ([ \"$n\" -lt 5 ] reads it, $((n)) evaluates it)") == 0)
        flows_into(x, &x->joined, RB_SHELL_RUN, "hands to a shell as code", HINT_JOINED);
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

/* The start of a ${...} (the current symbol is the one after the brace): its name is used here;
 * ${!v} and ${v@P} evaluate v's content, and a subscript or offset ${v[i]} ${v:i} is arithmetic. */
static void brace_open(shlex *x, size_t start)
{
    size_t i = x->at;
    int indirect = i < x->len && x->s[i] == '!';
    i += indirect || (i + 1 < x->len && x->s[i] == '#' && is_name_char((unsigned char)x->s[i + 1], 1));
    span v = name_at(x, i, start);
    size_t after = v.at + v.len;
    char c = after < x->len ? x->s[after] : 0, c2 = after + 1 < x->len ? x->s[after + 1] : 0;
    if (v.len && (indirect || (c == '@' && c2 == 'P')))
        add_name(&x->arith, v);
    else if (v.len)
        note_use(x, v);
    push(x, F_BRACE, start);
    if (!x->failed && (c == '[' || (c == ':' && !strchr("-=?+", c2))))
        top(x)->brace_arith = 1, top(x)->arith_from = after;
}

/* After a '$' (current symbol): $( $(( ${ open a frame; $'...' is quoted; $name is a use. */
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
        brace_open(x, start);
    } else if (x->c == '\'' && !quoted) {
        single_quoted(x, 1);
    } else if (x->c == '[') {
        fail(x, start, "write $(( )) instead", "%s", "bash's old $[ ] arithmetic is refused: the shlex does not follow it");
    } else if (x->c >= 0 && x->c < 256 && (is_name_char(x->c, 1) || is_positional(x->c))) {
        note_use(x, name_at(x, x->at, start));
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

/* A part of a word that is not a plain character: quotes, $, a backslash, a ${{ }}. */
static void word_part(shlex *x, frame *f)
{
    if (!f->in_word)
        f->in_word = 1, f->word_len = 0, f->word[0] = 0, f->word_escaped = 0, f->word_at = x->at;
    f->word_plain = f->name_ok = 0;
    f->word_dynamic = 1;
}

static void word_char(shlex *x, frame *f, int c)
{
    if (!f->in_word)
        f->in_word = f->word_plain = f->name_ok = 1, f->word_len = 0, f->word[0] = 0, f->word_escaped = 0,
        f->word_dynamic = 0, f->word_at = x->at;
    if (c == '=' && (f->cmd_pos || (f->rule && f->rule->kind == CK_DECL)) && f->name_ok && !f->assign &&
        x->at > f->word_at) {
        f->assign = 1;
        f->assign_name = name_before(x, f->word_at, x->at);
    }
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

/* The end of a command's argument: what it tells about the command's later arguments. */
static void end_argument(shlex *x, frame *f, const char *w)
{
    if (f->for_state == 1) {
        f->for_name = name_before(x, f->word_at, x->at);
        f->for_state = 2;
    } else if (f->for_state == 2) {
        f->for_state = strcmp(w, "in") ? 0 : 3;
    }
    if (f->rule && f->rule->kind == CK_DECL) {
        if (w[0] == '-' || w[0] == '+')
            f->opts = 1;
        else if (f->opts) /* declare -i n, local -n ref: later values given to it are evaluated */
            add_name(&x->arith, name_prefix(x, f->word_at, x->at));
    }
    if (f->rule && !strcmp(f->rule->name, "[[") && listed(w, ARITH_TESTS))
        add_name(&x->arith, (span){0, 0, f->word_at, 0}); /* [[ a -eq b ]] evaluates both sides */
    f->prev_v = !strcmp(w, "-v");
    f->prev_c = w[0] == '-' && w[1] != '-' && strchr(w, 'c') != NULL;
}

/* The command word: a command that reads its arguments as code or names is remembered. */
static void end_command_word(shlex *x, frame *f, const char *w)
{
    const command_rule *rule = rule_for(w);
    if (!rule)
        return;
    f->rule = rule;
    if (rule->kind == CK_EVAL)
        f->evaluates = rule->name;
    if (!strcmp(w, "let")) /* let's arguments are arithmetic */
        add_name(&x->arith, (span){0, 0, f->word_at, 0});
}

/* The end of a word: reserved words keep the command position; case/esac are counted so that
 * a pattern's ) is not read as the end of a $( ). A command word is compared as the shell runs
 * it, after its backslashes are removed (\eval is eval, but no reserved word); `command`,
 * `builtin` and `time` run the next word as the command. */
static void end_word(shlex *x, frame *f)
{
    static const char *const keywords[] = {"if", "then", "else", "elif", "do", "while", "until", "!", "{", "}", "fi", "done", "time", NULL};
    static const char *const prefixes[] = {"command", "builtin", NULL};
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
    } else if (was_cmd && !strcmp(reserved, "for")) {
        f->for_state = 1;
    } else if (was_cmd && (listed(reserved, keywords) || listed(w, prefixes))) {
        f->cmd_pos = 1;
    } else if (was_cmd && f->word_dynamic) {
        f->evaluates = NAMED_AT_RUN_TIME; /* "$x" or 'eval' may be eval when the script runs */
    } else if (was_cmd) {
        end_command_word(x, f, w);
    } else {
        if (f->case_open && !strcmp(w, "in"))
            f->cmd_pos = 1;
        end_argument(x, f, w);
    }
    f->in_word = f->assign = 0;
}

static void end_command(shlex *x, frame *f)
{
    end_word(x, f);
    f->cmd_pos = 1;
    f->evaluates = NULL;
    f->rule = NULL;
    f->opts = f->prev_v = f->prev_c = f->for_state = 0;
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
    end_command(x, f);
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
    end_word(x, f);
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
    word_char(x, f, x->c);
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
        word_part(x, f);
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
        end_word(x, f);
        advance(x);
        return;
    case '\n':
        end_command(x, f);
        advance(x);
        next_heredoc(x);
        return;
    case ';':
    case '&':
    case '|':
        end_command(x, f);
        advance(x);
        return;
    case '(':
        if ((f->cmd_pos || f->for_state == 1) && !f->in_word && peek(x) == '(') { /* bash's (( )) is arithmetic */
            size_t start = x->at;
            advance(x);
            advance(x);
            f->cmd_pos = f->for_state = 0;
            push(x, F_ARITH, start);
            return;
        }
        end_command(x, f);
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
        word_part(x, f);
        single_quoted(x, 0);
        return;
    case '"':
        word_part(x, f);
        push(x, F_DQ, x->at);
        advance(x);
        return;
    case '`':
        word_part(x, f);
        push(x, F_BQ, x->at);
        advance(x);
        return;
    case '$':
        word_part(x, f);
        dollar(x, 0);
        return;
    default:
        word_char(x, f, c);
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
    if (c >= 0 && c < 256 && is_name_char(c, 1) && (f->kind == F_ARITH || (f->brace_arith && x->at >= f->arith_from)) &&
        !(x->at > 0 && is_name_char((unsigned char)x->s[x->at - 1], 0)))
        add_name(&x->arith, name_at(x, x->at, x->at)); /* bash reads a bare name's content as arithmetic */
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
    if (!x.failed)
        check_flows(&x);
    for (size_t i = 0; i < x.nhd; i++)
        free(x.hd[i].delim);
    free(x.hd);
    return x.failed ? -1 : (long)x.found;
}
