/* The actions that need no outside system: sleep and assert. */
#include <poll.h>
#include <string.h>

#include "runbook/action.h"

/* Waits up to ms or until the run is cancelled; 1 when cancelled. */
static int wait_or_cancel(const rb_act_call *c, long long ms)
{
    long long end = rb_act_now_ms() + ms;
    for (;;) {
        long long left = end - rb_act_now_ms();
        if (rb_act_cancelled(c))
            return 1;
        if (left <= 0)
            return 0;
        struct pollfd p = {c->cancel_fd, POLLIN, 0};
        poll(&p, c->cancel_fd >= 0 ? 1 : 0, (int)(left > 1000 ? 1000 : left));
    }
}

static int run_sleep(const rb_act_call *c, rb_act_result *res)
{
    long long ms = json_integer_value(json_object_get(c->params, "duration"));
    long long left = rb_act_remaining_ms(c);
    long long limit = left >= 0 && left < ms ? left : ms;
    res->outputs = json_object();
    if (wait_or_cancel(c, limit))
        rb_act_fail(res, RB_OUT_CANCELLED, "cancelled", "cancelled");
    else if (limit < ms)
        rb_act_fail(res, RB_OUT_TIMED_OUT, "timeout", "the sleep is longer than the step's timeout");
    else
        res->outcome = RB_OUT_SUCCEEDED;
    return 0;
}

/* Checks one expression: 1 holds, 0 does not, -1 undecided (dry run), -2 cannot be evaluated. */
static int holds(const rb_act_call *c, const char *expr, char *msg, size_t len)
{
    char err[200] = "";
    int t = c->condition ? c->condition(c->cond_ctx, expr, strlen(expr), err, sizeof err) : -2;
    if (t == 0)
        snprintf(msg, len, "assertion does not hold: %.200s", expr);
    else if (t == -1)
        snprintf(msg, len, "undecided: the assertion reads values only a real run has: %.160s", expr);
    else if (t == -2)
        snprintf(msg, len, "assertion cannot be evaluated: %.200s", err);
    return t;
}

/* A false assertion decides, even after an undecided one; undecided only if none is false.
 * `that` arrives as the expressions' source text (one string or a list). */
static int run_assert(const rb_act_call *c, rb_act_result *res)
{
    const json_t *that = json_object_get(c->params, "that");
    size_t n = json_is_array(that) ? json_array_size(that) : 1;
    char msg[256] = "", undecided[256] = "";
    int failed = 0;
    for (size_t i = 0; i < n && !failed; i++) {
        const char *expr = json_string_value(json_is_array(that) ? json_array_get(that, i) : that);
        int t = holds(c, expr ? expr : "", msg, sizeof msg);
        failed = t == 0 || t == -2;
        if (t == -1 && !*undecided)
            snprintf(undecided, sizeof undecided, "%s", msg);
    }
    res->outputs = json_object();
    if (failed)
        rb_act_fail(res, RB_OUT_FAILED, "assert", "%s", msg);
    else if (*undecided)
        rb_act_fail(res, RB_OUT_FAILED, "undecided", "%s", undecided);
    else
        res->outcome = RB_OUT_SUCCEEDED;
    return 0;
}

const rb_action_ops rb_sleep_ops = {.run = run_sleep};
const rb_action_ops rb_assert_ops = {.run = run_assert};
/* A called runbook is run by the executor itself (RB_AT_CALLS_RUNBOOK): it has no run slot. */
const rb_action_ops rb_runbook_ops = {0};
