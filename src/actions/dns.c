/* The dns action: asks each listed resolver (or the system's, as one server named "system") for
 * one name and type, every resolver on its own c-ares channel so that each answer is that
 * resolver's, all at once in one poll() loop that also watches the run's cancel fd and the
 * step's deadline. Outputs: answers, rcode and ttl, each an object keyed by server, and type.
 * Its judge is a propagation check: a value every server (or servers_min of them) answers. */
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns_internal.h"
#include "runbook/action.h"

#define DNS_DEFAULT_MS 10000 /* a call without a deadline (the executor always sets one) */
#define DNS_TRIES 3          /* sends per server: a lost datagram is resent, not waited out */
#define DNS_TRY_MIN_MS 100
#define DNS_TRY_MAX_MS 2000
#define DNS_POLL_MS 50       /* how often the loop looks at a cancel token that has no fd */
#define DNS_MAX_FDS (1 + DNS_MAX_SERVERS * ARES_GETSOCK_MAXNUM)

typedef struct dns_query {
    dns_server srv[DNS_MAX_SERVERS];
    size_t n;
    const char *name, *type;
    int qtype;
} dns_query;

/* ---- parameters ---- */

static int name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len && name[len - 1] == '.')
        len--;
    if (!len || len > DNS_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] <= ' ' || name[i] == 0x7f)
            return 0;
    return 1;
}

static int add_server(dns_query *q, const char *text, char *err, size_t errlen)
{
    for (size_t i = 0; i < q->n; i++)
        if (!strcmp(q->srv[i].name, text))
            return 0; /* asked once: the outputs have one entry per server anyway */
    if (q->n == DNS_MAX_SERVERS) {
        snprintf(err, errlen, "servers: at most %d resolvers", DNS_MAX_SERVERS);
        return -1;
    }
    return dns_server_parse(text, &q->srv[q->n++], err, errlen);
}

static int read_servers(dns_query *q, const json_t *list, char *err, size_t errlen)
{
    size_t i;
    const json_t *v;
    if (!list) {
        snprintf(q->srv[0].name, sizeof q->srv[0].name, "system");
        q->srv[0].system = 1;
        q->n = 1;
        return 0;
    }
    if (!json_is_array(list) || !json_array_size(list)) {
        snprintf(err, errlen, "servers: a non-empty list of resolver addresses");
        return -1;
    }
    json_array_foreach(list, i, v)
    {
        if (!json_is_string(v)) {
            snprintf(err, errlen, "servers: every item is an address");
            return -1;
        }
        if (add_server(q, json_string_value(v), err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int read_params(const json_t *p, dns_query *q, char *err, size_t errlen)
{
    const json_t *type = json_object_get(p, "type");
    q->name = json_string_value(json_object_get(p, "name"));
    q->type = type ? json_string_value(type) : "A";
    if (!q->name || !name_ok(q->name)) {
        snprintf(err, errlen, "name: a domain name of 1 to %d characters, without spaces", DNS_NAME_MAX);
        return -1;
    }
    if (!q->type || (q->qtype = dns_type_code(q->type)) < 0) {
        snprintf(err, errlen, "type: one of A, AAAA, CNAME, TXT, NS, SOA");
        return -1;
    }
    return read_servers(q, json_object_get(p, "servers"), err, errlen);
}

/* ---- channels ---- */

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    dns_server *s = arg;
    (void)timeouts;
    if (s->done)
        return; /* already settled by the loop (deadline, cancel): destroy's call is ignored */
    s->done = 1;
    if (abuf && alen > 0 && dns_reply_parse(abuf, alen, s) == 0)
        return;
    json_array_clear(s->answers);
    s->ttl = -1;
    snprintf(s->rcode, sizeof s->rcode, "%s", abuf ? "BADRESP" : dns_status_name(status));
}

/* NOSEARCH: the name as given; NOCHECKRESP: SERVFAIL and REFUSED come back as answers instead
 * of being hidden behind the next server. The per-send timeout doubles on each of the tries. */
static int channel_open(dns_server *s, long long budget_ms)
{
    long long per_try = budget_ms / ((1 << DNS_TRIES) - 1);
    struct ares_options o = {0};
    o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOCHECKRESP;
    o.timeout = (int)(per_try < DNS_TRY_MIN_MS ? DNS_TRY_MIN_MS : per_try > DNS_TRY_MAX_MS ? DNS_TRY_MAX_MS : per_try);
    o.tries = DNS_TRIES;
    int rc = ares_init_options(&s->ch, &o, ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (rc != ARES_SUCCESS)
        return rc;
    s->open = 1;
    return s->system ? ARES_SUCCESS : ares_set_servers_ports(s->ch, &s->addr);
}

static int start_all(const rb_act_call *c, dns_query *q, char *err, size_t errlen)
{
    long long left = rb_act_remaining_ms(c);
    for (size_t i = 0; i < q->n; i++) {
        dns_server *s = &q->srv[i];
        s->qtype = q->qtype;
        int rc = channel_open(s, left < 0 ? DNS_DEFAULT_MS : left);
        if (rc != ARES_SUCCESS) {
            snprintf(err, errlen, "cannot set up a resolver for %s: %s", s->name, ares_strerror(rc));
            return -1;
        }
        ares_query(s->ch, q->name, 1 /* IN */, q->qtype, on_answer, s);
    }
    return 0;
}

static void close_all(dns_query *q)
{
    for (size_t i = 0; i < q->n; i++) {
        if (q->srv[i].open)
            ares_destroy(q->srv[i].ch);
        json_decref(q->srv[i].answers);
    }
}

/* ---- the loop ---- */

static size_t pending(const dns_query *q)
{
    size_t n = 0;
    for (size_t i = 0; i < q->n; i++)
        n += !q->srv[i].done;
    return n;
}

/* Sockets of every unanswered server, after slot 0 (the cancel fd); owner[k] is its server. */
static nfds_t collect(const rb_act_call *c, dns_query *q, struct pollfd *fds, size_t *owner)
{
    nfds_t n = 1;
    fds[0] = (struct pollfd){c->cancel_fd, POLLIN, 0};
    for (size_t i = 0; i < q->n; i++) {
        ares_socket_t socks[ARES_GETSOCK_MAXNUM];
        int bits = q->srv[i].done ? 0 : ares_getsock(q->srv[i].ch, socks, ARES_GETSOCK_MAXNUM);
        /* ares.h's ARES_GETSOCK_WRITABLE shifts a signed 1 into bit 31: read the bits unsigned */
        unsigned u = (unsigned)bits;
        for (int k = 0; k < ARES_GETSOCK_MAXNUM; k++) {
            short ev = (short)((u >> k & 1u ? POLLIN : 0) | (u >> (k + ARES_GETSOCK_MAXNUM) & 1u ? POLLOUT : 0));
            if (ev) {
                owner[n] = i;
                fds[n++] = (struct pollfd){socks[k], ev, 0};
            }
        }
    }
    return n;
}

/* Until the next resend anywhere, the deadline, or (a cancel token without fd) DNS_POLL_MS. */
static int wait_ms(const rb_act_call *c, dns_query *q)
{
    struct timeval cap = {1, 0}, buf;
    if (c->cancel && c->cancel_fd < 0)
        cap.tv_usec = DNS_POLL_MS * 1000, cap.tv_sec = 0;
    for (size_t i = 0; i < q->n; i++)
        if (!q->srv[i].done)
            cap = *ares_timeout(q->srv[i].ch, &cap, &buf);
    long long ms = (long long)cap.tv_sec * 1000 + cap.tv_usec / 1000, left = rb_act_remaining_ms(c);
    if (left >= 0 && left < ms)
        ms = left;
    return (int)(ms < 1 ? 1 : ms);
}

static void process(dns_query *q, const struct pollfd *fds, nfds_t n, const size_t *owner)
{
    for (nfds_t k = 1; k < n; k++) {
        dns_server *s = &q->srv[owner[k]];
        if (s->done || !fds[k].revents)
            continue;
        int r = fds[k].revents & (POLLIN | POLLERR | POLLHUP), w = fds[k].revents & POLLOUT;
        ares_process_fd(s->ch, r ? fds[k].fd : ARES_SOCKET_BAD, w ? fds[k].fd : ARES_SOCKET_BAD);
    }
    for (size_t i = 0; i < q->n; i++) /* resends and c-ares' own timeouts */
        if (!q->srv[i].done)
            ares_process_fd(q->srv[i].ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

/* Every server not answered yet is settled as `rcode`, and its query dropped. */
static void settle_rest(dns_query *q, const char *rcode)
{
    for (size_t i = 0; i < q->n; i++)
        if (!q->srv[i].done) {
            q->srv[i].done = 1;
            snprintf(q->srv[i].rcode, sizeof q->srv[i].rcode, "%s", rcode);
            ares_cancel(q->srv[i].ch);
        }
}

static rb_outcome wait_all(const rb_act_call *c, dns_query *q)
{
    struct pollfd fds[DNS_MAX_FDS];
    size_t owner[DNS_MAX_FDS];
    while (pending(q)) {
        if (rb_act_cancelled(c)) {
            settle_rest(q, "CANCELLED");
            return RB_OUT_CANCELLED;
        }
        if (rb_act_remaining_ms(c) == 0) {
            settle_rest(q, "TIMEOUT");
            break;
        }
        nfds_t n = collect(c, q, fds, owner);
        /* a negative fd is ignored by poll(): no cancel fd costs nothing */
        if (poll(fds, n, wait_ms(c, q)) < 0)
            continue;
        process(q, fds, n, owner);
    }
    return RB_OUT_SUCCEEDED;
}

/* ---- outputs ---- */

static json_t *outputs_of(const dns_query *q, size_t *timeouts)
{
    json_t *answers = json_object(), *rcode = json_object(), *ttl = json_object();
    *timeouts = 0;
    for (size_t i = 0; i < q->n; i++) {
        const dns_server *s = &q->srv[i];
        json_object_set(answers, s->name, s->answers);
        json_object_set_new(rcode, s->name, json_string(s->rcode));
        json_object_set_new(ttl, s->name, s->ttl >= 0 ? json_integer(s->ttl) : json_null());
        *timeouts += !strcmp(s->rcode, "TIMEOUT");
    }
    return json_pack("{s:o, s:o, s:o, s:s}", "answers", answers, "rcode", rcode, "ttl", ttl, "type", q->type);
}

static void conclude(const dns_query *q, rb_outcome o, long long t0, rb_act_result *res)
{
    size_t timeouts;
    res->outputs = outputs_of(q, &timeouts);
    if (o == RB_OUT_CANCELLED)
        rb_act_fail(res, o, "cancelled", "cancelled");
    else if (timeouts == q->n)
        rb_act_fail(res, RB_OUT_TIMED_OUT, "timeout", "no resolver answered %.100s %s within %lld ms",
                    q->name, q->type, rb_act_now_ms() - t0);
    else
        res->outcome = RB_OUT_SUCCEEDED;
}

static int run_dns(const rb_act_call *c, rb_act_result *res)
{
    dns_query q = {0};
    char err[160] = "";
    for (size_t i = 0; i < DNS_MAX_SERVERS; i++)
        q.srv[i].answers = json_array(), q.srv[i].ttl = -1;
    long long t0 = rb_act_now_ms();
    int rc = read_params(c->params, &q, err, sizeof err);
    if (rc == 0 && rb_act_remaining_ms(c) == 0)
        rb_act_fail(res, RB_OUT_TIMED_OUT, "timeout", "the step's deadline passed before the query");
    else if (rc == 0 && (rc = start_all(c, &q, err, sizeof err)) == 0)
        conclude(&q, wait_all(c, &q), t0, res);
    if (rc != 0)
        rb_act_fail(res, RB_OUT_FAILED, "refused", "%s", err);
    q.n = DNS_MAX_SERVERS; /* close_all frees every answers array; unopened channels are skipped */
    close_all(&q);
    return rc == 0 ? 0 : -1;
}

/* ---- expect ---- */

typedef struct want {
    char *value;       /* expect.value as text, or NULL */
    const char *rcode; /* expect.rcode, or NULL */
    const char *type;
} want;

static int has_value(const want *w, const json_t *answers)
{
    size_t i;
    const json_t *a;
    json_array_foreach(answers, i, a)
    {
        if (dns_answer_is(w->type, json_string_value(a), w->value))
            return 1;
    }
    return 0;
}

/* Why one server does not meet the expectation (a short phrase), or NULL when it does. Without
 * value and rcode, a server must answer NOERROR with at least one record. */
static const char *server_miss(const want *w, const char *rcode, const json_t *answers)
{
    if (w->rcode && strcasecmp(rcode, w->rcode))
        return "rcode";
    if (w->rcode && !w->value)
        return NULL;
    if (strcmp(rcode, "NOERROR"))
        return "rcode";
    if (!json_array_size(answers))
        return "no answer";
    return w->value && !has_value(w, answers) ? "other answers" : NULL;
}

static int servers_min(const json_t *expect, size_t asked, long long *min)
{
    const json_t *v = json_object_get(expect, "servers_min");
    char *end = NULL;
    *min = (long long)asked;
    if (!v)
        return 0;
    *min = json_is_integer(v) ? json_integer_value(v)
           : json_is_string(v) ? strtoll(json_string_value(v), &end, 10) : 0;
    return *min >= 1 && (!end || (!*end && end != json_string_value(v))) ? 0 : -1;
}

static void fail_judge(rb_act_result *res, const want *w, size_t ok, size_t asked, long long min,
                       const char *server, const char *why, int all_timeouts)
{
    const json_t *rc = json_object_get(json_object_get(res->outputs, "rcode"), server);
    const json_t *first = json_array_get(json_object_get(json_object_get(res->outputs, "answers"), server), 0);
    char what[160];
    if (w->value)
        snprintf(what, sizeof what, "answer %.100s", w->value);
    else
        snprintf(what, sizeof what, "answer %s", w->rcode ? w->rcode : "NOERROR with a record");
    const char *cls = all_timeouts ? "timeout" : w->value || w->rcode ? "expect" : "dns";
    rb_act_fail(res, all_timeouts ? RB_OUT_TIMED_OUT : RB_OUT_FAILED, cls,
                "%zu of %zu resolvers %s (%lld needed); %.64s: %s %.100s", ok, asked, what, min, server,
                why, !strcmp(why, "rcode") ? json_string_value(rc) : first ? json_string_value(first) : "");
}

static void judge_dns(const json_t *expect, rb_act_result *res)
{
    const json_t *rcodes = json_object_get(res->outputs, "rcode");
    const json_t *answers = json_object_get(res->outputs, "answers");
    const json_t *rv = json_object_get(expect, "rcode");
    size_t asked = json_object_size(rcodes), ok = 0, timeouts = 0, missed = 0;
    long long min;
    want w = {NULL, rv ? json_string_value(rv) : NULL, json_string_value(json_object_get(res->outputs, "type"))};
    if (servers_min(expect, asked, &min) != 0 || (size_t)min > asked || (rv && !w.rcode) || !w.type) {
        rb_act_fail(res, RB_OUT_FAILED, "expect", "expect: servers_min is 1 to the %zu resolvers asked; rcode is a string", asked);
        return;
    }
    if (json_object_get(expect, "value"))
        w.value = rb_act_text_of(json_object_get(expect, "value"));
    const char *server, *miss_server = NULL, *miss_why = NULL;
    const json_t *rc;
    json_object_foreach((json_t *)rcodes, server, rc)
    {
        const char *why = server_miss(&w, json_string_value(rc), json_object_get(answers, server));
        ok += !why;
        missed += !!why;
        timeouts += why && !strcmp(json_string_value(rc), "TIMEOUT");
        if (why && !miss_server)
            miss_server = server, miss_why = why;
    }
    if ((long long)ok < min)
        fail_judge(res, &w, ok, asked, min, miss_server, miss_why, timeouts == missed);
    free(w.value);
}

static int dns_global_init(char *err, size_t errlen)
{
    int rc = ares_library_init(ARES_LIB_INIT_ALL);
    if (rc == ARES_SUCCESS)
        return 0;
    snprintf(err, errlen, "c-ares cannot start: %s", ares_strerror(rc));
    return -1;
}

const rb_action_ops rb_dns_ops = {
    .global_init = dns_global_init,
    .global_cleanup = ares_library_cleanup,
    .run = run_dns,
    .judge = judge_dns,
};
