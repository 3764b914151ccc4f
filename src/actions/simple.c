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

/* Checks one expression: 1 holds, 0 does not, -1 undecided (dry run), -2 cannot be evaluated. */
static int holds(run *r, const rb_node *n, char *msg, size_t len)
{
    char err[200];
    int t = condition(r, n, err, sizeof err);
    if (t == 0)
        snprintf(msg, len, "assertion does not hold: %.200s", n->str);
    else if (t == -1)
        snprintf(msg, len, "undecided: the assertion reads values only a real run has: %.160s", n->str);
    else if (t == -2)
        snprintf(msg, len, "assertion cannot be evaluated: %.200s", err);
    return t;
}

/* A false assertion decides, even after an undecided one; undecided only if none is false. */
static int run_assert(const act_call *c, act_result *res)
{
    const rb_node *that = rb_action_param(&c->block->action, "that");
    size_t n = that->kind == RB_NODE_SEQ ? that->count : 1;
    char msg[256] = "", undecided[256] = "";
    int failed = 0;
    pthread_mutex_lock(c->r->mu);
    for (size_t i = 0; i < n && !failed; i++) {
        int t = holds(c->r, that->kind == RB_NODE_SEQ ? that->items[i] : that, msg, sizeof msg);
        failed = t == 0 || t == -2;
        if (t == -1 && !*undecided)
            snprintf(undecided, sizeof undecided, "%s", msg);
    }
    pthread_mutex_unlock(c->r->mu);
    res->outputs = json_object();
    if (failed)
        act_fail(res, RB_OUT_FAILED, "assert", "%s", msg);
    else if (*undecided)
        act_fail(res, RB_OUT_FAILED, "undecided", "%s", undecided);
    else
        res->outcome = RB_OUT_SUCCEEDED;
    return 0;
}

const act_impl act_sleep = {"sleep", run_sleep, NULL};
const act_impl act_assert = {"assert", run_assert, NULL};
