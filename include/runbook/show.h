/* Text for a person: the one way the program prints what it did not write itself (command
 * output, messages, names and values from runbooks and journals). Such text is masked, then
 * every control character in it is made visible, so no output, title or value can move the
 * cursor, clear the screen, set the window title, write the clipboard or redraw a question. */
#ifndef RUNBOOK_SHOW_H
#define RUNBOOK_SHOW_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "runbook/mask.h"

/* Returns a new string (caller frees; NULL when out of memory) with s[0..len) made safe:
 * newline and tab are kept; ESC becomes "\e", CR "\r", every other C0 control and DEL
 * "\xNN"; C1 controls (U+0080..U+009F), the line separators U+2028/U+2029 and the bidi
 * overrides and isolates (U+202A..U+202E, U+2066..U+2069) "\uNNNN"; each byte of ill-formed
 * UTF-8 "\xNN". Everything else is copied. *out_len (may be NULL) gets the length. */
char *rb_show_escape(const char *s, size_t len, size_t *out_len);

/* Writes s[0..len) to f masked with m (NULL: not masked), then escaped as rb_show_escape
 * says. Masking comes first, on the whole text, so a secret is caught before any escape
 * changes its bytes. When memory runs out nothing is written (never the raw text). */
void rb_show(FILE *f, const rb_masker *m, const char *s, size_t len);

/* printf for a person. The format is the program's own and is written as it is (it may hold
 * colour codes); each %s and %c argument is text from outside: masked with m (NULL: not
 * masked), cut to its precision only after masking (so a cut never leaves half a secret),
 * then escaped, then padded to its width. Numbers are formatted as printf does. Supports the
 * flags, widths, precisions (also '*') and lengths (hh h l ll z j t) of d i u x X o c s f g e
 * p and %%. Returns the bytes written, or -1 (an unknown conversion stops the output). */
int rb_showf(FILE *f, const rb_masker *m, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int rb_vshowf(FILE *f, const rb_masker *m, const char *fmt, va_list ap);

/* Colour codes that rb_showf writes as they are when one is passed as a %s argument: it knows
 * them by their address, which no text from outside can have. */
extern const char rb_show_bold[], rb_show_dim[], rb_show_reset[];

/* The bytes at the end of s[0..len) that start a UTF-8 character still incomplete (0..3): a
 * caller showing a stream in chunks holds them for the next chunk rather than escaping them. */
size_t rb_show_incomplete_tail(const char *s, size_t len);

#endif
