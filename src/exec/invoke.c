/* The one path from a block to its action (steps, rollbacks, undos, verifies, resumes): render,
 * make the journal durable, run the action with the run's mutex released, judge its expect.
 * Actions see only runbook/action.h: this file builds their call context. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "runbook/values.h"

#define SIDE_MAX (16u << 20) /* the largest side file read back (a file step's old content) */
#define NETWORK_CAP_MS (300LL * 1000) /* a network action with no timeout anywhere */

/* ---- output, masked on its way to the operator ---- */

typedef struct out_ctx {
    run *r;
    const char *step;
    rb_mask_stream *ms;
} out_ctx;

static void show_output(out_ctx *o, int stream, const char *text, size_t len)
{
    pthread_mutex_lock(o->r->mu);
    rb_event ev = {.kind = RB_EV_OUTPUT, .step = o->step, .stream = stream, .text = text, .len = len};
    emit(o->r, &ev);
    pthread_mutex_unlock(o->r->mu);
}

static void on_output(void *ctx, int stream, const char *bytes, size_t len)
{
    out_ctx *o = ctx;
    char *masked = NULL;
    size_t mlen = 0;
    if (o->ms && rb_mask_stream_write(o->ms, bytes, len, &masked, &mlen) == 0 && mlen)
        show_output(o, stream, masked, mlen);
    free(masked);
}

static void flush_output(out_ctx *o)
{
    char *rest = NULL;
    size_t len = 0;
    if (o->ms && rb_mask_stream_flush(o->ms, &rest, &len) == 0 && len)
        show_output(o, 1, rest, len);
    free(rest);
}

/* --verbose: what is about to run, rendered (emit masks secrets like any message). */
static void show_params(run *r, const char *key, json_t *params)
{
    char *text = json_dumps(params, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t n;
    char *masked = text ? rb_mask_apply(r->masker, text, strlen(text), &n) : NULL;
    char line[1024]; /* cut after masking: a cut secret would no longer be recognised */
    snprintf(line, sizeof line, "runs %.1000s", masked ? masked : "(parameters withheld)");
    free(masked);
    rb_event ev = {.kind = RB_EV_NOTE, .step = key, .text = line};
    emit(r, &ev);
    free(text);
}

/* ---- side data, kept beside the journal for the step ---- */

typedef struct side_ctx {
    run *r;
    const rb_step *step;
} side_ctx;

static int side_write(void *ctx, const char *name, const char *data, size_t len)
{
    side_ctx *sc = ctx;
    char key[320];
    side_key(sc->r, sc->step, key, sizeof key);
    return rb_journal_side_write(sc->r->journal, key, name, data, len);
}

static int side_read(void *ctx, const char *name, char **data, size_t *len)
{
    side_ctx *sc = ctx;
    char key[320];
    side_key(sc->r, sc->step, key, sizeof key);
    return rb_journal_side_read(sc->r->journal, key, name, SIDE_MAX, data, len);
}

/* ---- expressions, for assert ---- */

static int cond_cb(void *ctx, const char *expr, size_t len, char *err, size_t errlen)
{
    run *r = ctx;
    pthread_mutex_lock(r->mu);
    int t = condition_text(r, expr, len, err, errlen);
    pthread_mutex_unlock(r->mu);
    return t;
}

/* ---- connections ---- */

/* Closes the slot's connection when the target now renders differently (it reads outputs of
 * steps that ran since). Caller holds the slot. */
static void refresh_slot(conn_slot *slot, const json_t *target)
{
    char *text = json_dumps(target, JSON_COMPACT | JSON_SORT_KEYS);
    uint64_t h = text ? rb_content_hash(text, strlen(text)) : 0;
    free(text);
    if (slot->conn && slot->rendered != h && slot->ops && slot->ops->disconnect) {
        slot->ops->disconnect(slot->conn);
        slot->conn = NULL;
    }
    slot->rendered = h;
}

static conn_slot *slot_for(run *r, const rb_action *a)
{
    const rb_node *name = rb_action_param(a, "target");
    const rb_target *t = name ? rb_runbook_target(r->rb, name->str) : NULL;
    if (!t)
        return NULL;
    if (!r->conns) {
        r->conns = calloc(r->rb->ntargets, sizeof *r->conns);
        for (size_t i = 0; r->conns && i < r->rb->ntargets; i++)
            pthread_mutex_init(&r->conns[i].mu, NULL);
    }
    conn_slot *slot = r->conns ? &r->conns[t - r->rb->targets] : NULL;
    if (slot)
        slot->ops = a->type->ops;
    return slot;
}

void close_connections(run *r)
{
    for (size_t i = 0; r->conns && i < r->rb->ntargets; i++) {
        conn_slot *slot = &r->conns[i];
        if (slot->conn && slot->ops && slot->ops->disconnect)
            slot->ops->disconnect(slot->conn);
        pthread_mutex_destroy(&slot->mu);
    }
    free(r->conns);
    r->conns = NULL;
}

/* ---- the deadline of one call ---- */

static long long target_timeout(const json_t *target)
{
    long long ms;
    const char *t = json_string_value(json_object_get(target, "timeout"));
    return t && rb_duration_parse(t, strlen(t), &ms) == 0 ? ms : 0;
}

/* The block's timeout, tightened by the action's own `timeout` parameter and its target's; a
 * network action is never left without one. Absolute, on the monotonic clock; 0: none. */
static long long deadline_of(const invocation *inv, const json_t *params, const json_t *target)
{
    long long ms = inv->timeout_ms;
    long long own = json_integer_value(json_object_get(params, "timeout"));
    long long tt = target_timeout(target);
    if (own > 0 && (ms <= 0 || own < ms))
        ms = own;
    if (tt > 0 && (ms <= 0 || tt < ms))
        ms = tt;
    if (ms <= 0 && (inv->block->action.type->network || target))
        ms = NETWORK_CAP_MS;
    return ms > 0 ? now_ms() + ms : 0;
}

/* The earlier of two absolute deadlines, 0 standing for none. */
static long long earliest(long long a, long long b)
{
    return !a || (b && b < a) ? b : a;
}

/* ---- invoke ---- */

typedef struct prepared {
    json_t *params, *target;
    conn_slot *held; /* the target's slot, taken before rendering to quote on its connection */
    long long opened_by; /* the deadline the connection was opened under (0: none): the action's
                          * own is never later, so connecting and running share one timeout */
    char err[256];
    int unknown;
} prepared;

/* Whether a parameter may call sql_literal() or sql_ident(): a function is named in the
 * template's text, so finding the name is a safe over-approximation. */
static int names_quoting(const rb_node *n)
{
    if (n->kind == RB_NODE_SCALAR)
        return rb_scalar_has_template(n) && (strstr(n->str, "sql_literal") || strstr(n->str, "sql_ident"));
    size_t items = n->kind == RB_NODE_MAP ? 2 * n->count : n->count;
    for (size_t i = 0; i < items; i++)
        if (names_quoting(n->items[i]))
            return 1;
    return 0;
}

static int quotes_on_conn(const rb_action *a)
{
    const rb_action_ops *ops = a->type->ops;
    if (!ops->open || !ops->escape)
        return 0;
    for (size_t i = 0; i < a->type->nparams; i++)
        if (a->params[i] && names_quoting(a->params[i]))
            return 1;
    return 0;
}

/* Takes the target's slot and has the action open its connection, so that sql_literal() and
 * sql_ident() quote for that server. The run's mutex is released meanwhile (connecting may take
 * the step's whole timeout); the slot stays taken until the action ran. -1 with res filled. */
static int open_for_quoting(run *r, const invocation *inv, prepared *p, act_result *res)
{
    const rb_action *a = &inv->block->action;
    conn_slot *slot = slot_for(r, a);
    if (!slot) {
        rb_act_fail(res, RB_OUT_FAILED, "refused", "out of memory");
        return -1;
    }
    rb_act_call call = {
        .target = p->target, .target_name = rb_action_param(a, "target")->str,
        .deadline_ms = p->opened_by = deadline_of(inv, NULL, p->target), .cancel = inv->cancel,
        .cancel_fd = inv->cancel ? inv->cancel->fds[0] : -1, .rollback = inv->kind == INVOKE_ROLLBACK || inv->kind == INVOKE_UNDO,
        .dry_run = r->o->dry_run, .conn = &slot->conn};
    pthread_mutex_unlock(r->mu);
    pthread_mutex_lock(&slot->mu);
    refresh_slot(slot, p->target);
    int rc = a->type->ops->open(&call, res);
    pthread_mutex_lock(r->mu); /* order: a slot, then the run; nobody waits for a slot holding the run */
    p->held = slot;
    return rc;
}

/* 0 when rendered; -1 with p->err (or p->unknown); -2 when res is filled already. */
static int prepare(run *r, const invocation *inv, prepared *p, act_result *res)
{
    const rb_action *a = &inv->block->action;
    int targeted = a->type->target_kind && rb_action_param(a, "target");
    memset(p, 0, sizeof *p);
    if (targeted && quotes_on_conn(a)) {
        p->target = render_target(r, a, &p->unknown, p->err, sizeof p->err);
        if (!p->target)
            return -1;
        if (open_for_quoting(r, inv, p, res) != 0)
            return -2;
        sql_quoting q = {a->type->ops->escape, p->held->conn};
        p->params = render_params_quoting(r, a, &q, &p->unknown, p->err, sizeof p->err);
        return p->params ? 0 : -1;
    }
    p->params = render_params(r, a, &p->unknown, p->err, sizeof p->err);
    if (p->params && targeted)
        p->target = render_target(r, a, &p->unknown, p->err, sizeof p->err);
    return p->params && (!rb_action_param(a, "target") || p->target) ? 0 : -1;
}

/* The variables the secrets of this run and of every run that called it are read from: no
 * child inherits them (a step passes one on through its env:). NULL-terminated; caller frees
 * the array only. */
static const char **secret_env_names(const run *r)
{
    size_t n = 0;
    for (const run *p = r; p; p = p->parent)
        n += p->rb->nsecrets;
    const char **names = calloc(n + 1, sizeof *names);
    size_t k = 0;
    for (const run *p = r; names && p; p = p->parent)
        for (size_t i = 0; i < p->rb->nsecrets; i++)
            if (p->rb->secrets[i].env)
                names[k++] = p->rb->secrets[i].env;
    return names;
}

static void call_action(run *r, const invocation *inv, prepared *p, out_ctx *oc, act_result *res)
{
    const rb_action *a = &inv->block->action;
    const rb_action_ops *ops = a->type->ops;
    side_ctx sc = {r, inv->step};
    spawn_ctx spc;
    exec_spawn_ctx_init(&spc, r, inv);
    conn_slot *slot = p->held ? p->held : p->target ? slot_for(r, a) : NULL;
    rb_act_call call = {
        .params = p->params, .target = p->target, .target_name = rb_action_param(a, "target") ? rb_action_param(a, "target")->str : NULL,
        .deadline_ms = earliest(deadline_of(inv, p->params, p->target), p->opened_by), .cancel = inv->cancel,
        .cancel_fd = inv->cancel ? inv->cancel->fds[0] : -1, .rollback = inv->kind == INVOKE_ROLLBACK || inv->kind == INVOKE_UNDO,
        .dry_run = r->o->dry_run, .on_output = oc ? on_output : NULL, .out_ctx = oc,
        .side_write = side_write, .side_read = side_read, .side_ctx = &sc,
        .condition = cond_cb, .cond_ctx = r, .conn = slot ? &slot->conn : NULL,
        .on_spawn = r->o->dry_run ? NULL : exec_journal_spawn, .spawn_ctx = &spc}; /* a dry run is never resumed */
    const char **unset = secret_env_names(r);
    if (!unset) {
        rb_act_fail(res, RB_OUT_FAILED, "refused", "out of memory");
        return;
    }
    call.unset_env = unset;
    pthread_mutex_unlock(r->mu);
    if (slot && !p->held) {
        pthread_mutex_lock(&slot->mu);
        refresh_slot(slot, p->target);
    }
    if (inv->kind == INVOKE_UNDO)
        ops->undo(&call, res);
    else
        ops->run(&call, res);
    if (slot)
        pthread_mutex_unlock(&slot->mu);
    p->held = NULL;
    if (oc)
        flush_output(oc);
    free(unset);
    pthread_mutex_lock(r->mu);
}

/* A called runbook takes the run's mutex itself, as its steps do. */
static void call_runbook(run *r, const invocation *inv, const json_t *params, act_result *res)
{
    pthread_mutex_unlock(r->mu);
    exec_call_runbook(r, inv, params, res);
    pthread_mutex_lock(r->mu);
}

/* Judges the action's own rule and `expect:`, rendered (it may read inputs and outputs). */
static void judge_result(run *r, const rb_block *k, act_result *res)
{
    const rb_action_ops *ops = k->action.type->ops;
    if (res->outcome != RB_OUT_SUCCEEDED || !ops->judge)
        return;
    char err[256] = "";
    int unknown = 0;
    json_t *expect = k->expect ? render_typed(r, k->expect, &unknown, err, sizeof err) : NULL;
    if (k->expect && (!expect || unknown))
        rb_act_fail(res, RB_OUT_FAILED, unknown ? "undecided" : "expect", "expect: %s",
                    unknown ? "a value is known only in a real run" : err);
    else
        ops->judge(expect, res);
    json_decref(expect);
}

static void run_prepared(run *r, const invocation *inv, prepared *p, act_result *res)
{
    const rb_block *k = inv->block;
    char key[320];
    step_key(r, inv->step, key, sizeof key);
    if (r->o->verbose && inv->kind == INVOKE_MAIN)
        show_params(r, key, p->params);
    /* a secret capture is known only at the end: such output is held back until then */
    int live = inv->kind == INVOKE_MAIN && !block_has_secret_capture(k);
    out_ctx oc = {r, key, live ? rb_mask_stream_new(r->masker) : NULL};
    /* nothing acts unless the journal says so first; a rollback still tries to undo */
    if (journal_sync(r) != 0 && inv->kind != INVOKE_ROLLBACK && inv->kind != INVOKE_UNDO)
        rb_act_fail(res, RB_OUT_FAILED, "refused", "the journal cannot be written");
    else if (k->action.type->flags & RB_AT_CALLS_RUNBOOK)
        call_runbook(r, inv, p->params, res);
    else
        call_action(r, inv, p, live ? &oc : NULL, res);
    rb_mask_stream_free(oc.ms);
    if (!res->outputs)
        res->outputs = json_object();
    if (inv->kind != INVOKE_UNDO)
        judge_result(r, k, res);
}

/* An action's message is cut to its buffer before the executor can mask it: a secret at the cut
 * would leave its first half, which masking no longer recognises. A full message loses any
 * ending that starts a secret. */
static void close_cut_message(run *r, act_result *res)
{
    size_t len = strlen(res->message);
    if (len + 1 < sizeof res->message)
        return;
    size_t open = rb_mask_open_tail(r->masker, res->message, len);
    if (open)
        snprintf(res->message + len - open, open + 1, "%s", open >= 3 ? "***" : "");
}

void invoke(run *r, const invocation *inv, act_result *res)
{
    prepared p;
    int rc = prepare(r, inv, &p, res);
    if (rc == -1)
        rb_act_fail(res, RB_OUT_FAILED, p.unknown ? "undecided" : "refused", "%s",
                    p.unknown ? "undecided: a value is known only in a real run" : p.err);
    else if (rc == 0)
        run_prepared(r, inv, &p, res);
    if (p.held) /* taken for quoting, and the action did not run */
        pthread_mutex_unlock(&p.held->mu);
    if (!res->outputs)
        res->outputs = json_object();
    close_cut_message(r, res);
    json_decref(p.params);
    json_decref(p.target);
}
