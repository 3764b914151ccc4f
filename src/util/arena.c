/* Arenas: objects never freed one by one, so a bump pointer in a few blocks replaces many
 * mallocs and frees everything in one pass. */
#include "util/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BLOCK (8u << 20)

struct rb_arena_block {
    rb_arena_block *next;
    size_t size; /* the free part of the head block is tracked by the arena (cur, end) */
    /* data follows; the header is a multiple of 8 bytes so the data stays 8-aligned */
};

void rb_arena_init(rb_arena *a, size_t first_block)
{
    memset(a, 0, sizeof *a);
    a->next_size = first_block < 64 ? 64 : first_block;
    a->first_size = a->next_size;
}

void rb_arena_init_in(rb_arena *a, void *buf, size_t size, size_t next_block)
{
    rb_arena_init(a, next_block);
    a->cur = buf;
    a->end = (char *)buf + (size & ~(size_t)7);
}

void rb_arena_cleanup(rb_arena *a)
{
    rb_arena_block *b = a->head;
    while (b) {
        rb_arena_block *next = b->next;
        free(b);
        b = next;
    }
    rb_arena_init(a, a->first_size);
}

static rb_arena_block *block_new(rb_arena *a, size_t size)
{
    rb_arena_block *b = malloc(sizeof *b + size);
    if (!b)
        return NULL;
    b->size = size;
    a->total += sizeof *b + size;
    return b;
}

/* A request too big for an ordinary block gets a block of its own, linked behind the current
 * one so the current block's free tail is not wasted. */
static void *alloc_big(rb_arena *a, size_t n)
{
    rb_arena_block *b = block_new(a, n);
    if (!b)
        return NULL;
    if (a->head) {
        b->next = a->head->next;
        a->head->next = b;
    } else {
        b->next = NULL;
        a->head = b; /* full: cur/end stay empty, so the next request starts a block */
    }
    return b + 1;
}

void *rb_arena_alloc_slow(rb_arena *a, size_t n)
{
    if (n > SIZE_MAX / 2)
        return NULL;
    n = (n + 7) & ~(size_t)7;
    if (n > a->next_size / 4)
        return alloc_big(a, n);
    if (!a->cur || (size_t)(a->end - a->cur) < n) {
        rb_arena_block *b = block_new(a, a->next_size);
        if (!b)
            return NULL;
        b->next = a->head;
        a->head = b;
        a->cur = (char *)(b + 1);
        a->end = a->cur + b->size;
        if (a->next_size < MAX_BLOCK)
            a->next_size *= 2;
    }
    void *p = a->cur;
    a->cur += n;
    return p;
}

char *rb_arena_strndup(rb_arena *a, const char *s, size_t n)
{
    char *p = rb_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
