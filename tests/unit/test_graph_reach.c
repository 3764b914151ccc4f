/* Ancestor queries (chains with per-chain reach) against a brute-force walk of the graph, on
 * random runbooks mixing the implicit order, needs: [] and fan-in/fan-out needs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runbook/graph.h"

static char *random_runbook(unsigned seed, size_t n)
{
    size_t cap = 256 + n * 96, len = 0;
    char *buf = malloc(cap);
    srand(seed);
    len += (size_t)snprintf(buf + len, cap - len, "runbook: r\nversion: 1\ntitle: t\nsteps:\n");
    for (size_t i = 0; i < n; i++) {
        len += (size_t)snprintf(buf + len, cap - len, "  - id: s%zu\n    sleep: 1s\n", i);
        int kind = rand() % 4;
        if (i == 0 || kind == 0)
            continue; /* after every step above */
        len += (size_t)snprintf(buf + len, cap - len, "    needs: [");
        int k = kind == 1 ? 0 : 1 + rand() % 3;
        for (int j = 0; j < k; j++)
            len += (size_t)snprintf(buf + len, cap - len, "%ss%zu", j ? ", " : "", (size_t)rand() % i);
        len += (size_t)snprintf(buf + len, cap - len, "]\n");
    }
    return buf;
}

/* Every step `from` can reach by following dependencies. */
static void walk_deps(const rb_graph *g, size_t from, char *seen)
{
    for (size_t e = 0; e < g->ndeps[from]; e++) {
        size_t d = g->deps[from][e];
        if (!seen[d]) {
            seen[d] = 1;
            walk_deps(g, d, seen);
        }
    }
}

static void check_one(unsigned seed, size_t n)
{
    char *text = random_runbook(seed, n);
    rb_diags d;
    rb_diags_init(&d);
    rb_doc *doc = rb_load_buffer("r.yaml", text, strlen(text), &d);
    assert_non_null(doc);
    rb_runbook *rb = rb_model_build(doc, &d);
    rb_graph g;
    assert_int_equal(rb_graph_build(rb, &g, &d), 0);
    char *seen = calloc(n, 1);
    for (size_t b = 0; b < n; b++) {
        memset(seen, 0, n);
        walk_deps(&g, b, seen);
        for (size_t a = 0; a < n; a++)
            if (rb_graph_is_ancestor(&g, a, b) != seen[a])
                fail_msg("seed %u: is_ancestor(s%zu, s%zu) = %d, walk says %d", seed, a, b,
                         rb_graph_is_ancestor(&g, a, b), seen[a]);
    }
    free(seen);
    rb_graph_cleanup(&g);
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
    free(text);
}

static void random_graphs_agree_with_a_walk(void **state)
{
    (void)state;
    for (unsigned seed = 1; seed <= 300; seed++)
        check_one(seed, 2 + seed % 60);
}

/* A 20,000-step sequence keeps one chain: memory stays linear (bitsets would need 50 MB). */
static void long_sequence_is_one_chain(void **state)
{
    (void)state;
    size_t n = 20000, cap = n * 40 + 100, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text, cap, "runbook: r\nversion: 1\ntitle: t\nsteps:\n");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, cap - len, "  - {id: s%zu, sleep: 1s}\n", i);
    rb_diags d;
    rb_diags_init(&d);
    rb_runbook *rb = rb_model_build(rb_load_buffer("r.yaml", text, len, &d), &d);
    rb_graph g;
    assert_int_equal(rb_graph_build(rb, &g, &d), 0);
    size_t pairs = 0;
    for (size_t i = 0; i < n; i++)
        pairs += g.nreach[i];
    assert_true(pairs <= n);
    assert_true(rb_graph_is_ancestor(&g, 0, n - 1));
    assert_false(rb_graph_is_ancestor(&g, n - 1, 0));
    rb_graph_cleanup(&g);
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_graphs_agree_with_a_walk),
        cmocka_unit_test(long_sequence_is_one_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
