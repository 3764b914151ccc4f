/* ${{ }} templates and expressions: parse once, list references, evaluate over JSON values.
 *
 * Values are jansson json_t. Durations are integers of milliseconds. One special value,
 * rb_unknown(), stands for "only a run can tell" (a plan, a dry run without dry_run outputs):
 * any operator on it gives unknown, except that && and || follow three-valued logic: an operand
 * that decides wins (`x && false` is false, `x || true` is true, whatever x is). It is a JSON
 * null to jansson: test rb_is_unknown() before json_is_null(). */
#ifndef RUNBOOK_EXPR_H
#define RUNBOOK_EXPR_H

#include <jansson.h>
#include <stddef.h>

typedef struct rb_expr rb_expr;         /* one expression (no ${{ }} around it) */
typedef struct rb_template rb_template; /* text with ${{ expr }} parts */

typedef struct rb_expr_error {
    size_t offset;     /* byte offset in the parsed text where the problem is */
    char message[160]; /* one line */
} rb_expr_error;

/* Limits against hostile input. */
#define RB_EXPR_MAX_DEPTH 64   /* nesting of parentheses/operators */
#define RB_EXPR_MAX_LEN 65536  /* bytes of one expression */
#define RB_EXPR_MAX_VALUE (16u << 20) /* bytes of a string a function may build */

/* Parses an expression. `src` may also be exactly one "${{ ... }}" with optional surrounding
 * whitespace (the form of `when`, `assert`, `until`), which is unwrapped. NULL + *err on error. */
rb_expr *rb_expr_parse(const char *src, size_t len, rb_expr_error *err);
void rb_expr_free(rb_expr *e);

/* Parses a text template: literal text with any number of ${{ expr }} parts. An unterminated
 * "${{" is an error. NULL + *err on error (offsets relative to `src`).
 * "$${{" is the escape for a literal "${{" (it renders as "${{" and starts no part). A "}}"
 * inside a string literal of the expression does not end it. */
rb_template *rb_template_parse(const char *src, size_t len, rb_expr_error *err);
void rb_template_free(rb_template *t);

/* 1 when the template has no ${{ }} part. */
int rb_template_is_literal(const rb_template *t);
/* When the whole template is exactly one ${{ expr }} (whitespace allowed only inside the
 * braces), returns that expression: its value keeps its type (an int stays an int). Else NULL. */
const rb_expr *rb_template_single(const rb_template *t);
/* Number of ${{ }} parts, and the i-th part's expression and its byte offset in the source.
 * The offset is that of the part's "${{". Offsets inside a part's expression (rb_ref.offset,
 * rb_expr_calls, evaluation errors) are relative to the template's source too, not to the part,
 * so they need no adding. rb_template_part returns NULL when i is out of range. */
size_t rb_template_parts(const rb_template *t);
const rb_expr *rb_template_part(const rb_template *t, size_t i, size_t *offset);

/* A reference to a name in an expression: `inputs.x`, `steps.id.field`, `env.HOME`, ...
 * root is the first identifier; name the second (or NULL); field the third (or NULL).
 * A ["key"] counts like .key; an [index] gives NULL in its place (`steps.q[0].x`: name "q",
 * field NULL). The strings live as long as the expression.
 * offset is the byte offset of the root in the expression's source text. */
typedef struct rb_ref {
    const char *root, *name, *field;
    size_t offset;
} rb_ref;

typedef void (*rb_ref_fn)(const rb_ref *ref, void *ctx);
/* Calls `fn` for every name reference, in source order. Function names are not references. */
void rb_expr_refs(const rb_expr *e, rb_ref_fn fn, void *ctx);

/* Function calls in an expression: calls `fn` with the function name and its offset; used by
 * the checker to reject unknown functions and wrong arities (`nargs`). */
typedef void (*rb_call_fn)(const char *name, size_t nargs, size_t offset, void *ctx);
void rb_expr_calls(const rb_expr *e, rb_call_fn fn, void *ctx);
/* 1 when `name` is a known function taking `nargs` arguments, 0 when unknown, -1 bad arity. */
int rb_expr_function_known(const char *name, size_t nargs);

/* Static types, as the checker knows them before a run. RB_T_TEXT_LINE is text that normally
 * ends with a newline (a command's stdout and stderr). */
typedef enum { RB_T_UNKNOWN, RB_T_STRING, RB_T_TEXT_LINE, RB_T_NUMBER, RB_T_BOOL, RB_T_NULL } rb_static_type;
/* The type of a name (inputs.x, steps.s.field), or RB_T_UNKNOWN. */
typedef rb_static_type (*rb_type_of_ref_fn)(const rb_ref *ref, void *ctx);
/* A comparison that can only fail (is_warning 0: ordering text against a number) or only be
 * false (is_warning 1), at `offset` in the expression's source. */
typedef void (*rb_type_issue_fn)(size_t offset, int is_warning, const char *message, void *ctx);
/* Checks every comparison of `e` whose operand types are both known. */
void rb_expr_check_types(const rb_expr *e, rb_type_of_ref_fn type_of, rb_type_issue_fn issue, void *ctx);
/* The type of `e`'s value, as far as `type_of` knows its names. */
rb_static_type rb_expr_static_type(const rb_expr *e, rb_type_of_ref_fn type_of, void *ctx);

/* Regex literals on the right of =~ / !~ are compiled at parse time; a bad one is a parse error
 * whose offset points at the offending character inside the literal. */

/* Evaluation. `lookup` returns a borrowed value for a root name ("inputs", "steps", "env",
 * "run", "runbook", "secrets"), or NULL when the root is unknown (an evaluation error).
 * Member access on a missing key or index gives json null, and so does any access below a null
 * (a field of a step that did not succeed); .key on a non-object or [i] on a non-array is an
 * evaluation error. && and || give booleans. Error messages name roots, keys, functions and
 * types, never a value (values can be secrets). A NULL scope is an empty one. */
typedef struct rb_scope {
    json_t *(*lookup)(void *ctx, const char *root);
    void *ctx;
    /* Optional: escaping for sql_literal()/sql_ident() (a connection's libpq escaping).
     * Returns a malloc'd string or NULL on error. When NULL, a standard-conforming quoting is used. */
    char *(*sql_escape)(void *ctx, const char *s, size_t len, int ident);
} rb_scope;

/* Evaluates; returns a new reference (caller json_decref's) or NULL with a message in *err.
 * Left to right, && and || stop at the first operand that decides (`false && x` is false and x
 * is not evaluated); an unknown operand before it does not change that; a chain that nothing
 * decides but that holds an unknown is unknown. */
json_t *rb_expr_eval(const rb_expr *e, const rb_scope *scope, rb_expr_error *err);
/* Renders a template to a string (caller frees). Values are rendered: strings as is, numbers
 * in decimal, booleans true/false, null as empty, arrays/objects as compact JSON.
 * If any part is unknown, returns NULL and sets *unknown = 1 (no error). `quote`, when not
 * NULL, transforms each substituted value (e.g. shell quoting) and returns a malloc'd string;
 * a NULL from it is an error. Decimals are written with the fewest digits that read back the
 * same. An error in any part wins over an unknown one. When `unknown` is NULL, an unknown value
 * is an error (at its part's offset). */
char *rb_template_render(const rb_template *t, const rb_scope *scope,
                         char *(*quote)(const char *s, size_t len), int *unknown,
                         rb_expr_error *err);
/* The same with a substitution that knows which ${{ }} it is (index from 0) and gets `ctx`. */
typedef char *(*rb_template_subst_fn)(void *ctx, size_t index, const char *s, size_t len);
char *rb_template_render_with(const rb_template *t, const rb_scope *scope, rb_template_subst_fn subst,
                              void *ctx, int *unknown, rb_expr_error *err);

/* Truthiness: false, null, 0, "" and empty array/object are false. Unknown is not decided:
 * returns -1 for rb_unknown(). */
int rb_value_truthy(const json_t *v);

/* The unknown value is a static of JSON null type whose refcount json_incref/json_decref leave
 * alone (as jansson's own null), so it may be decref'd like any result and shared by threads.
 * json_is_null() is true of it: test rb_is_unknown() first. */
json_t *rb_unknown(void); /* borrowed singleton */
int rb_is_unknown(const json_t *v);

/* Parses a duration "250ms", "90s", "5m", "1h30m", "0s", "2d" into milliseconds.
 * Returns 0 on success, -1 on error (a bare number is an error). */
int rb_duration_parse(const char *s, size_t len, long long *ms);
/* Formats milliseconds as the shortest duration string ("1h30m", "250ms").
 * That is the spelling rb_duration_parse reads: units largest first, none repeated, zero ones
 * left out ("1m30s", "1s500ms"; 0 is "0s"; a negative value gets a leading '-', which the parser
 * does not accept). Truncates to fit `len`, always NUL-terminated when len > 0. */
void rb_duration_format(long long ms, char *buf, size_t len);

/* Shell scripts (`shell`, `ssh` command). No value is ever written into a script: the i-th
 * ${{ }} (from 0) becomes a reference to the environment variable RB_V<i+1>, which holds the
 * value, spelled "$RB_V1" where words stand and ${RB_V1} inside double quotes or an expanding
 * here-document. rb_shell_scan lexes the script (POSIX grammar: words, quotes, backslashes,
 * $( ), ` `, ${ }, $(( )), here-documents, comments, operators) and decides that spelling per
 * ${{ }}. */
typedef enum { RB_SHELL_WORD = 1, RB_SHELL_QUOTED = 2 } rb_shell_form;

/* Where a value also goes, besides its place: a variable (or $1) that bash evaluates as
 * arithmetic or as a name, or that a shell runs as code. Only a number is safe there. */
typedef enum { RB_SHELL_STAYS = 0, RB_SHELL_EVALUATED = 1, RB_SHELL_RUN = 2 } rb_shell_flow;

typedef struct rb_shell_part {
    size_t offset;        /* of its "${{" in the script */
    unsigned char form;   /* rb_shell_form */
    unsigned char argv;   /* part of a command's words (so of some process's argv), not of a
                           * here-document body or of an assignment before the command */
    unsigned char flow;   /* rb_shell_flow */
    unsigned int flow_line; /* the script's line (from 1) where it is evaluated or run */
} rb_shell_part;

typedef struct rb_shell_error {
    size_t offset;        /* byte offset in the script */
    char message[200];
    const char *hint;     /* static text or NULL */
} rb_shell_error;

/* Lexes `script` (its ${{ }} as the template parser reads them: "$${{" is literal text) and
 * fills parts[] for the first `nparts` ${{ }}. Returns how many there are, or -1 with *err set
 * (err may be NULL) when a ${{ }} stands where the shell would not expand it as one value
 * (single quotes, a quoted here-document, after a backslash, a comment, backquotes, ${...},
 * arithmetic), where bash would read it as code or as a name (an argument of eval, ssh, read,
 * declare -i, ... : docs/language.md), or when some construct cannot be followed to its end
 * (unterminated quotes or here-documents, an unmatched parenthesis). A value given to a
 * variable that the script evaluates or runs is not refused here: its part's `flow` says so,
 * and the caller allows only a number there (the checker by static type, the renderer by the
 * value). Without room in parts[] for it, that is refused too. The checker and the executor
 * both call it: what validate accepts is what run renders. */
long rb_shell_scan(const char *script, size_t len, rb_shell_part *parts, size_t nparts, rb_shell_error *err);

/* Renders the shell template `t` parsed from `script`: calls rb_shell_scan (a refusal is an
 * error, its offset and message in *err), then sets each value in `env` (an object) as
 * RB_V<i+1> and writes the reference in its place; caller frees. Unknown values: NULL with
 * *unknown = 1. A value holding a NUL byte (no environment variable can) is an error. */
char *rb_shell_render(const rb_template *t, const char *script, size_t len, const rb_scope *scope,
                      json_t *env, int *unknown, rb_shell_error *err);

/* Quotes `s` as one /bin/sh word ('...' with ' as '\''); caller frees.
 * "" becomes ''. Returns NULL when `s` holds a NUL byte (no shell word can) or memory runs out. */
char *rb_shell_quote(const char *s, size_t len);

#endif
