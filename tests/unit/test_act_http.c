/* The http action against real loopback servers (tests/servers/httpd.py): outputs, encoding,
 * bodies, headers and auth, expect, connect/TLS/redirect failures, deadline and cancel, bounded
 * bodies, connection reuse, and secrets that never reach a message or an output. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/servers.h"

#include "runbook/action.h"

#define WATCHDOG_S 100 /* a hung transfer kills the program instead of stalling the suite */
#define CANARY "CANARY-TOKEN-7c1e9b"

enum { PLAIN, TLS_CA, TLS_SELF, NSERVERS };

static char dir[64];
static pid_t pids[NSERVERS];
static int ports[NSERVERS], blackhole_port;
static char record_path[128];

/* ---- servers ---- */



/* API stand-ins: a resource pending once, then ready; a create that answers 201 */
static const char routes_json[] =
    "[{\"method\": \"GET\", \"path\": \"^/api/things/[0-9]+$\", \"times\": 1,"
    "  \"json\": {\"state\": \"pending\"}},"
    " {\"method\": \"GET\", \"path\": \"^/api/things/[0-9]+$\", \"json\": {\"state\": \"ready\"},"
    "  \"headers\": {\"X-Request-Id\": \"r-1\"}},"
    " {\"method\": \"POST\", \"path\": \"/api/things\", \"status\": 201, \"json\": {\"id\": 42}}]";

static int write_routes(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/routes.json", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(routes_json, f);
    return fclose(f);
}

static void start_server(int which, const char *cert, const char *key)
{
    char script[512], portfile[128], bhfile[128], certp[128], keyp[128];
    snprintf(script, sizeof script, "%s/tests/servers/httpd.py", ts_source_dir());
    snprintf(portfile, sizeof portfile, "%s/port%d", dir, which);
    snprintf(bhfile, sizeof bhfile, "%s/blackhole.port", dir);
    snprintf(certp, sizeof certp, "%s/%s", dir, cert ? cert : "");
    snprintf(keyp, sizeof keyp, "%s/%s", dir, key ? key : "");
    char routes[128];
    snprintf(routes, sizeof routes, "%s/routes.json", dir);
    char *plain[] = {"python3", script, "--portfile", portfile, "--record", record_path,
                     "--blackhole-portfile", bhfile, "--routes", routes, NULL};
    char *tls[] = {"python3", script, "--portfile", portfile, "--tls", certp, keyp, NULL};
    pids[which] = ts_spawn(cert ? tls : plain);
}

static void stop_servers(void)
{
    for (int i = 0; i < NSERVERS; i++)
        if (pids[i] > 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
            pids[i] = 0;
        }
    if (dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
        dir[0] = 0;
    }
}

static int group_setup(void **state)
{
    alarm(WATCHDOG_S);
    snprintf(dir, sizeof dir, "/tmp/rb-http-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    atexit(stop_servers);
    char cmd[768], err[128];
    snprintf(cmd, sizeof cmd, "sh '%s/tests/servers/mkcert.sh' '%s' >/dev/null", ts_source_dir(), dir);
    if (system(cmd) != 0)
        return -1;
    snprintf(record_path, sizeof record_path, "%s/record.jsonl", dir);
    if (write_routes() != 0)
        return -1;
    start_server(PLAIN, NULL, NULL);
    start_server(TLS_CA, "server.pem", "server.key");
    start_server(TLS_SELF, "selfsigned.pem", "selfsigned.key");
    for (int i = 0; i < NSERVERS; i++) {
        char file[128];
        snprintf(file, sizeof file, "%s/port%d", dir, i);
        if ((ports[i] = ts_read_port(file)) < 0)
            return -1;
    }
    snprintf(cmd, sizeof cmd, "%s/blackhole.port", dir);
    blackhole_port = ts_read_port(cmd);
    return blackhole_port > 0 && rb_http_ops.global_init(err, sizeof err) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    stop_servers();
    rb_http_ops.global_cleanup();
    return 0;
}

/* ---- calls ---- */

static char *url_of(int which, const char *path)
{
    static char buf[4][512];
    static int next;
    char *out = buf[next++ % 4];
    snprintf(out, 512, "%s://127.0.0.1:%d%s", which == PLAIN ? "http" : "https", ports[which], path);
    return out;
}

typedef struct {
    long long timeout_ms;
    int cancel_fd;
    void **conn;
    long long elapsed_ms;
} call_opts;

/* Runs one call; takes the references to params and target. */
static rb_act_result run_with(json_t *params, json_t *target, call_opts *o)
{
    rb_act_call c = {0};
    c.params = params;
    c.target = target;
    c.deadline_ms = rb_act_now_ms() + (o && o->timeout_ms ? o->timeout_ms : 10000);
    c.cancel_fd = o && o->cancel_fd ? o->cancel_fd : -1;
    c.conn = o ? o->conn : NULL;
    rb_act_result res = {0};
    long long t0 = rb_act_now_ms();
    rb_http_ops.run(&c, &res);
    if (o)
        o->elapsed_ms = rb_act_now_ms() - t0;
    if (getenv("RB_TEST_VERBOSE") && res.outcome != RB_OUT_SUCCEEDED)
        fprintf(stderr, "  -> %s: %s\n", res.errclass, res.message);
    json_decref(params);
    json_decref(target);
    return res;
}

static rb_act_result get(const char *url)
{
    return run_with(json_pack("{ss}", "url", url), NULL, NULL);
}

static json_t *echo_of(const rb_act_result *res)
{
    assert_int_equal(res->outcome, RB_OUT_SUCCEEDED);
    json_t *doc = json_object_get(res->outputs, "json");
    assert_non_null(doc);
    return doc;
}

/* The header `name` as the server got it, by case-insensitive name. */
static const char *echoed_header(const json_t *echo, const char *name)
{
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(echo, "headers"), k, v)
        if (!strcasecmp(k, name))
            return json_string_value(v);
    return NULL;
}

static json_t *last_recorded(void)
{
    FILE *f = fopen(record_path, "r");
    assert_non_null(f);
    char line[65536], last[65536] = "";
    while (fgets(line, sizeof line, f))
        memcpy(last, line, sizeof line);
    fclose(f);
    json_t *doc = json_loads(last, 0, NULL);
    assert_non_null(doc);
    return doc;
}

static void judge(const char *expect_json, rb_act_result *res)
{
    json_t *ex = expect_json ? json_loads(expect_json, 0, NULL) : NULL;
    assert_true(!expect_json || ex);
    rb_http_ops.judge(ex, res);
    json_decref(ex);
}

/* ---- a request and its outputs ---- */

static void test_get_outputs(void **state)
{
    rb_act_result res = get(url_of(PLAIN, "/json"));
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    assert_int_equal(json_integer_value(json_object_get(res.outputs, "status")), 200);
    assert_non_null(strstr(json_string_value(json_object_get(res.outputs, "body")), "\"runbook\""));
    json_t *h = json_object_get(res.outputs, "headers");
    assert_string_equal(json_string_value(json_object_get(h, "content-type")), "application/json");
    json_t *doc = json_object_get(res.outputs, "json");
    assert_string_equal(json_string_value(json_object_get(doc, "name")), "runbook");
    judge(NULL, &res);
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    json_decref(res.outputs);
}

static void test_head_has_no_body(void **state)
{
    rb_act_result res = run_with(json_pack("{ssss}", "url", url_of(PLAIN, "/json"), "method", "HEAD"), NULL, NULL);
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    assert_int_equal(json_integer_value(json_object_get(res.outputs, "status")), 200);
    assert_string_equal(json_string_value(json_object_get(res.outputs, "body")), "");
    assert_null(json_object_get(res.outputs, "json"));
    json_t *rec = last_recorded();
    assert_string_equal(json_string_value(json_object_get(rec, "method")), "HEAD");
    json_decref(rec);
    json_decref(res.outputs);
}

static void test_invalid_utf8_body(void **state)
{
    rb_act_result res = get(url_of(PLAIN, "/bytes?hex=41ff42c3"));
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    const char *body = json_string_value(json_object_get(res.outputs, "body"));
    assert_non_null(body);
    assert_int_equal(body[0], 'A');
    assert_non_null(strstr(body, "\xef\xbf\xbd" "B")); /* U+FFFD stands for the bad byte */
    assert_null(json_object_get(res.outputs, "json"));
    json_decref(res.outputs);
}

static void test_query_percent_encoding(void **state)
{
    const char *tricky = "a&b c=d/e?f#g+h%\xc3\xa9\xe2\x82\xac";
    json_t *p = json_pack("{sss{ssss}}", "url", url_of(PLAIN, "/echo?pre=1"), "query", "k", tricky,
                          "x y&z=", "2");
    rb_act_result res = run_with(p, NULL, NULL);
    json_t *args = json_object_get(echo_of(&res), "args");
    assert_string_equal(json_string_value(json_object_get(args, "k")), tricky);
    assert_string_equal(json_string_value(json_object_get(args, "x y&z=")), "2");
    assert_string_equal(json_string_value(json_object_get(args, "pre")), "1");
    json_decref(res.outputs);
}

static void test_post_json_arrives(void **state)
{
    json_t *body = json_pack("{s[iib]sssn}", "a", 1, 2, 1, "b", "\xc3\xa9 \"q\"", "n");
    json_t *p = json_pack("{ssssso}", "url", url_of(PLAIN, "/echo"), "method", "POST", "json", body);
    rb_act_result res = run_with(p, NULL, NULL);
    if (res.outcome != RB_OUT_SUCCEEDED)
        fail_msg("%s: %s", res.errclass, res.message);
    json_t *rec = last_recorded();
    assert_string_equal(json_string_value(json_object_get(rec, "method")), "POST");
    assert_string_equal(json_string_value(json_object_get(rec, "body")), "{\"a\":[1,2,true],\"b\":\"\xc3\xa9 \\\"q\\\"\",\"n\":null}");
    assert_string_equal(echoed_header(rec, "Content-Type"), "application/json");
    json_decref(rec);
    json_decref(res.outputs);
}

static void test_raw_body_and_own_content_type(void **state)
{
    const char *raw = "line one\nline two & \xc3\xa9\n";
    json_t *p = json_pack("{sssssss{ss}}", "url", url_of(PLAIN, "/echo"), "method", "PUT", "body", raw,
                          "headers", "content-type", "text/x-runbook");
    rb_act_result res = run_with(p, NULL, NULL);
    json_t *echo = echo_of(&res);
    assert_string_equal(json_string_value(json_object_get(echo, "method")), "PUT");
    assert_string_equal(json_string_value(json_object_get(echo, "body")), raw);
    assert_string_equal(echoed_header(echo, "Content-Type"), "text/x-runbook");
    json_decref(res.outputs);
    /* a step's own Content-Type wins over the json default too */
    p = json_pack("{sssss[i]s{ss}}", "url", url_of(PLAIN, "/echo"), "method", "PATCH", "json", 5,
                  "headers", "Content-Type", "application/merge-patch+json");
    res = run_with(p, NULL, NULL);
    echo = echo_of(&res);
    assert_string_equal(json_string_value(json_object_get(echo, "body")), "[5]");
    assert_string_equal(echoed_header(echo, "Content-Type"), "application/merge-patch+json");
    json_decref(res.outputs);
}

static void test_target_headers_and_bearer(void **state)
{
    char base[128];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/", ports[PLAIN]);
    json_t *t = json_pack("{sss{ssss}s{ss}ss}", "base_url", base, "headers", "X-Team", "ops", "X-Over",
                          "target", "auth", "bearer", "tok-123", "kind", "http");
    json_t *p = json_pack("{sss{ss}}", "path", "/echo", "headers", "x-over", "step");
    rb_act_result res = run_with(p, t, NULL);
    json_t *echo = echo_of(&res);
    assert_string_equal(json_string_value(json_object_get(echo, "path")), "/echo");
    assert_string_equal(echoed_header(echo, "Authorization"), "Bearer tok-123");
    assert_string_equal(echoed_header(echo, "X-Team"), "ops");
    assert_string_equal(echoed_header(echo, "X-Over"), "step");
    json_decref(res.outputs);
}

static void test_basic_auth(void **state)
{
    char base[128];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", ports[PLAIN]);
    json_t *t = json_pack("{sss{ssss}}", "base_url", base, "auth", "user", "alice", "password", "s3cret");
    rb_act_result res = run_with(json_pack("{ss}", "path", "echo"), t, NULL);
    json_t *echo = echo_of(&res);
    assert_string_equal(json_string_value(json_object_get(echo, "path")), "/echo");
    assert_string_equal(echoed_header(echo, "Authorization"), "Basic YWxpY2U6czNjcmV0");
    json_decref(res.outputs);
}

/* ---- expect ---- */

static void expect_case(const char *path, const char *expect, rb_outcome want, const char *errclass)
{
    rb_act_result res = get(url_of(PLAIN, path));
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    judge(expect, &res);
    assert_int_equal(res.outcome, want);
    if (errclass)
        assert_string_equal(res.errclass, errclass);
    json_decref(res.outputs);
}

static void test_expect_status(void **state)
{
    expect_case("/status/503", NULL, RB_OUT_FAILED, "503");
    expect_case("/status/429", NULL, RB_OUT_FAILED, "429");
    expect_case("/status/204", NULL, RB_OUT_SUCCEEDED, NULL);
    expect_case("/status/503", "{\"status\": 503}", RB_OUT_SUCCEEDED, NULL);
    expect_case("/status/503", "{\"status\": [200, 503]}", RB_OUT_SUCCEEDED, NULL);
    expect_case("/status/404", "{\"status\": \"4xx\"}", RB_OUT_SUCCEEDED, NULL);
    expect_case("/json", "{\"status\": 201}", RB_OUT_FAILED, "200");
}

static void test_expect_body_and_json(void **state)
{
    expect_case("/json", "{\"body\": \"\\\"name\\\": *\\\"run\"}", RB_OUT_SUCCEEDED, NULL);
    expect_case("/json", "{\"body\": \"^nothing like it$\"}", RB_OUT_FAILED, "expect");
    expect_case("/json", "{\"json\": {\"/n\": 3, \"/ok\": true, \"/items/1/id\": 8, \"/name\": \"runbook\"}}",
                RB_OUT_SUCCEEDED, NULL);
    expect_case("/json", "{\"json\": {\"/n\": 4}}", RB_OUT_FAILED, "expect");
    expect_case("/json", "{\"json\": {\"/missing\": \"x\"}}", RB_OUT_FAILED, "expect");
    expect_case("/status/500", "{\"json\": {\"/status\": 500}}", RB_OUT_FAILED, "500");
}

static const char *state_of(const char *method, const char *path, long long *status)
{
    static char state[32];
    json_t *p = json_pack("{ssss}", "url", url_of(PLAIN, path), "method", method);
    rb_act_result res = run_with(p, NULL, NULL);
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    *status = json_integer_value(json_object_get(res.outputs, "status"));
    json_t *doc = json_object_get(res.outputs, "json");
    json_t *v = json_object_get(doc, "state") ? json_object_get(doc, "state") : json_object_get(doc, "id");
    char *text = rb_act_text_of(v);
    snprintf(state, sizeof state, "%s", text);
    free(text);
    json_decref(res.outputs);
    return state;
}

static void test_routes_script_an_api(void **state)
{
    long long status;
    assert_string_equal(state_of("POST", "/api/things", &status), "42");
    assert_int_equal(status, 201);
    assert_string_equal(state_of("GET", "/api/things/42", &status), "pending");
    assert_string_equal(state_of("GET", "/api/things/42", &status), "ready");
    assert_string_equal(state_of("GET", "/api/things/42", &status), "ready");
    assert_int_equal(status, 200);
    state_of("DELETE", "/api/things/42", &status); /* no route for DELETE: the built-ins say 404 */
    assert_int_equal(status, 404);
}

/* ---- failures ---- */

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s); /* nobody listens there now */
    return ntohs(a.sin_port);
}

static void test_connect_refused(void **state)
{
    char url[128], where[64];
    int port = free_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d/json", port);
    snprintf(where, sizeof where, "cannot connect to 127.0.0.1:%d: Connection refused", port);
    call_opts o = {0};
    rb_act_result res = run_with(json_pack("{ss}", "url", url), NULL, &o);
    assert_int_equal(res.outcome, RB_OUT_FAILED);
    assert_string_equal(res.errclass, "connect");
    assert_non_null(strstr(res.message, where));
    assert_true(o.elapsed_ms < 1000);
    assert_null(res.outputs);
}

static void expect_timeout(const char *url)
{
    call_opts o = {.timeout_ms = 1500};
    rb_act_result res = run_with(json_pack("{ss}", "url", url), NULL, &o);
    assert_int_equal(res.outcome, RB_OUT_TIMED_OUT);
    assert_string_equal(res.errclass, "timeout");
    assert_true(o.elapsed_ms >= 1400 && o.elapsed_ms < 2500);
    json_decref(res.outputs);
}

static void test_blackhole_times_out(void **state)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", blackhole_port);
    expect_timeout(url);
    expect_timeout(url_of(PLAIN, "/blackhole"));
}

static void test_slow_times_out(void **state)
{
    expect_timeout(url_of(PLAIN, "/slow?ms=6000"));
}

static void *cancel_later(void *arg)
{
    usleep(300000);
    if (write(*(int *)arg, "x", 1) != 1)
        abort();
    return NULL;
}

static void test_cancel_stops_at_once(void **state)
{
    int fds[2];
    pthread_t th;
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(pthread_create(&th, NULL, cancel_later, &fds[1]), 0);
    call_opts o = {.timeout_ms = 30000, .cancel_fd = fds[0]};
    rb_act_result res = run_with(json_pack("{ss}", "url", url_of(PLAIN, "/slow?ms=10000")), NULL, &o);
    pthread_join(th, NULL);
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(res.outcome, RB_OUT_CANCELLED);
    assert_string_equal(res.errclass, "cancelled");
    assert_true(o.elapsed_ms >= 250 && o.elapsed_ms < 1300);
}

/* ---- TLS ---- */

static json_t *tls_target(int which, const char *ca, const char *insecure)
{
    char base[128], ca_path[128];
    snprintf(base, sizeof base, "https://127.0.0.1:%d", ports[which]);
    snprintf(ca_path, sizeof ca_path, "%s/%s", dir, ca ? ca : "");
    json_t *t = json_pack("{ssss}", "base_url", base, "kind", "http");
    if (ca)
        json_object_set_new(t, "ca", json_string(ca_path));
    if (insecure)
        json_object_set_new(t, "insecure", json_string(insecure));
    return t;
}

static void test_https_with_ca(void **state)
{
    rb_act_result res = run_with(json_pack("{ss}", "path", "/json"), tls_target(TLS_CA, "ca.pem", "false"), NULL);
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    assert_int_equal(json_integer_value(json_object_get(res.outputs, "status")), 200);
    json_decref(res.outputs);
    /* without ca: the private CA is not trusted */
    res = run_with(json_pack("{ss}", "path", "/json"), tls_target(TLS_CA, NULL, NULL), NULL);
    assert_int_equal(res.outcome, RB_OUT_FAILED);
    assert_string_equal(res.errclass, "tls");
}

static void test_https_self_signed_refused(void **state)
{
    rb_act_result res = run_with(json_pack("{ss}", "path", "/json"), tls_target(TLS_SELF, NULL, NULL), NULL);
    assert_int_equal(res.outcome, RB_OUT_FAILED);
    assert_string_equal(res.errclass, "tls");
    assert_non_null(strstr(res.message, "self-signed certificate"));
    assert_non_null(strstr(res.message, "ca:"));
    assert_null(res.outputs);
}

static void test_https_insecure_passes(void **state)
{
    rb_act_result res = run_with(json_pack("{ss}", "path", "/json"), tls_target(TLS_SELF, NULL, "true"), NULL);
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    assert_int_equal(json_integer_value(json_object_get(res.outputs, "status")), 200);
    json_decref(res.outputs);
}

/* ---- redirects ---- */

static void test_redirect_not_followed_by_default(void **state)
{
    rb_act_result res = get(url_of(PLAIN, "/redirect?to=/json"));
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    assert_int_equal(json_integer_value(json_object_get(res.outputs, "status")), 302);
    json_t *h = json_object_get(res.outputs, "headers");
    assert_string_equal(json_string_value(json_object_get(h, "location")), "/json");
    judge(NULL, &res);
    assert_string_equal(res.errclass, "302");
    json_decref(res.outputs);
}

static void test_redirect_followed_when_asked(void **state)
{
    json_t *p = json_pack("{sssb}", "url", url_of(PLAIN, "/redirect?to=/json"), "follow_redirects", 1);
    rb_act_result res = run_with(p, NULL, NULL);
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    assert_int_equal(json_integer_value(json_object_get(res.outputs, "status")), 200);
    const char *name = json_string_value(json_object_get(json_object_get(res.outputs, "json"), "name"));
    assert_string_equal(name, "runbook");
    json_decref(res.outputs);
}

static void test_redirect_to_file_refused(void **state)
{
    json_t *p = json_pack("{sssb}", "url", url_of(PLAIN, "/redirect?to=file:///etc/passwd"), "follow_redirects", 1);
    rb_act_result res = run_with(p, NULL, NULL);
    assert_int_equal(res.outcome, RB_OUT_FAILED);
    assert_string_equal(res.errclass, "refused");
    assert_non_null(strstr(res.message, "not http or https"));
    assert_null(res.outputs);
    /* and a file: URL given directly */
    res = get("file:///etc/passwd");
    assert_int_equal(res.outcome, RB_OUT_FAILED);
    assert_string_equal(res.errclass, "refused");
    assert_null(res.outputs);
}

/* ---- bounds ---- */

static void test_chunked_body_bounded(void **state)
{
    rb_act_result res = get(url_of(PLAIN, "/chunked?bytes=100000"));
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    assert_int_equal(json_string_length(json_object_get(res.outputs, "body")), 100000);
    json_decref(res.outputs);
    res = get(url_of(PLAIN, "/chunked?bytes=9437184"));
    assert_int_equal(res.outcome, RB_OUT_FAILED);
    assert_non_null(strstr(res.message, "the response body is larger than 8 MiB"));
    assert_null(res.outputs);
}

static void test_repeated_and_bounded_headers(void **state)
{
    rb_act_result res = get(url_of(PLAIN, "/headers?X-Rep=a&x-rep=b%2C%20c&X-One=1"));
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    json_t *h = json_object_get(res.outputs, "headers");
    assert_string_equal(json_string_value(json_object_get(h, "x-rep")), "a, b, c");
    assert_string_equal(json_string_value(json_object_get(h, "x-one")), "1");
    json_decref(res.outputs);
    res = get(url_of(PLAIN, "/bigheaders?kb=300"));
    assert_int_equal(res.outcome, RB_OUT_FAILED);
    assert_non_null(strstr(res.message, "headers are larger than 256 KiB"));
    assert_null(res.outputs);
}

/* ---- connection reuse ---- */

static long long conn_id(void **slot)
{
    call_opts o = {.conn = slot};
    rb_act_result res = run_with(json_pack("{ss}", "url", url_of(PLAIN, "/conn")), NULL, &o);
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    long long id = json_integer_value(json_object_get(json_object_get(res.outputs, "json"), "conn"));
    json_decref(res.outputs);
    assert_true(id > 0);
    return id;
}

static void test_slot_reuses_one_connection(void **state)
{
    void *slot = NULL;
    long long first = conn_id(&slot);
    assert_non_null(slot);
    for (int i = 1; i < 50; i++)
        assert_int_equal(conn_id(&slot), first);
    /* a transfer stopped by its deadline leaves the slot usable */
    call_opts o = {.timeout_ms = 300, .conn = &slot};
    rb_act_result res = run_with(json_pack("{ss}", "url", url_of(PLAIN, "/slow?ms=2000")), NULL, &o);
    assert_int_equal(res.outcome, RB_OUT_TIMED_OUT);
    long long after = conn_id(&slot);
    assert_true(after > first);
    assert_int_equal(conn_id(&slot), after);
    rb_http_ops.disconnect(slot);
    /* without a slot, each call opens its own */
    long long a = conn_id(NULL), b = conn_id(NULL);
    assert_true(a != b && a != first);
}

/* ---- secrets ---- */

static void assert_no_canary(const rb_act_result *res)
{
    assert_null(strstr(res->message, CANARY));
    char *dump = res->outputs ? json_dumps(res->outputs, 0) : NULL;
    assert_true(!dump || !strstr(dump, CANARY));
    free(dump);
}

static void canary_case(const char *base, const char *path, const char *insecure, rb_outcome want)
{
    json_t *t = json_pack("{sss{ss}s{ss}}", "base_url", base, "auth", "bearer", CANARY, "headers", "X-Api-Key", CANARY);
    if (insecure)
        json_object_set_new(t, "insecure", json_string(insecure));
    rb_act_result res = run_with(json_pack("{ss}", "path", path), t, NULL);
    if (res.outcome == RB_OUT_SUCCEEDED)
        judge(NULL, &res);
    assert_int_equal(res.outcome, want);
    assert_no_canary(&res);
    json_decref(res.outputs);
}

static void test_secret_canary(void **state)
{
    char refused[128], plain[128], self[128], userinfo[160];
    snprintf(refused, sizeof refused, "http://127.0.0.1:%d", free_port());
    snprintf(plain, sizeof plain, "http://127.0.0.1:%d", ports[PLAIN]);
    snprintf(self, sizeof self, "https://127.0.0.1:%d", ports[TLS_SELF]);
    snprintf(userinfo, sizeof userinfo, "http://user:%s@127.0.0.1:%d", CANARY, free_port());
    canary_case(refused, "/x", NULL, RB_OUT_FAILED);
    canary_case(plain, "/status/401", NULL, RB_OUT_FAILED);
    canary_case(self, "/status/401", NULL, RB_OUT_FAILED);
    canary_case(userinfo, "/x", NULL, RB_OUT_FAILED);
    canary_case(plain, "/redirect?to=file:///etc/passwd", NULL, RB_OUT_FAILED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_outputs),
        cmocka_unit_test(test_head_has_no_body),
        cmocka_unit_test(test_invalid_utf8_body),
        cmocka_unit_test(test_query_percent_encoding),
        cmocka_unit_test(test_post_json_arrives),
        cmocka_unit_test(test_raw_body_and_own_content_type),
        cmocka_unit_test(test_target_headers_and_bearer),
        cmocka_unit_test(test_basic_auth),
        cmocka_unit_test(test_expect_status),
        cmocka_unit_test(test_expect_body_and_json),
        cmocka_unit_test(test_routes_script_an_api),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_blackhole_times_out),
        cmocka_unit_test(test_slow_times_out),
        cmocka_unit_test(test_cancel_stops_at_once),
        cmocka_unit_test(test_https_with_ca),
        cmocka_unit_test(test_https_self_signed_refused),
        cmocka_unit_test(test_https_insecure_passes),
        cmocka_unit_test(test_redirect_not_followed_by_default),
        cmocka_unit_test(test_redirect_followed_when_asked),
        cmocka_unit_test(test_redirect_to_file_refused),
        cmocka_unit_test(test_chunked_body_bounded),
        cmocka_unit_test(test_repeated_and_bounded_headers),
        cmocka_unit_test(test_slot_reuses_one_connection),
        cmocka_unit_test(test_secret_canary),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
