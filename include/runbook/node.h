/* The loader: YAML text -> a tree of nodes where every node knows its file, line and column.
 * The tree is immutable once loaded and owned by its rb_doc; freeing the doc frees every node. */
#ifndef RUNBOOK_NODE_H
#define RUNBOOK_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "runbook/diag.h"

typedef enum { RB_NODE_SCALAR, RB_NODE_SEQ, RB_NODE_MAP } rb_node_kind;

/* How a scalar was written: plain scalars may be null/bool/int in YAML terms, quoted ones never. */
typedef enum {
    RB_STYLE_PLAIN,
    RB_STYLE_SINGLE,  /* 'x' */
    RB_STYLE_DOUBLE,  /* "x" */
    RB_STYLE_LITERAL, /* | */
    RB_STYLE_FOLDED   /* > */
} rb_scalar_style;

typedef struct rb_node rb_node;
struct rb_node {
    rb_node_kind kind;
    rb_scalar_style style; /* scalars only */
    uint32_t line, col;    /* 1-based start (col in characters); for quoted scalars the quote */
    uint32_t offset;       /* byte offset of the start in the (BOM-stripped) source */
    uint32_t end_offset;   /* byte offset just past the node */
    /* Scalars: the decoded value, NUL-terminated; `len` excludes the NUL (values hold no NUL). */
    const char *str;
    size_t len;
    /* Sequences: `count` items. Maps: `count` pairs, items[2*i] the key (always a scalar),
     * items[2*i+1] the value. Keys of a map are unique (the loader refuses duplicates). */
    size_t count;
    rb_node **items;
};

typedef struct rb_doc rb_doc;

/* Limits, checked while parsing so a hostile file is stopped early with a located error. */
#define RB_LOAD_MAX_BYTES (16u << 20) /* whole file */
#define RB_LOAD_MAX_DEPTH 64          /* nesting of collections */
#define RB_LOAD_MAX_NODES 2000000     /* all nodes of one document */
#define RB_LOAD_MAX_SCALAR (1u << 20) /* one scalar's decoded bytes */

/* Loads a file / a buffer. On success returns a doc (caller frees with rb_doc_free).
 * On failure returns NULL and appends located errors to `d` (at least one).
 * Refused: syntax errors, duplicate keys (after decoding quotes), anchors and aliases, tags,
 * nesting beyond RB_LOAD_MAX_DEPTH, invalid UTF-8 and NUL bytes, more than one document,
 * a top level that is not a mapping, keys that are not scalars or are null, oversize input.
 * Accepted: CRLF line endings and a leading UTF-8 BOM. An empty file is an error.
 * `name` is the path shown in diagnostics and is copied. */
rb_doc *rb_load_file(const char *path, rb_diags *d);
rb_doc *rb_load_buffer(const char *name, const char *buf, size_t len, rb_diags *d);
void rb_doc_free(rb_doc *doc);

const rb_node *rb_doc_root(const rb_doc *doc); /* always a map */
const char *rb_doc_name(const rb_doc *doc);
/* The source (BOM stripped, as read) and its length; used for hashing and re-scanning. */
const char *rb_doc_source(const rb_doc *doc, size_t *len);

/* Line `line` (1-based) of the source without its line ending; NULL past the end. */
const char *rb_doc_line(const rb_doc *doc, uint32_t line, size_t *len);

/* The position of byte `value_offset` of a scalar's decoded value in the source, for errors
 * inside a scalar (an expression, a regex). Exact for plain, single- and double-quoted and
 * block scalars where the decoded byte maps to a source byte; otherwise the scalar's start. */
void rb_node_locate(const rb_doc *doc, const rb_node *scalar, size_t value_offset, uint32_t *line,
                    uint32_t *col);

/* A map's value for `key`, or NULL (also when `map` is NULL or not a map). */
const rb_node *rb_map_get(const rb_node *map, const char *key);

/* Convenience: append a located diagnostic for `node` (or for byte `value_offset` inside a
 * scalar when `value_offset` != RB_NO_OFFSET), with the source line attached. */
#define RB_NO_OFFSET ((size_t)-1)
void rb_diag_node(rb_diags *d, const rb_doc *doc, const rb_node *node, size_t value_offset,
                  rb_severity sev, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* A plain scalar that YAML would read as null (`~`, `null`, `Null`, `NULL`, empty). */
int rb_node_is_null(const rb_node *n);

#endif
