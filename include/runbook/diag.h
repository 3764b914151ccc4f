/* Diagnostics: located messages collected by every static stage and printed by the CLI.
 * A diagnostic owns copies of everything it shows, so it outlives the document it came from. */
#ifndef RUNBOOK_DIAG_H
#define RUNBOOK_DIAG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { RB_SEV_ERROR, RB_SEV_WARNING, RB_SEV_NOTE } rb_severity;

typedef struct rb_diag {
    rb_severity sev;
    char *file;        /* path as given by the user */
    uint32_t line;     /* 1-based; 0 when the message is about the whole file */
    uint32_t col;      /* 1-based, counted in characters (UTF-8 code points) */
    char *rule;        /* lint rule name for warnings ("no-rollback"), NULL for plain errors */
    char *message;     /* one line, no trailing newline */
    char *source_line; /* the offending source line (no newline, bounded), or NULL */
    char *hint;        /* an optional second line ("did you mean ..."), or NULL */
    char *waived;      /* a waived warning: why (the waiver's reason, or "--ignore"), else NULL */
    int waived_external; /* waived by --ignore, not by a comment in the runbook */
} rb_diag;

/* A growing list of diagnostics. Adding never fails the caller: past RB_DIAG_MAX entries
 * further ones are counted in `dropped` and not stored, so hostile input cannot grow it unbounded. */
typedef struct rb_diags {
    rb_diag *items;
    size_t count, cap;
    size_t dropped;
    size_t errors, warnings; /* counts including dropped ones; waived warnings are not counted */
    size_t waived;
} rb_diags;

#define RB_DIAG_MAX 1000
#define RB_DIAG_SOURCE_MAX 240 /* bytes of a source line kept for display */

void rb_diags_init(rb_diags *d);
void rb_diags_cleanup(rb_diags *d);

/* Adds a diagnostic; `source_line` (may be NULL) is copied up to its first newline, bounded.
 * `file` may be NULL. The format is printf-like; the result is truncated to one line. */
void rb_diag_add(rb_diags *d, rb_severity sev, const char *rule, const char *file, uint32_t line,
                 uint32_t col, const char *source_line, size_t source_len, const char *fmt, ...)
    __attribute__((format(printf, 9, 10)));

/* Sets the hint of the most recently added diagnostic (no-op if it was dropped). */
void rb_diag_hint(rb_diags *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Waives warning i (a lint rule accepted visibly): kept for JSON and SARIF, not printed as text,
 * not counted, never made an error by --strict. */
void rb_diag_waive(rb_diags *d, size_t i, const char *why, int external);

/* Turns every warning into an error (validate --strict). */
void rb_diags_promote_warnings(rb_diags *d);

/* Sorts by file, line, column (stable), so output order does not depend on check order. */
void rb_diags_sort(rb_diags *d);

/* Output formats. `color` adds ANSI colours to the text format only. */
typedef enum { RB_FMT_TEXT, RB_FMT_JSON, RB_FMT_GITHUB, RB_FMT_SARIF } rb_diag_format;

/* Text: "file:line:col: error: message", the source line, a caret under the column, the hint. */
void rb_diags_print_text(const rb_diags *d, FILE *out, int color);
/* GitHub Actions workflow commands (::error file=..,line=..,col=..::message). */
void rb_diags_print_github(const rb_diags *d, FILE *out);

#endif
