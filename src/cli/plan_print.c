/* Printing a plan: the header, every step in run order with what it does and what guards it,
 * and under --simulate the path a failure takes. */
#include <stdlib.h>
#include <string.h>

#include "plan_print.h"
#include "runbook/show.h"

#define P(...) rb_showf(v->out, NULL, __VA_ARGS__)

static const char *bold(const plan_view *v) { return v->color ? rb_show_bold : ""; }
static const char *dim(const plan_view *v) { return v->color ? rb_show_dim : ""; }
static const char *reset(const plan_view *v) { return v->color ? rb_show_reset : ""; }

static void fmt_duration(long long ms, char *buf, size_t len)
{
    if (ms == RB_DYNAMIC)
        snprintf(buf, len, "(from an expression)");
    else if (ms < 0)
        snprintf(buf, len, "-");
    else
        rb_duration_format(ms, buf, len);
}

/* A template as the run would see it, or its source when only the run can tell. */
static void put_value(plan_view *v, const rb_node *n)
{
    char err[200];
    int unknown;
    char *s = n->kind == RB_NODE_SCALAR ? rb_render_node(n, &v->scope, &unknown, err, sizeof err) : NULL;
    if (s)
        P("%s", s);
    else if (n->kind != RB_NODE_SCALAR)
        P("(structured value)");
    else if (unknown)
        P("%s%s%s", dim(v), n->str, reset(v));
    else
        P("%s (cannot be evaluated: %s)", n->str, err);
    free(s);
}

/* A duration from an input is milliseconds in expressions; show it as a duration. */
static void put_duration(plan_view *v, const rb_node *n)
{
    rb_expr_error err;
    rb_template *t = rb_scalar_has_template(n) ? rb_template_parse(n->str, n->len, &err) : NULL;
    json_t *val = t && rb_template_single(t) ? rb_expr_eval(rb_template_single(t), &v->scope, &err) : NULL;
    char buf[32];
    if (json_is_integer(val)) {
        rb_duration_format(json_integer_value(val), buf, sizeof buf);
        P("%s", buf);
    } else {
        put_value(v, n);
    }
    json_decref(val);
    rb_template_free(t);
}

static void put_first_line(plan_view *v, const rb_node *n)
{
    const char *nl = strchr(n->str, '\n');
    if (!nl || !nl[1]) {
        put_value(v, n);
        return;
    }
    P("%.*s … (%zu lines)", (int)(nl - n->str), n->str, (size_t)1 + (size_t)(strchr(nl + 1, 0) - nl > 1));
}

static void put_list(plan_view *v, const rb_node *seq, const char *sep)
{
    for (size_t i = 0; seq && seq->kind == RB_NODE_SEQ && i < seq->count; i++) {
        P("%s", i ? sep : "");
        put_value(v, seq->items[i]);
    }
}

static void put_http(plan_view *v, const rb_action *a)
{
    const rb_node *m = rb_action_param(a, "method"), *url = rb_action_param(a, "url");
    P("%s ", m ? m->str : "GET");
    if (url) {
        put_value(v, url);
        return;
    }
    const rb_node *t = rb_action_param(a, "target"), *path = rb_action_param(a, "path");
    const rb_target *tg = t ? rb_runbook_target(v->rb, t->str) : NULL;
    const rb_node *base = tg && tg->params ? rb_map_get(tg->params, "base_url") : NULL;
    if (base)
        put_value(v, base);
    if (path)
        put_value(v, path);
    P(" %s(target %s)%s", dim(v), t ? t->str : "?", reset(v));
}

static void put_action(plan_view *v, const rb_action *a)
{
    const char *t = a->type ? a->type->name : "";
    const rb_node *n;
    if (!a->type)
        P("manual step: the operator does it by hand and confirms");
    else if (!strcmp(t, "exec"))
        P("exec: "), put_list(v, rb_action_param(a, "argv"), " ");
    else if (!strcmp(t, "shell"))
        P("shell: "), put_first_line(v, rb_action_param(a, "script"));
    else if (!strcmp(t, "http"))
        P("http: "), put_http(v, a);
    else if (!strcmp(t, "sql")) {
        P("sql on %s: ", rb_action_param(a, "target")->str);
        put_first_line(v, rb_action_param(a, "query"));
        if ((n = rb_action_param(a, "params")))
            P("  params: "), put_list(v, n, ", ");
    } else if (!strcmp(t, "ssh"))
        P("ssh on %s: ", rb_action_param(a, "target")->str), put_first_line(v, rb_action_param(a, "command"));
    else if (!strcmp(t, "sleep"))
        P("sleep "), put_duration(v, rb_action_param(a, "duration"));
    else if (!strcmp(t, "assert")) {
        n = rb_action_param(a, "that");
        P("assert: ");
        if (n->kind == RB_NODE_SEQ)
            put_list(v, n, " and ");
        else
            P("%s", n->str);
    } else if (!strcmp(t, "file")) {
        n = rb_action_param(a, "mode");
        P("write file "), put_value(v, rb_action_param(a, "path"));
        P(" (mode %s, atomic; rollback restores the old content)", n ? n->str : "0644");
    } else if (!strcmp(t, "runbook")) {
        P("call runbook %s", rb_action_param(a, "name")->str);
        if ((n = rb_action_param(a, "inputs")) && n->kind == RB_NODE_MAP)
            for (size_t i = 0; i < n->count; i++)
                P(" %s=", n->items[2 * i]->str), put_value(v, n->items[2 * i + 1]);
    }
}

/* `when` and preconditions: decided now from inputs, or marked as the run's to decide. */
static int put_condition(plan_view *v, const char *label, const rb_node *n)
{
    rb_expr_error err;
    rb_expr *e = rb_expr_parse(n->str, n->len, &err);
    json_t *r = e ? rb_expr_eval(e, &v->scope, &err) : NULL;
    int truth = r ? rb_value_truthy(r) : -1;
    if (truth < 0)
        P("      %-12s %s%s%s %s(decided at run time)%s\n", label, bold(v), n->str, reset(v), dim(v), reset(v));
    else
        P("      %-12s %s → %s\n", label, n->str, truth ? "true" : "false");
    json_decref(r);
    rb_expr_free(e);
    return truth;
}

static void put_expect(plan_view *v, const rb_node *ex)
{
    P("      %-12s", "expects:");
    for (size_t i = 0; ex->kind == RB_NODE_MAP && i < ex->count; i++) {
        const rb_node *k = ex->items[2 * i], *val = ex->items[2 * i + 1];
        P(" %s ", k->str);
        if (val->kind == RB_NODE_SCALAR)
            put_value(v, val);
        else if (val->kind == RB_NODE_SEQ)
            put_list(v, val, "|");
        else
            for (size_t j = 0; j < val->count; j++)
                P("%s%s=%s", j ? "," : "", val->items[2 * j]->str,
                  val->items[2 * j + 1]->kind == RB_NODE_SCALAR ? val->items[2 * j + 1]->str : "…");
        P("%s", i + 1 < ex->count ? ";" : "");
    }
    P("\n");
}

static void put_retry(plan_view *v, const rb_retry *r)
{
    if (!r->node)
        return;
    P("      %-12s ", "retry:");
    if (r->attempts == RB_DYNAMIC)
        put_value(v, r->attempts_node);
    else
        P("%lld", r->attempts);
    P(" attempts, delay ");
    const rb_node *delay = rb_map_get(r->node, "delay");
    if (delay)
        put_duration(v, delay);
    else
        P("1s");
    char m[32];
    if (r->backoff > 1.0)
        P(" ×%g", r->backoff);
    if (r->max_delay_ms >= 0 || r->max_delay_ms == RB_DYNAMIC)
        fmt_duration(r->max_delay_ms, m, sizeof m), P(" up to %s", m);
    if (r->on_errors)
        P(", on "), put_list(v, r->on_errors, ", ");
    if (r->until)
        P(", until %s", r->until->str);
    P("\n");
}

static void put_flags(plan_view *v, const rb_step *s)
{
    P(" %s[%s%s%s%s]%s", dim(v), s->writes ? "write" : "read", s->irreversible ? ", irreversible" : "",
      s->destructive ? ", destructive" : "", s->idempotent ? ", idempotent" : "", reset(v));
}

static void put_timeout(plan_view *v, const rb_step *s)
{
    char t[32];
    long long ms = s->main.timeout_ms != RB_NO_DURATION ? s->main.timeout_ms : v->rb->default_timeout_ms;
    if (ms == RB_NO_DURATION)
        return;
    fmt_duration(ms, t, sizeof t);
    P("      %-12s %s%s per attempt\n", "timeout:", t, s->main.timeout_ms == RB_NO_DURATION ? " (defaults)" : "");
}

static void put_block(plan_view *v, const char *label, const rb_block *k)
{
    P("      %-12s ", label);
    put_action(v, &k->action);
    P("\n");
}

static void put_step(plan_view *v, size_t pos, const rb_step *s)
{
    P("\n%s%2zu. %s%s", bold(v), pos, s->id ? s->id : "?", reset(v));
    if (s->title)
        P(" — %s", s->title);
    put_flags(v, s);
    P("\n");
    if (s->needs_node) {
        P("      %-12s ", "needs:");
        put_list(v, s->needs_node, ", ");
        P("%s\n", s->needs_node->count ? "" : "(nothing: starts at once)");
    }
    if (s->confirm)
        P("      %-12s %s%s\n", "confirm:", s->confirm, s->confirm_person ? "  (a person must answer: --yes does not)" : "");
    if (s->for_each) {
        P("      %-12s ", "for each:");
        if (s->for_each->kind == RB_NODE_SEQ)
            put_list(v, s->for_each, ", ");
        else
            P("%s", s->for_each->str);
        if (s->each_parallel > 1)
            P("  (as each.%s; up to %d items at once within --jobs, each journaled)\n", s->each_as, s->each_parallel);
        else
            P("  (as each.%s; one journaled item at a time)\n", s->each_as);
    }
    if (s->when)
        put_condition(v, "when:", s->when);
    for (size_t i = 0; i < s->npreconditions; i++)
        if (s->preconditions[i].expr)
            put_condition(v, "requires:", s->preconditions[i].expr);
    P("      %-12s ", "does:");
    put_action(v, &s->main.action);
    P("\n");
    if (s->main.expect)
        put_expect(v, s->main.expect);
    put_timeout(v, s);
    put_retry(v, &s->retry);
    if (s->on_failure != RB_POLICY_UNSET && s->on_failure != RB_POLICY_ABORT)
        P("      %-12s %s\n", "on failure:", rb_policy_name(s->on_failure));
    if (s->rollback)
        put_block(v, "rollback:", s->rollback);
    if (s->verify)
        put_block(v, "on resume:", s->verify);
}

static void put_header(plan_view *v)
{
    const rb_runbook *rb = v->rb;
    char rto[32], rpo[32], dl[32];
    fmt_duration(rb->rto_ms, rto, sizeof rto);
    fmt_duration(rb->rpo_ms, rpo, sizeof rpo);
    P("%sPlan for %s%s — %s\n", bold(v), rb->name, reset(v), rb->title ? rb->title : "");
    P("  severity %s · RTO %s · RPO %s · on failure %s · lock %s", rb_severity_name(rb->severity), rto, rpo,
      rb_policy_name(rb->on_failure), rb->lock ? rb->lock : rb->name);
    if (rb->deadline_ms >= 0)
        fmt_duration(rb->deadline_ms, dl, sizeof dl), P(" · deadline %s", dl);
    P("\n  %zu steps in %zu levels (steps of one level may run in parallel with --jobs)\n", rb->nsteps,
      v->g->nlevels);
    for (size_t i = 0; i < rb->ninputs; i++) {
        json_t *val = json_object_get(v->inputs, rb->inputs[i].name);
        char *text = rb_is_unknown(val) ? NULL : json_dumps(val, JSON_ENCODE_ANY);
        if (text && rb->inputs[i].type == RB_IN_DURATION && json_is_integer(val)) {
            char d[32];
            rb_duration_format(json_integer_value(val), d, sizeof d);
            free(text);
            text = strdup(d);
        }
        P("  input  %-18s %s\n", rb->inputs[i].name, text ? text : "(required: give it with --set)");
        free(text);
    }
    for (size_t i = 0; i < rb->nsecrets; i++)
        P("  secret %-18s from %s %s (never shown)\n", rb->secrets[i].name, rb->secrets[i].env ? "env" : "file",
          rb->secrets[i].env ? rb->secrets[i].env : rb->secrets[i].file ? rb->secrets[i].file : "?");
}

static void put_undo(plan_view *v, const rb_step *s)
{
    const rb_action_type *t = s->main.action.type;
    if (s->rollback)
        P("   ↩ %s: ", s->id), put_action(v, &s->rollback->action), P("\n");
    else if (t && (t->flags & RB_AT_SELF_UNDO))
        P("   ↩ %s: restore the previous content of the file\n", s->id);
    else if (s->writes && s->irreversible)
        P("   ✗ %s: irreversible, stays done\n", s->id);
    else if (s->writes && t && !(t->flags & RB_AT_CALLS_RUNBOOK)) /* a called runbook has its own rollbacks */
        P("   ! %s: has no rollback, stays done\n", s->id);
}

static void put_simulation(plan_view *v)
{
    const rb_step *f = &v->rb->steps[v->simulated];
    rb_policy p = f->on_failure == RB_POLICY_UNSET ? RB_POLICY_ABORT : f->on_failure;
    size_t at = 0;
    while (v->g->order[at] != (size_t)v->simulated)
        at++;
    P("\n%sIf step %s fails%s (policy: %s; run order as with --jobs 1):\n", bold(v), f->id, reset(v),
      rb_policy_name(p));
    for (size_t k = 0; k < at; k++)
        P("   ✓ %s\n", v->rb->steps[v->g->order[k]].id);
    P("   ✗ %s fails%s\n", f->id, f->retry.node ? " (after its retries)" : "");
    if (p == RB_POLICY_CONTINUE) {
        P("   the run goes on; %s is reported as failed-and-continued; later steps may test steps.%s.outcome\n",
          f->id, f->id);
        return;
    }
    if (p == RB_POLICY_ROLLBACK) {
        P("  rollback, newest first:\n");
        for (size_t k = at; k-- > 0;)
            put_undo(v, &v->rb->steps[v->g->order[k]]);
    }
    P("  not run:");
    for (size_t k = at + 1; k < v->g->n; k++)
        P(" %s", v->rb->steps[v->g->order[k]].id);
    P("%s\n  the run ends with exit code 1%s\n", at + 1 < v->g->n ? "" : " (none)",
      p == RB_POLICY_ROLLBACK ? " (3 if a rollback fails)" : "; nothing is undone");
}

void plan_print(plan_view *v)
{
    put_header(v);
    for (size_t k = 0; k < v->g->n; k++)
        put_step(v, k + 1, &v->rb->steps[v->g->order[k]]);
    if (v->simulated >= 0)
        put_simulation(v);
}
