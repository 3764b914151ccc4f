/* The checker: every semantic rule of the language and the DR lint rules, over a built model
 * and its graph. Collects every diagnostic; never stops at the first. */
#ifndef RUNBOOK_CHECK_H
#define RUNBOOK_CHECK_H

#include <stddef.h>

#include "runbook/diag.h"
#include "runbook/graph.h"
#include "runbook/model.h"

/* Runbooks by name, for `runbook` steps: looked up in the calling file's folder, then in each
 * folder of the search path. Loaded models are cached for the catalog's life. */
typedef struct rb_catalog rb_catalog;

/* `dirs` is copied; NULL-terminated. */
rb_catalog *rb_catalog_new(const char *const *dirs);
void rb_catalog_free(rb_catalog *cat);
/* Splits a PATH-like string ("a:b") into the catalog's search path (NULL or "" → ./runbooks). */
rb_catalog *rb_catalog_from_path(const char *path_list);
/* Finds the file of runbook `name` ("name.yaml" or "name.yml"), searching `near_dir` first
 * (may be NULL). Returns a malloc'd path or NULL. */
char *rb_catalog_find(const rb_catalog *cat, const char *name, const char *near_dir);
/* The model of runbook `name`, loaded once (diagnostics of that file are not reported here).
 * NULL when it is not found or does not load. Owned by the catalog. */
const rb_runbook *rb_catalog_get(rb_catalog *cat, const char *name, const char *near_dir);

/* Checks `rb` (built without structural errors or not: parts that failed to build are skipped).
 * `g` is the graph built from it (may hold a cycle: step-order rules are then skipped).
 * `cat` may be NULL: `runbook` steps are then only checked for their shape. Lint rules add
 * warnings with their rule name; the caller promotes them under --strict. */
void rb_check(const rb_runbook *rb, const rb_graph *g, rb_catalog *cat, rb_diags *d);

/* Checks one value for an input (from --set, a prompt or a default). 0 when valid; otherwise
 * -1 with a one-line message in `err`. */
int rb_input_check(const rb_input *in, const char *value, char *err, size_t errlen);

/* Names of the lint rules, NULL-terminated (documented in docs/language.md). */
extern const char *const rb_lint_rules[];
/* A one-line description of a lint rule. */
const char *rb_lint_rule_doc(const char *rule);

#endif
