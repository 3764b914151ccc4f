/* The runbook action, run by the executor itself: calls another runbook with inputs; its steps are journaled under the
 * calling run (as "calling-step/step"), and its failure fails the calling step. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "runbook/values.h"

/* The callee's inputs: the given text values checked and typed, then its defaults. */
static json_t *callee_inputs(const rb_runbook *callee, json_t *given, char *err, size_t len)
{
    json_t *out = json_object();
    for (size_t i = 0; i < callee->ninputs; i++) {
        const rb_input *in = &callee->inputs[i];
        const char *v = json_string_value(json_object_get(given, in->name));
        char why[200];
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

int exec_call_runbook(run *r, const rb_step *step, const json_t *params, rb_act_result *res)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    rb_catalog *cat = r->o->catalog;
    char *dir = strdup(r->rb->path), *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash)
        *slash = 0;
    const rb_runbook *callee = cat ? rb_catalog_get(cat, name, slash ? dir : ".") : NULL;
    free(dir);
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
        rc = run_called_graph(r, step, callee, &g, inputs, res);
    rb_graph_cleanup(&g);
    rb_diags_cleanup(&quiet);
    json_decref(inputs);
    return rc;
}
