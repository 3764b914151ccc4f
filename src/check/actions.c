/* Per-step checks: every parameter of every action (main, rollback, verify) by its kind in the
 * registry, expect, captures, retry, conditions and dry_run outputs. */
#include <stdlib.h>
#include <string.h>

#include "checker.h"

static void check_target_ref(checker *c, const rb_step *user, const rb_action *a, const rb_node *n)
{
    const rb_target *t = rb_runbook_target(c->rb, n->str);
    if (!t) {
        c_error(c, n, RB_NO_OFFSET, "unknown target \"%s\"", n->str);
        const char *names[65] = {0};
        for (size_t i = 0; i < c->rb->ntargets && i < 64; i++)
            names[i] = c->rb->targets[i].name;
        const char *s = rb_suggest(n->str, names);
        if (s)
            rb_diag_hint(c->d, "did you mean \"%s\"?", s);
    } else if (t->params && strcmp(rb_target_kind_name(t->kind), a->type->target_kind)) {
        c_error(c, n, RB_NO_OFFSET, "target \"%s\" is a %s target; %s needs a %s target", n->str,
                rb_target_kind_name(t->kind), a->type->name, a->type->target_kind);
    } else if (t->params && user) {
        /* a target may read steps' outputs (a new server's address): each user must come after */
        c_template_tree(c, t->params, user, SCOPE_TARGET_USE);
    }
}

static void check_sql(checker *c, const rb_node *n)
{
    const char *p = strstr(n->str, "${{");
    if (!p)
        return;
    c_error(c, n, (size_t)(p - n->str), "${{ }} is not allowed inside an SQL query");
    rb_diag_hint(c->d, "bind values with $1, $2 ... and params:, or quote with sql_literal()/sql_ident() in params");
}

static void check_exprs(checker *c, const rb_node *n, const rb_step *s, ref_scope scope)
{
    if (n->kind == RB_NODE_SEQ) {
        for (size_t i = 0; i < n->count; i++)
            if (n->items[i]->kind == RB_NODE_SCALAR)
                c_expression(c, n->items[i], s, scope);
    } else if (n->kind == RB_NODE_SCALAR) {
        c_expression(c, n, s, scope);
    }
}

/* A value that the script also evaluates (bash arithmetic, a name) or runs as code: only a
 * number is safe there, so its expression must be known to give one. */
static void flows_are_numbers(checker *c, const rb_node *n, const rb_template *t, const rb_shell_part *parts)
{
    for (size_t i = 0; i < rb_template_parts(t); i++) {
        if (!parts[i].flow || c_static_type(c, n, rb_template_part(t, i, NULL)) == RB_T_NUMBER)
            continue;
        int run = parts[i].flow == RB_SHELL_RUN;
        c_error(c, n, parts[i].offset, "this value reaches the script's line %u, where %s: a value like %s would run",
                parts[i].flow_line, run ? "a shell runs it as code" : "bash evaluates it as arithmetic or as a name",
                run ? "$(cmd)" : "a[$(cmd)]");
        rb_diag_hint(c->d, "%s", "only a number may go there: give the input type int, or compare it as data ([ \"$n\" -lt 5 ] reads it, $((n)) evaluates it)");
    }
}

/* In a shell script or an ssh command each value reaches the script in an environment
 * variable that the text reads by name; rb_shell_scan (the lexer the executor renders with)
 * refuses the places where that reference would not expand as one value, or where the script
 * cannot be followed. The parts that become a command's words feed the secret-in-argv lint. */
static void check_shell_words(checker *c, const rb_node *n)
{
    rb_expr_error err;
    rb_shell_error se;
    rb_template *t = n->kind == RB_NODE_SCALAR && rb_scalar_has_template(n) ? rb_template_parse(n->str, n->len, &err) : NULL;
    size_t nparts = t ? rb_template_parts(t) : 0;
    rb_shell_part *parts = nparts ? calloc(nparts, sizeof *parts) : NULL;
    if (parts && rb_shell_scan(n->str, n->len, parts, nparts, &se) < 0) {
        c_error(c, n, se.offset, "%s", se.message);
        if (se.hint)
            rb_diag_hint(c->d, "%s", se.hint);
    } else if (parts) {
        flows_are_numbers(c, n, t, parts);
        lint_secret_in_shell(c, n, t, parts);
    }
    free(parts);
    rb_template_free(t);
}

static int is_shell_text(const rb_action *a, const rb_param_def *def)
{
    return a->type->quoted_param && !strcmp(a->type->quoted_param, def->key);
}

/* Where a program stops reading options: after sh -c SCRIPT (the words after it are $0, $1, ...),
 * after printf's format; echo reads options but takes no "--" (its words are not linted). */
static int options_end_at(const rb_node *argv, size_t i)
{
    static const char *const shells[] = {"sh", "bash", "dash", "zsh", "ksh", "mksh", NULL};
    const rb_node *prog = argv->count ? argv->items[0] : NULL;
    if (!prog || prog->kind != RB_NODE_SCALAR || i < 1)
        return 0;
    const char *base = strrchr(prog->str, '/') ? strrchr(prog->str, '/') + 1 : prog->str;
    if (!strcmp(base, "echo") || (!strcmp(base, "printf") && i >= 2))
        return 1;
    int shell = 0;
    for (size_t k = 0; shells[k]; k++)
        shell |= !strcmp(base, shells[k]);
    const rb_node *prev = argv->items[i - 1];
    return shell && prev->kind == RB_NODE_SCALAR && prev->str[0] == '-' && prev->str[1] != '-' && strchr(prev->str, 'c');
}

static void check_argv(checker *c, const rb_node *argv, const rb_step *s, ref_scope scope)
{
    int options_end = 0; /* after "--" (and see options_end_at), nothing is read as an option */
    for (size_t i = 0; i < argv->count; i++) {
        const rb_node *item = argv->items[i];
        if (item->kind == RB_NODE_SCALAR && !strcmp(item->str, "--"))
            options_end = 1;
        if (options_end_at(argv, i))
            options_end = 1;
        if (item->kind != RB_NODE_SCALAR || !rb_scalar_has_template(item))
            continue;
        ref_summary sum = c_template(c, item, s, scope);
        lint_secret_in_argv(c, item, &sum);
        /* after an option such as -a or --image (not --out=x), a value is that option's argument */
        const rb_node *prev = i > 0 ? argv->items[i - 1] : NULL;
        int option_argument = prev && prev->kind == RB_NODE_SCALAR && prev->str[0] == '-' && !strchr(prev->str, '=');
        if (i > 0 && !options_end && !option_argument && sum.parsed && !sum.secret)
            lint_argv_option(c, item);
    }
}

static void check_param(checker *c, const rb_step *s, const rb_action *a, size_t i, ref_scope scope)
{
    const rb_param_def *def = &a->type->params[i];
    const rb_node *n = a->params[i];
    switch (def->kind) {
    case RB_P_TARGET:
        if (n->kind == RB_NODE_SCALAR)
            check_target_ref(c, s, a, n);
        break;
    case RB_P_SQL:
        if (n->kind == RB_NODE_SCALAR)
            check_sql(c, n);
        break;
    case RB_P_EXPRS:
        check_exprs(c, n, s, scope);
        break;
    case RB_P_RUNBOOK:
        if (n->kind == RB_NODE_SCALAR)
            c_calls(c, s, a);
        break;
    case RB_P_MODE:
    case RB_P_METHOD:
    case RB_P_BOOL:
        break;
    default:
        if (n->kind == RB_NODE_SEQ && a->type->argv_param && !strcmp(a->type->argv_param, def->key))
            check_argv(c, n, s, scope);
        else
            c_template_tree(c, n, s, scope);
        if (is_shell_text(a, def))
            check_shell_words(c, n);
    }
}

static void check_action(checker *c, const rb_step *s, const rb_action *a, ref_scope scope)
{
    if (!a->type)
        return;
    for (size_t i = 0; i < a->type->nparams; i++)
        if (a->params[i])
            check_param(c, s, a, i, scope);
}

static int capture_source_ok(const rb_capture *cap, const rb_action *a)
{
    return a->type && (a->type->capture_kinds & (1u << cap->kind));
}

static void check_pointer(checker *c, const rb_capture *cap)
{
    const char *p = cap->arg;
    if (*p && *p != '/') {
        c_error(c, cap->node, cap->arg_offset, "a JSON pointer starts with \"/\" (RFC 6901)");
        return;
    }
    for (; *p; p++)
        if (*p == '~' && p[1] != '0' && p[1] != '1') {
            c_error(c, cap->node, cap->arg_offset + (size_t)(p - cap->arg),
                    "in a JSON pointer, ~ must be written ~0 and / inside a key ~1");
            return;
        }
}

static void check_capture(checker *c, const rb_capture *cap, const rb_action *a)
{
    if (!cap->node)
        return;
    if (!capture_source_ok(cap, a)) {
        const char *t = a->type ? a->type->name : "manual";
        c_error(c, cap->node, RB_NO_OFFSET, "this capture cannot read the output of %s %s step", rb_article(t), t);
        return;
    }
    if (cap->kind == RB_CAP_RE) {
        int groups = c_regex(c, cap->node, cap->arg_offset);
        if (groups == 0)
            c_error(c, cap->node, cap->arg_offset, "a re: capture needs a group: re:version (\\S+)");
    } else if (cap->kind == RB_CAP_JSON) {
        check_pointer(c, cap);
    } else if (!*cap->arg) {
        c_error(c, cap->node, cap->arg_offset, "column: needs a column name");
    }
}

static void check_expect(checker *c, const rb_block *k, const rb_step *s, ref_scope scope)
{
    if (!k->expect || k->expect->kind != RB_NODE_MAP)
        return;
    const rb_node *n;
    if ((n = rb_map_get(k->expect, "body")) && n->kind == RB_NODE_SCALAR)
        c_regex(c, n, 0);
    if ((n = rb_map_get(k->expect, "stdout")) && n->kind == RB_NODE_SCALAR)
        c_regex(c, n, 0);
    if ((n = rb_map_get(k->expect, "value")) && n->kind == RB_NODE_SCALAR)
        c_template(c, n, s, scope);
    if ((n = rb_map_get(k->expect, "json")) && n->kind == RB_NODE_MAP)
        for (size_t i = 0; i < n->count; i++) {
            const rb_node *key = n->items[2 * i];
            if (key->len && key->str[0] != '/')
                c_error(c, key, RB_NO_OFFSET, "a JSON pointer starts with \"/\" (RFC 6901)");
        }
}

static void check_block(checker *c, const rb_step *s, const rb_block *k, ref_scope scope)
{
    check_action(c, s, &k->action, scope);
    check_expect(c, k, s, scope);
    for (size_t i = 0; i < k->ncaptures; i++)
        check_capture(c, &k->captures[i], &k->action);
    if (k->timeout_node && k->timeout_ms == RB_DYNAMIC)
        c_template(c, k->timeout_node, s, scope);
}

static void check_retry(checker *c, const rb_step *s)
{
    const rb_retry *r = &s->retry;
    if (!r->node)
        return;
    if (r->until)
        c_expression(c, r->until, s, SCOPE_SELF);
    static const char *const dynamic[] = {"attempts", "delay", "max_delay", "jitter", NULL};
    for (size_t i = 0; dynamic[i]; i++) {
        const rb_node *n = rb_map_get(r->node, dynamic[i]);
        if (n && rb_scalar_has_template(n))
            c_template(c, n, s, SCOPE_STEP);
    }
}

static int is_output(const rb_step *s, const char *name)
{
    const rb_action_type *t = s->main.action.type;
    for (size_t i = 0; t && t->outputs[i]; i++)
        if (!strcmp(t->outputs[i], name))
            return 1;
    for (size_t i = 0; i < s->main.ncaptures; i++)
        if (s->main.captures[i].name && !strcmp(s->main.captures[i].name, name))
            return 1;
    return 0;
}

static void check_dry_run(checker *c, const rb_step *s)
{
    if (!s->dry_run)
        return;
    for (size_t i = 0; i < s->dry_run->count; i++) {
        const rb_node *k = s->dry_run->items[2 * i];
        if (!is_output(s, k->str))
            c_error(c, k, RB_NO_OFFSET, "dry_run names \"%s\", which is not an output of this step", k->str);
        else
            c_template_tree(c, s->dry_run->items[2 * i + 1], s, SCOPE_STEP);
    }
}

/* The list itself is evaluated once, before any item: it may not read each. */
static void check_for_each(checker *c, const rb_step *s)
{
    if (!s->for_each)
        return;
    if (s->for_each->kind == RB_NODE_SCALAR)
        c_expression(c, s->for_each, s, SCOPE_STEP);
    else
        c_template_tree(c, s->for_each, s, SCOPE_STEP);
}

static void check_step(checker *c, const rb_step *s)
{
    if (s->when) {
        ref_summary sum = c_expression(c, s->when, s, SCOPE_STEP);
        lint_unreachable(c, s, &sum);
    }
    for (size_t i = 0; i < s->npreconditions; i++)
        if (s->preconditions[i].expr)
            c_expression(c, s->preconditions[i].expr, s, SCOPE_STEP);
    const rb_node *n;
    if ((n = rb_map_get(s->node, "title")) && n->kind == RB_NODE_SCALAR)
        c_template(c, n, s, SCOPE_STEP);
    if (s->confirm_node && s->confirm_node->kind == RB_NODE_SCALAR)
        c_template(c, s->confirm_node, s, SCOPE_STEP);
    check_for_each(c, s);
    c->each_step = s->for_each ? s : NULL; /* what is repeated may read each.* */
    check_block(c, s, &s->main, SCOPE_STEP);
    check_retry(c, s);
    if (s->rollback)
        check_block(c, s, s->rollback, SCOPE_SELF);
    if (s->verify)
        check_block(c, s, s->verify, SCOPE_SELF);
    c->each_step = NULL;
    check_dry_run(c, s);
}

void c_actions(checker *c)
{
    for (size_t i = 0; i < c->rb->nsteps; i++)
        if (c->rb->steps[i].node && c->rb->steps[i].node->kind == RB_NODE_MAP)
            check_step(c, &c->rb->steps[i]);
}
