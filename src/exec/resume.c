/* Resume: rebuild a run's state from its journal, settle the steps in doubt (started, never
 * ended) without running anything twice without consent, then go on — or finish a rollback
 * that was interrupted. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

typedef struct journaled {
    json_t *run_start;
    json_t *run_end;
    int rollback_phase;
    json_t *records;
} journaled;

char *rb_exec_resume_path(const char *state_dir, const char *run_id, char *err, size_t errlen)
{
    char *path = rb_journal_path_of(state_dir, run_id);
    json_t *records = NULL;
    rb_journal_read_info info;
    char *out = NULL;
    if (!path)
        snprintf(err, errlen, "'%s' is not a run id", run_id);
    else if (rb_journal_load(path, &records, &info) != RB_JOURNAL_OK)
        snprintf(err, errlen, "cannot read the journal %s: %s", path, *info.message ? info.message : strerror(errno));
    else {
        json_t *first = json_array_get(records, 0);
        const char *p = json_string_value(json_object_get(first, "path"));
        if (!p || strcmp(json_string_value(json_object_get(first, "type")), "run_start"))
            snprintf(err, errlen, "the journal of %s does not start with the run's start", run_id);
        else
            out = strdup(p);
    }
    json_decref(records);
    free(path);
    return out;
}

static long step_index(run *r, const char *key)
{
    if (!key || strchr(key, '/'))
        return -1; /* a called runbook's step: settled through its calling step */
    return rb_graph_find(r->g, key);
}

/* Replays the records into the run's state. */
static void replay(run *r, journaled *j)
{
    size_t k;
    json_t *rec;
    json_array_foreach(j->records, k, rec)
    {
        const char *type = json_string_value(json_object_get(rec, "type"));
        long i = step_index(r, json_string_value(json_object_get(rec, "step")));
        if (!strcmp(type, "run_start"))
            j->run_start = rec;
        else if (!strcmp(type, "run_end"))
            j->run_end = rec;
        else if (!strcmp(type, "rollback_begin"))
            j->rollback_phase = 1;
        if (i < 0)
            continue;
        step_state *st = &r->st[i];
        const rb_step *s = &r->rb->steps[i];
        if (!strcmp(type, "step_start"))
            st->started = 1;
        else if (!strcmp(type, "attempt_start"))
            st->attempts = (int)json_integer_value(json_object_get(rec, "attempt"));
        else if (!strcmp(type, "step_end")) {
            st->started = st->finished = 1;
            st->outcome = rb_outcome_parse(json_string_value(json_object_get(rec, "outcome")));
            st->duration_ms = json_integer_value(json_object_get(rec, "duration_ms"));
            st->done_order = (uint64_t)json_integer_value(json_object_get(rec, "seq"));
            st->continued = st->outcome != RB_OUT_SUCCEEDED && st->outcome != RB_OUT_SKIPPED &&
                            s->on_failure == RB_POLICY_CONTINUE;
            json_t *outs = json_object_get(rec, "outputs");
            json_t *mine = st->outcome == RB_OUT_SUCCEEDED && outs ? json_deep_copy(outs) : json_object();
            json_object_set_new(mine, "outcome", json_string(rb_outcome_name(st->outcome)));
            json_object_set_new(mine, "attempts", json_integer(st->attempts));
            json_object_set_new(mine, "duration", json_integer(st->duration_ms));
            json_object_set_new(r->steps, s->id, mine);
        } else if (!strcmp(type, "rollback_start")) {
            st->rollback_done = 0;
        } else if (!strcmp(type, "rollback_end")) {
            st->rollback_done = 1;
            st->rollback_outcome = rb_outcome_parse(json_string_value(json_object_get(rec, "outcome")));
            if (st->rollback_outcome == RB_OUT_SUCCEEDED)
                st->outcome = RB_OUT_ROLLED_BACK;
        }
    }
    for (size_t i = 0; i < r->rb->nsteps; i++)
        if (r->st[i].done_order > r->done_counter)
            r->done_counter = r->st[i].done_order;
}

static void note(run *r, const rb_step *s, const char *what, const char *by)
{
    char key[320];
    step_key(r, s, key, sizeof key);
    journal(r, "note", json_pack("{s:s, s:s, s:s}", "step", key, "resume", what, "by", by));
    char text[400];
    snprintf(text, sizeof text, "in doubt after the interruption: %s (%s)", what, by);
    rb_event ev = {.kind = RB_EV_NOTE, .step = key, .text = text};
    emit(r, &ev);
}

/* Asks the world through the step's verify action: 1 it happened, 0 it did not, -1 unknown. */
static int verified(run *r, const rb_step *s)
{
    const act_impl *impl = s->verify && s->verify->action.type ? act_find(s->verify->action.type->name) : NULL;
    char err[256];
    int unknown = 0;
    json_t *params = impl ? render_params(r, &s->verify->action, &unknown, err, sizeof err) : NULL;
    if (!params)
        return -1;
    json_t *target = rb_action_param(&s->verify->action, "target") ? render_target(r, &s->verify->action, err, sizeof err) : NULL;
    long long t = s->verify->timeout_ms >= 0 ? s->verify->timeout_ms : r->rb->default_timeout_ms > 0 ? r->rb->default_timeout_ms : 0;
    act_call call = {r, s, s->verify, params, target, t, r->cancel, 0, NULL, NULL};
    act_result res = {0};
    journal_sync(r);
    pthread_mutex_unlock(r->mu);
    impl->run(&call, &res);
    pthread_mutex_lock(r->mu);
    if (!res.outputs)
        res.outputs = json_object();
    int ok = judge(r, s, s->verify, &res) == 0;
    json_decref(res.outputs);
    json_decref(params);
    json_decref(target);
    return ok;
}

static int consent(run *r, const rb_step *s, const char *question, const char **by)
{
    if (r->o->rerun_in_doubt) {
        *by = "--rerun-in-doubt";
        return 1;
    }
    if (s->idempotent) {
        *by = "idempotent: true";
        return 1;
    }
    char key[320];
    step_key(r, s, key, sizeof key);
    pthread_mutex_unlock(r->mu);
    int a = r->o->ui.ask ? r->o->ui.ask(r->o->ui.ctx, key, question) : -1;
    pthread_mutex_lock(r->mu);
    *by = "operator";
    return a;
}

/* Settles one step in doubt; -1 stops the resume (message in err). */
static int settle_step(run *r, size_t i, char *err, size_t len)
{
    const rb_step *s = &r->rb->steps[i];
    step_state *st = &r->st[i];
    const char *by = "verify";
    int v = s->verify && !s->idempotent && !r->o->rerun_in_doubt ? verified(r, s) : -1;
    if (v == 1) {
        note(r, s, "verify says it happened: marked done", by);
        st->finished = 1;
        st->outcome = RB_OUT_SUCCEEDED;
        st->done_order = ++r->done_counter;
        json_object_set_new(r->steps, s->id, json_pack("{s:s, s:i}", "outcome", "succeeded", "attempts", st->attempts));
        journal(r, "step_end", json_pack("{s:s, s:s, s:b}", "step", s->id, "outcome", "succeeded", "verified", 1));
        return 0;
    }
    int yes = v == 0 ? 1 : consent(r, s, "This step was running when the run stopped; it may or may not have acted. Run it again?", &by);
    if (yes == 1) {
        note(r, s, v == 0 ? "verify says it did not happen: running it" : "running it again", by);
        st->started = 0;
        return 0;
    }
    snprintf(err, len, yes == 0 ? "step %s is in doubt and the operator chose not to run it again; nothing more was run"
                                : "step %s is in doubt (it started and never ended); check it by hand, then resume with --rerun-in-doubt to run it again",
             s->id);
    return -1;
}

static int settle(run *r, char *err, size_t len)
{
    for (size_t k = 0; k < r->g->n; k++) {
        size_t i = r->g->order[k];
        if (r->st[i].started && !r->st[i].finished && settle_step(r, i, err, len) != 0)
            return -1;
    }
    return 0;
}

/* A rollback interrupted midway: one that started and never ended is in doubt like a step,
 * except a file step's own undo, which restores saved content and can run again. */
static int settle_rollbacks(run *r, journaled *j, char *err, size_t len)
{
    for (size_t i = 0; i < r->rb->nsteps; i++) {
        step_state *st = &r->st[i];
        int started = 0;
        size_t k;
        json_t *rec;
        json_array_foreach(j->records, k, rec)
        {
            const char *type = json_string_value(json_object_get(rec, "type"));
            if (!strcmp(type, "rollback_start") && step_index(r, json_string_value(json_object_get(rec, "step"))) == (long)i)
                started = 1;
        }
        const rb_step *s = &r->rb->steps[i];
        int file_undo = !s->rollback && s->main.action.type && !strcmp(s->main.action.type->name, "file");
        if (!started || st->rollback_done || file_undo)
            continue;
        const char *by;
        if (consent(r, s, "Its rollback was running when the run stopped. Run the rollback again?", &by) != 1) {
            snprintf(err, len, "the rollback of step %s is in doubt; resume with --rerun-in-doubt to run it again", s->id);
            return -1;
        }
        note(r, s, "running its rollback again", by);
    }
    return 0;
}

static int check_journal(const rb_runbook *rb, journaled *j, const rb_exec_opts *o, char *err, size_t len)
{
    if (!j->run_start)
        return snprintf(err, len, "the journal has no run_start record"), -1;
    if (j->run_end)
        return snprintf(err, len, "this run already ended (%s); start a new one",
                        json_string_value(json_object_get(j->run_end, "status"))), -1;
    size_t srclen;
    const char *src = rb_doc_source(rb->doc, &srclen);
    char hash[32];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)rb_content_hash(src, srclen));
    const char *was = json_string_value(json_object_get(j->run_start, "hash"));
    if (!o->force && (!was || strcmp(was, hash)))
        return snprintf(err, len, "the runbook changed since this run started; resume with --force to accept the change"), -1;
    return 0;
}

static int resume_body(run *r, journaled *j, rb_run_result *res)
{
    char err[256] = "";
    exec_set_cancel(r->cancel);
    rb_event ev = {.kind = RB_EV_RUN_START, .text = res->run_id, .path = rb_journal_path(r->journal)};
    emit(r, &ev);
    journal(r, "resume", json_pack("{s:i}", "pid", (int)getpid()));
    pthread_mutex_lock(r->mu);
    int ok = j->rollback_phase ? settle_rollbacks(r, j, err, sizeof err) : settle(r, err, sizeof err);
    int code;
    if (ok != 0) {
        snprintf(res->message, sizeof res->message, "%s", err);
        res->outcome = RB_OUT_FAILED;
        code = res->exit_code = 1;
        journal(r, "interrupted", json_pack("{s:s}", "reason", err));
    } else {
        if (j->rollback_phase) {
            r->stopping = 1;
            for (size_t i = 0; i < r->rb->nsteps && r->failed_step < 0; i++)
                if (r->st[i].outcome != RB_OUT_SUCCEEDED && r->st[i].outcome != RB_OUT_ROLLED_BACK &&
                    r->st[i].finished && r->rb->steps[i].on_failure == RB_POLICY_ROLLBACK)
                    r->failed_step = (long)i;
        } else
            schedule(r);
        code = run_finish(r, res);
    }
    pthread_mutex_unlock(r->mu);
    return code;
}

int rb_exec_resume(const rb_runbook *rb, const rb_graph *g, const char *run_id, const rb_exec_opts *o,
                   rb_run_result *res)
{
    memset(res, 0, sizeof *res);
    snprintf(res->run_id, sizeof res->run_id, "%s", run_id);
    res->exit_code = 2;
    journaled j = {0};
    rb_journal_read_info info = {0};
    run r;
    rb_lock *lock = NULL;
    if (run_init(&r, rb, g, o, NULL) != 0) {
        snprintf(res->message, sizeof res->message, "out of memory");
    } else if (rb_journal_reopen(o->state_dir, run_id, &r.journal, &j.records, &info) != 0) {
        snprintf(res->message, sizeof res->message, "cannot resume %s: %s", run_id,
                 *info.message ? info.message : strerror(errno));
    } else {
        rb_journal_set_masker(r.journal, r.masker);
        replay(&r, &j);
        if (check_journal(rb, &j, o, res->message, sizeof res->message) == 0) {
            r.inputs = json_incref(json_object_get(j.run_start, "inputs"));
            r.runobj = json_pack("{s:s, s:b}", "id", run_id, "dry_run", json_is_true(json_object_get(j.run_start, "dry_run")));
            if (load_secrets(&r, res->message, sizeof res->message) == 0 &&
                take_lock(&r, &lock, res->message, sizeof res->message) == 0)
                resume_body(&r, &j, res);
        }
    }
    rb_lock_release(lock);
    json_decref(j.records);
    run_free(&r);
    return res->exit_code;
}
