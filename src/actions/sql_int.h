/* The sql action's parts, shared by sql.c (run, outputs, judge), sql_conn.c (connecting from a
 * target's keywords) and sql_wait.c (waiting on the server's socket, the deadline and the cancel
 * fd; interrupting a query). Private to src/actions. */
#ifndef RUNBOOK_ACTIONS_SQL_INT_H
#define RUNBOOK_ACTIONS_SQL_INT_H

#include <libpq-fe.h>

#include "runbook/action.h"

/* How long the server gets to answer a cancel request before the connection is closed: a
 * silent network must not hang a step past its deadline by more than this. */
#define SQL_CANCEL_GRACE_MS 1000

/* What a wait on the server's socket ended with. */
typedef enum { SQL_READY, SQL_DEADLINE, SQL_CANCELLED, SQL_IOERR } sql_wake;

/* Waits until `sock` is ready for `events`, `until_ms` (absolute, rb_act_now_ms clock; 0: never)
 * passes, or (when watch_cancel) the run is cancelled. */
sql_wake sql_wait(const rb_act_call *c, int sock, short events, long long until_ms, int watch_cancel);

/* Opens a connection to c->target, bounded by the call's deadline, its cancel fd and the
 * target's connect_timeout. 0 with *out set (non-blocking, notices silenced); -1 with res
 * filled: "connect", "auth", "tls", "timeout" or "cancelled", never with a secret in it. */
int sql_connect(const rb_act_call *c, PGconn **out, rb_act_result *res);

/* Copies libpq's error message (first line) into res as a failure of class `errclass`, with the
 * target's secrets masked. */
void sql_fail_conn(const rb_act_call *c, rb_act_result *res, rb_outcome o, const char *errclass,
                   const char *prefix, const char *libpq_msg);

/* One statement's run: its reported result (the first error, else the last result; caller
 * PQclears) and whether the connection may be used again. */
typedef struct sql_exec {
    PGresult *result;
    int broken; /* close the connection after this call */
    int unsent; /* libpq refused to send: nothing reached the server */
} sql_exec;

/* Sends `query` with text parameters and waits for all its results. 0 when the server answered
 * (x->result, which may be an error); -1 with res filled (timeout, cancel, lost connection). */
int sql_exec_run(const rb_act_call *c, PGconn *pg, const char *query, const char *const *vals,
                 int nvals, sql_exec *x, rb_act_result *res);

#endif
