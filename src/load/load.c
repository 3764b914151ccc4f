/* The loader: libyaml events -> a tree of located nodes in an arena. Everything in the file is
 * treated as hostile: limits are checked as events arrive, so a bad file stops early, and every
 * refusal names the line and column where the problem starts. */
#include "load/load.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define MAX_ERRORS 100 /* a file full of mistakes gets this many, then a note */
#define TAG_QUOTE_MAX 60 /* longest plain value shown quoted in the "tags" message */

typedef struct frame {
    rb_node *node;
    size_t base; /* slot of the collection's first child in the loader's stack */
    int flow;    /* [..] or {..}: the node ends at its closing bracket */
} frame;

typedef struct dup_key {
    const rb_node *key, *first;
} dup_key;

typedef struct hashed_key {
    uint64_t hash; /* sorting on it first spares most string comparisons */
    const rb_node *key;
} hashed_key;

typedef struct loader {
    rb_doc *doc;
    rb_diags *d;
    yaml_parser_t parser;
    size_t cur_char, cur_byte; /* libyaml counts characters: a cursor turns them into bytes */
    frame frames[RB_LOAD_MAX_DEPTH];
    int depth;
    rb_node **stack; /* children of every open collection, the innermost last */
    size_t top, cap;
    hashed_key *keys; /* scratch for duplicate detection: one map's keys, sorted */
    dup_key *dups;
    size_t keys_cap;
    size_t nodes, errors;
    int docs;
    int stop; /* set by a fatal error: no more events are read */
} loader;

/* ---- reporting ---- */

static void file_error(rb_diags *d, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An error about the whole file (line 0), before or without a document. */
static void file_error(rb_diags *d, const char *name, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (d)
        rb_diag_add(d, RB_SEV_ERROR, NULL, name, 0, 0, NULL, 0, "%s", msg);
}

static void report(loader *ld, uint32_t line, uint32_t col, int fatal, const char *hint,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* At the end of a file without a final line break, libyaml puts its mark on a line after the
 * last one; errors and empty nodes there are shown at the end of the last line instead. */
static void clamp_to_text(const ld_source *s, uint32_t *line, uint32_t *col)
{
    size_t len;
    const char *text = s->nlines && *line > s->nlines ? ld_source_line(s, s->nlines, &len) : NULL;
    if (!text)
        return;
    *line = s->nlines;
    *col = 1;
    for (size_t i = 0; i < len; i++)
        *col += ((unsigned char)text[i] & 0xC0) != 0x80;
}

/* Appends an error with its source line; a fatal one stops the event loop. */
static void report(loader *ld, uint32_t line, uint32_t col, int fatal, const char *hint,
                   const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    clamp_to_text(&ld->doc->src, &line, &col);
    ld_diag_at(ld->d, &ld->doc->src, ld->doc->name, RB_SEV_ERROR, NULL, line, col, SIZE_MAX, msg);
    if (hint && ld->d)
        rb_diag_hint(ld->d, "%s", hint);
    ld->stop |= fatal;
    if (++ld->errors == MAX_ERRORS && !ld->stop) {
        ld_diag_at(ld->d, NULL, ld->doc->name, RB_SEV_NOTE, NULL, 0, 0, SIZE_MAX,
                   "too many errors; stopped loading");
        ld->stop = 1;
    }
}

static void out_of_memory(loader *ld) { report(ld, 0, 0, 1, NULL, "out of memory"); }

/* ---- positions ---- */

/* Moves the cursor forward to character `index`; the text is valid UTF-8, so a lead byte tells
 * the length of its character, and runs of ASCII are skipped eight bytes at a time. */
static void cursor_forward(loader *ld, const unsigned char *t, size_t len, size_t index)
{
    while (ld->cur_char < index && ld->cur_byte < len) {
        uint64_t w;
        if (index - ld->cur_char >= 8 && len - ld->cur_byte >= 8) {
            memcpy(&w, t + ld->cur_byte, 8);
            if (!(w & 0x8080808080808080u)) {
                ld->cur_byte += 8;
                ld->cur_char += 8;
                continue;
            }
        }
        unsigned char c = t[ld->cur_byte];
        ld->cur_byte += c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        ld->cur_char++;
    }
    if (ld->cur_byte > len)
        ld->cur_byte = len;
}

static void cursor_back(loader *ld, const unsigned char *t, size_t index)
{
    while (ld->cur_char > index && ld->cur_byte > 0) {
        ld->cur_byte--;
        while (ld->cur_byte > 0 && (t[ld->cur_byte] & 0xC0) == 0x80)
            ld->cur_byte--;
        ld->cur_char--;
    }
}

/* Byte offset of a libyaml mark. Marks count characters; events arrive roughly in source
 * order, so a cursor moved from the previous mark keeps the conversion linear overall. */
static uint32_t mark_offset(loader *ld, const yaml_mark_t *m)
{
    const ld_source *s = &ld->doc->src;
    const unsigned char *t = (const unsigned char *)s->text;
    if (s->ascii)
        return (uint32_t)(m->index < s->len ? m->index : s->len);
    if (ld->cur_char < m->index)
        cursor_forward(ld, t, s->len, m->index);
    else
        cursor_back(ld, t, m->index);
    return (uint32_t)ld->cur_byte;
}

static rb_node *node_new(loader *ld, rb_node_kind kind, const yaml_event_t *ev)
{
    if (ld->nodes >= RB_LOAD_MAX_NODES) {
        report(ld, (uint32_t)ev->start_mark.line + 1, (uint32_t)ev->start_mark.column + 1, 1,
               "split the runbook into smaller files", "more than %d nodes", RB_LOAD_MAX_NODES);
        return NULL;
    }
    rb_node *n = rb_arena_alloc(&ld->doc->arena, sizeof *n);
    if (!n) {
        out_of_memory(ld);
        return NULL;
    }
    ld->nodes++;
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->line = (uint32_t)ev->start_mark.line + 1;
    n->col = (uint32_t)ev->start_mark.column + 1;
    if (n->line > ld->doc->src.nlines)
        clamp_to_text(&ld->doc->src, &n->line, &n->col);
    n->offset = mark_offset(ld, &ev->start_mark);
    n->end_offset = mark_offset(ld, &ev->end_mark);
    return n;
}

/* ---- refusals ---- */

static void refuse_tag(loader *ld, const rb_node *n)
{
    const char *src = ld->doc->src.text + n->offset;
    size_t len = n->end_offset > n->offset ? n->end_offset - n->offset : 0, tag = 0, blen;
    int one_line = ld_line_end(src, 0, len, &blen) == len;
    int standard = len > 1 && src[1] == '!'; /* !!str: a real YAML tag, not a typo'd value */
    if (n->kind == RB_NODE_SCALAR && n->style == RB_STYLE_PLAIN && one_line && !standard &&
        len <= TAG_QUOTE_MAX) {
        char q[TAG_QUOTE_MAX * 2 + 32];
        ld_quote(q, sizeof q, src, len, TAG_QUOTE_MAX * 2);
        report(ld, n->line, n->col, 0, NULL,
               "tags are not supported: quote the value (a leading ! is a YAML tag; "
               "write the expression as %s)", q);
        return;
    }
    while (tag < len && tag < 40 && src[tag] != ' ' && src[tag] != '\t' &&
           !ld_break_len(src, tag, len))
        tag++;
    report(ld, n->line, n->col, 0, NULL,
           "tags are not supported: quote the value or remove the tag %.*s (a leading ! is a "
           "YAML tag)", (int)tag, src);
}

/* Anchors are refused at once and fatally, which also stops alias bombs at their first anchor. */
static void refuse_anchor(loader *ld, const yaml_mark_t *m)
{
    report(ld, (uint32_t)m->line + 1, (uint32_t)m->column + 1, 1,
           "a leading & or * is YAML syntax: quote the value if it is text",
           "anchors and aliases are not supported; repeat the value instead");
}

/* Returns 0 when the loader must stop. */
static int check_props(loader *ld, const rb_node *n, const yaml_event_t *ev,
                       const yaml_char_t *anchor, const yaml_char_t *tag)
{
    if (anchor) {
        refuse_anchor(ld, &ev->start_mark);
        return 0;
    }
    if (tag)
        refuse_tag(ld, n);
    return !ld->stop;
}

static void refuse_root(loader *ld, const rb_node *n)
{
    if (n->kind == RB_NODE_SCALAR && n->style == RB_STYLE_PLAIN && n->len == 0) {
        file_error(ld->d, ld->doc->name, "file is empty");
        ld->errors++;
        ld->stop = 1;
        return;
    }
    report(ld, n->line, n->col, 1, "a runbook is a mapping: write key: value pairs at the top",
           "the top level must be a mapping, not %s",
           n->kind == RB_NODE_SEQ ? "a sequence" : rb_node_is_null(n) ? "null" : "a string");
}

/* ---- building ---- */

static int push(loader *ld, rb_node *n)
{
    if (ld->top == ld->cap) {
        size_t cap = ld->cap ? ld->cap * 2 : 256;
        rb_node **stack = realloc(ld->stack, cap * sizeof *stack);
        if (!stack) {
            out_of_memory(ld);
            return -1;
        }
        ld->stack = stack;
        ld->cap = cap;
    }
    ld->stack[ld->top++] = n;
    return 0;
}

/* Whether the next node is a key: inside a map, after an even number of children. */
static int at_key(const loader *ld)
{
    const frame *f = ld->depth ? &ld->frames[ld->depth - 1] : NULL;
    return f && f->node->kind == RB_NODE_MAP && (ld->top - f->base) % 2 == 0;
}

static void check_scalar_key(loader *ld, const rb_node *k)
{
    if (!rb_node_is_null(k))
        return;
    report(ld, k->line, k->col, 0,
           k->len ? "quote it if you mean the text" : "write a name before the ':'",
           "a key must be a string, not null");
}

/* Copies the decoded value; a NUL from a \0 escape is refused: values are C strings. */
static void set_value(loader *ld, rb_node *n, const char *value, size_t len)
{
    n->str = "";
    if (len > RB_LOAD_MAX_SCALAR) {
        report(ld, n->line, n->col, 0, NULL, "scalar longer than 1 MiB (%zu bytes)", len);
        return;
    }
    char *s = rb_arena_strndup(&ld->doc->arena, value, len);
    if (!s) {
        out_of_memory(ld);
        return;
    }
    n->str = s;
    n->len = len;
    const char *nul = n->style == RB_STYLE_DOUBLE ? memchr(s, '\0', len) : NULL;
    if (nul) { /* only an escape can decode to NUL: the source has none */
        uint32_t line, col;
        ld_locate(&ld->doc->src, n, (size_t)(nul - s), &line, &col);
        report(ld, line, col, 0, NULL, "a value cannot contain a NUL character (\\0 escape)");
    }
}

static rb_scalar_style style_of(yaml_scalar_style_t s)
{
    switch (s) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
        return RB_STYLE_SINGLE;
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
        return RB_STYLE_DOUBLE;
    case YAML_LITERAL_SCALAR_STYLE:
        return RB_STYLE_LITERAL;
    case YAML_FOLDED_SCALAR_STYLE:
        return RB_STYLE_FOLDED;
    default:
        return RB_STYLE_PLAIN;
    }
}

static void on_scalar(loader *ld, const yaml_event_t *ev)
{
    rb_node *n = node_new(ld, RB_NODE_SCALAR, ev);
    if (!n)
        return;
    n->style = style_of(ev->data.scalar.style);
    set_value(ld, n, (const char *)ev->data.scalar.value, ev->data.scalar.length);
    if (!check_props(ld, n, ev, ev->data.scalar.anchor, ev->data.scalar.tag) || ld->stop)
        return;
    if (ld->depth == 0) {
        refuse_root(ld, n);
        return;
    }
    if (at_key(ld))
        check_scalar_key(ld, n);
    push(ld, n);
}

static void on_start(loader *ld, const yaml_event_t *ev, rb_node_kind kind, int flow,
                     const yaml_char_t *anchor, const yaml_char_t *tag)
{
    if (ld->depth >= RB_LOAD_MAX_DEPTH) {
        report(ld, (uint32_t)ev->start_mark.line + 1, (uint32_t)ev->start_mark.column + 1, 1,
               NULL, "nesting deeper than %d levels", RB_LOAD_MAX_DEPTH);
        return;
    }
    rb_node *n = node_new(ld, kind, ev);
    if (!n || !check_props(ld, n, ev, anchor, tag))
        return;
    if (ld->depth == 0 && kind != RB_NODE_MAP) {
        refuse_root(ld, n);
        return;
    }
    if (at_key(ld))
        report(ld, n->line, n->col, 0, "write the key as a plain or quoted string",
               "a key must be a string, not a %s", kind == RB_NODE_MAP ? "mapping" : "sequence");
    ld->frames[ld->depth++] = (frame){n, ld->top, flow};
}

/* ---- duplicate keys: sorted at the map's end, so a map of n keys costs n log n ---- */

/* FNV-1a. Colliding keys (even crafted ones) only fall back to comparing bytes: the order and
 * so the cost bound do not depend on the hash being good. */
static uint64_t key_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3u;
    return h;
}

static int key_cmp(const void *a, const void *b)
{
    const hashed_key *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    if (x->key->len != y->key->len)
        return x->key->len < y->key->len ? -1 : 1;
    int c = memcmp(x->key->str, y->key->str, x->key->len);
    if (c)
        return c;
    return x->key->offset < y->key->offset ? -1 : x->key->offset > y->key->offset;
}

static int dup_cmp(const void *a, const void *b)
{
    const dup_key *x = a, *y = b;
    return x->key->offset < y->key->offset ? -1 : x->key->offset > y->key->offset;
}

static int reserve_keys(loader *ld, size_t n)
{
    if (n <= ld->keys_cap)
        return 0;
    size_t cap = n < 64 ? 64 : n;
    free(ld->keys);
    free(ld->dups);
    ld->keys = malloc(cap * sizeof *ld->keys);
    ld->dups = malloc(cap * sizeof *ld->dups);
    ld->keys_cap = ld->keys && ld->dups ? cap : 0;
    return ld->keys_cap ? 0 : -1;
}

/* The map's string keys sorted by value, then by position; returns how many. */
static size_t sorted_keys(loader *ld, const rb_node *map)
{
    size_t k = 0;
    for (size_t i = 0; i < map->count; i++) {
        const rb_node *key = map->items[2 * i];
        if (key->kind == RB_NODE_SCALAR && !rb_node_is_null(key))
            ld->keys[k++] = (hashed_key){key_hash(key->str, key->len), key};
    }
    qsort(ld->keys, k, sizeof *ld->keys, key_cmp);
    return k;
}

static int same_key(const rb_node *a, const rb_node *b)
{
    return a->kind == RB_NODE_SCALAR && b->kind == RB_NODE_SCALAR && a->len == b->len &&
           !rb_node_is_null(a) && memcmp(a->str, b->str, a->len) == 0;
}

/* Most maps are small (a step has a handful of keys): comparing pairs beats hashing and
 * sorting there, and finds duplicates in document order directly. */
#define SMALL_MAP 16

static void check_small_map(loader *ld, const rb_node *map)
{
    for (size_t i = 1; i < map->count && !ld->stop; i++) {
        const rb_node *b = map->items[2 * i];
        for (size_t j = 0; j < i; j++) {
            const rb_node *a = map->items[2 * j];
            if (!same_key(a, b))
                continue;
            char q[96];
            ld_quote(q, sizeof q, b->str, b->len, 48);
            report(ld, b->line, b->col, 0, NULL, "duplicate key %s (first defined at line %u)", q, a->line);
            break;
        }
    }
}

static void check_duplicates(loader *ld, const rb_node *map)
{
    if (map->count <= SMALL_MAP) {
        check_small_map(ld, map);
        return;
    }
    if (reserve_keys(ld, map->count) != 0) {
        out_of_memory(ld);
        return;
    }
    size_t k = sorted_keys(ld, map), ndup = 0, first = 0;
    for (size_t i = 1; i < k; i++) {
        const rb_node *a = ld->keys[first].key, *b = ld->keys[i].key;
        if (ld->keys[first].hash == ld->keys[i].hash && a->len == b->len &&
            memcmp(a->str, b->str, a->len) == 0)
            ld->dups[ndup++] = (dup_key){b, a};
        else
            first = i;
    }
    qsort(ld->dups, ndup, sizeof *ld->dups, dup_cmp); /* report in document order */
    for (size_t i = 0; i < ndup && !ld->stop; i++) {
        char q[96];
        ld_quote(q, sizeof q, ld->dups[i].key->str, ld->dups[i].key->len, 48);
        report(ld, ld->dups[i].key->line, ld->dups[i].key->col, 0, NULL,
               "duplicate key %s (first defined at line %u)", q, ld->dups[i].first->line);
    }
}

static void on_end(loader *ld, const yaml_event_t *ev)
{
    frame *f = &ld->frames[--ld->depth];
    rb_node *n = f->node;
    size_t count = ld->top - f->base;
    if (count) {
        n->items = rb_arena_alloc(&ld->doc->arena, count * sizeof *n->items);
        if (!n->items) {
            out_of_memory(ld);
            return;
        }
        memcpy(n->items, ld->stack + f->base, count * sizeof *n->items);
    }
    n->count = n->kind == RB_NODE_MAP ? count / 2 : count;
    /* a block collection's end event sits at the next token, past comments and blank lines */
    if (f->flow)
        n->end_offset = mark_offset(ld, &ev->end_mark);
    else if (count)
        n->end_offset = ld->stack[ld->top - 1]->end_offset;
    ld->top = f->base;
    if (n->kind == RB_NODE_MAP && n->count > 1)
        check_duplicates(ld, n);
    if (ld->depth == 0)
        ld->doc->root = n;
    else
        push(ld, n);
}

/* ---- the event loop ---- */

static void on_document(loader *ld, const yaml_event_t *ev)
{
    if (ld->docs++ == 0)
        return;
    report(ld, (uint32_t)ev->start_mark.line + 1, (uint32_t)ev->start_mark.column + 1, 1,
           "remove the '---' line, or split the file in two", "only one YAML document per file");
}

static void on_event(loader *ld, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        on_document(ld, ev);
        break;
    case YAML_ALIAS_EVENT:
        refuse_anchor(ld, &ev->start_mark);
        break;
    case YAML_SCALAR_EVENT:
        on_scalar(ld, ev);
        break;
    case YAML_SEQUENCE_START_EVENT:
        on_start(ld, ev, RB_NODE_SEQ, ev->data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE,
                 ev->data.sequence_start.anchor, ev->data.sequence_start.tag);
        break;
    case YAML_MAPPING_START_EVENT:
        on_start(ld, ev, RB_NODE_MAP, ev->data.mapping_start.style == YAML_FLOW_MAPPING_STYLE,
                 ev->data.mapping_start.anchor, ev->data.mapping_start.tag);
        break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        on_end(ld, ev);
        break;
    default:
        break;
    }
}

/* A second line for libyaml's terse syntax errors, from what is at the error position. */
static const char *syntax_hint(loader *ld, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "", *context = p->context ? p->context : "";
    size_t at = mark_offset(ld, &p->problem_mark);
    char c = at < ld->doc->src.len ? ld->doc->src.text[at] : '\0';
    if (c == '\t')
        return "tabs cannot indent YAML: use spaces";
    if (strstr(context, "anchor") || strstr(context, "alias"))
        return "a leading & or * is YAML syntax: quote the value";
    if (strstr(context, "tag"))
        return "a leading ! is a YAML tag: quote the value";
    if (strstr(problem, "mapping values are not allowed"))
        return "a ': ' inside a plain value starts a mapping: quote the value";
    if (strstr(problem, "cannot start any token") && c && strchr("@`%", c))
        return "@, ` and % cannot start a plain value: quote the value";
    if (strstr(problem, "expected <document start>"))
        return "only one YAML document per file: remove what follows the '...' line";
    if (strstr(problem, "could not find expected ':'"))
        return "each line of a mapping is 'key: value'";
    return NULL;
}

static void report_syntax(loader *ld)
{
    const yaml_parser_t *p = &ld->parser;
    const char *problem = p->problem ? p->problem : "syntax error";
    uint32_t line = (uint32_t)p->problem_mark.line + 1, col = (uint32_t)p->problem_mark.column + 1;
    if (p->error == YAML_MEMORY_ERROR) {
        out_of_memory(ld);
    } else if (p->error == YAML_READER_ERROR) { /* the pre-scan should have caught it */
        ld_source_position(&ld->doc->src, p->problem_offset, &line, &col);
        report(ld, line, col, 1, NULL, "%s", problem);
    } else if (!p->context || strcmp(p->context, "while scanning for the next token") == 0) {
        report(ld, line, col, 1, syntax_hint(ld, p), "%s", problem);
    } else if (p->context_mark.line == p->problem_mark.line) {
        report(ld, line, col, 1, syntax_hint(ld, p), "%s %s", problem, p->context);
    } else {
        report(ld, line, col, 1, syntax_hint(ld, p), "%s %s that started at line %u", problem,
               p->context, (uint32_t)p->context_mark.line + 1);
    }
}

static void run_events(loader *ld)
{
    yaml_event_t ev;
    while (!ld->stop) {
        if (!yaml_parser_parse(&ld->parser, &ev)) {
            report_syntax(ld);
            return;
        }
        int end = ev.type == YAML_STREAM_END_EVENT;
        on_event(ld, &ev);
        yaml_event_delete(&ev);
        if (end)
            return;
    }
}

/* Parses the checked source into doc->root. Returns the number of errors. */
static size_t parse(rb_doc *doc, rb_diags *d)
{
    loader ld;
    memset(&ld, 0, sizeof ld);
    ld.doc = doc;
    ld.d = d;
    if (!yaml_parser_initialize(&ld.parser)) {
        file_error(d, doc->name, "out of memory");
        return 1;
    }
    yaml_parser_set_encoding(&ld.parser, YAML_UTF8_ENCODING);
    yaml_parser_set_input_string(&ld.parser, (const unsigned char *)doc->src.text, doc->src.len);
    run_events(&ld);
    if (!ld.errors && !doc->root) {
        file_error(d, doc->name, "file is empty");
        ld.errors++;
    }
    yaml_parser_delete(&ld.parser);
    free(ld.stack);
    free(ld.keys);
    free(ld.dups);
    return ld.errors;
}

/* ---- entry points ---- */

/* The pre-scan's error, with the source line cut before the bad byte (what follows may not be
 * UTF-8, and diagnostics must stay valid text). */
static void report_scan(rb_doc *doc, rb_diags *d, const ld_scan_error *err)
{
    uint32_t line, col;
    if (err->offset == SIZE_MAX) {
        file_error(d, doc->name, "%s", err->message);
        return;
    }
    ld_source_position(&doc->src, err->offset, &line, &col);
    ld_diag_at(d, &doc->src, doc->name, RB_SEV_ERROR, NULL, line, col, err->offset, err->message);
    if (err->hint && d)
        rb_diag_hint(d, "%s", err->hint);
}

/* Takes ownership of `base` (malloc'ed, `len` bytes). */
static rb_doc *load_owned(const char *name, char *base, size_t len, rb_diags *d)
{
    rb_doc *doc = calloc(1, sizeof *doc);
    if (!doc || (name && !(doc->name = strdup(name)))) {
        free(doc);
        free(base);
        file_error(d, name, "out of memory");
        return NULL;
    }
    doc->base = base;
    rb_arena_init(&doc->arena, 64u << 10); /* documents are big: start with 64 KiB blocks */
    const char *text = base;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) { /* offsets count from after it */
        text += 3;
        len -= 3;
    }
    ld_scan_error err;
    size_t errors = 1;
    if (ld_source_scan(&doc->src, text, len, &err) != 0)
        report_scan(doc, d, &err);
    else if (len == 0)
        file_error(d, name, "file is empty");
    else
        errors = parse(doc, d);
    if (errors) {
        rb_doc_free(doc);
        return NULL;
    }
    return doc;
}

rb_doc *rb_load_buffer(const char *name, const char *buf, size_t len, rb_diags *d)
{
    if (len > RB_LOAD_MAX_BYTES) {
        file_error(d, name, "file larger than 16 MiB (%zu bytes)", len);
        return NULL;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        file_error(d, name, "out of memory");
        return NULL;
    }
    if (len)
        memcpy(copy, buf, len);
    copy[len] = '\0';
    return load_owned(name, copy, len, d);
}

/* Reads at most RB_LOAD_MAX_BYTES + 1 bytes, so an endless or growing file stays bounded. */
static char *read_bounded(int fd, size_t cap, size_t *len)
{
    char *buf = malloc(cap);
    size_t n = 0;
    while (buf) {
        if (n == cap) {
            if (cap > RB_LOAD_MAX_BYTES)
                break;
            cap = cap * 2 > RB_LOAD_MAX_BYTES + 1 ? RB_LOAD_MAX_BYTES + 1 : cap * 2;
            char *grown = realloc(buf, cap);
            if (!grown) {
                free(buf);
                return NULL;
            }
            buf = grown;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r < 0)
                n = SIZE_MAX;
            break;
        }
        n += (size_t)r;
    }
    *len = n;
    return buf;
}

/* Opens `path` unless it is a directory or its size is over the limit (checked before reading
 * anything); -1 with an error appended otherwise. */
static int open_bounded(const char *path, struct stat *st, rb_diags *d)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, st) != 0)
        file_error(d, path, "cannot open: %s", strerror(errno));
    else if (S_ISDIR(st->st_mode))
        file_error(d, path, "cannot read: is a directory");
    else if (S_ISREG(st->st_mode) && st->st_size > (off_t)RB_LOAD_MAX_BYTES)
        file_error(d, path, "file larger than 16 MiB (%lld bytes)", (long long)st->st_size);
    else
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

/* Reads `path` whole; NULL with an error appended when it cannot or is too large. */
static char *read_file(const char *path, size_t *len, rb_diags *d)
{
    struct stat st;
    int fd = open_bounded(path, &st, d);
    if (fd < 0)
        return NULL;
    /* a pipe or device has no size: read it in growing chunks, still bounded */
    char *buf = read_bounded(fd, S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536, len);
    int saved = errno;
    close(fd);
    if (buf && *len <= RB_LOAD_MAX_BYTES)
        return buf;
    if (!buf)
        file_error(d, path, "out of memory");
    else if (*len == SIZE_MAX)
        file_error(d, path, "cannot read: %s", strerror(saved));
    else
        file_error(d, path, "file larger than 16 MiB");
    free(buf);
    return NULL;
}

rb_doc *rb_load_file(const char *path, rb_diags *d)
{
    size_t len = 0;
    char *buf = path ? read_file(path, &len, d) : NULL;
    if (!path)
        file_error(d, NULL, "cannot open: no path");
    return buf ? load_owned(path, buf, len, d) : NULL;
}
