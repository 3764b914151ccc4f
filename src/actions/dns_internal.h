/* The dns action's parts: one resolver asked (a server and its own c-ares channel), what it
 * answered, and the pure helpers that read its reply and its address. dns.c drives the queries;
 * dns_parse.c reads replies and server addresses and compares answers. */
#ifndef RUNBOOK_DNS_INTERNAL_H
#define RUNBOOK_DNS_INTERNAL_H

#include <ares.h>
#include <jansson.h>
#include <stddef.h>

#define DNS_MAX_SERVERS 16   /* resolvers one step may ask */
#define DNS_MAX_ANSWERS 64   /* answers kept per resolver; more are dropped */
#define DNS_ANSWER_MAX 1024  /* bytes of one answer's text; longer ones are cut */
#define DNS_NAME_MAX 253     /* the longest query name (RFC 1035), without a trailing dot */
#define DNS_SERVER_TEXT_MAX 64

typedef struct dns_server {
    char name[DNS_SERVER_TEXT_MAX]; /* as written ("IP" or "IP:PORT"), or "system" */
    int system;                     /* ask the resolvers of /etc/resolv.conf */
    struct ares_addr_port_node addr;
    int qtype;
    ares_channel ch;
    int open;                       /* ch is initialised */
    int done;                       /* the answer (or the failure) is in */
    char rcode[16];                 /* NOERROR, NXDOMAIN, ..., TIMEOUT, UNREACHABLE */
    json_t *answers;                /* array of strings, owned */
    long long ttl;                  /* smallest TTL of the answers; -1: no answer */
} dns_server;

/* The query type's number for its name (A, AAAA, CNAME, TXT, NS, SOA; any case); -1 if unknown. */
int dns_type_code(const char *name);
/* Reads "IP", "IP:PORT", "[IPv6]:PORT" into s (port 53 unless given); -1 with a message. */
int dns_server_parse(const char *text, dns_server *s, char *err, size_t errlen);
/* Reads one reply into s: its rcode's name, the answers of s->qtype as text (CNAME and NS
 * without a trailing dot, TXT strings joined, SOA as "mname rname serial refresh retry expire
 * minimum") and their smallest TTL. -1 when the reply is malformed. */
int dns_reply_parse(const unsigned char *buf, int len, dns_server *s);
/* The name of a c-ares status that came without a reply (TIMEOUT, UNREACHABLE, ...). */
const char *dns_status_name(int status);
/* 1 when `answer` (as dns_reply_parse wrote it) is `want`: addresses compared as addresses,
 * names without a trailing dot and in any case, TXT exactly. */
int dns_answer_is(const char *type, const char *answer, const char *want);

#endif
