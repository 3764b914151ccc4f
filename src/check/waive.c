/* Waivers: a team accepts one lint rule for one place, visibly, in the runbook itself:
 *     # runbook: allow no-rollback — the vendor API has no undo
 * on the warning's line, on the line above it, or on (or above) the `- id:` line of the step it
 * is in. The reason after the dash is required: a waiver without one waives nothing. */
#include <ctype.h>
#include <string.h>

#include "checker.h"

#define WAIVER_TAG "# runbook: allow "
#define STEP_SCAN_MAX 400 /* lines looked back for the step a warning is in */

/* The reason of a waiver on `line` that names `rule`, copied into why; 0 when there is none. */
static int waiver_on(const char *line, size_t len, const char *rule, char *why, size_t whylen)
{
    const char *end = line + len, *p = line;
    size_t tag = strlen(WAIVER_TAG), rl = strlen(rule);
    while (p + tag <= end && (p = memmem(p, (size_t)(end - p), WAIVER_TAG, tag)) != NULL) {
        const char *q = p + tag, *sep = NULL;
        for (const char *s = q; s + 1 < end && !sep; s++)
            if ((s[0] == '-' && s[1] == '-') || !strncmp(s, "\xe2\x80\x94", 3) || (s[0] == ' ' && s[1] == '-' && s + 2 < end && s[2] == ' '))
                sep = s;
        const char *rules_end = sep ? sep : end;
        for (const char *s = q; s + rl <= rules_end; s++) {
            int starts = s == q || s[-1] == ',' || s[-1] == ' ';
            int ends = s + rl == rules_end || s[rl] == ',' || s[rl] == ' ';
            if (!starts || !ends || strncmp(s, rule, rl))
                continue;
            const char *r = sep;
            while (r && r < end && (*r == '-' || *r == ' ' || (unsigned char)*r >= 0x80))
                r++; /* the dash, an em dash (UTF-8), spaces */
            if (!r || r >= end)
                return 0;
            snprintf(why, whylen, "%.*s", (int)(end - r), r);
            return 1;
        }
        p = q;
    }
    return 0;
}

static int step_start(const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && line[i] == ' ')
        i++;
    return i + 1 < len && line[i] == '-' && line[i + 1] == ' ' && len - i >= 6 &&
           memmem(line + i, len - i, "id:", 3) != NULL;
}

static int waived_at(const rb_doc *doc, uint32_t line, const char *rule, char *why, size_t whylen)
{
    size_t len;
    const char *text;
    for (uint32_t k = 0; k < 2 && line > k; k++) /* the line and the one above */
        if ((text = rb_doc_line(doc, line - k, &len)) && waiver_on(text, len, rule, why, whylen))
            return 1;
    for (uint32_t l = line, k = 0; l >= 1 && k < STEP_SCAN_MAX; l--, k++) {
        if (!(text = rb_doc_line(doc, l, &len)) || !step_start(text, len))
            continue;
        const char *above = l > 1 ? rb_doc_line(doc, l - 1, &len) : NULL;
        size_t alen = len;
        text = rb_doc_line(doc, l, &len);
        return waiver_on(text, len, rule, why, whylen) || (above && waiver_on(above, alen, rule, why, whylen));
    }
    return 0;
}

void c_waivers(checker *c, size_t from)
{
    char why[200];
    for (size_t i = from; i < c->d->count; i++) {
        const rb_diag *g = &c->d->items[i];
        if (g->sev == RB_SEV_WARNING && g->rule && g->line && waived_at(c->rb->doc, g->line, g->rule, why, sizeof why))
            rb_diag_waive(c->d, i, why, 0);
    }
}
