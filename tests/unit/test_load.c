/* The loader: node positions, every refusal with its exact line:col, positions inside scalars,
 * hostile sizes (each bounded in time), and the tests/bad corpus of one bad file per class. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "load/load.h"
#include "runbook/node.h"

/* ---- helpers ---- */

static rb_diags diags;

static int setup(void **state)
{
    (void)state;
    rb_diags_init(&diags);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rb_diags_cleanup(&diags);
    return 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static rb_doc *load_n(const char *text, size_t len)
{
    rb_diags_cleanup(&diags);
    rb_diags_init(&diags);
    return rb_load_buffer("t.yaml", text, len, &diags);
}

static rb_doc *load(const char *text) { return load_n(text, strlen(text)); }

/* Loads `text` (len bytes), which must fail with its first error at line:col containing `msg`. */
static void refused_n(const char *text, size_t len, uint32_t line, uint32_t col, const char *msg)
{
    rb_doc *doc = load_n(text, len);
    if (doc || diags.count == 0 || diags.items[0].line != line || diags.items[0].col != col ||
        !strstr(diags.items[0].message, msg)) {
        print_error("input: %.*s\nwant %u:%u \"%s\"\n", (int)(len > 200 ? 200 : len), text, line,
                    col, msg);
        if (diags.count)
            print_error("got  %u:%u \"%s\"\n", diags.items[0].line, diags.items[0].col,
                        diags.items[0].message);
        rb_doc_free(doc);
        fail();
    }
    assert_int_equal(diags.items[0].sev, RB_SEV_ERROR);
    assert_true(diags.errors >= 1);
}

static void refused(const char *text, uint32_t line, uint32_t col, const char *msg)
{
    refused_n(text, strlen(text), line, col, msg);
}

static const rb_node *get(const rb_node *map, const char *key)
{
    const rb_node *n = rb_map_get(map, key);
    if (!n)
        fail_msg("no key %s", key);
    return n;
}

static void assert_pos(const rb_node *n, uint32_t line, uint32_t col, uint32_t offset)
{
    if (n->line != line || n->col != col || n->offset != offset)
        fail_msg("node at %u:%u (offset %u), want %u:%u (offset %u)", n->line, n->col, n->offset,
                 line, col, offset);
}

static void assert_locate(const rb_doc *doc, const rb_node *n, size_t off, uint32_t line,
                          uint32_t col)
{
    uint32_t l = 0, c = 0;
    rb_node_locate(doc, n, off, &l, &c);
    if (l != line || c != col)
        fail_msg("byte %zu of \"%s\" at %u:%u, want %u:%u", off, n->str, l, c, line, col);
}

/* Builds `head` + `n` copies of `unit` + `tail` in a malloc'ed buffer. */
static char *repeat(const char *head, const char *unit, size_t n, const char *tail, size_t *len)
{
    size_t h = strlen(head), u = strlen(unit), t = strlen(tail);
    char *s = malloc(h + u * n + t + 1);
    assert_non_null(s);
    memcpy(s, head, h);
    for (size_t i = 0; i < n; i++)
        memcpy(s + h + i * u, unit, u);
    memcpy(s + h + u * n, tail, t + 1);
    *len = h + u * n + t;
    return s;
}

/* ---- positions ---- */

static void test_positions_block(void **state)
{
    (void)state;
    rb_doc *doc = load("name: deploy\n"
                       "steps:\n"
                       "  - id: a\n"
                       "    run: [x, 'y']\n"
                       "  - id: b\n");
    assert_non_null(doc);
    const rb_node *root = rb_doc_root(doc);
    assert_int_equal(root->kind, RB_NODE_MAP);
    assert_int_equal(root->count, 2);
    assert_pos(root, 1, 1, 0);
    assert_pos(root->items[0], 1, 1, 0);
    assert_int_equal(root->items[0]->end_offset, 4);
    const rb_node *name = get(root, "name");
    assert_pos(name, 1, 7, 6);
    assert_int_equal(name->end_offset, 12);
    assert_string_equal(name->str, "deploy");
    assert_int_equal(name->len, 6);
    const rb_node *steps = get(root, "steps");
    assert_int_equal(steps->kind, RB_NODE_SEQ);
    assert_int_equal(steps->count, 2);
    assert_pos(steps, 3, 3, 22);
    const rb_node *a = steps->items[0];
    assert_pos(a, 3, 5, 24);
    const rb_node *run = get(a, "run");
    assert_int_equal(run->kind, RB_NODE_SEQ);
    assert_pos(run, 4, 10, 39);
    assert_int_equal(run->end_offset, 47); /* just past the ] */
    assert_pos(run->items[0], 4, 11, 40);
    assert_pos(run->items[1], 4, 14, 43);
    assert_int_equal(run->items[1]->style, RB_STYLE_SINGLE);
    assert_int_equal(run->items[1]->end_offset, 46);
    /* a block collection ends with its last child, not at the next token */
    assert_int_equal(steps->end_offset, 57);
    assert_int_equal(root->end_offset, 57);
    rb_doc_free(doc);
}

static void test_positions_quoted_and_block_scalars(void **state)
{
    (void)state;
    rb_doc *doc = load("a: \"x y\"\nb: 'p''q'\nc: |\n  lit\nd: >-\n  fold\n  ed\n");
    assert_non_null(doc);
    const rb_node *root = rb_doc_root(doc);
    const rb_node *a = get(root, "a"), *b = get(root, "b"), *c = get(root, "c"),
                  *d = get(root, "d");
    assert_pos(a, 1, 4, 3); /* the quote */
    assert_int_equal(a->end_offset, 8);
    assert_int_equal(a->style, RB_STYLE_DOUBLE);
    assert_pos(b, 2, 4, 12);
    assert_string_equal(b->str, "p'q");
    assert_pos(c, 3, 4, 22);
    assert_int_equal(c->style, RB_STYLE_LITERAL);
    assert_string_equal(c->str, "lit\n");
    assert_int_equal(d->style, RB_STYLE_FOLDED);
    assert_string_equal(d->str, "fold ed");
    assert_pos(d, 5, 4, 33);
    rb_doc_free(doc);
}

static void test_positions_utf8_columns(void **state)
{
    (void)state;
    /* columns count characters, offsets count bytes */
    rb_doc *doc = load("é€: [ü, \"😀\", z]\nnext: 1\n");
    assert_non_null(doc);
    const rb_node *root = rb_doc_root(doc);
    assert_pos(root->items[0], 1, 1, 0);
    assert_int_equal(root->items[0]->end_offset, 5);
    const rb_node *seq = root->items[1];
    assert_pos(seq, 1, 5, 7);
    assert_pos(seq->items[0], 1, 6, 8);
    assert_pos(seq->items[1], 1, 9, 12);
    assert_int_equal(seq->items[1]->end_offset, 18);
    assert_pos(seq->items[2], 1, 14, 20);
    assert_pos(get(root, "next"), 2, 7, 29);
    rb_doc_free(doc);
}

static void test_positions_crlf(void **state)
{
    (void)state;
    rb_doc *doc = load("a: 1\r\nb:\r\n  - \"x\r\n    y\"\r\n  - z\r\n");
    assert_non_null(doc);
    const rb_node *root = rb_doc_root(doc);
    const rb_node *b = get(root, "b");
    assert_pos(root->items[2], 2, 1, 6);
    assert_pos(b, 3, 3, 12);
    assert_string_equal(b->items[0]->str, "x y");
    assert_pos(b->items[1], 5, 5, 30);
    size_t len = 0;
    const char *line = rb_doc_line(doc, 4, &len);
    assert_non_null(line);
    assert_int_equal(len, 6);
    assert_memory_equal(line, "    y\"", 6);
    assert_locate(doc, b->items[0], 2, 4, 5); /* the y */
    rb_doc_free(doc);
}

static void test_positions_bom(void **state)
{
    (void)state;
    rb_doc *doc = load("\xEF\xBB\xBF" "a: b\nc: d\n");
    assert_non_null(doc);
    size_t len;
    const char *src = rb_doc_source(doc, &len);
    assert_int_equal(len, 10);
    assert_memory_equal(src, "a: b\n", 5);
    const rb_node *root = rb_doc_root(doc);
    assert_pos(root->items[0], 1, 1, 0);
    assert_pos(get(root, "a"), 1, 4, 3);
    assert_pos(get(root, "c"), 2, 4, 8);
    rb_doc_free(doc);
}

/* libyaml counts NEL, LS and PS as line breaks; the line index must agree with its marks. */
static void test_positions_unicode_line_breaks(void **state)
{
    (void)state;
    rb_doc *doc = load("a: 1\n# x\xE2\x80\xA8" "b: 2\n# y\xC2\x85" "c: 3\n");
    assert_non_null(doc);
    const rb_node *c = get(rb_doc_root(doc), "c");
    assert_pos(c, 5, 4, 24);
    size_t len;
    const char *line = rb_doc_line(doc, 5, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(line, "c: 3", 4);
    rb_doc_free(doc);
}

/* Every scalar's source at [offset, end_offset) holds its text, whatever precedes it. */
static void check_offsets(const rb_doc *doc, const rb_node *n)
{
    size_t len;
    const char *src = rb_doc_source(doc, &len);
    assert_true(n->offset <= n->end_offset && n->end_offset <= len);
    if (n->kind == RB_NODE_SCALAR && n->style == RB_STYLE_PLAIN && !strchr(n->str, '\n') &&
        n->len && !strchr(n->str, ' ')) {
        assert_int_equal(n->end_offset - n->offset, n->len);
        assert_memory_equal(src + n->offset, n->str, n->len);
    }
    size_t items = n->kind == RB_NODE_MAP ? 2 * n->count : n->kind == RB_NODE_SEQ ? n->count : 0;
    for (size_t i = 0; i < items; i++)
        check_offsets(doc, n->items[i]);
}

static void test_offsets_follow_mixed_text(void **state)
{
    (void)state;
    rb_doc *doc = load("ключ: значение\r\nlist:\r\n- \"é\\u00e9\"\r\n- 'a''b'\r\n- |\r\n  été\r\n"
                       "- {k: ü, l: [1, 2]}\r\n- \xF0\x9F\x98\x80x\r\nlast: end\n");
    assert_non_null(doc);
    check_offsets(doc, rb_doc_root(doc));
    const rb_node *last = get(rb_doc_root(doc), "last");
    assert_pos(last, 9, 7, 110);
    rb_doc_free(doc);
}

/* ---- refusals, each with its exact position ---- */

static void test_syntax_errors(void **state)
{
    (void)state;
    refused("a: b: c\n", 1, 5, "mapping values are not allowed");
    refused("a: [1, 2\nb: 3\n", 2, 2, "did not find expected ',' or ']'");
    refused("a: [1, 2\nb: 3\n", 2, 2, "that started at line 1");
    refused("a: \"abc\n", 2, 1, "while scanning a quoted scalar");
    refused("a:\n\t- b\n", 2, 1, "cannot start any token");
    assert_non_null(strstr(diags.items[0].hint, "tabs"));
    refused("a: 1\n  b: 2\n", 2, 4, "mapping values are not allowed");
    refused("a: @x\n", 1, 4, "cannot start any token");
    /* at the end of a file without a final break: the end of the last line, not a line after */
    refused("a: [1, 2", 1, 9, "did not find expected ',' or ']'");
    assert_string_equal(diags.items[0].source_line, "a: [1, 2");
    refused("é: ü: x\n", 1, 5, "mapping values are not allowed"); /* columns in characters */
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    refused("a: 1\nb: 2\na: 3\n", 3, 1, "duplicate key \"a\" (first defined at line 1)");
    refused("timeout: 1\nx: 2\n\"timeout\": 3\n", 3, 1,
            "duplicate key \"timeout\" (first defined at line 1)");
    refused("x:\n  'k': 1\n  y: 2\n  k: 3\n", 4, 3, "duplicate key \"k\" (first defined at line 2)");
    refused("x: {a: 1, \"\\x61\": 2}\n", 1, 11, "duplicate key \"a\"");
    refused("s:\n  - n: 1\n    m: 2\n    n: 3\n", 4, 5, "(first defined at line 2)");
    /* reported in document order, each once */
    rb_doc *doc = load("b: 1\na: 1\nb: 2\na: 2\nb: 3\n");
    assert_null(doc);
    assert_int_equal(diags.count, 3);
    assert_int_equal(diags.items[0].line, 3);
    assert_int_equal(diags.items[1].line, 4);
    assert_int_equal(diags.items[2].line, 5);
    assert_non_null(strstr(diags.items[2].message, "first defined at line 1"));
    /* similar keys are not duplicates */
    doc = load("a: 1\nA: 2\n'a ': 3\nab: 4\n");
    assert_non_null(doc);
    rb_doc_free(doc);
}

static void test_anchors_and_aliases(void **state)
{
    (void)state;
    refused("a: &x 1\nb: 2\n", 1, 4, "anchors and aliases are not supported; repeat the value");
    refused("a: 1\nb: *x\n", 2, 4, "anchors and aliases are not supported");
    refused("a:\n  - &anchor\n    k: v\n", 2, 5, "anchors and aliases are not supported");
    assert_int_equal(diags.count, 1);
}

static void test_tags(void **state)
{
    (void)state;
    refused("when: !ready\n", 1, 7,
            "tags are not supported: quote the value (a leading ! is a YAML tag; write the "
            "expression as \"!ready\")");
    refused("if: !a == b\n", 1, 5, "write the expression as \"!a == b\")");
    refused("x: !t {a: 1}\n", 1, 4, "tags are not supported: quote the value or remove the tag !t");
    refused("x: !!str 5\n", 1, 4, "remove the tag !!str");
    refused("x:\n  - ! 5\n", 2, 5, "tags are not supported");
    refused("x: !t 'q'\n", 1, 4, "tags are not supported");
}

static void test_nesting_limit(void **state)
{
    (void)state;
    size_t len;
    /* the root map is level 1, so 63 brackets make 64 levels: accepted */
    char *ok = repeat("a: ", "[", RB_LOAD_MAX_DEPTH - 1, "", &len);
    char *s = malloc(len + RB_LOAD_MAX_DEPTH);
    memcpy(s, ok, len);
    memset(s + len, ']', RB_LOAD_MAX_DEPTH - 1);
    rb_doc *doc = load_n(s, len + RB_LOAD_MAX_DEPTH - 1);
    assert_non_null(doc);
    rb_doc_free(doc);
    free(s);
    free(ok);
    char *bad = repeat("a: ", "[", RB_LOAD_MAX_DEPTH, "", &len);
    refused_n(bad, len, 1, 3 + RB_LOAD_MAX_DEPTH, "nesting deeper than 64 levels");
    free(bad);
}

static void test_deep_block_nesting(void **state)
{
    (void)state;
    /* level k (root = 1) starts on line k at column 2k-1 */
    char *s = malloc(200000), *p = s;
    for (int i = 0; i < 200; i++)
        p += sprintf(p, "%*sk:\n", 2 * i, "");
    double t0 = now();
    refused_n(s, (size_t)(p - s), 65, 129, "nesting deeper than 64 levels");
    assert_true(now() - t0 < 5);
    /* one line of 100,000 "- " */
    size_t len;
    char *dash = repeat("k:\n", "- ", 100000, "x\n", &len);
    refused_n(dash, len, 2, 1 + 2 * (RB_LOAD_MAX_DEPTH - 1), "nesting deeper");
    free(dash);
    free(s);
}

static void test_bad_utf8(void **state)
{
    (void)state;
    refused_n("a: 1\nb: x\xffy\n", 12, 2, 5, "invalid UTF-8 byte 0xff");
    refused_n("é: ü\xfe", 7, 1, 5, "invalid UTF-8 byte 0xfe");
    refused_n("a: \xc0\xaf\n", 6, 1, 4, "invalid UTF-8 byte 0xc0 (overlong encoding)");
    refused_n("a: \xe0\x80\xaf\n", 7, 1, 4, "overlong encoding");
    refused_n("a: \xf0\x80\x80\xaf\n", 8, 1, 4, "overlong encoding");
    refused_n("a: \xed\xa0\x80\n", 7, 1, 4, "invalid UTF-8 byte 0xed (UTF-16 surrogate)");
    refused_n("a: \xf4\x90\x80\x80\n", 8, 1, 4, "invalid UTF-8 byte 0xf4 (past U+10FFFF)");
    refused_n("a: x\xe2\x82", 6, 1, 5, "invalid UTF-8 byte 0xe2 (incomplete sequence)");
    refused_n("a: x\xe2\x82z\n", 8, 1, 5, "incomplete sequence");
    refused_n("a: \x80\n", 5, 1, 4, "unexpected continuation byte");
    refused_n("# \xe9t\xe9\na: 1\n", 11, 1, 3, "invalid UTF-8 byte 0xe9");
    /* the attached source line stops before the bad byte: diagnostics stay valid UTF-8 */
    refused_n("key: ok\xff tail\n", 14, 1, 8, "0xff");
    assert_string_equal(diags.items[0].source_line, "key: ok");
    /* UTF-16 with its BOM */
    refused_n("\xff\xfe" "a\0:\0", 6, 1, 1, "invalid UTF-8 byte 0xff");
    /* the largest valid characters pass */
    rb_doc *doc = load("a: \xf4\x8f\xbf\xbf \xef\xbf\xbd \xed\x9f\xbf\n");
    assert_non_null(doc);
    rb_doc_free(doc);
}

/* Each refused byte, at each place in an 8-byte window of the pre-scan's fast path. */
static void test_prescan_every_bad_byte(void **state)
{
    (void)state;
    static const unsigned char bad[] = {0x00, 0x01, 0x08, 0x0B, 0x0C, 0x0E, 0x1B, 0x1F,
                                        0x7F, 0x80, 0xBF, 0xC0, 0xC1, 0xF5, 0xFF};
    for (size_t b = 0; b < sizeof bad; b++) {
        for (uint32_t pos = 0; pos < 20; pos++) {
            char text[64];
            memset(text, 'x', sizeof text);
            memcpy(text, "k: ", 3);
            text[3 + pos] = (char)bad[b];
            text[sizeof text - 1] = '\n';
            const char *what = bad[b] == 0 ? "NUL byte" : bad[b] < 0x80 ? "control character"
                                                                        : "invalid UTF-8 byte";
            refused_n(text, sizeof text, 1, 4 + pos, what);
        }
    }
}

static void test_nul_and_control_bytes(void **state)
{
    (void)state;
    refused_n("a: b\0c\n", 7, 1, 5, "NUL byte in input");
    refused_n("a: 1\r\nb: \0", 10, 2, 4, "NUL byte in input");
    refused("a: \x01\n", 1, 4, "control character U+0001 is not allowed");
    refused("a: \x7f\n", 1, 4, "control character U+007F");
    refused("a: \xc2\x80\n", 1, 4, "control character U+0080");
    refused("a: \xef\xbf\xbe\n", 1, 4, "character U+FFFE is not allowed");
    refused("a: \"x\\0y\"\n", 1, 6, "cannot contain a NUL character");
    refused("a: \"xy\\u0000\"\n", 1, 7, "cannot contain a NUL character");
}

static void test_documents_and_top_level(void **state)
{
    (void)state;
    refused("a: 1\n---\nb: 2\n", 2, 1, "only one YAML document per file");
    refused("a: 1\n...\nb: 2\n", 3, 1, "did not find expected <document start>");
    assert_non_null(strstr(diags.items[0].hint, "one YAML document"));
    refused("--- {a: 1}\n--- b\n", 2, 1, "only one YAML document");
    refused("- a\n- b\n", 1, 1, "the top level must be a mapping, not a sequence");
    refused("just text\n", 1, 1, "the top level must be a mapping, not a string");
    refused("~\n", 1, 1, "the top level must be a mapping, not null");
    refused("# a\n\n[1]\n", 3, 1, "the top level must be a mapping");
    rb_doc *doc = load("---\na: 1\n...\n");
    assert_non_null(doc);
    rb_doc_free(doc);
}

static void test_empty_files(void **state)
{
    (void)state;
    refused("", 0, 0, "file is empty");
    refused("# only a comment\n\n", 0, 0, "file is empty");
    refused("\xEF\xBB\xBF", 0, 0, "file is empty");
    refused("---\n", 0, 0, "file is empty");
    refused("   \n\n", 0, 0, "file is empty");
}

static void test_keys_must_be_strings(void **state)
{
    (void)state;
    refused("? [a]\n: 1\n", 1, 3, "a key must be a string, not a sequence");
    refused("{a: 1}: x\n", 1, 1, "a key must be a string, not a mapping");
    refused("x: 1\n~: 2\n", 2, 1, "a key must be a string, not null");
    refused("null: 2\n", 1, 1, "a key must be a string, not null");
    refused("? \n: 1\n", 1, 2, "a key must be a string, not null");
    rb_doc *doc = load("? x"); /* the implicit empty value sits at the end of the last line */
    assert_non_null(doc);
    assert_pos(rb_doc_root(doc)->items[1], 1, 4, 3);
    rb_doc_free(doc);
    /* quoted, they are strings */
    doc = load("'null': 1\n\"~\": 2\n\"\": 3\n");
    assert_non_null(doc);
    assert_int_equal(get(rb_doc_root(doc), "null")->str[0], '1');
    assert_int_equal(get(rb_doc_root(doc), "")->str[0], '3');
    rb_doc_free(doc);
}

static void test_errors_are_collected(void **state)
{
    (void)state;
    rb_doc *doc = load("a: !x\nb: 1\nb: 2\n~: 3\nc: ok\n");
    assert_null(doc);
    assert_int_equal(diags.count, 3);
    assert_int_equal(diags.items[0].line, 1);
    assert_non_null(diags.items[0].source_line);
    assert_string_equal(diags.items[0].source_line, "a: !x");
    assert_string_equal(diags.items[0].file, "t.yaml");
    /* a flood of errors stops at a bound, with a note */
    size_t len;
    char *s = repeat("k: 1\n", "k: 1\n", 5000, "", &len);
    assert_null(load_n(s, len));
    assert_true(diags.count <= 101);
    assert_int_equal(diags.items[diags.count - 1].sev, RB_SEV_NOTE);
    free(s);
}

static void test_size_limits(void **state)
{
    (void)state;
    size_t len;
    /* 20 MiB: refused by size before any parsing */
    char *big = repeat("a: ", "x", 20u << 20, "\n", &len);
    double t0 = now();
    refused_n(big, len, 0, 0, "file larger than 16 MiB");
    assert_true(now() - t0 < 1);
    free(big);
    /* one scalar of 1 MiB + 1 byte */
    char *s = repeat("a: ", "y", RB_LOAD_MAX_SCALAR + 1, "\nb: 1\n", &len);
    refused_n(s, len, 1, 4, "scalar longer than 1 MiB");
    free(s);
    /* exactly 1 MiB is fine, and so is a 1 MiB line */
    s = repeat("a: ", "y", RB_LOAD_MAX_SCALAR, "\n", &len);
    rb_doc *doc = load_n(s, len);
    assert_non_null(doc);
    assert_int_equal(get(rb_doc_root(doc), "a")->len, RB_LOAD_MAX_SCALAR);
    rb_doc_free(doc);
    free(s);
}

static void test_long_line_of_items(void **state)
{
    (void)state;
    /* a 1.2 MiB line of 200,000 non-ASCII items: the character-to-byte cursor stays linear */
    size_t len;
    char *s = repeat("a: [", "é, ", 200000, "z]\n", &len);
    double t0 = now();
    rb_doc *doc = load_n(s, len);
    double dt = now() - t0;
    assert_non_null(doc);
    const rb_node *a = get(rb_doc_root(doc), "a");
    assert_int_equal(a->count, 200001);
    assert_pos(a->items[199999], 1, 5 + 3 * 199999, 4 + 4 * 199999);
    assert_pos(a->items[200000], 1, 5 + 3 * 200000, 4 + 4 * 200000);
    assert_true(dt < 20);
    rb_doc_free(doc);
    free(s);
}

static void test_node_limit(void **state)
{
    (void)state;
    size_t len;
    char *s = repeat("a: [", "1,", RB_LOAD_MAX_NODES, "1]\n", &len);
    refused_n(s, len, 1, 5 + 2 * (RB_LOAD_MAX_NODES - 3), "more than 2000000 nodes");
    free(s);
}

static void test_many_keys(void **state)
{
    (void)state;
    enum { KEYS = 200000 };
    char *s = malloc(KEYS * 24), *p = s;
    for (int i = 0; i < KEYS; i++)
        p += sprintf(p, "key%d: %d\n", i, i);
    double t0 = now();
    rb_doc *doc = load_n(s, (size_t)(p - s));
    double dt = now() - t0;
    assert_non_null(doc);
    assert_int_equal(rb_doc_root(doc)->count, KEYS);
    assert_string_equal(get(rb_doc_root(doc), "key199999")->str, "199999");
    assert_true(dt < 20);
    rb_doc_free(doc);
    /* the same map with one duplicate at the very end */
    p += sprintf(p, "key7: again\n");
    refused_n(s, (size_t)(p - s), KEYS + 1, 1, "duplicate key \"key7\" (first defined at line 8)");
    free(s);
}

static void test_million_brackets(void **state)
{
    (void)state;
    size_t len;
    char *s = repeat("a: ", "[", 1000000, "", &len);
    double t0 = now();
    refused_n(s, len, 1, 3 + RB_LOAD_MAX_DEPTH, "nesting deeper than 64 levels");
    assert_true(now() - t0 < 2);
    free(s);
    s = repeat("a: ", "{a: ", 1000000, "", &len); /* the k-th { opens at column 4k */
    t0 = now();
    refused_n(s, len, 1, 4 * (RB_LOAD_MAX_DEPTH - 1) + 4, "nesting deeper than 64 levels");
    assert_true(now() - t0 < 2);
    free(s);
    s = repeat("", "[", 1000000, "", &len); /* even as the top level */
    refused_n(s, len, 1, 1, "the top level must be a mapping");
    free(s);
}

static void test_alias_bomb(void **state)
{
    (void)state;
    const char *bomb = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
                       "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                       "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                       "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                       "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                       "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                       "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
                       "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
                       "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
    refused(bomb, 1, 4, "anchors and aliases are not supported");
    assert_int_equal(diags.count, 1);
}

/* A 10,000-step runbook: loads, and its tree stays far below 64 MiB. */
static void test_ten_thousand_steps(void **state)
{
    (void)state;
    char *s = malloc(10000 * 200 + 64), *p = s;
    p += sprintf(p, "name: big\nsteps:\n");
    for (int i = 0; i < 10000; i++)
        p += sprintf(p,
                     "  - id: s%d\n    run: echo %d\n    needs: [s%d]\n    timeout: 30s\n"
                     "    when: \"${{ steps.s%d.ok }}\"\n",
                     i, i, i ? i - 1 : 0, i ? i - 1 : 0);
    rb_doc *doc = load_n(s, (size_t)(p - s));
    assert_non_null(doc);
    assert_int_equal(get(rb_doc_root(doc), "steps")->count, 10000);
    assert_true(doc->arena.total < (16u << 20));
    rb_doc_free(doc);
    free(s);
}

/* ---- files ---- */

static char *temp_file(const char *text, size_t len)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/rb-load-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

static void test_load_file(void **state)
{
    (void)state;
    char *path = temp_file("a: 1\nb: [x]\n", 12);
    rb_doc *doc = rb_load_file(path, &diags);
    assert_non_null(doc);
    assert_string_equal(rb_doc_name(doc), path);
    assert_string_equal(get(rb_doc_root(doc), "a")->str, "1");
    rb_doc_free(doc);
    /* a file over the limit is refused from its size, without reading it */
    int fd = open(path, O_WRONLY);
    assert_int_equal(ftruncate(fd, (off_t)RB_LOAD_MAX_BYTES + 1), 0);
    close(fd);
    assert_null(rb_load_file(path, &diags));
    assert_non_null(strstr(diags.items[diags.count - 1].message, "file larger than 16 MiB"));
    assert_int_equal(diags.items[diags.count - 1].line, 0);
    unlink(path);
    assert_null(rb_load_file(path, &diags));
    assert_non_null(strstr(diags.items[diags.count - 1].message, "cannot open"));
    assert_string_equal(diags.items[diags.count - 1].file, path);
    assert_null(rb_load_file("/tmp", &diags));
    assert_non_null(strstr(diags.items[diags.count - 1].message, "directory"));
}

static void test_load_endless_file(void **state)
{
    (void)state;
    if (access("/dev/zero", R_OK) != 0)
        skip();
    double t0 = now();
    assert_null(rb_load_file("/dev/zero", &diags)); /* not regular: read with a bound */
    assert_non_null(strstr(diags.items[diags.count - 1].message, "file larger than 16 MiB"));
    assert_true(now() - t0 < 5);
}

/* ---- positions inside scalars ---- */

static void test_locate_plain(void **state)
{
    (void)state;
    rb_doc *doc = load("k: abc def\nm: one two\n  three\n\n  four\n");
    assert_non_null(doc);
    const rb_node *k = get(rb_doc_root(doc), "k"), *m = get(rb_doc_root(doc), "m");
    assert_locate(doc, k, 0, 1, 4);
    assert_locate(doc, k, 4, 1, 8);
    assert_locate(doc, k, 7, 1, 11); /* the end of the value */
    assert_string_equal(m->str, "one two three\nfour");
    assert_locate(doc, m, 4, 2, 8);
    assert_locate(doc, m, 8, 3, 3);  /* "three" */
    assert_locate(doc, m, 14, 5, 3); /* "four" */
    assert_locate(doc, m, 7, 2, 11); /* the folded break maps to the line end */
    rb_doc_free(doc);
}

static void test_locate_single_quoted(void **state)
{
    (void)state;
    rb_doc *doc = load("k: 'it''s x'\nm: 'a\n   b'\n");
    assert_non_null(doc);
    const rb_node *k = get(rb_doc_root(doc), "k"), *m = get(rb_doc_root(doc), "m");
    assert_string_equal(k->str, "it's x");
    assert_locate(doc, k, 0, 1, 5);
    assert_locate(doc, k, 2, 1, 7); /* the first ' of '' */
    assert_locate(doc, k, 3, 1, 9);
    assert_locate(doc, k, 5, 1, 11);
    assert_string_equal(m->str, "a b");
    assert_locate(doc, m, 2, 3, 4);
    rb_doc_free(doc);
}

static void test_locate_double_quoted(void **state)
{
    (void)state;
    rb_doc *doc = load("k: \"a\\tb\\u00e9c\\x41\\U0001F600d\"\n"
                       "m: \"ab\\\n   cd\"\n"
                       "n: \"x\n\n  y\"\n");
    assert_non_null(doc);
    const rb_node *k = get(rb_doc_root(doc), "k");
    assert_string_equal(k->str, "a\tb\xc3\xa9" "cA\xf0\x9f\x98\x80" "d");
    assert_locate(doc, k, 0, 1, 5);
    assert_locate(doc, k, 1, 1, 6);  /* \t: at its backslash */
    assert_locate(doc, k, 2, 1, 8);  /* b */
    assert_locate(doc, k, 4, 1, 9);  /* inside the é from \u00e9 */
    assert_locate(doc, k, 5, 1, 15); /* c */
    assert_locate(doc, k, 6, 1, 16); /* A from \x41 */
    assert_locate(doc, k, 7, 1, 20); /* the emoji from \U0001F600 */
    assert_locate(doc, k, 11, 1, 30);
    const rb_node *m = get(rb_doc_root(doc), "m"), *n = get(rb_doc_root(doc), "n");
    assert_string_equal(m->str, "abcd"); /* an escaped break joins the lines */
    assert_locate(doc, m, 2, 3, 4);
    assert_string_equal(n->str, "x\ny");
    assert_locate(doc, n, 2, 6, 3);
    rb_doc_free(doc);
}

static void test_locate_block_scalars(void **state)
{
    (void)state;
    rb_doc *doc = load("lit: |\n  line1\n    x = ${{ bad }}\n\n  end\n"
                       "fold: >\n  one\n  two\n\n  three\n"
                       "ind: |2\n    x\n"
                       "deep:\n  inner: |-\n    a\n     b\n");
    assert_non_null(doc);
    const rb_node *root = rb_doc_root(doc);
    const rb_node *lit = get(root, "lit"), *fold = get(root, "fold"), *ind = get(root, "ind");
    assert_string_equal(lit->str, "line1\n  x = ${{ bad }}\n\nend\n");
    assert_locate(doc, lit, 0, 2, 3);
    assert_locate(doc, lit, 8, 3, 5);  /* x */
    assert_locate(doc, lit, 12, 3, 9); /* ${{ */
    assert_locate(doc, lit, 24, 5, 3); /* end */
    assert_string_equal(fold->str, "one two\nthree\n");
    assert_locate(doc, fold, 4, 8, 3);
    assert_locate(doc, fold, 8, 10, 3);
    assert_string_equal(ind->str, "  x\n");
    assert_locate(doc, ind, 2, 12, 5);
    const rb_node *inner = get(get(root, "deep"), "inner");
    assert_string_equal(inner->str, "a\n b");
    assert_locate(doc, inner, 3, 16, 6);
    rb_doc_free(doc);
}

static void test_locate_falls_back_to_the_start(void **state)
{
    (void)state;
    rb_doc *doc = load("k: abc\nm: [1]\ne: ''\n");
    assert_non_null(doc);
    const rb_node *k = get(rb_doc_root(doc), "k");
    assert_locate(doc, k, 99, 1, 4);
    assert_locate(doc, get(rb_doc_root(doc), "m"), 0, 2, 4);
    assert_locate(doc, get(rb_doc_root(doc), "e"), 0, 3, 4);
    uint32_t line = 7, col = 7;
    rb_node_locate(NULL, k, 1, &line, &col);
    assert_int_equal(line, 1);
    assert_int_equal(col, 4);
    rb_doc_free(doc);
}

/* Where the decoded byte maps to one source byte, that byte is the same character. */
static void check_locate_exact(const rb_doc *doc, const rb_node *n)
{
    size_t items = n->kind == RB_NODE_MAP ? 2 * n->count : n->kind == RB_NODE_SEQ ? n->count : 0;
    for (size_t i = 0; i < items; i++)
        check_locate_exact(doc, n->items[i]);
    for (size_t off = 0; n->kind == RB_NODE_SCALAR && off < n->len; off++) {
        uint32_t line, col;
        size_t len, k = 0;
        rb_node_locate(doc, n, off, &line, &col);
        const char *text = rb_doc_line(doc, line, &len);
        assert_non_null(text);
        for (uint32_t c = 1; c < col && k < len; c++) /* to the col-th character */
            for (k++; k < len && ((unsigned char)text[k] & 0xC0) == 0x80; k++)
                ;
        if (n->str[off] == ' ' || n->str[off] == '\n' || ((unsigned char)n->str[off] & 0x80))
            continue;
        if (n->style == RB_STYLE_DOUBLE && k < len && text[k] == '\\')
            continue;
        if (k >= len || text[k] != n->str[off])
            fail_msg("byte %zu ('%c') of \"%s\" located at %u:%u", off, n->str[off], n->str,
                     line, col);
    }
}

static void test_locate_every_byte(void **state)
{
    (void)state;
    rb_doc *doc = load("a: plain text, with colons # and a comment\n"
                       "b: 'single ''quoted''\n   folded'\n"
                       "c: \"double \\\"quoted\\\" \\t \\x41 é\n\n  end\"\n"
                       "d: |\n  literal ${{ x }}\n    indented\n\n  last\n"
                       "e: >+\n  folded one\n  two\n\n    more\n  back\n\n"
                       "f: multi\n  line\n\n\n  plain\n"
                       "g: {k: 'v w', l: [x y, \"z\"]}\r\n"
                       "h: \"crlf\r\n  next\"\r\n");
    assert_non_null(doc);
    check_locate_exact(doc, rb_doc_root(doc));
    rb_doc_free(doc);
}

/* ---- lookup helpers ---- */

static void test_map_get_and_null(void **state)
{
    (void)state;
    rb_doc *doc = load("a: ~\nb: null\nc: Null\nd: NULL\ne:\nf: 'null'\ng: \"\"\nh: nil\n"
                       "i: [1]\n\"j k\": 1\n");
    assert_non_null(doc);
    const rb_node *root = rb_doc_root(doc);
    for (const char *k = "abcde"; *k; k++) {
        char key[2] = {*k, 0};
        assert_true(rb_node_is_null(get(root, key)));
    }
    assert_false(rb_node_is_null(get(root, "f")));
    assert_false(rb_node_is_null(get(root, "g")));
    assert_false(rb_node_is_null(get(root, "h")));
    assert_false(rb_node_is_null(get(root, "i")));
    assert_false(rb_node_is_null(NULL));
    assert_non_null(rb_map_get(root, "j k"));
    assert_null(rb_map_get(root, "zz"));
    assert_null(rb_map_get(root, ""));
    assert_null(rb_map_get(NULL, "a"));
    assert_null(rb_map_get(get(root, "i"), "a"));
    assert_null(rb_map_get(root, NULL));
    rb_doc_free(doc);
}

static void test_doc_lines(void **state)
{
    (void)state;
    char text[4096], *p = text;
    for (int i = 1; i <= 100; i++)
        p += sprintf(p, "k%d: %d\r\n", i, i);
    p += sprintf(p, "last: x");
    rb_doc *doc = load_n(text, (size_t)(p - text));
    assert_non_null(doc);
    size_t len;
    const char *line = rb_doc_line(doc, 37, &len);
    assert_int_equal(len, 7);
    assert_memory_equal(line, "k37: 37", 7);
    line = rb_doc_line(doc, 101, &len);
    assert_int_equal(len, 7);
    assert_memory_equal(line, "last: x", 7);
    assert_null(rb_doc_line(doc, 102, &len));
    assert_null(rb_doc_line(doc, 0, &len));
    assert_string_equal(rb_doc_name(doc), "t.yaml");
    rb_doc_free(doc);
    doc = load("a: 1\n");
    assert_non_null(rb_doc_line(doc, 2, &len)); /* the empty line after the last break */
    assert_int_equal(len, 0);
    assert_null(rb_doc_line(doc, 3, &len));
    rb_doc_free(doc);
}

static void test_diag_node(void **state)
{
    (void)state;
    rb_doc *doc = load("steps:\n  - when: \"${{ a ==  }}\"\n");
    assert_non_null(doc);
    const rb_node *when = get(get(rb_doc_root(doc), "steps")->items[0], "when");
    rb_diag_node(&diags, doc, when, 6, RB_SEV_ERROR, NULL, "expected a value after %s", "==");
    rb_diag_node(&diags, doc, when, RB_NO_OFFSET, RB_SEV_WARNING, "rule-x", "whole");
    assert_int_equal(diags.count, 2);
    assert_int_equal(diags.items[0].line, 2);
    assert_int_equal(diags.items[0].col, 18);
    assert_string_equal(diags.items[0].message, "expected a value after ==");
    assert_string_equal(diags.items[0].source_line, "  - when: \"${{ a ==  }}\"");
    assert_int_equal(diags.items[1].col, 11);
    assert_string_equal(diags.items[1].rule, "rule-x");
    rb_doc_free(doc);
}

/* ---- hostile bytes: random damage never crashes, leaks or hangs ---- */

static void test_mutations(void **state)
{
    (void)state;
    static const char seed[] = "name: x\nsteps:\n  - id: 'a''b'\n    run: \"é\\t\\u00e9\"\n"
                               "    with: {k: [1, 2], l: |\n        text\n      }\n"
                               "  - id: >-\n      folded\n      more\n    needs: [a]\n";
    char buf[sizeof seed];
    uint32_t rnd = 12345;
    for (int round = 0; round < 20000; round++) {
        memcpy(buf, seed, sizeof seed);
        for (int k = 0; k < 1 + round % 4; k++) {
            rnd = rnd * 1103515245u + 12345u;
            size_t at = (rnd >> 8) % (sizeof seed - 1);
            rnd = rnd * 1103515245u + 12345u;
            buf[at] = (char)"[]{}:'\"\\- \n\t#&*!|>?,\xc3\xff\x00\r"[(rnd >> 8) % 24];
        }
        rb_doc *doc = load_n(buf, sizeof seed - 1 - round % 7);
        assert_true(doc || diags.count > 0);
        if (doc)
            check_offsets(doc, rb_doc_root(doc));
        rb_doc_free(doc);
    }
}

/* ---- the bad-input corpus: tests/bad/NAME.yaml + NAME.expect ("LINE:COL substring") ---- */

static int check_bad_file(const char *dir, const char *name)
{
    char path[2048], expect[512];
    snprintf(path, sizeof path, "%s/%.*s.expect", dir, (int)(strlen(name) - 5), name);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(expect, sizeof expect, f))
        fail_msg("%s: missing or empty", path);
    fclose(f);
    expect[strcspn(expect, "\r\n")] = '\0';
    unsigned line, col;
    int n = 0;
    if (sscanf(expect, "%u:%u %n", &line, &col, &n) != 2 || !n)
        fail_msg("%s: want LINE:COL message", path);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    rb_diags_cleanup(&diags);
    rb_diags_init(&diags);
    rb_doc *doc = rb_load_file(path, &diags);
    if (doc || !diags.count || diags.items[0].line != line || diags.items[0].col != col ||
        !strstr(diags.items[0].message, expect + n)) {
        fail_msg("%s: want %s, got %u:%u %s", name, expect, diags.count ? diags.items[0].line : 0,
                 diags.count ? diags.items[0].col : 0,
                 diags.count ? diags.items[0].message : "(accepted)");
    }
    return 1;
}

static void test_bad_corpus(void **state)
{
    (void)state;
    const char *root = getenv("RUNBOOK_SOURCE_DIR");
    if (!root)
        root = "..";
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/bad", root);
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open %s (set RUNBOOK_SOURCE_DIR)", dir);
    int files = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".yaml") == 0)
            files += check_bad_file(dir, e->d_name);
    }
    closedir(d);
    assert_true(files >= 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_positions_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_positions_quoted_and_block_scalars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_positions_utf8_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_positions_crlf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_positions_bom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_positions_unicode_line_breaks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offsets_follow_mixed_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syntax_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_anchors_and_aliases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nesting_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deep_block_nesting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prescan_every_bad_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nul_and_control_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_documents_and_top_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_must_be_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_are_collected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_line_of_items, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_million_brackets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alias_bomb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ten_thousand_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_endless_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locate_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locate_single_quoted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locate_double_quoted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locate_block_scalars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locate_falls_back_to_the_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locate_every_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_get_and_null, setup, teardown),
        cmocka_unit_test_setup_teardown(test_doc_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_diag_node, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mutations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_corpus, setup, teardown),
    };
    return cmocka_run_group_tests_name("load", tests, NULL, NULL);
}
