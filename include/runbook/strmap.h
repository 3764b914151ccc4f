/* A small open-addressing map from borrowed NUL-terminated strings to size_t values. */
#ifndef RUNBOOK_STRMAP_H
#define RUNBOOK_STRMAP_H

#include <stddef.h>

typedef struct rb_strmap {
    const char **keys; /* borrowed: the caller keeps them alive */
    size_t *values;
    size_t cap, count;
} rb_strmap;

void rb_strmap_init(rb_strmap *m);
void rb_strmap_cleanup(rb_strmap *m);
/* Inserts key -> value unless key is present. Returns 1 inserted, 0 present (*old set when
 * non-NULL), -1 out of memory. */
int rb_strmap_put(rb_strmap *m, const char *key, size_t value, size_t *old);
/* 1 and *value when present, 0 otherwise. */
int rb_strmap_get(const rb_strmap *m, const char *key, size_t *value);

#endif
