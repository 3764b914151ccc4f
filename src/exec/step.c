/* One step, in its own thread: when, preconditions, confirmation, attempts with retries and
 * timeouts, success criteria, captures, the journal records, and the failure policy. The run's
 * mutex is held except while the action runs, a delay waits, or the operator is asked. */
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "internal.h"
#include "runbook/values.h"

static pthread_mutex_t ask_mu = PTHREAD_MUTEX_INITIALIZER;

typedef struct attempt_plan {
    long long attempts, delay_ms, max_delay_ms, jitter_ms, timeout_ms;
    double backoff;
} attempt_plan;

static json_t *step_fields(run *r, const rb_step *s)
{
    char key[320];
    step_key(r, s, key, sizeof key);
    return json_pack("{s:s}", "step", key);
}

int condition(run *r, const rb_node *n, char *err, size_t len)
{
    return condition_text(r, n->str, n->len, err, len);
}

int condition_text(run *r, const char *text, size_t n, char *err, size_t len)
{
    rb_expr_error e;
    rb_expr *x = rb_expr_parse(text, n, &e);
    rb_scope scope = run_scope(r);
    json_t *v = x ? rb_expr_eval(x, &scope, &e) : NULL;
    int t = v ? rb_value_truthy(v) : -2;
    if (t == -2)
        snprintf(err, len, "%s", e.message);
    json_decref(v);
    rb_expr_free(x);
    return t;
}

static long long eval_number(run *r, const rb_node *n, long long fallback)
{
    rb_expr_error e;
    rb_template *t = rb_template_parse(n->str, n->len, &e);
    rb_scope scope = run_scope(r);
    json_t *v = t && rb_template_single(t) ? rb_expr_eval(rb_template_single(t), &scope, &e) : NULL;
    long long out = fallback, ms;
    if (json_is_integer(v))
        out = json_integer_value(v);
    else if (json_is_string(v) && rb_duration_parse(json_string_value(v), json_string_length(v), &ms) == 0)
        out = ms;
    json_decref(v);
    rb_template_free(t);
    return out;
}

long long resolve_ms(run *r, long long ms, const rb_node *n, long long fallback)
{
    if (ms == RB_DYNAMIC && n)
        return eval_number(r, n, fallback);
    return ms < 0 ? fallback : ms;
}

/* defaults.timeout, also when it is one ${{ }}; 0: none. */
long long default_timeout(run *r)
{
    return resolve_ms(r, r->rb->default_timeout_ms, r->rb->default_timeout_node, 0);
}

/* A block's timeout (a rollback's, a verify's), else its step's, else the default; 0: none. */
long long block_timeout(run *r, const rb_step *s, const rb_block *k)
{
    if (k && k->timeout_ms != RB_NO_DURATION)
        return resolve_ms(r, k->timeout_ms, k->timeout_node, 0);
    if (s->main.timeout_ms != RB_NO_DURATION)
        return resolve_ms(r, s->main.timeout_ms, s->main.timeout_node, 0);
    const rb_action *a = k ? &k->action : &s->main.action;
    if (a->type && (a->type->flags & RB_AT_SELF_TIMED))
        return 0; /* a sleep bounds itself: defaults.timeout would cut a long wait short */
    return default_timeout(r);
}

/* The step's own retry, else the runbook's defaults.retry: all of it, on_errors and until too. */
static const rb_retry *retry_of(run *r, const rb_step *s)
{
    return s->retry.node ? &s->retry : &r->rb->default_retry;
}

static attempt_plan plan_attempts(run *r, const rb_step *s)
{
    const rb_retry *rt = retry_of(r, s);
    attempt_plan p = {1, 1000, -1, 0, 0, 1.0};
    if (rt->node) {
        p.attempts = rt->attempts == RB_DYNAMIC ? eval_number(r, rt->attempts_node, 1) : rt->attempts;
        p.delay_ms = resolve_ms(r, rt->delay_ms, rt->delay_node, 1000);
        p.max_delay_ms = resolve_ms(r, rt->max_delay_ms, rt->max_delay_node, -1);
        p.jitter_ms = resolve_ms(r, rt->jitter_ms, rt->jitter_node, 0);
        p.backoff = rt->backoff;
    }
    if (p.attempts < 1)
        p.attempts = 1;
    p.timeout_ms = block_timeout(r, s, NULL);
    return p;
}

static int error_listed(const rb_node *list, const char *cls)
{
    if (!list)
        return 1; /* no on_errors: every failure is worth another attempt */
    for (size_t i = 0; i < list->count; i++) {
        const char *want = list->items[i]->str;
        size_t n = strlen(want);
        if (!strcmp(want, cls))
            return 1;
        if (n == 3 && want[1] == 'x' && strlen(cls) == 3 && cls[0] == want[0])
            return 1;
        if (n && want[n - 1] == '*' && !strncmp(want, cls, n - 1))
            return 1;
    }
    return 0;
}

static int worth_retry(const rb_retry *rt, const act_result *res)
{
    if (res->outcome == RB_OUT_CANCELLED || !strcmp(res->errclass, "refused") || !strcmp(res->errclass, "undecided"))
        return 0;
    if (!strcmp(res->errclass, "until"))
        return 1;
    return error_listed(rt->on_errors, res->errclass);
}

static long long delay_for(const attempt_plan *p, int attempt)
{
    double d = (double)p->delay_ms;
    for (int i = 1; i < attempt; i++)
        d *= p->backoff;
    if (p->max_delay_ms >= 0 && d > (double)p->max_delay_ms)
        d = (double)p->max_delay_ms;
    if (p->jitter_ms > 0)
        d += (double)(random() % (p->jitter_ms + 1));
    return (long long)d;
}

/* ---- one attempt ---- */

/* `until` reads this step's own outputs: set them in the scope for the evaluation. */
static int until_holds(run *r, const rb_step *s, json_t *outputs)
{
    const rb_node *until = retry_of(r, s)->until;
    if (!until)
        return 1;
    json_object_set(r->steps, s->id, outputs);
    char err[200];
    int t = condition(r, until, err, sizeof err);
    json_object_del(r->steps, s->id);
    return t == 1;
}

/* Outputs as the journal keeps them: masked first, then cut (a secret cut in two would no
 * longer be recognised), and every value bounded so a record stays under the line limit. */
static void bound_output(run *r, json_t *fields)
{
    const char *key;
    json_t *v;
    void *tmp;
    json_object_del(fields, "json"); /* the body holds it already */
    /* a secret printed half to stdout and half to stderr was masked on the terminal, where the
     * streams meet: the journal masks it where they meet too */
    json_t *out = json_object_get(fields, "stdout"), *err = json_object_get(fields, "stderr");
    if (json_is_string(out) && json_is_string(err)) {
        char *mo, *me;
        size_t no, ne;
        int ok = rb_mask_apply_pair(r->masker, json_string_value(out), json_string_length(out),
                                    json_string_value(err), json_string_length(err), &mo, &no, &me, &ne) == 0;
        json_object_set_new(fields, "stdout", ok ? rb_json_string_lossy(mo, no) : json_string("[withheld]"));
        json_object_set_new(fields, "stderr", ok ? rb_json_string_lossy(me, ne) : json_string("[withheld]"));
        if (ok)
            free(mo), free(me);
    }
    json_object_foreach_safe(fields, tmp, key, v)
    {
        size_t n;
        if (json_is_string(v) && json_string_length(v) > OUTPUT_JOURNAL_MAX) {
            char *m = rb_mask_apply(r->masker, json_string_value(v), json_string_length(v), &n);
            json_object_set_new(fields, key, m ? rb_json_string_bounded(m, n, OUTPUT_JOURNAL_MAX)
                                               : json_string("[withheld]"));
            free(m);
        } else if ((json_is_array(v) || json_is_object(v)) &&
                   json_dumpb(v, NULL, 0, JSON_COMPACT) > OUTPUT_JOURNAL_MAX) {
            json_object_set_new(fields, key, json_string("[too large for the journal: a resume reads it as this text]"));
        }
    }
}

void exec_bound_output(run *r, json_t *fields) { bound_output(r, fields); }

static void journal_attempt_end(run *r, const rb_step *s, int attempt, const act_result *res, long long ms)
{
    json_t *f = step_fields(r, s);
    json_object_set_new(f, "attempt", json_integer(attempt));
    json_object_set_new(f, "outcome", json_string(rb_outcome_name(res->outcome)));
    json_object_set_new(f, "duration_ms", json_integer(ms));
    const char *const *keep = s->main.action.type ? s->main.action.type->journal_fields : NULL;
    for (size_t k = 0; keep && keep[k]; k++) { /* the outputs its table says identify an attempt */
        json_t *v = json_object_get(res->outputs, keep[k]);
        if (v && (json_is_number(v) || (json_is_string(v) && json_string_length(v) <= 64)))
            json_object_set(f, keep[k], v);
    }
    if (res->outcome != RB_OUT_SUCCEEDED) {
        json_object_set_new(f, "error", json_string(res->errclass));
        json_object_set_new(f, "message", rb_json_string_lossy(res->message, strlen(res->message)));
    }
    journal(r, "attempt_end", f);
}

/* Output held back for a secret capture, shown once the capture's value is masked. */
static void show_held_output(run *r, const rb_step *s, json_t *outputs)
{
    if (!block_has_secret_capture(&s->main))
        return;
    mask_secret_captures(r, &s->main, outputs);
    char key[320];
    step_key(r, s, key, sizeof key);
    static const char *const streams[] = {"stdout", "stderr"};
    for (int i = 0; i < 2; i++) {
        json_t *text = json_object_get(outputs, streams[i]);
        size_t n = 0;
        char *m = json_string_length(text) ? rb_mask_apply(r->masker, json_string_value(text), json_string_length(text), &n) : NULL;
        rb_event ev = {.kind = RB_EV_OUTPUT, .step = key, .stream = i + 1, .text = m, .len = n};
        if (m && n)
            emit(r, &ev);
        free(m);
    }
}

static int one_attempt(run *r, const rb_step *s, int attempt, const attempt_plan *p, act_result *res)
{
    json_t *f = step_fields(r, s);
    json_object_set_new(f, "attempt", json_integer(attempt));
    journal(r, "attempt_start", f);
    long long t0 = now_ms();
    invocation inv = {s, &s->main, INVOKE_MAIN, p->timeout_ms, r->cancel};
    invoke(r, &inv, res);
    char err[200];
    if (res->outcome == RB_OUT_SUCCEEDED && apply_captures(r, &s->main, res, err, sizeof err) != 0)
        rb_act_fail(res, RB_OUT_FAILED, "capture", "%s", err);
    show_held_output(r, s, res->outputs);
    if (res->outcome == RB_OUT_SUCCEEDED && !until_holds(r, s, res->outputs))
        rb_act_fail(res, RB_OUT_FAILED, "until", "retry.until does not hold yet");
    journal_attempt_end(r, s, attempt, res, now_ms() - t0);
    return res->outcome == RB_OUT_SUCCEEDED ? 0 : -1;
}

/* In a dry run: the name of a write step before s that the dry run did not make, or NULL. A read
 * step after it checks a world that the dry run left unchanged (the promotion did not happen),
 * so its failure says nothing, and waiting through its retries would say nothing either. */
static const char *after_dry_write(run *r, const rb_step *s)
{
    if (!r->o->dry_run)
        return NULL;
    for (size_t j = 0; j < r->rb->nsteps; j++) {
        const rb_step *w = &r->rb->steps[j];
        if (w->writes && w->main.action.type && r->st[j].finished && r->st[j].outcome == RB_OUT_SUCCEEDED &&
            rb_graph_is_ancestor(r->g, j, s->index))
            return w->id;
    }
    return NULL;
}

void exec_attempts(run *r, const rb_step *s, step_state *st, act_result *res)
{
    attempt_plan p = plan_attempts(r, s);
    if (after_dry_write(r, s))
        p.attempts = 1;
    for (int a = 1;; a++) {
        memset(res, 0, sizeof *res);
        st->attempts = a;
        if (one_attempt(r, s, a, &p, res) == 0 || a >= p.attempts || r->stopping || !worth_retry(retry_of(r, s), res))
            return;
        long long delay = delay_for(&p, a);
        char key[320];
        step_key(r, s, key, sizeof key);
        rb_event ev = {.kind = RB_EV_RETRY, .step = key, .attempt = a, .attempts = (int)p.attempts,
                       .delay_ms = delay, .text = res->message};
        emit(r, &ev);
        json_decref(res->outputs);
        pthread_mutex_unlock(r->mu);
        int cancelled = wait_or_cancel(r->cancel, delay);
        pthread_mutex_lock(r->mu);
        if (cancelled) {
            memset(res, 0, sizeof *res);
            rb_act_fail(res, RB_OUT_CANCELLED, "cancelled", "cancelled while waiting to retry");
            return;
        }
    }
}

/* ---- confirmation ---- */

int rb_step_needs_person(const rb_step *s, const rb_exec_opts *o)
{
    return s->confirm && (s->confirm_person || (!s->main.action.type && !o->yes_manual));
}

/* Who answered, for the audit: $USER, else the password database's name of the effective
 * user (cron and CI set no USER); and the person behind sudo when there is one. */
void journal_who(json_t *f)
{
    const char *user = getenv("USER");
    struct passwd *pw = user && *user ? NULL : getpwuid(geteuid());
    const char *sudo = getenv("SUDO_USER");
    json_object_set_new(f, "user", rb_json_string_lossy(user && *user ? user : pw ? pw->pw_name : "?",
                                                        strlen(user && *user ? user : pw ? pw->pw_name : "?")));
    if (sudo && *sudo)
        json_object_set_new(f, "sudo_user", rb_json_string_lossy(sudo, strlen(sudo)));
}

/* The question as the operator reads it: rendered (Promote ${{ inputs.host }}?) and masked. */
static char *confirm_text(run *r, const rb_step *s)
{
    size_t n;
    int unknown;
    char err[200];
    rb_scope scope = run_scope(r);
    char *text = s->confirm_node ? rb_render_node(s->confirm_node, &scope, &unknown, err, sizeof err) : NULL;
    const char *shown = text ? text : s->confirm;
    char *q = rb_mask_apply(r->masker, shown, strlen(shown), &n);
    free(text);
    return q;
}

static int ask_operator(run *r, const char *key, const char *q)
{
    pthread_mutex_unlock(r->mu);
    pthread_mutex_lock(&ask_mu);
    int answer = r->o->ui.ask ? r->o->ui.ask(r->o->ui.ctx, key, q ? q : "") : -1;
    pthread_mutex_unlock(&ask_mu);
    pthread_mutex_lock(r->mu);
    return answer;
}

static void why_unanswered(const rb_step *s, int person, const char *q, char *why, size_t len)
{
    if (!person)
        snprintf(why, len, "needs confirmation, and there is no terminal to ask: run on a terminal or with --yes");
    else
        snprintf(why, len, "needs a person to answer \"%.120s\" (%s), and there is no terminal to ask", q ? q : "",
                 s->main.action.type ? "confirm_by: person: --yes does not answer it"
                                     : "a manual step: only --yes-manual answers it without a terminal");
}

static int confirm(run *r, const rb_step *s, char *why, size_t len)
{
    char key[320];
    step_key(r, s, key, sizeof key);
    if (r->o->dry_run) {
        rb_event ev = {.kind = RB_EV_NOTE, .step = key, .text = "a real run would ask for confirmation here"};
        emit(r, &ev);
        return 0;
    }
    int person = rb_step_needs_person(s, r->o);
    char *q = confirm_text(r, s);
    const char *by = r->o->yes_manual && !s->main.action.type ? "--yes-manual" : "--yes";
    int answer = 1;
    if (!r->o->yes || person) {
        answer = ask_operator(r, key, q);
        by = "operator";
    } else {
        char line[400]; /* --yes says every text it answers */
        snprintf(line, sizeof line, "%s answers: %s", by, q ? q : "");
        rb_event ev = {.kind = RB_EV_NOTE, .step = key, .text = line};
        emit(r, &ev);
    }
    if (answer == -2) /* Ctrl-C at the question: the run stops, and a resume asks again */
        rb_exec_interrupt();
    json_t *f = step_fields(r, s);
    json_object_set_new(f, "by", json_string(answer == -1 ? "nobody" : by));
    json_object_set_new(f, "answer", json_string(answer > 0 ? "yes" : answer == 0 ? "no" : answer == -2 ? "interrupted" : "none"));
    journal_who(f);
    journal(r, "confirm", f);
    if (answer == -2)
        snprintf(why, len, "interrupted at the confirmation");
    else if (answer < 0)
        why_unanswered(s, person, q, why, len);
    else if (answer == 0)
        snprintf(why, len, "the operator said no");
    free(q);
    return answer > 0 ? 0 : -1;
}

/* ---- finishing ---- */

static json_t *visible_outputs(const rb_step *s, json_t *outputs)
{
    json_t *copy = json_deep_copy(outputs);
    for (size_t i = 0; copy && i < s->main.ncaptures; i++)
        if (s->main.captures[i].secret && s->main.captures[i].name)
            json_object_del(copy, s->main.captures[i].name);
    return copy;
}

/* Ends a step: its state, its outputs for later expressions, and its step_end record. An
 * undecided step (dry run) keeps unknown outputs, outcome included. */
static void finish_as(run *r, const rb_step *s, rb_outcome o, json_t *outputs, const char *why, long long t0,
                      int undecided)
{
    step_state *st = &r->st[s->index];
    st->outcome = o;
    st->duration_ms = now_ms() - t0;
    st->done_order = ++r->done_counter;
    snprintf(st->message, sizeof st->message, "%s", why ? why : "");
    /* A shallow copy keeps rb_unknown() values (dry run) as they are: a deep copy would turn
     * them into plain nulls and later conditions would guess. */
    json_t *mine = (o == RB_OUT_SUCCEEDED || undecided) && outputs ? json_copy(outputs) : json_object();
    json_object_set_new(mine, "outcome", undecided ? json_incref(rb_unknown()) : json_string(rb_outcome_name(o)));
    json_object_set_new(mine, "attempts", json_integer(st->attempts));
    json_object_set_new(mine, "duration", json_integer(st->duration_ms));
    if (s->id)
        json_object_set_new(r->steps, s->id, mine);
    else
        json_decref(mine);
    json_t *f = step_fields(r, s);
    json_object_set_new(f, "outcome", json_string(rb_outcome_name(o)));
    json_object_set_new(f, "attempts", json_integer(st->attempts));
    json_object_set_new(f, "duration_ms", json_integer(st->duration_ms));
    if (why && *why)
        json_object_set_new(f, "message", rb_json_string_lossy(why, strlen(why)));
    if (o == RB_OUT_SUCCEEDED && outputs && !r->o->dry_run) {
        save_secret_captures(r, s, outputs); /* before step_end: a resume that sees it finds them */
        json_t *vis = visible_outputs(s, outputs);
        bound_output(r, vis);
        json_object_set_new(f, "outputs", vis);
    }
    if (r->o->dry_run)
        json_object_set_new(f, "dry_run", json_true());
    if (undecided)
        json_object_set_new(f, "undecided", json_true());
    journal(r, "step_end", f);
}

static void finish(run *r, const rb_step *s, rb_outcome o, json_t *outputs, const char *why, long long t0)
{
    finish_as(r, s, o, outputs, why, t0, 0);
}

static void apply_policy(run *r, const rb_step *s)
{
    step_state *st = &r->st[s->index];
    if (st->outcome == RB_OUT_SUCCEEDED || st->outcome == RB_OUT_SKIPPED || st->outcome == RB_OUT_NOT_RUN)
        return;
    if (st->outcome == RB_OUT_CANCELLED && r->stopping)
        return;
    if (s->on_failure == RB_POLICY_CONTINUE && st->outcome != RB_OUT_CANCELLED) {
        st->continued = 1;
        return;
    }
    if (!r->stopping) {
        r->stopping = 1;
        r->failed_step = (long)s->index;
        rb_proc_cancel(r->cancel);
    }
}

static void announce(run *r, const rb_step *s, rb_event_kind kind, rb_outcome o, const char *text)
{
    char key[320];
    step_key(r, s, key, sizeof key);
    step_state *st = &r->st[s->index];
    const rb_node *title = s->title ? s->title_node : NULL;
    rb_scope scope = run_scope(r);
    int unknown;
    char err[160];
    char *shown = title ? rb_render_node(title, &scope, &unknown, err, sizeof err) : NULL;
    rb_event ev = {.kind = kind, .step = key, .title = shown ? shown : s->title, .outcome = o, .text = text,
                   .duration_ms = st->duration_ms, .attempt = st->attempts, .dry_run = r->o->dry_run};
    if (kind == RB_EV_STEP_END)
        ev.continued = s->on_failure == RB_POLICY_CONTINUE && o != RB_OUT_SUCCEEDED && o != RB_OUT_SKIPPED &&
                       o != RB_OUT_NOT_RUN;
    emit(r, &ev); /* emit masks the text; the title is the runbook's own, rendered */
    free(shown);
}

/* ---- the step ---- */

/* 1 all hold, 0 one failed (why says which), -1 one is undecided (dry run). */
static int preconditions_hold(run *r, const rb_step *s, char *why, size_t len)
{
    for (size_t i = 0; i < s->npreconditions; i++) {
        const rb_precondition *pc = &s->preconditions[i];
        char err[200];
        int t = pc->expr ? condition(r, pc->expr, err, sizeof err) : 1;
        if (t == 1)
            continue;
        if (t == -1)
            snprintf(why, len, "undecided: a precondition reads values only a real run has");
        else
            snprintf(why, len, "precondition failed: %s", t == -2 ? err : pc->message ? pc->message : pc->expr->str);
        return t == -1 ? -1 : 0;
    }
    return 1;
}

/* Every output of the step (its action's and its captures; a loop's items) as unknown. */
static json_t *unknown_outputs(const rb_step *s)
{
    json_t *out = json_object();
    if (s->for_each) /* other steps read a loop through its items */
        json_object_set(out, "items", rb_unknown());
    for (size_t i = 0; s->main.action.type && s->main.action.type->outputs[i]; i++)
        json_object_set(out, s->main.action.type->outputs[i], rb_unknown());
    for (size_t i = 0; i < s->main.ncaptures; i++)
        if (s->main.captures[i].name)
            json_object_set(out, s->main.captures[i].name, rb_unknown());
    return out;
}

/* A write step in a dry run yields its declared dry_run outputs, typed as written
 * (exit_code: 0 is a number); the others stay unknown. */
static json_t *dry_outputs(run *r, const rb_step *s)
{
    json_t *out = unknown_outputs(s);
    for (size_t i = 0; s->dry_run && i < s->dry_run->count; i++) {
        int unknown = 0;
        char err[160];
        json_t *v = render_typed(r, s->dry_run->items[2 * i + 1], &unknown, err, sizeof err);
        if (v && !unknown)
            json_object_set_new(out, s->dry_run->items[2 * i]->str, v);
        else
            json_decref(v);
    }
    return out;
}

/* A dry run cannot tell whether this step would run, or what it would give: it is reported as
 * undecided (outcome not_run), and its outputs stay unknown, so whatever reads them is
 * undecided too rather than guessed. */
static void undecided(run *r, const rb_step *s, const char *why, long long t0)
{
    json_t *out = unknown_outputs(s);
    finish_as(r, s, RB_OUT_NOT_RUN, out, why, t0, 1);
    json_decref(out);
    announce(r, s, RB_EV_STEP_END, RB_OUT_NOT_RUN, why);
}

static void run_step(run *r, size_t i)
{
    const rb_step *s = &r->rb->steps[i];
    step_state *st = &r->st[i];
    long long t0 = now_ms();
    char why[256] = "", cond_err[200] = "";
    int t = s->when ? condition(r, s->when, cond_err, sizeof cond_err) : 1;
    if (t == 0) {
        finish(r, s, RB_OUT_SKIPPED, NULL, "when is false", t0);
        announce(r, s, RB_EV_STEP_END, RB_OUT_SKIPPED, st->message);
        return;
    }
    if (t == -1)
        return undecided(r, s, "undecided: when reads values only a real run has", t0);
    int pre = t == 1 ? preconditions_hold(r, s, why, sizeof why) : 0;
    if (pre == -1)
        return undecided(r, s, why, t0);
    journal(r, "step_start", step_fields(r, s));
    announce(r, s, RB_EV_STEP_START, RB_OUT_NOT_RUN, NULL);
    act_result res = {0};
    rb_outcome o = RB_OUT_FAILED;
    if (t == -2)
        snprintf(why, sizeof why, "when cannot be evaluated: %s", cond_err);
    else if (!pre)
        ;
    else if (s->confirm && confirm(r, s, why, sizeof why) != 0)
        o = exec_interrupted() ? RB_OUT_CANCELLED : RB_OUT_FAILED;
    else if (!s->main.action.type)
        o = RB_OUT_SUCCEEDED;
    else if (r->o->dry_run && s->writes) {
        exec_preview(r, s);
        o = RB_OUT_SUCCEEDED, res.outputs = dry_outputs(r, s), snprintf(why, sizeof why, "dry run: not run");
    }
    else {
        if (s->for_each)
            run_items(r, s, st, &res);
        else
            exec_attempts(r, s, st, &res);
        const char *write = res.outcome != RB_OUT_SUCCEEDED ? after_dry_write(r, s) : NULL;
        if (write && strcmp(res.errclass, "undecided")) {
            snprintf(why, sizeof why, "undecided: it checks the world after step %.64s, which the dry run did not make (%.100s)",
                     write, res.message);
            undecided(r, s, why, t0);
            json_decref(res.outputs);
            return;
        }
        if (r->o->dry_run && !strcmp(res.errclass, "undecided")) {
            undecided(r, s, res.message, t0);
            json_decref(res.outputs);
            return;
        }
        o = res.outcome;
        snprintf(why, sizeof why, "%s", res.message);
    }
    finish(r, s, o, res.outputs, why, t0);
    json_decref(res.outputs);
    announce(r, s, RB_EV_STEP_END, o, why);
    check_deadline(r); /* a step cut short by the deadline is the deadline's failure, not its own */
    apply_policy(r, s);
}

typedef struct job {
    run *r;
    size_t i;
} job;

static void *step_thread(void *arg)
{
    job *j = arg;
    run *r = j->r;
    pthread_mutex_lock(r->mu);
    run_step(r, j->i);
    r->st[j->i].finished = 1;
    r->running--;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(r->mu);
    free(j);
    return NULL;
}

void run_step_thread_start(run *r, size_t i)
{
    step_state *st = &r->st[i];
    st->started = 1;
    r->running++;
    /* One step at a time needs no thread: running it here saves a thread and several context
     * switches per step. */
    job *j = r->o->jobs > 1 ? malloc(sizeof *j) : NULL;
    if (!j || pthread_create(&st->thread, NULL, step_thread, j ? (*j = (job){r, i}, j) : NULL) != 0) {
        free(j);
        /* No thread: run it here; the caller holds the mutex as the thread would. */
        run_step(r, i);
        st->finished = 1;
        r->running--;
        st->thread = 0;
    } else {
        st->running = 1;
    }
}
