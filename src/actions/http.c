/* The http action: placeholder until its implementation lands. */
#include "runbook/action.h"

static int run_http(const rb_act_call *c, rb_act_result *res)
{
    (void)c;
    rb_act_fail(res, RB_OUT_FAILED, "refused", "this build cannot run http actions yet");
    return -1;
}

const rb_action_ops rb_http_ops = {.run = run_http};
