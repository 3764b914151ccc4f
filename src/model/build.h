/* Private to src/model: the state of one build and the typed readers every part shares.
 * Each reader reports its own located error and returns -1 (or NULL) on bad input. */
#ifndef RUNBOOK_MODEL_BUILD_H
#define RUNBOOK_MODEL_BUILD_H

#include "runbook/model.h"

typedef struct build {
    rb_runbook *rb;
    rb_diags *d;
    const rb_doc *doc;
} build;

void b_error(build *b, const rb_node *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Reports keys of `map` not in `allowed` (NULL-terminated), with a suggestion taken from
 * `allowed` and `extra` (may be NULL). `what` names the map in messages ("a step"). */
void b_check_keys(build *b, const rb_node *map, const char *const *allowed,
                  const char *const *extra, const char *what);

/* One pass over `map` instead of a lookup per key: out[i] is the value of keys[i] or NULL
 * (`out` has an entry per key); other keys are reported as b_check_keys does. */
void b_fields(build *b, const rb_node *map, const char *const *keys, const char *const *extra,
              const char *what, const rb_node **out);

int b_want(build *b, const rb_node *n, rb_node_kind kind, const char *what);
const char *b_string(build *b, const rb_node *n, const char *what);
int b_bool(build *b, const rb_node *n, const char *what, int *out);
int b_int(build *b, const rb_node *n, const char *what, long long *out);
/* Durations: RB_DYNAMIC for exactly one ${{ }}; RB_NO_DURATION when `n` is NULL. */
int b_duration(build *b, const rb_node *n, const char *what, long long *ms);
/* Index of the scalar's value in `names` (NULL-terminated), or -1 after an error. */
int b_enum(build *b, const rb_node *n, const char *const *names, const char *what);
/* An id: [a-z0-9][a-z0-9_-]*, at most 64 characters. */
int b_id(build *b, const rb_node *n, const char *what);
int b_policy(build *b, const rb_node *n, rb_policy *out);
void b_retry(build *b, const rb_node *n, rb_retry *out);

/* Parts built in their own files. */
void b_steps(build *b, const rb_node *seq);
void b_block(build *b, const rb_node *map, rb_block *out, const char *what);
int b_action(build *b, const rb_node *map, rb_action *out, const char *what);
void b_targets(build *b, const rb_node *map);
void b_figures(build *b, const rb_node *seq); /* report: (figures.c) */

/* Allocation that reports out-of-memory as an error on the root node. */
void *b_calloc(build *b, size_t n, size_t size);

#endif
