/* The step graph: the implicit sequence plus `needs`, checked for unknown names and cycles,
 * with a topological order, parallel levels and ancestor sets. */
#ifndef RUNBOOK_GRAPH_H
#define RUNBOOK_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "runbook/diag.h"
#include "runbook/model.h"
#include "runbook/strmap.h"

typedef struct rb_graph {
    size_t n;           /* steps, in file order */
    size_t **deps;      /* deps[i]: direct dependencies of step i (transitively reduced for the
                           implicit sequence: "every step above" becomes the steps above that
                           nothing else above depends on) */
    size_t *ndeps;
    size_t *order;      /* a topological order (valid when !has_cycle) */
    size_t *level;      /* 0 for steps that may start at once; 1 + max over deps otherwise */
    size_t nlevels;
    /* Ancestors, kept in space that grows with the graph's width rather than its square: the
     * steps are cut into chains (each step the direct dependent of the one before it), and each
     * step keeps, per chain that reaches it, the last position on that chain that is its
     * ancestor (sorted by chain). */
    uint32_t *chain, *pos;
    struct rb_reach {
        uint32_t chain, pos;
    } **reach;
    uint32_t *nreach;
    int has_cycle;
    rb_strmap ids;      /* step id -> index (first occurrence); keys borrowed from the model */
} rb_graph;

/* Builds the graph, reporting duplicate step ids, unknown or repeated `needs` entries (with a
 * suggestion) and cycles (printed as a path) to `d`. Returns 0 when the graph is usable
 * (no cycle), -1 otherwise; the graph must be cleaned up either way. */
int rb_graph_build(const rb_runbook *rb, rb_graph *g, rb_diags *d);
void rb_graph_cleanup(rb_graph *g);

/* 1 when step `a` is guaranteed to finish before step `b` starts. */
int rb_graph_is_ancestor(const rb_graph *g, size_t a, size_t b);
/* Index of the step with id `id`, or -1. */
long rb_graph_find(const rb_graph *g, const char *id);

#endif
