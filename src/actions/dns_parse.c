/* Reading what a resolver sent, by hand: c-ares 1.18's ares_parse_*_reply give no TTL for most
 * types and drop the rcode, so the reply is walked once here (names through ares_expand_name,
 * which follows compression pointers within the reply's bounds). Everything read is bounded. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns_internal.h"
#include "runbook/jsonstr.h"

enum { T_A = 1, T_NS = 2, T_CNAME = 5, T_SOA = 6, T_TXT = 16, T_AAAA = 28 };
#define HEADER_LEN 12
#define CLASS_IN 1

static const struct {
    const char *name;
    int code;
} types[] = {{"A", T_A}, {"AAAA", T_AAAA}, {"CNAME", T_CNAME}, {"TXT", T_TXT}, {"NS", T_NS}, {"SOA", T_SOA}};

int dns_type_code(const char *name)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcasecmp(types[i].name, name))
            return types[i].code;
    return -1;
}

/* ---- server addresses ---- */

static int parse_port(const char *s, int *port)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 1 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

/* Splits text into host and port: "[v6]:p", "v4:p", or a bare address (v6 has several ':'). */
static int split_host_port(const char *text, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(text, ':');
    *port = 53;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || (size_t)(close - text - 1) >= hostlen || (close[1] && close[1] != ':'))
            return -1;
        snprintf(host, hostlen, "%.*s", (int)(close - text - 1), text + 1);
        return close[1] ? parse_port(close + 2, port) : 0;
    }
    if (colon && colon == strchr(text, ':')) { /* exactly one ':': IPv4 with a port */
        if ((size_t)(colon - text) >= hostlen)
            return -1;
        snprintf(host, hostlen, "%.*s", (int)(colon - text), text);
        return parse_port(colon + 1, port);
    }
    if (strlen(text) >= hostlen)
        return -1;
    memcpy(host, text, strlen(text) + 1);
    return 0;
}

int dns_server_parse(const char *text, dns_server *s, char *err, size_t errlen)
{
    char host[INET6_ADDRSTRLEN + 1];
    int port;
    memset(&s->addr, 0, sizeof s->addr);
    if (strlen(text) >= sizeof s->name || split_host_port(text, host, sizeof host, &port) != 0)
        goto bad;
    if (inet_pton(AF_INET, host, &s->addr.addr.addr4) == 1)
        s->addr.family = AF_INET;
    else if (inet_pton(AF_INET6, host, &s->addr.addr.addr6) == 1)
        s->addr.family = AF_INET6;
    else
        goto bad;
    s->addr.udp_port = s->addr.tcp_port = port;
    snprintf(s->name, sizeof s->name, "%s", text);
    return 0;
bad:
    snprintf(err, errlen, "servers: \"%.64s\" is not an IP address, IP:PORT or [IPv6]:PORT", text);
    return -1;
}

/* ---- replies ---- */

typedef struct reader {
    const unsigned char *buf;
    int len;
} reader;

static unsigned get16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }
static unsigned long get32(const unsigned char *p) { return (unsigned long)get16(p) << 16 | get16(p + 2); }

/* The name at offset *off, advancing past it; NULL when malformed (free with ares_free_string). */
static char *read_name(const reader *r, int *off)
{
    char *name = NULL;
    long enclen = 0;
    if (*off >= r->len ||
        ares_expand_name(r->buf + *off, r->buf, r->len, &name, &enclen) != ARES_SUCCESS)
        return NULL;
    *off += (int)enclen;
    return name;
}

static int skip_name(const reader *r, int *off)
{
    char *name = read_name(r, off);
    ares_free_string(name);
    return name ? 0 : -1;
}

static const char *const rcode_names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"};

static void set_rcode(dns_server *s, unsigned rcode)
{
    if (rcode < sizeof rcode_names / sizeof rcode_names[0])
        snprintf(s->rcode, sizeof s->rcode, "%s", rcode_names[rcode]);
    else
        snprintf(s->rcode, sizeof s->rcode, "RCODE%u", rcode);
}

/* TXT: the character-strings of one record, joined, cut at DNS_ANSWER_MAX */
static int text_of_txt(const unsigned char *p, unsigned rdlen, char *out, size_t *outlen)
{
    size_t n = 0;
    for (unsigned i = 0; i < rdlen;) {
        unsigned l = p[i++];
        if (i + l > rdlen)
            return -1;
        size_t take = n + l > DNS_ANSWER_MAX ? DNS_ANSWER_MAX - n : l;
        memcpy(out + n, p + i, take);
        n += take;
        i += l;
    }
    *outlen = n;
    return 0;
}

/* SOA: two names, then serial refresh retry expire minimum */
static int text_of_soa(const reader *r, int off, int end, char *out, size_t *outlen)
{
    char *mname = read_name(r, &off), *rname = mname ? read_name(r, &off) : NULL;
    int ok = rname && off + 20 <= end;
    if (ok) {
        const unsigned char *p = r->buf + off;
        int n = snprintf(out, DNS_ANSWER_MAX + 1, "%s %s %lu %lu %lu %lu %lu", mname, rname, get32(p),
                         get32(p + 4), get32(p + 8), get32(p + 12), get32(p + 16));
        *outlen = n > DNS_ANSWER_MAX ? DNS_ANSWER_MAX : (size_t)n;
    }
    ares_free_string(mname);
    ares_free_string(rname);
    return ok ? 0 : -1;
}

static int text_of_name(const reader *r, int off, char *out, size_t *outlen)
{
    char *name = read_name(r, &off);
    if (!name)
        return -1;
    int n = snprintf(out, DNS_ANSWER_MAX + 1, "%s", name);
    *outlen = n > DNS_ANSWER_MAX ? DNS_ANSWER_MAX : (size_t)n;
    ares_free_string(name);
    return 0;
}

/* The rdata at [off, off + rdlen) as text, by type; out holds DNS_ANSWER_MAX + 1 bytes. */
static int rdata_text(const reader *r, int type, int off, unsigned rdlen, char *out, size_t *outlen)
{
    const unsigned char *p = r->buf + off;
    if ((type == T_A && rdlen == 4) || (type == T_AAAA && rdlen == 16)) {
        if (!inet_ntop(type == T_A ? AF_INET : AF_INET6, p, out, DNS_ANSWER_MAX))
            return -1;
        *outlen = strlen(out);
        return 0;
    }
    if (type == T_CNAME || type == T_NS)
        return text_of_name(r, off, out, outlen);
    if (type == T_TXT)
        return text_of_txt(p, rdlen, out, outlen);
    if (type == T_SOA)
        return text_of_soa(r, off, off + (int)rdlen, out, outlen);
    return -1;
}

static void add_answer(dns_server *s, const char *text, size_t len, unsigned long ttl)
{
    if (s->ttl < 0 || (long long)ttl < s->ttl)
        s->ttl = (long long)ttl;
    if (json_array_size(s->answers) < DNS_MAX_ANSWERS)
        json_array_append_new(s->answers, rb_json_string_lossy(text, len));
}

/* One resource record at *off: kept when it is of the asked type (a CNAME chain's other
 * records are not the answer). */
static int read_record(const reader *r, int *off, dns_server *s, char *text)
{
    if (skip_name(r, off) != 0 || *off + 10 > r->len)
        return -1;
    const unsigned char *p = r->buf + *off;
    unsigned type = get16(p), cls = get16(p + 2), rdlen = get16(p + 8);
    unsigned long ttl = get32(p + 4);
    *off += 10;
    if (*off + (int)rdlen > r->len)
        return -1;
    size_t n = 0;
    if ((int)type == s->qtype && cls == CLASS_IN) {
        if (rdata_text(r, (int)type, *off, rdlen, text, &n) != 0)
            return -1;
        add_answer(s, text, n, ttl);
    }
    *off += (int)rdlen;
    return 0;
}

int dns_reply_parse(const unsigned char *buf, int len, dns_server *s)
{
    reader r = {buf, len};
    if (len < HEADER_LEN)
        return -1;
    unsigned qd = get16(buf + 4), an = get16(buf + 6);
    int off = HEADER_LEN;
    for (unsigned i = 0; i < qd; i++)
        if (skip_name(&r, &off) != 0 || (off += 4) > len)
            return -1;
    char *text = malloc(DNS_ANSWER_MAX + 1);
    int rc = text ? 0 : -1;
    for (unsigned i = 0; rc == 0 && i < an; i++)
        rc = read_record(&r, &off, s, text);
    free(text);
    if (rc == 0)
        set_rcode(s, buf[3] & 0x0f);
    return rc;
}

const char *dns_status_name(int status)
{
    switch (status) {
    case ARES_ETIMEOUT:
        return "TIMEOUT";
    case ARES_ECONNREFUSED:
        return "UNREACHABLE";
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
        return "CANCELLED";
    case ARES_EBADNAME:
        return "BADNAME";
    default:
        return "BADRESP";
    }
}

/* ---- comparing ---- */

/* A name as compared: without the dot that ends it or ends a word ("a.example. b." -> "a.example b") */
static void name_form(const char *in, char *out, size_t outlen)
{
    size_t n = 0;
    for (; *in && n + 1 < outlen; in++)
        if (!(*in == '.' && (in[1] == 0 || in[1] == ' ')) || n == 0)
            out[n++] = *in;
    out[n] = 0;
}

static int same_address(int family, const char *a, const char *b)
{
    unsigned char x[16], y[16];
    return inet_pton(family, a, x) == 1 && inet_pton(family, b, y) == 1 &&
           !memcmp(x, y, family == AF_INET ? 4 : 16);
}

int dns_answer_is(const char *type, const char *answer, const char *want)
{
    int code = dns_type_code(type);
    if (code == T_A || code == T_AAAA)
        return same_address(code == T_A ? AF_INET : AF_INET6, answer, want);
    if (code == T_TXT)
        return !strcmp(answer, want);
    char a[DNS_ANSWER_MAX + 1], w[DNS_ANSWER_MAX + 1];
    name_form(answer, a, sizeof a);
    name_form(want, w, sizeof w);
    return !strcasecmp(a, w);
}
