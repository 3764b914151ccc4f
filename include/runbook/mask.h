/* Secret masking: secrets, and the encoded forms they take, become "***" in any text. */
#ifndef RUNBOOK_MASK_H
#define RUNBOOK_MASK_H

#include <stddef.h>

/* What replaces every masked region. Overlapping or touching occurrences become one "***". */
#define RB_MASK_TEXT "***"

/* Values shorter than this are still masked, and rb_masker_add says so (RB_MASK_SHORT): a
 * one-byte secret turns every such byte of every output into "***", which keeps it secret but
 * makes output unreadable, and a short secret is guessable anyway. The caller should warn. */
#define RB_MASK_MIN_LEN 4

/* Longest secret accepted. A longer one is refused (not silently left unmasked). */
#define RB_MASK_MAX_SECRET (64u * 1024u)

#define RB_MASK_SHORT 1

/* The shortest secret a runbook may declare: a shorter one is refused when the run loads its
 * secrets, since masking it would eat ordinary words and numbers out of every message. */
#define RB_SECRET_MIN_LEN 6

/* The set of secrets to hide. Threads may add to one masker and apply it at once (a secret
 * captured mid-run while parallel steps print); an add waits for the scans in progress. */
typedef struct rb_masker rb_masker;

/* Returns an empty masker, or NULL when out of memory. Free with rb_masker_free. */
rb_masker *rb_masker_new(void);
void rb_masker_free(rb_masker *m);

/* Adds a secret (`len` bytes, may contain NULs) and its encoded forms:
 *  - the raw bytes;
 *  - base64, standard and URL-safe alphabets, with and without padding;
 *  - the part of its base64 that stays the same wherever it sits inside a longer base64 blob
 *    (the three byte alignments, both alphabets); base64 forms under 4 characters are left out;
 *  - percent-encoding (RFC 3986 unreserved kept; upper- and lower-case hex; form style with '+'
 *    for space; the sets kept by JavaScript's encodeURIComponent and Python's quote);
 *  - JSON string escaping as jansson, JavaScript, Python (ensure_ascii), PHP (escaped '/') and
 *    Go (HTML-safe) write it.
 * Forms nested in each other (the JSON escaping of a URL encoding, say) are not covered.
 * The masker keeps its own copies. Returns 0, RB_MASK_SHORT (added, but shorter than
 * RB_MASK_MIN_LEN), or -1 with errno: EINVAL for an empty value, E2BIG when longer than
 * RB_MASK_MAX_SECRET, ENOMEM. On -1 the secret is not masked: the caller must not go on. */
int rb_masker_add(rb_masker *m, const char *value, size_t len);

/* For a text that was cut: the length of its longest ending that is the start of a form (0 when
 * none), which a cut may have left as half a secret; the caller drops it. */
size_t rb_mask_open_tail(const rb_masker *m, const char *s, size_t len);

/* Length of the longest form held (0 when empty): a stream holds back one byte less. */
size_t rb_masker_max_len(const rb_masker *m);

/* Returns a NUL-terminated copy of s[0..len) with every occurrence of every form replaced by
 * RB_MASK_TEXT, and its length in *out_len (may be NULL). The caller frees it. Runs in time
 * linear in `len` (Aho-Corasick), however many secrets there are. Returns NULL when out of
 * memory: never fall back to the unmasked text. `s` may be NULL when `len` is 0. */
char *rb_mask_apply(const rb_masker *m, const char *s, size_t len, size_t *out_len);

/* Masks two texts written side by side, such as a command's stdout and stderr, which a terminal
 * shows interleaved: besides what rb_mask_apply masks in each, a secret whose first part ends
 * one and whose rest starts the other (in either order) is masked in both, each part becoming
 * RB_MASK_TEXT. A secret split more than once between them is not caught. Results in *oa and
 * *ob (NUL-terminated, caller frees), lengths in *oalen, *oblen (may be NULL). Returns 0, or
 * -1 when out of memory (both NULL: never fall back to the unmasked texts). */
int rb_mask_apply_pair(const rb_masker *m, const char *a, size_t alen, const char *b, size_t blen, char **oa,
                       size_t *oalen, char **ob, size_t *oblen);

/* Masking for output that arrives in chunks: a secret split across chunks is still caught.
 * The stream holds back the last (max_len - 1) bytes until more arrive or it is flushed, so
 * output lags input by that much. Its output, concatenated, equals rb_mask_apply on the whole
 * input. A secret added to the masker while a stream is open applies to text not yet emitted. */
typedef struct rb_mask_stream rb_mask_stream;

/* Returns a stream over `m` (borrowed: it must outlive the stream), or NULL when out of memory. */
rb_mask_stream *rb_mask_stream_new(const rb_masker *m);
void rb_mask_stream_free(rb_mask_stream *st);

/* Feeds a chunk and returns in *out (NUL-terminated, caller frees; never NULL on success) the
 * masked text that is now safe to emit, possibly empty, and its length in *out_len.
 * Returns 0, or -1 when out of memory (nothing is emitted and the stream is unchanged). */
int rb_mask_stream_write(rb_mask_stream *st, const char *s, size_t len, char **out,
                         size_t *out_len);

/* Emits whatever is held back (masked), as rb_mask_stream_write does, and resets the stream
 * for new input. Returns 0 or -1 when out of memory. */
int rb_mask_stream_flush(rb_mask_stream *st, char **out, size_t *out_len);

#endif
