/* Running one statement on a non-blocking libpq connection: send, flush, wait with poll() on the
 * server's socket next to the deadline and the cancel fd, collect every result. At the deadline
 * or on cancel the server gets a cancel request and SQL_CANCEL_GRACE_MS to answer; past that the
 * connection is given up (closed by the caller), so a silent network cannot hang a step.
 * PQcancel blocks (libpq 15 has no non-blocking cancel), so it runs in a detached thread. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>

#include "sql_int.h"

sql_wake sql_wait(const rb_act_call *c, int sock, short events, long long until_ms, int watch_cancel)
{
    for (;;) {
        if (watch_cancel && c->cancel && rb_proc_cancel_requested(c->cancel))
            return SQL_CANCELLED;
        long long left = until_ms > 0 ? until_ms - rb_act_now_ms() : -1;
        if (until_ms > 0 && left <= 0)
            return SQL_DEADLINE;
        struct pollfd p[2] = {{sock, events, 0}, {watch_cancel ? c->cancel_fd : -1, POLLIN, 0}};
        int n = poll(p, 2, left > INT_MAX ? INT_MAX : (int)left);
        if (n < 0 && errno != EINTR)
            return SQL_IOERR;
        if (n > 0 && p[1].revents)
            return SQL_CANCELLED;
        if (n > 0 && p[0].revents)
            return SQL_READY;
    }
}

/* ---- cancelling ---- */

static void *cancel_main(void *arg)
{
    char err[256];
    PQcancel(arg, err, sizeof err); /* failure: the grace runs out and the connection is closed */
    PQfreeCancel(arg);
    return NULL;
}

/* Asks the server to cancel the running statement, without waiting for the answer. */
static void send_cancel(PGconn *pg)
{
    PGcancel *k = PQgetCancel(pg);
    pthread_attr_t a;
    pthread_t t;
    if (!k || pthread_attr_init(&a) != 0) {
        PQfreeCancel(k);
        return;
    }
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &a, cancel_main, k) != 0)
        PQfreeCancel(k); /* then closing the connection is the only stop */
    pthread_attr_destroy(&a);
}

/* Reads and drops the results still coming, until `until`. 1 when all came. */
static int drain(const rb_act_call *c, PGconn *pg, long long until)
{
    for (;;) {
        while (PQisBusy(pg)) {
            if (sql_wait(c, PQsocket(pg), POLLIN, until, 0) != SQL_READY || !PQconsumeInput(pg))
                return 0;
        }
        PGresult *r = PQgetResult(pg);
        if (!r)
            return 1;
        ExecStatusType st = PQresultStatus(r);
        PQclear(r);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH)
            return 0;
    }
}

static int lost(const rb_act_call *c, PGconn *pg, sql_exec *x, rb_act_result *res)
{
    x->broken = 1;
    sql_fail_conn(c, res, RB_OUT_FAILED, "connect", "lost the connection to the server: ", PQerrorMessage(pg));
    return -1;
}

/* The deadline or a cancel stopped the wait: cancel on the server, then keep the connection
 * only when it came back idle (every result read, no transaction left open). */
static int interrupt(const rb_act_call *c, PGconn *pg, sql_wake w, int sent, sql_exec *x, rb_act_result *res)
{
    if (w == SQL_IOERR)
        return lost(c, pg, x, res);
    send_cancel(pg);
    int drained = sent && drain(c, pg, rb_act_now_ms() + SQL_CANCEL_GRACE_MS);
    x->broken = !drained || PQtransactionStatus(pg) != PQTRANS_IDLE;
    const char *how = drained ? "" : "; the server did not answer the cancel in time: connection closed";
    if (w == SQL_DEADLINE)
        rb_act_fail(res, RB_OUT_TIMED_OUT, "timeout", "the query did not finish before the step's timeout: cancelled%s", how);
    else
        rb_act_fail(res, RB_OUT_CANCELLED, "cancelled", "the run was cancelled: query cancelled%s", how);
    return -1;
}

static int flush_all(const rb_act_call *c, PGconn *pg, sql_exec *x, rb_act_result *res)
{
    int f;
    while ((f = PQflush(pg)) == 1) {
        /* the server may be sending while we send: read too, as PQflush's documentation says */
        sql_wake w = sql_wait(c, PQsocket(pg), POLLOUT | POLLIN, c->deadline_ms, 1);
        if (w != SQL_READY)
            return interrupt(c, pg, w, 0, x, res);
        if (!PQconsumeInput(pg))
            return lost(c, pg, x, res);
    }
    return f == 0 ? 0 : lost(c, pg, x, res);
}

/* Keeps the first error, else the last result. COPY with the client's side is refused: the
 * action has no data to feed it and no place to put what it sends. */
static int keep_result(PGresult *r, sql_exec *x, rb_act_result *res)
{
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
        PQclear(r);
        x->broken = 1;
        rb_act_fail(res, RB_OUT_FAILED, "refused",
                    "COPY FROM STDIN / TO STDOUT is not supported by the sql action (use psql in a shell step)");
        return -1;
    }
    if (x->result && PQresultStatus(x->result) == PGRES_FATAL_ERROR) {
        PQclear(r);
        return 0;
    }
    PQclear(x->result);
    x->result = r;
    return 0;
}

static int collect(const rb_act_call *c, PGconn *pg, sql_exec *x, rb_act_result *res)
{
    for (;;) {
        while (PQisBusy(pg)) {
            sql_wake w = sql_wait(c, PQsocket(pg), POLLIN, c->deadline_ms, 1);
            if (w != SQL_READY)
                return interrupt(c, pg, w, 1, x, res);
            if (!PQconsumeInput(pg))
                return lost(c, pg, x, res);
        }
        PGresult *r = PQgetResult(pg);
        if (!r)
            break;
        if (keep_result(r, x, res) != 0)
            return -1;
    }
    if (PQstatus(pg) == CONNECTION_BAD)
        x->broken = 1;
    return x->result ? 0 : lost(c, pg, x, res);
}

int sql_exec_run(const rb_act_call *c, PGconn *pg, const char *query, const char *const *vals,
                 int nvals, sql_exec *x, rb_act_result *res)
{
    memset(x, 0, sizeof *x);
    if (!PQsendQueryParams(pg, query, nvals, NULL, vals, NULL, NULL, 0)) {
        x->unsent = 1;
        return lost(c, pg, x, res);
    }
    if (flush_all(c, pg, x, res) != 0)
        return -1;
    int rc = collect(c, pg, x, res);
    if (rc != 0) {
        PQclear(x->result);
        x->result = NULL;
    }
    return rc;
}
