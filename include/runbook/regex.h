/* PCRE2 behind one small interface: compile with located errors, match with limits. */
#ifndef RUNBOOK_REGEX_H
#define RUNBOOK_REGEX_H

#include <stddef.h>

typedef struct rb_regex rb_regex;

/* Compiles `pattern` (UTF-8, `len` bytes; NULs allowed). On failure returns NULL, sets
 * *err_offset to the byte offset in the pattern where PCRE2 stopped and writes a message. */
rb_regex *rb_regex_compile(const char *pattern, size_t len, size_t *err_offset, char *err,
                           size_t err_len);
void rb_regex_free(rb_regex *re);

/* Number of capture groups in the pattern. */
int rb_regex_groups(const rb_regex *re);

/* Matches `subject`. Returns 1 on match, 0 on no match, -1 on error (match or depth limit hit,
 * bad UTF-8 in the subject). On a match, when `group` >= 0 and the group took part, stores its
 * start and length in *gstart and *glen (else sets *glen to 0 and *gstart to (size_t)-1).
 * Match and depth limits bound the work on hostile subjects. */
int rb_regex_match(const rb_regex *re, const char *subject, size_t len, int group, size_t *gstart,
                   size_t *glen);

/* Like rb_regex_match, but the match must cover the whole subject (as an input's pattern
 * does); the pattern itself is not rewritten, so every valid pattern stays valid. */
int rb_regex_match_whole(const rb_regex *re, const char *subject, size_t len);

#endif
