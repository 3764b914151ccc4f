/* The sql action (libpq): one statement with its `params` bound by libpq as text ($1, $2, ...),
 * on the target's connection (kept in the run's slot and reused), giving `rows`, `value`,
 * `row_count` and `sqlstate`; expect on value and row_count. A dry run wraps the statement in
 * BEGIN READ ONLY ... ROLLBACK: the executor calls only read steps then, this is the safety net.
 *
 * Bounds: `rows` holds at most SQL_MAX_ROWS rows and SQL_MAX_BYTES of names and values; a larger
 * result fails the step (errclass "refused", with row_count and value still given) instead of
 * handing later steps a list cut short: add a LIMIT or aggregate. A column name given twice keeps
 * the last value in a row object.
 *
 * sql_literal()/sql_ident() in a step's parameters quote with PQescapeLiteral/PQescapeIdentifier
 * on this connection: the executor calls open_sql, then escape_sql while it renders. */
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "runbook/jsonstr.h"
#include "sql_int.h"

#define SQL_MAX_ROWS 1000
#define SQL_MAX_BYTES (1024 * 1024)
#define SQL_MAX_PARAMS 1000

/* ---- parameters ---- */

typedef struct sql_params {
    const char **vals; /* borrowed from c->params, or owned[i]; NULL: SQL NULL */
    char **owned;
    int n;
} sql_params;

static void params_free(sql_params *p)
{
    for (int i = 0; i < p->n; i++)
        free(p->owned[i]);
    free(p->owned);
    free(p->vals);
}

/* A JSON string with a NUL inside would be cut short by libpq without a word: refuse it. */
static int has_nul(const json_t *s)
{
    return json_is_string(s) && strlen(json_string_value(s)) != json_string_length(s);
}

static int params_get(const rb_act_call *c, sql_params *p, rb_act_result *res)
{
    const json_t *list = json_object_get(c->params, "params");
    size_t n = json_array_size(list);
    memset(p, 0, sizeof *p);
    if (n > SQL_MAX_PARAMS) {
        rb_act_fail(res, RB_OUT_FAILED, "refused", "%zu params: at most %d", n, SQL_MAX_PARAMS);
        return -1;
    }
    p->vals = calloc(n + 1, sizeof *p->vals);
    p->owned = calloc(n + 1, sizeof *p->owned);
    for (size_t i = 0; p->vals && p->owned && i < n; i++, p->n++) {
        const json_t *v = json_array_get(list, i);
        if (has_nul(v)) {
            rb_act_fail(res, RB_OUT_FAILED, "refused", "params[%zu] holds a NUL byte", i);
            return -1;
        }
        if (json_is_string(v))
            p->vals[i] = json_string_value(v);
        else if (!json_is_null(v))
            p->vals[i] = p->owned[i] = rb_act_text_of(v);
    }
    if (!p->vals || !p->owned)
        rb_act_fail(res, RB_OUT_FAILED, "refused", "out of memory");
    return p->vals && p->owned ? 0 : -1;
}

static const char *query_of(const rb_act_call *c, rb_act_result *res)
{
    const json_t *q = json_object_get(c->params, "query");
    if (!json_is_string(q) || has_nul(q)) {
        rb_act_fail(res, RB_OUT_FAILED, "refused", "the sql action needs a query (text without NUL bytes)");
        return NULL;
    }
    return json_string_value(q);
}

/* ---- the connection ---- */

/* A kept connection whose server went away (a restart, a failover) has an EOF waiting: reading
 * what is there turns it bad now rather than after the statement was sent. */
static int still_alive(PGconn *pg)
{
    for (int i = 0; i < 4 && PQstatus(pg) == CONNECTION_OK; i++) {
        struct pollfd p = {PQsocket(pg), POLLIN, 0};
        if (poll(&p, 1, 0) <= 0)
            break;
        if (!PQconsumeInput(pg))
            return 0;
    }
    PGTransactionStatusType t = PQtransactionStatus(pg);
    return PQstatus(pg) == CONNECTION_OK && t != PQTRANS_ACTIVE && t != PQTRANS_UNKNOWN;
}

static int get_conn(const rb_act_call *c, PGconn **pg, int *reused, rb_act_result *res)
{
    *reused = 0;
    if (c->conn && *c->conn) {
        *pg = *c->conn;
        if (still_alive(*pg))
            return *reused = 1, 0;
        PQfinish(*pg);
        *c->conn = NULL;
    }
    return sql_connect(c, pg, res);
}

/* Keeps the connection in the run's slot, or closes it (broken, or no slot). */
static void release(const rb_act_call *c, PGconn *pg, int broken)
{
    if (c->conn && !broken) {
        *c->conn = pg;
        return;
    }
    if (c->conn && *c->conn == pg)
        *c->conn = NULL;
    PQfinish(pg);
}

/* ---- running ---- */

/* ROLLBACK gets its own short bound: the step's deadline may be what stopped the statement. */
static void rollback(const rb_act_call *c, PGconn *pg, sql_exec *x)
{
    rb_act_call late = *c;
    rb_act_result scratch = {0};
    sql_exec r;
    late.deadline_ms = rb_act_now_ms() + SQL_CANCEL_GRACE_MS;
    if (sql_exec_run(&late, pg, "ROLLBACK", NULL, 0, &r, &scratch) != 0 ||
        PQresultStatus(r.result) != PGRES_COMMAND_OK)
        x->broken = 1;
    PQclear(r.result);
}

static int run_read_only(const rb_act_call *c, PGconn *pg, const char *query, const sql_params *p,
                         sql_exec *x, rb_act_result *res)
{
    if (sql_exec_run(c, pg, "BEGIN READ ONLY", NULL, 0, x, res) != 0)
        return -1;
    if (PQresultStatus(x->result) != PGRES_COMMAND_OK)
        return 0; /* reported as the statement's error */
    PQclear(x->result);
    int rc = sql_exec_run(c, pg, query, p->vals, p->n, x, res);
    if (!x->broken)
        rollback(c, pg, x);
    return rc;
}

static int run_statement(const rb_act_call *c, PGconn *pg, const char *query, const sql_params *p,
                         sql_exec *x, rb_act_result *res)
{
    if (c->dry_run)
        return run_read_only(c, pg, query, p, x, res);
    return sql_exec_run(c, pg, query, p->vals, p->n, x, res);
}

/* ---- outputs ---- */

static json_t *cell(const PGresult *r, int i, int j)
{
    if (PQgetisnull(r, i, j))
        return json_null();
    return rb_json_string_lossy(PQgetvalue(r, i, j), (size_t)PQgetlength(r, i, j));
}

static void too_large(json_t *out, int rows, rb_act_result *res)
{
    json_object_set_new(out, "rows", json_array());
    rb_act_fail(res, RB_OUT_FAILED, "refused",
                "the result (%d rows) is larger than `rows` holds (%d rows, %d KiB of text): add a LIMIT or aggregate",
                rows, SQL_MAX_ROWS, SQL_MAX_BYTES / 1024);
}

static void fill_rows(json_t *out, const PGresult *r, rb_act_result *res)
{
    int nt = PQntuples(r), nf = PQnfields(r);
    size_t bytes = 0;
    json_object_set_new(out, "row_count", json_integer(nt));
    if (nt > 0 && nf > 0)
        json_object_set_new(out, "value", cell(r, 0, 0));
    if (nt > SQL_MAX_ROWS)
        return too_large(out, nt, res);
    json_t *rows = json_object_get(out, "rows");
    for (int i = 0; i < nt; i++) {
        json_t *row = json_object();
        for (int j = 0; j < nf; j++) {
            bytes += strlen(PQfname(r, j)) + (size_t)PQgetlength(r, i, j);
            json_object_set_new(row, PQfname(r, j), cell(r, i, j));
        }
        json_array_append_new(rows, row);
        if (bytes > SQL_MAX_BYTES)
            return too_large(out, nt, res);
    }
}

static void server_error(const rb_act_call *c, const PGresult *r, sql_exec *x, json_t *out,
                         rb_act_result *res)
{
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    if (!state || strlen(state) != 5) { /* libpq's own: the connection broke */
        x->broken = 1;
        sql_fail_conn(c, res, RB_OUT_FAILED, "connect", "", PQresultErrorMessage(r));
        return;
    }
    json_object_set_new(out, "sqlstate", rb_json_string_lossy(state, 5));
    rb_act_fail(res, RB_OUT_FAILED, "", "%.200s (SQLSTATE %s)", primary ? primary : "error", state);
    snprintf(res->errclass, sizeof res->errclass, "%s", state);
}

/* Turns the statement's result into outputs and an outcome. */
static void report(const rb_act_call *c, sql_exec *x, rb_act_result *res)
{
    json_t *out = json_pack("{s:[],s:n,s:I,s:s}", "rows", "value", "row_count", (json_int_t)0,
                            "sqlstate", "");
    res->outcome = RB_OUT_SUCCEEDED;
    res->errclass[0] = res->message[0] = 0;
    switch (PQresultStatus(x->result)) {
    case PGRES_TUPLES_OK:
        fill_rows(out, x->result, res);
        break;
    case PGRES_COMMAND_OK:
        json_object_set_new(out, "row_count", json_integer(strtoll(PQcmdTuples(x->result), NULL, 10)));
        break;
    case PGRES_EMPTY_QUERY:
        break;
    default:
        server_error(c, x->result, x, out, res);
    }
    res->outputs = out;
}

/* One try on the kept connection; when it had gone stale and nothing was sent, one more on a
 * new connection (safe: the statement never reached a server). */
static int attempt(const rb_act_call *c, const char *query, const sql_params *p, sql_exec *x,
                   PGconn **pg, rb_act_result *res)
{
    int reused, rc = -1;
    for (int tries = 0; tries < 2; tries++) {
        if (get_conn(c, pg, &reused, res) != 0)
            return -1;
        rc = run_statement(c, *pg, query, p, x, res);
        if (rc == 0 || !x->unsent || !reused)
            return rc;
        release(c, *pg, 1);
        *pg = NULL;
    }
    return rc;
}

/* A step whose time is already up, or whose run was cancelled, sends nothing: a statement sent
 * now would be cancelled at once, and might still have committed by then. */
static int too_late(const rb_act_call *c, rb_act_result *res)
{
    if (rb_act_cancelled(c))
        rb_act_fail(res, RB_OUT_CANCELLED, "cancelled", "the run was cancelled before the query");
    else if (rb_act_remaining_ms(c) == 0)
        rb_act_fail(res, RB_OUT_TIMED_OUT, "timeout", "the step's timeout passed before the query");
    else
        return 0;
    return 1;
}

static int run_sql(const rb_act_call *c, rb_act_result *res)
{
    if (too_late(c, res))
        return -1;
    const char *query = query_of(c, res);
    sql_params p;
    if (!query || params_get(c, &p, res) != 0) {
        if (query)
            params_free(&p);
        return -1;
    }
    PGconn *pg = NULL;
    sql_exec x = {0};
    int rc = attempt(c, query, &p, &x, &pg, res);
    if (rc == 0)
        report(c, &x, res);
    PQclear(x.result);
    if (pg)
        release(c, pg, x.broken);
    params_free(&p);
    return pg || rc == 0 ? 0 : -1;
}

/* ---- expect, disconnect ---- */

static int same_text(const json_t *a, const json_t *b)
{
    char *x = rb_act_text_of(a), *y = rb_act_text_of(b);
    int same = x && y && !strcmp(x, y);
    free(x);
    free(y);
    return same;
}

/* expect.value: the first column of the first row, compared as text ("f", 1 and "1" as the
 * server's text form); expect.row_count: an int. */
static void judge_sql(const json_t *expect, rb_act_result *res)
{
    if (!expect || res->outcome != RB_OUT_SUCCEEDED)
        return;
    const json_t *want = json_object_get(expect, "value"), *rows = json_object_get(expect, "row_count");
    long long got = json_integer_value(json_object_get(res->outputs, "row_count"));
    if (want && !same_text(want, json_object_get(res->outputs, "value")))
        rb_act_fail(res, RB_OUT_FAILED, "expect", "the query's value is not the expected one");
    else if (rows && !rb_act_code_allowed(rows, got, 0))
        rb_act_fail(res, RB_OUT_FAILED, "expect", "the query returned %lld rows, not the expected number", got);
}

static void disconnect_sql(void *conn)
{
    PQfinish(conn);
}

/* Opens (or keeps) the connection in the call's slot before the parameters are rendered. */
static int open_sql(const rb_act_call *c, rb_act_result *res)
{
    PGconn *pg = NULL;
    int reused;
    if (!c->conn) {
        rb_act_fail(res, RB_OUT_FAILED, "refused", "no connection slot for the target");
        return -1;
    }
    if (too_late(c, res) || get_conn(c, &pg, &reused, res) != 0)
        return -1;
    *c->conn = pg;
    return 0;
}

/* libpq's quoting knows the connection's client encoding (a broken multi-byte sequence is
 * refused) and standard_conforming_strings; a backslash gets an E'' literal either way. */
static char *escape_sql(void *conn, const char *s, size_t len, int ident)
{
    char *q = ident ? PQescapeIdentifier(conn, s, len) : PQescapeLiteral(conn, s, len);
    char *out = q ? strdup(q) : NULL;
    PQfreemem(q);
    return out;
}

/* "would query main: UPDATE ... WHERE id = $1" then each bound value, as SQL literals read. */
static void preview_sql(const rb_act_call *c, rb_act_preview *p)
{
    const json_t *q = json_object_get(c->params, "query"), *v;
    size_t i;
    rb_act_say(p, "would query %s: ", c->target_name ? c->target_name : "?");
    rb_act_say_n(p, json_string_value(q) ? json_string_value(q) : "", json_string_length(q));
    rb_act_say_n(p, "\n", 1);
    json_array_foreach(json_object_get(c->params, "params"), i, v)
    {
        char *text = json_is_null(v) ? NULL : rb_act_text_of(v);
        rb_act_say(p, "  $%zu = ", i + 1);
        if (text)
            rb_act_say_word(p, text, strlen(text));
        else
            rb_act_say(p, "NULL");
        rb_act_say_n(p, "\n", 1);
        free(text);
    }
}

const rb_action_ops rb_sql_ops = {
    .run = run_sql,
    .judge = judge_sql,
    .disconnect = disconnect_sql,
    .preview = preview_sql,
    .open = open_sql,
    .escape = escape_sql,
};
