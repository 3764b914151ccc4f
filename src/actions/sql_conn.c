/* Connecting the sql action: libpq keywords taken one by one from the target (never a conninfo
 * string pasted together from values, which a value with a space or '=' could rewrite), sslmode
 * verify-full unless the target or its URL says otherwise, and PQconnectPoll driven by poll() so
 * the call's deadline and cancel fd bound the connection too (libpq's own connect_timeout only
 * applies to its blocking calls). Messages come from libpq, first line, with secrets masked. */
#include <arpa/inet.h>
#include <ares.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "runbook/expr.h"
#include "sql_int.h"

#define SQL_MAX_KEYWORDS 16

/* The keywords handed to libpq: later entries override earlier ones, and both override what an
 * expanded URL in "dbname" says only when they come after it. */
#define SQL_MAX_ADDRS 4

typedef struct keywords {
    const char *key[SQL_MAX_KEYWORDS + 1], *val[SQL_MAX_KEYWORDS + 1];
    int n;
    char timeout_s[24];
    char hosts[(RB_ACT_MESSAGE_MAX + 1) * SQL_MAX_ADDRS], addrs[(INET6_ADDRSTRLEN + 1) * SQL_MAX_ADDRS];
} keywords;

static const char *target_str(const rb_act_call *c, const char *key)
{
    const char *v = json_string_value(json_object_get(c->target, key));
    return v && *v ? v : NULL;
}

static void kw_add(keywords *k, const char *key, const char *val)
{
    if (val && k->n < SQL_MAX_KEYWORDS) {
        k->key[k->n] = key;
        k->val[k->n++] = val;
    }
}

/* 1 when neither the target nor its URL chose an sslmode: the message then says verify-full was
 * the default, which is what surprises someone pointing runbook at a plain-text server. */
static int sslmode_defaulted(const rb_act_call *c)
{
    const char *url = target_str(c, "url");
    return !target_str(c, "sslmode") && !(url && strstr(url, "sslmode="));
}

/* A target's connect_timeout: a duration ("10s"), or the milliseconds a template gives when it
 * reads a duration input (language.md: a duration template may render as milliseconds). */
static int connect_timeout_ms(const char *t, long long *ms)
{
    size_t n = strspn(t, "0123456789");
    if (n > 0 && n <= 12 && t[n] == 0) {
        *ms = strtoll(t, NULL, 10);
        return 0;
    }
    return rb_duration_parse(t, strlen(t), ms);
}

/* libpq looks a host name up itself, with getaddrinfo, which no deadline or cancel stops: the
 * name is looked up here (rb_act_resolve) and libpq gets the addresses as hostaddr, the name
 * staying in host for verify-full and the password file. A socket folder, a host list or a url
 * target are left to libpq. */
static int pin_host_addresses(const rb_act_call *c, keywords *k, rb_act_result *res)
{
    const char *host = target_str(c, "host"), *port = target_str(c, "port");
    if (!host || host[0] == '/' || strchr(host, ',') || strlen(host) > RB_ACT_MESSAGE_MAX)
        return 0;
    struct ares_addrinfo *found;
    if (rb_act_resolve(c, host, port ? port : "5432", &found, res) != 0)
        return -1;
    size_t hn = 0, an = 0, count = 0;
    for (const struct ares_addrinfo_node *a = found->nodes; a && count < SQL_MAX_ADDRS; a = a->ai_next) {
        char ip[INET6_ADDRSTRLEN];
        const void *bytes = a->ai_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)a->ai_addr)->sin6_addr
                                                      : (const void *)&((const struct sockaddr_in *)a->ai_addr)->sin_addr;
        if (!inet_ntop(a->ai_family, bytes, ip, sizeof ip))
            continue;
        hn += (size_t)snprintf(k->hosts + hn, sizeof k->hosts - hn, "%s%s", count ? "," : "", host);
        an += (size_t)snprintf(k->addrs + an, sizeof k->addrs - an, "%s%s", count ? "," : "", ip);
        count++;
    }
    ares_freeaddrinfo(found);
    for (int i = 0; count && i < k->n; i++)
        if (!strcmp(k->key[i], "host"))
            k->val[i] = k->hosts;
    if (count)
        kw_add(k, "hostaddr", k->addrs);
    return 0;
}

static int build_keywords(const rb_act_call *c, keywords *k, rb_act_result *res)
{
    static const char *const explicit_keys[] = {"host", "port", "dbname", "user", "password",
                                                "sslmode", "sslrootcert", "application_name", NULL};
    kw_add(k, "sslmode", "verify-full");
    kw_add(k, "application_name", "runbook");
    kw_add(k, "dbname", target_str(c, "url"));
    for (size_t i = 0; explicit_keys[i]; i++)
        kw_add(k, explicit_keys[i], target_str(c, explicit_keys[i]));
    const char *t = target_str(c, "connect_timeout");
    long long ms;
    if (t && connect_timeout_ms(t, &ms) != 0) {
        rb_act_fail(res, RB_OUT_FAILED, "refused", "connect_timeout \"%.40s\" is not a duration", t);
        return -1;
    }
    if (t) {
        snprintf(k->timeout_s, sizeof k->timeout_s, "%lld", (ms + 999) / 1000);
        kw_add(k, "connect_timeout", k->timeout_s);
    }
    kw_add(k, "client_encoding", "UTF8"); /* values become JSON strings: they must be UTF-8 */
    if (pin_host_addresses(c, k, res) != 0)
        return -1;
    k->key[k->n] = k->val[k->n] = NULL;
    return 0;
}

/* ---- messages without secrets ---- */

/* Replaces every occurrence of secret[0..n) in buf by "***". */
static void mask_span(char *buf, size_t size, const char *secret, size_t n)
{
    if (n == 0)
        return;
    char out[RB_ACT_MESSAGE_MAX * 2];
    size_t o = 0;
    for (const char *p = buf; *p && o + 4 < sizeof out;) {
        if (!strncmp(p, secret, n)) {
            memcpy(out + o, "***", 3), o += 3, p += n;
        } else
            out[o++] = *p++;
    }
    out[o] = 0;
    size_t keep = o < size - 1 ? o : size - 1; /* cut to the caller's size, as snprintf would */
    memcpy(buf, out, keep);
    buf[keep] = 0;
}

/* The password inside postgres://user:PASSWORD@host/..., as a span of url. */
static const char *url_password(const char *url, size_t *len)
{
    const char *p = url ? strstr(url, "://") : NULL;
    if (!p)
        return NULL;
    p += 3;
    size_t auth = strcspn(p, "/?#");
    const char *at = NULL;
    for (const char *q = p; q < p + auth; q++)
        if (*q == '@')
            at = q;
    const char *colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
    if (!colon)
        return NULL;
    *len = (size_t)(at - colon - 1);
    return colon + 1;
}

void sql_fail_conn(const rb_act_call *c, rb_act_result *res, rb_outcome o, const char *errclass,
                   const char *prefix, const char *libpq_msg)
{
    const char *m = libpq_msg && *libpq_msg ? libpq_msg : "unknown error";
    int line = (int)strcspn(m, "\n");
    rb_act_fail(res, o, errclass, "%s%.*s", prefix, line, m);
    const char *pw = target_str(c, "password"), *url = target_str(c, "url");
    size_t n = 0;
    const char *upw = url_password(url, &n);
    if (upw)
        mask_span(res->message, sizeof res->message, upw, n);
    if (pw)
        mask_span(res->message, sizeof res->message, pw, strlen(pw));
    if (url)
        mask_span(res->message, sizeof res->message, url, strlen(url));
}

/* auth and tls failures are told apart by libpq's wording: it gives a failed connection no
 * SQLSTATE to read. */
static const char *conn_class(const char *msg)
{
    if (strstr(msg, "authentication failed") || strstr(msg, "no password supplied"))
        return "auth";
    if (strstr(msg, "SSL") || strstr(msg, "certificate") || strstr(msg, "sslmode"))
        return "tls";
    return "connect";
}

static int conn_failed(const rb_act_call *c, PGconn *pg, rb_act_result *res)
{
    const char *msg = PQerrorMessage(pg), *cls = conn_class(msg);
    sql_fail_conn(c, res, RB_OUT_FAILED, cls, "", msg);
    if (!strcmp(cls, "tls") && sslmode_defaulted(c)) {
        size_t len = strlen(res->message);
        snprintf(res->message + len, sizeof res->message - len,
                 " (sslmode is verify-full unless the target sets sslmode)");
    }
    return -1;
}

/* ---- the connection ---- */

static void quiet_notices(void *arg, const char *message)
{
    (void)arg, (void)message; /* libpq would print them to stderr; nothing below the CLI prints */
}

/* The connection's bound: the call's deadline or the target's connect_timeout, the sooner. */
static long long connect_until(const rb_act_call *c, int *by_timeout)
{
    const char *t = target_str(c, "connect_timeout");
    long long ms, until = c->deadline_ms;
    *by_timeout = 0;
    if (t && connect_timeout_ms(t, &ms) == 0 && ms > 0 &&
        (until <= 0 || rb_act_now_ms() + ms < until)) {
        until = rb_act_now_ms() + ms;
        *by_timeout = 1;
    }
    return until;
}

static int stopped(const rb_act_call *c, sql_wake w, int by_timeout, PGconn *pg, rb_act_result *res)
{
    if (w == SQL_CANCELLED)
        rb_act_fail(res, RB_OUT_CANCELLED, "cancelled", "cancelled while connecting");
    else if (w == SQL_DEADLINE && by_timeout)
        rb_act_fail(res, RB_OUT_FAILED, "connect", "no connection within connect_timeout (%s)",
                    target_str(c, "connect_timeout"));
    else if (w == SQL_DEADLINE)
        rb_act_fail(res, RB_OUT_TIMED_OUT, "timeout", "the step's timeout passed while connecting");
    else
        return conn_failed(c, pg, res);
    return -1;
}

/* Drives PQconnectPoll as its documentation says: start by waiting to write. */
static int poll_connect(const rb_act_call *c, PGconn *pg, rb_act_result *res)
{
    int by_timeout;
    long long until = connect_until(c, &by_timeout);
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED || PQsocket(pg) < 0)
            return conn_failed(c, pg, res);
        sql_wake w = sql_wait(c, PQsocket(pg), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, until, 1);
        if (w != SQL_READY)
            return stopped(c, w, by_timeout, pg, res);
        st = PQconnectPoll(pg);
    }
    return 0;
}

int sql_connect(const rb_act_call *c, PGconn **out, rb_act_result *res)
{
    keywords k = {0};
    *out = NULL;
    if (!json_is_object(c->target)) {
        rb_act_fail(res, RB_OUT_FAILED, "refused", "the sql action needs a postgres target");
        return -1;
    }
    if (build_keywords(c, &k, res) != 0)
        return -1;
    PGconn *pg = PQconnectStartParams(k.key, k.val, target_str(c, "url") ? 1 : 0);
    if (!pg) {
        rb_act_fail(res, RB_OUT_FAILED, "connect", "out of memory");
        return -1;
    }
    int rc = PQstatus(pg) == CONNECTION_BAD ? conn_failed(c, pg, res) : poll_connect(c, pg, res);
    if (rc != 0) {
        PQfinish(pg);
        return -1;
    }
    PQsetNoticeProcessor(pg, quiet_notices, NULL);
    PQsetnonblocking(pg, 1);
    *out = pg;
    return 0;
}
