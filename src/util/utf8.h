/* One UTF-8 character, decoded by Unicode's table 3-7 (no overlongs, surrogates or code points
 * past U+10FFFF): shared by the terminal's escaping (show.c) and JSON's lossy strings. */
#ifndef RUNBOOK_UTIL_UTF8_H
#define RUNBOOK_UTIL_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The length of the well-formed character at s[0..n) (n >= 1), its code point in *cp; or minus
 * the length of the maximal ill-formed subpart there (which a lossy copy replaces by one
 * U+FFFD, as Unicode recommends). */
long rb_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

#endif
