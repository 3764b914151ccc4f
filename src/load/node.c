/* Reading a loaded document: accessors, map lookup, the null test, and located diagnostics. */
#include "load/load.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rb_doc_free(rb_doc *doc)
{
    if (!doc)
        return;
    rb_arena_cleanup(&doc->arena);
    ld_source_cleanup(&doc->src);
    free(doc->base);
    free(doc->name);
    free(doc);
}

const rb_node *rb_doc_root(const rb_doc *doc) { return doc ? doc->root : NULL; }

const char *rb_doc_name(const rb_doc *doc) { return doc ? doc->name : NULL; }

const char *rb_doc_source(const rb_doc *doc, size_t *len)
{
    if (len)
        *len = doc ? doc->src.len : 0;
    return doc ? doc->src.text : NULL;
}

const char *rb_doc_line(const rb_doc *doc, uint32_t line, size_t *len)
{
    size_t n = 0;
    const char *s = doc ? ld_source_line(&doc->src, line, &n) : NULL;
    if (len)
        *len = s ? n : 0;
    return s;
}

void rb_node_locate(const rb_doc *doc, const rb_node *scalar, size_t value_offset, uint32_t *line,
                    uint32_t *col)
{
    uint32_t l = 0, c = 0;
    if (scalar && doc)
        ld_locate(&doc->src, scalar, value_offset, &l, &c);
    else if (scalar)
        l = scalar->line, c = scalar->col;
    if (line)
        *line = l;
    if (col)
        *col = c;
}

const rb_node *rb_map_get(const rb_node *map, const char *key)
{
    if (!map || map->kind != RB_NODE_MAP || !key)
        return NULL;
    size_t len = strlen(key);
    for (size_t i = 0; i < map->count; i++) {
        const rb_node *k = map->items[2 * i];
        if (k->kind == RB_NODE_SCALAR && k->len == len && memcmp(k->str, key, len) == 0)
            return map->items[2 * i + 1];
    }
    return NULL;
}

int rb_node_is_null(const rb_node *n)
{
    if (!n || n->kind != RB_NODE_SCALAR || n->style != RB_STYLE_PLAIN)
        return 0;
    if (n->len == 0 || (n->len == 1 && n->str[0] == '~'))
        return 1;
    return n->len == 4 && (memcmp(n->str, "null", 4) == 0 || memcmp(n->str, "Null", 4) == 0 ||
                           memcmp(n->str, "NULL", 4) == 0);
}

void rb_diag_node(rb_diags *d, const rb_doc *doc, const rb_node *node, size_t value_offset,
                  rb_severity sev, const char *rule, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    uint32_t line = node ? node->line : 0, col = node ? node->col : 0;
    if (node && doc && value_offset != RB_NO_OFFSET)
        ld_locate(&doc->src, node, value_offset, &line, &col);
    ld_diag_at(d, doc ? &doc->src : NULL, doc ? doc->name : NULL, sev, rule, line, col, SIZE_MAX,
               msg);
}

/* Bytes of the UTF-8 character led by `c` (1 for a stray byte, so a walk always advances). */
static size_t char_len(unsigned char c) { return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1; }

/* Cuts `len` to at most `max` bytes without splitting a character: diagnostics end up in JSON,
 * which refuses broken UTF-8. */
static size_t cut_utf8(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    len = max;
    while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
        len--;
    return len;
}

void ld_diag_at(rb_diags *d, const ld_source *src, const char *file, rb_severity sev,
                const char *rule, uint32_t line, uint32_t col, size_t stop, const char *msg)
{
    size_t len = 0;
    const char *text = src && line ? ld_source_line(src, line, &len) : NULL;
    if (!d)
        return;
    if (text && stop != SIZE_MAX) {
        size_t start = (size_t)(text - src->text);
        if (stop >= start && stop - start < len)
            len = stop - start;
    }
    if (text)
        len = cut_utf8(text, len, RB_DIAG_SOURCE_MAX);
    rb_diag_add(d, sev, rule, file, line, col, text, len, "%s", msg);
}

static size_t quote_byte(char *out, size_t cap, unsigned char c)
{
    if (c == '"' || c == '\\')
        return (size_t)snprintf(out, cap, "\\%c", c);
    if (c == '\n')
        return (size_t)snprintf(out, cap, "\\n");
    if (c == '\t')
        return (size_t)snprintf(out, cap, "\\t");
    return (size_t)snprintf(out, cap, "\\x%02x", c);
}

void ld_quote(char *out, size_t cap, const char *s, size_t n, size_t max)
{
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (o >= max) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c == 0x7F || c == '"' || c == '\\') {
            o += quote_byte(out + o, cap - o, c);
            i++;
            continue;
        }
        size_t k = char_len(c) < n - i ? char_len(c) : n - i;
        memcpy(out + o, s + i, k);
        o += k;
        i += k;
    }
    out[o++] = '"';
    out[o] = '\0';
}
