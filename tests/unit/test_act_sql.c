/* The sql action against real PostgreSQL clusters on 127.0.0.1 (tests/servers/pg.sh): a primary,
 * its streaming standby and a TLS-only cluster, started once for the group. Checks that need an
 * outside view (the table still there, no pg_sleep left running) use a second libpq connection
 * as the postgres superuser. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "runbook/action.h"

#define PASSWORD "Canary-pw-7f3a'q\"x"   /* the rb role's password in every cluster */
#define WRONG_PW "Canary-wrong-91c2"     /* must never show up in a message or an output */

static char dir[256];
static int primary_port, standby_port, tls_port;
static int started;

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0)
        return -1;
    close(s);
    return ntohs(a.sin_port);
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static void stop_all(void)
{
    if (!started)
        return;
    const char *src = getenv("RUNBOOK_SOURCE_DIR");
    sh("for c in standby primary tls; do bash '%s/tests/servers/pg.sh' stop '%s/'$c immediate; done; rm -rf '%s'",
       src ? src : ".", dir, dir);
    started = 0;
}

static int group_setup(void **state)
{
    (void)state;
    const char *src = getenv("RUNBOOK_SOURCE_DIR");
    char tmpl[] = "/tmp/rb-sql-XXXXXX";
    if (!src || !mkdtemp(tmpl))
        return -1;
    snprintf(dir, sizeof dir, "%s", tmpl);
    started = 1;
    atexit(stop_all);
    primary_port = free_port(), standby_port = free_port(), tls_port = free_port();
    setenv("PGPASS_RB", PASSWORD, 1);
    int rc = sh("P='%s/tests/servers/pg.sh' D='%s'; bash $P primary $D/primary %d && "
                "bash $P standby $D/standby %d %d sb1 && bash $P tls $D/tls %d $D/ca && "
                "mkdir $D/other && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                "-nodes -keyout $D/other/ca.key -out $D/other/ca.crt -days 1 -subj /CN=other 2>/dev/null",
                src, dir, primary_port, primary_port, standby_port, tls_port);
    return rc == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    stop_all();
    return 0;
}

/* ---- calling the action ---- */

static json_t *pg_target(int port, const char *password, const char *sslmode)
{
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    json_t *t = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "kind", "postgres", "host", "127.0.0.1",
                          "port", p, "dbname", "rb", "user", "rb", "password", password);
    if (sslmode)
        json_object_set_new(t, "sslmode", json_string(sslmode));
    return t;
}

static json_t *primary(void) { return pg_target(primary_port, PASSWORD, "disable"); }

typedef struct call_opts {
    long long timeout_ms; /* 0: 20 s */
    void **conn;
    int dry_run, cancel_fd;
    json_t *params;       /* stolen */
} call_opts;

static int call(json_t *target, const char *query, call_opts o, rb_act_result *res)
{
    json_t *p = json_pack("{s:s}", "query", query);
    if (o.params)
        json_object_set_new(p, "params", o.params);
    rb_act_call c = {.params = p, .target = target, .target_name = "db", .cancel_fd = o.cancel_fd,
                     .dry_run = o.dry_run, .conn = o.conn};
    c.deadline_ms = rb_act_now_ms() + (o.timeout_ms ? o.timeout_ms : 20000);
    if (!o.cancel_fd)
        c.cancel_fd = -1;
    memset(res, 0, sizeof *res);
    int rc = rb_sql_ops.run(&c, res);
    if (getenv("RB_TEST_VERBOSE"))
        fprintf(stderr, "  %s -> %d %s: %s\n", query, res->outcome, res->errclass, res->message);
    json_decref(p);
    json_decref(target);
    return rc;
}

static const char *out_str(const rb_act_result *res, const char *key)
{
    return json_string_value(json_object_get(res->outputs, key));
}

static long long out_int(const rb_act_result *res, const char *key)
{
    return json_integer_value(json_object_get(res->outputs, key));
}

static void res_clear(rb_act_result *res)
{
    json_decref(res->outputs);
    res->outputs = NULL;
}

/* The first value of a query run from outside, as the superuser, malloc'd ("" for none). */
static char *admin_value(int port, const char *sql)
{
    char ci[128];
    snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d dbname=rb user=postgres sslmode=disable", port);
    PGconn *pg = PQconnectdb(ci);
    PGresult *r = PQexec(pg, sql);
    char *v = strdup(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(pg);
    return v;
}

static void admin_exec(int port, const char *sql) { free(admin_value(port, sql)); }

/* ---- queries ---- */

static void test_params_arrive_as_data(void **state)
{
    (void)state;
    const char *evil = "'); DROP TABLE inj; -- $1 \"x\" \\ ''";
    rb_act_result res;
    admin_exec(primary_port, "CREATE TABLE inj (v text); GRANT ALL ON inj TO rb");
    assert_int_equal(call(primary(), "INSERT INTO inj VALUES ($1)",
                          (call_opts){.params = json_pack("[s]", evil)}, &res), 0);
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    assert_int_equal(out_int(&res, "row_count"), 1);
    res_clear(&res);

    call(primary(), "SELECT v FROM inj WHERE v = $1", (call_opts){.params = json_pack("[s]", evil)}, &res);
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    assert_string_equal(out_str(&res, "value"), evil);
    res_clear(&res);

    char *n = admin_value(primary_port, "SELECT count(*) FROM inj");
    char *v = admin_value(primary_port, "SELECT v FROM inj");
    assert_string_equal(n, "1");
    assert_string_equal(v, evil);
    free(n);
    free(v);
}

static void test_rows_value_row_count_sqlstate(void **state)
{
    (void)state;
    rb_act_result res;
    call(primary(), "SELECT 1 AS a, NULL AS b, 'x' AS c UNION ALL SELECT 2, 'y', $1", 
         (call_opts){.params = json_pack("[s]", "z")}, &res);
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    json_t *rows = json_object_get(res.outputs, "rows");
    assert_int_equal(json_array_size(rows), 2);
    assert_true(json_is_null(json_object_get(json_array_get(rows, 0), "b")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "a")), "1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 1), "c")), "z");
    assert_string_equal(out_str(&res, "value"), "1");
    assert_int_equal(out_int(&res, "row_count"), 2);
    assert_string_equal(out_str(&res, "sqlstate"), "");
    res_clear(&res);

    call(primary(), "SELECT 1 WHERE false", (call_opts){0}, &res);
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    assert_true(json_is_null(json_object_get(res.outputs, "value")));
    assert_int_equal(out_int(&res, "row_count"), 0);
    assert_int_equal(json_array_size(json_object_get(res.outputs, "rows")), 0);
    res_clear(&res);
}

static void test_insert_and_update_row_count(void **state)
{
    (void)state;
    rb_act_result res;
    admin_exec(primary_port, "CREATE TABLE cnt (n int); GRANT ALL ON cnt TO rb");
    call(primary(), "INSERT INTO cnt SELECT generate_series(1, 3)", (call_opts){0}, &res);
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    assert_int_equal(out_int(&res, "row_count"), 3);
    assert_true(json_is_null(json_object_get(res.outputs, "value")));
    res_clear(&res);
    call(primary(), "UPDATE cnt SET n = n + 1 WHERE n > $1", (call_opts){.params = json_pack("[s]", "1")}, &res);
    assert_int_equal(out_int(&res, "row_count"), 2);
    res_clear(&res);
}

static void test_sql_error_carries_sqlstate(void **state)
{
    (void)state;
    rb_act_result res;
    assert_int_equal(call(primary(), "SELECT * FROM nope", (call_opts){0}, &res), 0);
    assert_int_equal(res.outcome, RB_OUT_FAILED);
    assert_string_equal(res.errclass, "42P01");
    assert_non_null(strstr(res.message, "relation \"nope\" does not exist (SQLSTATE 42P01)"));
    assert_string_equal(out_str(&res, "sqlstate"), "42P01");
    res_clear(&res);
}

/* Past 1000 rows or 1 MiB the step fails rather than pass a list cut short; COPY is refused. */
static void test_large_results_and_copy_are_refused(void **state)
{
    (void)state;
    rb_act_result res;
    call(primary(), "SELECT generate_series(1, 1001) AS n", (call_opts){0}, &res);
    assert_int_equal(res.outcome, RB_OUT_FAILED);
    assert_string_equal(res.errclass, "refused");
    assert_non_null(strstr(res.message, "(1001 rows)"));
    assert_int_equal(out_int(&res, "row_count"), 1001);
    assert_string_equal(out_str(&res, "value"), "1");
    assert_int_equal(json_array_size(json_object_get(res.outputs, "rows")), 0);
    res_clear(&res);
    call(primary(), "SELECT repeat('x', 600000) FROM generate_series(1, 2)", (call_opts){0}, &res);
    assert_int_equal(res.outcome, RB_OUT_FAILED);
    assert_string_equal(res.errclass, "refused");
    res_clear(&res);
    call(primary(), "SELECT generate_series(1, 1000) AS n", (call_opts){0}, &res);
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    assert_int_equal(json_array_size(json_object_get(res.outputs, "rows")), 1000);
    res_clear(&res);
    void *conn = NULL;
    call(primary(), "COPY (SELECT 1) TO STDOUT", (call_opts){.conn = &conn}, &res);
    assert_int_equal(res.outcome, RB_OUT_FAILED);
    assert_string_equal(res.errclass, "refused");
    assert_null(conn);
    res_clear(&res);
}

/* A JSON null among params is SQL NULL; a NUL byte inside a param is refused, not cut. */
static void test_null_and_nul_params(void **state)
{
    (void)state;
    rb_act_result res;
    call(primary(), "SELECT $1::text IS NULL", (call_opts){.params = json_pack("[n]")}, &res);
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    assert_string_equal(out_str(&res, "value"), "t");
    res_clear(&res);
    assert_int_equal(call(primary(), "SELECT $1", (call_opts){.params = json_pack("[s#]", "a\0b", 3)}, &res), -1);
    assert_string_equal(res.errclass, "refused");
}

static void test_standby_is_in_recovery(void **state)
{
    (void)state;
    rb_act_result res;
    call(pg_target(standby_port, PASSWORD, "disable"), "SELECT pg_is_in_recovery()", (call_opts){0}, &res);
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    assert_string_equal(out_str(&res, "value"), "t");
    res_clear(&res);
    call(primary(), "SELECT pg_is_in_recovery()", (call_opts){0}, &res);
    assert_string_equal(out_str(&res, "value"), "f");
    res_clear(&res);
}

/* ---- connections ---- */

static void test_refused_connection_is_connect(void **state)
{
    (void)state;
    rb_act_result res;
    assert_int_equal(call(pg_target(free_port(), PASSWORD, "disable"), "SELECT 1", (call_opts){0}, &res), -1);
    assert_int_equal(res.outcome, RB_OUT_FAILED);
    assert_string_equal(res.errclass, "connect");
    assert_non_null(strstr(res.message, "127.0.0.1"));
}

/* A listener that never answers: connect_timeout bounds the wait for the server's reply. */
static void test_silent_server_hits_connect_timeout(void **state)
{
    (void)state;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s, 4), 0);
    getsockname(s, (struct sockaddr *)&a, &len);
    json_t *t = pg_target(ntohs(a.sin_port), PASSWORD, "disable");
    json_object_set_new(t, "connect_timeout", json_string("1s"));
    rb_act_result res;
    long long t0 = rb_act_now_ms();
    call(t, "SELECT 1", (call_opts){0}, &res);
    long long took = rb_act_now_ms() - t0;
    close(s);
    assert_string_equal(res.errclass, "connect");
    assert_non_null(strstr(res.message, "connect_timeout"));
    assert_true(took >= 900 && took < 2000);
}

static void test_tls_verify_full_with_ca(void **state)
{
    (void)state;
    char ca[320];
    snprintf(ca, sizeof ca, "%s/ca/ca.crt", dir);
    json_t *t = pg_target(tls_port, PASSWORD, "verify-full");
    json_object_set_new(t, "sslrootcert", json_string(ca));
    rb_act_result res;
    call(t, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", (call_opts){0}, &res);
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    assert_string_equal(out_str(&res, "value"), "t");
    res_clear(&res);
}

static void test_tls_unrelated_ca_is_refused(void **state)
{
    (void)state;
    char ca[320];
    snprintf(ca, sizeof ca, "%s/other/ca.crt", dir);
    json_t *t = pg_target(tls_port, PASSWORD, "verify-full");
    json_object_set_new(t, "sslrootcert", json_string(ca));
    rb_act_result res;
    assert_int_equal(call(t, "SELECT 1", (call_opts){0}, &res), -1);
    assert_int_equal(res.outcome, RB_OUT_FAILED);
    assert_string_equal(res.errclass, "tls");
    assert_non_null(strstr(res.message, "certificate"));
}

static void test_default_sslmode_is_verify_full(void **state)
{
    (void)state;
    rb_act_result res;
    assert_int_equal(call(pg_target(primary_port, PASSWORD, NULL), "SELECT 1", (call_opts){0}, &res), -1);
    assert_int_equal(res.outcome, RB_OUT_FAILED);
    assert_non_null(strstr(res.message, "sslmode"));
    /* a URL without sslmode gets the same default; one that says disable is obeyed */
    char url[256];
    snprintf(url, sizeof url, "postgresql://rb:%s@127.0.0.1:%d/rb", "Canary-pw-7f3a%27q%22x", primary_port);
    call(json_pack("{s:s,s:s}", "kind", "postgres", "url", url), "SELECT 1", (call_opts){0}, &res);
    assert_int_equal(res.outcome, RB_OUT_FAILED);
    assert_non_null(strstr(res.message, "sslmode"));
    assert_null(strstr(res.message, "Canary"));
    strcat(url, "?sslmode=disable");
    call(json_pack("{s:s,s:s}", "kind", "postgres", "url", url), "SELECT current_user", (call_opts){0}, &res);
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    assert_string_equal(out_str(&res, "value"), "rb");
    res_clear(&res);
}

static void test_wrong_password_is_auth_and_masked(void **state)
{
    (void)state;
    char ca[320];
    snprintf(ca, sizeof ca, "%s/ca/ca.crt", dir);
    json_t *t = pg_target(tls_port, WRONG_PW, "verify-full");
    json_object_set_new(t, "sslrootcert", json_string(ca));
    rb_act_result res;
    assert_int_equal(call(t, "SELECT 1", (call_opts){0}, &res), -1);
    assert_int_equal(res.outcome, RB_OUT_FAILED);
    assert_string_equal(res.errclass, "auth");
    assert_non_null(strstr(res.message, "password authentication failed"));
    assert_null(strstr(res.message, "Canary"));
    char *out = res.outputs ? json_dumps(res.outputs, 0) : NULL;
    assert_true(!out || !strstr(out, "Canary"));
    free(out);
    res_clear(&res);
}

static void test_application_name(void **state)
{
    (void)state;
    rb_act_result res;
    call(primary(), "SELECT current_setting('application_name')", (call_opts){0}, &res);
    assert_string_equal(out_str(&res, "value"), "runbook");
    res_clear(&res);
    json_t *t = primary();
    json_object_set_new(t, "application_name", json_string("drill"));
    call(t, "SELECT current_setting('application_name')", (call_opts){0}, &res);
    assert_string_equal(out_str(&res, "value"), "drill");
    res_clear(&res);
}

/* ---- deadlines, cancel, dry run, reuse ---- */

static int sleeping_queries(void)
{
    char *n = admin_value(primary_port, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                                        "AND query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()");
    int v = atoi(n);
    free(n);
    return v;
}

static void test_timeout_cancels_on_server(void **state)
{
    (void)state;
    rb_act_result res;
    void *conn = NULL;
    long long t0 = rb_act_now_ms();
    assert_int_equal(call(primary(), "SELECT pg_sleep(30)", (call_opts){.timeout_ms = 1500, .conn = &conn}, &res), 0);
    long long took = rb_act_now_ms() - t0;
    assert_int_equal(res.outcome, RB_OUT_TIMED_OUT);
    assert_string_equal(res.errclass, "timeout");
    assert_true(took >= 1500 && took < 2500);
    assert_int_equal(sleeping_queries(), 0);
    /* the kept connection (if kept) is usable again */
    call(primary(), "SELECT 7", (call_opts){.conn = &conn}, &res);
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    assert_string_equal(out_str(&res, "value"), "7");
    res_clear(&res);
    rb_sql_ops.disconnect(conn);
}

/* A backend that stops answering (SIGSTOP): the cancel goes unanswered, the grace runs out and
 * the connection is closed, so the step still ends soon after its deadline. */
static void test_silent_backend_closes_at_hard_deadline(void **state)
{
    (void)state;
    rb_act_result res;
    void *conn = NULL;
    call(primary(), "SELECT pg_backend_pid()", (call_opts){.conn = &conn}, &res);
    pid_t pid = (pid_t)atoi(out_str(&res, "value"));
    res_clear(&res);
    assert_int_equal(kill(pid, SIGSTOP), 0);
    long long t0 = rb_act_now_ms();
    call(primary(), "SELECT 1", (call_opts){.timeout_ms = 500, .conn = &conn}, &res);
    long long took = rb_act_now_ms() - t0;
    kill(pid, SIGCONT);
    assert_int_equal(res.outcome, RB_OUT_TIMED_OUT);
    assert_null(conn);
    assert_true(took >= 500 && took < 500 + 1000 + 500);
}

static void *write_later(void *arg)
{
    usleep(300 * 1000);
    if (write(*(int *)arg, "x", 1) != 1)
        return arg;
    return NULL;
}

static void test_cancel_fd_stops_query(void **state)
{
    (void)state;
    int fds[2];
    pthread_t t;
    assert_int_equal(pipe(fds), 0);
    pthread_create(&t, NULL, write_later, &fds[1]);
    rb_act_result res;
    long long t0 = rb_act_now_ms();
    call(primary(), "SELECT pg_sleep(30)", (call_opts){.cancel_fd = fds[0]}, &res);
    long long took = rb_act_now_ms() - t0;
    pthread_join(t, NULL);
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(res.outcome, RB_OUT_CANCELLED);
    assert_string_equal(res.errclass, "cancelled");
    assert_true(took >= 300 && took < 1300);
    assert_int_equal(sleeping_queries(), 0);
}

static void test_dry_run_is_read_only(void **state)
{
    (void)state;
    rb_act_result res;
    void *conn = NULL;
    admin_exec(primary_port, "CREATE TABLE dry (v text); GRANT ALL ON dry TO rb");
    call(primary(), "INSERT INTO dry VALUES ($1)",
         (call_opts){.dry_run = 1, .conn = &conn, .params = json_pack("[s]", "x")}, &res);
    assert_int_equal(res.outcome, RB_OUT_FAILED);
    assert_string_equal(res.errclass, "25006");
    assert_string_equal(out_str(&res, "sqlstate"), "25006");
    res_clear(&res);
    char *n = admin_value(primary_port, "SELECT count(*) FROM dry");
    assert_string_equal(n, "0");
    free(n);
    /* a read in a dry run works, and leaves the kept connection outside any transaction */
    call(primary(), "SELECT count(*) FROM dry", (call_opts){.dry_run = 1, .conn = &conn}, &res);
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    assert_string_equal(out_str(&res, "value"), "0");
    res_clear(&res);
    assert_non_null(conn);
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
    rb_sql_ops.disconnect(conn);
}

static void test_connection_is_reused(void **state)
{
    (void)state;
    rb_act_result res;
    void *conn = NULL;
    call(primary(), "SELECT pg_backend_pid()", (call_opts){.conn = &conn}, &res);
    char *first = strdup(out_str(&res, "value"));
    res_clear(&res);
    assert_non_null(conn);
    call(primary(), "SELECT pg_backend_pid()", (call_opts){.conn = &conn}, &res);
    assert_string_equal(out_str(&res, "value"), first);
    res_clear(&res);
    /* a kept connection whose backend was killed is replaced on the next call */
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%s)", first);
    admin_exec(primary_port, sql);
    usleep(100 * 1000);
    call(primary(), "SELECT pg_backend_pid()", (call_opts){.conn = &conn}, &res);
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    assert_string_not_equal(out_str(&res, "value"), first);
    res_clear(&res);
    free(first);
    rb_sql_ops.disconnect(conn);
}

/* ---- sql_literal() and sql_ident() on the connection ---- */

#define AWKWARD "it's a \\back\\slash, \"quoted\" \xe2\x80\x94 Gr\xc3\xbc\xc3\x9f" "e \xe6\x97\xa5\xe6\x9c\xac"

/* The value the server reads back from `SELECT <literal>` on conn. */
static char *selected(void **conn, const char *literal)
{
    char sql[512];
    rb_act_result res;
    snprintf(sql, sizeof sql, "SELECT %s", literal);
    call(primary(), sql, (call_opts){.conn = conn}, &res);
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    char *v = strdup(out_str(&res, "value"));
    res_clear(&res);
    return v;
}

static void round_trips(void **conn, const char *value)
{
    char *lit = rb_sql_ops.escape(*conn, value, strlen(value), 0);
    assert_non_null(lit);
    char *back = selected(conn, lit);
    assert_string_equal(back, value);
    free(back);
    free(lit);
}

static void test_open_then_escape_on_the_connection(void **state)
{
    (void)state;
    rb_act_result res = {0};
    void *conn = NULL;
    json_t *t = primary();
    rb_act_call c = {.target = t, .target_name = "db", .cancel_fd = -1, .conn = &conn,
                     .deadline_ms = rb_act_now_ms() + 20000};
    assert_int_equal(rb_sql_ops.open(&c, &res), 0);
    assert_non_null(conn);
    void *first = conn;
    assert_int_equal(rb_sql_ops.open(&c, &res), 0); /* a live one is kept */
    assert_ptr_equal(conn, first);
    json_decref(t);

    /* libpq's form: a backslash makes an E'' literal with it doubled */
    char *lit = rb_sql_ops.escape(conn, "a\\b'c", 5, 0);
    assert_string_equal(lit, " E'a\\\\b''c'");
    free(lit);
    round_trips(&conn, AWKWARD);
    round_trips(&conn, "plain 'quotes' only");

    /* the same session reading backslashes in '' as escapes: libpq's quoting still holds */
    rb_act_result set;
    call(primary(), "SET standard_conforming_strings = off", (call_opts){.conn = &conn}, &set);
    assert_int_equal(set.outcome, RB_OUT_SUCCEEDED);
    res_clear(&set);
    round_trips(&conn, AWKWARD);
    round_trips(&conn, "plain 'quotes' only");

    /* an identifier with a quote names a column */
    char *id = rb_sql_ops.escape(conn, "we\"ird col", 10, 1);
    assert_string_equal(id, "\"we\"\"ird col\"");
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT 7 AS %s", id);
    call(primary(), sql, (call_opts){.conn = &conn}, &res);
    json_t *row = json_array_get(json_object_get(res.outputs, "rows"), 0);
    assert_string_equal(json_string_value(json_object_get(row, "we\"ird col")), "7");
    res_clear(&res);
    free(id);

    /* the connection knows its encoding: a broken UTF-8 sequence is refused, not passed on */
    assert_null(rb_sql_ops.escape(conn, "bad \xff byte", 10, 0));
    rb_sql_ops.disconnect(conn);
}

/* open fails like run: a closed port is a connection failure, with nothing kept */
static void test_open_refused_is_connect(void **state)
{
    (void)state;
    rb_act_result res = {0};
    void *conn = NULL;
    json_t *t = pg_target(free_port(), PASSWORD, "disable");
    rb_act_call c = {.target = t, .target_name = "db", .cancel_fd = -1, .conn = &conn,
                     .deadline_ms = rb_act_now_ms() + 5000};
    assert_int_equal(rb_sql_ops.open(&c, &res), -1);
    assert_string_equal(res.errclass, "connect");
    assert_null(conn);
    json_decref(t);
}

/* ---- expect ---- */

static void judged(const char *expect_json, const char *value, long long rows, rb_outcome want)
{
    rb_act_result res = {.outcome = RB_OUT_SUCCEEDED};
    res.outputs = json_pack("{s:s?,s:I,s:s}", "value", value, "row_count", (json_int_t)rows, "sqlstate", "");
    json_t *ex = expect_json ? json_loads(expect_json, 0, NULL) : NULL;
    rb_sql_ops.judge(ex, &res);
    assert_int_equal(res.outcome, want);
    if (want == RB_OUT_FAILED)
        assert_string_equal(res.errclass, "expect");
    json_decref(ex);
    res_clear(&res);
}

static void test_judge_value_and_row_count(void **state)
{
    (void)state;
    judged(NULL, "x", 1, RB_OUT_SUCCEEDED);
    judged("{\"value\": \"f\"}", "f", 1, RB_OUT_SUCCEEDED);
    judged("{\"value\": \"f\"}", "t", 1, RB_OUT_FAILED);
    judged("{\"value\": 1}", "1", 1, RB_OUT_SUCCEEDED);
    judged("{\"value\": 1}", "2", 1, RB_OUT_FAILED);
    judged("{\"value\": null}", NULL, 0, RB_OUT_SUCCEEDED);
    judged("{\"row_count\": 3}", "a", 3, RB_OUT_SUCCEEDED);
    judged("{\"row_count\": 3}", "a", 2, RB_OUT_FAILED);
    judged("{\"value\": \"a\", \"row_count\": 2}", "a", 3, RB_OUT_FAILED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_arrive_as_data),
        cmocka_unit_test(test_rows_value_row_count_sqlstate),
        cmocka_unit_test(test_insert_and_update_row_count),
        cmocka_unit_test(test_sql_error_carries_sqlstate),
        cmocka_unit_test(test_large_results_and_copy_are_refused),
        cmocka_unit_test(test_null_and_nul_params),
        cmocka_unit_test(test_standby_is_in_recovery),
        cmocka_unit_test(test_refused_connection_is_connect),
        cmocka_unit_test(test_silent_server_hits_connect_timeout),
        cmocka_unit_test(test_tls_verify_full_with_ca),
        cmocka_unit_test(test_tls_unrelated_ca_is_refused),
        cmocka_unit_test(test_default_sslmode_is_verify_full),
        cmocka_unit_test(test_wrong_password_is_auth_and_masked),
        cmocka_unit_test(test_application_name),
        cmocka_unit_test(test_timeout_cancels_on_server),
        cmocka_unit_test(test_silent_backend_closes_at_hard_deadline),
        cmocka_unit_test(test_cancel_fd_stops_query),
        cmocka_unit_test(test_dry_run_is_read_only),
        cmocka_unit_test(test_connection_is_reused),
        cmocka_unit_test(test_open_then_escape_on_the_connection),
        cmocka_unit_test(test_open_refused_is_connect),
        cmocka_unit_test(test_judge_value_and_row_count),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
