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

/* The runbook `name` as called from `caller` (found beside it or on RUNBOOK_PATH), or NULL. */
static const rb_runbook *callee_of(rb_catalog *cat, const rb_runbook *caller, const char *name)
{
    char *dir = strdup(caller->path), *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash)
        *slash = 0;
    const rb_runbook *callee = cat && name ? rb_catalog_get(cat, name, slash ? dir : ".") : NULL;
    free(dir);
    return callee;
}

/* What would stop a call only once the caller has written things: a callee that does not load
 * or has a cycle, or a secret it reads that is not there. */
static int callee_ready(const rb_runbook *callee, int dry_run, char *err, size_t len)
{
    rb_graph g;
    rb_diags quiet;
    rb_diags_init(&quiet);
    int rc = rb_graph_build(callee, &g, &quiet);
    rb_graph_cleanup(&g);
    rb_diags_cleanup(&quiet);
    if (rc != 0)
        return snprintf(err, len, "runbook %s has a cycle", callee->name), -1;
    for (size_t i = 0; i < callee->nsecrets && !dry_run; i++) {
        const rb_secret *sec = &callee->secrets[i];
        const char *v = sec->env ? getenv(sec->env) : NULL;
        if (sec->env && (!v || !*v))
            return snprintf(err, len, "runbook %s needs secret \"%s\": environment variable %s is not set",
                            callee->name, sec->name, sec->env), -1;
    }
    return 0;
}

static int preflight(const rb_runbook *rb, const rb_exec_opts *o, int depth, int maybe, char *err, size_t len);

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
                    s->id, rb->name, s->confirm, how), -1;
}

static int preflight_action(const rb_runbook *rb, const rb_action *a, const rb_exec_opts *o, int depth, int maybe,
                            char *err, size_t len)
{
    rb_catalog *cat = o->catalog;
    int dry_run = o->dry_run;
    if (!a->type || !(a->type->flags & RB_AT_CALLS_RUNBOOK))
        return 0;
    const rb_node *name = rb_action_param(a, "name");
    const rb_runbook *callee = callee_of(cat, rb, name ? name->str : NULL);
    if (!callee)
        return snprintf(err, len, "runbook %s, called by %s, is not found or does not load", name ? name->str : "?",
                        rb->name), -1;
    return callee_ready(callee, dry_run, err, len) != 0 ? -1 : preflight(callee, o, depth + 1, maybe, err, len);
}

/* Depth-bounded: the checker refuses call cycles, this only keeps a bad catalog finite. */
static int preflight(const rb_runbook *rb, const rb_exec_opts *o, int depth, int maybe, char *err, size_t len)
{
    if (depth > 16)
        return snprintf(err, len, "runbook calls nest deeper than 16 under %s", rb->name), -1;
    for (size_t i = 0; i < rb->nsteps; i++) {
        const rb_step *s = &rb->steps[i];
        int m = maybe || s->when; /* rollbacks and verifies run only sometimes */
        if (answerable(rb, s, o, maybe, err, len) != 0 || preflight_action(rb, &s->main.action, o, depth, m, err, len) != 0 ||
            (s->rollback && preflight_action(rb, &s->rollback->action, o, depth, 1, err, len) != 0) ||
            (s->verify && preflight_action(rb, &s->verify->action, o, depth, 1, err, len) != 0))
            return -1;
    }
    return 0;
}

int exec_preflight_calls(const rb_runbook *rb, const rb_exec_opts *o, char *err, size_t len)
{
    return preflight(rb, o, 0, 0, err, len);
}

int exec_call_runbook(run *r, const invocation *inv, const json_t *params, rb_act_result *res)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    const rb_runbook *callee = callee_of(r->o->catalog, r->rb, name);
    if (!callee)
        return rb_act_fail(res, RB_OUT_FAILED, "refused", "runbook %s is not found or does not load", name), -1;
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
