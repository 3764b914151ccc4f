/* A way forward from any stop: resume --mark-done (a step the operator did by hand),
 * resume --retry-failed (a failed run's failed step runs again) and run --from (Ansible's
 * --start-at-task). Each takes over outputs this run did not make, so before anything acts,
 * every step still to run is checked for reading an output that is not there. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* ---- outputs a step still to run reads ---- */

typedef struct needs_walk {
    run *r;
    const rb_step *reader;
    char *err;
    size_t len;
    int missing;
} needs_walk;

static int common_output(const char *field)
{
    for (size_t i = 0; rb_common_outputs[i]; i++)
        if (!strcmp(field, rb_common_outputs[i]))
            return 1;
    return 0;
}

/* steps.N.field as the run has it: outcome, attempts and duration always; the others only when
 * taken from an earlier run. A whole steps.N needs some output beyond those. */
static int output_available(run *r, size_t n, const char *field)
{
    json_t *have = json_object_get(r->steps, r->rb->steps[n].id);
    if (!field) {
        const char *key;
        json_t *v;
        json_object_foreach (have, key, v)
            if (!common_output(key))
                return 1;
        return 0;
    }
    return common_output(field) || json_object_get(have, field) != NULL;
}

static void missing_message(needs_walk *w, size_t n, const char *field)
{
    const run *r = w->r;
    const char *id = r->rb->steps[n].id;
    char what[200];
    snprintf(what, sizeof what, "steps.%.64s%s%.64s", id, field ? "." : "", field ? field : "");
    if (r->st[n].taken_over == TAKEN_MARKED)
        snprintf(w->err, w->len, "step %s reads %s, but step %s was marked done by hand (--mark-done) and has no "
                 "outputs: run it again instead (--retry-failed, --rerun-in-doubt)", w->reader->id, what, id);
    else if (!r->o->outputs_from)
        snprintf(w->err, w->len, "step %s reads %s, but step %s is skipped by --from %s: give --outputs-from RUN, "
                 "an earlier run of this runbook in which %s succeeded", w->reader->id, what, id, r->o->from_step, id);
    else
        snprintf(w->err, w->len, "step %s reads %s, but step %s is skipped by --from %s and run %s has no such output "
                 "(the step did not succeed there, or it is a secret capture, which is never journaled)",
                 w->reader->id, what, id, r->o->from_step, r->o->outputs_from);
}

static void on_ref(const rb_ref *ref, void *ctx)
{
    needs_walk *w = ctx;
    if (w->missing || strcmp(ref->root, "steps") || !ref->name)
        return;
    long n = rb_graph_find(w->r->g, ref->name);
    if (n < 0 || !w->r->st[n].taken_over || output_available(w->r, (size_t)n, ref->field))
        return;
    w->missing = 1;
    missing_message(w, (size_t)n, ref->field);
}

/* The scalars that are one bare expression (no ${{ }}): when, preconditions, until, for_each. */
static int bare_expression(const rb_step *s, const rb_node *n)
{
    if (n == s->when || n == s->retry.until || n == s->for_each)
        return 1;
    for (size_t k = 0; k < s->npreconditions; k++)
        if (n == s->preconditions[k].expr)
            return 1;
    return 0;
}

static void scan_scalar(needs_walk *w, const rb_node *n)
{
    rb_expr_error e;
    if (strstr(n->str, "${{")) {
        rb_template *t = rb_template_parse(n->str, n->len, &e);
        for (size_t i = 0; t && i < rb_template_parts(t); i++) {
            size_t off;
            rb_expr_refs(rb_template_part(t, i, &off), on_ref, w);
        }
        rb_template_free(t);
    } else if (bare_expression(w->reader, n)) {
        rb_expr *x = rb_expr_parse(n->str, n->len, &e);
        if (x)
            rb_expr_refs(x, on_ref, w);
        rb_expr_free(x);
    }
}

static void scan_node(needs_walk *w, const rb_node *n)
{
    if (!n || w->missing)
        return;
    if (n->kind == RB_NODE_SCALAR) {
        if (n->str)
            scan_scalar(w, n);
        return;
    }
    size_t items = n->kind == RB_NODE_MAP ? 2 * n->count : n->count;
    for (size_t i = 0; i < items; i++)
        scan_node(w, n->items[i]);
}

/* -1 (message in err) when a step that has not finished reads an output of a step whose
 * outputs were taken over and is not there. Targets may read outputs too: every target is
 * read for a step that uses one. */
static int check_needs(run *r, char *err, size_t len)
{
    needs_walk w = {r, NULL, err, len, 0};
    for (size_t k = 0; k < r->g->n && !w.missing; k++) {
        size_t i = r->g->order[k];
        if (r->st[i].finished)
            continue;
        w.reader = &r->rb->steps[i];
        scan_node(&w, w.reader->node);
        for (size_t t = 0; w.reader->main.action.type && w.reader->main.action.type->target_kind &&
                           t < r->rb->ntargets; t++)
            scan_node(&w, r->rb->targets[t].node);
    }
    return w.missing ? -1 : 0;
}

/* ---- resume --retry-failed and --mark-done ---- */

void exec_forget_outcome(run *r, size_t i)
{
    step_state *st = &r->st[i];
    st->started = st->finished = st->in_doubt = st->continued = 0;
    st->outcome = RB_OUT_NOT_RUN;
    st->attempts = 0;
    st->message[0] = 0;
    st->taken_over = 0;
    json_object_del(r->steps, r->rb->steps[i].id);
    if (r->failed_step == (long)i)
        r->failed_step = -1;
}

/* Why --mark-done cannot take step i, or NULL: only a step that ran (in doubt, failed, timed
 * out) can have been done by hand in its place. */
static const char *not_markable(const step_state *st)
{
    if (st->finished && st->outcome == RB_OUT_SUCCEEDED)
        return "it already succeeded";
    if (st->finished && st->outcome == RB_OUT_SKIPPED)
        return "it was skipped";
    if (!st->started)
        return "it has not run (to skip steps, start a new run with --from STEP)";
    return NULL;
}

static int mark_step(run *r, const char *id, char *err, size_t len)
{
    long i = strchr(id, '/') ? -1 : rb_graph_find(r->g, id);
    if (i < 0)
        return snprintf(err, len, "--mark-done %s: runbook %s has no step \"%s\"", id, r->rb->name, id), -1;
    step_state *st = &r->st[i];
    const char *why = not_markable(st);
    if (why)
        return snprintf(err, len, "--mark-done %s: %s", id, why), -1;
    if (r->failed_step == i)
        r->failed_step = -1;
    st->started = st->finished = 1;
    st->in_doubt = st->continued = 0;
    st->outcome = RB_OUT_SUCCEEDED;
    st->duration_ms = 0;
    st->message[0] = 0;
    st->taken_over = TAKEN_MARKED;
    st->done_order = ++r->done_counter; /* it happened: a later rollback undoes it with the others */
    json_object_set_new(r->steps, id, json_pack("{s:s, s:i, s:i}", "outcome", "succeeded", "attempts", st->attempts,
                                                "duration", 0));
    json_array_append_new(json_object_get(r->forward, "marked"), json_string(id));
    return 0;
}

/* A run that ended may go on only when it failed: a rolled-back one's steps were undone. */
static int ended_refused(const run *r, const char *status, int rollback, char *err, size_t len)
{
    if (rollback || (status && (!strcmp(status, "rolled_back") || !strcmp(status, "rollback_incomplete"))))
        return snprintf(err, len, "this run was rolled back%s: its steps' effects were undone, so it cannot go on; "
                        "start a new run (runbook run %s, with --from STEP to skip steps)",
                        status ? "" : " (its rollback had begun)", r->rb->name), -1;
    if (status && strcmp(status, "failed"))
        return snprintf(err, len, "this run already ended (%s); start a new one", status), -1;
    return 0;
}

int exec_resume_prepare(run *r, const json_t *run_end, int rollback, char *err, size_t len)
{
    const rb_exec_opts *o = r->o;
    if (!o->retry_failed && !o->nmark_done)
        return 0;
    const char *status = run_end ? json_string_value(json_object_get(run_end, "status")) : NULL;
    if (ended_refused(r, status ? status : run_end ? "?" : NULL, rollback, err, len) != 0)
        return -1;
    r->forward = json_pack("{s:[], s:[]}", "marked", "retry");
    for (size_t k = 0; k < o->nmark_done; k++)
        if (mark_step(r, o->mark_done[k], err, len) != 0)
            return -1;
    if (o->retry_failed && r->failed_step >= 0) {
        json_array_append_new(json_object_get(r->forward, "retry"), json_string(r->rb->steps[r->failed_step].id));
        exec_forget_outcome(r, (size_t)r->failed_step);
    }
    if (run_end && r->failed_step >= 0)
        return snprintf(err, len, "step %s failed and stopped the run: resume with --retry-failed to run it again, "
                        "or --mark-done %s --reason TEXT once it is done by hand", r->rb->steps[r->failed_step].id,
                        r->rb->steps[r->failed_step].id), -1;
    return check_needs(r, err, len);
}

json_t *exec_resume_record(run *r)
{
    json_t *f = json_pack("{s:i}", "pid", (int)getpid());
    json_t *retry = json_object_get(r->forward, "retry");
    if (json_array_size(retry))
        json_object_set(f, "retry_failed", retry);
    return f;
}

static void journal_marked(run *r, const char *id)
{
    size_t i = (size_t)rb_graph_find(r->g, id);
    const char *reason = r->o->mark_reason ? r->o->mark_reason : "";
    json_t *f = json_pack("{s:s, s:s, s:i, s:i, s:b, s:s, s:s}", "step", id, "outcome", "succeeded", "attempts",
                          r->st[i].attempts, "duration_ms", 0, "marked_done", 1, "by", "--mark-done", "reason", reason);
    journal_who(f);
    const char *user = json_string_value(json_object_get(f, "user"));
    char text[400];
    snprintf(text, sizeof text, "marked done by hand (--mark-done, user %s): %s", user ? user : "?", reason);
    journal(r, "step_end", f);
    rb_event ev = {.kind = RB_EV_NOTE, .step = id, .text = text};
    emit(r, &ev);
}

void exec_resume_journal(run *r)
{
    size_t k;
    json_t *v;
    json_array_foreach (json_object_get(r->forward, "marked"), k, v)
        journal_marked(r, json_string_value(v));
    json_array_foreach (json_object_get(r->forward, "retry"), k, v) {
        rb_event ev = {.kind = RB_EV_NOTE, .step = json_string_value(v), .text = "failed: running it again (--retry-failed)"};
        emit(r, &ev);
    }
}

/* ---- run --from ---- */

/* The last step_end of each of the run's own steps in an earlier run's journal. */
static json_t *last_step_ends(json_t *records)
{
    json_t *ends = json_object(), *rec;
    size_t k;
    json_array_foreach (records, k, rec) {
        const char *type = json_string_value(json_object_get(rec, "type"));
        const char *step = json_string_value(json_object_get(rec, "step"));
        if (type && step && !strcmp(type, "step_end") && !strchr(step, '/'))
            json_object_set(ends, step, rec);
    }
    return ends;
}

/* The earlier run's records, if it is a real run of this runbook. */
static json_t *earlier_run(run *r, char *err, size_t len)
{
    const char *id = r->o->outputs_from;
    char *path = rb_journal_path_of(r->o->state_dir, id);
    json_t *records = NULL;
    rb_journal_read_info info = {0};
    if (!path || rb_journal_load(path, &records, &info) != RB_JOURNAL_OK) {
        snprintf(err, len, "--outputs-from %s: cannot read its journal%s%s", id, *info.message ? ": " : "", info.message);
        free(path);
        return NULL;
    }
    free(path);
    json_t *first = json_array_get(records, 0);
    const char *name = json_string_value(json_object_get(first, "runbook"));
    if (!name || strcmp(name, r->rb->name))
        snprintf(err, len, "--outputs-from %s: a run of runbook %s, not of %s", id, name ? name : "?", r->rb->name);
    else if (json_is_true(json_object_get(first, "dry_run")))
        snprintf(err, len, "--outputs-from %s: a dry run, whose outputs were made up", id);
    else
        return records;
    json_decref(records);
    return NULL;
}

/* The outputs a skipped step keeps: the earlier run's, when it succeeded there (or kept them
 * itself from a run before). NULL when there are none. */
static json_t *earlier_outputs(json_t *ends, const char *id)
{
    json_t *end = json_object_get(ends, id);
    const char *o = json_string_value(json_object_get(end, "outcome"));
    json_t *outs = json_object_get(end, "outputs");
    int ok = o && (!strcmp(o, "succeeded") || json_object_get(end, "skipped_by"));
    return ok && json_is_object(outs) ? outs : NULL;
}

static void skip_step(run *r, size_t i, json_t *ends)
{
    const rb_step *s = &r->rb->steps[i];
    step_state *st = &r->st[i];
    json_t *outs = ends ? earlier_outputs(ends, s->id) : NULL;
    st->started = st->finished = 1;
    st->outcome = RB_OUT_SKIPPED; /* never rolled back by this run: it did not do it */
    st->taken_over = TAKEN_SKIPPED;
    json_t *mine = outs ? json_deep_copy(outs) : json_object();
    /* read as the earlier run ended it, so a `when` on its outcome decides as it did there */
    json_object_set_new(mine, "outcome", json_string(outs ? "succeeded" : "skipped"));
    json_object_set_new(mine, "attempts", json_integer(0));
    json_object_set_new(mine, "duration", json_integer(0));
    json_object_set_new(r->steps, s->id, mine);
    json_t *rec = json_pack("{s:s}", "step", s->id);
    if (outs)
        json_object_set(rec, "outputs", outs);
    json_array_append_new(json_object_get(r->forward, "skipped"), rec);
}

int exec_from_prepare(run *r, char *err, size_t len)
{
    const rb_exec_opts *o = r->o;
    if (!o->from_step)
        return o->outputs_from ? snprintf(err, len, "--outputs-from goes with --from STEP"), -1 : 0;
    long at = rb_graph_find(r->g, o->from_step);
    if (at < 0)
        return snprintf(err, len, "--from %s: runbook %s has no step \"%s\"", o->from_step, r->rb->name, o->from_step), -1;
    json_t *records = o->outputs_from ? earlier_run(r, err, len) : NULL;
    if (o->outputs_from && !records)
        return -1;
    json_t *ends = records ? last_step_ends(records) : NULL;
    r->forward = json_pack("{s:[]}", "skipped");
    for (size_t k = 0; k < r->g->n && r->g->order[k] != (size_t)at; k++)
        skip_step(r, r->g->order[k], ends);
    json_decref(ends);
    json_decref(records);
    return check_needs(r, err, len);
}

void exec_from_journal(run *r)
{
    size_t k;
    json_t *v;
    char why[300];
    json_array_foreach (json_object_get(r->forward, "skipped"), k, v) {
        const char *id = json_string_value(json_object_get(v, "step"));
        json_t *outs = json_object_get(v, "outputs");
        snprintf(why, sizeof why, "before --from %s%s%s%s", r->o->from_step, outs ? " (outputs from run " : "",
                 outs ? r->o->outputs_from : "", outs ? ")" : "");
        json_t *f = json_pack("{s:s, s:s, s:i, s:i, s:s, s:s, s:s}", "step", id, "outcome", "skipped", "attempts", 0,
                              "duration_ms", 0, "skipped_by", "--from", "from", r->o->from_step, "message", why);
        if (outs) {
            json_object_set(f, "outputs", outs);
            json_object_set_new(f, "outputs_from", json_string(r->o->outputs_from));
        }
        journal(r, "step_end", f);
        rb_event ev = {.kind = RB_EV_STEP_END, .step = id, .outcome = RB_OUT_SKIPPED, .text = why};
        emit(r, &ev);
    }
}
