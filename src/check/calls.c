/* Calls between runbooks: the catalog that finds runbooks by name, and the checks of a
 * `runbook` step (the callee exists and loads, inputs match, calls form no cycle). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checker.h"

#define MAX_CALL_DEPTH 16

typedef struct entry {
    char *path;
    rb_runbook *rb; /* NULL when it did not load */
} entry;

struct rb_catalog {
    char **dirs;
    size_t ndirs;
    entry *cache;
    size_t ncache;
};

rb_catalog *rb_catalog_new(const char *const *dirs)
{
    rb_catalog *cat = calloc(1, sizeof *cat);
    size_t n = 0;
    while (dirs && dirs[n])
        n++;
    if (!cat || !(cat->dirs = calloc(n + 1, sizeof(char *)))) {
        free(cat);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if ((cat->dirs[cat->ndirs] = strdup(dirs[i])))
            cat->ndirs++;
    return cat;
}

rb_catalog *rb_catalog_from_path(const char *list)
{
    if (!list || !*list)
        list = "./runbooks";
    char *copy = strdup(list), *save = NULL;
    const char *dirs[64] = {0};
    size_t n = 0;
    for (char *tok = copy ? strtok_r(copy, ":", &save) : NULL; tok && n < 63; tok = strtok_r(NULL, ":", &save))
        dirs[n++] = tok;
    rb_catalog *cat = rb_catalog_new(dirs);
    free(copy);
    return cat;
}

void rb_catalog_free(rb_catalog *cat)
{
    if (!cat)
        return;
    for (size_t i = 0; i < cat->ndirs; i++)
        free(cat->dirs[i]);
    for (size_t i = 0; i < cat->ncache; i++) {
        free(cat->cache[i].path);
        rb_runbook_free(cat->cache[i].rb);
    }
    free(cat->dirs);
    free(cat->cache);
    free(cat);
}

static char *try_dir(const char *dir, const char *name)
{
    static const char *const exts[] = {".yaml", ".yml"};
    for (int i = 0; i < 2; i++) {
        size_t len = strlen(dir) + strlen(name) + 8;
        char *p = malloc(len);
        struct stat st;
        if (!p)
            return NULL;
        snprintf(p, len, "%s/%s%s", dir, name, exts[i]);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
            return p;
        free(p);
    }
    return NULL;
}

char *rb_catalog_find(const rb_catalog *cat, const char *name, const char *near_dir)
{
    if (strchr(name, '/') || !*name)
        return NULL;
    char *p = near_dir ? try_dir(near_dir, name) : NULL;
    for (size_t i = 0; !p && i < cat->ndirs; i++)
        p = try_dir(cat->dirs[i], name);
    return p;
}

static rb_runbook *load_quietly(const char *path)
{
    rb_diags quiet;
    rb_diags_init(&quiet);
    rb_runbook *rb = rb_runbook_load(path, &quiet);
    if (rb && rb->errors) {
        rb_runbook_free(rb);
        rb = NULL;
    }
    rb_diags_cleanup(&quiet);
    return rb;
}

const rb_runbook *rb_catalog_get(rb_catalog *cat, const char *name, const char *near_dir)
{
    char *path = rb_catalog_find(cat, name, near_dir);
    if (!path)
        return NULL;
    for (size_t i = 0; i < cat->ncache; i++)
        if (!strcmp(cat->cache[i].path, path)) {
            free(path);
            return cat->cache[i].rb;
        }
    entry *grown = realloc(cat->cache, (cat->ncache + 1) * sizeof *grown);
    if (!grown) {
        free(path);
        return NULL;
    }
    cat->cache = grown;
    cat->cache[cat->ncache] = (entry){path, load_quietly(path)};
    return cat->cache[cat->ncache++].rb;
}

/* ---- checks of one call ---- */

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
}

static void check_inputs(checker *c, const rb_action *a, const rb_runbook *callee)
{
    const rb_node *given = rb_action_param(a, "inputs");
    if (given && given->kind == RB_NODE_MAP)
        for (size_t i = 0; i < given->count; i++) {
            const rb_node *k = given->items[2 * i];
            if (!rb_runbook_input(callee, k->str))
                c_error(c, k, RB_NO_OFFSET, "runbook \"%s\" has no input \"%s\"", callee->name, k->str);
        }
    for (size_t i = 0; i < callee->ninputs; i++) {
        const rb_input *in = &callee->inputs[i];
        if (!in->def && !rb_map_get(given, in->name))
            c_error(c, a->key, RB_NO_OFFSET, "runbook \"%s\" needs input \"%s\"", callee->name, in->name);
    }
}

/* Runbooks already searched from this call without finding the caller: each is searched once,
 * so a web of calls costs its size, not the number of paths through it. */
typedef struct visited {
    const rb_runbook *items[256];
    size_t count;
} visited;

static int seen_before(visited *v, const rb_runbook *rb)
{
    for (size_t i = 0; i < v->count; i++)
        if (v->items[i] == rb)
            return 1;
    if (v->count < sizeof v->items / sizeof v->items[0])
        v->items[v->count++] = rb;
    return 0;
}

/* Depth-first over the callee's own calls; `chain` holds the names on the current path. */
static int find_cycle(checker *c, const rb_runbook *rb, const char **chain, size_t depth, visited *v)
{
    if (depth >= MAX_CALL_DEPTH || seen_before(v, rb))
        return 0;
    char *dir = dir_of(rb->path);
    int found = 0;
    for (size_t i = 0; !found && i < rb->nsteps; i++) {
        const rb_node *n = rb_action_param(&rb->steps[i].main.action, "name");
        if (!n || n->kind != RB_NODE_SCALAR || !(rb->steps[i].main.action.type->flags & RB_AT_CALLS_RUNBOOK))
            continue;
        chain[depth] = n->str;
        if (!strcmp(n->str, c->rb->name))
            found = (int)depth + 1;
        else {
            const rb_runbook *next = rb_catalog_get(c->cat, n->str, dir);
            found = next ? find_cycle(c, next, chain, depth + 1, v) : 0;
        }
    }
    free(dir);
    return found;
}

static void check_cycle(checker *c, const rb_node *at, const rb_runbook *callee)
{
    const char *chain[MAX_CALL_DEPTH + 1];
    visited v = {.count = 0};
    chain[0] = callee->name;
    int self = !strcmp(callee->name, c->rb->name);
    int found = self ? 0 : find_cycle(c, callee, chain + 1, 0, &v);
    int len = self ? 1 : found ? found + 1 : 0; /* names after the caller's own */
    if (!len)
        return;
    char text[400];
    snprintf(text, sizeof text, "%s", c->rb->name);
    for (int i = 0; i < len; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), " -> %s", chain[i]);
    c_error(c, at, RB_NO_OFFSET, "runbook calls form a cycle: %s", text);
}

void c_calls(checker *c, const rb_step *s, const rb_action *a)
{
    const rb_node *name = rb_action_param(a, "name");
    if (!c->cat || !name || !c->rb->name)
        return;
    char *dir = dir_of(c->rb->path);
    const rb_runbook *callee = rb_catalog_get(c->cat, name->str, dir);
    char *path = callee ? NULL : rb_catalog_find(c->cat, name->str, dir);
    free(dir);
    if (!callee) {
        if (path)
            c_error(c, name, RB_NO_OFFSET, "runbook \"%s\" (%s) has errors; validate it", name->str, path);
        else
            c_error(c, name, RB_NO_OFFSET, "no runbook named \"%s\" next to this file or on RUNBOOK_PATH", name->str);
        free(path);
        return;
    }
    check_inputs(c, a, callee);
    check_cycle(c, name, callee);
}
