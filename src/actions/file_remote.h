/* The file action's remote half (an ssh `target`), internal to src/actions. */
#ifndef RB_ACTIONS_FILE_REMOTE_H
#define RB_ACTIONS_FILE_REMOTE_H

#include "runbook/action.h"

int rb_file_remote_run(const rb_act_call *c, rb_act_result *res);
int rb_file_remote_undo(const rb_act_call *c, rb_act_result *res);
/* Closes an SSH session kept in a connection slot (the same kind the ssh action keeps). */
void rb_file_remote_disconnect(void *conn);

#endif
