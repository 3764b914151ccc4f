/* The ssh action: placeholder until its implementation lands. */
#include "runbook/action.h"

static int run_ssh(const rb_act_call *c, rb_act_result *res)
{
    (void)c;
    rb_act_fail(res, RB_OUT_FAILED, "refused", "this build cannot run ssh actions yet");
    return -1;
}

const rb_action_ops rb_ssh_ops = {.run = run_ssh};
