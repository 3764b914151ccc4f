/* What a plan adds up to: counts, the longest path's planned time (timeouts × attempts and
 * retry delays: the most the steps may take before they are failed) against the RTO, and
 * when `run` would refuse the runbook before its first step. */
#include <stdlib.h>
#include <string.h>

#include "plan_totals.h"
#include "runbook/exec.h"
#include "runbook/expr.h"
#include "runbook/show.h"
#include "runbook/values.h"

#define MAX_PLANNED (1000LL * 3600 * 24 * 365 * 100) /* beyond this a sum means nothing */

static long long capped_add(long long a, long long b) { return a + b > MAX_PLANNED ? MAX_PLANNED : a + b; }

/* The waits between attempts: delay × backoff^k, each capped by max_delay, plus the jitter. */
static long long retry_delays(const rb_retry *r, long long attempts)
{
    long long delay = r->delay_ms == RB_NO_DURATION ? 1000 : r->delay_ms;
    if (delay == RB_DYNAMIC || r->max_delay_ms == RB_DYNAMIC || r->jitter_ms == RB_DYNAMIC)
        return PLAN_UNBOUNDED;
    long long total = 0, jitter = r->jitter_ms > 0 ? r->jitter_ms : 0;
    double next = (double)delay;
    for (long long k = 1; k < attempts && total < MAX_PLANNED; k++) {
        long long wait = next > (double)MAX_PLANNED ? MAX_PLANNED : (long long)next;
        if (r->max_delay_ms >= 0 && wait > r->max_delay_ms)
            wait = r->max_delay_ms;
        total = capped_add(total, wait + jitter);
        next *= r->backoff > 1.0 ? r->backoff : 1.0;
    }
    return total;
}

/* One attempt's bound: a sleep's duration, else the step's timeout or the runbook's default. */
static long long attempt_bound(const rb_runbook *rb, const rb_step *s)
{
    const rb_action_type *t = s->main.action.type;
    if (!t)
        return PLAN_UNBOUNDED; /* a manual step: a person's work */
    if (t->flags & RB_AT_SELF_TIMED) {
        const rb_node *d = rb_action_param(&s->main.action, "duration");
        long long ms;
        return d && d->kind == RB_NODE_SCALAR && rb_duration_parse(d->str, d->len, &ms) == 0 ? ms : PLAN_UNBOUNDED;
    }
    long long ms = s->main.timeout_ms != RB_NO_DURATION ? s->main.timeout_ms : rb->default_timeout_ms;
    return ms < 0 ? PLAN_UNBOUNDED : ms; /* absent, or from an expression */
}

static long long step_planned(const rb_runbook *rb, const rb_step *s)
{
    long long one = attempt_bound(rb, s);
    long long attempts = s->retry.node ? s->retry.attempts : 1;
    long long items = !s->for_each ? 1 : s->for_each->kind == RB_NODE_SEQ ? (long long)s->for_each->count : -1;
    long long delays = s->retry.node ? retry_delays(&s->retry, attempts) : 0;
    if (one < 0 || attempts < 1 || items < 0 || delays < 0)
        return PLAN_UNBOUNDED;
    long long per_item = one > MAX_PLANNED / attempts ? MAX_PLANNED : capped_add(one * attempts, delays);
    return items && per_item > MAX_PLANNED / items ? MAX_PLANNED : per_item * items;
}

static void count_steps(const rb_runbook *rb, plan_totals *t)
{
    t->steps = rb->nsteps;
    for (size_t i = 0; i < rb->nsteps; i++) {
        const rb_step *s = &rb->steps[i];
        const rb_action_type *type = s->main.action.type;
        t->writes += s->writes != 0;
        t->irreversible += s->irreversible != 0;
        t->confirmations += s->confirm != NULL;
        t->by_person += s->confirm && s->confirm_person;
        t->rollbacks += s->rollback || (type && (type->flags & RB_AT_SELF_UNDO));
        t->step_ms[i] = step_planned(rb, s);
    }
}

/* The path whose bounded steps add up to the most time (ties: more unbounded steps). */
static int longest_path(const rb_graph *g, plan_totals *t)
{
    long long *best = calloc(g->n ? g->n : 1, sizeof *best);
    size_t *unb = calloc(g->n ? g->n : 1, sizeof *unb), *prev = malloc((g->n ? g->n : 1) * sizeof *prev);
    t->path = malloc((g->n ? g->n : 1) * sizeof *t->path);
    if (!best || !unb || !prev || !t->path) {
        free(best), free(unb), free(prev);
        return -1;
    }
    size_t end = 0;
    for (size_t k = 0; k < g->n; k++) {
        size_t i = g->order[k];
        prev[i] = (size_t)-1;
        for (size_t j = 0; j < g->ndeps[i]; j++) {
            size_t d = g->deps[i][j];
            if (prev[i] == (size_t)-1 || best[d] > best[prev[i]] || (best[d] == best[prev[i]] && unb[d] > unb[prev[i]]))
                prev[i] = d;
        }
        long long w = t->step_ms[i];
        best[i] = capped_add(prev[i] == (size_t)-1 ? 0 : best[prev[i]], w < 0 ? 0 : w);
        unb[i] = (prev[i] == (size_t)-1 ? 0 : unb[prev[i]]) + (w < 0);
        if (k == 0 || best[i] > best[end] || (best[i] == best[end] && unb[i] > unb[end]))
            end = i;
    }
    for (size_t i = end; g->n && i != (size_t)-1; i = prev[i])
        t->path[t->npath++] = i;
    for (size_t a = 0, b = t->npath; a + 1 < b; a++, b--) { /* newest first → run order */
        size_t x = t->path[a];
        t->path[a] = t->path[b - 1];
        t->path[b - 1] = x;
    }
    t->path_ms = g->n ? best[end] : 0;
    t->path_unbounded = g->n ? unb[end] : 0;
    free(best), free(unb), free(prev);
    return 0;
}

static int add_refusal(plan_totals *t, plan_refusal_kind kind, const char *what, const char *name)
{
    plan_refusal *r = realloc(t->refusals, (t->nrefusals + 1) * sizeof *r);
    if (!r)
        return -1;
    t->refusals = r;
    r[t->nrefusals++] = (plan_refusal){kind, what, name};
    return 0;
}

/* As the executor's preflight decides: a confirmation under `when` may never be asked, so
 * only one that surely is makes a run without a terminal refuse. */
static int find_refusals(const rb_runbook *rb, json_t *inputs, plan_totals *t)
{
    int rc = 0;
    for (size_t i = 0; i < rb->nsecrets; i++) {
        const char *v = rb->secrets[i].env ? getenv(rb->secrets[i].env) : "from a file";
        if (!v || !*v)
            rc |= add_refusal(t, PLAN_REFUSE_HERE, "secret", rb->secrets[i].name);
    }
    for (size_t i = 0; i < rb->ninputs; i++)
        if (rb_is_unknown(json_object_get(inputs, rb->inputs[i].name)))
            rc |= add_refusal(t, PLAN_REFUSE_NO_SET, "input", rb->inputs[i].name);
    rb_exec_opts with_yes = {.yes = 1};
    for (size_t i = 0; i < rb->nsteps; i++) {
        const rb_step *s = &rb->steps[i];
        if (!s->confirm || s->when)
            continue;
        plan_refusal_kind k = !rb_step_needs_person(s, &with_yes) ? PLAN_REFUSE_NO_YES
                              : s->confirm_person                 ? PLAN_REFUSE_NO_TERMINAL
                                                                  : PLAN_REFUSE_NO_YES_MANUAL;
        rc |= add_refusal(t, k, "step", s->id);
    }
    return rc;
}

int plan_totals_compute(const rb_runbook *rb, const rb_graph *g, json_t *inputs, plan_totals *t)
{
    memset(t, 0, sizeof *t);
    t->step_ms = calloc(rb->nsteps ? rb->nsteps : 1, sizeof *t->step_ms);
    if (!t->step_ms)
        return -1;
    count_steps(rb, t);
    if (longest_path(g, t) != 0)
        return -1;
    return find_refusals(rb, inputs, t);
}

void plan_totals_cleanup(plan_totals *t)
{
    free(t->step_ms);
    free(t->path);
    free(t->refusals);
    memset(t, 0, sizeof *t);
}

/* ---- text ---- */

static const struct {
    const char *code, *text;
} refusal_texts[] = {
    [PLAN_REFUSE_HERE] = {"secret_not_set", "its environment variable is not set here: run stops before any step (exit 2)"},
    [PLAN_REFUSE_NO_TERMINAL] = {"needs_person", "asks a person (confirm_by: person): run refuses without a terminal, even with --yes"},
    [PLAN_REFUSE_NO_YES] = {"needs_yes", "asks for confirmation: run refuses without a terminal unless --yes"},
    [PLAN_REFUSE_NO_YES_MANUAL] = {"needs_yes_manual", "a manual step: run refuses without a terminal unless --yes --yes-manual"},
    [PLAN_REFUSE_NO_SET] = {"needs_input", "required: run refuses without a terminal unless --set gives it"},
};

const char *plan_refusal_text(plan_refusal_kind kind) { return refusal_texts[kind].text; }

static void put_path(const plan_totals *t, const rb_runbook *rb, FILE *out)
{
    char ms[32], rto[32];
    rb_duration_format(t->path_ms, ms, sizeof ms);
    rb_showf(out, NULL, "  longest path (%zu step%s):", t->npath, t->npath == 1 ? "" : "s");
    for (size_t k = 0; k < t->npath; k++)
        rb_showf(out, NULL, "%s %s", k ? " →" : "", rb->steps[t->path[k]].id);
    rb_showf(out, NULL, "\n    at most %s by its timeouts, attempts and retry delays", ms);
    if (t->path_unbounded)
        rb_showf(out, NULL, ", plus %zu step%s with no time bound (manual, or no timeout)", t->path_unbounded,
                 t->path_unbounded == 1 ? "" : "s");
    if (rb->rto_ms < 0) {
        fputs("; the runbook declares no RTO\n", out);
        return;
    }
    rb_duration_format(rb->rto_ms, rto, sizeof rto);
    if (t->path_ms > rb->rto_ms)
        rb_showf(out, NULL, "\n    OVER the RTO %s: a run that uses its timeouts misses the objective\n", rto);
    else
        rb_showf(out, NULL, "\n    within the RTO %s%s\n", rto,
                 t->path_unbounded ? " if the steps with no bound are quick enough" : "");
}

void plan_totals_print(const plan_totals *t, const rb_runbook *rb, FILE *out, int color)
{
    rb_showf(out, NULL, "\n%sTotals%s: %zu step%s · %zu write%s · %zu irreversible · %zu confirmation%s", color ? rb_show_bold : "",
             color ? rb_show_reset : "", t->steps, t->steps == 1 ? "" : "s", t->writes, t->writes == 1 ? "" : "s",
             t->irreversible, t->confirmations, t->confirmations == 1 ? "" : "s");
    if (t->by_person)
        rb_showf(out, NULL, " (%zu by a person)", t->by_person);
    rb_showf(out, NULL, " · %zu with a rollback\n", t->rollbacks);
    put_path(t, rb, out);
    if (!t->nrefusals) {
        fputs("  run would start: nothing needs a terminal, a flag or an input\n", out);
        return;
    }
    fputs("  run would refuse:\n", out);
    for (size_t i = 0; i < t->nrefusals; i++)
        rb_showf(out, NULL, "    %s %s: %s\n", t->refusals[i].what, t->refusals[i].name, plan_refusal_text(t->refusals[i].kind));
}

/* ---- json ---- */

static json_t *path_json(const plan_totals *t, const rb_runbook *rb)
{
    json_t *steps = json_array();
    for (size_t k = 0; k < t->npath; k++)
        json_array_append_new(steps, json_string(rb->steps[t->path[k]].id));
    json_t *o = json_pack("{s:o, s:I, s:I}", "steps", steps, "planned_ms", (json_int_t)t->path_ms, "unbounded_steps",
                          (json_int_t)t->path_unbounded);
    json_object_set_new(o, "rto_ms", rb->rto_ms >= 0 ? json_integer(rb->rto_ms) : json_null());
    json_object_set_new(o, "within_rto", rb->rto_ms >= 0 ? json_boolean(t->path_ms <= rb->rto_ms) : json_null());
    return o;
}

json_t *plan_totals_json(const plan_totals *t, const rb_runbook *rb)
{
    json_t *refuses = json_array();
    for (size_t i = 0; i < t->nrefusals; i++) {
        const plan_refusal *r = &t->refusals[i];
        json_array_append_new(refuses, json_pack("{s:s, s:s, s:s, s:s}", "kind", refusal_texts[r->kind].code, "what",
                                                 r->what, "name", r->name, "message", refusal_texts[r->kind].text));
    }
    json_t *totals = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "steps", (json_int_t)t->steps, "writes",
                               (json_int_t)t->writes, "irreversible", (json_int_t)t->irreversible, "confirmations",
                               (json_int_t)t->confirmations, "confirmations_by_person", (json_int_t)t->by_person,
                               "rollbacks", (json_int_t)t->rollbacks);
    return json_pack("{s:o, s:o, s:o}", "totals", totals, "longest_path", path_json(t, rb), "run_refuses", refuses);
}
