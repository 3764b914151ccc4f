/* Secret masking: one Aho-Corasick automaton over every encoded form of every secret. */
#include "runbook/mask.h"

#include <errno.h>
/* EVP_EncodeBlock. CMake: pkg_check_modules(CRYPTO REQUIRED IMPORTED_TARGET libcrypto), and
 * PkgConfig::CRYPTO added to runbook_lib's target_link_libraries. */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Bounds the automaton (24 bytes a node) however many secrets are added. */
#define MASK_MAX_NODES (1u << 23)
#define MASK_MAX_FORMS 32
#define STAR_LEN (sizeof RB_MASK_TEXT - 1)

/* ---- a growable byte buffer ---- */

typedef struct mbuf {
    char *data;
    size_t len, cap;
    int failed;
} mbuf;

static void mbuf_add(mbuf *b, const void *p, size_t n)
{
    if (b->failed || !n)
        return;
    if (n > (SIZE_MAX >> 2) - b->len) { /* far past any bound; also lets -O3 see no wrap-around */
        b->failed = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->failed = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void mbuf_addc(mbuf *b, char c)
{
    mbuf_add(b, &c, 1);
}

/* Hands over a NUL-terminated string even when nothing was added. */
static char *mbuf_take(mbuf *b, size_t *len)
{
    if (!b->failed && !b->data && !(b->data = calloc(1, 1)))
        b->failed = 1;
    if (b->failed) {
        free(b->data);
        b->data = NULL;
        return NULL;
    }
    if (len)
        *len = b->len;
    return b->data;
}

/* ---- the automaton ---- */

typedef struct ac_node {
    uint32_t child;     /* first child, 0 if none (the root is never anyone's child) */
    uint32_t sibling;   /* next child of the same parent */
    uint32_t fail;      /* node of the longest proper suffix present in the trie */
    uint32_t own_len;   /* length of the form that ends here, 0 if none */
    uint32_t match_len; /* longest form that is a suffix of this node's string, 0 if none */
    unsigned char byte;
} ac_node;

struct rb_masker {
    pthread_rwlock_t lock; /* adds write, scans read: secrets captured mid-run race output */
    ac_node *nodes;        /* nodes[0] is the root */
    uint32_t *queue;
    uint32_t count, cap;
    uint32_t root_next[256]; /* the root's children as a table: most steps end there */
    size_t max_len;
};

rb_masker *rb_masker_new(void)
{
    rb_masker *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    pthread_rwlock_init(&m->lock, NULL);
    m->nodes = calloc(1, sizeof *m->nodes);
    m->queue = calloc(1, sizeof *m->queue);
    if (!m->nodes || !m->queue) {
        rb_masker_free(m);
        return NULL;
    }
    m->count = m->cap = 1;
    return m;
}

void rb_masker_free(rb_masker *m)
{
    if (!m)
        return;
    pthread_rwlock_destroy(&m->lock);
    free(m->nodes);
    free(m->queue);
    free(m);
}

/* The lock is the one member a const masker may change. */
static void read_lock(const rb_masker *m)
{
    pthread_rwlock_rdlock(&((rb_masker *)m)->lock);
}

static void unlock(const rb_masker *m)
{
    pthread_rwlock_unlock(&((rb_masker *)m)->lock);
}

size_t rb_masker_max_len(const rb_masker *m)
{
    read_lock(m);
    size_t n = m->max_len;
    unlock(m);
    return n;
}

static uint32_t child_of(const rb_masker *m, uint32_t s, unsigned char c)
{
    for (uint32_t t = m->nodes[s].child; t; t = m->nodes[t].sibling)
        if (m->nodes[t].byte == c)
            return t;
    return 0;
}

/* The goto-with-failure step: the state after reading `c` in state `s`. */
static uint32_t ac_step(const rb_masker *m, uint32_t s, unsigned char c)
{
    for (;;) {
        uint32_t t = s ? child_of(m, s, c) : m->root_next[c];
        if (t || !s)
            return t;
        s = m->nodes[s].fail;
    }
}

/* 1 when s[0..len) is the start of some form: a walk down the trie from the root. */
static int starts_a_form(const rb_masker *m, const char *s, size_t len)
{
    uint32_t t = m->root_next[(unsigned char)s[0]];
    for (size_t i = 1; t && i < len; i++)
        t = child_of(m, t, (unsigned char)s[i]);
    return t != 0;
}

size_t rb_mask_open_tail(const rb_masker *m, const char *s, size_t len)
{
    if (!m || !len)
        return 0;
    pthread_rwlock_rdlock((pthread_rwlock_t *)&m->lock);
    size_t most = m->max_len ? m->max_len - 1 : 0, found = 0;
    for (size_t k = most < len ? most : len; k > 0 && !found; k--)
        if (starts_a_form(m, s + len - k, k))
            found = k;
    pthread_rwlock_unlock((pthread_rwlock_t *)&m->lock);
    return found;
}

/* Makes room for `extra` more nodes up front, so inserting and linking cannot fail halfway. */
static int ac_reserve(rb_masker *m, size_t extra)
{
    if (extra > MASK_MAX_NODES - m->count) {
        errno = E2BIG;
        return -1;
    }
    uint32_t cap = m->count + (uint32_t)extra;
    if (cap <= m->cap)
        return 0;
    ac_node *n = realloc(m->nodes, cap * sizeof *n);
    if (n)
        m->nodes = n;
    uint32_t *q = realloc(m->queue, cap * sizeof *q);
    if (q)
        m->queue = q;
    if (!n || !q) {
        errno = ENOMEM;
        return -1;
    }
    m->cap = cap;
    return 0;
}

static void ac_insert(rb_masker *m, const unsigned char *p, size_t n)
{
    uint32_t s = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t t = child_of(m, s, p[i]);
        if (!t) {
            t = m->count++;
            m->nodes[t] = (ac_node){.byte = p[i], .sibling = m->nodes[s].child};
            m->nodes[s].child = t;
        }
        s = t;
    }
    m->nodes[s].own_len = (uint32_t)n;
    if (n > m->max_len)
        m->max_len = n;
}

/* Recomputes failure links breadth first over the whole trie (a parent's link before its
 * children's), since new forms can lengthen the suffixes of existing nodes. */
static void ac_link(rb_masker *m)
{
    size_t head = 0, tail = 0;
    memset(m->root_next, 0, sizeof m->root_next);
    for (uint32_t t = m->nodes[0].child; t; t = m->nodes[t].sibling) {
        m->root_next[m->nodes[t].byte] = t;
        m->nodes[t].fail = 0;
        m->nodes[t].match_len = m->nodes[t].own_len;
        m->queue[tail++] = t;
    }
    while (head < tail) {
        uint32_t u = m->queue[head++];
        for (uint32_t v = m->nodes[u].child; v; v = m->nodes[v].sibling) {
            ac_node *n = &m->nodes[v];
            n->fail = ac_step(m, m->nodes[u].fail, n->byte);
            uint32_t inherited = m->nodes[n->fail].match_len;
            n->match_len = n->own_len > inherited ? n->own_len : inherited;
            m->queue[tail++] = v;
        }
    }
}

/* ---- the encoded forms of one secret ---- */

typedef struct forms {
    mbuf bytes;
    struct {
        size_t off, len;
    } item[MASK_MAX_FORMS];
    size_t count, start;
} forms;

static void form_begin(forms *fs)
{
    fs->start = fs->bytes.len;
}

/* Keeps the form if it is at least `min` bytes long. */
static void form_end(forms *fs, size_t min)
{
    size_t len = fs->bytes.len - fs->start;
    if (fs->bytes.failed || len < min || len == 0 || fs->count == MASK_MAX_FORMS) {
        fs->bytes.len = fs->start;
        return;
    }
    fs->item[fs->count].off = fs->start;
    fs->item[fs->count].len = len;
    fs->count++;
}

/* Standard base64 of v into a fresh buffer (EVP_EncodeBlock writes padding and a NUL). */
static char *base64(const unsigned char *v, size_t n, size_t *out_len)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (out)
        *out_len = (size_t)EVP_EncodeBlock((unsigned char *)out, v, (int)n);
    return out;
}

static void add_b64(forms *fs, const char *b, size_t n, int urlsafe, size_t min)
{
    form_begin(fs);
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        if (urlsafe && (c == '+' || c == '/'))
            c = c == '+' ? '-' : '_';
        mbuf_addc(&fs->bytes, c);
    }
    form_end(fs, min);
}

/* `base64` wraps its output at 76 columns and `openssl base64` at 64: each full line of the
 * secret's base64 is then a form of its own (a line shorter than 16 characters, the last one,
 * is left: alone it would mask too much and reveals at most 11 bytes). */
static void add_base64_wrapped(forms *fs, const char *b, size_t len)
{
    static const size_t widths[] = {64, 76};
    for (size_t w = 0; w < 2; w++)
        for (size_t at = 0; len > widths[w] && at < len; at += widths[w]) {
            size_t n = len - at < widths[w] ? len - at : widths[w];
            if (n >= 16)
                add_b64(fs, b + at, n, 0, 16);
        }
}

static void add_base64_whole(forms *fs, const unsigned char *v, size_t n)
{
    size_t len;
    char *b = base64(v, n, &len);
    if (!b) {
        fs->bytes.failed = 1;
        return;
    }
    size_t unpadded = len;
    while (unpadded && b[unpadded - 1] == '=')
        unpadded--;
    /* Two or three characters (one or two bytes, unpadded) would mask far too much. */
    for (int urlsafe = 0; urlsafe < 2; urlsafe++) {
        add_b64(fs, b, len, urlsafe, RB_MASK_MIN_LEN);
        add_b64(fs, b, unpadded, urlsafe, RB_MASK_MIN_LEN);
    }
    add_base64_wrapped(fs, b, len);
    free(b);
}

/* Inside a longer blob the secret starts at some byte offset k mod 3. The characters whose six
 * bits all come from the secret are the same whatever its neighbours are: encode k zero bytes,
 * the secret and two more zeros, and keep characters ceil(8k/6) .. floor(8(k+n)/6). */
static void add_base64_aligned(forms *fs, const unsigned char *v, size_t n)
{
    unsigned char *buf = calloc(n + 4, 1);
    if (!buf) {
        fs->bytes.failed = 1;
        return;
    }
    for (size_t k = 0; k < 3; k++) {
        memset(buf, 0, n + 4);
        memcpy(buf + k, v, n);
        size_t len;
        char *b = base64(buf, n + k + 2, &len);
        if (!b) {
            fs->bytes.failed = 1;
            break;
        }
        size_t first = (8 * k + 5) / 6, end = 8 * (k + n) / 6;
        for (int urlsafe = 0; end > first && urlsafe < 2; urlsafe++)
            add_b64(fs, b + first, end - first, urlsafe, RB_MASK_MIN_LEN);
        free(b);
    }
    free(buf);
}

static int is_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

/* Percent-encoding that keeps the unreserved set plus `keep`, with `plus` for form style. */
static void add_url(forms *fs, const unsigned char *v, size_t n, const char *keep, int lower,
                    int plus)
{
    const char *hex = lower ? "0123456789abcdef" : "0123456789ABCDEF";
    form_begin(fs);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = v[i];
        if (is_unreserved(c) || (c && strchr(keep, c)))
            mbuf_addc(&fs->bytes, (char)c);
        else if (plus && c == ' ')
            mbuf_addc(&fs->bytes, '+');
        else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            mbuf_add(&fs->bytes, e, 3);
        }
    }
    form_end(fs, 1);
}

enum { J_UPPER = 1, J_SLASH = 2, J_ASCII = 4, J_HTML = 8 };

static void add_json_u(forms *fs, unsigned cp, int flags)
{
    const char *hex = flags & J_UPPER ? "0123456789ABCDEF" : "0123456789abcdef";
    char e[6] = {'\\', 'u', hex[(cp >> 12) & 15], hex[(cp >> 8) & 15], hex[(cp >> 4) & 15],
                 hex[cp & 15]};
    mbuf_add(&fs->bytes, e, 6);
}

/* Decodes one UTF-8 sequence at v[0..n) into *cp; returns its length, or 0 if ill-formed. */
static size_t utf8_decode(const unsigned char *v, size_t n, unsigned *cp)
{
    size_t len = v[0] >= 0xf0 ? 4 : v[0] >= 0xe0 ? 3 : v[0] >= 0xc0 ? 2 : 0;
    if (!len || len > n || v[0] > 0xf4)
        return 0;
    unsigned c = v[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((v[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (v[i] & 0x3f);
    }
    static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

/* Writes v[0] (or the UTF-8 character it starts) escaped or as it is; returns bytes used. */
static size_t json_escape_one(forms *fs, const unsigned char *v, size_t n, int flags, int *bad)
{
    static const char *shorts = "\"\"\\\\\bb\ff\nn\rr\tt";
    unsigned char c = v[0];
    for (const char *p = shorts; *p; p += 2)
        if (c == (unsigned char)p[0]) {
            char e[2] = {'\\', p[1]};
            mbuf_add(&fs->bytes, e, 2);
            return 1;
        }
    if (c == '/' && (flags & J_SLASH)) {
        mbuf_add(&fs->bytes, "\\/", 2);
        return 1;
    }
    int html = (flags & J_HTML) && (c == '<' || c == '>' || c == '&');
    if (c < 0x20 || html || (c == 0x7f && (flags & J_ASCII))) {
        add_json_u(fs, c, flags);
        return 1;
    }
    unsigned cp = 0;
    size_t len = c >= 0x80 ? utf8_decode(v, n, &cp) : 0;
    if (!len) {
        *bad |= c >= 0x80;
        mbuf_addc(&fs->bytes, (char)c);
        return 1;
    }
    int line_sep = (flags & J_HTML) && (cp == 0x2028 || cp == 0x2029);
    if (!(flags & J_ASCII) && !line_sep) {
        mbuf_add(&fs->bytes, v, len);
        return len;
    }
    if (cp >= 0x10000) {
        add_json_u(fs, 0xd800 + ((cp - 0x10000) >> 10), flags);
        cp = 0xdc00 + ((cp - 0x10000) & 0x3ff);
    }
    add_json_u(fs, cp, flags);
    return len;
}

/* JSON string escaping in the style `flags` names. A value that is not UTF-8 gets no
 * ensure-ASCII form, since such encoders would have replaced its bad bytes. */
static void add_json(forms *fs, const unsigned char *v, size_t n, int flags)
{
    int bad = 0;
    form_begin(fs);
    for (size_t i = 0; i < n;)
        i += json_escape_one(fs, v + i, n - i, flags, &bad);
    if (bad && (flags & J_ASCII))
        fs->bytes.len = fs->start;
    form_end(fs, 1);
}

static void build_forms(forms *fs, const unsigned char *v, size_t n)
{
    /* jansson (and its ESCAPE_SLASH, ENSURE_ASCII), JavaScript, Python, PHP, Go. */
    static const int json_styles[] = {
        J_UPPER, J_UPPER | J_SLASH, J_UPPER | J_ASCII, J_UPPER | J_ASCII | J_SLASH,
        0,       J_ASCII,           J_ASCII | J_SLASH, J_HTML,
    };
    form_begin(fs);
    mbuf_add(&fs->bytes, v, n);
    form_end(fs, 1);
    add_base64_whole(fs, v, n);
    add_base64_aligned(fs, v, n);
    add_url(fs, v, n, "", 0, 0);
    add_url(fs, v, n, "", 1, 0);
    add_url(fs, v, n, "", 0, 1);
    add_url(fs, v, n, "", 1, 1);
    add_url(fs, v, n, "!'()*", 0, 0); /* JavaScript encodeURIComponent */
    add_url(fs, v, n, "/", 0, 0);     /* Python urllib.parse.quote */
    for (size_t i = 0; i < sizeof json_styles / sizeof *json_styles; i++)
        add_json(fs, v, n, json_styles[i]);
}

int rb_masker_add(rb_masker *m, const char *value, size_t len)
{
    if (!len || !value) {
        errno = EINVAL;
        return -1;
    }
    if (len > RB_MASK_MAX_SECRET) {
        errno = E2BIG;
        return -1;
    }
    forms fs = {0};
    build_forms(&fs, (const unsigned char *)value, len);
    int rc = -1;
    if (fs.bytes.failed)
        errno = ENOMEM;
    else {
        pthread_rwlock_wrlock(&m->lock);
        if (ac_reserve(m, fs.bytes.len) == 0) {
            for (size_t i = 0; i < fs.count; i++)
                ac_insert(m, (const unsigned char *)fs.bytes.data + fs.item[i].off,
                          fs.item[i].len);
            ac_link(m);
            rc = len < RB_MASK_MIN_LEN ? RB_MASK_SHORT : 0;
        }
        pthread_rwlock_unlock(&m->lock);
    }
    free(fs.bytes.data);
    return rc;
}

/* ---- the scan ---- */

/* A region to mask. `starred` marks the region carried over from the previous chunk of a
 * stream, whose "***" is already out. */
typedef struct span {
    size_t start, end;
    int starred;
} span;

/* Regions stay open while a later match could still reach back to them (max_len bytes), since
 * a long match ending later can start before a short one and swallow it. They are disjoint,
 * sorted and separated by at least one byte, so at most ~max_len of them are open at once. */
typedef struct scan {
    const char *text;
    size_t cut, max_len;
    mbuf *out;
    size_t emitted;   /* text[0..emitted) is dealt with */
    size_t carry_out; /* how far the region straddling `cut` reaches past it */
    span *ring;
    size_t cap, head, n;
} scan;

/* Writes the text before an oldest region and the region's stars, up to `cut` only. */
static void finish_oldest(scan *sc)
{
    span sp = sc->ring[sc->head];
    sc->head = (sc->head + 1) % sc->cap;
    sc->n--;
    if (sp.start >= sc->cut)
        return;
    mbuf_add(sc->out, sc->text + sc->emitted, sp.start - sc->emitted);
    if (!sp.starred)
        mbuf_add(sc->out, RB_MASK_TEXT, STAR_LEN);
    sc->emitted = sp.end < sc->cut ? sp.end : sc->cut;
    if (sp.end > sc->cut)
        sc->carry_out = sp.end - sc->cut;
}

/* Adds [start, end), merging it with every open region it overlaps or touches. */
static void push_span(scan *sc, size_t start, size_t end, int starred)
{
    while (sc->n) {
        span *top = &sc->ring[(sc->head + sc->n - 1) % sc->cap];
        if (top->end < start)
            break;
        if (top->start <= start) {
            start = top->start;
            starred = top->starred;
        }
        if (top->end > end)
            end = top->end;
        sc->n--;
    }
    sc->ring[(sc->head + sc->n) % sc->cap] = (span){start, end, starred};
    sc->n++;
}

/* Masks text[0..len) and writes the result for text[0..cut) to `out`. The first `carry` bytes
 * are already masked (their stars written). *carry_out says how far past `cut` the masked
 * region straddling it reaches (0 if none). */
static int mask_scan(const rb_masker *m, const char *text, size_t len, size_t carry, size_t cut,
                     mbuf *out, size_t *carry_out)
{
    read_lock(m);
    scan sc = {.text = text, .cut = cut, .max_len = m->max_len, .out = out};
    sc.cap = 2 * (m->max_len + carry) + 4;
    sc.ring = malloc(sc.cap * sizeof *sc.ring);
    if (!sc.ring) {
        unlock(m);
        return -1;
    }
    if (carry)
        push_span(&sc, 0, carry, 1);
    uint32_t s = 0;
    for (size_t i = 0; m->count > 1 && i < len; i++) {
        s = ac_step(m, s, (unsigned char)text[i]);
        uint32_t ml = m->nodes[s].match_len;
        if (ml)
            push_span(&sc, i + 1 - ml, i + 1, 0);
        while (sc.n && sc.ring[sc.head].end + sc.max_len <= i + 1)
            finish_oldest(&sc);
    }
    while (sc.n)
        finish_oldest(&sc);
    unlock(m);
    mbuf_add(out, text + sc.emitted, cut - sc.emitted);
    free(sc.ring);
    *carry_out = sc.carry_out;
    return out->failed ? -1 : 0;
}

char *rb_mask_apply(const rb_masker *m, const char *s, size_t len, size_t *out_len)
{
    mbuf out = {0};
    size_t carry;
    if (mask_scan(m, s ? s : "", len, 0, len, &out, &carry) < 0) {
        free(out.data);
        return NULL;
    }
    return mbuf_take(&out, out_len);
}

/* Masks a‖b and splits the result where b starts: a region reaching across the join ends a's
 * text with "***" and starts b's with "***". */
static int mask_joined(const rb_masker *m, const char *a, size_t alen, const char *b, size_t blen, char **oa,
                       size_t *oalen, char **ob, size_t *oblen)
{
    mbuf joined = {0}, outa = {0}, outb = {0};
    size_t carry = 0, unused;
    mbuf_add(&joined, a, alen);
    mbuf_add(&joined, b, blen);
    const char *text = joined.data ? joined.data : "";
    int rc = joined.failed ? -1 : mask_scan(m, text, alen + blen, 0, alen, &outa, &carry);
    if (rc == 0 && carry)
        mbuf_add(&outb, RB_MASK_TEXT, STAR_LEN);
    if (rc == 0)
        rc = mask_scan(m, text + alen, blen, carry, blen, &outb, &unused);
    free(joined.data);
    *oa = rc == 0 ? mbuf_take(&outa, oalen) : NULL;
    *ob = rc == 0 ? mbuf_take(&outb, oblen) : NULL;
    if (!*oa || !*ob) {
        free(*oa ? *oa : outa.data);
        free(*ob ? *ob : outb.data);
        *oa = *ob = NULL;
        return -1;
    }
    return 0;
}

int rb_mask_apply_pair(const rb_masker *m, const char *a, size_t alen, const char *b, size_t blen, char **oa,
                       size_t *oalen, char **ob, size_t *oblen)
{
    char *a1, *b1;
    size_t a1len, b1len;
    if (mask_joined(m, a ? a : "", alen, b ? b : "", blen, &a1, &a1len, &b1, &b1len) < 0)
        return -1;
    /* then the other order: b's end joined to a's start */
    int rc = mask_joined(m, b1, b1len, a1, a1len, ob, oblen, oa, oalen);
    free(a1);
    free(b1);
    return rc;
}

/* ---- streaming ---- */

struct rb_mask_stream {
    const rb_masker *m;
    mbuf held;    /* raw bytes not yet emitted: fewer than max_len */
    size_t carry; /* the first `carry` held bytes are inside a region whose stars are out */
};

rb_mask_stream *rb_mask_stream_new(const rb_masker *m)
{
    rb_mask_stream *st = calloc(1, sizeof *st);
    if (st)
        st->m = m;
    return st;
}

void rb_mask_stream_free(rb_mask_stream *st)
{
    if (!st)
        return;
    free(st->held.data);
    free(st);
}

/* Emits held[0..cut) masked and keeps the rest; on failure puts the stream back as it was
 * before the bytes past `old_len` were added. */
static int stream_emit(rb_mask_stream *st, size_t cut, size_t old_len, char **out,
                       size_t *out_len)
{
    mbuf o = {0};
    size_t carry = st->carry; /* with nothing safe to emit yet, the carried region stays */
    if (st->held.failed)
        goto fail;
    if (cut && mask_scan(st->m, st->held.data, st->held.len, st->carry, cut, &o, &carry) < 0)
        goto fail;
    if (!(*out = mbuf_take(&o, out_len)))
        goto fail;
    if (cut) {
        memmove(st->held.data, st->held.data + cut, st->held.len - cut);
        st->held.len -= cut;
    }
    st->carry = carry;
    return 0;
fail:
    free(o.data);
    st->held.len = old_len;
    st->held.failed = 0;
    return -1;
}

int rb_mask_stream_write(rb_mask_stream *st, const char *s, size_t len, char **out,
                         size_t *out_len)
{
    size_t old_len = st->held.len;
    mbuf_add(&st->held, s, len);
    size_t max_len = rb_masker_max_len(st->m);
    size_t keep = max_len ? max_len - 1 : 0;
    size_t cut = st->held.len > keep ? st->held.len - keep : 0;
    return stream_emit(st, cut, old_len, out, out_len);
}

int rb_mask_stream_flush(rb_mask_stream *st, char **out, size_t *out_len)
{
    return stream_emit(st, st->held.len, st->held.len, out, out_len);
}
