/* Resume: rebuild a run's state from its journal, settle the steps in doubt (their action may
 * have started and never ended) without running anything twice without consent, then go on —
 * or finish a failure's policy or a rollback that was interrupted. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "runbook/check.h"
#include "runbook/expr.h"
#include "runbook/privdir.h"
#include "runbook/values.h"

typedef struct journaled {
    json_t *run_start;
    json_t *run_end;
    int rollback_phase;
    json_t *records;
} journaled;

/* The run_start record of a journal (new reference), read without changing the file. */
static json_t *first_record(const char *state_dir, const char *run_id, char *err, size_t errlen)
{
    char *path = rb_journal_path_of(state_dir, run_id);
    json_t *records = NULL, *first = NULL;
    rb_journal_read_info info = {0};
    if (!path)
        snprintf(err, errlen, "'%s' is not a run id", run_id);
    else if (rb_journal_load(path, &records, &info) != RB_JOURNAL_OK)
        snprintf(err, errlen, "cannot read the journal %s: %s", path, *info.message ? info.message : strerror(errno));
    else {
        first = json_array_get(records, 0);
        const char *type = json_string_value(json_object_get(first, "type"));
        if (!json_string_value(json_object_get(first, "path")) || !type || strcmp(type, "run_start")) {
            snprintf(err, errlen, "the journal of %s does not start with the run's start", run_id);
            first = NULL;
        }
        json_incref(first);
    }
    json_decref(records);
    free(path);
    return first;
}

char *rb_exec_resume_path(const char *state_dir, const char *run_id, char *err, size_t errlen)
{
    json_t *first = first_record(state_dir, run_id, err, errlen);
    char *out = first ? strdup(json_string_value(json_object_get(first, "path"))) : NULL;
    json_decref(first);
    return out;
}

/* The index of a journaled step key in this run, or -1 when it belongs to another runbook (a
 * called one is replayed when its calling step runs again). */
static long step_index(const run *r, const char *key)
{
    size_t n = strlen(r->prefix);
    if (!key || strncmp(key, r->prefix, n) || strchr(key + n, '/'))
        return -1;
    return rb_graph_find(r->g, key + n);
}

/* A journaled step_end. A cancelled step was stopped midway (an interrupt): it is not done,
 * and it is in doubt when its action had started (cut). A failure that stopped the run is
 * remembered, so the resume applies its policy instead of going on past it. */
static void replay_end(run *r, long i, json_t *rec, int cut)
{
    step_state *st = &r->st[i];
    const rb_step *s = &r->rb->steps[i];
    rb_outcome o = rb_outcome_parse(json_string_value(json_object_get(rec, "outcome")));
    if (o == RB_OUT_CANCELLED) {
        st->started = cut;
        st->in_doubt = cut;
        return;
    }
    st->started = st->finished = 1;
    st->in_doubt = 0;
    st->outcome = o;
    st->duration_ms = json_integer_value(json_object_get(rec, "duration_ms"));
    st->done_order = (uint64_t)json_integer_value(json_object_get(rec, "seq"));
    st->continued = o != RB_OUT_SUCCEEDED && o != RB_OUT_SKIPPED && s->on_failure == RB_POLICY_CONTINUE;
    if (o != RB_OUT_SUCCEEDED && o != RB_OUT_SKIPPED) /* the reason a resume reports again */
        snprintf(st->message, sizeof st->message, "%s", json_string_value(json_object_get(rec, "message")) ?: "");
    if (o != RB_OUT_SUCCEEDED && o != RB_OUT_SKIPPED && !st->continued && r->failed_step < 0)
        r->failed_step = i;
    json_t *outs = json_object_get(rec, "outputs");
    int skipped_by_from = json_object_get(rec, "skipped_by") != NULL;
    st->taken_over = json_is_true(json_object_get(rec, "marked_done")) ? TAKEN_MARKED : skipped_by_from ? TAKEN_SKIPPED : 0;
    if (o == RB_OUT_SUCCEEDED && r->failed_step == i) /* marked done by hand */
        r->failed_step = -1;
    json_t *mine = (o == RB_OUT_SUCCEEDED || skipped_by_from) && json_is_object(outs) ? json_deep_copy(outs) : json_object();
    if (o == RB_OUT_SUCCEEDED)
        load_secret_captures(r, s, mine);
    /* a step skipped by --from with an earlier run's outputs reads as it ended there */
    json_object_set_new(mine, "outcome", json_string(skipped_by_from && json_is_object(outs) ? "succeeded" : rb_outcome_name(o)));
    json_object_set_new(mine, "attempts", json_integer(st->attempts));
    json_object_set_new(mine, "duration", json_integer(st->duration_ms));
    json_object_set_new(r->steps, s->id, mine);
}

/* One record about step i. cut[i]: an attempt started since its step_start, so its action may
 * have acted, even when the attempt's own end was journaled (what made it a success, its outputs
 * and captures, is journaled only with the step's end). */
static void replay_step(run *r, long i, const char *type, json_t *rec, char *cut)
{
    step_state *st = &r->st[i];
    const char *out = json_string_value(json_object_get(rec, "outcome"));
    if (!strcmp(type, "step_start")) {
        st->started = 1;
        st->finished = 0;
        st->in_doubt = 0;
        cut[i] = 0;
    } else if (!strcmp(type, "attempt_start")) {
        st->attempts = (int)json_integer_value(json_object_get(rec, "attempt"));
        cut[i] = 1;
    } else if (!strcmp(type, "step_end")) {
        replay_end(r, i, rec, cut[i]);
    } else if (!strcmp(type, "item_end")) {
        /* a finished item of a for_each: a resume runs only the others */
        if (rb_outcome_parse(out) == RB_OUT_SUCCEEDED) {
            if (!st->items_done)
                st->items_done = json_array();
            json_array_append_new(st->items_done, json_pack("{s:O, s:O, s:O}", "index", json_object_get(rec, "index"),
                                                            "value", json_object_get(rec, "value") ?: json_null(),
                                                            "outputs", json_object_get(rec, "outputs") ?: json_object()));
        }
    } else if (!strcmp(type, "rollback_start")) {
        st->rollback_started = 1;
        st->rollback_done = 0;
    } else if (!strcmp(type, "rollback_end")) {
        /* a rollback an interrupt cancelled midway is not done: it is in doubt */
        st->rollback_outcome = rb_outcome_parse(out);
        st->rollback_done = st->rollback_outcome != RB_OUT_CANCELLED;
        if (st->rollback_outcome == RB_OUT_SUCCEEDED)
            st->outcome = RB_OUT_ROLLED_BACK;
    }
}

/* A rollback_begin of this run (not of a runbook it called): the policy was being applied. */
static void replay_rollback_begin(run *r, journaled *j, json_t *rec)
{
    const char *scope = json_string_value(json_object_get(rec, "scope"));
    const char *cause = json_string_value(json_object_get(rec, "cause"));
    if (strcmp(scope ? scope : "", r->prefix))
        return;
    j->rollback_phase = 1;
    if (cause && !strcmp(cause, "deadline"))
        r->deadline_passed = 1;
    else if (cause && r->failed_step < 0)
        r->failed_step = step_index(r, cause);
}

/* A resume record: a run that had ended goes on (its run_end no longer counts), and the steps
 * --retry-failed named run again. */
static void replay_resume(run *r, journaled *j, json_t *rec)
{
    size_t k;
    json_t *v;
    j->run_end = NULL;
    json_array_foreach (json_object_get(rec, "retry_failed"), k, v) {
        long i = step_index(r, json_string_value(v));
        if (i >= 0)
            exec_forget_outcome(r, (size_t)i);
    }
}

/* Replays the records into the run's state. */
static void replay(run *r, journaled *j)
{
    char *cut = calloc(r->rb->nsteps + 1, 1);
    size_t k;
    json_t *rec;
    json_array_foreach(j->records, k, rec)
    {
        const char *type = json_string_value(json_object_get(rec, "type"));
        long i = step_index(r, json_string_value(json_object_get(rec, "step")));
        if (!type)
            continue;
        if (!strcmp(type, "run_start"))
            j->run_start = rec;
        else if (!strcmp(type, "run_end"))
            j->run_end = rec;
        else if (!strcmp(type, "rollback_begin"))
            replay_rollback_begin(r, j, rec);
        else if (!strcmp(type, "resume") && !*r->prefix)
            replay_resume(r, j, rec);
        else if (i >= 0 && cut)
            replay_step(r, i, type, rec, cut);
    }
    for (size_t i = 0; i < r->rb->nsteps; i++) {
        step_state *st = &r->st[i];
        if (st->started && !st->finished)
            st->in_doubt = cut && cut[i];
        if (st->done_order > r->done_counter)
            r->done_counter = st->done_order;
    }
    free(cut);
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
    if (!s->verify || !s->verify->action.type)
        return -1;
    invocation inv = {s, s->verify, INVOKE_VERIFY, block_timeout(r, s, s->verify), r->cancel};
    act_result res = {0};
    invoke(r, &inv, &res);
    int ok = res.outcome == RB_OUT_SUCCEEDED;
    int undecided = !ok && (!strcmp(res.errclass, "refused") || !strcmp(res.errclass, "undecided"));
    json_decref(res.outputs);
    return undecided ? -1 : ok;
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
    if (a == -2) /* Ctrl-C at the question: stop, and ask again at the next resume */
        rb_exec_interrupt();
    return a;
}

static void mark_done(run *r, const rb_step *s, step_state *st)
{
    char key[320];
    step_key(r, s, key, sizeof key);
    note(r, s, "verify says it happened: marked done", "verify");
    st->finished = 1;
    st->in_doubt = 0;
    st->outcome = RB_OUT_SUCCEEDED;
    st->done_order = ++r->done_counter;
    json_object_set_new(r->steps, s->id, json_pack("{s:s, s:i}", "outcome", "succeeded", "attempts", st->attempts));
    journal(r, "step_end", json_pack("{s:s, s:s, s:i, s:b}", "step", key, "outcome", "succeeded", "attempts",
                                     st->attempts, "verified", 1));
}

/* Settles one step in doubt: its verify asks the world first, whatever flag was given; then
 * --rerun-in-doubt, idempotent: true or the operator decide. 0 settled, -1 it stays in doubt. */
static int settle_step(run *r, size_t i)
{
    const rb_step *s = &r->rb->steps[i];
    step_state *st = &r->st[i];
    int v = s->verify ? verified(r, s) : -1;
    if (v == 1) {
        mark_done(r, s, st);
        return 0;
    }
    const char *by = "verify";
    int yes = v == 0 ? 1 : consent(r, s, "This step was running when the run stopped; it may or may not have acted. Run it again?", &by);
    if (yes != 1)
        return -1;
    note(r, s, v == 0 ? "verify says it did not happen: running it" : "running it again", by);
    st->started = st->in_doubt = 0;
    return 0;
}

/* Adds a step's key to a list of names for a message ("a, b, c"), as long as it fits. */
static void add_name(run *r, const rb_step *s, char *names, size_t len)
{
    char key[320];
    step_key(r, s, key, sizeof key);
    size_t n = strlen(names);
    if (n + strlen(key) + 8 < len)
        snprintf(names + n, len - n, "%s%s", n ? ", " : "", key);
    else if (n + 5 < len && !strstr(names, ", ..."))
        snprintf(names + n, len - n, ", ...");
}

static void in_doubt_message(const char *names, int several, int refused, char *err, size_t len)
{
    if (refused)
        snprintf(err, len, "step%s %s %s in doubt and the operator chose not to run %s again; nothing more was run",
                 several ? "s" : "", names, several ? "are" : "is", several ? "them" : "it");
    else
        snprintf(err, len, "step%s %s %s in doubt (an action started, and its end was never journaled); check "
                 "by hand, then resume with --rerun-in-doubt to run %s again", several ? "s" : "", names,
                 several ? "are" : "is", several ? "them" : "it");
}

static int is_call(const rb_step *s)
{
    return s->main.action.type && (s->main.action.type->flags & RB_AT_CALLS_RUNBOOK);
}

/* Steps that started and never ended: in doubt when their action had started, else (stopped
 * before acting: a confirmation, a precondition) they simply run again. A runbook call acts only through
 * its steps: it runs again, and its called runbook goes on from the journal (resume_called). */
static int settle(run *r, char *err, size_t len)
{
    char names[200] = "";
    int left = 0, refused = 0;
    for (size_t k = 0; k < r->g->n; k++) {
        size_t i = r->g->order[k];
        step_state *st = &r->st[i];
        if (!st->started || st->finished)
            continue;
        if (st->in_doubt && is_call(&r->rb->steps[i]))
            note(r, &r->rb->steps[i], "running the call again: its runbook goes on from the journal", "resume");
        else if (st->in_doubt && settle_step(r, i) != 0) {
            add_name(r, &r->rb->steps[i], names, sizeof names);
            refused |= r->o->ui.ask != NULL && !r->o->rerun_in_doubt;
            left++;
            continue;
        }
        if (!st->finished) /* not marked done by its verify: it runs (again) */
            st->started = st->in_doubt = 0;
    }
    if (left)
        in_doubt_message(names, left > 1, refused, err, len);
    return left ? -1 : 0;
}

/* Before a rollback that the journal says is due: a step that was running when the run stopped
 * may have acted. Its verify decides; without one, the operator (or --rerun-in-doubt, or
 * idempotent: true) may let its rollback run with the others; otherwise the resume stops, naming
 * it, rather than call the run rolled back. A read step has nothing to undo. */
static int settle_before_rollback(run *r, char *err, size_t len)
{
    char names[200] = "";
    int left = 0;
    for (size_t i = 0; i < r->rb->nsteps; i++) {
        const rb_step *s = &r->rb->steps[i];
        step_state *st = &r->st[i];
        if (!st->in_doubt || st->finished)
            continue;
        if (!s->writes) {
            note(r, s, "a read step: nothing to undo", "resume");
            st->in_doubt = st->started = 0;
            continue;
        }
        const char *by = "verify";
        int v = s->verify ? verified(r, s) : -1;
        if (v == -1 && consent(r, s, "This step was running when the run stopped; it may have acted. Run its rollback with the others?", &by) == 1)
            v = 2;
        if (v == 0) {
            note(r, s, "verify says it did not happen: nothing to undo", by);
            st->in_doubt = st->started = 0;
        } else if (v > 0) {
            note(r, s, "it may have acted: rolled back with the others", by);
            st->finished = 1, st->in_doubt = 0, st->outcome = RB_OUT_SUCCEEDED, st->done_order = ++r->done_counter;
        } else {
            add_name(r, s, names, sizeof names);
            left++;
        }
    }
    if (left)
        snprintf(err, len, "before the rollback: step%s %s %s in doubt and may have acted; check by hand, then "
                 "resume with --rerun-in-doubt to roll %s back with the others", left > 1 ? "s" : "", names,
                 left > 1 ? "are" : "is", left > 1 ? "them" : "it");
    return left ? -1 : 0;
}

/* A rollback interrupted midway: one that started and never ended is in doubt like a step,
 * except a file step's own undo, which restores saved content and can run again. */
static int settle_rollbacks(run *r, char *err, size_t len)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < r->rb->nsteps; i++) {
        const rb_step *s = &r->rb->steps[i];
        int file_undo = !s->rollback && s->main.action.type && s->main.action.type->ops->undo;
        if (!r->st[i].rollback_started || r->st[i].rollback_done || file_undo)
            continue;
        const char *by;
        if (consent(r, s, "Its rollback was running when the run stopped. Run the rollback again?", &by) != 1) {
            snprintf(err, len, "the rollback of step %s is in doubt; resume with --rerun-in-doubt to run it again", s->id);
            rc = -1;
        } else
            note(r, s, "running its rollback again", by);
    }
    return rc;
}

static int check_journal(const rb_runbook *rb, journaled *j, const rb_exec_opts *o, char *err, size_t len)
{
    if (!j->run_start)
        return snprintf(err, len, "the journal has no run_start record"), -1;
    const char *status = json_string_value(json_object_get(j->run_end, "status"));
    if (j->run_end && !o->retry_failed && !o->nmark_done)
        return snprintf(err, len, "this run already ended (%s); %s", status ? status : "?",
                        status && !strcmp(status, "failed") ? "resume with --retry-failed to run its failed step again, "
                        "or --mark-done STEP --reason TEXT for a step done by hand" : "start a new one"), -1;
    size_t srclen;
    const char *src = rb_doc_source(rb->doc, &srclen);
    char hash[32];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)rb_content_hash(src, srclen));
    const char *was = json_string_value(json_object_get(j->run_start, "hash"));
    if (!o->force && (!was || strcmp(was, hash)))
        return snprintf(err, len, "the runbook changed since this run started; resume with --force to accept the change"), -1;
    return 0;
}

/* Settles what the journal left open: the rollback in progress, the policy of a failure that
 * stopped the run (killed before it was applied), or the steps in doubt. Afterwards, r->stopping
 * says the run is only to finish (run_finish), not to go on. -1 (message in err): a step stays
 * in doubt. The caller holds r->mu. */
static int settle_journaled(run *r, journaled *j, char *err, size_t len)
{
    if (j->rollback_phase) {
        r->stopping = r->rollback_pending = 1;
        return settle_before_rollback(r, err, len) != 0 ? -1 : settle_rollbacks(r, err, len);
    }
    if (r->failed_step >= 0) {
        r->stopping = 1;
        return r->rb->steps[r->failed_step].on_failure == RB_POLICY_ROLLBACK ? settle_before_rollback(r, err, len) : 0;
    }
    return settle(r, err, len);
}

void replay_called(run *c)
{
    journaled j = {0};
    j.records = c->replay;
    replay(c, &j);
}

int resume_called(run *c, char *err, size_t len)
{
    journaled j = {0};
    j.records = c->replay;
    replay(c, &j);
    return settle_journaled(c, &j, err, len);
}

static int go_on(run *r, journaled *j, char *err, size_t len)
{
    if (settle_journaled(r, j, err, len) != 0)
        return -1;
    if (!r->stopping)
        schedule(r);
    if (*r->halt)
        return snprintf(err, len, "%s", r->halt), -1;
    return 0;
}

static int resume_body(run *r, journaled *j, rb_run_result *res)
{
    char err[256] = "";
    exec_set_cancel(r->cancel);
    rb_event ev = {.kind = RB_EV_RUN_START, .text = res->run_id, .path = rb_journal_path(r->journal)};
    emit(r, &ev);
    journal(r, "resume", exec_resume_record(r));
    pthread_mutex_lock(r->mu);
    exec_resume_journal(r);
    set_deadline(r);
    exec_mark_children(res->run_id);
    int code;
    if (exec_settle_survivors(r, res->run_id, err, sizeof err) != 0 || go_on(r, j, err, sizeof err) != 0) {
        snprintf(res->message, sizeof res->message, "%s", err);
        res->outcome = exec_interrupted() ? RB_OUT_CANCELLED : RB_OUT_FAILED;
        code = res->exit_code = exec_interrupted() ? 130 : 1; /* Ctrl-C at a question */
        journal(r, "interrupted", json_pack("{s:s}", "reason", err));
        journal_sync(r);
    } else
        code = run_finish(r, res);
    pthread_mutex_unlock(r->mu);
    return code;
}

/* A dry run changed nothing, so it is started again rather than resumed (and it holds no lock
 * that would keep a real resume from running beside it). */
static int resumable(const rb_exec_opts *o, const char *run_id, char *lock, size_t locklen, char *err,
                     size_t errlen)
{
    json_t *first = first_record(o->state_dir, run_id, err, errlen);
    if (!first)
        return -1;
    int dry = json_is_true(json_object_get(first, "dry_run"));
    const char *name = json_string_value(json_object_get(first, "lock"));
    snprintf(lock, locklen, "%s", name ? name : "");
    json_decref(first);
    if (dry)
        return snprintf(err, errlen, "%s was a dry run, which changes nothing: start a new one", run_id), -1;
    if (!*lock)
        return snprintf(err, errlen, "the journal of %s does not name the run's lock", run_id), -1;
    return 0;
}

/* Loads the journal (the lock is held: nothing else appends) and resumes. */
static void resume_locked(run *r, const char *run_id, rb_run_result *res)
{
    journaled j = {0};
    rb_journal_read_info info = {0};
    if (rb_journal_reopen(r->o->state_dir, run_id, &r->journal, &j.records, &info) != 0) {
        snprintf(res->message, sizeof res->message, "cannot resume %s: %s", run_id,
                 *info.message ? info.message : strerror(errno));
        return;
    }
    rb_journal_set_masker(r->journal, r->masker);
    r->replay = j.records;
    replay(r, &j);
    if (check_journal(r->rb, &j, r->o, res->message, sizeof res->message) == 0 &&
        exec_resume_prepare(r, j.run_end, j.rollback_phase, res->message, sizeof res->message) == 0) {
        r->inputs = json_incref(json_object_get(j.run_start, "inputs"));
        r->runobj = json_pack("{s:s, s:b}", "id", run_id, "dry_run", 0);
        int refused = 0;
        if (load_secrets(r, res->message, sizeof res->message) == 0 &&
            (refused = exec_preflight_calls(r, res->message, sizeof res->message)) == 0)
            resume_body(r, &j, res);
        else if (refused)
            res->exit_code = refused; /* nothing ran: the call tree was refused first */
    }
    r->replay = NULL;
    json_decref(j.records);
}

/* ---- what a journal names is checked again before it is acted on ---- */

/* An input's journaled (typed) value as the text an operator would have given. */
static int input_text(const rb_input *in, const json_t *v, char *buf, size_t size)
{
    if (in->type == RB_IN_INT && json_is_integer(v))
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (in->type == RB_IN_BOOL && json_is_boolean(v))
        snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
    else if (in->type == RB_IN_DURATION && json_is_integer(v))
        rb_duration_format(json_integer_value(v), buf, size);
    else if (in->type != RB_IN_INT && in->type != RB_IN_BOOL && in->type != RB_IN_DURATION && json_is_string(v))
        return snprintf(buf, size, "%s", json_string_value(v)) < (int)size ? 0 : -1;
    else
        return -1;
    return 0;
}

/* Every journaled input is declared, of its declared type, and passes its checks (pattern,
 * range, values), as if the operator had typed it now. */
static int inputs_fit(const rb_runbook *rb, const json_t *inputs, char *err, size_t len)
{
    const char *key;
    json_t *v;
    char text[8192], why[256];
    json_object_foreach ((json_t *)inputs, key, v) {
        const rb_input *in = NULL;
        for (size_t i = 0; i < rb->ninputs && !in; i++)
            in = !strcmp(rb->inputs[i].name, key) ? &rb->inputs[i] : NULL;
        json_t *again = NULL;
        int ok = in && input_text(in, v, text, sizeof text) == 0 && rb_input_check(in, text, why, sizeof why) == 0 &&
                 (again = rb_input_value(in, text)) && json_equal(again, v);
        json_decref(again);
        if (!ok)
            return snprintf(err, len, "the journal's input %.64s %s: refusing to resume a journal that may have been "
                            "edited", key, !in ? "is not declared by the runbook" : "is not a value the runbook accepts"), -1;
    }
    for (size_t i = 0; i < rb->ninputs; i++)
        if (!json_object_get(inputs, rb->inputs[i].name))
            return snprintf(err, len, "the journal has no value for input %.64s: refusing to resume", rb->inputs[i].name), -1;
    return 0;
}

/* The runbook the journal names will run as us: only we or root may have changed it. */
static int runbook_file_ours(const char *path, char *err, size_t len)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return snprintf(err, len, "cannot check the runbook %s: %s", path, strerror(errno)), -1;
    if (!S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & (S_IWGRP | S_IWOTH)))
        return snprintf(err, len, "the runbook %s is owned by uid %ld with mode %04o: only you or root may be able "
                        "to change a runbook that is resumed (chown, or chmod go-w)", path, (long)st.st_uid,
                        (unsigned)(st.st_mode & 07777)), -1;
    return 0;
}

/* Before a resume acts: the state folder is the user's own (no one else could have planted
 * the journal), the runbook is a file only they or root may change, and the journal's inputs
 * are values the runbook accepts. (The runbook's hash is checked by check_journal.) */
static int journal_trusted(const rb_runbook *rb, const rb_exec_opts *o, const char *run_id, char *err, size_t len)
{
    char runs[4096];
    if (!o->state_dir)
        return snprintf(err, len, "no state folder: give --state-dir"), -1;
    snprintf(runs, sizeof runs, "%s/runs", o->state_dir);
    if (rb_privdir_check(o->state_dir, 0, err, len) != 0 || rb_privdir_check(runs, RB_PRIVDIR_NOFOLLOW, err, len) != 0)
        return -1;
    json_t *first = first_record(o->state_dir, run_id, err, len);
    int rc = !first || runbook_file_ours(rb->path, err, len) != 0 ? -1 : 0;
    const json_t *inputs = json_object_get(first, "inputs");
    if (rc == 0 && !json_is_object(inputs)) {
        snprintf(err, len, "the journal of %s has no inputs", run_id);
        rc = -1;
    } else if (rc == 0)
        rc = inputs_fit(rb, inputs, err, len);
    json_decref(first);
    return rc;
}

int rb_exec_resume(const rb_runbook *rb, const rb_graph *g, const char *run_id, const rb_exec_opts *o,
                   rb_run_result *res)
{
    memset(res, 0, sizeof *res);
    snprintf(res->run_id, sizeof res->run_id, "%s", run_id);
    res->exit_code = 2;
    if (rb_actions_global_init(res->message, sizeof res->message) != 0)
        return 2;
    char lock_name[RB_LOCK_NAME_MAX + 1];
    run r;
    rb_lock *lock = NULL;
    if (run_init(&r, rb, g, o, NULL) != 0)
        snprintf(res->message, sizeof res->message, "out of memory");
    else if (journal_trusted(rb, o, run_id, res->message, sizeof res->message) == 0 &&
             resumable(o, run_id, lock_name, sizeof lock_name, res->message, sizeof res->message) == 0 &&
             take_lock(&r, lock_name, run_id, &lock, res->message, sizeof res->message) == 0)
        resume_locked(&r, run_id, res);
    rb_lock_release(lock);
    run_free(&r);
    rb_actions_global_cleanup();
    return res->exit_code;
}
