/* The top level of a runbook: header keys, inputs, secrets, defaults; steps and targets are
 * built in their own files. Structural errors are collected, never fatal. */
#include <stdlib.h>
#include <string.h>

#include "build.h"

static const char *const top_keys[] = {
    "runbook", "version", "title", "description", "severity", "objectives", "tags", "lock",
    "on_failure", "deadline", "inputs", "secrets", "targets", "defaults", "steps", "report", NULL};
static const char *const severity_names[] = {"info", "low", "high", "critical", NULL};
static const char *const input_type_names[] = {"string", "int", "bool", "url", "enum", "duration", NULL};

const char *rb_severity_name(rb_severity_level s) { return severity_names[s]; }
const char *rb_input_type_name(rb_input_type t) { return input_type_names[t]; }

static void build_header(build *b, const rb_node *root)
{
    rb_runbook *rb = b->rb;
    const rb_node *n;
    if (!(n = rb_map_get(root, "runbook")))
        b_error(b, root, "missing required key \"runbook\" (the runbook's name)");
    else if (b_id(b, n, "runbook name") == 0) {
        rb->name = n->str;
        rb->name_node = n;
    }
    long long version;
    if (!(n = rb_map_get(root, "version")))
        b_error(b, root, "missing required key \"version\" (write version: 1)");
    else if (b_int(b, n, "version", &version) == 0 && version != 1)
        b_error(b, n, "unsupported language version; this runbook understands version 1");
    if (!(n = rb_map_get(root, "title")))
        b_error(b, root, "missing required key \"title\"");
    else
        rb->title = b_string(b, n, "title");
    if ((n = rb_map_get(root, "description")))
        rb->description = b_string(b, n, "description");
    rb->severity = RB_SEVERITY_HIGH;
    int sev;
    if ((n = rb_map_get(root, "severity")) && (sev = b_enum(b, n, severity_names, "severity")) >= 0)
        rb->severity = (rb_severity_level)sev;
    if ((n = rb_map_get(root, "lock")) && b_id(b, n, "lock") == 0)
        rb->lock = n->str;
    if ((n = rb_map_get(root, "on_failure")))
        b_policy(b, n, &rb->on_failure);
    rb->deadline_node = rb_map_get(root, "deadline");
    b_duration(b, rb->deadline_node, "deadline", &rb->deadline_ms);
}

static void build_objectives(build *b, const rb_node *n)
{
    static const char *const keys[] = {"rto", "rpo", NULL};
    b->rb->rto_ms = b->rb->rpo_ms = RB_NO_DURATION;
    if (!n || b_want(b, n, RB_NODE_MAP, "objectives") != 0)
        return;
    b_check_keys(b, n, keys, NULL, "objectives");
    static const char *const names[] = {"objectives.rto", "objectives.rpo"};
    long long *out[] = {&b->rb->rto_ms, &b->rb->rpo_ms};
    for (int i = 0; i < 2; i++) {
        const rb_node *d = rb_map_get(n, keys[i]);
        if (b_duration(b, d, names[i], out[i]) == 0 && *out[i] == RB_DYNAMIC) {
            b_error(b, d, "%s is a fixed duration: runs and drills are measured against it", names[i]);
            *out[i] = RB_NO_DURATION;
        }
    }
}

static void build_tags(build *b, const rb_node *n)
{
    if (!n || b_want(b, n, RB_NODE_SEQ, "tags") != 0)
        return;
    b->rb->tags = n;
    for (size_t i = 0; i < n->count; i++)
        b_string(b, n->items[i], "a tag");
}

static void build_defaults(build *b, const rb_node *n)
{
    static const char *const keys[] = {"timeout", "retry", "on_failure", NULL};
    b->rb->default_timeout_ms = RB_NO_DURATION;
    if (!n || b_want(b, n, RB_NODE_MAP, "defaults") != 0)
        return;
    b_check_keys(b, n, keys, NULL, "defaults");
    b->rb->default_timeout_node = rb_map_get(n, "timeout");
    b_duration(b, b->rb->default_timeout_node, "defaults.timeout", &b->rb->default_timeout_ms);
    b_retry(b, rb_map_get(n, "retry"), &b->rb->default_retry);
    if (b->rb->default_retry.until) {
        b_error(b, b->rb->default_retry.until, "until reads one step's outputs: put it on that step's retry");
        b->rb->default_retry.until = NULL;
    }
    const rb_node *p = rb_map_get(n, "on_failure");
    rb_policy policy = RB_POLICY_UNSET;
    if (p && b_policy(b, p, &policy) == 0 && b->rb->on_failure == RB_POLICY_UNSET)
        b->rb->on_failure = policy; /* the top-level on_failure, when given, wins */
}

/* min/max are integers for int inputs and durations for duration inputs. */
static void input_bound(build *b, rb_input *in, const rb_node *n, int *has, long long *v)
{
    if (!n)
        return;
    if (in->type != RB_IN_INT && in->type != RB_IN_DURATION) {
        b_error(b, n, "min and max apply to int and duration inputs only");
        return;
    }
    int ok = in->type == RB_IN_INT ? b_int(b, n, "min/max", v) == 0 : b_duration(b, n, "min/max", v) == 0;
    if (ok && *v == RB_DYNAMIC)
        b_error(b, n, "min and max are fixed values, not expressions");
    *has = ok && *v != RB_DYNAMIC;
}

static void build_input(build *b, rb_input *in, const rb_node *key, const rb_node *spec)
{
    static const char *const keys[] = {"type", "description", "default", "min", "max", "values", "pattern", NULL};
    in->name = key->str;
    in->node = key;
    b_id(b, key, "input name");
    if (b_want(b, spec, RB_NODE_MAP, "an input") != 0)
        return;
    b_check_keys(b, spec, keys, NULL, "an input");
    const rb_node *n;
    int t;
    if ((n = rb_map_get(spec, "type")) && (t = b_enum(b, n, input_type_names, "input type")) >= 0)
        in->type = (rb_input_type)t;
    if ((n = rb_map_get(spec, "description")))
        in->description = b_string(b, n, "description");
    if ((n = rb_map_get(spec, "default")) && b_want(b, n, RB_NODE_SCALAR, "default") == 0)
        in->def = n;
    input_bound(b, in, rb_map_get(spec, "min"), &in->has_min, &in->min);
    input_bound(b, in, rb_map_get(spec, "max"), &in->has_max, &in->max);
    n = rb_map_get(spec, "values");
    if (n && in->type != RB_IN_ENUM)
        b_error(b, n, "values apply to enum inputs only");
    else if (n && b_want(b, n, RB_NODE_SEQ, "values") == 0)
        in->values = n;
    if (!n && in->type == RB_IN_ENUM)
        b_error(b, key, "an enum input needs \"values\"");
    n = rb_map_get(spec, "pattern");
    if (n && in->type != RB_IN_STRING)
        b_error(b, n, "pattern applies to string inputs only");
    else if (n && b_string(b, n, "pattern"))
        in->pattern = n;
}

static void build_inputs(build *b, const rb_node *n)
{
    if (!n || b_want(b, n, RB_NODE_MAP, "inputs") != 0)
        return;
    b->rb->inputs = b_calloc(b, n->count, sizeof(rb_input));
    if (!b->rb->inputs)
        return;
    b->rb->ninputs = n->count;
    for (size_t i = 0; i < n->count; i++)
        build_input(b, &b->rb->inputs[i], n->items[2 * i], n->items[2 * i + 1]);
}

static void build_secret(build *b, rb_secret *s, const rb_node *key, const rb_node *spec)
{
    static const char *const keys[] = {"env", "file", "description", NULL};
    s->name = key->str;
    s->node = key;
    b_id(b, key, "secret name");
    if (b_want(b, spec, RB_NODE_MAP, "a secret") != 0)
        return;
    b_check_keys(b, spec, keys, NULL, "a secret");
    const rb_node *env = rb_map_get(spec, "env"), *file = rb_map_get(spec, "file");
    if (env && file)
        b_error(b, file, "a secret comes from \"env\" or \"file\", not both");
    else if (!env && !file)
        b_error(b, key, "a secret needs \"env\" (a variable name) or \"file\" (a path)");
    if (env)
        s->env = b_string(b, env, "env");
    if (file)
        s->file = b_string(b, file, "file");
    const rb_node *d = rb_map_get(spec, "description");
    if (d)
        s->description = b_string(b, d, "description");
}

static void build_secrets(build *b, const rb_node *n)
{
    if (!n || b_want(b, n, RB_NODE_MAP, "secrets") != 0)
        return;
    b->rb->secrets = b_calloc(b, n->count, sizeof(rb_secret));
    if (!b->rb->secrets)
        return;
    b->rb->nsecrets = n->count;
    for (size_t i = 0; i < n->count; i++)
        build_secret(b, &b->rb->secrets[i], n->items[2 * i], n->items[2 * i + 1]);
}

rb_runbook *rb_model_build(rb_doc *doc, rb_diags *d)
{
    rb_runbook *rb = calloc(1, sizeof *rb);
    if (!rb) {
        rb_doc_free(doc);
        return NULL;
    }
    rb->doc = doc;
    rb->path = rb_doc_name(doc);
    rb->rto_ms = rb->rpo_ms = rb->deadline_ms = rb->default_timeout_ms = RB_NO_DURATION;
    build b = {rb, d, doc};
    const rb_node *root = rb_doc_root(doc);
    b_check_keys(&b, root, top_keys, NULL, "a runbook");
    build_header(&b, root);
    build_objectives(&b, rb_map_get(root, "objectives"));
    build_tags(&b, rb_map_get(root, "tags"));
    build_defaults(&b, rb_map_get(root, "defaults"));
    build_inputs(&b, rb_map_get(root, "inputs"));
    build_secrets(&b, rb_map_get(root, "secrets"));
    const rb_node *targets = rb_map_get(root, "targets");
    if (targets)
        b_targets(&b, targets);
    const rb_node *steps = rb_map_get(root, "steps");
    if (!steps)
        b_error(&b, root, "missing required key \"steps\"");
    else
        b_steps(&b, steps);
    b_figures(&b, rb_map_get(root, "report"));
    return rb;
}

static void free_block(rb_block *k)
{
    if (k)
        free(k->captures);
}

void rb_runbook_free(rb_runbook *rb)
{
    if (!rb)
        return;
    for (size_t i = 0; i < rb->nsteps; i++) {
        rb_step *s = &rb->steps[i];
        free(s->preconditions);
        free_block(&s->main);
        free_block(s->rollback);
        free_block(s->verify);
        free(s->rollback);
        free(s->verify);
    }
    for (size_t i = 0; i < rb->nfigures; i++)
        free(rb->figures[i].ref);
    free(rb->figures);
    free(rb->steps);
    free(rb->inputs);
    free(rb->secrets);
    free(rb->targets);
    rb_doc_free(rb->doc);
    free(rb);
}

rb_runbook *rb_runbook_load(const char *path, rb_diags *d)
{
    rb_doc *doc = rb_load_file(path, d);
    return doc ? rb_model_build(doc, d) : NULL;
}

const rb_step *rb_runbook_step(const rb_runbook *rb, const char *id)
{
    for (size_t i = 0; i < rb->nsteps; i++)
        if (rb->steps[i].id && strcmp(rb->steps[i].id, id) == 0)
            return &rb->steps[i];
    return NULL;
}

const rb_input *rb_runbook_input(const rb_runbook *rb, const char *name)
{
    for (size_t i = 0; i < rb->ninputs; i++)
        if (strcmp(rb->inputs[i].name, name) == 0)
            return &rb->inputs[i];
    return NULL;
}

const rb_secret *rb_runbook_secret(const rb_runbook *rb, const char *name)
{
    for (size_t i = 0; i < rb->nsecrets; i++)
        if (strcmp(rb->secrets[i].name, name) == 0)
            return &rb->secrets[i];
    return NULL;
}

const rb_target *rb_runbook_target(const rb_runbook *rb, const char *name)
{
    for (size_t i = 0; i < rb->ntargets; i++)
        if (strcmp(rb->targets[i].name, name) == 0)
            return &rb->targets[i];
    return NULL;
}
