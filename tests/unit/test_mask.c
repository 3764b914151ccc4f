/* Secret masking: a canary secret must vanish in every form, whole or split across chunks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runbook/mask.h"
#include "runbook/show.h"

#define CANARY "Canary-S3cret-7f1e"

static rb_masker *masker_with(const char *secret)
{
    rb_masker *m = rb_masker_new();
    assert_non_null(m);
    assert_int_equal(rb_masker_add(m, secret, strlen(secret)), 0);
    return m;
}

/* Masks `in` and compares with `want`. */
static void check_mask(const rb_masker *m, const char *in, const char *want)
{
    size_t n = 0;
    char *out = rb_mask_apply(m, in, strlen(in), &n);
    assert_non_null(out);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    free(out);
}

static void plain_secret_is_masked_everywhere(void **state)
{
    rb_masker *m = masker_with(CANARY);
    check_mask(m, CANARY, "***");
    check_mask(m, "pw=" CANARY "\n", "pw=***\n");
    check_mask(m, CANARY " and " CANARY, "*** and ***");
    check_mask(m, CANARY CANARY, "***");
    check_mask(m, "Canary-S3cret-7f1", "Canary-S3cret-7f1");
    check_mask(m, "nothing to see", "nothing to see");
    rb_masker_free(m);
}

static void empty_input_and_empty_masker(void **state)
{
    rb_masker *m = rb_masker_new();
    size_t n = 99;
    char *out = rb_mask_apply(m, NULL, 0, &n);
    assert_non_null(out);
    assert_string_equal(out, "");
    assert_int_equal(n, 0);
    free(out);
    check_mask(m, "no secrets yet", "no secrets yet");
    assert_int_equal(rb_masker_max_len(m), 0);
    assert_int_equal(rb_masker_add(m, CANARY, strlen(CANARY)), 0);
    out = rb_mask_apply(m, "", 0, &n);
    assert_string_equal(out, "");
    free(out);
    rb_masker_free(m);
}

static void bad_secrets_are_refused(void **state)
{
    rb_masker *m = rb_masker_new();
    errno = 0;
    assert_int_equal(rb_masker_add(m, "", 0), -1);
    assert_int_equal(errno, EINVAL);
    char *big = calloc(RB_MASK_MAX_SECRET + 1, 1);
    memset(big, 'x', RB_MASK_MAX_SECRET + 1);
    assert_int_equal(rb_masker_add(m, big, RB_MASK_MAX_SECRET + 1), -1);
    assert_int_equal(errno, E2BIG);
    free(big);
    rb_masker_free(m);
}

static void short_secret_is_masked_and_reported(void **state)
{
    rb_masker *m = rb_masker_new();
    assert_int_equal(rb_masker_add(m, "pw1", 3), RB_MASK_SHORT);
    check_mask(m, "login pw1 ok", "login *** ok");
    rb_masker_free(m);
}

static void secrets_with_nul_bytes(void **state)
{
    rb_masker *m = rb_masker_new();
    assert_int_equal(rb_masker_add(m, "ab\0cd", 5), 0);
    size_t n;
    char *out = rb_mask_apply(m, "x ab\0cd y ab\0ce", 15, &n);
    assert_int_equal(n, 13);
    assert_memory_equal(out, "x *** y ab\0ce", 13);
    free(out);
    rb_masker_free(m);
}

static char *b64(const void *p, size_t n, int urlsafe, int pad)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    int len = EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    while (!pad && len && out[len - 1] == '=')
        out[--len] = '\0';
    for (int i = 0; urlsafe && i < len; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    return out;
}

static void base64_forms_are_masked(void **state)
{
    /* Bytes chosen so the encodings contain '+' and '/' and need padding. */
    const char secret[] = "\xfb\xff\xbe-token-\xfe";
    rb_masker *m = masker_with(secret);
    for (int urlsafe = 0; urlsafe < 2; urlsafe++)
        for (int pad = 0; pad < 2; pad++) {
            char *enc = b64(secret, strlen(secret), urlsafe, pad);
            char in[200];
            snprintf(in, sizeof in, "Authorization: Basic %s\n", enc);
            check_mask(m, in, "Authorization: Basic ***\n");
            free(enc);
        }
    rb_masker_free(m);
}

static size_t count_kept(const char *out)
{
    const char *star = strstr(out, "***");
    assert_non_null(star);
    return strlen(out) - 3;
}

/* The secret inside a longer blob, at every alignment, with random neighbours: only a few
 * characters at each edge, which also encode neighbour bits, may survive. */
static void base64_inside_longer_blob(void **state)
{
    rb_masker *m = masker_with(CANARY);
    size_t n = strlen(CANARY);
    srand(7);
    for (size_t pre = 0; pre < 7; pre++)
        for (size_t suf = 0; suf < 7; suf++)
            for (int urlsafe = 0; urlsafe < 2; urlsafe++) {
                unsigned char blob[64];
                for (size_t i = 0; i < sizeof blob; i++)
                    blob[i] = (unsigned char)rand();
                memcpy(blob + pre, CANARY, n);
                char *enc = b64(blob, pre + n + suf, urlsafe, 1);
                size_t len;
                char *out = rb_mask_apply(m, enc, strlen(enc), &len);
                size_t limit = (4 * pre + 4 * (suf + 2)) / 3 + 3;
                if (count_kept(out) > limit)
                    fail_msg("pre %zu suf %zu: %s -> %s", pre, suf, enc, out);
                free(out);
                free(enc);
            }
    rb_masker_free(m);
}

static void url_encoded_forms_are_masked(void **state)
{
    const char secret[] = "p@ss w/rd:\xc3\xbc!";
    const char *forms[] = {
        "p%40ss%20w%2Frd%3A%C3%BC%21", "p%40ss%20w%2frd%3a%c3%bc%21",
        "p%40ss+w%2Frd%3A%C3%BC%21",   "p%40ss+w%2frd%3a%c3%bc%21",
        "p%40ss%20w%2Frd%3A%C3%BC!",   "p%40ss%20w/rd%3A%C3%BC%21",
    };
    rb_masker *m = masker_with(secret);
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        char in[200];
        snprintf(in, sizeof in, "GET /login?user=ops&pw=%s&next=/ HTTP/1.1", forms[i]);
        check_mask(m, in, "GET /login?user=ops&pw=***&next=/ HTTP/1.1");
    }
    rb_masker_free(m);
}

/* Whatever jansson writes for the secret, and what Python and Go would write. */
static void json_escaped_forms_are_masked(void **state)
{
    const char secret[] = "pa\"ss\\wo/rd\n<\xe2\x82\xac\xf0\x9f\x98\x80>\x01";
    rb_masker *m = masker_with(secret);
    size_t flags[] = {0, JSON_ENSURE_ASCII, JSON_ESCAPE_SLASH,
                      JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH};
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) {
        json_t *o = json_pack("{s:s}", "password", secret);
        char *text = json_dumps(o, JSON_COMPACT | flags[i]);
        check_mask(m, text, "{\"password\":\"***\"}");
        free(text);
        json_decref(o);
    }
    /* Python's default (ensure_ascii), then Go's (HTML-safe). */
    check_mask(m, "{\"pw\": \"pa\\\"ss\\\\wo/rd\\n<\\u20ac\\ud83d\\ude00>\\u0001\"}",
               "{\"pw\": \"***\"}");
    check_mask(m,
               "{\"pw\":\"pa\\\"ss\\\\wo/rd\\n\\u003c\xe2\x82\xac\xf0\x9f\x98\x80\\u003e"
               "\\u0001\"}",
               "{\"pw\":\"***\"}");
    rb_masker_free(m);
}

static void overlapping_secrets_become_one_region(void **state)
{
    rb_masker *m = rb_masker_new();
    const char *secrets[] = {"abcdef", "defghi", "secret", "secretive", "qqqq", "wwww",
                             "zqqqqxwwwwy"};
    for (size_t i = 0; i < sizeof secrets / sizeof *secrets; i++)
        assert_true(rb_masker_add(m, secrets[i], strlen(secrets[i])) >= 0);
    check_mask(m, "xxabcdefghiyy", "xx***yy");
    check_mask(m, "a secretive one, a secret one", "a *** one, a *** one");
    /* Two short matches first, then a longer one that starts before both. */
    check_mask(m, "..zqqqqxwwwwy..", "..***..");
    check_mask(m, "..qqqq.wwww..", "..***.***..");
    check_mask(m, "abcdefabcdef", "***");
    rb_masker_free(m);
}

/* Feeds `in` in the chunk sizes given (cycled) and returns the concatenated output. */
static char *stream_through(const rb_masker *m, const char *in, size_t len, const size_t *sizes,
                            size_t nsizes, size_t *out_len)
{
    rb_mask_stream *st = rb_mask_stream_new(m);
    char *all = calloc(1, 1);
    size_t total = 0;
    for (size_t off = 0, k = 0; off <= len; k++) {
        size_t n = sizes[k % nsizes];
        if (n > len - off)
            n = len - off;
        char *out;
        size_t olen;
        int last = off == len;
        if (last)
            assert_int_equal(rb_mask_stream_flush(st, &out, &olen), 0);
        else
            assert_int_equal(rb_mask_stream_write(st, in + off, n, &out, &olen), 0);
        all = realloc(all, total + olen + 1);
        memcpy(all + total, out, olen + 1);
        total += olen;
        free(out);
        if (last)
            break;
        off += n;
    }
    rb_mask_stream_free(st);
    *out_len = total;
    return all;
}

static void secret_split_across_chunks(void **state)
{
    rb_masker *m = masker_with(CANARY);
    const char *in = "before " CANARY " after";
    for (size_t split = 0; split <= strlen(in); split++) {
        size_t sizes[] = {split, strlen(in)};
        size_t n;
        char *out = stream_through(m, in, strlen(in), sizes, 2, &n);
        assert_string_equal(out, "before *** after");
        free(out);
    }
    size_t ones[] = {1};
    size_t n;
    char *out = stream_through(m, in, strlen(in), ones, 1, &n);
    assert_string_equal(out, "before *** after");
    free(out);
    rb_masker_free(m);
}

/* Random text rich in secrets and their prefixes, cut into random chunks: the stream's output
 * equals one-shot masking of the whole text. */
static void stream_equals_one_shot(void **state)
{
    const char *secrets[] = {"aaaa", "abab", "Zx9Zx9Zx9", "qq", "hunter2-long-password"};
    rb_masker *m = rb_masker_new();
    for (size_t i = 0; i < 5; i++)
        assert_true(rb_masker_add(m, secrets[i], strlen(secrets[i])) >= 0);
    uint32_t seed = 12345;
    for (int round = 0; round < 300; round++) {
        char text[600];
        size_t len = 0;
        while (len < 500) {
            seed = seed * 1103515245u + 12345u;
            const char *piece = (seed >> 16) % 3 ? secrets[(seed >> 8) % 5] : "ab Z.";
            size_t pl = strlen(piece) - (seed >> 20) % 2;
            memcpy(text + len, piece, pl);
            len += pl;
        }
        size_t sizes[4];
        for (int i = 0; i < 4; i++)
            sizes[i] = (seed >> (4 * i)) % 23;
        size_t n1, n2;
        char *one = rb_mask_apply(m, text, len, &n1);
        char *two = stream_through(m, text, len, sizes, 4, &n2);
        assert_int_equal(n1, n2);
        assert_memory_equal(one, two, n1);
        free(one);
        free(two);
    }
    rb_masker_free(m);
}

/* A few MiB with a hundred secrets must take time linear in the text. */
static void long_text_many_secrets(void **state)
{
    rb_masker *m = rb_masker_new();
    char secret[32];
    for (int i = 0; i < 100; i++) {
        snprintf(secret, sizeof secret, "secret-%03d-%08x", i, (unsigned)i * 2654435761u);
        assert_int_equal(rb_masker_add(m, secret, strlen(secret)), 0);
    }
    size_t len = 4u << 20;
    char *text = malloc(len);
    for (size_t i = 0; i < len; i++)
        text[i] = "abcdefghijklmnopqrstuvwxyz0123456789 -\n"[(i * 7919) % 39];
    memcpy(text + len / 2, secret, strlen(secret));
    clock_t t0 = clock();
    size_t n;
    char *out = rb_mask_apply(m, text, len, &n);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    assert_non_null(out);
    assert_int_equal(n, len - strlen(secret) + 3);
    assert_memory_equal(out + len / 2, "***", 3);
    assert_true(secs < 10.0);
    free(out);
    free(text);
    rb_masker_free(m);
}

static void *apply_repeatedly(void *arg)
{
    const rb_masker *m = arg;
    const char *text = "a line with " CANARY " and secret-007 in it";
    for (int i = 0; i < 200; i++) {
        char *out = rb_mask_apply(m, text, strlen(text), NULL);
        if (!out || strstr(out, CANARY))
            abort();
        free(out);
    }
    return NULL;
}

/* A secret captured mid-run is added while other steps' output is being masked. */
static void adding_while_applying(void **state)
{
    rb_masker *m = masker_with(CANARY);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, apply_repeatedly, m), 0);
    char secret[32];
    for (int i = 0; i < 50; i++) {
        snprintf(secret, sizeof secret, "secret-%03d", i);
        assert_int_equal(rb_masker_add(m, secret, strlen(secret)), 0);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    check_mask(m, "x secret-007 y", "x *** y");
    rb_masker_free(m);
}

/* base64 and openssl base64 wrap their output at 76 and 64 columns: each full line is masked. */
static void wrapped_base64_is_masked(void **state)
{
    (void)state;
    const char *secret = "ghp_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-";
    unsigned char b64[256];
    int len = EVP_EncodeBlock(b64, (const unsigned char *)secret, (int)strlen(secret));
    rb_masker *m = rb_masker_new();
    assert_int_equal(rb_masker_add(m, secret, strlen(secret)), 0);
    for (int width = 64; width <= 76; width += 12) {
        char text[512] = "";
        for (int at = 0; at < len; at += width)
            snprintf(text + strlen(text), sizeof text - strlen(text), "%.*s\n", width, (const char *)b64 + at);
        size_t n;
        char *out = rb_mask_apply(m, text, strlen(text), &n);
        assert_non_null(out);
        /* no line of 16 or more base64 characters survives */
        for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
            if (strlen(line) >= 16 && !strstr(line, RB_MASK_TEXT))
                fail_msg("width %d: line '%s' is not masked", width, line);
        free(out);
    }
    rb_masker_free(m);
}

/* ---- a secret split between two texts (stdout and stderr) ---- */

static void check_pair(const rb_masker *m, const char *a, const char *b, const char *wa, const char *wb)
{
    char *oa, *ob;
    size_t na, nb;
    assert_int_equal(rb_mask_apply_pair(m, a, strlen(a), b, strlen(b), &oa, &na, &ob, &nb), 0);
    assert_string_equal(oa, wa);
    assert_string_equal(ob, wb);
    assert_int_equal(na, strlen(wa));
    assert_int_equal(nb, strlen(wb));
    free(oa);
    free(ob);
}

static void secret_split_between_two_texts(void **state)
{
    (void)state;
    rb_masker *m = masker_with(CANARY);
    check_pair(m, "out: Canary-S3", "cret-7f1e rest", "out: ***", "*** rest");       /* a then b */
    check_pair(m, "ret-7f1e end", "err: Canary-S3c", "*** end", "err: ***");         /* b then a */
    check_pair(m, "Canary-S3cret-7f1e", "", "***", "");                              /* whole in one */
    check_pair(m, "no secret", "here either", "no secret", "here either");            /* nothing */
    check_pair(m, "x Canary-S3cret-7f1e y", "z " CANARY, "x *** y", "z ***");       /* each whole */
    check_pair(m, "Canary", "-S3cret-7f1", "Canary", "-S3cret-7f1");                 /* never whole */
    rb_masker_free(m);
}

/* ---- text for a person ---- */

static char *shown(const rb_masker *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *shown(const rb_masker *m, const char *fmt, ...)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    va_list ap;
    va_start(ap, fmt);
    rb_vshowf(f, m, fmt, ap);
    va_end(ap);
    fclose(f);
    return buf;
}

static void control_characters_are_shown_visibly(void **state)
{
    (void)state;
    size_t n;
    const char in[] = "a\033]0;title\007b\033[2Jc\rd\te\nf\x01g\x7fh\xc2\x9bi\xe2\x80\xaej\xff\xc3k é";
    char *out = rb_show_escape(in, sizeof in - 1, &n);
    assert_string_equal(out, "a\\e]0;title\\x07b\\e[2Jc\\rd\te\nf\\x01g\\x7fh\\u009bi\\u202ej\\xff\\xc3k é");
    assert_int_equal(n, strlen(out));
    assert_null(memchr(out, 0x1b, n));
    free(out);
    /* an incomplete character at a chunk's end is held, a whole one is not */
    assert_int_equal(rb_show_incomplete_tail("ab\xe2\x80", 4), 2);
    assert_int_equal(rb_show_incomplete_tail("ab\xc3", 3), 1);
    assert_int_equal(rb_show_incomplete_tail("ab\xc3\xa9", 4), 0);
    assert_int_equal(rb_show_incomplete_tail("abc", 3), 0);
}

/* A text cut in the middle of a secret ends with the secret's first half: it is found. */
static void open_tail_of_a_cut_text(void **state)
{
    (void)state;
    rb_masker *m = rb_masker_new();
    assert_int_equal(rb_masker_add(m, "Zk4qW9xLm2vRt7yP", 16), 0);
    assert_int_equal(rb_mask_open_tail(m, "failed: token Zk4qW9", 20), 6);
    assert_int_equal(rb_mask_open_tail(m, "failed: token Zk4qW9xLm2vRt7y", 29), 15);
    assert_int_equal(rb_mask_open_tail(m, "failed: nothing here", 20), 0);
    assert_int_equal(rb_mask_open_tail(m, "", 0), 0);
    rb_masker_free(m);
}

static void showf_masks_then_cuts_then_escapes(void **state)
{
    (void)state;
    rb_masker *m = masker_with(CANARY);
    /* the format's own text (a colour) is kept; an argument's ESC is not */
    char *out = shown(m, "\033[1m%s\033[0m|%d|%5s|%-4s|%zu|%%", "x\033[2Jy", -3, "ab", "c", (size_t)7);
    assert_string_equal(out, "\033[1mx\\e[2Jy\033[0m|-3|   ab|c   |7|%");
    free(out);
    /* a 200-character message with the secret at 130..148 cut at 140: no half of it */
    char msg[201];
    memset(msg, 'a', 200);
    msg[200] = 0;
    memcpy(msg + 130, CANARY, strlen(CANARY));
    out = shown(m, "%.140s", msg);
    assert_null(strstr(out, "Canary"));
    assert_non_null(strstr(out, "***"));
    free(out);
    out = shown(m, "%.*s", 133, msg); /* cut inside the stars: still nothing of the secret */
    assert_null(strstr(out, "Can"));
    free(out);
    /* a colour passed as an argument is known by its address, not its bytes */
    out = shown(NULL, "%s|%s", rb_show_bold, "\033[1m");
    assert_string_equal(out, "\033[1m|\\e[1m");
    free(out);
    rb_masker_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_secret_is_masked_everywhere),
        cmocka_unit_test(wrapped_base64_is_masked),
        cmocka_unit_test(empty_input_and_empty_masker),
        cmocka_unit_test(bad_secrets_are_refused),
        cmocka_unit_test(short_secret_is_masked_and_reported),
        cmocka_unit_test(secrets_with_nul_bytes),
        cmocka_unit_test(base64_forms_are_masked),
        cmocka_unit_test(base64_inside_longer_blob),
        cmocka_unit_test(url_encoded_forms_are_masked),
        cmocka_unit_test(json_escaped_forms_are_masked),
        cmocka_unit_test(overlapping_secrets_become_one_region),
        cmocka_unit_test(secret_split_across_chunks),
        cmocka_unit_test(stream_equals_one_shot),
        cmocka_unit_test(long_text_many_secrets),
        cmocka_unit_test(adding_while_applying),
        cmocka_unit_test(secret_split_between_two_texts),
        cmocka_unit_test(control_characters_are_shown_visibly),
        cmocka_unit_test(showf_masks_then_cuts_then_escapes),
        cmocka_unit_test(open_tail_of_a_cut_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
