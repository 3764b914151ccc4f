/* The http action's request: the URL (base_url + path, a percent-encoded query), the merged
 * headers (auth, then the target's, then the step's, later names winning case-insensitively),
 * the body, and every libcurl option the call needs. Nothing here echoes a secret. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_internal.h"
#include "runbook/jsonstr.h"

static const char *str_of(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* url, or base_url + path joined by exactly one '/'. */
static char *joined_url(const rb_act_call *c)
{
    const char *url = str_of(c->params, "url"), *base = str_of(c->target, "base_url");
    const char *path = str_of(c->params, "path");
    if (url)
        return strdup(url);
    if (!base)
        return NULL;
    size_t bl = strlen(base);
    if (!path || !*path)
        return strdup(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    while (*path == '/')
        path++;
    char *out = NULL;
    return asprintf(&out, "%.*s/%s", (int)bl, base, path) < 0 ? NULL : out;
}

/* Each key and value escaped by libcurl, appended as k=v with '&' between. */
static int append_query(CURLU *u, CURL *easy, const json_t *query)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)query, k, v)
    {
        char *ek = curl_easy_escape(easy, k, 0);
        const char *raw = json_string_value(v);
        char *ev = curl_easy_escape(easy, raw ? raw : "", 0), *kv = NULL;
        int ok = ek && ev && asprintf(&kv, "%s=%s", ek, ev) >= 0;
        ok = ok && curl_url_set(u, CURLUPART_QUERY, kv, CURLU_APPENDQUERY) == CURLUE_OK;
        curl_free(ek);
        curl_free(ev);
        free(ok ? kv : NULL);
        if (!ok)
            return -1;
    }
    return 0;
}

/* The URL as messages show it: credentials, query and fragment dropped. */
static void shown_url(CURLU *u, char *out, size_t len)
{
    CURLU *d = curl_url_dup(u);
    char *s = NULL;
    if (d) {
        curl_url_set(d, CURLUPART_USER, NULL, 0);
        curl_url_set(d, CURLUPART_PASSWORD, NULL, 0);
        curl_url_set(d, CURLUPART_QUERY, NULL, 0);
        curl_url_set(d, CURLUPART_FRAGMENT, NULL, 0);
        curl_url_get(d, CURLUPART_URL, &s, 0);
    }
    snprintf(out, len, "%s", s ? s : "the URL");
    curl_free(s);
    curl_url_cleanup(d);
}

static int scheme_allowed(CURLU *u)
{
    char *scheme = NULL;
    int ok = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
             (!strcasecmp(scheme, "http") || !strcasecmp(scheme, "https"));
    curl_free(scheme);
    return ok;
}

static int build_url(const rb_act_call *c, CURL *easy, http_request *rq, rb_act_result *res)
{
    char *joined = joined_url(c);
    if (!joined) {
        rb_act_fail(res, RB_OUT_FAILED, "refused", "an http step needs \"url\", or a target with base_url");
        return -1;
    }
    CURLU *u = curl_url();
    CURLUcode uc = u ? curl_url_set(u, CURLUPART_URL, joined, 0) : CURLUE_OUT_OF_MEMORY;
    free(joined);
    int rc = -1;
    if (uc != CURLUE_OK)
        rb_act_fail(res, RB_OUT_FAILED, "refused", "the URL is not valid: %s", curl_url_strerror(uc));
    else if (shown_url(u, rq->shown, sizeof rq->shown), !scheme_allowed(u))
        rb_act_fail(res, RB_OUT_FAILED, "refused", "only http and https URLs are allowed: %s", rq->shown);
    else if (append_query(u, easy, json_object_get(c->params, "query")) != 0)
        rb_act_fail(res, RB_OUT_FAILED, "refused", "cannot add the query to %s", rq->shown);
    else if (curl_url_get(u, CURLUPART_URL, &rq->url, 0) != CURLUE_OK)
        rb_act_fail(res, RB_OUT_FAILED, "refused", "the URL is not valid: %s", rq->shown);
    else
        rc = 0;
    curl_url_cleanup(u);
    return rc;
}

/* ---- headers ---- */

static const char *find_header(const json_t *h, const char *name)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)h, k, v)
        if (!strcasecmp(k, name))
            return k;
    return NULL;
}

static void put_header(json_t *h, const char *name, json_t *value)
{
    const char *old = find_header(h, name);
    if (old)
        json_object_del(h, old);
    json_object_set(h, name, value);
}

static void put_all(json_t *h, const json_t *from)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)from, k, v)
        if (json_is_string(v))
            put_header(h, k, v);
}

static int header_name_ok(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s <= ' ' || *s >= 127 || *s == ':')
            return 0;
    return 1;
}

/* A line break in a value would start a header of its own: refuse it. The value is never shown. */
static int to_slist(const json_t *h, struct curl_slist **list, rb_act_result *res)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)h, k, v)
    {
        const char *val = json_string_value(v);
        if (!header_name_ok(k) || strlen(val) != json_string_length(v) || strpbrk(val, "\r\n")) {
            rb_act_fail(res, RB_OUT_FAILED, "refused", "the header \"%.60s\" has a name or value that cannot be sent", k);
            return -1;
        }
        char *line = NULL;
        /* "Name;" is curl's way to send a header with an empty value */
        if ((*val ? asprintf(&line, "%s: %s", k, val) : asprintf(&line, "%s;", k)) < 0)
            return -1;
        struct curl_slist *next = curl_slist_append(*list, line);
        free(line);
        if (!next)
            return -1;
        *list = next;
    }
    return 0;
}

static json_t *merged_headers(const rb_act_call *c)
{
    json_t *h = json_object();
    const char *bearer = str_of(json_object_get(c->target, "auth"), "bearer");
    if (bearer) {
        json_t *v = json_sprintf("Bearer %s", bearer);
        put_header(h, "Authorization", v);
        json_decref(v);
    }
    put_all(h, json_object_get(c->target, "headers"));
    put_all(h, json_object_get(c->params, "headers"));
    return h;
}

/* ---- body and method ---- */

static int build_body(const rb_act_call *c, json_t *headers, http_request *rq, rb_act_result *res)
{
    const json_t *js = json_object_get(c->params, "json"), *raw = json_object_get(c->params, "body");
    if (js && raw) {
        rb_act_fail(res, RB_OUT_FAILED, "refused", "give either \"json\" or \"body\", not both");
        return -1;
    }
    if (js) {
        rq->body = json_dumps(js, JSON_COMPACT | JSON_ENCODE_ANY);
        rq->body_len = rq->body ? strlen(rq->body) : 0;
        if (!find_header(headers, "Content-Type"))
            json_object_set_new(headers, "Content-Type", json_string("application/json"));
    } else if (json_is_string(raw)) {
        rq->body_len = json_string_length(raw);
        rq->body = malloc(rq->body_len + 1);
        if (rq->body)
            memcpy(rq->body, json_string_value(raw), rq->body_len + 1);
    }
    return 0;
}

static void set_method(CURL *easy, const char *method, const http_request *rq)
{
    if (!method)
        method = "GET";
    if (!strcasecmp(method, "HEAD"))
        curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    else if (strcasecmp(method, "GET") || rq->body)
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
    if (rq->body) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, rq->body);
    } else if (!strcasecmp(method, "POST")) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "");
    }
}

/* ---- response callbacks ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    http_response *rs = ud;
    size_t len = size * n;
    if (len > HTTP_BODY_MAX - rs->len) {
        rs->body_over = 1;
        return 0; /* stops the transfer: chunked bodies have no length to refuse up front */
    }
    if (rs->len + len + 1 > rs->cap) {
        size_t cap = rs->cap ? rs->cap : 16384;
        while (cap < rs->len + len + 1)
            cap *= 2;
        char *grown = realloc(rs->body, cap);
        if (!grown)
            return 0;
        rs->body = grown;
        rs->cap = cap;
    }
    memcpy(rs->body + rs->len, p, len);
    rs->len += len;
    rs->body[rs->len] = 0;
    return len;
}

/* name lower-cased into out; 0 when it is not a token worth keeping */
static int header_name(const char *p, size_t len, char *out, size_t cap)
{
    if (!len || len >= cap)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch <= ' ' || ch >= 127)
            return 0;
        out[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    out[len] = 0;
    return 1;
}

static void add_header_value(json_t *headers, const char *name, const char *v, size_t vlen)
{
    const json_t *old = json_object_get(headers, name);
    size_t olen = json_string_length(old), sep = old ? 2 : 0;
    char *joined = malloc(olen + sep + vlen + 1);
    if (!joined)
        return;
    memcpy(joined, old ? json_string_value(old) : "", olen);
    memcpy(joined + olen, ", ", sep);
    memcpy(joined + olen + sep, v, vlen);
    json_object_set_new(headers, name, rb_json_string_lossy(joined, olen + sep + vlen));
    free(joined);
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    http_response *rs = ud;
    size_t len = size * n;
    rs->head_bytes += len;
    if (rs->head_bytes > HTTP_HEADERS_MAX)
        return rs->head_over = 1, 0;
    if (len >= 5 && !memcmp(p, "HTTP/", 5)) {
        json_object_clear(rs->headers); /* a new response: 100 Continue or a followed redirect */
        return len;
    }
    const char *colon = memchr(p, ':', len);
    char name[128];
    if (!colon || !header_name(p, (size_t)(colon - p), name, sizeof name))
        return len;
    const char *v = colon + 1, *end = p + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    add_header_value(rs->headers, name, v, (size_t)(end - v));
    return len;
}

/* ---- options ---- */

static void set_tls(CURL *easy, const json_t *target)
{
    const char *ca = str_of(target, "ca"), *insecure = str_of(target, "insecure");
    int off = insecure && !strcmp(insecure, "true");
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, off ? 0L : 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, off ? 0L : 2L);
    if (ca)
        curl_easy_setopt(easy, CURLOPT_CAINFO, ca);
}

static void set_auth(CURL *easy, const json_t *target)
{
    const json_t *auth = json_object_get(target, "auth");
    const char *user = str_of(auth, "user"), *password = str_of(auth, "password");
    if (!user || !password)
        return;
    curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(easy, CURLOPT_USERNAME, user);
    curl_easy_setopt(easy, CURLOPT_PASSWORD, password);
}

static void set_limits(const rb_act_call *c, CURL *easy)
{
    long long left = rb_act_remaining_ms(c);
    long ms = left < 0 ? HTTP_NO_DEADLINE_MS : (long)left; /* curl's own default is no limit */
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, ms);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    json_t *follow = json_object_get(c->params, "follow_redirects");
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, json_is_true(follow) ? 1L : 0L);
    curl_easy_setopt(easy, CURLOPT_MAXREDIRS, HTTP_MAX_REDIRECTS);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
}

static void set_io(CURL *easy, http_request *rq, http_response *rs)
{
    curl_easy_setopt(easy, CURLOPT_URL, rq->url);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, rq->errbuf);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, rs);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, rs);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, rq->headers);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "runbook/" RUNBOOK_VERSION);
}

int http_request_prepare(const rb_act_call *c, CURL *easy, http_request *rq, http_response *rs,
                         rb_act_result *res)
{
    curl_easy_reset(easy);
    if (build_url(c, easy, rq, res) != 0)
        return -1;
    json_t *headers = merged_headers(c);
    int rc = build_body(c, headers, rq, res);
    if (rc == 0 && to_slist(headers, &rq->headers, res) != 0)
        rc = -1;
    /* curl would wait for a 100 Continue on large bodies; servers that never send one stall it.
     * "Expect:" with nothing after it tells curl to send no such header. */
    if (rc == 0 && rq->body && !find_header(headers, "Expect")) {
        struct curl_slist *next = curl_slist_append(rq->headers, "Expect:");
        rq->headers = next ? next : rq->headers;
    }
    json_decref(headers);
    if (rc != 0)
        return -1;
    set_method(easy, str_of(c->params, "method"), rq);
    set_tls(easy, c->target);
    set_auth(easy, c->target);
    set_limits(c, easy);
    set_io(easy, rq, rs);
    return 0;
}

void http_request_free(http_request *rq)
{
    curl_free(rq->url);
    curl_slist_free_all(rq->headers);
    free(rq->body);
}
