/* A dry run's account of a write step it does not run: the action's own preview (its rendered
 * argv, request, query or file diff), masked like every message, shown as RB_EV_PREVIEW. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define PREVIEW_MAX (16u * 1024u) /* bytes of one step's preview, diff included */
#define PREVIEW_ITEMS 20            /* items of a loop shown one by one */

/* An action without a preview slot: its rendered parameters, as --verbose shows them. */
static void generic_preview(const rb_action *a, const json_t *params, rb_act_preview *p)
{
    char *text = json_dumps(params, JSON_COMPACT | JSON_ENCODE_ANY);
    rb_act_say(p, "would run: %s ", a->type->name);
    rb_act_say_n(p, text ? text : "{}", text ? strlen(text) : 2);
    rb_act_say_n(p, "\n", 1);
    free(text);
}

/* A copy of v with every string masked: a secret is hidden before a preview quotes it (a quote
 * inside it would change its bytes) or splits it into diff lines. NULL when out of memory. */
static json_t *masked(run *r, const json_t *v)
{
    const char *k;
    json_t *item, *out;
    size_t i, n;
    if (json_is_string(v)) {
        char *m = rb_mask_apply(r->masker, json_string_value(v), json_string_length(v), &n);
        out = m ? json_stringn_nocheck(m, n) : NULL;
        free(m);
        return out;
    }
    out = json_is_object(v) ? json_object() : json_is_array(v) ? json_array() : json_deep_copy(v);
    json_object_foreach((json_t *)v, k, item)
        if (json_object_set_new(out, k, masked(r, item)) < 0)
            return json_decref(out), NULL;
    json_array_foreach(v, i, item)
        if (json_array_append_new(out, masked(r, item)) < 0)
            return json_decref(out), NULL;
    return out;
}

static char *mask_cb(void *ctx, const char *s, size_t len, size_t *out_len)
{
    return rb_mask_apply(((run *)ctx)->masker, s, len, out_len);
}

static void show_masked(run *r, const rb_action *a, const json_t *params, const json_t *target, const char *tname,
                        rb_act_preview *p)
{
    json_t *mp = masked(r, params), *mt = target ? masked(r, target) : NULL;
    rb_act_call c = {.params = mp, .target = mt, .target_name = tname, .cancel_fd = -1, .dry_run = 1};
    if (!mp || (target && !mt))
        rb_act_say(p, "would run %s (its preview is withheld: out of memory)\n", a->type->name);
    else if (a->type->ops->preview)
        a->type->ops->preview(&c, p);
    else
        generic_preview(a, mp, p);
    json_decref(mp);
    json_decref(mt);
}

/* Fills p from an action rendered now (caller holds r->mu). */
static void describe_action(run *r, const rb_action *a, rb_act_preview *p)
{
    int unknown = 0;
    char err[256] = "";
    json_t *params = render_params(r, a, &unknown, err, sizeof err), *target = NULL;
    const rb_node *tname = rb_action_param(a, "target");
    if (params && !unknown && a->type->target_kind && tname)
        target = render_target(r, a, &unknown, err, sizeof err);
    if (!params || (tname && !target && !unknown))
        rb_act_say(p, "would run %s, but its parameters cannot be rendered: %s\n", a->type->name, err);
    else if (unknown)
        rb_act_say(p, "would run %s with values only a real run has\n", a->type->name);
    else
        show_masked(r, a, params, target, tname ? tname->str : NULL, p);
    json_decref(params);
    json_decref(target);
}

/* A loop's preview: each item's action as it would run, with each.* bound (the first few). */
static void describe_items(run *r, const rb_step *s, rb_act_preview *p)
{
    int unknown = 0;
    char err[256] = "";
    json_t *list = exec_loop_items(r, s, &unknown, err, sizeof err), *value;
    size_t i;
    if (!list) {
        rb_act_say(p, "would run %s once for each item of its for_each (%s)\n", s->main.action.type->name,
                   unknown ? "a list only a real run has" : err);
        return;
    }
    json_array_foreach(list, i, value)
    {
        if (i == PREVIEW_ITEMS) {
            rb_act_say(p, "... and %zu more items\n", json_array_size(list) - i);
            break;
        }
        json_t *each = json_pack("{s:O, s:I}", s->each_as, value, "index", (json_int_t)i);
        json_t *outer = exec_current_each(); /* a preview inside a loop's item keeps that item after */
        exec_set_each(each);
        rb_act_say(p, "item %zu:\n", i);
        describe_action(r, &s->main.action, p);
        exec_set_each(outer);
        json_decref(each);
    }
    json_decref(list);
}

static void describe(run *r, const rb_step *s, rb_act_preview *p)
{
    if (s->for_each)
        describe_items(r, s, p);
    else
        describe_action(r, &s->main.action, p);
}

void exec_preview(run *r, const rb_step *s)
{
    if (!s->main.action.type || (s->main.action.type->flags & RB_AT_CALLS_RUNBOOK))
        return; /* a manual step does nothing itself; a called runbook shows its own steps */
    rb_act_preview p = {malloc(PREVIEW_MAX), 0, PREVIEW_MAX, 0, mask_cb, r};
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
