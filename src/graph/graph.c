/* Dependencies -> DAG: resolve `needs`, reduce the implicit sequence, find cycles, order the
 * steps (Kahn), and compute levels and ancestor bitsets for the checker and the scheduler. */
#include <stdlib.h>
#include <string.h>

#include "runbook/graph.h"

typedef struct gb {
    const rb_runbook *rb;
    rb_graph *g;
    rb_diags *d;
    char *has_dependent; /* a step above has it as a direct dependency */
    size_t *frontier;    /* steps above that nothing above depends on */
    size_t nfrontier;
} gb;

static void error_at(gb *b, const rb_node *n, const char *fmt, const char *arg)
{
    rb_diag_node(b->d, b->rb->doc, n, RB_NO_OFFSET, RB_SEV_ERROR, NULL, fmt, arg);
}

static void index_ids(gb *b)
{
    for (size_t i = 0; i < b->rb->nsteps; i++) {
        const rb_step *s = &b->rb->steps[i];
        size_t first;
        if (!s->id)
            continue;
        if (rb_strmap_put(&b->g->ids, s->id, i, &first) == 0) {
            error_at(b, s->id_node, "duplicate step id \"%s\"", s->id);
            rb_diag_hint(b->d, "the first is at line %u", b->rb->steps[first].id_node->line);
        }
    }
}

static const char **all_ids(const rb_runbook *rb)
{
    const char **ids = calloc(rb->nsteps + 1, sizeof *ids);
    size_t k = 0;
    for (size_t i = 0; ids && i < rb->nsteps; i++)
        if (rb->steps[i].id)
            ids[k++] = rb->steps[i].id;
    return ids;
}

static void unknown_need(gb *b, const rb_node *n)
{
    error_at(b, n, "needs names an unknown step \"%s\"", n->str);
    const char **ids = all_ids(b->rb);
    const char *s = ids ? rb_suggest(n->str, ids) : NULL;
    if (s)
        rb_diag_hint(b->d, "did you mean \"%s\"?", s);
    free(ids);
}

static int already_listed(const size_t *deps, size_t n, size_t v)
{
    for (size_t i = 0; i < n; i++)
        if (deps[i] == v)
            return 1;
    return 0;
}

static void explicit_deps(gb *b, size_t i)
{
    const rb_node *needs = b->rb->steps[i].needs_node;
    rb_graph *g = b->g;
    g->deps[i] = calloc(needs->count ? needs->count : 1, sizeof(size_t));
    for (size_t k = 0; g->deps[i] && k < needs->count; k++) {
        const rb_node *n = needs->items[k];
        size_t j;
        if (n->kind != RB_NODE_SCALAR)
            continue;
        if (!rb_strmap_get(&g->ids, n->str, &j))
            unknown_need(b, n);
        else if (already_listed(g->deps[i], g->ndeps[i], j))
            error_at(b, n, "step \"%s\" is listed twice in needs", n->str);
        else
            g->deps[i][g->ndeps[i]++] = j;
    }
}

static void drop_from_frontier(gb *b, size_t j)
{
    for (size_t k = 0; k < b->nfrontier; k++)
        if (b->frontier[k] == j) {
            b->frontier[k] = b->frontier[--b->nfrontier];
            return;
        }
}

/* "Every step above" = the frontier: a step above with a dependent above is implied. */
static void resolve_deps(gb *b)
{
    rb_graph *g = b->g;
    for (size_t i = 0; i < g->n; i++) {
        if (b->rb->steps[i].needs_node) {
            explicit_deps(b, i);
        } else {
            g->deps[i] = malloc((b->nfrontier ? b->nfrontier : 1) * sizeof(size_t));
            if (g->deps[i])
                memcpy(g->deps[i], b->frontier, b->nfrontier * sizeof(size_t));
            g->ndeps[i] = g->deps[i] ? b->nfrontier : 0;
        }
        for (size_t k = 0; k < g->ndeps[i]; k++) {
            b->has_dependent[g->deps[i][k]] = 1;
            drop_from_frontier(b, g->deps[i][k]);
        }
        if (!b->has_dependent[i])
            b->frontier[b->nfrontier++] = i;
    }
}

/* Kahn's algorithm; steps left over sit on or behind a cycle. */
static size_t topo_sort(rb_graph *g, size_t *indeg, size_t **users, size_t *nusers)
{
    size_t head = 0, tail = 0;
    for (size_t i = 0; i < g->n; i++)
        if (!(indeg[i] = g->ndeps[i]))
            g->order[tail++] = i;
    while (head < tail) {
        size_t s = g->order[head++];
        for (size_t k = 0; k < nusers[s]; k++)
            if (--indeg[users[s][k]] == 0)
                g->order[tail++] = users[s][k];
    }
    return tail;
}

static const char *step_name(const rb_runbook *rb, size_t i)
{
    return rb->steps[i].id ? rb->steps[i].id : "?";
}

/* Walks dependencies from a step left by Kahn until one repeats, then prints that loop. */
static void report_cycle(gb *b, const size_t *indeg)
{
    rb_graph *g = b->g;
    size_t start = 0;
    while (start < g->n && indeg[start] == 0)
        start++;
    size_t *seen_at = malloc(g->n * sizeof *seen_at), *path = malloc((g->n + 1) * sizeof *path);
    if (!seen_at || !path)
        goto out;
    memset(seen_at, 0xff, g->n * sizeof *seen_at);
    size_t len = 0, cur = start;
    while (seen_at[cur] == (size_t)-1) {
        seen_at[cur] = len;
        path[len++] = cur;
        size_t next = cur;
        for (size_t k = 0; k < g->ndeps[cur] && next == cur; k++)
            if (indeg[g->deps[cur][k]])
                next = g->deps[cur][k];
        cur = next;
    }
    char text[400] = "";
    /* path runs against the arrows (a step -> what it needs); print in run order. */
    for (size_t k = len; k-- > seen_at[cur];)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%s -> ", step_name(b->rb, path[k]));
    snprintf(text + strlen(text), sizeof text - strlen(text), "%s", step_name(b->rb, path[len - 1]));
    const rb_step *s = &b->rb->steps[path[len - 1]];
    rb_diag_node(b->d, b->rb->doc, s->needs_node ? s->needs_node : s->node, RB_NO_OFFSET,
                 RB_SEV_ERROR, NULL, "steps form a cycle: %s", text);
out:
    free(seen_at);
    free(path);
}

static int order_steps(gb *b)
{
    rb_graph *g = b->g;
    size_t *indeg = calloc(g->n, sizeof *indeg), *nusers = calloc(g->n, sizeof *nusers);
    size_t **users = calloc(g->n, sizeof *users);
    int rc = -1;
    if (!indeg || !nusers || !users)
        goto out;
    for (size_t i = 0; i < g->n; i++)
        for (size_t k = 0; k < g->ndeps[i]; k++)
            nusers[g->deps[i][k]]++;
    for (size_t i = 0; i < g->n; i++) {
        users[i] = malloc((nusers[i] ? nusers[i] : 1) * sizeof(size_t));
        if (!users[i])
            goto out;
        nusers[i] = 0;
    }
    for (size_t i = 0; i < g->n; i++)
        for (size_t k = 0; k < g->ndeps[i]; k++)
            users[g->deps[i][k]][nusers[g->deps[i][k]]++] = i;
    rc = topo_sort(g, indeg, users, nusers) == g->n ? 0 : -1;
    if (rc != 0) {
        g->has_cycle = 1;
        report_cycle(b, indeg);
    }
out:
    for (size_t i = 0; users && i < g->n; i++)
        free(users[i]);
    free(users);
    free(indeg);
    free(nusers);
    return rc;
}

typedef struct rb_reach reach_t;

static int by_chain(const void *a, const void *b)
{
    const reach_t *x = a, *y = b;
    return x->chain != y->chain ? (x->chain < y->chain ? -1 : 1) : (x->pos > y->pos ? -1 : x->pos < y->pos);
}

/* Joins what the dependencies reach, plus the dependencies themselves, keeping the highest
 * position per chain. */
static int join_reach(rb_graph *g, size_t v)
{
    size_t n = 0;
    for (size_t e = 0; e < g->ndeps[v]; e++)
        n += g->nreach[g->deps[v][e]] + 1;
    reach_t *all = malloc((n ? n : 1) * sizeof *all);
    if (!all)
        return -1;
    size_t k = 0;
    for (size_t e = 0; e < g->ndeps[v]; e++) {
        size_t d = g->deps[v][e];
        memcpy(all + k, g->reach[d], g->nreach[d] * sizeof *all);
        k += g->nreach[d];
        all[k++] = (reach_t){g->chain[d], g->pos[d]};
    }
    if (k <= 16) { /* the common case, a step or two reaching it: no qsort call */
        for (size_t i = 1; i < k; i++) {
            reach_t x = all[i];
            size_t j = i;
            while (j > 0 && by_chain(&x, &all[j - 1]) < 0)
                all[j] = all[j - 1], j--;
            all[j] = x;
        }
    } else {
        qsort(all, k, sizeof *all, by_chain);
    }
    size_t out = 0;
    for (size_t i = 0; i < k; i++)
        if (!out || all[out - 1].chain != all[i].chain)
            all[out++] = all[i];
    g->reach[v] = all;
    g->nreach[v] = (uint32_t)out;
    return 0;
}

/* A step continues the chain of a dependency that is still that chain's last step. */
static void assign_chain(rb_graph *g, size_t v, uint32_t *tails, uint32_t *nchains)
{
    for (size_t e = 0; e < g->ndeps[v]; e++) {
        size_t d = g->deps[v][e];
        if (tails[g->chain[d]] == d) {
            g->chain[v] = g->chain[d];
            g->pos[v] = g->pos[d] + 1;
            tails[g->chain[v]] = (uint32_t)v;
            return;
        }
    }
    g->chain[v] = (*nchains)++;
    g->pos[v] = 0;
    tails[g->chain[v]] = (uint32_t)v;
}

static int ancestors_and_levels(rb_graph *g)
{
    uint32_t *tails = malloc((g->n ? g->n : 1) * sizeof *tails), nchains = 0;
    if (!tails)
        return -1;
    for (size_t k = 0; k < g->n; k++) {
        size_t i = g->order[k], lvl = 0;
        assign_chain(g, i, tails, &nchains);
        if (join_reach(g, i) != 0) {
            free(tails);
            return -1;
        }
        for (size_t e = 0; e < g->ndeps[i]; e++)
            if (g->level[g->deps[i][e]] + 1 > lvl)
                lvl = g->level[g->deps[i][e]] + 1;
        g->level[i] = lvl;
        if (lvl + 1 > g->nlevels)
            g->nlevels = lvl + 1;
    }
    free(tails);
    return 0;
}

static int allocate(rb_graph *g, size_t n)
{
    memset(g, 0, sizeof *g);
    rb_strmap_init(&g->ids);
    g->n = n;
    g->deps = calloc(n ? n : 1, sizeof *g->deps);
    g->ndeps = calloc(n ? n : 1, sizeof *g->ndeps);
    g->order = calloc(n ? n : 1, sizeof *g->order);
    g->level = calloc(n ? n : 1, sizeof *g->level);
    g->chain = calloc(n ? n : 1, sizeof *g->chain);
    g->pos = calloc(n ? n : 1, sizeof *g->pos);
    g->reach = calloc(n ? n : 1, sizeof *g->reach);
    g->nreach = calloc(n ? n : 1, sizeof *g->nreach);
    return g->deps && g->ndeps && g->order && g->level && g->chain && g->pos && g->reach && g->nreach ? 0 : -1;
}

int rb_graph_build(const rb_runbook *rb, rb_graph *g, rb_diags *d)
{
    if (allocate(g, rb->nsteps) != 0)
        return -1;
    gb b = {rb, g, d, calloc(g->n + 1, 1), calloc(g->n + 1, sizeof(size_t)), 0};
    int rc = -1;
    if (b.has_dependent && b.frontier) {
        index_ids(&b);
        resolve_deps(&b);
        rc = order_steps(&b);
        if (rc == 0)
            rc = ancestors_and_levels(g);
    }
    free(b.has_dependent);
    free(b.frontier);
    return rc;
}

void rb_graph_cleanup(rb_graph *g)
{
    for (size_t i = 0; g->deps && i < g->n; i++)
        free(g->deps[i]);
    free(g->deps);
    free(g->ndeps);
    free(g->order);
    free(g->level);
    for (size_t i = 0; g->reach && i < g->n; i++)
        free(g->reach[i]);
    free(g->reach);
    free(g->nreach);
    free(g->chain);
    free(g->pos);
    rb_strmap_cleanup(&g->ids);
    memset(g, 0, sizeof *g);
}

int rb_graph_is_ancestor(const rb_graph *g, size_t a, size_t b)
{
    if (g->has_cycle || a >= g->n || b >= g->n || a == b)
        return 0;
    const reach_t *r = g->reach[b];
    size_t lo = 0, hi = g->nreach[b];
    while (lo < hi) { /* binary search for a's chain */
        size_t mid = (lo + hi) / 2;
        if (r[mid].chain < g->chain[a])
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < g->nreach[b] && r[lo].chain == g->chain[a] && r[lo].pos >= g->pos[a];
}

long rb_graph_find(const rb_graph *g, const char *id)
{
    size_t v;
    return rb_strmap_get(&g->ids, id, &v) ? (long)v : -1;
}
