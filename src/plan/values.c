/* Typed input values and the fixed objects expressions read. */
#include <stdlib.h>
#include <string.h>

#include "runbook/expr.h"
#include "runbook/values.h"

json_t *rb_input_value(const rb_input *in, const char *text)
{
    long long ms;
    switch (in->type) {
    case RB_IN_INT:
        return json_integer(strtoll(text, NULL, 10));
    case RB_IN_BOOL:
        return json_boolean(!strcmp(text, "true"));
    case RB_IN_DURATION:
        return rb_duration_parse(text, strlen(text), &ms) == 0 ? json_integer(ms) : json_null();
    default:
        return json_string(text);
    }
}

json_t *rb_inputs_object(const rb_runbook *rb, const char *(*get)(void *ctx, const char *name), void *ctx)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < rb->ninputs; i++) {
        const rb_input *in = &rb->inputs[i];
        const char *v = get ? get(ctx, in->name) : NULL;
        if (!v && in->def)
            v = in->def->str;
        json_t *value = v ? rb_input_value(in, v) : json_incref(rb_unknown());
        json_object_set_new(o, in->name, value ? value : json_null());
    }
    return o;
}

static json_t *duration_or_null(long long ms)
{
    return ms >= 0 ? json_integer(ms) : json_null();
}

json_t *rb_runbook_object(const rb_runbook *rb)
{
    return json_pack("{s:s?, s:{s:o, s:o}}", "name", rb->name, "objectives", "rto", duration_or_null(rb->rto_ms),
                     "rpo", duration_or_null(rb->rpo_ms));
}

char *rb_render_node(const rb_node *n, const rb_scope *scope, int *unknown, char *err, size_t errlen)
{
    *unknown = 0;
    if (!rb_scalar_has_template(n))
        return strdup(n->str);
    rb_expr_error e;
    rb_template *t = rb_template_parse(n->str, n->len, &e);
    char *out = t ? rb_template_render(t, scope, NULL, unknown, &e) : NULL;
    if (!out && !*unknown)
        snprintf(err, errlen, "%s", e.message);
    rb_template_free(t);
    return out;
}
