/* What the http action's files share: the per-target connection (a multi handle whose
 * connection cache outlives each call, and one easy handle reset per call), the request as
 * built from params and target, and the bounded response. Private to src/actions/http*.c. */
#ifndef RUNBOOK_ACTIONS_HTTP_INTERNAL_H
#define RUNBOOK_ACTIONS_HTTP_INTERNAL_H

#include <curl/curl.h>
#include <jansson.h>

#include "runbook/action.h"

#define HTTP_BODY_MAX (8u << 20)     /* a response body past this fails the call */
#define HTTP_BODY_MAX_TEXT "8 MiB"
#define HTTP_HEADERS_MAX (256u << 10) /* all response header lines together */
#define HTTP_NO_DEADLINE_MS 300000    /* cap when a call comes without a deadline */
#define HTTP_MAX_REDIRECTS 10L

typedef struct http_conn {
    CURLM *multi; /* owns the connection cache: kept across calls, so keep-alive works */
    CURL *easy;   /* reset before each call */
} http_conn;

typedef struct http_request {
    char *url;                   /* full URL with the query appended (malloc'd) */
    char shown[200];             /* the URL for messages: no userinfo, query or fragment */
    struct curl_slist *headers;  /* owned */
    char *body;                  /* owned; NULL: no body */
    size_t body_len;
    char errbuf[CURL_ERROR_SIZE];
} http_request;

typedef struct http_response {
    char *body;
    size_t len, cap;
    size_t head_bytes;
    int body_over, head_over; /* a bound was hit: the transfer was stopped */
    json_t *headers;          /* lower-case name -> value; repeats joined by ", " */
} http_response;

/* Builds the request and sets every option on hc->easy (after curl_easy_reset). 0, or -1 with
 * res failed ("refused" for what the call itself gets wrong). */
int http_request_prepare(const rb_act_call *c, CURL *easy, http_request *rq, http_response *rs,
                         rb_act_result *res);
void http_request_free(http_request *rq);

/* Runs the prepared transfer on hc until done, cancelled or past the deadline. Returns
 * RB_OUT_SUCCEEDED with *code set when curl finished (well or not), RB_OUT_CANCELLED or
 * RB_OUT_TIMED_OUT when the call's own cancel or deadline stopped it. */
rb_outcome http_transfer(const rb_act_call *c, http_conn *hc, CURLcode *code);

/* Fills res with the failure for curl's `code` after a transfer. */
void http_fail_curl(CURL *easy, CURLcode code, const http_request *rq, const http_response *rs,
                    rb_act_result *res);

#endif
