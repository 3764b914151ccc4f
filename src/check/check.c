/* The checker's entry point: the runbook's name, inputs and targets, then every step and the
 * DR lint rules. Also the value check for inputs shared with `plan` and `run`. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "checker.h"
#include "runbook/regex.h"

int c_regex(checker *c, const rb_node *n, size_t skip)
{
    size_t off = 0;
    char msg[160];
    rb_regex *re = rb_regex_compile(n->str + skip, n->len - skip, &off, msg, sizeof msg);
    if (!re) {
        c_error(c, n, skip + off, "invalid regex: %s", msg);
        return -1;
    }
    int groups = rb_regex_groups(re);
    rb_regex_free(re);
    return groups;
}

/* The file "runbooks/failover.yaml" must say runbook: failover. */
static void check_name(checker *c)
{
    const rb_runbook *rb = c->rb;
    if (!rb->name || !rb->path)
        return;
    const char *base = strrchr(rb->path, '/');
    base = base ? base + 1 : rb->path;
    const char *dot = strrchr(base, '.');
    size_t len = dot ? (size_t)(dot - base) : strlen(base);
    if (strlen(rb->name) == len && strncmp(rb->name, base, len) == 0)
        return;
    c_error(c, rb->name_node, RB_NO_OFFSET, "the runbook's name \"%s\" differs from its file name \"%.*s\"",
            rb->name, (int)len, base);
    rb_diag_hint(c->d, "runbooks are found by name: rename the file or the runbook");
}

static void check_enum_values(checker *c, const rb_input *in)
{
    for (size_t i = 0; i < in->values->count; i++) {
        const rb_node *v = in->values->items[i];
        if (v->kind != RB_NODE_SCALAR) {
            c_error(c, v, RB_NO_OFFSET, "enum values are single values");
            continue;
        }
        for (size_t j = 0; j < i; j++)
            if (in->values->items[j]->kind == RB_NODE_SCALAR && !strcmp(in->values->items[j]->str, v->str))
                c_error(c, v, RB_NO_OFFSET, "enum value \"%s\" is listed twice", v->str);
    }
}

static void check_inputs(checker *c)
{
    for (size_t i = 0; i < c->rb->ninputs; i++) {
        const rb_input *in = &c->rb->inputs[i];
        if (in->values)
            check_enum_values(c, in);
        if (in->pattern && c_regex(c, in->pattern, 0) < 0)
            continue;
        if (in->has_min && in->has_max && in->min > in->max)
            c_error(c, in->node, RB_NO_OFFSET, "input \"%s\" has min greater than max", in->name);
        char err[200];
        if (in->def && rb_input_check(in, in->def->str, err, sizeof err) != 0)
            c_error(c, in->def, RB_NO_OFFSET, "default of input \"%s\": %s", in->name, err);
    }
}

/* Run-wide values that may come from inputs: the deadline and the defaults. */
static void check_header_templates(checker *c)
{
    const rb_node *root = rb_doc_root(c->rb->doc), *defaults = rb_map_get(root, "defaults");
    const rb_node *retry = rb_map_get(defaults, "retry");
    const rb_node *nodes[] = {rb_map_get(root, "deadline"), rb_map_get(defaults, "timeout"),
                              rb_map_get(retry, "attempts"), rb_map_get(retry, "delay"),
                              rb_map_get(retry, "max_delay"), rb_map_get(retry, "jitter")};
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++)
        if (nodes[i] && rb_scalar_has_template(nodes[i]))
            c_template(c, nodes[i], NULL, SCOPE_TARGET);
}

static void check_targets(checker *c)
{
    for (size_t i = 0; i < c->rb->ntargets; i++)
        if (c->rb->targets[i].params)
            c_template_tree(c, c->rb->targets[i].params, NULL, SCOPE_TARGET);
}

/* report: every figure reads a journaled output of a step of this runbook, and an objective
 * it is measured against is declared. */
static int output_of(const rb_step *s, const char *field, int *secret)
{
    for (size_t i = 0; i < s->main.ncaptures; i++)
        if (s->main.captures[i].name && !strcmp(s->main.captures[i].name, field))
            return *secret = s->main.captures[i].secret, 1;
    const char *const *outs = s->main.action.type ? s->main.action.type->outputs : NULL;
    for (size_t i = 0; outs && outs[i]; i++)
        if (!strcmp(outs[i], field))
            return 1;
    for (size_t i = 0; rb_common_outputs[i]; i++)
        if (!strcmp(rb_common_outputs[i], field))
            return 1;
    return 0;
}

static void check_figure(checker *c, const rb_figure *f)
{
    const rb_step *s = f->step ? rb_runbook_step(c->rb, f->step) : NULL;
    int secret = 0;
    if (f->step && !s)
        c_error(c, f->value_node, RB_NO_OFFSET, "unknown step \"%s\"", f->step);
    else if (s && !output_of(s, f->field, &secret))
        c_error(c, f->value_node, RB_NO_OFFSET, "step \"%s\" has no output \"%s\"", f->step, f->field);
    else if (s && secret)
        c_error(c, f->value_node, RB_NO_OFFSET, "capture \"%s\" of step \"%s\" is secret: it is never journaled, so it cannot be reported",
                f->field, f->step);
    long long objective = f->objective == RB_FIGURE_RTO ? c->rb->rto_ms : c->rb->rpo_ms;
    if (f->objective != RB_FIGURE_NONE && objective == RB_NO_DURATION) {
        c_error(c, f->objective_node, RB_NO_OFFSET, "this figure is measured against the %s, and the runbook declares none",
                rb_figure_objective_name(f->objective));
        rb_diag_hint(c->d, "add objectives: { %s: DURATION }", rb_figure_objective_name(f->objective));
    }
}

void rb_check(const rb_runbook *rb, const rb_graph *g, rb_catalog *cat, rb_diags *d)
{
    size_t n = rb->nsteps ? rb->nsteps : 1, first = d->count;
    checker c = {.rb = rb, .g = g, .cat = cat, .d = d, .guards_done = calloc(n, 1),
                 .guards = calloc(n, sizeof(size_t *)), .nguards = calloc(n, sizeof(size_t))};
    if (!c.guards_done || !c.guards || !c.nguards) {
        free(c.guards_done);
        c.guards_done = NULL; /* without the cache, no step counts as guarded by its when */
    }
    check_name(&c);
    check_inputs(&c);
    check_targets(&c);
    check_header_templates(&c);
    c_actions(&c);
    for (size_t i = 0; i < rb->nfigures; i++)
        check_figure(&c, &rb->figures[i]);
    c_lint(&c);
    c_waivers(&c, first);
    for (size_t i = 0; c.guards && i < rb->nsteps; i++)
        free(c.guards[i]);
    free(c.guards_done);
    free(c.guards);
    free(c.nguards);
}

/* ---- input values ---- */

static int fail(char *err, size_t len, const char *msg)
{
    snprintf(err, len, "%s", msg);
    return -1;
}

static int check_int_value(const rb_input *in, const char *v, char *err, size_t len)
{
    rb_node tmp = {.kind = RB_NODE_SCALAR, .style = RB_STYLE_PLAIN, .str = v, .len = strlen(v)};
    long long n;
    if (rb_scalar_int(&tmp, &n) != 0)
        return fail(err, len, "expected an integer");
    if ((in->has_min && n < in->min) || (in->has_max && n > in->max)) {
        snprintf(err, len, "%lld is out of range (%lld to %lld)", n, in->has_min ? in->min : -9223372036854775807LL,
                 in->has_max ? in->max : 9223372036854775807LL);
        return -1;
    }
    return 0;
}

static int check_duration_value(const rb_input *in, const char *v, char *err, size_t len)
{
    long long ms;
    if (rb_duration_parse(v, strlen(v), &ms) != 0)
        return fail(err, len, "expected a duration with a unit, such as 90s or 5m");
    char lo[32], hi[32];
    rb_duration_format(in->has_min ? in->min : 0, lo, sizeof lo);
    rb_duration_format(in->has_max ? in->max : 0, hi, sizeof hi);
    if (in->has_min && ms < in->min) {
        snprintf(err, len, "shorter than the minimum %s", lo);
        return -1;
    }
    if (in->has_max && ms > in->max) {
        snprintf(err, len, "longer than the maximum %s", hi);
        return -1;
    }
    return 0;
}

static int check_url_value(const char *v, char *err, size_t len)
{
    const char *host = !strncmp(v, "https://", 8) ? v + 8 : !strncmp(v, "http://", 7) ? v + 7 : NULL;
    if (!host)
        return fail(err, len, "expected an http:// or https:// URL");
    if (!*host || *host == '/' || *host == ':' || *host == '?')
        return fail(err, len, "the URL has no host");
    for (const char *p = v; *p; p++)
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
            return fail(err, len, "a URL cannot hold spaces or control characters");
    return 0;
}

static int check_enum_value(const rb_input *in, const char *v, char *err, size_t len)
{
    char list[200] = "";
    for (size_t i = 0; in->values && i < in->values->count; i++) {
        const rb_node *o = in->values->items[i];
        if (o->kind == RB_NODE_SCALAR && !strcmp(o->str, v))
            return 0;
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 o->kind == RB_NODE_SCALAR ? o->str : "?");
    }
    snprintf(err, len, "expected one of: %s", list);
    return -1;
}

static int check_pattern_value(const rb_input *in, const char *v, char *err, size_t len)
{
    size_t off;
    char msg[160];
    rb_regex *re = rb_regex_compile(in->pattern->str, in->pattern->len, &off, msg, sizeof msg);
    if (!re)
        return fail(err, len, "the input's pattern is not a valid regex");
    int m = rb_regex_match_whole(re, v, strlen(v));
    rb_regex_free(re);
    if (m == 1)
        return 0;
    snprintf(err, len, "does not match the pattern %.80s", in->pattern->str);
    return -1;
}

int rb_input_check(const rb_input *in, const char *value, char *err, size_t errlen)
{
    switch (in->type) {
    case RB_IN_INT:
        return check_int_value(in, value, err, errlen);
    case RB_IN_BOOL:
        if (strcmp(value, "true") && strcmp(value, "false"))
            return fail(err, errlen, "expected true or false");
        return 0;
    case RB_IN_URL:
        return check_url_value(value, err, errlen);
    case RB_IN_ENUM:
        return check_enum_value(in, value, err, errlen);
    case RB_IN_DURATION:
        return check_duration_value(in, value, err, errlen);
    case RB_IN_STRING:
        return in->pattern ? check_pattern_value(in, value, err, errlen) : 0;
    }
    return 0;
}
