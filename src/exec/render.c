/* Rendering an action's parameters from the model's templates into plain JSON, so actions
 * never see YAML or expressions. Every ${{ }} is evaluated against the run's scope. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct rctx {
    run *r;
    rb_scope scope;
    int unknown;
    int failed;
    char *err;
    size_t errlen;
} rctx;

/* A scalar that is exactly one ${{ }} keeps its value's type; anything else is text. */
/* A plain YAML scalar in a typed place (a JSON body, dry_run outputs) keeps its YAML type:
 * ttl: 300 is the number 300, not the text "300". Quoted scalars stay text. */
static json_t *plain_value(const rb_node *n)
{
    long long i;
    int b;
    char *end = NULL;
    if (n->style != RB_STYLE_PLAIN)
        return NULL;
    if (rb_scalar_int(n, &i) == 0)
        return json_integer(i);
    if (rb_scalar_bool(n, &b) == 0)
        return json_boolean(b);
    if (rb_node_is_null(n))
        return json_null();
    double d = n->len ? strtod(n->str, &end) : 0;
    return end && !*end && (n->str[0] == '-' || (n->str[0] >= '0' && n->str[0] <= '9')) ? json_real(d) : NULL;
}

static json_t *render_scalar(rctx *c, const rb_node *n, int typed)
{
    json_t *plain = typed && !rb_scalar_has_template(n) ? plain_value(n) : NULL;
    if (plain)
        return plain;
    if (!rb_scalar_has_template(n))
        return json_stringn(n->str, n->len);
    rb_expr_error e;
    rb_template *t = rb_template_parse(n->str, n->len, &e);
    json_t *v = NULL;
    const rb_expr *single = t ? rb_template_single(t) : NULL;
    if (t && typed && single) {
        v = rb_expr_eval(single, &c->scope, &e);
        if (v && rb_is_unknown(v))
            json_decref(v), v = NULL, c->unknown = 1;
    } else if (t) {
        int unknown = 0;
        char *s = rb_template_render(t, &c->scope, NULL, &unknown, &e);
        c->unknown |= unknown;
        v = s ? json_string(s) : NULL;
        free(s);
        if (s && !v)
            snprintf(e.message, sizeof e.message, "the value is not valid UTF-8"), s = NULL;
        if (!s && unknown)
            e.message[0] = 0;
    }
    if (!v && !c->unknown && !c->failed) {
        c->failed = 1;
        snprintf(c->err, c->errlen, "%s", t ? e.message : e.message);
    }
    rb_template_free(t);
    return v;
}

static json_t *render_tree(rctx *c, const rb_node *n, int typed)
{
    if (n->kind == RB_NODE_SCALAR)
        return render_scalar(c, n, typed);
    json_t *out = n->kind == RB_NODE_MAP ? json_object() : json_array();
    for (size_t i = 0; out && i < n->count; i++) {
        const rb_node *item = n->kind == RB_NODE_MAP ? n->items[2 * i + 1] : n->items[i];
        json_t *v = render_tree(c, item, typed);
        if (!v)
            v = json_null();
        if (n->kind == RB_NODE_MAP)
            json_object_set_new(out, n->items[2 * i]->str, v);
        else
            json_array_append_new(out, v);
    }
    return out;
}

/* Durations given as text ("90s") or as milliseconds from an expression. */
static json_t *render_duration(rctx *c, const rb_node *n)
{
    json_t *v = render_scalar(c, n, 1);
    long long ms;
    if (v && json_is_string(v)) {
        if (rb_duration_parse(json_string_value(v), json_string_length(v), &ms) == 0) {
            json_decref(v);
            return json_integer(ms);
        }
    }
    if (v && json_is_integer(v) && json_integer_value(v) >= 0)
        return v;
    if (v && !c->failed) {
        c->failed = 1;
        snprintf(c->err, c->errlen, "a duration parameter evaluated to something that is not a duration");
    }
    json_decref(v);
    return NULL;
}

/* Expressions go to their action as source text: it evaluates them through the call context. */
static json_t *exprs_source(const rb_node *n)
{
    if (n->kind == RB_NODE_SCALAR)
        return json_stringn(n->str, n->len);
    json_t *out = json_array();
    for (size_t i = 0; out && i < n->count; i++)
        if (n->items[i]->kind == RB_NODE_SCALAR)
            json_array_append_new(out, json_stringn(n->items[i]->str, n->items[i]->len));
    return out;
}

static json_t *render_param(rctx *c, const rb_param_def *def, const rb_node *n)
{
    int flag;
    switch (def->kind) {
    case RB_P_DURATION:
        return render_duration(c, n);
    case RB_P_INT:
        return render_scalar(c, n, 1);
    case RB_P_BOOL:
        return json_boolean(rb_scalar_bool(n, &flag) == 0 && flag);
    case RB_P_ANY:
        return render_tree(c, n, 1);
    case RB_P_SQL:
    case RB_P_TARGET:
    case RB_P_RUNBOOK:
    case RB_P_MODE:
    case RB_P_METHOD:
        return json_stringn(n->str, n->len);
    case RB_P_EXPRS:
        return exprs_source(n);
    default:
        return render_tree(c, n, 0);
    }
}

/* Shell-like actions get their values in the environment (render_shell). */
static int quotes_values(const rb_action *a, const rb_param_def *def)
{
    return a->type->quoted_param && !strcmp(a->type->quoted_param, def->key);
}

/* A shell script or ssh command: each value goes to the script in an environment variable
 * (RB_V1...) that the rendered text reads by name, so no value is parsed as shell code
 * (rb_shell_render, the same lexer the checker runs: an unchecked model is refused here too,
 * before anything runs). The variables join the step's env; a name the author set there is
 * refused rather than overwritten. */
static json_t *render_shell(rctx *c, const rb_node *n, json_t *env)
{
    if (n->kind != RB_NODE_SCALAR || !rb_scalar_has_template(n))
        return render_tree(c, n, 0);
    rb_expr_error e;
    rb_shell_error se = {0};
    rb_template *t = rb_template_parse(n->str, n->len, &e);
    int unknown = 0;
    char *s = t ? rb_shell_render(t, n->str, n->len, &c->scope, env, &unknown, &se) : NULL;
    json_t *v = s ? json_string(s) : NULL;
    const char *why = !t ? e.message : !s ? se.message : "the script is not valid UTF-8";
    c->unknown |= unknown;
    if (!v && !unknown && !c->failed) {
        c->failed = 1;
        snprintf(c->err, c->errlen, "%s%s", t ? "refused: " : "", why);
    }
    rb_template_free(t);
    free(s);
    return v;
}

/* Moves the values' variables into the rendered env (created when the step has none). */
static int merge_shell_env(rctx *c, json_t *out, json_t *values)
{
    json_t *env = json_object_get(out, "env");
    const char *k;
    json_t *v;
    if (!json_object_size(values))
        return 0;
    if (!env) {
        env = json_object();
        if (!env || json_object_set_new(out, "env", env) < 0)
            return -1;
    }
    json_object_foreach(values, k, v) {
        if (json_object_get(env, k)) {
            snprintf(c->err, c->errlen, "refused: env name %s is reserved for the script's ${{ }} values", k);
            return -1;
        }
        json_object_set(env, k, v);
    }
    return 0;
}

/* Arguments are visible to every user through ps: no secret may be in one, whatever block
 * (step, rollback, verify) it comes from. A hit is any change the masker makes. */
static int argv_has_secret(run *r, json_t *argv)
{
    size_t i, n;
    json_t *item;
    json_array_foreach(argv, i, item)
    {
        const char *s = json_string_value(item);
        size_t len = json_string_length(item);
        char *m = s ? rb_mask_apply(r->masker, s, len, &n) : NULL;
        int hit = !m || n != len || memcmp(m, s, len) != 0;
        free(m);
        if (s && hit)
            return 1;
    }
    return 0;
}

/* The run's scope with sql_literal()/sql_ident() quoting through a connection: rb_scope has
 * one context for both, so this one carries the run's and forwards. */
typedef struct quoting_scope {
    rb_scope run;
    const sql_quoting *q;
} quoting_scope;

static json_t *lookup_in_run(void *ctx, const char *root)
{
    const quoting_scope *qs = ctx;
    return qs->run.lookup(qs->run.ctx, root);
}

static char *quote_on_conn(void *ctx, const char *s, size_t len, int ident)
{
    const quoting_scope *qs = ctx;
    return qs->q->escape(qs->q->conn, s, len, ident);
}

json_t *render_params(run *r, const rb_action *a, int *unknown, char *err, size_t errlen)
{
    return render_params_quoting(r, a, NULL, unknown, err, errlen);
}

json_t *render_params_quoting(run *r, const rb_action *a, const sql_quoting *q, int *unknown, char *err,
                              size_t errlen)
{
    rctx c = {r, run_scope(r), 0, 0, err, errlen};
    quoting_scope qs = {c.scope, q};
    if (q && q->escape && q->conn)
        c.scope = (rb_scope){lookup_in_run, &qs, quote_on_conn};
    json_t *out = json_object(), *shell_env = json_object();
    for (size_t i = 0; out && shell_env && a->type && i < a->type->nparams && !c.failed; i++) {
        if (!a->params[i])
            continue;
        json_t *v = quotes_values(a, &a->type->params[i]) ? render_shell(&c, a->params[i], shell_env)
                                                          : render_param(&c, &a->type->params[i], a->params[i]);
        if (v)
            json_object_set_new(out, a->type->params[i].key, v);
    }
    if (!shell_env || (!c.failed && !c.unknown && out && merge_shell_env(&c, out, shell_env) < 0))
        c.failed = 1;
    json_decref(shell_env);
    *unknown = c.unknown;
    if (!c.failed && !c.unknown && out && a->type->argv_param &&
        argv_has_secret(r, json_object_get(out, a->type->argv_param))) {
        snprintf(err, errlen, "refused: a secret would be visible in the argv (use env: or stdin:)");
        c.failed = 1;
    }
    if (c.failed || c.unknown) {
        json_decref(out);
        return NULL;
    }
    return out;
}

json_t *render_typed(run *r, const rb_node *n, int *unknown, char *err, size_t errlen)
{
    rctx c = {r, run_scope(r), 0, 0, err, errlen};
    json_t *v = render_tree(&c, n, 1);
    *unknown = c.unknown;
    if (c.failed) {
        json_decref(v);
        return NULL;
    }
    return v;
}

json_t *render_target(run *r, const rb_action *a, int *unknown, char *err, size_t errlen)
{
    const rb_node *name = rb_action_param(a, "target");
    const rb_target *t = name ? rb_runbook_target(r->rb, name->str) : NULL;
    if (!t || !t->params)
        return NULL;
    rctx c = {r, run_scope(r), 0, 0, err, errlen};
    json_t *out = render_tree(&c, t->params, 0);
    if (c.failed || c.unknown) {
        json_decref(out);
        if (c.unknown)
            snprintf(err, errlen, "target \"%s\" needs a value only a real run has", t->name);
        *unknown |= c.unknown;
        return NULL;
    }
    json_object_set_new(out, "kind", json_string(rb_target_kind_name(t->kind)));
    return out;
}
