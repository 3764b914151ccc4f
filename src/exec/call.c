/* The runbook action, run by the executor itself: calls another runbook with inputs; its steps are journaled under the
 * calling run (as "calling-step/step"), and its failure fails the calling step. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "runbook/values.h"

/* A caller passes a duration on as `${{ inputs.d }}`, which renders its milliseconds: bare
 * digits given to a duration input are read as milliseconds (a person typing --set still
 * writes the unit). */
static const char *as_duration_text(const rb_input *in, const char *v, char *buf, size_t size)
{
    if (!v || in->type != RB_IN_DURATION || !*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 15)
        return v;
    snprintf(buf, size, "%sms", v);
    return buf;
}

/* The callee's inputs: the given text values checked and typed, then its defaults. */
static json_t *callee_inputs(const rb_runbook *callee, json_t *given, char *err, size_t len)
{
    json_t *out = json_object();
    for (size_t i = 0; i < callee->ninputs; i++) {
        const rb_input *in = &callee->inputs[i];
        char ms[24], why[200];
        const char *v = as_duration_text(in, json_string_value(json_object_get(given, in->name)), ms, sizeof ms);
        if (!v && in->def)
            v = in->def->str;
        if (!v) {
            snprintf(err, len, "runbook %s needs input %s", callee->name, in->name);
            json_decref(out);
            return NULL;
        }
        if (rb_input_check(in, v, why, sizeof why) != 0) {
            snprintf(err, len, "input %s of runbook %s: %s", in->name, callee->name, why);
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, in->name, rb_input_value(in, v));
    }
    return out;
}

/* The folder a caller's callees are looked for first: its own (malloc'd, or NULL). */
static char *near_dir(const rb_runbook *caller)
{
    char *dir = strdup(caller->path), *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash)
        *slash = 0;
    else if (dir)
        strcpy(dir, ".");
    return dir;
}

/* The file of runbook `name` as called from `caller` (malloc'd), or NULL. */
static char *callee_path(rb_catalog *cat, const rb_runbook *caller, const char *name)
{
    char *dir = near_dir(caller);
    char *path = cat && name && dir ? rb_catalog_find(cat, name, dir) : NULL;
    free(dir);
    return path;
}

/* The runbook `name` as called from `caller` (found beside it or on RUNBOOK_PATH), or NULL. */
static const rb_runbook *callee_of(rb_catalog *cat, const rb_runbook *caller, const char *name)
{
    char *dir = near_dir(caller);
    const rb_runbook *callee = cat && name && dir ? rb_catalog_get(cat, name, dir) : NULL;
    free(dir);
    return callee;
}

/* ---- the call tree, checked before the caller's first step ---- */

/* A preflight's walk: each distinct callee is checked once (twice at most, when first met
 * under a `when` and then where it surely runs), the diagnostics of an invalid one kept for
 * the command line. */
#define WALK_SEEN_MAX 256

typedef struct walk {
    const rb_exec_opts *o;
    struct {
        const rb_runbook *rb;
        int maybe;
    } seen[WALK_SEEN_MAX];
    size_t nseen;
    char *err;
    size_t len;
} walk;

/* Where rb is in the runbooks met so far, or nseen. */
static size_t seen_at(const walk *w, const rb_runbook *rb)
{
    size_t i = 0;
    while (i < w->nseen && w->seen[i].rb != rb)
        i++;
    return i;
}

/* "file:line:col: message" of the first error, for a one-line refusal. */
static void first_error(const rb_diags *d, char *buf, size_t size)
{
    for (size_t i = 0; i < d->count; i++)
        if (d->items[i].sev == RB_SEV_ERROR) {
            const rb_diag *e = &d->items[i];
            snprintf(buf, size, "%s:%u:%u: %s", e->file ? e->file : "?", e->line ? e->line : 1, e->col ? e->col : 1,
                     e->message);
            return;
        }
    snprintf(buf, size, "it has errors");
}

/* Errors of the callee as `validate` finds them (load, graph, checker) into d; the count. The
 * model checked is the catalog's, the very one the call runs. */
static size_t callee_errors(rb_catalog *cat, const rb_runbook *callee, const char *path, rb_diags *d)
{
    if (!callee) { /* found but did not load: load it again for its located errors */
        rb_runbook *again = rb_runbook_load(path, d);
        size_t n = d->errors ? d->errors : 1;
        rb_runbook_free(again);
        return n;
    }
    rb_graph g;
    if (rb_graph_build(callee, &g, d) == 0)
        rb_check(callee, &g, cat, d);
    rb_graph_cleanup(&g);
    return d->errors;
}

/* Refuses an invalid callee: its diagnostics go to o->diags (the command line prints them as
 * validate does), the first one into err. Exit code 1, as for an invalid runbook. */
static int refuse_invalid(walk *w, const rb_runbook *caller, const char *name, const char *path, rb_diags *d)
{
    char first[200];
    rb_diags_sort(d);
    first_error(d, first, sizeof first);
    snprintf(w->err, w->len, "runbook %s (%s), called by %s, is not valid: %s; nothing was run", name, path,
             caller->name, first);
    for (size_t i = 0; w->o->diags && i < d->count; i++) {
        const rb_diag *g = &d->items[i];
        if (g->sev != RB_SEV_ERROR)
            continue;
        rb_diag_add(w->o->diags, g->sev, g->rule, g->file, g->line, g->col, g->source_line,
                    g->source_line ? strlen(g->source_line) : 0, "%s", g->message);
        if (g->hint)
            rb_diag_hint(w->o->diags, "%s", g->hint);
    }
    return 1;
}

/* Every action the callee uses has code in this build to run it (a manual step has none). */
static int actions_runnable(const rb_runbook *rb, char *err, size_t len)
{
    for (size_t i = 0; i < rb->nsteps; i++) {
        const rb_step *s = &rb->steps[i];
        const rb_block *blocks[] = {&s->main, s->rollback, s->verify};
        for (size_t k = 0; k < 3; k++) {
            const rb_action_type *t = blocks[k] ? blocks[k]->action.type : NULL;
            if (t && !(t->flags & RB_AT_CALLS_RUNBOOK) && (!t->ops || !t->ops->run))
                return snprintf(err, len, "step %s uses %s, which this build cannot run", s->id, t->name), -1;
        }
    }
    return 0;
}

static int preflight(walk *w, run *at, int depth, int maybe);

/* The callee at the other end of a call, with the reason it cannot be called: 0 when it may be
 * walked into, else the exit code (1 invalid, 2 missing or its secrets). */
static int callee_ready(walk *w, run *at, const char *name, const rb_runbook **out)
{
    char *path = callee_path(w->o->catalog, at->rb, name);
    const rb_runbook *callee = path ? callee_of(w->o->catalog, at->rb, name) : NULL;
    int code = 0;
    rb_diags d;
    rb_diags_init(&d);
    char why[256];
    if (!path) {
        snprintf(w->err, w->len, "runbook %s, called by %s, is not found next to it or on RUNBOOK_PATH; nothing was run",
                 name ? name : "?", at->rb->name);
        code = 2;
    }
    else if (callee_errors(w->o->catalog, callee, path, &d) != 0)
        code = refuse_invalid(w, at->rb, name, path, &d);
    else if (actions_runnable(callee, why, sizeof why) != 0 || exec_secrets_ready(callee, at, why, sizeof why) != 0) {
        snprintf(w->err, w->len, "runbook %s (%s), called by %s: %s; nothing was run", name, path, at->rb->name, why);
        code = 2;
    }
    rb_diags_cleanup(&d);
    free(path);
    *out = callee;
    return code;
}

/* A confirmation that nobody will be able to give: refused now rather than after the writes
 * before it. Only one that will surely be asked: a step under a `when` (or in a runbook called
 * under one: `maybe`) may never ask, and then fails only if it does. A dry run asks nothing. */
static int answerable(const rb_runbook *rb, const rb_step *s, const rb_exec_opts *o, int maybe, char *err,
                      size_t len)
{
    if (!s->confirm || maybe || s->when || o->dry_run || o->can_ask || (o->yes && !rb_step_needs_person(s, o)))
        return 0;
    const char *how = !o->yes ? "run on a terminal, or with --yes"
                      : s->main.action.type ? "confirm_by: person: only a person at a terminal may answer it"
                                            : "a manual step: run on a terminal, or add --yes-manual";
    return snprintf(err, len, "step %s of %s will ask \"%.100s\", and there is no terminal to ask: %s; nothing was run",
                    s->id, rb->name, s->confirm, how), 2;
}

/* A callee is checked the first time it is met, and walked (its confirmations, its own calls)
 * again only when met where it surely runs after being met under a `when` (maybe 0 covers 1).
 * It stands in for its caller in the chain the secrets' word check reads, as a called run's
 * parent does at call time. */
static int preflight_action(walk *w, run *at, const rb_action *a, int depth, int maybe)
{
    if (!a->type || !(a->type->flags & RB_AT_CALLS_RUNBOOK))
        return 0;
    const rb_node *name = rb_action_param(a, "name");
    const rb_runbook *callee = callee_of(w->o->catalog, at->rb, name ? name->str : NULL);
    size_t i = callee ? seen_at(w, callee) : w->nseen;
    if (i < w->nseen && w->seen[i].maybe <= maybe)
        return 0;
    int code = i < w->nseen ? 0 : callee_ready(w, at, name ? name->str : NULL, &callee);
    if (code != 0)
        return code;
    if (i < w->nseen)
        w->seen[i].maybe = maybe;
    else if (w->nseen < WALK_SEEN_MAX)
        w->seen[w->nseen].rb = callee, w->seen[w->nseen++].maybe = maybe;
    run *stub = calloc(1, sizeof *stub);
    if (!stub)
        return snprintf(w->err, w->len, "out of memory"), 2;
    stub->rb = callee, stub->o = w->o, stub->parent = at;
    code = preflight(w, stub, depth + 1, maybe);
    free(stub);
    return code;
}

/* Depth-bounded: the checker refuses call cycles, this only keeps a bad catalog finite. */
static int preflight(walk *w, run *at, int depth, int maybe)
{
    const rb_runbook *rb = at->rb;
    int code = 0;
    if (depth > 16)
        return snprintf(w->err, w->len, "runbook calls nest deeper than 16 under %s", rb->name), 2;
    for (size_t i = 0; i < rb->nsteps && !code; i++) {
        const rb_step *s = &rb->steps[i];
        int m = maybe || s->when; /* rollbacks and verifies run only sometimes */
        code = answerable(rb, s, w->o, maybe, w->err, w->len);
        if (!code)
            code = preflight_action(w, at, &s->main.action, depth, m);
        if (!code && s->rollback)
            code = preflight_action(w, at, &s->rollback->action, depth, 1);
        if (!code && s->verify)
            code = preflight_action(w, at, &s->verify->action, depth, 1);
    }
    return code;
}

int exec_preflight_calls(run *r, char *err, size_t len)
{
    walk *w = calloc(1, sizeof *w);
    if (!w)
        return snprintf(err, len, "out of memory"), 2;
    w->o = r->o, w->err = err, w->len = len;
    int code = preflight(w, r, 0, 0);
    free(w);
    return code;
}

/* The callee's checks again at call time, under the run's lock on the catalog: an invalid
 * callee is refused as a failed step, never run with its errors rendered as empty values. */
static int callee_valid_now(run *r, const char *name, const rb_runbook *callee, act_result *res)
{
    rb_diags d;
    rb_diags_init(&d);
    char *path = callee_path(r->o->catalog, r->rb, name);
    int ok = callee_errors(r->o->catalog, callee, path ? path : name, &d) == 0;
    if (!ok) {
        char first[200];
        rb_diags_sort(&d);
        first_error(&d, first, sizeof first);
        rb_act_fail(res, RB_OUT_FAILED, "refused", "runbook %s (%s) is not valid: %s", name, path ? path : "?", first);
    }
    free(path);
    rb_diags_cleanup(&d);
    return ok ? 0 : -1;
}

int exec_call_runbook(run *r, const invocation *inv, const json_t *params, rb_act_result *res)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    pthread_mutex_lock(r->mu); /* the catalog is shared by every step thread */
    const rb_runbook *callee = callee_of(r->o->catalog, r->rb, name);
    int valid = callee && callee_valid_now(r, name, callee, res) == 0;
    pthread_mutex_unlock(r->mu);
    if (!callee)
        return rb_act_fail(res, RB_OUT_FAILED, "refused", "runbook %s is not found or does not load", name), -1;
    if (!valid)
        return -1;
    char err[256];
    json_t *inputs = callee_inputs(callee, json_object_get(params, "inputs"), err, sizeof err);
    if (!inputs)
        return rb_act_fail(res, RB_OUT_FAILED, "refused", "%s", err), -1;
    rb_graph g;
    rb_diags quiet;
    rb_diags_init(&quiet);
    int rc = -1;
    if (rb_graph_build(callee, &g, &quiet) != 0)
        rb_act_fail(res, RB_OUT_FAILED, "refused", "runbook %s has a cycle", name);
    else
        rc = run_called_graph(r, inv, callee, &g, inputs, res);
    rb_graph_cleanup(&g);
    rb_diags_cleanup(&quiet);
    json_decref(inputs);
    return rc;
}

/* The journal's records so far: the resume's replay when there is one, else read back from the
 * file (made durable first). New reference, or NULL. */
static json_t *records_so_far(run *r)
{
    if (r->replay)
        return json_incref(r->replay);
    json_t *records = NULL;
    rb_journal_read_info info = {0};
    if (journal_sync(r) != 0 || rb_journal_load(rb_journal_path(r->journal), &records, &info) != RB_JOURNAL_OK) {
        json_decref(records);
        return NULL;
    }
    return records;
}

static int undo_called(run *r, const rb_step *s, const rb_runbook *callee, json_t *inputs,
                       const rb_proc_cancel_token *cancel, act_result *res)
{
    rb_graph g;
    rb_diags quiet;
    rb_diags_init(&quiet);
    json_t *records = rb_graph_build(callee, &g, &quiet) == 0 ? records_so_far(r) : NULL;
    char err[256] = "";
    int rc = -1;
    if (!records) {
        rb_act_fail(res, RB_OUT_FAILED, "refused", "cannot read back what runbook %s did", callee->name);
    } else {
        run c;
        called_init(&c, r, s, callee, &g, inputs);
        c.replay = records;
        replay_called(&c); /* its completed steps, as journaled, with their outputs */
        c.replay = NULL;
        if (!c.st || load_secrets(&c, err, sizeof err) != 0)
            rb_act_fail(res, RB_OUT_FAILED, "refused", "%s", *err ? err : "out of memory");
        else if ((rc = rollback_all(&c, cancel)) != 0)
            rb_act_fail(res, RB_OUT_FAILED, "rollback", "a rollback inside runbook %s did not complete", callee->name);
        else
            res->outcome = RB_OUT_SUCCEEDED;
        called_free(&c);
    }
    json_decref(records);
    rb_graph_cleanup(&g);
    rb_diags_cleanup(&quiet);
    return rc;
}

int exec_undo_call(run *r, const rb_step *s, const rb_proc_cancel_token *cancel, act_result *res)
{
    char err[256] = "";
    int unknown = 0;
    json_t *params = render_params(r, &s->main.action, &unknown, err, sizeof err);
    const char *name = json_string_value(json_object_get(params, "name"));
    const rb_runbook *callee = params ? callee_of(r->o->catalog, r->rb, name) : NULL;
    json_t *inputs = callee ? callee_inputs(callee, json_object_get(params, "inputs"), err, sizeof err) : NULL;
    if (!inputs)
        rb_act_fail(res, RB_OUT_FAILED, "refused", "cannot undo the call of %s: %s", name ? name : "?",
                    *err ? err : "it does not load");
    else
        undo_called(r, s, callee, inputs, cancel, res);
    json_decref(inputs);
    json_decref(params);
    res->outputs = res->outputs ? res->outputs : json_object();
    return 0;
}
