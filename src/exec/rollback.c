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

static int undo_one(run *r, const rb_step *s, const rb_proc_cancel_token *cancel, act_result *res)
{
    const rb_block *k = s->rollback;
    const rb_action_type *t = k ? k->action.type : s->main.action.type;
    if (!t || (!k && !t->ops->undo))
        return 1; /* nothing to undo */
    if (r->o->dry_run) {
        /* a dry run ran no write step, so there is nothing to undo: only say what would run */
        res->outcome = RB_OUT_SUCCEEDED;
        snprintf(res->message, sizeof res->message, "dry run: its rollback would run here");
        return 0;
    }
    invocation inv = {s, k ? k : &s->main, k ? INVOKE_ROLLBACK : INVOKE_UNDO, block_timeout(r, s, k), cancel};
    invoke(r, &inv, res);
    return 0;
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
    char key[320];
    step_key(r, s, key, sizeof key);
    rb_event ev = {.kind = RB_EV_ROLLBACK, .step = key, .outcome = o,
                   .text = nothing ? "nothing to undo" : res.message, .dry_run = r->o->dry_run};
    if (!nothing || s->writes)
        emit(r, &ev);
    json_decref(res.outputs);
    return nothing || o == RB_OUT_SUCCEEDED ? 0 : -1;
}

int run_rollbacks(run *r)
{
    step_state **done = calloc(r->rb->nsteps + 1, sizeof *done);
    size_t n = 0;
    for (size_t i = 0; done && i < r->rb->nsteps; i++)
        if (r->st[i].outcome == RB_OUT_SUCCEEDED && !r->st[i].rollback_done && r->rb->steps[i].writes)
            done[n++] = &r->st[i];
    qsort(done, n, sizeof *done, by_done_order);
    rb_proc_cancel_token tok;
    int failed = 0, have_tok = rb_proc_cancel_init(&tok) == 0;
    /* scope and cause let a resume tell this rollback from a called runbook's, and say why */
    json_t *f = json_pack("{s:i, s:s}", "steps", (int)n, "scope", r->prefix);
    if (r->failed_step >= 0) {
        char key[320];
        step_key(r, &r->rb->steps[r->failed_step], key, sizeof key);
        json_object_set_new(f, "cause", json_string(key));
    } else if (r->deadline_passed)
        json_object_set_new(f, "cause", json_string("deadline"));
    journal(r, "rollback_begin", f);
    if (have_tok)
        exec_set_cancel(&tok); /* an interrupt now stops the rollback in progress */
    for (size_t k = 0; k < n; k++) {
        if (exec_interrupted())
            break;
        failed |= rollback_step(r, (size_t)(done[k] - r->st), have_tok ? &tok : NULL) != 0;
    }
    if (have_tok) {
        exec_set_cancel(NULL);
        rb_proc_cancel_cleanup(&tok);
    }
    free(done);
    return failed || !done ? -1 : 0;
}
