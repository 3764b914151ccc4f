/* A bump allocator for one document's nodes and strings: a few big blocks, freed all at once. */
#ifndef RUNBOOK_LOAD_ARENA_H
#define RUNBOOK_LOAD_ARENA_H

#include <stddef.h>

typedef struct ld_block ld_block;

typedef struct ld_arena {
    ld_block *head;   /* the block being filled; older blocks follow */
    size_t next_size; /* size of the next ordinary block (doubles up to a cap) */
    size_t total;     /* bytes obtained from malloc, for measurements */
} ld_arena;

void ld_arena_init(ld_arena *a);
void ld_arena_cleanup(ld_arena *a);

/* `n` bytes aligned to 8, valid until ld_arena_cleanup; NULL when out of memory. */
void *ld_arena_alloc(ld_arena *a, size_t n);

/* A NUL-terminated copy of `n` bytes of `s`. */
char *ld_arena_strndup(ld_arena *a, const char *s, size_t n);

#endif
