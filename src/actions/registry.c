/* The executor's side of the action registry: each action type of the model's registry
 * (src/model/actions.c) has its run function here; a unit test checks none is missing. */
#include <string.h>

#include "../exec/internal.h"

extern const act_impl act_exec, act_shell, act_sleep, act_assert, act_file, act_runbook;

static const act_impl *const impls[] = {&act_exec, &act_shell, &act_sleep, &act_assert, &act_file,
                                        &act_runbook, NULL};

const act_impl *act_find(const char *name)
{
    for (size_t i = 0; impls[i]; i++)
        if (!strcmp(impls[i]->name, name))
            return impls[i];
    return NULL;
}

/* Transitional: the local actions move onto runbook/action.h next. */
#include "runbook/action.h"
const rb_action_ops rb_exec_ops, rb_shell_ops, rb_sleep_ops, rb_assert_ops, rb_file_ops, rb_runbook_ops;
