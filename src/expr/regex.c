/* PCRE2 behind rb_regex: UTF mode, located compile errors, and match/depth/heap limits so a
 * hostile pattern or subject costs bounded time and memory. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "runbook/regex.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>

/* Bounds on one match: backtracking steps, nested backtracking frames, and heap in KiB. */
#define REGEX_MATCH_LIMIT 1000000u
#define REGEX_DEPTH_LIMIT 10000u
#define REGEX_HEAP_LIMIT 20000u

struct rb_regex {
    pcre2_code *code;
    pcre2_match_context *mctx; /* only read while matching, so threads may share it */
};

static void set_error(char *err, size_t err_len, int code)
{
    PCRE2_UCHAR msg[120];
    if (!err || !err_len)
        return;
    if (pcre2_get_error_message(code, msg, sizeof msg) < 0)
        snprintf(err, err_len, "invalid regular expression");
    else
        snprintf(err, err_len, "%s", (const char *)msg);
}

static pcre2_match_context *new_match_context(void)
{
    pcre2_match_context *m = pcre2_match_context_create(NULL);
    if (!m)
        return NULL;
    pcre2_set_match_limit(m, REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(m, REGEX_DEPTH_LIMIT);
    pcre2_set_heap_limit(m, REGEX_HEAP_LIMIT);
    return m;
}

rb_regex *rb_regex_compile(const char *pattern, size_t len, size_t *err_offset, char *err,
                           size_t err_len)
{
    int code = 0;
    PCRE2_SIZE off = 0;
    /* \C could split a UTF-8 character and break the UTF guarantees, so it is refused. */
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C,
                                  &code, &off, NULL);
    if (!c) {
        if (err_offset)
            *err_offset = off;
        set_error(err, err_len, code);
        return NULL;
    }
    rb_regex *re = malloc(sizeof *re);
    pcre2_match_context *m = new_match_context();
    if (!re || !m) {
        free(re);
        pcre2_match_context_free(m);
        pcre2_code_free(c);
        if (err_offset)
            *err_offset = 0;
        set_error(err, err_len, PCRE2_ERROR_NOMEMORY);
        return NULL;
    }
    re->code = c;
    re->mctx = m;
    return re;
}

void rb_regex_free(rb_regex *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    pcre2_match_context_free(re->mctx);
    free(re);
}

int rb_regex_groups(const rb_regex *re)
{
    uint32_t n = 0;
    pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &n);
    return (int)n;
}

static void store_group(pcre2_match_data *md, int rc, int group, size_t *gstart, size_t *glen)
{
    if (group < 0 || !gstart || !glen)
        return;
    *gstart = (size_t)-1;
    *glen = 0;
    if (rc <= 0 || (uint32_t)group >= pcre2_get_ovector_count(md))
        return;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    if (ov[2 * group] == PCRE2_UNSET)
        return;
    *gstart = ov[2 * group];
    *glen = ov[2 * group + 1] - ov[2 * group];
}

static int match_with(const rb_regex *re, const char *subject, size_t len, uint32_t options, int group,
                      size_t *gstart, size_t *glen)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
    if (!md)
        return -1;
    /* PCRE2 checks the subject's UTF-8 itself and fails with a negative code. */
    int rc = pcre2_match(re->code, (PCRE2_SPTR)(subject ? subject : ""), len, 0, options, md, re->mctx);
    store_group(md, rc, group, gstart, glen);
    pcre2_match_data_free(md);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    return rc > 0 ? 1 : -1;
}

int rb_regex_match(const rb_regex *re, const char *subject, size_t len, int group, size_t *gstart,
                   size_t *glen)
{
    return match_with(re, subject, len, 0, group, gstart, glen);
}

int rb_regex_match_whole(const rb_regex *re, const char *subject, size_t len)
{
    size_t s, l;
    return match_with(re, subject, len, PCRE2_ANCHORED | PCRE2_ENDANCHORED, -1, &s, &l);
}
