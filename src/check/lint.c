/* The DR lint rules: warnings about runbooks that are valid but risky at 3 a.m.
 * (errors under validate --strict). Each rule is one function named after it. */
#include <ctype.h>
#include <strings.h>
#include <string.h>

#include "runbook/action.h"

#include "checker.h"

const char *const rb_lint_rules[] = {
    "no-rollback", "unconfirmed-destructive", "no-timeout", "secret-in-argv", "insecure-transport",
    "shell-for-typed", "unreachable", "read-only-write", "unguarded-null", "never-equal", "argv-option", NULL};

/* One line per rule, in the order of rb_lint_rules (SARIF shows it; docs/language.md has more). */
static const char *const rule_docs[] = {
    "a write step with neither rollback nor irreversible: true",
    "a destructive or irreversible step with no confirm on it or before it",
    "a network step with no timeout",
    "a secret in a command line, where every user can read it (ps)",
    "TLS or host key verification turned off or weakened",
    "a shell step that does what a typed action does",
    "a step whose when is always false",
    "an effect: read query that changes the server",
    "a field of a step that may be skipped or continued past, read without its outcome",
    "a comparison that is always false (types differ, or stdout's trailing newline)",
    "a value at the start of an argument, which a leading '-' would turn into an option",
};

const char *rb_lint_rule_doc(const char *rule)
{
    for (size_t i = 0; rb_lint_rules[i]; i++)
        if (!strcmp(rb_lint_rules[i], rule))
            return i < sizeof rule_docs / sizeof *rule_docs ? rule_docs[i] : "DR lint rule";
    return "DR lint rule";
}

static const char *type_name(const rb_step *s)
{
    return s->main.action.type ? s->main.action.type->name : "";
}

static const rb_node *where(const rb_step *s)
{
    return s->id_node ? s->id_node : s->node;
}

static void no_rollback(checker *c, const rb_step *s)
{
    const rb_action_type *t = s->main.action.type;
    /* an action that undoes itself (file) or a call (its steps roll back) needs no rollback: */
    if (!s->writes || s->rollback || s->irreversible || !t || t->ops->undo || (t->flags & RB_AT_CALLS_RUNBOOK))
        return;
    c_warn(c, where(s), "no-rollback", "step \"%s\" changes the world but has no rollback", s->id ? s->id : "?");
    rb_diag_hint(c->d, "add rollback:, or irreversible: true if it cannot be undone, or effect: read");
}

static int confirmed_before(checker *c, const rb_step *s)
{
    if (s->confirm)
        return 1;
    if (c->g->has_cycle)
        return 1;
    for (size_t i = 0; i < c->rb->nsteps; i++)
        if (c->rb->steps[i].confirm && rb_graph_is_ancestor(c->g, i, s->index))
            return 1;
    return 0;
}

static void unconfirmed_destructive(checker *c, const rb_step *s)
{
    if ((!s->destructive && !s->irreversible) || confirmed_before(c, s))
        return;
    const rb_node *n = s->destructive ? s->destructive_node : s->irreversible_node;
    c_warn(c, n, "unconfirmed-destructive", "%s step \"%s\" runs without a confirm on it or before it",
           s->destructive ? "destructive" : "irreversible", s->id ? s->id : "?");
    rb_diag_hint(c->d, "add confirm: \"...\" so an operator agrees first");
}

/* Only an http target's timeout bounds a whole action; a connect timeout does not. */
static int target_has_timeout(checker *c, const rb_action *a)
{
    const rb_node *t = rb_action_param(a, "target");
    const rb_target *tg = t && t->kind == RB_NODE_SCALAR ? rb_runbook_target(c->rb, t->str) : NULL;
    return tg && tg->params && tg->kind == RB_TARGET_HTTP && rb_map_get(tg->params, "timeout");
}

static void no_timeout_block(checker *c, const rb_step *s, const rb_block *k)
{
    const rb_action *a = &k->action;
    if (!a->type || !a->type->network || k->timeout_ms != RB_NO_DURATION ||
        s->main.timeout_ms != RB_NO_DURATION || c->rb->default_timeout_ms != RB_NO_DURATION)
        return;
    if (rb_action_param(a, "timeout") || target_has_timeout(c, a))
        return;
    c_warn(c, a->key, "no-timeout", "%s action without a timeout can hang the run", a->type->name);
    rb_diag_hint(c->d, "set timeout: on the step, or defaults: { timeout: 2m }");
}

static void no_timeout(checker *c, const rb_step *s)
{
    no_timeout_block(c, s, &s->main);
    if (s->rollback)
        no_timeout_block(c, s, s->rollback);
    if (s->verify)
        no_timeout_block(c, s, s->verify);
}

/* Whether a class [...] at `p` (after the '[') may hold '-'; *end gets the byte after ']'.
 * \d \w \s hold none; an escaped punctuation mark is itself; any other escape (\x2d, \D, \p{P},
 * octal) and a POSIX class [:punct:] are not read, so they count as holding one. */
static int class_may_hold_dash(const char *p, const char **end)
{
    int negated = *p == '^', holds = 0, unread = 0;
    p += negated;
    for (int first = 1; *p && (first || *p != ']'); first = 0) {
        int lo = (unsigned char)*p;
        if (lo == '[' && p[1] == ':')
            unread = 1;
        if (lo == '\\' && p[1]) {
            unread |= !strchr("dws", p[1]) && (isalnum((unsigned char)p[1]) != 0);
            lo = strchr("dws", p[1]) ? 0 : (unsigned char)p[1], p++;
        }
        p++;
        int hi = lo;
        if (*p == '-' && p[1] && p[1] != ']')
            unread |= p[1] == '\\', hi = (unsigned char)p[1], p += 2;
        holds |= lo && lo <= '-' && '-' <= hi;
    }
    *end = *p ? p + 1 : p;
    return unread || (negated ? !holds : holds);
}

/* Whether the first atom at `p` may be '-' (or be left out, letting what follows come first). */
static int atom_may_be_dash(const char *p)
{
    const char *after = p + 1;
    int may;
    if (*p == '[')
        may = class_may_hold_dash(p + 1, &after);
    else if (*p == '\\' && p[1])
        may = !strchr("dw", p[1]), after = p + 2; /* \x2d, \D, \p{..}: not read, so yes */
    else
        may = !*p || *p == '-' || strchr(".()?*+{$|", *p) != NULL;
    if (!*after || !strchr("?*{", *after))
        return may;
    /* an optional first atom: what follows may come first, unless the pattern ends there */
    return may || *after == '{' || !(after[1] == 0 || !strcmp(after + 1, "$") || !strcmp(after + 1, ")$"));
}

/* Whether a whole-value `pattern` lets a value start with '-'. Its first atom is read, and the
 * alternatives of a pattern that is one group, ^(a|b)$, each (an empty one matches only ""):
 * anything else this reading does not follow counts as yes. */
static int pattern_may_start_with_dash(const char *p)
{
    p += *p == '^';
    size_t n = strlen(p);
    if (*p != '(' || n < 3 || strcmp(p + n - 2, ")$"))
        return strchr(p, '|') || atom_may_be_dash(p);
    p += 1 + (p[1] == '?' && p[2] == ':') * 2;
    for (const char *alt = p;; alt++) {
        if (*alt != '|' && *alt != ')' && atom_may_be_dash(alt))
            return 1;
        while (*alt && *alt != '|' && *alt != ')') {
            if (*alt == '(')
                return 1; /* a nested group: not followed */
            if (*alt == '[')
                class_may_hold_dash(alt + 1, &alt);
            else
                alt += 1 + (*alt == '\\' && alt[1]);
        }
        if (*alt != '|')
            return *alt != ')' || alt[1] != '$';
    }
}

/* An input that cannot start with '-': an enum, a url, a bool, a duration, a non-negative int,
 * or one whose pattern cannot match a leading '-'. */
static int input_is_safe(const rb_input *in)
{
    return in->type == RB_IN_ENUM || in->type == RB_IN_URL || in->type == RB_IN_BOOL || in->type == RB_IN_DURATION ||
           (in->type == RB_IN_INT && in->has_min && in->min >= 0) ||
           (in->pattern && !pattern_may_start_with_dash(in->pattern->str));
}

typedef struct option_scan {
    const rb_runbook *rb;
    int unsafe;
} option_scan;

/* What an operator types (inputs), what a program printed (a step's text outputs and
 * captures), the environment, a loop's item: any of them may start with '-'. The run's own
 * names (run, runbook) and a step's counters and states do not; an unknown input and a secret
 * have their own diagnostics. */
static void on_option_ref(const rb_ref *r, void *ctx)
{
    static const char *const step_words[] = {"status", "outcome", "exit_code", "attempts", "duration",
                                             "row_count", "sqlstate", NULL};
    option_scan *o = ctx;
    if (!strcmp(r->root, "inputs")) {
        const rb_input *in = r->name ? rb_runbook_input(o->rb, r->name) : NULL;
        o->unsafe += in && !input_is_safe(in);
    } else if (!strcmp(r->root, "steps")) {
        int word = 0;
        for (size_t i = 0; r->field && step_words[i]; i++)
            word |= !strcmp(r->field, step_words[i]);
        o->unsafe += !word;
    } else if (strcmp(r->root, "run") && strcmp(r->root, "runbook") && strcmp(r->root, "secrets")) {
        o->unsafe++;
    }
}

/* An argv item that starts with a value: its first ${{ }} decides its first character. */
void lint_argv_option(checker *c, const rb_node *item)
{
    rb_expr_error e;
    rb_template *t = rb_template_parse(item->str, item->len, &e);
    size_t offset = 1;
    const rb_expr *first = t ? rb_template_part(t, 0, &offset) : NULL;
    option_scan o = {c->rb, 0};
    if (first && offset == 0)
        rb_expr_refs(first, on_option_ref, &o);
    if (o.unsafe) {
        c_warn(c, item, "argv-option", "this argument starts with a value: one that starts with '-' is read as an option");
        rb_diag_hint(c->d, "put \"--\" before it in argv, or give the input a pattern that cannot start with '-'");
    }
    rb_template_free(t);
}

void lint_secret_in_argv(checker *c, const rb_node *item, const ref_summary *sum)
{
    if (!sum->secret)
        return;
    c_warn(c, item, "secret-in-argv", "a secret in an argv is visible to every user through ps");
    rb_diag_hint(c->d, "pass it in env: or stdin: instead");
}

typedef struct secret_walk {
    const rb_runbook *rb;
    int secret;
} secret_walk;

/* A secret, or a step's capture declared secret: the same test as the checker's summaries. */
static void on_secret_ref(const rb_ref *r, void *ctx)
{
    secret_walk *w = ctx;
    const rb_step *s = r->name && !strcmp(r->root, "steps") ? rb_runbook_step(w->rb, r->name) : NULL;
    if (!strcmp(r->root, "secrets"))
        w->secret = 1;
    for (size_t i = 0; s && r->field && i < s->main.ncaptures; i++)
        if (s->main.captures[i].name && !strcmp(s->main.captures[i].name, r->field))
            w->secret |= s->main.captures[i].secret;
}

/* The script's own text is not in any argv (it reaches the shell through a pipe, or the ssh
 * channel), but the commands it runs get their words there, visible through ps. */
void lint_secret_in_shell(checker *c, const rb_node *n, const rb_template *t, const rb_shell_part *parts)
{
    for (size_t i = 0; i < rb_template_parts(t); i++) {
        secret_walk w = {c->rb, 0};
        if (!parts[i].argv)
            continue;
        rb_expr_refs(rb_template_part(t, i, NULL), on_secret_ref, &w);
        if (!w.secret)
            continue;
        c_warn(c, n, "secret-in-argv", "a secret as a word of a shell command is in that command's argv, visible to every user through ps");
        rb_diag_hint(c->d, "pass it in env: (or stdin:) and let the command read it from there");
        return;
    }
}

static int is_loopback(const rb_node *host)
{
    static const char *const names[] = {"localhost", "127.0.0.1", "::1", NULL};
    if (!host || host->kind != RB_NODE_SCALAR)
        return 0;
    if (host->str[0] == '/')
        return 1; /* a Unix socket folder */
    for (size_t i = 0; names[i]; i++)
        if (!strcmp(host->str, names[i]))
            return 1;
    if (strncmp(host->str, "127.", 4))
        return 0;
    for (const char *p = host->str; *p; p++) /* 127.x.y.z, not a name such as 127.example.com */
        if (!isdigit((unsigned char)*p) && *p != '.')
            return 0;
    return 1;
}

static void insecure_target(checker *c, const rb_target *t)
{
    int off = 0;
    const rb_node *n;
    if (!t->params)
        return;
    if (t->kind == RB_TARGET_HTTP && (n = rb_map_get(t->params, "insecure")) && !rb_scalar_bool(n, &off) && off)
        c_warn(c, n, "insecure-transport", "target \"%s\" turns TLS verification off", t->name);
    if (t->kind == RB_TARGET_SSH && (n = rb_map_get(t->params, "host_key_check")) && !rb_scalar_bool(n, &off) && !off)
        c_warn(c, n, "insecure-transport", "target \"%s\" turns host key checking off", t->name);
    if (t->kind == RB_TARGET_POSTGRES && (n = rb_map_get(t->params, "sslmode")) && n->kind == RB_NODE_SCALAR &&
        strcmp(n->str, "verify-full") && !is_loopback(rb_map_get(t->params, "host")))
        c_warn(c, n, "insecure-transport", "sslmode %s does not verify the server of target \"%s\"", n->str, t->name);
}

static void shell_for_typed(checker *c, const rb_step *s)
{
    static const char *const typed[][2] = {
        {"curl", "http"}, {"wget", "http"}, {"psql", "sql"}, {"ssh", "ssh"}, {"sleep", "sleep"}};
    if (strcmp(type_name(s), "shell"))
        return;
    const rb_node *script = rb_action_param(&s->main.action, "script");
    if (!script || script->kind != RB_NODE_SCALAR)
        return;
    const char *p = script->str;
    while (isspace((unsigned char)*p))
        p++;
    for (size_t i = 0; i < sizeof typed / sizeof typed[0]; i++) {
        size_t len = strlen(typed[i][0]);
        if (!strncmp(p, typed[i][0], len) && (isspace((unsigned char)p[len]) || !p[len])) {
            c_warn(c, script, "shell-for-typed", "a shell step running %s: use the typed %s action",
                   typed[i][0], typed[i][1]);
            return;
        }
    }
}

/* A `when` with no references is decided now; false means the step can never run. Called by
 * the step checks with the `when`'s summary, so only constant ones are parsed again. */
void lint_unreachable(checker *c, const rb_step *s, const ref_summary *sum)
{
    if (!sum->parsed || !sum->constant)
        return;
    rb_expr_error err;
    rb_expr *e = rb_expr_parse(s->when->str, s->when->len, &err);
    rb_scope none = {0};
    json_t *v = e ? rb_expr_eval(e, &none, &err) : NULL;
    if (v && rb_value_truthy(v) == 0)
        c_warn(c, s->when, "unreachable", "step \"%s\" can never run: its when is always false", s->id ? s->id : "?");
    json_decref(v);
    rb_expr_free(e);
}

/* The SQL word `w` (case-insensitive, not part of a longer name) at or after `from`. */
static const char *sql_word(const char *from, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = strcasestr(from, w); p; p = strcasestr(p + 1, w)) {
        int before = p > from && (isalnum((unsigned char)p[-1]) || p[-1] == '_');
        int after = isalnum((unsigned char)p[n]) || p[n] == '_';
        if (!before && !after)
            return p;
    }
    return NULL;
}

static int copy_to_program(const char *q)
{
    const char *copy = sql_word(q, "copy");
    return copy && sql_word(copy, "program");
}

static void read_only_write(checker *c, const rb_step *s)
{
    static const char *const acting[] = {
        "pg_promote", "pg_reload_conf", "pg_terminate_backend", "pg_cancel_backend", "lo_import",
        "lo_export", NULL};
    if (strcmp(type_name(s), "sql") || s->writes)
        return;
    const rb_node *q = rb_action_param(&s->main.action, "query");
    if (!q || q->kind != RB_NODE_SCALAR)
        return;
    if (copy_to_program(q->str)) {
        c_warn(c, q, "read-only-write", "a read step runs COPY ... PROGRAM, which runs a command on the server");
        return;
    }
    for (size_t i = 0; acting[i]; i++)
        if (strcasestr(q->str, acting[i])) {
            c_warn(c, q, "read-only-write", "a read step calls %s, which acts even in a READ ONLY transaction",
                   acting[i]);
            rb_diag_hint(c->d, "mark the step effect: write");
            return;
        }
}

void c_lint(checker *c)
{
    for (size_t i = 0; i < c->rb->ntargets; i++)
        insecure_target(c, &c->rb->targets[i]);
    for (size_t i = 0; i < c->rb->nsteps; i++) {
        const rb_step *s = &c->rb->steps[i];
        if (!s->node || s->node->kind != RB_NODE_MAP)
            continue;
        no_rollback(c, s);
        unconfirmed_destructive(c, s);
        no_timeout(c, s);
        shell_for_typed(c, s);
        read_only_write(c, s);
    }
}
