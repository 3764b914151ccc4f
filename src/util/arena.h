/* A bump allocator: objects that die together (a document's nodes, an expression's tree) come
 * from a few growing blocks and are freed all at once. */
#ifndef RUNBOOK_UTIL_ARENA_H
#define RUNBOOK_UTIL_ARENA_H

#include <stddef.h>

typedef struct rb_arena_block rb_arena_block;

typedef struct rb_arena {
    rb_arena_block *head;   /* the block being filled; older blocks follow */
    char *cur, *end;  /* the free part of the head block: the inline fast path bumps cur */
    size_t next_size; /* size of the next ordinary block (doubles up to a cap) */
    size_t first_size;
    size_t total;     /* bytes obtained from malloc, for measurements */
} rb_arena;

/* `first_block` is the size of the first block; later ones double, up to 8 MiB. */
void rb_arena_init(rb_arena *a, size_t first_block);
/* Starts in `buf` (8-aligned, owned by the caller, outliving the arena) before any block is
 * allocated: a small object that embeds its first block costs no malloc at all. */
void rb_arena_init_in(rb_arena *a, void *buf, size_t size, size_t next_block);
void rb_arena_cleanup(rb_arena *a);

/* `n` bytes aligned to 8, valid until rb_arena_cleanup; NULL when out of memory. Inline
 * because the loader and the expression parser call it for every node. */
void *rb_arena_alloc_slow(rb_arena *a, size_t n);
static inline void *rb_arena_alloc(rb_arena *a, size_t n)
{
    size_t rounded = (n + 7) & ~(size_t)7;
    if (rounded >= n && (size_t)(a->end - a->cur) >= rounded && a->cur) {
        void *p = a->cur;
        a->cur += rounded;
        return p;
    }
    return rb_arena_alloc_slow(a, n);
}

/* A NUL-terminated copy of `n` bytes of `s`. */
char *rb_arena_strndup(rb_arena *a, const char *s, size_t n);

#endif
