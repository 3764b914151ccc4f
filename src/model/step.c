/* Steps and what hangs off them: blocks (main action, rollback, verify), expect, capture,
 * retry and preconditions. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "runbook/action.h"
#include "runbook/expr.h"

/* A step's keys; the enum names their places in a b_fields result. */
static const char *const step_keys[] = {
    "id", "title", "description", "needs", "when", "preconditions", "confirm", "effect",
    "irreversible", "destructive", "idempotent", "timeout", "retry", "on_failure", "expect",
    "capture", "rollback", "verify", "dry_run", "confirm_by", "for_each", "as", "parallel", NULL};
enum {
    S_ID, S_TITLE, S_DESCRIPTION, S_NEEDS, S_WHEN, S_PRECONDITIONS, S_CONFIRM, S_EFFECT,
    S_IRREVERSIBLE, S_DESTRUCTIVE, S_IDEMPOTENT, S_TIMEOUT, S_RETRY, S_ON_FAILURE, S_EXPECT,
    S_CAPTURE, S_ROLLBACK, S_VERIFY, S_DRY_RUN, S_CONFIRM_BY, S_FOR_EACH, S_AS, S_PARALLEL, S_COUNT
};
static const char *const block_keys[] = {"title", "timeout", "expect", "capture", NULL};
enum { B_TITLE, B_TIMEOUT, B_EXPECT, B_CAPTURE, B_COUNT };
static const char *const action_names[] = {
    "exec", "shell", "http", "sql", "ssh", "sleep", "assert", "file", "runbook", "dns", NULL};

/* ---- retry ---- */

static int valid_on_error(const char *s)
{
    size_t n = strlen(s);
    if (!strcmp(s, "timeout") || !strcmp(s, "connect"))
        return 1;
    if (n == 3 && s[0] >= '1' && s[0] <= '5' && s[1] == 'x' && s[2] == 'x')
        return 1; /* an HTTP class such as 5xx */
    int alnum = 1;
    for (size_t i = 0; i < n; i++)
        alnum &= isdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]) ||
                 (s[i] == '*' && i == n - 1);
    return alnum && n >= 2 && n <= 5; /* an exit code, status, SQLSTATE or class like 08* */
}

static void retry_on_errors(build *b, const rb_node *n)
{
    if (b_want(b, n, RB_NODE_SEQ, "on_errors") != 0)
        return;
    for (size_t i = 0; i < n->count; i++) {
        const rb_node *e = n->items[i];
        long long code;
        if (b_want(b, e, RB_NODE_SCALAR, "an on_errors item") != 0 || rb_scalar_int(e, &code) == 0)
            continue;
        if (!valid_on_error(e->str)) {
            b_error(b, e, "unknown error class \"%.40s\"", e->str);
            rb_diag_hint(b->d, "use exit codes, HTTP statuses, 5xx, 4xx, SQLSTATEs like \"40001\" or \"08*\", timeout, connect");
        }
    }
}

static void retry_backoff(build *b, const rb_node *n, double *out)
{
    char *end = NULL;
    double v = n->kind == RB_NODE_SCALAR ? strtod(n->str, &end) : 0;
    if (n->kind != RB_NODE_SCALAR || end == n->str || *end || !(v >= 1.0 && v <= 100.0)) {
        b_error(b, n, "backoff must be a number from 1 to 100");
        return;
    }
    *out = v;
}

void b_retry(build *b, const rb_node *n, rb_retry *out)
{
    static const char *const keys[] = {"attempts", "delay", "backoff", "max_delay", "jitter", "until", "on_errors", NULL};
    memset(out, 0, sizeof *out);
    out->delay_ms = out->max_delay_ms = out->jitter_ms = RB_NO_DURATION;
    out->attempts = 1;
    out->backoff = 1.0;
    if (!n || b_want(b, n, RB_NODE_MAP, "retry") != 0)
        return;
    out->node = n;
    b_check_keys(b, n, keys, NULL, "retry");
    const rb_node *p;
    if ((p = rb_map_get(n, "attempts")) && b_int(b, p, "attempts", &out->attempts) == 0) {
        out->attempts_node = p;
        if (out->attempts != RB_DYNAMIC && (out->attempts < 1 || out->attempts > 10000))
            b_error(b, p, "attempts must be from 1 to 10000");
    }
    out->delay_node = rb_map_get(n, "delay");
    out->max_delay_node = rb_map_get(n, "max_delay");
    out->jitter_node = rb_map_get(n, "jitter");
    b_duration(b, out->delay_node, "delay", &out->delay_ms);
    b_duration(b, out->max_delay_node, "max_delay", &out->max_delay_ms);
    b_duration(b, out->jitter_node, "jitter", &out->jitter_ms);
    if ((p = rb_map_get(n, "backoff")))
        retry_backoff(b, p, &out->backoff);
    if ((p = rb_map_get(n, "until")) && b_want(b, p, RB_NODE_SCALAR, "until") == 0)
        out->until = p;
    if ((p = rb_map_get(n, "on_errors")))
        retry_on_errors(b, p), out->on_errors = p;
}

/* ---- expect and capture ---- */

static const char *const expect_keys[] = {"exit_code", "status", "body", "stdout", "value", "row_count", "json",
                                            "servers_min", "rcode", NULL};

/* Which action each expect key applies to: its registry entry says. */
static int expect_applies(const char *key, const rb_action_type *t)
{
    for (size_t i = 0; t->expect_keys && t->expect_keys[i]; i++)
        if (!strcmp(t->expect_keys[i], key))
            return 1;
    return 0;
}

static void expect_ints(build *b, const rb_node *n, const char *what, int allow_class)
{
    long long v;
    if (allow_class && n->kind == RB_NODE_SCALAR && n->len == 3 && n->str[1] == 'x' && n->str[2] == 'x' &&
        n->str[0] >= '1' && n->str[0] <= '5')
        return;
    if (n->kind == RB_NODE_SEQ) {
        for (size_t i = 0; i < n->count; i++)
            b_int(b, n->items[i], what, &v);
        return;
    }
    b_int(b, n, what, &v);
}

static void build_expect(build *b, const rb_node *n, const rb_action *a)
{
    if (b_want(b, n, RB_NODE_MAP, "expect") != 0)
        return;
    b_check_keys(b, n, expect_keys, NULL, "expect");
    for (size_t i = 0; i < n->count; i++) {
        const rb_node *k = n->items[2 * i], *v = n->items[2 * i + 1];
        if (a->type && !expect_applies(k->str, a->type))
            b_error(b, k, "expect.%s does not apply to %s %s action", k->str, rb_article(a->type->name),
                    a->type->name);
        else if (!a->type)
            b_error(b, k, "expect needs an action to check");
        if (!strcmp(k->str, "exit_code") || !strcmp(k->str, "status"))
            expect_ints(b, v, k->str, !strcmp(k->str, "status"));
        else if (!strcmp(k->str, "row_count") || !strcmp(k->str, "servers_min")) {
            long long c;
            b_int(b, v, k->str, &c);
        } else if (!strcmp(k->str, "json"))
            b_want(b, v, RB_NODE_MAP, "expect.json");
        else
            b_want(b, v, RB_NODE_SCALAR, k->str);
    }
}

/* A capture's pattern or pointer is literal: a ${{ }} in it would be taken as text and the
 * capture would find nothing at run time. An expression does what was meant. */
static int refuse_template(build *b, rb_capture *c)
{
    if (!strstr(c->arg, "${{"))
        return 0;
    b_error(b, c->node, "a capture's %s cannot hold ${{ }}: it is read as written",
            c->kind == RB_CAP_RE ? "pattern" : c->kind == RB_CAP_JSON ? "pointer" : "column");
    rb_diag_hint(b->d, "capture the whole value and read into it with an expression, such as "
                       "steps.s.json[0].Regions[inputs.r]");
    return -1;
}

static int capture_parse(build *b, rb_capture *c, const rb_node *spec)
{
    static const char *const prefixes[] = {"re:", "json:", "column:"};
    if (b_want(b, spec, RB_NODE_SCALAR, "a capture") != 0)
        return -1;
    for (int k = 0; k < 3; k++) {
        size_t plen = strlen(prefixes[k]);
        if (strncmp(spec->str, prefixes[k], plen) == 0) {
            c->kind = (rb_capture_kind)k;
            c->arg = spec->str + plen;
            c->arg_offset = plen;
            c->node = spec;
            return refuse_template(b, c);
        }
    }
    b_error(b, spec, "a capture starts with re:, json: or column:");
    return -1;
}

static void build_capture(build *b, rb_capture *c, const rb_node *key, const rb_node *spec,
                          const rb_action *a)
{
    static const char *const keys[] = {"from", "secret", NULL};
    c->name = key->str;
    b_id(b, key, "capture name");
    for (size_t i = 0; a->type && a->type->outputs[i]; i++)
        if (!strcmp(a->type->outputs[i], key->str))
            b_error(b, key, "capture \"%s\" hides the step's own output of that name", key->str);
    for (size_t i = 0; rb_common_outputs[i]; i++)
        if (!strcmp(rb_common_outputs[i], key->str))
            b_error(b, key, "capture \"%s\" hides the output every step has", key->str);
    if (spec->kind == RB_NODE_MAP) {
        b_check_keys(b, spec, keys, NULL, "a capture");
        const rb_node *from = rb_map_get(spec, "from"), *secret = rb_map_get(spec, "secret");
        if (!from)
            b_error(b, spec, "a capture needs \"from\"");
        else
            capture_parse(b, c, from);
        if (secret)
            b_bool(b, secret, "secret", &c->secret);
        return;
    }
    capture_parse(b, c, spec);
}

static void build_captures(build *b, const rb_node *n, rb_block *k)
{
    if (b_want(b, n, RB_NODE_MAP, "capture") != 0)
        return;
    k->captures = b_calloc(b, n->count, sizeof(rb_capture));
    if (!k->captures)
        return;
    k->ncaptures = n->count;
    for (size_t i = 0; i < n->count; i++)
        build_capture(b, &k->captures[i], n->items[2 * i], n->items[2 * i + 1], &k->action);
}

/* The parts a step shares with rollback and verify blocks. */
static void block_parts(build *b, const rb_node *map, rb_block *k, const rb_node *timeout,
                        const rb_node *expect, const rb_node *capture)
{
    k->node = map;
    b_duration(b, k->timeout_node = timeout, "timeout", &k->timeout_ms);
    if (expect)
        build_expect(b, expect, &k->action), k->expect = expect;
    if (capture)
        build_captures(b, capture, k);
}

void b_block(build *b, const rb_node *map, rb_block *k, const char *what)
{
    if (b_want(b, map, RB_NODE_MAP, what) != 0)
        return;
    const rb_node *f[B_COUNT];
    b_fields(b, map, block_keys, action_names, what, f);
    if (b_action(b, map, &k->action, what) != 0)
        b_error(b, map, "%s needs an action (%s)", what, "exec, shell, http, sql, ssh, ...");
    block_parts(b, map, k, f[B_TIMEOUT], f[B_EXPECT], f[B_CAPTURE]);
}

/* ---- steps ---- */

static rb_block *optional_block(build *b, const rb_node *n, const char *key)
{
    if (!n)
        return NULL;
    rb_block *k = b_calloc(b, 1, sizeof *k);
    if (k)
        b_block(b, n, k, key);
    return k;
}

static void build_preconditions(build *b, rb_step *s, const rb_node *n)
{
    static const char *const keys[] = {"assert", "message", NULL};
    if (b_want(b, n, RB_NODE_SEQ, "preconditions") != 0)
        return;
    s->preconditions = b_calloc(b, n->count, sizeof(rb_precondition));
    if (!s->preconditions)
        return;
    for (size_t i = 0; i < n->count; i++) {
        const rb_node *p = n->items[i];
        if (b_want(b, p, RB_NODE_MAP, "a precondition") != 0)
            continue;
        b_check_keys(b, p, keys, NULL, "a precondition");
        rb_precondition *pc = &s->preconditions[s->npreconditions++];
        const rb_node *a = rb_map_get(p, "assert"), *m = rb_map_get(p, "message");
        if (!a)
            b_error(b, p, "a precondition needs \"assert\"");
        else if (b_want(b, a, RB_NODE_SCALAR, "assert") == 0)
            pc->expr = a;
        if (m)
            pc->message = b_string(b, m, "message");
    }
}

static void step_flags(build *b, rb_step *s, const rb_node *const *f)
{
    const rb_node *n;
    if ((n = f[S_IRREVERSIBLE]))
        b_bool(b, n, "irreversible", &s->irreversible), s->irreversible_node = n;
    if ((n = f[S_DESTRUCTIVE]))
        b_bool(b, n, "destructive", &s->destructive), s->destructive_node = n;
    if ((n = f[S_IDEMPOTENT]))
        b_bool(b, n, "idempotent", &s->idempotent);
}

static int default_writes(const rb_step *s)
{
    const rb_action *a = &s->main.action;
    if (!a->type)
        return 1;
    if (!strcmp(a->type->name, "http")) {
        const rb_node *m = rb_action_param(a, "method");
        return m && (m->kind != RB_NODE_SCALAR || (strcmp(m->str, "GET") && strcmp(m->str, "HEAD")));
    }
    return !a->type->reads_by_default;
}

static void step_effect(build *b, rb_step *s, const rb_node *n)
{
    static const char *const effects[] = {"read", "write", NULL};
    s->writes = default_writes(s);
    int e;
    if (n && (e = b_enum(b, n, effects, "effect")) >= 0)
        s->writes = e, s->effect_node = n;
}

static void step_text(build *b, rb_step *s, const rb_node *const *f)
{
    const rb_node *n;
    if ((n = f[S_TITLE]))
        s->title = b_string(b, n, "title"), s->title_node = n;
    if ((n = f[S_DESCRIPTION]))
        s->description = b_string(b, n, "description");
    if ((n = f[S_CONFIRM]))
        s->confirm = b_string(b, n, "confirm"), s->confirm_node = n;
    /* confirm_by: person is a confirmation --yes cannot give (a fence, a promote) */
    static const char *const by[] = {"anyone", "person", NULL};
    if ((n = f[S_CONFIRM_BY])) {
        int e = b_enum(b, n, by, "confirm_by");
        s->confirm_person = e == 1;
        if (!f[S_CONFIRM])
            b_error(b, n, "confirm_by needs a confirm on the same step");
    }
}

static void step_order(build *b, rb_step *s, const rb_node *const *f)
{
    const rb_node *n;
    if ((n = f[S_NEEDS]) && b_want(b, n, RB_NODE_SEQ, "needs") == 0) {
        s->needs_node = n;
        for (size_t i = 0; i < n->count; i++)
            b_want(b, n->items[i], RB_NODE_SCALAR, "a needs item");
    }
    if ((n = f[S_WHEN]) && b_want(b, n, RB_NODE_SCALAR, "when") == 0)
        s->when = n;
    if ((n = f[S_PRECONDITIONS]))
        build_preconditions(b, s, n);
}

/* parallel: how many items of a for_each may run at once (with --jobs that many or more). */
static void step_parallel(build *b, rb_step *s, const rb_node *n)
{
    long long v;
    s->each_parallel = 1;
    if (!n || b_int(b, n, "parallel", &v) != 0)
        return;
    if (v < 1 || v > RB_MAX_PARALLEL)
        b_error(b, n, "parallel is between 1 and %d items at once", RB_MAX_PARALLEL);
    else
        s->each_parallel = (int)v;
}

/* for_each: an expression that gives a list, or a YAML list of templates; `as` names the item
 * (each.NAME; default each.item). */
static void step_loop(build *b, rb_step *s, const rb_node *const *f)
{
    const rb_node *n = f[S_FOR_EACH];
    step_parallel(b, s, f[S_PARALLEL]);
    if (f[S_PARALLEL] && !n)
        b_error(b, f[S_PARALLEL], "parallel runs the items of a for_each on the same step at once");
    s->each_as = "item";
    if (f[S_AS] && b_id(b, f[S_AS], "loop variable") == 0)
        s->each_as = f[S_AS]->str;
    if (f[S_AS] && !n)
        b_error(b, f[S_AS], "as names the item of a for_each on the same step");
    if (!n)
        return;
    if (n->kind == RB_NODE_SEQ) {
        for (size_t i = 0; i < n->count; i++)
            b_want(b, n->items[i], RB_NODE_SCALAR, "a for_each item");
    } else if (b_want(b, n, RB_NODE_SCALAR, "for_each (an expression or a list)") != 0) {
        return;
    }
    if (n->kind == RB_NODE_SEQ && n->count > RB_MAX_ITEMS)
        b_error(b, n, "for_each lists at most %d items", RB_MAX_ITEMS);
    if (!s->main.action.type)
        b_error(b, n, "for_each needs an action to repeat");
    else if (s->main.action.type->flags & RB_AT_CALLS_RUNBOOK)
        b_error(b, n, "for_each cannot repeat a runbook call");
    else if (s->main.action.type->ops && s->main.action.type->ops->undo)
        b_error(b, n, "for_each cannot repeat a %s step: its own undo keeps one previous state per step", s->main.action.type->name);
    s->for_each = n;
}

static void build_step(build *b, rb_step *s, const rb_node *map)
{
    s->node = map;
    if (b_want(b, map, RB_NODE_MAP, "a step") != 0)
        return;
    const rb_node *f[S_COUNT];
    b_fields(b, map, step_keys, action_names, "a step", f);
    if (!f[S_ID])
        b_error(b, map, "a step needs an \"id\"");
    else if (b_id(b, f[S_ID], "step id") == 0)
        s->id = f[S_ID]->str, s->id_node = f[S_ID];
    step_text(b, s, f);
    if (b_action(b, map, &s->main.action, "a step") != 0 && !s->confirm)
        b_error(b, map, "a step needs an action (exec, shell, http, sql, ssh, sleep, assert, file, runbook) or \"confirm\" for a manual step");
    block_parts(b, map, &s->main, f[S_TIMEOUT], f[S_EXPECT], f[S_CAPTURE]);
    step_order(b, s, f);
    step_loop(b, s, f);
    step_effect(b, s, f[S_EFFECT]);
    step_flags(b, s, f);
    b_retry(b, f[S_RETRY], &s->retry);
    s->on_failure = b->rb->on_failure;
    if ((s->on_failure_node = f[S_ON_FAILURE]))
        b_policy(b, s->on_failure_node, &s->on_failure);
    s->rollback = optional_block(b, f[S_ROLLBACK], "rollback");
    s->verify = optional_block(b, f[S_VERIFY], "verify");
    if (f[S_DRY_RUN] && b_want(b, f[S_DRY_RUN], RB_NODE_MAP, "dry_run") == 0)
        s->dry_run = f[S_DRY_RUN];
}

void b_steps(build *b, const rb_node *seq)
{
    if (b_want(b, seq, RB_NODE_SEQ, "steps") != 0)
        return;
    if (seq->count == 0) {
        b_error(b, seq, "a runbook needs at least one step");
        return;
    }
    b->rb->steps = b_calloc(b, seq->count, sizeof(rb_step));
    if (!b->rb->steps)
        return;
    b->rb->nsteps = seq->count;
    for (size_t i = 0; i < seq->count; i++) {
        b->rb->steps[i].index = i;
        b->rb->steps[i].main.timeout_ms = RB_NO_DURATION;
        build_step(b, &b->rb->steps[i], seq->items[i]);
    }
}
