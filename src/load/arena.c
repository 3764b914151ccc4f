/* The arena behind a document: nodes are never freed one by one, so a bump pointer in a few
 * large blocks replaces hundreds of thousands of mallocs and frees everything in one pass. */
#include "load/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_BLOCK (64u << 10)
#define MAX_BLOCK (8u << 20)

struct ld_block {
    ld_block *next;
    size_t size, used;
    /* data follows; the header is a multiple of 8 bytes so the data stays 8-aligned */
};

void ld_arena_init(ld_arena *a)
{
    memset(a, 0, sizeof *a);
    a->next_size = FIRST_BLOCK;
}

void ld_arena_cleanup(ld_arena *a)
{
    ld_block *b = a->head;
    while (b) {
        ld_block *next = b->next;
        free(b);
        b = next;
    }
    ld_arena_init(a);
}

static ld_block *block_new(ld_arena *a, size_t size)
{
    ld_block *b = malloc(sizeof *b + size);
    if (!b)
        return NULL;
    b->size = size;
    b->used = 0;
    a->total += sizeof *b + size;
    return b;
}

/* A request too big for an ordinary block gets a block of its own, linked behind the current
 * one so the current block's free tail is not wasted. */
static void *alloc_big(ld_arena *a, size_t n)
{
    ld_block *b = block_new(a, n);
    if (!b)
        return NULL;
    b->used = n;
    if (a->head) {
        b->next = a->head->next;
        a->head->next = b;
    } else {
        b->next = NULL;
        a->head = b;
    }
    return b + 1;
}

void *ld_arena_alloc(ld_arena *a, size_t n)
{
    if (n > SIZE_MAX / 2)
        return NULL;
    n = (n + 7) & ~(size_t)7;
    if (n > a->next_size / 4)
        return alloc_big(a, n);
    ld_block *b = a->head;
    if (!b || b->size - b->used < n) {
        b = block_new(a, a->next_size);
        if (!b)
            return NULL;
        b->next = a->head;
        a->head = b;
        if (a->next_size < MAX_BLOCK)
            a->next_size *= 2;
    }
    void *p = (char *)(b + 1) + b->used;
    b->used += n;
    return p;
}

char *ld_arena_strndup(ld_arena *a, const char *s, size_t n)
{
    char *p = ld_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
