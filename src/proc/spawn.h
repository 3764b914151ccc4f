/* Starting a child for the runner in proc.c: private to src/proc. */
#ifndef RUNBOOK_PROC_SPAWN_H
#define RUNBOOK_PROC_SPAWN_H

#include <sys/types.h>

#include "runbook/proc.h"

/* The child's ends of its pipes, to become its fds 0..3; in and fd3 are -1 when absent (stdin
 * then reads /dev/null, fd 3 stays closed). */
typedef struct proc_child_fds {
    int in, fd3, out, err;
} proc_child_fds;

/* Looks up spec->argv[0] and starts it in a new process group (see runbook/proc.h). Returns 0
 * with *pid set, or -1 with res->outcome RB_PROC_SPAWN_FAILED, error and message set. */
int proc_spawn(const rb_proc_spec *spec, const proc_child_fds *fds, pid_t *pid,
               rb_proc_result *res);

/* Records a failure: outcome, errno and a printf-formatted message. */
void proc_fail(rb_proc_result *res, rb_proc_outcome o, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
