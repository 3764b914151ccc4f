/* String -> index map with linear probing; used for step ids and other name tables. */
#include "runbook/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void rb_strmap_init(rb_strmap *m) { memset(m, 0, sizeof *m); }

void rb_strmap_cleanup(rb_strmap *m)
{
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof *m);
}

/* FNV-1a: short keys, no adversary gains from collisions beyond a slower validate. */
static size_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

static size_t slot_of(const rb_strmap *m, const char *key)
{
    size_t i = hash(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static int grow(rb_strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    rb_strmap bigger = {calloc(cap, sizeof(char *)), calloc(cap, sizeof(size_t)), cap, 0};
    if (!bigger.keys || !bigger.values) {
        rb_strmap_cleanup(&bigger);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) {
            size_t j = slot_of(&bigger, m->keys[i]);
            bigger.keys[j] = m->keys[i];
            bigger.values[j] = m->values[i];
            bigger.count++;
        }
    rb_strmap_cleanup(m);
    *m = bigger;
    return 0;
}

int rb_strmap_put(rb_strmap *m, const char *key, size_t value, size_t *old)
{
    if ((m->count + 1) * 2 > m->cap && grow(m) != 0)
        return -1;
    size_t i = slot_of(m, key);
    if (m->keys[i]) {
        if (old)
            *old = m->values[i];
        return 0;
    }
    m->keys[i] = key;
    m->values[i] = value;
    m->count++;
    return 1;
}

int rb_strmap_get(const rb_strmap *m, const char *key, size_t *value)
{
    if (!m->cap)
        return 0;
    size_t i = slot_of(m, key);
    if (!m->keys[i])
        return 0;
    *value = m->values[i];
    return 1;
}
