/* A dry run's account of a write step it does not run: the action's own preview (its rendered
 * argv, request, query or file diff), masked like every message, shown as RB_EV_PREVIEW. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define PREVIEW_MAX (16u * 1024u) /* bytes of one step's preview, diff included */

/* An action without a preview slot: its rendered parameters, as --verbose shows them. */
static void generic_preview(const rb_action *a, const json_t *params, rb_act_preview *p)
{
    char *text = json_dumps(params, JSON_COMPACT | JSON_ENCODE_ANY);
    rb_act_say(p, "would run: %s ", a->type->name);
    rb_act_say_n(p, text ? text : "{}", text ? strlen(text) : 2);
    rb_act_say_n(p, "\n", 1);
    free(text);
}

/* Fills p from the step's main action, rendered now (caller holds r->mu). */
static void describe(run *r, const rb_step *s, rb_act_preview *p)
{
    const rb_action *a = &s->main.action;
    int unknown = 0;
    char err[256] = "";
    if (s->for_each) {
        rb_act_say(p, "would run %s once for each item of its for_each\n", a->type->name);
        return;
    }
    json_t *params = render_params(r, a, &unknown, err, sizeof err), *target = NULL;
    const rb_node *tname = rb_action_param(a, "target");
    if (params && !unknown && a->type->target_kind && tname)
        target = render_target(r, a, &unknown, err, sizeof err);
    if (!params || (tname && !target && !unknown))
        rb_act_say(p, "would run %s, but its parameters cannot be rendered: %s\n", a->type->name, err);
    else if (unknown)
        rb_act_say(p, "would run %s with values only a real run has\n", a->type->name);
    else if (a->type->ops->preview) {
        rb_act_call c = {.params = params, .target = target, .target_name = tname ? tname->str : NULL,
                         .cancel_fd = -1, .dry_run = 1};
        a->type->ops->preview(&c, p);
    } else
        generic_preview(a, params, p);
    json_decref(params);
    json_decref(target);
}

void exec_preview(run *r, const rb_step *s)
{
    if (!s->main.action.type || (s->main.action.type->flags & RB_AT_CALLS_RUNBOOK))
        return; /* a manual step does nothing itself; a called runbook shows its own steps */
    rb_act_preview p = {malloc(PREVIEW_MAX), 0, PREVIEW_MAX, 0};
    if (!p.text)
        return;
    p.text[0] = 0;
    describe(r, s, &p);
    if (p.cut) /* the end of the bound: the cut is said, never silent */
        snprintf(p.text + (p.len > 40 ? p.len - 40 : 0), 41, "\n... (cut at %u bytes)\n", PREVIEW_MAX);
    char key[320];
    step_key(r, s, key, sizeof key);
    rb_event ev = {.kind = RB_EV_PREVIEW, .step = key, .text = p.text, .dry_run = 1};
    emit(r, &ev);
    free(p.text);
}
