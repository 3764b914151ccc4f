/* ${{ }} checking: every template and expression parses, and every name in it resolves to an
 * input, a secret, a step guaranteed to have finished, or a known field. */
#include <stdlib.h>
#include <string.h>

#include "checker.h"

#define MAX_TRACKED 32

typedef struct walk {
    checker *c;
    const rb_node *n;
    const rb_step *step;
    ref_scope scope;
    ref_summary sum;
    size_t refs;
    /* for unguarded-null: fields read of steps that may have no value, and outcomes read */
    size_t maybe_null[MAX_TRACKED], nmaybe;
    size_t offsets[MAX_TRACKED];
    size_t guarded[MAX_TRACKED], nguarded;
} walk;

void c_error(checker *c, const rb_node *n, size_t offset, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rb_diag_node(c->d, c->rb->doc, n, offset, RB_SEV_ERROR, NULL, "%s", msg);
}

void c_warn(checker *c, const rb_node *n, const char *rule, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rb_diag_node(c->d, c->rb->doc, n, RB_NO_OFFSET, RB_SEV_WARNING, rule, "%s", msg);
}

static int listed(const char *s, const char *const *list)
{
    for (size_t i = 0; list && list[i]; i++)
        if (s[0] == list[i][0] && !strcmp(s, list[i]))
            return 1;
    return 0;
}

static const rb_capture *find_capture(const rb_step *s, const char *name)
{
    for (size_t i = 0; i < s->main.ncaptures; i++)
        if (s->main.captures[i].name && !strcmp(s->main.captures[i].name, name))
            return &s->main.captures[i];
    return NULL;
}

static void suggest_from(checker *c, const char *word, const char *const *list)
{
    const char *s = rb_suggest(word, list);
    if (s)
        rb_diag_hint(c->d, "did you mean \"%s\"?", s);
}

static void ref_input(walk *w, const rb_ref *r)
{
    if (rb_runbook_input(w->c->rb, r->name))
        return;
    c_error(w->c, w->n, r->offset, "unknown input \"%s\"", r->name);
    const char *names[65] = {0};
    for (size_t i = 0; i < w->c->rb->ninputs && i < 64; i++)
        names[i] = w->c->rb->inputs[i].name;
    suggest_from(w->c, r->name, names);
}

static void ref_secret(walk *w, const rb_ref *r)
{
    w->sum.secret = 1;
    if (rb_runbook_secret(w->c->rb, r->name))
        return;
    c_error(w->c, w->n, r->offset, "unknown secret \"%s\"", r->name);
    rb_diag_hint(w->c->d, "declare it under secrets: with env: or file:");
}

static int step_may_be_null(const rb_step *s)
{
    return s->when || s->on_failure == RB_POLICY_CONTINUE;
}

static void track(walk *w, size_t step, size_t offset, int guard)
{
    if (guard && w->nguarded < MAX_TRACKED)
        w->guarded[w->nguarded++] = step;
    else if (!guard && w->nmaybe < MAX_TRACKED) {
        w->offsets[w->nmaybe] = offset;
        w->maybe_null[w->nmaybe++] = step;
    }
}

static void step_field(walk *w, const rb_ref *r, const rb_step *target)
{
    const char *f = r->field;
    const rb_capture *cap = find_capture(target, f);
    const char *const *outs = target->main.action.type ? target->main.action.type->outputs : NULL;
    /* a loop's own rollback, verify and retry.until read the current item's outputs (SCOPE_SELF);
       any other step, in any scope, reads them item by item */
    int own_item = w->scope == SCOPE_SELF && target == w->step;
    if (target->for_each && !own_item && !listed(f, rb_common_outputs)) {
        if (strcmp(f, "items")) {
            c_error(w->c, w->n, r->offset, "step \"%s\" repeats its action: read its outputs item by item (steps.%s.items[0].%s)",
                    r->name, r->name, f);
            return;
        }
    } else if (cap) {
        w->sum.secret |= cap->secret;
    } else if (!listed(f, rb_common_outputs) && !listed(f, outs)) {
        c_error(w->c, w->n, r->offset, "step \"%s\" has no output \"%s\"", r->name, f);
        suggest_from(w->c, f, outs);
        return;
    }
    /* a target's field is null-checked where each step uses it, against that step's `when` */
    if (w->scope != SCOPE_SELF && w->scope != SCOPE_TARGET && step_may_be_null(target))
        track(w, target->index, r->offset, !strcmp(f, "outcome"));
}

static void ref_step(walk *w, const rb_ref *r)
{
    checker *c = w->c;
    long i = c->g ? rb_graph_find(c->g, r->name) : -1;
    if (i < 0) {
        c_error(c, w->n, r->offset, "unknown step \"%s\"", r->name);
        return;
    }
    const rb_step *target = &c->rb->steps[i];
    if (!r->field) {
        c_error(c, w->n, r->offset, "name a field of step \"%s\" (steps.%s.FIELD)", r->name, r->name);
        return;
    }
    int self = w->step && target == w->step;
    if (w->scope == SCOPE_TARGET) { /* the order is checked where each step uses the target */
        step_field(w, r, target);
        return;
    }
    if (w->scope == SCOPE_TARGET_USE) {
        if (!c->g->has_cycle && !rb_graph_is_ancestor(c->g, target->index, w->step->index)) {
            c_error(c, w->n, r->offset, "this target reads step \"%s\", which is not guaranteed to have finished before \"%s\" uses it",
                    r->name, w->step->id ? w->step->id : "a step");
            rb_diag_hint(c->d, "add \"%s\" to the needs of \"%s\"", r->name, w->step->id ? w->step->id : "it");
        } else if (r->field && step_may_be_null(target)) {
            track(w, target->index, r->offset, !strcmp(r->field, "outcome"));
        }
        return;
    }
    if (self && w->scope != SCOPE_SELF) {
        c_error(c, w->n, r->offset, "a step cannot read its own outputs here");
        rb_diag_hint(c->d, "only its rollback, verify and retry.until may");
        return;
    }
    if (!self && !c->g->has_cycle && !rb_graph_is_ancestor(c->g, target->index, w->step->index)) {
        c_error(c, w->n, r->offset, "step \"%s\" is not guaranteed to have finished before \"%s\"",
                r->name, w->step->id ? w->step->id : "this step");
        rb_diag_hint(c->d, "add \"%s\" to this step's needs", r->name);
        return;
    }
    step_field(w, r, target);
}

static void ref_fixed(walk *w, const rb_ref *r, const char *const *names, const char *root)
{
    if (r->name && listed(r->name, names))
        return;
    c_error(w->c, w->n, r->offset, "unknown name \"%s.%s\"", root, r->name ? r->name : "");
    if (r->name)
        suggest_from(w->c, r->name, names);
}

static void ref_runbook(walk *w, const rb_ref *r)
{
    static const char *const names[] = {"name", "objectives", NULL};
    static const char *const objectives[] = {"rto", "rpo", NULL};
    ref_fixed(w, r, names, "runbook");
    if (r->name && !strcmp(r->name, "objectives") && (!r->field || !listed(r->field, objectives)))
        c_error(w->c, w->n, r->offset, "use runbook.objectives.rto or runbook.objectives.rpo");
}

typedef enum { ROOT_UNKNOWN, ROOT_INPUTS, ROOT_SECRETS, ROOT_STEPS, ROOT_ENV, ROOT_RUN, ROOT_RUNBOOK, ROOT_EACH } root_kind;

/* Every reference passes here: one comparison picks the root. */
/* each.NAME (the item, as `as` names it) and each.index, inside what a for_each step repeats. */
static void ref_each(walk *w, const rb_ref *r)
{
    const rb_step *s = w->c->each_step;
    if (!s || s != w->step) {
        c_error(w->c, w->n, r->offset, "each is set only in what a for_each step repeats (its action, expect, retry, rollback and verify)");
        return;
    }
    if (strcmp(r->name, s->each_as) && strcmp(r->name, "index")) {
        c_error(w->c, w->n, r->offset, "each has \"%s\" (the item) and \"index\", not \"%s\"", s->each_as, r->name);
        return;
    }
}

static root_kind root_of(const char *s)
{
    switch (s[0]) {
    case 'i': return !strcmp(s, "inputs") ? ROOT_INPUTS : ROOT_UNKNOWN;
    case 's': return !strcmp(s, "steps") ? ROOT_STEPS : !strcmp(s, "secrets") ? ROOT_SECRETS : ROOT_UNKNOWN;
    case 'e': return !strcmp(s, "env") ? ROOT_ENV : !strcmp(s, "each") ? ROOT_EACH : ROOT_UNKNOWN;
    case 'r': return !strcmp(s, "run") ? ROOT_RUN : !strcmp(s, "runbook") ? ROOT_RUNBOOK : ROOT_UNKNOWN;
    default: return ROOT_UNKNOWN;
    }
}

static void on_ref(const rb_ref *r, void *ctx)
{
    static const char *const run_names[] = {"id", "dry_run", NULL};
    walk *w = ctx;
    w->refs++;
    root_kind k = root_of(r->root);
    if (w->scope == SCOPE_TARGET_USE && k != ROOT_STEPS)
        return; /* everything else was checked with the target itself */
    if (k == ROOT_UNKNOWN) {
        c_error(w->c, w->n, r->offset, "unknown name \"%s\"", r->root);
        rb_diag_hint(w->c->d, "names start with inputs., secrets., steps., env., run., runbook. or each.");
        return;
    }
    if (k != ROOT_RUN && k != ROOT_RUNBOOK && !r->name) {
        c_error(w->c, w->n, r->offset, "\"%s\" needs a name after it (%s.NAME)", r->root, r->root);
        return;
    }
    switch (k) {
    case ROOT_INPUTS: ref_input(w, r); break;
    case ROOT_SECRETS: ref_secret(w, r); break;
    case ROOT_STEPS: ref_step(w, r); break;
    case ROOT_RUN: ref_fixed(w, r, run_names, "run"); break;
    case ROOT_RUNBOOK: ref_runbook(w, r); break;
    case ROOT_EACH: ref_each(w, r); break;
    default: break;
    }
}

static int guarded(const walk *w, size_t step)
{
    for (size_t i = 0; i < w->nguarded; i++)
        if (w->guarded[i] == step)
            return 1;
    return 0;
}

typedef struct guard_list {
    checker *c;
    size_t *items, count;
} guard_list;

static void collect_guard(const rb_ref *r, void *ctx)
{
    guard_list *g = ctx;
    long i;
    if (strcmp(r->root, "steps") || !r->name || !r->field || strcmp(r->field, "outcome") ||
        (i = rb_graph_find(g->c->g, r->name)) < 0)
        return;
    size_t *grown = realloc(g->items, (g->count + 1) * sizeof *grown);
    if (grown)
        g->items = grown, g->items[g->count++] = (size_t)i;
}

/* The steps whose outcome `s`'s own `when` reads, parsed once per step. */
static void compute_guards(checker *c, const rb_step *s)
{
    guard_list g = {c, NULL, 0};
    rb_expr_error err;
    rb_expr *e = rb_expr_parse(s->when->str, s->when->len, &err);
    if (e)
        rb_expr_refs(e, collect_guard, &g);
    rb_expr_free(e);
    c->guards[s->index] = g.items;
    c->nguards[s->index] = g.count;
    c->guards_done[s->index] = 1;
}

/* A step whose own `when` tests steps.X.outcome runs only as that test allows, so every
 * expression of the step may read X's fields. */
static int guarded_by_when(const walk *w, const rb_step *target)
{
    checker *c = w->c;
    if (!w->step || !w->step->when || !c->guards_done)
        return 0;
    if (!c->guards_done[w->step->index])
        compute_guards(c, w->step);
    for (size_t i = 0; i < c->nguards[w->step->index]; i++)
        if (c->guards[w->step->index][i] == target->index)
            return 1;
    return 0;
}

/* A target's field warns once, for the first step that uses it unguarded. */
static int target_warned(walk *w)
{
    checker *c = w->c;
    if (w->scope != SCOPE_TARGET_USE)
        return 0;
    for (size_t i = 0; i < c->nunguarded_targets; i++)
        if (c->unguarded_targets[i] == w->n)
            return 1;
    if (c->nunguarded_targets < sizeof c->unguarded_targets / sizeof c->unguarded_targets[0])
        c->unguarded_targets[c->nunguarded_targets++] = w->n;
    return 0;
}

static void report_unguarded(walk *w)
{
    for (size_t i = 0; i < w->nmaybe; i++) {
        if (guarded(w, w->maybe_null[i]) || guarded_by_when(w, &w->c->rb->steps[w->maybe_null[i]]))
            continue;
        if (target_warned(w))
            return;
        const rb_step *t = &w->c->rb->steps[w->maybe_null[i]];
        rb_diag_node(w->c->d, w->c->rb->doc, w->n, w->offsets[i], RB_SEV_WARNING, "unguarded-null",
                     "step \"%s\" may be %s, and then its outputs are null", t->id,
                     t->when ? "skipped" : "failed and continued past");
        rb_diag_hint(w->c->d, "also test steps.%s.outcome in this expression", t->id);
        return;
    }
}

/* ---- static types of comparisons ---- */

static rb_static_type input_type(const rb_input *in)
{
    switch (in->type) {
    case RB_IN_INT:
    case RB_IN_DURATION: return RB_T_NUMBER;
    case RB_IN_BOOL: return RB_T_BOOL;
    default: return RB_T_STRING;
    }
}

static rb_static_type output_type(const rb_step *s, const char *f)
{
    static const char *const numbers[] = {"exit_code", "status", "row_count", "attempts", "duration", NULL};
    static const char *const texts[] = {"body", "outcome", "path", "sqlstate", NULL};
    const rb_capture *cap = find_capture(s, f);
    if (cap)
        return cap->kind == RB_CAP_RE ? RB_T_STRING : RB_T_UNKNOWN;
    if (!strcmp(f, "stdout") || !strcmp(f, "stderr"))
        return RB_T_TEXT_LINE;
    if (!strcmp(f, "changed"))
        return RB_T_BOOL;
    return listed(f, numbers) ? RB_T_NUMBER : listed(f, texts) ? RB_T_STRING : RB_T_UNKNOWN;
}

static rb_static_type ref_type(const rb_ref *r, void *ctx)
{
    walk *w = ctx;
    const rb_runbook *rb = w->c->rb;
    if (!strcmp(r->root, "inputs") && r->name && !r->field) {
        const rb_input *in = rb_runbook_input(rb, r->name);
        return in ? input_type(in) : RB_T_UNKNOWN;
    }
    if (!strcmp(r->root, "steps") && r->name && r->field) {
        const rb_step *s = rb_runbook_step(rb, r->name);
        return s ? output_type(s, r->field) : RB_T_UNKNOWN;
    }
    return RB_T_UNKNOWN;
}

rb_static_type c_static_type(checker *c, const rb_node *n, const rb_expr *e)
{
    walk w = {.c = c, .n = n};
    return rb_expr_static_type(e, ref_type, &w);
}

static void type_issue(size_t offset, int is_warning, const char *message, void *ctx)
{
    walk *w = ctx;
    if (is_warning)
        c_warn(w->c, w->n, "never-equal", "%s", message);
    else
        c_error(w->c, w->n, offset, "%s", message);
}

static void walk_expr(walk *w, const rb_expr *e)
{
    rb_expr_refs(e, on_ref, w);
    rb_expr_check_types(e, ref_type, type_issue, w);
}

ref_summary c_template(checker *c, const rb_node *n, const rb_step *step, ref_scope scope)
{
    walk w = {.c = c, .n = n, .step = step, .scope = scope};
    rb_expr_error err;
    rb_template *t = rb_template_parse(n->str, n->len, &err);
    if (!t) {
        c_error(c, n, err.offset, "%s", err.message);
        return w.sum;
    }
    for (size_t i = 0; i < rb_template_parts(t); i++)
        walk_expr(&w, rb_template_part(t, i, NULL));
    report_unguarded(&w);
    rb_template_free(t);
    w.sum.parsed = 1;
    return w.sum;
}

ref_summary c_expression(checker *c, const rb_node *n, const rb_step *step, ref_scope scope)
{
    walk w = {.c = c, .n = n, .step = step, .scope = scope};
    rb_expr_error err;
    rb_expr *e = rb_expr_parse(n->str, n->len, &err);
    if (!e) {
        c_error(c, n, err.offset, "%s", err.message);
        if (n->len && (n->str[0] == '"' || n->str[0] == '\'') && strstr(err.message, "after the expression"))
            rb_diag_hint(c->d, "quote the whole expression once: when: \"steps.x.value == 'f'\"");
        return w.sum;
    }
    walk_expr(&w, e);
    report_unguarded(&w);
    rb_expr_free(e);
    w.sum.parsed = 1;
    w.sum.constant = w.refs == 0;
    return w.sum;
}

ref_summary c_template_tree(checker *c, const rb_node *n, const rb_step *step, ref_scope scope)
{
    ref_summary sum = {0};
    if (n->kind == RB_NODE_SCALAR) {
        sum = rb_scalar_has_template(n) ? c_template(c, n, step, scope) : (ref_summary){1, 0, 0};
        return sum;
    }
    size_t stride = n->kind == RB_NODE_MAP ? 2 : 1, first = n->kind == RB_NODE_MAP ? 1 : 0;
    for (size_t i = first; i < n->count * stride; i += stride) {
        ref_summary part = c_template_tree(c, n->items[i], step, scope);
        sum.secret |= part.secret;
    }
    sum.parsed = 1;
    return sum;
}
