/* The sql action: placeholder until its implementation lands. */
#include "runbook/action.h"

static int run_sql(const rb_act_call *c, rb_act_result *res)
{
    (void)c;
    rb_act_fail(res, RB_OUT_FAILED, "refused", "this build cannot run sql actions yet");
    return -1;
}

const rb_action_ops rb_sql_ops = {.run = run_sql};
