/* The pre-scan: libyaml 0.2.5 reports bad UTF-8 and NUL bytes without a usable position, so
 * every byte is checked here first and the first bad one is reported at its line and column. */
#include "load/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t ld_break_len(const char *text, size_t i, size_t n)
{
    const unsigned char *s = (const unsigned char *)text;
    if (i >= n)
        return 0;
    if (s[i] == '\n')
        return 1;
    if (s[i] == '\r')
        return i + 1 < n && s[i + 1] == '\n' ? 2 : 1;
    if (s[i] == 0xC2)
        return i + 1 < n && s[i + 1] == 0x85 ? 2 : 0;
    if (s[i] == 0xE2 && i + 2 < n && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9))
        return 3;
    return 0;
}

/* Records that a line starts at `start`; only every LD_LINE_STRIDE-th start is stored. */
static int add_line(ld_source *s, size_t start)
{
    if (s->nlines++ % LD_LINE_STRIDE)
        return 0;
    if (s->nindex == s->capindex) {
        size_t cap = s->capindex ? s->capindex * 2 : 64;
        uint32_t *index = realloc(s->index, cap * sizeof *index);
        if (!index)
            return -1;
        s->index = index;
        s->capindex = cap;
    }
    s->index[s->nindex++] = (uint32_t)start;
    return 0;
}

/* Length (2..4) of the well-formed UTF-8 sequence at s[i] with its code point, or 0 with
 * `why` (NULL when the byte can never occur in UTF-8). */
static size_t utf8_decode(const unsigned char *s, size_t i, size_t n, uint32_t *cp,
                          const char **why)
{
    unsigned char c = s[i], lo = 0x80, hi = 0xBF;
    size_t len = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    *why = NULL;
    if (c < 0xC0 || c >= 0xF5) {
        *why = c < 0xC0 ? "unexpected continuation byte" : NULL;
        return 0;
    }
    if (c < 0xC2) {
        *why = "overlong encoding";
        return 0;
    }
    lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : lo;
    hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : hi;
    *cp = c & (0xFF >> (len + 1));
    for (size_t k = 1; k < len; k++) {
        unsigned char b = i + k < n ? s[i + k] : 0;
        if (b < 0x80 || b > 0xBF) {
            *why = "incomplete sequence";
            return 0;
        }
        if (k == 1 && (b < lo || b > hi)) {
            *why = b < lo ? "overlong encoding" : c == 0xED ? "UTF-16 surrogate" : "past U+10FFFF";
            return 0;
        }
        *cp = (*cp << 6) | (b & 0x3F);
    }
    return len;
}

/* libyaml's reader refuses these characters (YAML 1.1 "printable" set). */
static int printable(uint32_t cp)
{
    return cp == 0x85 || (cp >= 0xA0 && cp <= 0xD7FF) || (cp >= 0xE000 && cp <= 0xFFFD) ||
           cp >= 0x10000;
}

static int fail_ascii(ld_scan_error *err, size_t i, unsigned char c)
{
    err->offset = i;
    err->hint = NULL;
    if (c == 0) {
        snprintf(err->message, sizeof err->message, "NUL byte in input");
        err->hint = "is this a binary or UTF-16 file? runbooks are UTF-8 text";
    } else {
        snprintf(err->message, sizeof err->message, "control character U+%04X is not allowed",
                 (unsigned)c);
    }
    return -1;
}

static int fail_utf8(ld_scan_error *err, size_t i, unsigned char c, const char *why)
{
    err->offset = i;
    err->hint = "runbooks are UTF-8 text; was the file saved as Latin-1, Windows-1252 or UTF-16?";
    if (why)
        snprintf(err->message, sizeof err->message, "invalid UTF-8 byte 0x%02x (%s)", c, why);
    else
        snprintf(err->message, sizeof err->message, "invalid UTF-8 byte 0x%02x", c);
    return -1;
}

static int fail_char(ld_scan_error *err, size_t i, uint32_t cp)
{
    err->offset = i;
    err->hint = NULL;
    snprintf(err->message, sizeof err->message, "%scharacter U+%04X is not allowed",
             cp < 0xA0 ? "control " : "", (unsigned)cp);
    return -1;
}

static int oom(ld_scan_error *err)
{
    err->offset = SIZE_MAX;
    snprintf(err->message, sizeof err->message, "out of memory");
    err->hint = NULL;
    return -1;
}

/* One non-ASCII character at text[*i]: checked, and a line start recorded after NEL/LS/PS. */
static int scan_wide(ld_source *s, size_t *i, ld_scan_error *err)
{
    const unsigned char *t = (const unsigned char *)s->text;
    const char *why;
    uint32_t cp = 0;
    size_t len = utf8_decode(t, *i, s->len, &cp, &why);
    if (!len)
        return fail_utf8(err, *i, t[*i], why);
    if (!printable(cp))
        return fail_char(err, *i, cp);
    *i += len;
    s->ascii = 0;
    if ((cp == 0x85 || cp == 0x2028 || cp == 0x2029) && add_line(s, *i) != 0)
        return oom(err);
    return 0;
}

/* Whether the 8 bytes at `t` are all printable ASCII (0x20..0x7E), tested as one word. */
static int printable8(const unsigned char *t)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t w;
    memcpy(&w, t, 8);
    uint64_t below = (w - ones * 0x20) & ~w & highs; /* some byte < 0x20 */
    uint64_t above = (w | (w + ones)) & highs;       /* some byte >= 0x7F */
    return !(below | above);
}

int ld_source_scan(ld_source *s, const char *text, size_t len, ld_scan_error *err)
{
    const unsigned char *t = (const unsigned char *)text;
    memset(s, 0, sizeof *s);
    s->text = text;
    s->len = len;
    s->ascii = 1;
    if (add_line(s, 0) != 0)
        return oom(err);
    for (size_t i = 0; i < len;) {
        unsigned char c = t[i];
        if (len - i >= 8 && printable8(t + i)) { /* the common case first */
            i += 8;
        } else if (c >= 0x20 && c < 0x7F) {
            i++;
        } else if (c == '\n' || c == '\r') {
            i += ld_break_len(text, i, len);
            if (add_line(s, i) != 0)
                return oom(err);
        } else if (c == '\t') {
            i++;
        } else if (c < 0x80) {
            return fail_ascii(err, i, c);
        } else if (scan_wide(s, &i, err) != 0) {
            return -1;
        }
    }
    return 0;
}

void ld_source_cleanup(ld_source *s)
{
    free(s->index);
    s->index = NULL;
    s->nindex = s->capindex = 0;
}

size_t ld_line_end(const char *text, size_t i, size_t n, size_t *blen)
{
    const unsigned char *t = (const unsigned char *)text;
    for (; i < n; i++) {
        unsigned char c = t[i];
        if ((c == '\n' || c == '\r' || c == 0xC2 || c == 0xE2) &&
            (*blen = ld_break_len(text, i, n)) != 0)
            return i;
    }
    *blen = 0;
    return n;
}

const char *ld_source_line(const ld_source *s, uint32_t line, size_t *len)
{
    size_t blen, k = line ? (line - 1) / LD_LINE_STRIDE : 0;
    if (line == 0 || line > s->nlines || k >= s->nindex)
        return NULL;
    size_t p = s->index[k];
    for (uint32_t skip = (line - 1) % LD_LINE_STRIDE; skip > 0; skip--) {
        p = ld_line_end(s->text, p, s->len, &blen) + blen;
        if (blen == 0)
            return NULL;
    }
    *len = ld_line_end(s->text, p, s->len, &blen) - p;
    return s->text + p;
}

/* Index entry of the last stored line start at or before `offset` (binary search). */
static size_t index_before(const ld_source *s, size_t offset)
{
    size_t lo = 0, hi = s->nindex;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->index[mid] <= offset)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

void ld_source_position(const ld_source *s, size_t offset, uint32_t *line, uint32_t *col)
{
    if (offset > s->len)
        offset = s->len;
    size_t k = s->nindex ? index_before(s, offset) : 0;
    size_t start = s->nindex ? s->index[k] : 0;
    uint32_t ln = (uint32_t)(k * LD_LINE_STRIDE + 1), c = 1;
    for (size_t i = start; i < offset;) {
        size_t blen = ld_break_len(s->text, i, s->len);
        if (blen && i + blen <= offset) {
            ln++;
            start = i += blen;
        } else {
            i++;
        }
    }
    for (size_t i = start; i < offset; i++)
        c += ((unsigned char)s->text[i] & 0xC0) != 0x80;
    *line = ln;
    *col = c;
}
