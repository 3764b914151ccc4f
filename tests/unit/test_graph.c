/* The step graph: the implicit order and its transitive reduction, needs: [] and fan-out/fan-in
 * levels, ancestors, cycles printed as a path, unknown and repeated needs, duplicate ids, and a
 * 10,000-step chain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runbook/graph.h"
#include "runbook/model.h"
#include "runbook/node.h"

/* ---- helpers ---- */

typedef struct fixture {
    rb_diags d;
    rb_runbook *rb;
    rb_graph g;
    int rc;
} fixture;

#define HEAD "runbook: t\nversion: 1\ntitle: T\nsteps:\n"

static void setup(fixture *f, const char *yaml)
{
    rb_diags_init(&f->d);
    rb_doc *doc = rb_load_buffer("t.yaml", yaml, strlen(yaml), &f->d);
    if (!doc) {
        rb_diags_print_text(&f->d, stderr, 0);
        fail_msg("did not load");
    }
    f->rb = rb_model_build(doc, &f->d);
    assert_non_null(f->rb);
    if (f->rb->errors) {
        rb_diags_print_text(&f->d, stderr, 0);
        fail_msg("structural errors");
    }
    f->rc = rb_graph_build(f->rb, &f->g, &f->d);
}

static void teardown(fixture *f)
{
    rb_graph_cleanup(&f->g);
    rb_runbook_free(f->rb);
    rb_diags_cleanup(&f->d);
}

static void no_diags(fixture *f)
{
    if (f->d.count) {
        rb_diags_print_text(&f->d, stderr, 0);
        fail_msg("expected no diagnostics");
    }
    assert_int_equal(f->rc, 0);
    assert_false(f->g.has_cycle);
}

static size_t idx(const fixture *f, const char *id)
{
    long i = rb_graph_find(&f->g, id);
    if (i < 0)
        fail_msg("no step %s", id);
    return (size_t)i;
}

/* The direct dependencies of `id` as "a,b" in file order of the dependencies. */
static void assert_deps(const fixture *f, const char *id, const char *want)
{
    size_t i = idx(f, id);
    char got[256] = "";
    int seen[256] = {0};
    assert_true(f->g.n <= 256);
    for (size_t k = 0; k < f->g.ndeps[i]; k++)
        seen[f->g.deps[i][k]]++;
    for (size_t s = 0; s < f->g.n; s++) {
        if (seen[s] > 1)
            fail_msg("step %s lists dependency %zu twice", id, s);
        if (seen[s])
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", *got ? "," : "", f->rb->steps[s].id);
    }
    if (strcmp(got, want) != 0)
        fail_msg("deps of %s: got \"%s\", want \"%s\"", id, got, want);
}

static void assert_level(const fixture *f, const char *id, size_t want)
{
    size_t got = f->g.level[idx(f, id)];
    if (got != want)
        fail_msg("level of %s: got %zu, want %zu", id, got, want);
}

static int anc(const fixture *f, const char *a, const char *b)
{
    return rb_graph_is_ancestor(&f->g, idx(f, a), idx(f, b));
}

/* The order is topological: every step comes after each of its dependencies. */
static void assert_order_valid(const fixture *f)
{
    size_t n = f->g.n, *pos = malloc(n * sizeof *pos);
    assert_non_null(pos);
    char *seen = calloc(n, 1);
    for (size_t k = 0; k < n; k++) {
        assert_true(f->g.order[k] < n);
        assert_false(seen[f->g.order[k]]);
        seen[f->g.order[k]] = 1;
        pos[f->g.order[k]] = k;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < f->g.ndeps[i]; k++)
            assert_true(pos[f->g.deps[i][k]] < pos[i]);
    free(pos);
    free(seen);
}

static const rb_diag *find_diag(const fixture *f, const char *text)
{
    for (size_t i = 0; i < f->d.count; i++)
        if (strstr(f->d.items[i].message, text))
            return &f->d.items[i];
    rb_diags_print_text(&f->d, stderr, 0);
    fail_msg("no diagnostic with \"%s\"", text);
    return NULL;
}

/* ---- order ---- */

static void implicit_order_is_a_chain(void **state)
{
    (void)state;
    fixture f;
    setup(&f, HEAD "  - id: a\n    exec: [a]\n  - id: b\n    exec: [b]\n  - id: c\n    exec: [c]\n");
    no_diags(&f);
    assert_int_equal(f.g.n, 3);
    assert_deps(&f, "a", "");
    assert_deps(&f, "b", "a");
    assert_deps(&f, "c", "b"); /* not a,b: a is implied through b */
    assert_level(&f, "a", 0);
    assert_level(&f, "b", 1);
    assert_level(&f, "c", 2);
    assert_int_equal(f.g.nlevels, 3);
    assert_int_equal(f.g.order[0], 0);
    assert_int_equal(f.g.order[1], 1);
    assert_int_equal(f.g.order[2], 2);
    assert_true(anc(&f, "a", "b"));
    assert_true(anc(&f, "a", "c")); /* transitive */
    assert_true(anc(&f, "b", "c"));
    assert_false(anc(&f, "c", "a"));
    assert_false(anc(&f, "b", "a"));
    assert_false(anc(&f, "a", "a")); /* not its own ancestor */
    assert_false(rb_graph_is_ancestor(&f.g, 0, 99)); /* out of range */
    assert_int_equal(rb_graph_find(&f.g, "nope"), -1);
    assert_int_equal(rb_graph_find(&f.g, "c"), 2);
    teardown(&f);
}

static void empty_needs_starts_at_once(void **state)
{
    (void)state;
    fixture f;
    setup(&f, HEAD "  - id: a\n    exec: [a]\n"
                   "  - id: b\n    needs: []\n    exec: [b]\n"
                   "  - id: c\n    exec: [c]\n");
    no_diags(&f);
    assert_deps(&f, "b", "");
    assert_level(&f, "b", 0);
    assert_level(&f, "a", 0);
    /* "every step above" of c: a and b ran in parallel, so c waits for both */
    assert_deps(&f, "c", "a,b");
    assert_level(&f, "c", 1);
    assert_int_equal(f.g.nlevels, 2);
    assert_false(anc(&f, "a", "b"));
    assert_false(anc(&f, "b", "a"));
    assert_true(anc(&f, "a", "c") && anc(&f, "b", "c"));
    assert_order_valid(&f);
    teardown(&f);
}

static void fan_out_fan_in_levels(void **state)
{
    (void)state;
    fixture f;
    setup(&f, HEAD "  - id: a\n    exec: [a]\n"
                   "  - id: b\n    needs: [a]\n    exec: [b]\n"
                   "  - id: c\n    needs: [a]\n    exec: [c]\n"
                   "  - id: x\n    needs: [c]\n    exec: [x]\n"
                   "  - id: d\n    needs: [b, x]\n    exec: [d]\n"
                   "  - id: e\n    exec: [e]\n");
    no_diags(&f);
    assert_deps(&f, "b", "a");
    assert_deps(&f, "c", "a");
    assert_deps(&f, "d", "b,x");
    assert_deps(&f, "e", "d"); /* everything above is behind d */
    assert_level(&f, "a", 0);
    assert_level(&f, "b", 1);
    assert_level(&f, "c", 1);
    assert_level(&f, "x", 2);
    assert_level(&f, "d", 3); /* 1 + max(level b, level x) */
    assert_level(&f, "e", 4);
    assert_int_equal(f.g.nlevels, 5);
    assert_true(anc(&f, "a", "d") && anc(&f, "b", "d") && anc(&f, "c", "d") && anc(&f, "x", "d"));
    assert_true(anc(&f, "a", "e") && anc(&f, "c", "e"));
    assert_false(anc(&f, "b", "c"));
    assert_false(anc(&f, "c", "b"));
    assert_false(anc(&f, "b", "x"));
    assert_order_valid(&f);
    teardown(&f);
}

static void reduction_keeps_only_the_frontier(void **state)
{
    (void)state;
    fixture f;
    /* a and b start together; c needs a only; d comes after "every step above" = b and c. */
    setup(&f, HEAD "  - id: a\n    exec: [a]\n"
                   "  - id: b\n    needs: []\n    exec: [b]\n"
                   "  - id: c\n    needs: [a]\n    exec: [c]\n"
                   "  - id: d\n    exec: [d]\n"
                   "  - id: e\n    needs: [a]\n    exec: [e]\n"
                   "  - id: f\n    exec: [f]\n");
    no_diags(&f);
    assert_deps(&f, "d", "b,c");
    assert_true(anc(&f, "a", "d") && anc(&f, "b", "d") && anc(&f, "c", "d"));
    /* e needs a only and runs beside b, c, d; f waits for d and e */
    assert_deps(&f, "f", "d,e");
    assert_false(anc(&f, "d", "e"));
    for (size_t i = 0; i < 5; i++)
        assert_true(rb_graph_is_ancestor(&f.g, i, 5));
    assert_level(&f, "e", 1);
    assert_level(&f, "f", 3);
    assert_order_valid(&f);
    teardown(&f);
}

static void forward_needs_keep_everything_above(void **state)
{
    (void)state;
    fixture f;
    /* b needs c, which is written below it; d (implicit) must still come after a, b and c. */
    setup(&f, HEAD "  - id: a\n    exec: [a]\n"
                   "  - id: b\n    needs: [c]\n    exec: [b]\n"
                   "  - id: c\n    needs: []\n    exec: [c]\n"
                   "  - id: d\n    exec: [d]\n");
    no_diags(&f);
    assert_deps(&f, "b", "c");
    assert_deps(&f, "d", "a,b");
    assert_true(anc(&f, "a", "d") && anc(&f, "b", "d") && anc(&f, "c", "d"));
    assert_true(anc(&f, "c", "b"));
    assert_level(&f, "c", 0);
    assert_level(&f, "b", 1);
    assert_level(&f, "d", 2);
    assert_order_valid(&f);
    teardown(&f);
}

/* ---- errors ---- */

/* Checks that "x -> y -> ... -> x" is a real cycle: each step is needed by the next. */
static void assert_cycle_path(const fixture *f, const char *msg)
{
    const char *p = strstr(msg, "steps form a cycle: ");
    assert_non_null(p);
    p += strlen("steps form a cycle: ");
    char names[16][65];
    size_t n = 0;
    while (*p && n < 16) {
        size_t len = strcspn(p, " ");
        assert_true(len < 65);
        memcpy(names[n], p, len);
        names[n++][len] = '\0';
        p += len;
        if (!strncmp(p, " -> ", 4))
            p += 4;
        else
            break;
    }
    assert_true(n >= 2);
    assert_string_equal(names[0], names[n - 1]);
    for (size_t k = 0; k + 1 < n; k++) {
        size_t from = idx(f, names[k]), to = idx(f, names[k + 1]);
        int found = 0;
        for (size_t e = 0; e < f->g.ndeps[to]; e++)
            found |= f->g.deps[to][e] == from;
        if (!found)
            fail_msg("\"%s\": %s does not need %s", msg, names[k + 1], names[k]);
    }
}

static void cycle_is_reported_as_a_path(void **state)
{
    (void)state;
    fixture f;
    setup(&f, HEAD "  - id: a\n    needs: [c]\n    exec: [a]\n"      /* 5 */
                   "  - id: b\n    needs: [a]\n    exec: [b]\n"      /* 8 */
                   "  - id: c\n    needs: [b]\n    exec: [c]\n"      /* 11 */
                   "  - id: z\n    needs: []\n    exec: [z]\n");     /* 14 */
    assert_int_equal(f.rc, -1);
    assert_true(f.g.has_cycle);
    assert_int_equal(f.d.errors, 1);
    const rb_diag *g = find_diag(&f, "steps form a cycle: ");
    assert_cycle_path(&f, g->message);
    /* all three names appear, z (not on the cycle) does not */
    assert_non_null(strstr(g->message, "a"));
    assert_non_null(strstr(g->message, "b"));
    assert_non_null(strstr(g->message, "c"));
    assert_null(strstr(g->message, "z"));
    /* located at the needs of a step on the cycle */
    assert_true(g->line == 6 || g->line == 9 || g->line == 12);
    assert_int_equal(g->col, 12);
    /* with a cycle, no step counts as an ancestor */
    assert_false(rb_graph_is_ancestor(&f.g, 0, 1));
    teardown(&f);
}

static void self_cycle(void **state)
{
    (void)state;
    fixture f;
    setup(&f, HEAD "  - id: a\n    exec: [a]\n  - id: b\n    needs: [b]\n    exec: [b]\n");
    assert_int_equal(f.rc, -1);
    assert_true(f.g.has_cycle);
    const rb_diag *g = find_diag(&f, "steps form a cycle: b -> b");
    assert_int_equal(g->line, 8);
    teardown(&f);
}

static void cycle_behind_an_implicit_edge(void **state)
{
    (void)state;
    fixture f;
    /* a needs c; c comes after everything above it (a, b): a -> ... -> c -> a */
    setup(&f, HEAD "  - id: a\n    needs: [c]\n    exec: [a]\n"
                   "  - id: b\n    exec: [b]\n"
                   "  - id: c\n    exec: [c]\n");
    assert_int_equal(f.rc, -1);
    const rb_diag *g = find_diag(&f, "steps form a cycle: ");
    assert_cycle_path(&f, g->message);
    teardown(&f);
}

static void unknown_and_repeated_needs(void **state)
{
    (void)state;
    fixture f;
    setup(&f, HEAD "  - id: check-health\n    exec: [a]\n"
                   "  - id: b\n    needs: [check-helth, check-health, check-health, zzzzzzzz]\n    exec: [b]\n");
    assert_int_equal(f.rc, 0); /* usable: the bad entries are left out */
    assert_int_equal(f.d.errors, 3);
    const rb_diag *g = find_diag(&f, "needs names an unknown step \"check-helth\"");
    assert_int_equal(g->line, 8);
    assert_int_equal(g->col, 13);
    assert_non_null(g->hint);
    assert_string_equal(g->hint, "did you mean \"check-health\"?");
    g = find_diag(&f, "step \"check-health\" is listed twice in needs");
    assert_int_equal(g->line, 8);
    assert_int_equal(g->col, 40);
    g = find_diag(&f, "needs names an unknown step \"zzzzzzzz\"");
    assert_null(g->hint); /* nothing close enough */
    assert_deps(&f, "b", "check-health");
    teardown(&f);
}

static void duplicate_ids(void **state)
{
    (void)state;
    fixture f;
    setup(&f, HEAD "  - id: a\n    exec: [a]\n"
                   "  - id: b\n    exec: [b]\n"
                   "  - id: a\n    exec: [again]\n");
    assert_int_equal(f.d.errors, 1);
    const rb_diag *g = find_diag(&f, "duplicate step id \"a\"");
    assert_int_equal(g->line, 9);
    assert_int_equal(g->col, 9);
    assert_string_equal(g->hint, "the first is at line 5");
    assert_int_equal(rb_graph_find(&f.g, "a"), 0); /* the first occurrence */
    assert_int_equal(f.g.n, 3);                     /* the step is still in the graph */
    assert_true(rb_graph_is_ancestor(&f.g, 1, 2));
    teardown(&f);
}

/* ---- scale ---- */

static char *chain_yaml(size_t n, int explicit_needs, int close_cycle)
{
    size_t cap = 128 + n * 80;
    char *y = malloc(cap);
    assert_non_null(y);
    size_t len = (size_t)snprintf(y, cap, "%s", HEAD);
    for (size_t i = 0; i < n; i++) {
        len += (size_t)snprintf(y + len, cap - len, "  - id: s%zu\n    exec: [x]\n", i);
        if (explicit_needs && i > 0)
            len += (size_t)snprintf(y + len, cap - len, "    needs: [s%zu]\n", i - 1);
        if (close_cycle && i == 0)
            len += (size_t)snprintf(y + len, cap - len, "    needs: [s%zu]\n", n - 1);
    }
    return y;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void ten_thousand_step_chain(void **state)
{
    (void)state;
    enum { N = 10000 };
    for (int explicit_needs = 0; explicit_needs < 2; explicit_needs++) {
        char *y = chain_yaml(N, explicit_needs, 0);
        fixture f;
        rb_diags_init(&f.d);
        rb_doc *doc = rb_load_buffer("t.yaml", y, strlen(y), &f.d);
        assert_non_null(doc);
        f.rb = rb_model_build(doc, &f.d);
        assert_int_equal(f.rb->nsteps, N);
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        f.rc = rb_graph_build(f.rb, &f.g, &f.d);
        double took = seconds_since(&t0);
        no_diags(&f);
        /* generous: sanitizers and a loaded CI machine; quadratic work would take minutes */
        if (took > 10.0)
            fail_msg("graph of %d steps took %.1fs", N, took);
        assert_int_equal(f.g.nlevels, N);
        assert_int_equal(f.g.level[N - 1], N - 1);
        assert_int_equal(f.g.ndeps[N - 1], 1);
        assert_int_equal(f.g.deps[N - 1][0], N - 2);
        assert_true(rb_graph_is_ancestor(&f.g, 0, N - 1));
        assert_true(rb_graph_is_ancestor(&f.g, 4321, 9876));
        assert_false(rb_graph_is_ancestor(&f.g, 9876, 4321));
        assert_int_equal(rb_graph_find(&f.g, "s9999"), N - 1);
        for (size_t k = 0; k < N; k++)
            assert_int_equal(f.g.order[k], k);
        teardown(&f);
        free(y);
    }
}

static void ten_thousand_step_cycle(void **state)
{
    (void)state;
    enum { N = 10000 };
    char *y = chain_yaml(N, 0, 1);
    fixture f;
    setup(&f, y);
    assert_int_equal(f.rc, -1);
    assert_true(f.g.has_cycle);
    const rb_diag *g = find_diag(&f, "steps form a cycle: ");
    assert_true(strlen(g->message) <= RB_DIAG_SOURCE_MAX); /* a long path is bounded */
    teardown(&f);
    free(y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(implicit_order_is_a_chain),
        cmocka_unit_test(empty_needs_starts_at_once),
        cmocka_unit_test(fan_out_fan_in_levels),
        cmocka_unit_test(reduction_keeps_only_the_frontier),
        cmocka_unit_test(forward_needs_keep_everything_above),
        cmocka_unit_test(cycle_is_reported_as_a_path),
        cmocka_unit_test(self_cycle),
        cmocka_unit_test(cycle_behind_an_implicit_edge),
        cmocka_unit_test(unknown_and_repeated_needs),
        cmocka_unit_test(duplicate_ids),
        cmocka_unit_test(ten_thousand_step_chain),
        cmocka_unit_test(ten_thousand_step_cycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
