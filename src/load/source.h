/* The source text of a document: checked byte by byte before libyaml sees it, with a sparse
 * index of line starts. Lines end where libyaml ends them: LF, CRLF, CR, NEL, LS and PS. */
#ifndef RUNBOOK_LOAD_SOURCE_H
#define RUNBOOK_LOAD_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#define LD_LINE_STRIDE 16 /* one index entry per 16 lines: a file of newlines stays cheap */

typedef struct ld_source {
    const char *text; /* BOM stripped; not owned */
    size_t len;
    uint32_t *index;  /* index[k]: byte offset of line 1 + k * LD_LINE_STRIDE */
    size_t nindex, capindex;
    uint32_t nlines;  /* line breaks + 1 */
    int ascii;        /* no byte >= 0x80, so libyaml's character index is the byte offset */
} ld_source;

typedef struct ld_scan_error {
    size_t offset;    /* byte offset of the offending character */
    char message[96]; /* "invalid UTF-8 byte 0xff", "NUL byte in input", ... */
    const char *hint; /* static, or NULL */
} ld_scan_error;

/* Validates `text` (UTF-8 without overlongs, surrogates or values past U+10FFFF; no NUL and no
 * character libyaml refuses) and builds the line index. Returns 0, or -1 with `err` filled
 * (err->offset == SIZE_MAX when out of memory). Call ld_source_cleanup either way. */
int ld_source_scan(ld_source *s, const char *text, size_t len, ld_scan_error *err);
void ld_source_cleanup(ld_source *s);

/* Length of the line break at text[i] (0 when none), never reading at or past `n`. */
size_t ld_break_len(const char *text, size_t i, size_t n);

/* Offset of the first line break at or after `i`, or `n`; the break's length in *blen. */
size_t ld_line_end(const char *text, size_t i, size_t n, size_t *blen);

/* Line `line` (1-based) without its break, or NULL past the last line. Lines before a scan
 * error are available too. */
const char *ld_source_line(const ld_source *s, uint32_t line, size_t *len);

/* The 1-based line and column (in characters) of byte `offset`, which must not lie past a
 * scan error. */
void ld_source_position(const ld_source *s, size_t offset, uint32_t *line, uint32_t *col);

#endif
