/* The actions that need no outside system: sleep and assert. */
#include <string.h>

#include "../exec/internal.h"

static int run_sleep(const act_call *c, act_result *res)
{
    long long ms = json_integer_value(json_object_get(c->params, "duration"));
    long long limit = c->timeout_ms > 0 && c->timeout_ms < ms ? c->timeout_ms : ms;
    res->outputs = json_object();
    if (wait_or_cancel(c->cancel, limit))
        act_fail(res, RB_OUT_CANCELLED, "cancelled", "cancelled");
    else if (limit < ms)
        act_fail(res, RB_OUT_TIMED_OUT, "timeout", "the sleep is longer than the step's timeout");
    else
        res->outcome = RB_OUT_SUCCEEDED;
    return 0;
}

/* Checks one expression; 0 when it holds. */
static int holds(run *r, const rb_node *n, char *msg, size_t len)
{
    rb_expr_error e;
    rb_expr *x = rb_expr_parse(n->str, n->len, &e);
    rb_scope scope = run_scope(r);
    json_t *v = x ? rb_expr_eval(x, &scope, &e) : NULL;
    int t = v ? rb_value_truthy(v) : -2;
    if (t == 0)
        snprintf(msg, len, "assertion does not hold: %.200s", n->str);
    else if (t == -1)
        snprintf(msg, len, "assertion undecided in a dry run: %.200s", n->str);
    else if (t == -2)
        snprintf(msg, len, "assertion cannot be evaluated: %.200s", e.message);
    json_decref(v);
    rb_expr_free(x);
    return t == 1 ? 0 : -1;
}

static int run_assert(const act_call *c, act_result *res)
{
    const rb_node *that = rb_action_param(&c->block->action, "that");
    char msg[256] = "";
    int ok = 1;
    pthread_mutex_lock(c->r->mu);
    if (that->kind == RB_NODE_SEQ) {
        for (size_t i = 0; ok && i < that->count; i++)
            ok = holds(c->r, that->items[i], msg, sizeof msg) == 0;
    } else {
        ok = holds(c->r, that, msg, sizeof msg) == 0;
    }
    pthread_mutex_unlock(c->r->mu);
    res->outputs = json_object();
    if (ok)
        res->outcome = RB_OUT_SUCCEEDED;
    else
        act_fail(res, RB_OUT_FAILED, "assert", "%s", msg);
    return 0;
}

const act_impl act_sleep = {"sleep", run_sleep, NULL};
const act_impl act_assert = {"assert", run_assert, NULL};
