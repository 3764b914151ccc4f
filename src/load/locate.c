/* Positions inside a scalar: libyaml marks only a scalar's start and end, so an error inside a
 * value (an expression, a regex) is placed by re-reading the scalar's source the way libyaml
 * decoded it, counting decoded bytes until the one sought. Never reads outside the source. */
#include "load/load.h"

#include <string.h>

#define NO_POS SIZE_MAX

typedef struct walk {
    const char *s;
    size_t p, end; /* current source byte; end of the scalar's source */
    size_t d;      /* decoded bytes before `p` */
    size_t target; /* the decoded byte sought */
} walk;

static size_t skip_blanks(const walk *w, size_t p)
{
    while (p < w->end && (w->s[p] == ' ' || w->s[p] == '\t'))
        p++;
    return p;
}

/* Decoded bytes of a folded line break: LF, CR, CRLF and NEL become "\n", LS and PS stay. */
static size_t break_out(size_t blen) { return blen == 3 ? 3 : 1; }

/* Line breaks (with the blanks around them) from `q`: their count and decoded bytes. */
static size_t count_breaks(const walk *w, size_t q, size_t *kept, size_t *breaks)
{
    size_t blen;
    *kept = *breaks = 0;
    for (; (blen = ld_break_len(w->s, (q = skip_blanks(w, q)), w->end)) != 0; q += blen) {
        *kept += break_out(blen);
        (*breaks)++;
    }
    return q;
}

/* Blanks and line breaks from `p` as libyaml folds them in a flow scalar: blanks before a
 * break vanish, one break becomes a space, n breaks become n-1 newlines. Returns the end;
 * *out the decoded bytes; *at the source byte they map to, NO_POS when the blanks are kept
 * verbatim (no break follows them). */
static size_t fold(const walk *w, size_t p, size_t *out, size_t *at)
{
    size_t kept, breaks, q = skip_blanks(w, p), first = ld_break_len(w->s, q, w->end);
    if (!first) {
        *out = q - p;
        *at = NO_POS;
        return q;
    }
    *at = q;
    q = count_breaks(w, q + first, &kept, &breaks);
    if (first == 3) /* LS and PS are never folded into a space */
        *out = 3 + kept;
    else
        *out = breaks ? kept : 1;
    return q;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Source length of the escape at s[p] ('\\'), 0 if malformed; *out its decoded bytes. */
static size_t escape_len(const walk *w, size_t p, size_t *out)
{
    if (p + 1 >= w->end)
        return 0;
    char e = w->s[p + 1];
    size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
    if (!digits) {
        *out = e == 'N' || e == '_' ? 2 : e == 'L' || e == 'P' ? 3 : 1;
        return 2;
    }
    if (w->end - (p + 2) < digits)
        return 0;
    unsigned long cp = 0;
    for (size_t k = 0; k < digits; k++) {
        int v = hex_value(w->s[p + 2 + k]);
        if (v < 0)
            return 0;
        cp = cp << 4 | (unsigned long)v;
    }
    *out = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    return 2 + digits;
}

/* Plain, single- and double-quoted scalars (`quote` is 0, '\'' or '"'). */
static size_t walk_flow(walk *w, char quote)
{
    while (w->p < w->end) {
        size_t p = w->p, src = 1, out = 1, at = p;
        char c = w->s[p];
        if (quote && c == quote && !(quote == '\'' && p + 1 < w->end && w->s[p + 1] == '\''))
            break;
        if (quote == '\'' && c == '\'') {
            src = 2;
        } else if (quote == '"' && c == '\\' && ld_break_len(w->s, p + 1, w->end)) {
            size_t breaks, after = p + 1 + ld_break_len(w->s, p + 1, w->end);
            src = count_breaks(w, after, &out, &breaks) - p; /* an escaped break joins lines */
        } else if (quote == '"' && c == '\\') {
            if ((src = escape_len(w, p, &out)) == 0)
                return NO_POS;
        } else if (c == ' ' || c == '\t' || ld_break_len(w->s, p, w->end)) {
            src = fold(w, p, &out, &at) - p;
            at = at == NO_POS ? p + (w->target - w->d) : at;
        }
        if (w->target < w->d + out)
            return at;
        w->d += out;
        w->p += src;
    }
    return NO_POS;
}

/* Indentation of a block scalar's content: the first line holding more than spaces, compared
 * with the decoded text, where its extra indentation (if any) is kept. */
static size_t block_indent(const walk *w, const rb_node *n, size_t p)
{
    size_t blen, d = 0, kept = 0;
    while (p < w->end) {
        size_t eol = ld_line_end(w->s, p, w->end, &blen), k = 0;
        while (p + k < eol && w->s[p + k] == ' ')
            k++;
        if (p + k < eol)
            break;
        p = eol + blen;
    }
    while (d < n->len && n->str[d] == '\n')
        d++;
    while (d + kept < n->len && n->str[d + kept] == ' ')
        kept++;
    size_t k = 0;
    while (p + k < w->end && w->s[p + k] == ' ')
        k++;
    return k >= kept ? k - kept : NO_POS;
}

/* Literal and folded scalars: each source line, less the indentation, is a run of the decoded
 * text, and consecutive lines are joined by one "\n" or " " (or nothing: an empty line in a
 * folded scalar only turns the join before it into "\n"). */
static size_t walk_block(walk *w, const rb_node *n)
{
    size_t blen, q = ld_line_end(w->s, w->p, w->end, &blen) + blen; /* past the | or > line */
    size_t indent = block_indent(w, n, q), d = 0;
    if (indent == NO_POS || !blen)
        return NO_POS;
    while (q < w->end && d < n->len) {
        size_t eol = ld_line_end(w->s, q, w->end, &blen), sp = 0;
        while (sp < indent && q + sp < eol && w->s[q + sp] == ' ')
            sp++;
        size_t c0 = q + sp, len = eol - c0;
        if (len > n->len - d || memcmp(n->str + d, w->s + c0, len) != 0)
            return NO_POS;
        if (w->target < d + len)
            return c0 + (w->target - d);
        d += len;
        if (d < n->len && (n->str[d] == '\n' || n->str[d] == ' ')) {
            if (w->target == d)
                return eol;
            d++;
        }
        if (!blen)
            break;
        q = eol + blen;
    }
    return NO_POS;
}

/* The source byte of decoded byte `voff` (< n->len), or NO_POS. */
static size_t source_byte(const ld_source *s, const rb_node *n, size_t voff)
{
    walk w = {s->text, n->offset, n->end_offset, 0, voff};
    if (w.end > s->len || w.p >= w.end)
        return NO_POS;
    switch (n->style) {
    case RB_STYLE_PLAIN:
        return walk_flow(&w, 0);
    case RB_STYLE_SINGLE:
    case RB_STYLE_DOUBLE:
        w.p++;
        return walk_flow(&w, n->style == RB_STYLE_SINGLE ? '\'' : '"');
    default:
        w.end = s->len; /* a block scalar's end mark may stop short of its last line */
        return walk_block(&w, n);
    }
}

/* Line and column of byte `p` >= n->offset, counted from the node's own position. */
static void position_from(const ld_source *s, const rb_node *n, size_t p, uint32_t *line,
                          uint32_t *col)
{
    uint32_t ln = n->line, c = n->col;
    for (size_t i = n->offset; i < p;) {
        size_t blen = ld_break_len(s->text, i, s->len);
        if (blen) {
            ln++;
            c = 1;
            i += blen;
        } else {
            c += ((unsigned char)s->text[i] & 0xC0) != 0x80;
            i++;
        }
    }
    *line = ln;
    *col = c;
}

int ld_locate(const ld_source *s, const rb_node *n, size_t voff, uint32_t *line, uint32_t *col)
{
    size_t p = NO_POS;
    *line = n->line;
    *col = n->col;
    if (n->kind != RB_NODE_SCALAR || !s || !s->text || voff > n->len || n->len == 0)
        return 0;
    if (voff < n->len) {
        p = source_byte(s, n, voff);
    } else if ((p = source_byte(s, n, voff - 1)) != NO_POS && !ld_break_len(s->text, p, s->len)) {
        p++; /* just past the last byte: the end of the value */
    }
    if (p == NO_POS || p < n->offset || p > s->len)
        return 0;
    position_from(s, n, p, line, col);
    return 1;
}
