/* Targets: named PostgreSQL, SSH and HTTP endpoints, each a map of typed connection keys. */
#include <string.h>

#include "build.h"

static const char *const kind_names[] = {"postgres", "ssh", "http", NULL};
static const char *const postgres_keys[] = {
    "host", "port", "dbname", "user", "password", "sslmode", "sslrootcert", "connect_timeout",
    "application_name", "url", NULL};
static const char *const ssh_keys[] = {
    "host", "port", "user", "key", "key_passphrase", "password", "agent", "known_hosts", "host_key_check",
    NULL};
static const char *const http_keys[] = {"base_url", "headers", "auth", "ca", "insecure", "timeout", NULL};
static const char *const auth_keys[] = {"bearer", "user", "password", NULL};
static const char *const sslmodes[] = {
    "disable", "allow", "prefer", "require", "verify-ca", "verify-full", NULL};

const char *rb_target_kind_name(rb_target_kind k) { return kind_names[k]; }

/* Every value not typed otherwise is a template scalar. */
static void target_scalars(build *b, const rb_node *params, const char *what)
{
    for (size_t i = 0; i < params->count; i++) {
        const rb_node *k = params->items[2 * i], *v = params->items[2 * i + 1];
        if (!strcmp(k->str, "headers") || !strcmp(k->str, "auth")) {
            if (b_want(b, v, RB_NODE_MAP, k->str) == 0)
                for (size_t j = 0; j < v->count; j++)
                    b_want(b, v->items[2 * j + 1], RB_NODE_SCALAR, k->str[0] == 'h' ? "a header value" : "an auth value");
            continue;
        }
        b_want(b, v, RB_NODE_SCALAR, what);
    }
}

static void check_port(build *b, const rb_node *params)
{
    const rb_node *n = rb_map_get(params, "port");
    long long port;
    if (n && b_int(b, n, "port", &port) == 0 && port != RB_DYNAMIC && (port < 1 || port > 65535))
        b_error(b, n, "port must be between 1 and 65535");
}

static void need(build *b, const rb_node *key, const rb_node *params, const char *name, const char *kind)
{
    if (!rb_map_get(params, name))
        b_error(b, key, "%s target needs \"%s\"", kind[0] == 'p' ? "a postgres" : kind[0] == 's' ? "an ssh" : "an http", name);
}

static void build_postgres(build *b, const rb_node *key, const rb_node *p)
{
    b_check_keys(b, p, postgres_keys, NULL, "a postgres target");
    target_scalars(b, p, "a connection value");
    check_port(b, p);
    const rb_node *n;
    if ((n = rb_map_get(p, "sslmode")) && !rb_scalar_has_template(n))
        b_enum(b, n, sslmodes, "sslmode");
    long long ms;
    b_duration(b, rb_map_get(p, "connect_timeout"), "connect_timeout", &ms);
    const rb_node *url = rb_map_get(p, "url");
    if (url && (rb_map_get(p, "host") || rb_map_get(p, "dbname") || rb_map_get(p, "user")))
        b_error(b, url, "give either \"url\" or host/dbname/user, not both");
    if (!url && !rb_map_get(p, "host"))
        b_error(b, key, "a postgres target needs \"host\" (or \"url\")");
}

static void build_ssh(build *b, const rb_node *key, const rb_node *p)
{
    b_check_keys(b, p, ssh_keys, NULL, "an ssh target");
    target_scalars(b, p, "a connection value");
    check_port(b, p);
    need(b, key, p, "host", "ssh");
    need(b, key, p, "user", "ssh");
    const rb_node *n = rb_map_get(p, "host_key_check");
    int v;
    /* accept-new: an unknown host is learnt (a freshly provisioned server), a changed key refused */
    if (n && !(n->kind == RB_NODE_SCALAR && !strcmp(n->str, "accept-new")))
        b_bool(b, n, "host_key_check", &v);
    if ((n = rb_map_get(p, "agent")))
        b_bool(b, n, "agent", &v);
    if (rb_map_get(p, "password") && rb_map_get(p, "key"))
        b_error(b, rb_map_get(p, "password"), "give either \"key\" or \"password\", not both");
}

/* auth: { bearer } or { user, password }: never both, never a part of one. */
static void check_auth(build *b, const rb_node *auth)
{
    if (!auth || auth->kind != RB_NODE_MAP)
        return;
    b_check_keys(b, auth, auth_keys, NULL, "auth");
    const rb_node *bearer = rb_map_get(auth, "bearer"), *user = rb_map_get(auth, "user");
    if (bearer && (user || rb_map_get(auth, "password")))
        b_error(b, bearer, "auth takes either \"bearer\" or \"user\" and \"password\", not both");
    else if (!bearer && (!user || !rb_map_get(auth, "password")))
        b_error(b, auth, "auth needs \"bearer\", or \"user\" and \"password\"");
}

static void build_http(build *b, const rb_node *key, const rb_node *p)
{
    b_check_keys(b, p, http_keys, NULL, "an http target");
    target_scalars(b, p, "a target value");
    need(b, key, p, "base_url", "http");
    const rb_node *n = rb_map_get(p, "insecure");
    int v;
    if (n)
        b_bool(b, n, "insecure", &v);
    long long ms;
    b_duration(b, rb_map_get(p, "timeout"), "timeout", &ms);
    check_auth(b, rb_map_get(p, "auth"));
}

static void build_target(build *b, rb_target *t, const rb_node *key, const rb_node *spec)
{
    static const char *const keys[] = {"postgres", "ssh", "http", "description", NULL};
    t->name = key->str;
    t->node = key;
    b_id(b, key, "target name");
    if (b_want(b, spec, RB_NODE_MAP, "a target") != 0)
        return;
    b_check_keys(b, spec, keys, NULL, "a target");
    int found = 0;
    for (int k = 0; kind_names[k]; k++) {
        const rb_node *p = rb_map_get(spec, kind_names[k]);
        if (!p)
            continue;
        if (found++) {
            b_error(b, p, "a target has one kind: postgres, ssh or http");
            continue;
        }
        t->kind = (rb_target_kind)k;
        if (b_want(b, p, RB_NODE_MAP, kind_names[k]) != 0)
            continue;
        t->params = p;
        if (k == RB_TARGET_POSTGRES)
            build_postgres(b, key, p);
        else if (k == RB_TARGET_SSH)
            build_ssh(b, key, p);
        else
            build_http(b, key, p);
    }
    if (!found)
        b_error(b, key, "a target needs one of: postgres, ssh, http");
}

void b_targets(build *b, const rb_node *n)
{
    if (b_want(b, n, RB_NODE_MAP, "targets") != 0)
        return;
    b->rb->targets = b_calloc(b, n->count, sizeof(rb_target));
    if (!b->rb->targets)
        return;
    b->rb->ntargets = n->count;
    for (size_t i = 0; i < n->count; i++)
        build_target(b, &b->rb->targets[i], n->items[2 * i], n->items[2 * i + 1]);
}
