/* The http action: one request through libcurl's multi interface, so that the run's cancel fd
 * and the call's deadline stop it at once; a connection slot per target keeps the multi handle
 * (and its connection cache) for the whole run. Outputs: status, headers, body, json. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"
#include "runbook/jsonstr.h"

#define HTTP_POLL_MS 50 /* how often the loop looks at a cancel token that has no fd */

/* ---- the connection slot ---- */

static void conn_free(void *conn)
{
    http_conn *hc = conn;
    if (!hc)
        return;
    if (hc->multi)
        curl_multi_cleanup(hc->multi);
    if (hc->easy)
        curl_easy_cleanup(hc->easy);
    free(hc);
}

static http_conn *conn_new(void)
{
    http_conn *hc = calloc(1, sizeof *hc);
    if (!hc)
        return NULL;
    hc->multi = curl_multi_init();
    hc->easy = curl_easy_init();
    if (!hc->multi || !hc->easy) {
        conn_free(hc);
        return NULL;
    }
    return hc;
}

/* The slot's connection, opened on first use; a call without a slot gets one of its own. */
static http_conn *conn_get(const rb_act_call *c)
{
    if (!c->conn)
        return conn_new();
    if (!*c->conn)
        *c->conn = conn_new();
    return *c->conn;
}

/* ---- the transfer ---- */

static int finished(CURLM *multi, CURLcode *code)
{
    int left;
    CURLMsg *m;
    while ((m = curl_multi_info_read(multi, &left)))
        if (m->msg == CURLMSG_DONE) {
            *code = m->data.result;
            return 1;
        }
    return 0;
}

static int wait_ms(const rb_act_call *c)
{
    long long left = rb_act_remaining_ms(c);
    int cap = c->cancel && c->cancel_fd < 0 ? HTTP_POLL_MS : 1000;
    return left >= 0 && left < cap ? (int)left : cap;
}

rb_outcome http_transfer(const rb_act_call *c, http_conn *hc, CURLcode *code)
{
    rb_outcome out = RB_OUT_SUCCEEDED;
    curl_multi_add_handle(hc->multi, hc->easy);
    for (;;) {
        int running;
        CURLMcode mc = curl_multi_perform(hc->multi, &running);
        if (mc != CURLM_OK) {
            *code = CURLE_OUT_OF_MEMORY;
            break;
        }
        if (finished(hc->multi, code))
            break;
        if (rb_act_cancelled(c)) {
            out = RB_OUT_CANCELLED;
            break;
        }
        if (rb_act_remaining_ms(c) == 0) {
            out = RB_OUT_TIMED_OUT;
            break;
        }
        /* the cancel fd wakes the wait itself, so a cancel stops the transfer at once */
        struct curl_waitfd wfd = {c->cancel_fd, CURL_WAIT_POLLIN, 0};
        curl_multi_poll(hc->multi, c->cancel_fd >= 0 ? &wfd : NULL, c->cancel_fd >= 0 ? 1 : 0,
                        wait_ms(c), NULL);
    }
    /* removing an unfinished transfer closes its connection: nothing half-read is reused */
    curl_multi_remove_handle(hc->multi, hc->easy);
    return out;
}

/* ---- failures ---- */

/* host:port of the URL curl last worked on (a redirect may have moved it) */
static void host_port(CURL *easy, char *out, size_t len)
{
    char *eff = NULL, *host = NULL, *port = NULL;
    curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &eff);
    CURLU *u = curl_url();
    if (u && eff && curl_url_set(u, CURLUPART_URL, eff, 0) == CURLUE_OK) {
        curl_url_get(u, CURLUPART_HOST, &host, 0);
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    }
    snprintf(out, len, "%s:%s", host ? host : "?", port ? port : "?");
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

static void fail_connect(CURL *easy, CURLcode code, const http_request *rq, rb_act_result *res)
{
    char where[160];
    host_port(easy, where, sizeof where);
    long os_errno = 0;
    curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
    if (code == CURLE_COULDNT_RESOLVE_HOST)
        rb_act_fail(res, RB_OUT_FAILED, "connect", "cannot connect to %s: the host name does not resolve", where);
    else
        rb_act_fail(res, RB_OUT_FAILED, "connect", "cannot connect to %s: %s", where,
                    os_errno ? strerror((int)os_errno) : rq->errbuf[0] ? rq->errbuf : curl_easy_strerror(code));
}

static int is_tls_error(CURLcode code)
{
    switch (code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
        return 1;
    default:
        return 0;
    }
}

static const char *why(CURLcode code, const http_request *rq)
{
    return rq->errbuf[0] ? rq->errbuf : curl_easy_strerror(code);
}

void http_fail_curl(CURL *easy, CURLcode code, const http_request *rq, const http_response *rs,
                    rb_act_result *res)
{
    if (rs->body_over)
        rb_act_fail(res, RB_OUT_FAILED, "refused", "the response body is larger than " HTTP_BODY_MAX_TEXT " (%s)", rq->shown);
    else if (rs->head_over)
        rb_act_fail(res, RB_OUT_FAILED, "refused", "the response headers are larger than %u KiB (%s)", HTTP_HEADERS_MAX >> 10, rq->shown);
    else if (code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST)
        fail_connect(easy, code, rq, res);
    else if (code == CURLE_OPERATION_TIMEDOUT)
        rb_act_fail(res, RB_OUT_TIMED_OUT, "timeout", "%s did not answer in time", rq->shown);
    else if (is_tls_error(code))
        rb_act_fail(res, RB_OUT_FAILED, "tls", "TLS with %s failed: %s (for a private CA, set the target's ca: to its certificate)", rq->shown, why(code, rq));
    else if (code == CURLE_UNSUPPORTED_PROTOCOL)
        rb_act_fail(res, RB_OUT_FAILED, "refused", "%s redirected to a URL that is not http or https; it was not followed (%s)", rq->shown, why(code, rq));
    else if (code == CURLE_TOO_MANY_REDIRECTS)
        rb_act_fail(res, RB_OUT_FAILED, "redirect", "%s redirected more than %ld times", rq->shown, HTTP_MAX_REDIRECTS);
    else
        rb_act_fail(res, RB_OUT_FAILED, "io", "%s failed: %s", rq->shown, why(code, rq));
}

/* ---- outputs ---- */

static json_t *outputs_of(CURL *easy, http_response *rs)
{
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    json_t *out = json_object();
    json_object_set_new(out, "status", json_integer(status));
    json_object_set(out, "headers", rs->headers);
    json_object_set_new(out, "body", rb_json_string_lossy(rs->body ? rs->body : "", rs->len));
    json_t *doc = rs->len ? json_loadb(rs->body, rs->len, JSON_DECODE_ANY, NULL) : NULL;
    if (doc)
        json_object_set_new(out, "json", doc);
    return out;
}

static void conclude(rb_outcome o, CURLcode code, CURL *easy, http_request *rq, http_response *rs,
                     rb_act_result *res)
{
    if (o == RB_OUT_CANCELLED)
        rb_act_fail(res, o, "cancelled", "cancelled");
    else if (o == RB_OUT_TIMED_OUT)
        rb_act_fail(res, o, "timeout", "%s did not answer in time", rq->shown);
    else if (code != CURLE_OK)
        http_fail_curl(easy, code, rq, rs, res);
    else {
        res->outcome = RB_OUT_SUCCEEDED;
        res->outputs = outputs_of(easy, rs);
    }
}

static void run_on(const rb_act_call *c, http_conn *hc, rb_act_result *res)
{
    long long t0 = rb_act_now_ms();
    http_request rq = {0};
    http_response rs = {0};
    rs.headers = json_object();
    CURLcode code = CURLE_OK;
    if (http_request_prepare(c, hc->easy, &rq, &rs, res) == 0) {
        rb_outcome o = http_transfer(c, hc, &code);
        conclude(o, code, hc->easy, &rq, &rs, res);
    }
    /* our deadline or curl's: either way, say how long it waited */
    if (res->outcome == RB_OUT_TIMED_OUT)
        snprintf(res->message, sizeof res->message, "%s did not answer within %lld ms", rq.shown,
                 rb_act_now_ms() - t0);
    /* the easy handle keeps pointers to these until its next reset */
    curl_easy_reset(hc->easy);
    http_request_free(&rq);
    free(rs.body);
    json_decref(rs.headers);
}

static int run_http(const rb_act_call *c, rb_act_result *res)
{
    if (rb_act_remaining_ms(c) == 0) {
        rb_act_fail(res, RB_OUT_TIMED_OUT, "timeout", "the step's deadline passed before the request");
        return 0;
    }
    http_conn *hc = conn_get(c);
    if (!hc) {
        rb_act_fail(res, RB_OUT_FAILED, "io", "out of memory for an http connection");
        return -1;
    }
    run_on(c, hc, res);
    if (!c->conn)
        conn_free(hc);
    return 0;
}

/* ---- expect ---- */

/* expect.json: RFC 6901 pointer -> expected scalar, compared as text */
static void judge_json(const json_t *want, rb_act_result *res)
{
    const json_t *doc = json_object_get(res->outputs, "json");
    const char *ptr;
    json_t *w;
    json_object_foreach((json_t *)want, ptr, w)
    {
        char *got = rb_act_text_of(rb_json_pointer_get(doc, ptr)), *exp = rb_act_text_of(w);
        int ok = got && exp && !strcmp(got, exp);
        if (!ok)
            rb_act_fail(res, RB_OUT_FAILED, "expect", "the JSON at %.60s is not %.60s", ptr, exp ? exp : "?");
        free(got);
        free(exp);
        if (!ok)
            return;
    }
}

static void judge_http(const json_t *expect, rb_act_result *res)
{
    if (rb_act_judge_code_and_text(expect, res, "status", 2, "HTTP status", "body") == 0)
        judge_json(json_object_get(expect, "json"), res);
}

static int http_global_init(char *err, size_t errlen)
{
    CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (code == CURLE_OK)
        return 0;
    snprintf(err, errlen, "libcurl cannot start: %s", curl_easy_strerror(code));
    return -1;
}

/* "would send: POST https://api/v1/x" with its query and body; headers are left out (the auth
 * travels there). */
static void preview_http(const rb_act_call *c, rb_act_preview *p)
{
    const char *url = json_string_value(json_object_get(c->params, "url"));
    const char *base = json_string_value(json_object_get(c->target, "base_url"));
    const char *path = json_string_value(json_object_get(c->params, "path"));
    const char *method = json_string_value(json_object_get(c->params, "method")), *k;
    json_t *v, *json = json_object_get(c->params, "json"), *body = json_object_get(c->params, "body");
    rb_act_say(p, "would send: %s %s%s%s", method ? method : "GET", url ? url : base ? base : "?",
               !url && path && *path != '/' ? "/" : "", !url && path ? path : "");
    char sep = '?';
    json_object_foreach(json_object_get(c->params, "query"), k, v)
    {
        rb_act_say(p, "%c%s=%s", sep, k, json_string_value(v) ? json_string_value(v) : "");
        sep = '&';
    }
    rb_act_say_n(p, "\n", 1);
    char *text = json ? json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (text || json_is_string(body)) {
        const char *b = text ? text : json_string_value(body);
        size_t n = strlen(b);
        rb_act_say(p, "  body: %.*s%s\n", (int)(n > 600 ? 600 : n), b, n > 600 ? "..." : "");
    }
    free(text);
}

const rb_action_ops rb_http_ops = {
    .global_init = http_global_init,
    .global_cleanup = curl_global_cleanup,
    .run = run_http,
    .judge = judge_http,
    .disconnect = conn_free,
    .preview = preview_http,
};
