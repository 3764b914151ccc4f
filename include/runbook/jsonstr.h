/* Strings from outside (command output, HTTP bodies, query results) made fit for JSON: valid
 * UTF-8, as jansson insists, and bounded. Used by the journal and by the actions' outputs. */
#ifndef RUNBOOK_JSONSTR_H
#define RUNBOOK_JSONSTR_H

#include <jansson.h>
#include <stddef.h>

/* A JSON string from arbitrary bytes: each ill-formed UTF-8 sequence (its maximal subpart, as
 * Unicode recommends) becomes U+FFFD, so jansson accepts it; NUL bytes are kept. Returns a new
 * reference, or NULL when out of memory. */
json_t *rb_json_string_lossy(const char *s, size_t len);

/* Like rb_json_string_lossy, but when `len` is over `max` keeps only the head, cut at a
 * character boundary, followed by a marker "...[truncated, N bytes]", all within `max` bytes
 * (when `max` is at least 64). The journal bounds whole lines: escaping can grow a string up to
 * six times, so keep the sum of a record's bounds well under RB_JOURNAL_LINE_MAX / 6. */
json_t *rb_json_string_bounded(const char *s, size_t len, size_t max);

/* Replaces the string member `key` of `obj` by its bounded form, if longer than `max`. Returns
 * 0 (also when there is no such string member), or -1 when out of memory. */
int rb_json_truncate_field(json_t *obj, const char *key, size_t max);

#endif
