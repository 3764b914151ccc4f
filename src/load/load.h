/* Private to the loader: the document behind the opaque rb_doc and helpers shared by its files. */
#ifndef RUNBOOK_LOAD_LOAD_H
#define RUNBOOK_LOAD_LOAD_H

#include "util/arena.h"
#include "load/source.h"
#include "runbook/node.h"

struct rb_doc {
    char *name;     /* copy of the name shown in diagnostics (may be NULL) */
    char *base;     /* the allocation holding the source, BOM included */
    ld_source src;  /* the BOM-stripped text inside `base`, with its line index */
    rb_arena arena; /* every node, string and item array */
    rb_node *root;
};

/* Sets *line and *col to the position of decoded byte `voff` of scalar `n` (rb_node_locate).
 * Returns 1 when exact, 0 when it fell back to the node's start. */
int ld_locate(const ld_source *s, const rb_node *n, size_t voff, uint32_t *line, uint32_t *col);

/* Writes `s` (`n` bytes) into `out` as a double-quoted, escaped, one-line text cut at about
 * `max` bytes on a character boundary ("..." marks the cut). `cap` must exceed max + 16. */
void ld_quote(char *out, size_t cap, const char *s, size_t n, size_t max);

/* Appends an error at line:col of `src` with that source line attached (cut on a character
 * boundary, and before `stop` when it is inside the line: bytes from there may be invalid). */
void ld_diag_at(rb_diags *d, const ld_source *src, const char *file, rb_severity sev,
                const char *rule, uint32_t line, uint32_t col, size_t stop, const char *msg);

#endif
