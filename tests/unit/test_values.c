/* Values expressions read: typed input values, the `inputs` object (getter, defaults, required
 * inputs left unknown), the `runbook` object, and rendering a template node. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runbook/expr.h"
#include "runbook/model.h"
#include "runbook/node.h"
#include "runbook/values.h"

#define HEAD "runbook: t\nversion: 1\ntitle: T\n"

static rb_runbook *build(const char *yaml, rb_diags *d)
{
    rb_diags_init(d);
    rb_doc *doc = rb_load_buffer("t.yaml", yaml, strlen(yaml), d);
    assert_non_null(doc);
    rb_runbook *rb = rb_model_build(doc, d);
    assert_non_null(rb);
    if (rb->errors) {
        rb_diags_print_text(d, stderr, 0);
        fail_msg("structural errors");
    }
    return rb;
}

static const char inputs_yaml[] = HEAD "inputs:\n"
                                       "  s: { default: hello }\n"
                                       "  n: { type: int, default: 3 }\n"
                                       "  b: { type: bool, default: true }\n"
                                       "  f: { type: bool, default: false }\n"
                                       "  d: { type: duration, default: 1m30s }\n"
                                       "  u: { type: url, default: \"https://x\" }\n"
                                       "  e: { type: enum, values: [fast, safe], default: safe }\n"
                                       "  req: { type: int }\n"
                                       "  q: { default: \"007\" }\n"
                                       "steps:\n  - id: a\n    assert: \"true\"\n";

static json_t *lookup(void *ctx, const char *root)
{
    return strcmp(root, "inputs") == 0 ? (json_t *)ctx : NULL;
}

static void input_value_types(void **state)
{
    (void)state;
    rb_diags d;
    rb_runbook *rb = build(inputs_yaml, &d);
    json_t *v;

    v = rb_input_value(rb_runbook_input(rb, "n"), "42");
    assert_true(json_is_integer(v));
    assert_int_equal(json_integer_value(v), 42);
    json_decref(v);
    v = rb_input_value(rb_runbook_input(rb, "n"), "-7");
    assert_int_equal(json_integer_value(v), -7);
    json_decref(v);
    v = rb_input_value(rb_runbook_input(rb, "n"), "9223372036854775807");
    assert_int_equal(json_integer_value(v), 9223372036854775807LL);
    json_decref(v);

    v = rb_input_value(rb_runbook_input(rb, "b"), "true");
    assert_true(json_is_true(v));
    json_decref(v);
    v = rb_input_value(rb_runbook_input(rb, "b"), "false");
    assert_true(json_is_false(v));
    json_decref(v);

    v = rb_input_value(rb_runbook_input(rb, "d"), "1m30s");
    assert_true(json_is_integer(v));
    assert_int_equal(json_integer_value(v), 90000);
    json_decref(v);
    v = rb_input_value(rb_runbook_input(rb, "d"), "250ms");
    assert_int_equal(json_integer_value(v), 250);
    json_decref(v);

    /* string, url, enum stay text, even when they look like numbers */
    v = rb_input_value(rb_runbook_input(rb, "q"), "007");
    assert_true(json_is_string(v));
    assert_string_equal(json_string_value(v), "007");
    json_decref(v);
    v = rb_input_value(rb_runbook_input(rb, "u"), "https://a.example/x?y=1");
    assert_string_equal(json_string_value(v), "https://a.example/x?y=1");
    json_decref(v);
    v = rb_input_value(rb_runbook_input(rb, "e"), "fast");
    assert_string_equal(json_string_value(v), "fast");
    json_decref(v);
    v = rb_input_value(rb_runbook_input(rb, "s"), "");
    assert_string_equal(json_string_value(v), "");
    json_decref(v);

    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
}

typedef struct given {
    const char *names[8], *values[8];
    size_t n;
    size_t asked;
    char asked_for[16][16];
} given;

static const char *get(void *ctx, const char *name)
{
    given *g = ctx;
    if (g->asked < 16)
        snprintf(g->asked_for[g->asked], sizeof g->asked_for[0], "%s", name);
    g->asked++;
    for (size_t i = 0; i < g->n; i++)
        if (!strcmp(g->names[i], name))
            return g->values[i];
    return NULL;
}

static void inputs_object_with_getter(void **state)
{
    (void)state;
    rb_diags d;
    rb_runbook *rb = build(inputs_yaml, &d);
    given g = {{"n", "req", "b", "nope"}, {"5", "12", "false", "x"}, 4, 0, {{0}}};
    json_t *o = rb_inputs_object(rb, get, &g);
    assert_non_null(o);
    assert_int_equal(json_object_size(o), rb->ninputs); /* declared inputs only */
    assert_int_equal(g.asked, rb->ninputs);              /* asked once for each */
    for (size_t i = 0; i < rb->ninputs; i++)
        assert_string_equal(g.asked_for[i], rb->inputs[i].name);
    assert_null(json_object_get(o, "nope"));
    /* given values win over defaults, typed */
    assert_int_equal(json_integer_value(json_object_get(o, "n")), 5);
    assert_int_equal(json_integer_value(json_object_get(o, "req")), 12);
    assert_true(json_is_false(json_object_get(o, "b")));
    /* the rest come from their defaults, typed */
    assert_string_equal(json_string_value(json_object_get(o, "s")), "hello");
    assert_true(json_is_false(json_object_get(o, "f")));
    assert_int_equal(json_integer_value(json_object_get(o, "d")), 90000);
    assert_string_equal(json_string_value(json_object_get(o, "u")), "https://x");
    assert_string_equal(json_string_value(json_object_get(o, "e")), "safe");
    assert_string_equal(json_string_value(json_object_get(o, "q")), "007"); /* quoted default stays text */
    assert_false(rb_is_unknown(json_object_get(o, "req")));
    json_decref(o);
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
}

static void inputs_object_defaults_and_unknown(void **state)
{
    (void)state;
    rb_diags d;
    rb_runbook *rb = build(inputs_yaml, &d);
    json_t *o = rb_inputs_object(rb, NULL, NULL);
    assert_non_null(o);
    assert_int_equal(json_object_size(o), rb->ninputs);
    assert_int_equal(json_integer_value(json_object_get(o, "n")), 3);
    assert_true(json_is_true(json_object_get(o, "b")));
    /* a required input not given is unknown: only a run can tell */
    json_t *req = json_object_get(o, "req");
    assert_non_null(req);
    assert_true(rb_is_unknown(req));
    assert_int_equal(rb_value_truthy(req), -1);
    /* an expression over it is unknown too */
    rb_expr_error err;
    rb_expr *e = rb_expr_parse("inputs.req > 1", strlen("inputs.req > 1"), &err);
    assert_non_null(e);
    rb_scope scope = {lookup, o, NULL};
    json_t *v = rb_expr_eval(e, &scope, &err);
    assert_non_null(v);
    assert_true(rb_is_unknown(v));
    json_decref(v);
    json_decref(o);
    rb_expr_free(e);

    /* a getter that gives nothing is the same as none */
    given g = {{0}, {0}, 0, 0, {{0}}};
    o = rb_inputs_object(rb, get, &g);
    assert_true(rb_is_unknown(json_object_get(o, "req")));
    assert_string_equal(json_string_value(json_object_get(o, "s")), "hello");
    json_decref(o);
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);

    /* no inputs at all: an empty object */
    rb = build(HEAD "steps:\n  - id: a\n    assert: \"true\"\n", &d);
    o = rb_inputs_object(rb, NULL, NULL);
    assert_true(json_is_object(o));
    assert_int_equal(json_object_size(o), 0);
    json_decref(o);
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
}

static void runbook_object(void **state)
{
    (void)state;
    rb_diags d;
    rb_runbook *rb = build(HEAD "objectives: { rto: 15m, rpo: 30s }\nsteps:\n  - id: a\n    assert: \"true\"\n", &d);
    json_t *o = rb_runbook_object(rb);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "name")), "t");
    json_t *obj = json_object_get(o, "objectives");
    assert_true(json_is_object(obj));
    assert_int_equal(json_integer_value(json_object_get(obj, "rto")), 900000);
    assert_int_equal(json_integer_value(json_object_get(obj, "rpo")), 30000);
    char *text = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(text, "{\"name\":\"t\",\"objectives\":{\"rpo\":30000,\"rto\":900000}}");
    free(text);
    json_decref(o);
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);

    /* absent objectives are null; 0s is a real value */
    rb = build(HEAD "objectives: { rpo: 0s }\nsteps:\n  - id: a\n    assert: \"true\"\n", &d);
    o = rb_runbook_object(rb);
    obj = json_object_get(o, "objectives");
    assert_true(json_is_null(json_object_get(obj, "rto")));
    assert_false(rb_is_unknown(json_object_get(obj, "rto")));
    assert_true(json_is_integer(json_object_get(obj, "rpo")));
    assert_int_equal(json_integer_value(json_object_get(obj, "rpo")), 0);
    json_decref(o);
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);

    /* a runbook whose name did not build: name is null, not a crash */
    rb_diags_init(&d);
    const char *bad = "runbook: Bad Name\nversion: 1\ntitle: T\nsteps:\n  - id: a\n    assert: \"true\"\n";
    rb = rb_model_build(rb_load_buffer("t.yaml", bad, strlen(bad), &d), &d);
    assert_null(rb->name);
    o = rb_runbook_object(rb);
    assert_non_null(o);
    assert_true(json_is_null(json_object_get(o, "name")));
    json_decref(o);
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
}

static void render_node(void **state)
{
    (void)state;
    rb_diags d;
    rb_runbook *rb = build(HEAD "inputs: { n: { type: int, default: 3 }, req: { } }\n"
                                "steps:\n"
                                "  - id: a\n"
                                "    exec: [plain, \"n=${{ inputs.n }}\", \"${{ inputs.req }}\", \"${{ inputs.n.x }}\","
                                " \"$${{ not a part }}\"]\n",
                           &d);
    json_t *inputs = rb_inputs_object(rb, NULL, NULL);
    rb_scope scope = {lookup, inputs, NULL};
    const rb_node *argv = rb_action_param(&rb->steps[0].main.action, "argv");
    int unknown = -1;
    char err[160] = "";

    char *s = rb_render_node(argv->items[0], &scope, &unknown, err, sizeof err);
    assert_string_equal(s, "plain");
    assert_int_equal(unknown, 0);
    free(s);

    s = rb_render_node(argv->items[1], &scope, &unknown, err, sizeof err);
    assert_string_equal(s, "n=3");
    assert_int_equal(unknown, 0);
    free(s);

    s = rb_render_node(argv->items[2], &scope, &unknown, err, sizeof err);
    assert_null(s);
    assert_int_equal(unknown, 1); /* a required input not given */

    unknown = -1;
    s = rb_render_node(argv->items[3], &scope, &unknown, err, sizeof err);
    assert_null(s);
    assert_int_equal(unknown, 0);
    assert_true(strlen(err) > 0); /* .x on an integer is an evaluation error */

    s = rb_render_node(argv->items[4], &scope, &unknown, err, sizeof err);
    assert_string_equal(s, "${{ not a part }}");
    free(s);

    json_decref(inputs);
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(input_value_types),
        cmocka_unit_test(inputs_object_with_getter),
        cmocka_unit_test(inputs_object_defaults_and_unknown),
        cmocka_unit_test(runbook_object),
        cmocka_unit_test(render_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
