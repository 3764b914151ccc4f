/* for_each: one step's action once per item of a list, each item journaled on its own
 * (item_start, item_end with its outputs), so a resume runs only the items that did not finish
 * and a rollback undoes each finished item, newest first. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "runbook/values.h"

static __thread json_t *current_each;

void exec_set_each(json_t *each) { current_each = each; }
json_t *exec_current_each(void) { return current_each; }

/* The list: an expression that gives an array, or a YAML list of templates (strings). NULL with
 * a message; *unknown when a dry run cannot know it. */
static json_t *items_of(run *r, const rb_step *s, int *unknown, char *err, size_t len)
{
    const rb_node *n = s->for_each;
    json_t *list = NULL;
    *unknown = 0;
    if (n->kind == RB_NODE_SEQ) {
        list = render_typed(r, n, unknown, err, len);
    } else {
        rb_expr_error e;
        rb_expr *x = rb_expr_parse(n->str, n->len, &e);
        rb_scope scope = run_scope(r);
        list = x ? rb_expr_eval(x, &scope, &e) : NULL;
        if (!list)
            snprintf(err, len, "for_each: %s", e.message);
        rb_expr_free(x);
    }
    if (list && rb_is_unknown(list))
        *unknown = 1;
    if (list && !*unknown && !json_is_array(list))
        snprintf(err, len, "for_each gave %s, not a list", json_is_object(list) ? "an object" : "a single value");
    else if (list && json_array_size(list) > RB_MAX_ITEMS)
        snprintf(err, len, "for_each gave %zu items; at most %d", json_array_size(list), RB_MAX_ITEMS);
    else if (list && !*unknown)
        return list;
    json_decref(list);
    return NULL;
}

/* The outputs of item i when a resumed journal says it finished, else NULL (borrowed). */
static json_t *finished_item(const step_state *st, size_t i)
{
    size_t k;
    json_t *it;
    json_array_foreach(st->items_done, k, it)
    {
        if ((size_t)json_integer_value(json_object_get(it, "index")) == i)
            return it;
    }
    return NULL;
}

static json_t *each_binding(const rb_step *s, json_t *value, size_t i)
{
    return json_pack("{s:O, s:I}", s->each_as, value, "index", (json_int_t)i);
}

static void journal_item(run *r, const rb_step *s, const char *type, size_t i, json_t *value, const act_result *res)
{
    char key[320];
    step_key(r, s, key, sizeof key);
    json_t *f = json_pack("{s:s, s:I}", "step", key, "index", (json_int_t)i);
    json_object_set(f, "value", value);
    if (res) {
        json_object_set_new(f, "outcome", json_string(rb_outcome_name(res->outcome)));
        if (res->outcome == RB_OUT_SUCCEEDED && res->outputs && !r->o->dry_run) {
            json_t *vis = json_deep_copy(res->outputs);
            exec_bound_output(r, vis);
            json_object_set_new(f, "outputs", vis);
        } else if (res->outcome != RB_OUT_SUCCEEDED) {
            json_object_set_new(f, "message", rb_json_string_lossy(res->message, strlen(res->message)));
        }
    }
    journal(r, type, f);
}

/* One item: its attempts with each.* bound; 0 when it succeeded. */
static int run_item(run *r, const rb_step *s, step_state *st, size_t i, json_t *value, act_result *res)
{
    json_t *each = each_binding(s, value, i);
    exec_set_each(each);
    journal_item(r, s, "item_start", i, value, NULL);
    exec_attempts(r, s, st, res);
    journal_item(r, s, "item_end", i, value, res);
    exec_set_each(NULL);
    json_decref(each);
    if (res->outcome != RB_OUT_SUCCEEDED)
        return -1;
    if (!st->items_done)
        st->items_done = json_array();
    json_array_append_new(st->items_done, json_pack("{s:I, s:O, s:O}", "index", (json_int_t)i, "value", value,
                                                    "outputs", res->outputs ? res->outputs : json_null()));
    return 0;
}

static void item_failed(act_result *res, size_t i, json_t *value)
{
    char *v = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
    char msg[RB_ACT_MESSAGE_MAX];
    snprintf(msg, sizeof msg, "%s", res->message);
    snprintf(res->message, sizeof res->message, "item %zu (%.40s): %.180s", i, v ? v : "?", msg);
    free(v);
}

void run_items(run *r, const rb_step *s, step_state *st, act_result *res)
{
    char err[256] = "";
    int unknown;
    json_t *list = items_of(r, s, &unknown, err, sizeof err);
    if (!list) {
        rb_act_fail(res, RB_OUT_FAILED, unknown ? "undecided" : "refused", "%s",
                    unknown ? "undecided: the list is known only in a real run" : err);
        return;
    }
    json_t *outs = json_array(), *value;
    size_t i;
    int failed = 0;
    json_array_foreach(list, i, value)
    {
        json_t *done = finished_item(st, i);
        act_result one = {0};
        if (done) {
            json_array_append(outs, json_object_get(done, "outputs"));
            continue;
        }
        if (exec_interrupted() || run_item(r, s, st, i, value, &one) != 0) {
            *res = one;
            if (exec_interrupted() && !one.errclass[0])
                rb_act_fail(res, RB_OUT_CANCELLED, "cancelled", "cancelled");
            item_failed(res, i, value);
            failed = 1;
            break;
        }
        json_array_append(outs, one.outputs);
        json_decref(one.outputs);
    }
    if (!failed) {
        memset(res, 0, sizeof *res);
        res->outcome = RB_OUT_SUCCEEDED;
        res->outputs = json_pack("{s:O}", "items", outs);
    }
    json_decref(outs);
    json_decref(list);
}
