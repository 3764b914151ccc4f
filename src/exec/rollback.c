/* The rollback policy: undo every completed step, newest first. Each rollback is journaled; a
 * failing one is reported and the rest still run. Also used by resume to finish a rollback. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int by_done_order(const void *a, const void *b)
{
    const step_state *const *x = a, *const *y = b;
    return (*x)->done_order < (*y)->done_order ? 1 : (*x)->done_order > (*y)->done_order ? -1 : 0;
}

static void rollback_fields(run *r, const rb_step *s, json_t **f)
{
    char key[320];
    step_key(r, s, key, sizeof key);
    *f = json_pack("{s:s}", "step", key);
}

/* A for_each step's rollback runs once per finished item, newest first, with each.* bound and
 * steps.ID reading that item's outputs; every item is tried, and the first failure is kept. */
static int undo_items(run *r, const rb_step *s, const rb_proc_cancel_token *cancel, act_result *res)
{
    json_t *done = r->st[s->index].items_done;
    json_t *mine = json_incref(json_object_get(r->steps, s->id));
    res->outcome = RB_OUT_SUCCEEDED;
    for (size_t k = json_array_size(done); k-- > 0;) {
        json_t *it = json_array_get(done, k);
        json_t *each = json_pack("{s:O, s:O}", s->each_as, json_object_get(it, "value"), "index", json_object_get(it, "index"));
        json_object_set(r->steps, s->id, json_object_get(it, "outputs"));
        exec_set_each(each);
        invocation inv = {s, s->rollback, INVOKE_ROLLBACK, block_timeout(r, s, s->rollback), cancel};
        act_result one = {0};
        invoke(r, &inv, &one);
        exec_set_each(NULL);
        json_decref(each);
        if (one.outcome != RB_OUT_SUCCEEDED && res->outcome == RB_OUT_SUCCEEDED) {
            json_t *o = res->outputs;
            *res = one;
            one.outputs = o;
            snprintf(res->message, sizeof res->message, "item %lld: %.200s",
                     (long long)json_integer_value(json_object_get(it, "index")), one.message);
        }
        json_decref(one.outputs);
    }
    if (mine)
        json_object_set_new(r->steps, s->id, mine);
    return 0;
}

static int undo_one(run *r, const rb_step *s, const rb_proc_cancel_token *cancel, act_result *res)
{
    const rb_block *k = s->rollback;
    const rb_action_type *t = k ? k->action.type : s->main.action.type;
    if (!t || (!k && !t->ops->undo && !(t->flags & RB_AT_CALLS_RUNBOOK)))
        return 1; /* nothing to undo */
    if (r->o->dry_run) {
        /* a dry run ran no write step, so there is nothing to undo: only say what would run */
        res->outcome = RB_OUT_SUCCEEDED;
        snprintf(res->message, sizeof res->message, "dry run: its rollback would run here");
        return 0;
    }
    if (s->for_each)
        return undo_items(r, s, cancel, res);
    if (!k && (t->flags & RB_AT_CALLS_RUNBOOK))
        return exec_undo_call(r, s, cancel, res);
    invocation inv = {s, k ? k : &s->main, k ? INVOKE_ROLLBACK : INVOKE_UNDO, block_timeout(r, s, k), cancel};
    invoke(r, &inv, res);
    return 0;
}

/* Counts an undo step on the outermost run, whose ending names how many ran and failed (a
 * called runbook's undo steps are the run's too). Caller holds r->mu (shared with the parent). */
static void count_undo(run *r, rb_outcome o)
{
    while (r->parent)
        r = r->parent;
    r->undo_tried++;
    r->undo_failed += o != RB_OUT_SUCCEEDED;
}

/* Rolls back one step; returns 0 when done or nothing to do, -1 when its rollback failed. */
int rollback_step(run *r, size_t i, const rb_proc_cancel_token *cancel)
{
    const rb_step *s = &r->rb->steps[i];
    json_t *f;
    rollback_fields(r, s, &f);
    journal(r, "rollback_start", f);
    act_result res = {0};
    int nothing = undo_one(r, s, cancel, &res);
    rb_outcome o = nothing ? RB_OUT_SKIPPED : res.outcome;
    rollback_fields(r, s, &f);
    json_object_set_new(f, "outcome", json_string(rb_outcome_name(o)));
    if (!nothing && o != RB_OUT_SUCCEEDED)
        json_object_set_new(f, "message", rb_json_string_lossy(res.message, strlen(res.message)));
    if (r->o->dry_run)
        json_object_set_new(f, "dry_run", json_true());
    journal(r, "rollback_end", f);
    r->st[i].rollback_done = o != RB_OUT_CANCELLED; /* an interrupted one is left to a resume */
    r->st[i].rollback_outcome = o;
    if (o == RB_OUT_SUCCEEDED)
        r->st[i].outcome = RB_OUT_ROLLED_BACK;
    if (!nothing)
        count_undo(r, o);
    char key[320];
    step_key(r, s, key, sizeof key);
    rb_event ev = {.kind = RB_EV_ROLLBACK, .step = key, .outcome = o,
                   .text = nothing ? "nothing to undo" : res.message, .dry_run = r->o->dry_run};
    if (!nothing || s->writes)
        emit(r, &ev);
    json_decref(res.outputs);
    return nothing || o == RB_OUT_SUCCEEDED ? 0 : -1;
}

/* The completed steps that wrote, newest first (a loop's finished items count). */
static size_t to_undo(run *r, step_state **done)
{
    size_t n = 0;
    for (size_t i = 0; i < r->rb->nsteps; i++)
        if ((r->st[i].outcome == RB_OUT_SUCCEEDED ||
             (r->rb->steps[i].for_each && json_array_size(r->st[i].items_done))) && /* a loop's finished items */
            !r->st[i].rollback_done && r->rb->steps[i].writes)
            done[n++] = &r->st[i];
    qsort(done, n, sizeof *done, by_done_order);
    return n;
}

int rollback_all(run *r, const rb_proc_cancel_token *cancel)
{
    step_state **done = calloc(r->rb->nsteps + 1, sizeof *done);
    size_t n = done ? to_undo(r, done) : 0;
    int failed = 0;
    /* scope and cause let a resume tell this rollback from a called runbook's, and say why */
    json_t *f = json_pack("{s:i, s:s}", "steps", (int)n, "scope", r->prefix);
    if (r->failed_step >= 0) {
        char key[320];
        step_key(r, &r->rb->steps[r->failed_step], key, sizeof key);
        json_object_set_new(f, "cause", json_string(key));
    } else if (r->deadline_passed)
        json_object_set_new(f, "cause", json_string("deadline"));
    else if (r->parent)
        json_object_set_new(f, "cause", json_string("caller"));
    journal(r, "rollback_begin", f);
    for (size_t k = 0; k < n; k++) {
        if (exec_interrupted())
            break;
        failed |= rollback_step(r, (size_t)(done[k] - r->st), cancel) != 0;
    }
    free(done);
    return failed || !done ? -1 : 0;
}

int run_rollbacks(run *r)
{
    rb_proc_cancel_token tok, *was = NULL;
    int have_tok = rb_proc_cancel_init(&tok) == 0;
    if (have_tok)
        was = exec_set_cancel(&tok); /* an interrupt now stops the rollback in progress */
    int rc = rollback_all(r, have_tok ? &tok : NULL);
    if (have_tok) {
        exec_set_cancel(was); /* a called runbook's caller goes on, and stays interruptible */
        rb_proc_cancel_cleanup(&tok);
    }
    return rc;
}
