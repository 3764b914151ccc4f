/* report --format html: one self-contained page (inline CSS and SVG, no script, nothing
 * fetched; a Content-Security-Policy says so to the browser too). Everything from the journal
 * is hostile: made visible as rb_show_escape does, then HTML-escaped, and cut to a bound. */
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "runbook/expr.h"
#include "runbook/show.h"

#define W 1100      /* the timeline's width */
#define LEFT 120    /* its row labels */
#define ROW 26
#define TOP 34      /* its time axis */

/* Text from the journal, at most `max` bytes of it (cut at a character's start). */
static void put(FILE *f, const char *s, size_t max)
{
    if (!s)
        s = "";
    size_t n = strlen(s);
    if (n > max) {
        n = max;
        while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    size_t len;
    char *e = rb_show_escape(s, n, &len);
    for (size_t i = 0; e && i < len; i++) {
        switch (e[i]) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(e[i], f);
        }
    }
    if (e && n < strlen(s))
        fputs("…", f);
    free(e);
}

static void put_dur(FILE *f, long long ms)
{
    char b[32] = "-";
    if (ms >= 0)
        rb_duration_format(ms, b, sizeof b);
    fputs(b, f);
}

/* A CSS class from an outcome: only known words, never the journal's text. */
static const char *cls(const char *outcome)
{
    static const char *const known[] = {"succeeded", "failed", "timed_out", "skipped", "cancelled",
                                        "rolled_back", "not_run", "unfinished", NULL};
    for (size_t i = 0; outcome && known[i]; i++)
        if (!strcmp(outcome, known[i]))
            return known[i];
    return "other";
}

static const char style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2430;background:#fff}"
    "h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}"
    "code,td.step{font-family:ui-monospace,monospace}"
    "table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #e3e6ea;text-align:left;vertical-align:top}"
    "th{background:#f3f5f7}.num{text-align:right}"
    ".pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}"
    "tr.failed td,tr.timed_out td{background:#ffebe9}tr.cancelled td{background:#fff8c5}"
    ".bar rect{stroke:#1d2430;stroke-width:.5}.bar text,.axis text,.lane{font:11px ui-monospace,monospace;fill:#1d2430}"
    ".succeeded rect{fill:#8cc7a0}.failed rect,.timed_out rect{fill:#e5534b;stroke-width:2}"
    ".skipped rect,.not_run rect{fill:#d0d7de}.cancelled rect,.unfinished rect,.other rect{fill:#e3b341}"
    ".rollback rect{fill:#f0883e}.rolled rect{fill:url(#hatch)}"
    ".rto line{stroke:#cf222e;stroke-width:2;stroke-dasharray:6 4}.rto text{font:12px sans-serif;fill:#cf222e}";

static void head(FILE *f, const rep_report *r)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
          "<title>Run report: ", f);
    put(f, r->run_id, 80);
    fprintf(f, "</title>\n<style>%s</style></head>\n<body>\n<h1>Run <code id=\"run\">", style);
    put(f, r->run_id, 80);
    fputs("</code></h1>\n<p id=\"summary\">Runbook <b id=\"runbook\">", f);
    put(f, r->runbook, 80);
    fputs("</b>, started ", f);
    put(f, r->started, 40);
    fprintf(f, "%s. Status <b id=\"status\" class=\"%s\">", r->dry_run ? " (dry run)" : "",
            r->status && !strcmp(r->status, "succeeded") ? "pass" : "fail");
    put(f, r->status, 40);
    fprintf(f, "</b>. Total <b id=\"total\" data-ms=\"%lld\">", r->total_ms);
    put_dur(f, r->total_ms);
    fputs("</b>", f);
    if (r->rto_ms >= 0) {
        fprintf(f, " against the RTO of <b id=\"rto\" data-ms=\"%lld\">", r->rto_ms);
        put_dur(f, r->rto_ms);
        fprintf(f, "</b>: <span id=\"rto-verdict\" class=\"%s\">%s</span>", r->rto_met ? "pass" : "fail",
                r->rto_met ? "within" : "over");
    }
    if (r->resumed)
        fprintf(f, " Resumed %d time%s.", r->resumed, r->resumed > 1 ? "s" : "");
    fputs("</p>\n", f);
}

/* ---- the timeline ---- */

typedef struct scale {
    long long span; /* the milliseconds across the plot */
    int show_rto;   /* the RTO is on the plot (not far beyond the run) */
} scale;

static double x_of(const scale *s, long long ms)
{
    return LEFT + (double)(W - LEFT - 20) * (double)ms / (double)s->span;
}

static void bar(FILE *f, const scale *s, int row, long long start, long long d, const char *key, const char *what,
                const char *klass)
{
    double x = x_of(s, start), w = x_of(s, start + d) - x;
    if (w < 2)
        w = 2;
    int y = TOP + row * ROW + 3;
    fprintf(f, "<g class=\"bar %s\"><title>", klass);
    put(f, key, 200);
    fputs(": ", f);
    fputs(what, f);
    fputs(", ", f);
    put_dur(f, d);
    fprintf(f, "</title><rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" rx=\"2\"/>", x, y, w, ROW - 6);
    if (w >= 40) { /* a label when it fits: ~7px a character */
        fprintf(f, "<text x=\"%.1f\" y=\"%d\">", x + 3, y + ROW - 11);
        put(f, key, (size_t)(w / 7) > 3 ? (size_t)(w / 7) - 1 : 1);
        fputs("</text>", f);
    }
    fputs("</g>\n", f);
}

static void axis(FILE *f, const scale *s, int height)
{
    fputs("<g class=\"axis\">", f);
    for (int i = 0; i <= 5; i++) {
        long long ms = s->span * i / 5;
        double x = x_of(s, ms);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e3e6ea\"/><text x=\"%.1f\" y=\"%d\"%s>+", x,
                TOP - 6, x, height, i < 5 ? x + 2 : x - 2, TOP - 10, i < 5 ? "" : " text-anchor=\"end\"");
        put_dur(f, ms);
        fputs("</text>", f);
    }
    fputs("</g>\n", f);
}

static void rto_line(FILE *f, const rep_report *r, const scale *s, int height)
{
    if (r->rto_ms < 0)
        return;
    fputs("<g class=\"rto\" id=\"rto-line\">", f);
    if (s->show_rto) {
        double x = x_of(s, r->rto_ms);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/><text x=\"%.1f\" y=\"%d\" text-anchor=\"end\">RTO ",
                x, TOP - 4, x, height, x - 4, height - 4);
    } else {
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">RTO ", W - 4, TOP - 10 + 14);
    }
    put_dur(f, r->rto_ms);
    fputs(s->show_rto ? "" : " →", f);
    fputs("</text></g>\n", f);
}

static void timeline(FILE *f, const rep_report *r)
{
    scale s = {r->total_ms > 0 ? r->total_ms : 1, 0};
    for (size_t i = 0; i < r->nsteps; i++)
        if (r->steps[i].start_ms + r->steps[i].dur_ms > s.span)
            s.span = r->steps[i].start_ms + r->steps[i].dur_ms;
    for (size_t i = 0; i < r->nrollbacks; i++)
        if (r->rollbacks[i].start_ms + r->rollbacks[i].dur_ms > s.span)
            s.span = r->rollbacks[i].start_ms + r->rollbacks[i].dur_ms;
    if (r->rto_ms >= 0 && r->rto_ms <= 4 * s.span) { /* beyond, the bars would be slivers */
        s.show_rto = 1;
        if (r->rto_ms > s.span)
            s.span = r->rto_ms;
    }
    s.span += s.span / 50 + 1;
    int rows = r->lanes + (r->nrollbacks ? 1 : 0), height = TOP + (rows ? rows : 1) * ROW + 8;
    fprintf(f, "<h2>Timeline</h2>\n<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" role=\"img\">\n<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" "
               "patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#8cc7a0\"/>"
               "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#f0883e\" stroke-width=\"4\"/></pattern></defs>\n",
            W, height, W, height);
    axis(f, &s, height);
    for (int l = 0; l < rows; l++)
        if (l < r->lanes)
            fprintf(f, "<text class=\"lane\" x=\"4\" y=\"%d\">lane %d</text>\n", TOP + l * ROW + ROW - 8, l + 1);
        else
            fprintf(f, "<text class=\"lane\" x=\"4\" y=\"%d\">rollbacks</text>\n", TOP + l * ROW + ROW - 8);
    for (size_t i = 0; i < r->nsteps; i++) {
        const rep_step *p = &r->steps[i];
        char klass[48];
        snprintf(klass, sizeof klass, "%s%s", cls(p->outcome), p->rollback && !strcmp(p->rollback, "succeeded") ? " rolled" : "");
        bar(f, &s, p->lane, p->start_ms, p->dur_ms, p->key, cls(p->outcome), klass);
    }
    for (size_t i = 0; i < r->nrollbacks; i++) {
        const rep_rollback *b = &r->rollbacks[i];
        char what[48];
        snprintf(what, sizeof what, "rollback %s", cls(b->outcome));
        bar(f, &s, r->lanes, b->start_ms, b->dur_ms, b->step, what, !strcmp(b->outcome, "succeeded") ? "rollback" : "rollback failed");
    }
    rto_line(f, r, &s, height);
    fputs("</svg>\n<p>Green: succeeded; red: failed or timed out; hatched: rolled back; orange row: rollbacks; "
          "yellow: cancelled or unfinished; grey: skipped.</p>\n", f);
}

/* ---- the tables ---- */

static void steps_table(FILE *f, const rep_report *r)
{
    fputs("<h2>Steps</h2>\n<table id=\"steps\"><tr><th>step</th><th>start</th><th>duration</th><th>attempts</th>"
          "<th>outcome</th><th>rollback</th><th>message</th></tr>\n", f);
    for (size_t i = 0; i < r->nsteps; i++) {
        const rep_step *s = &r->steps[i];
        fprintf(f, "<tr class=\"%s\"><td class=\"step\">", cls(s->outcome));
        put(f, s->key, REP_TEXT_MAX);
        fprintf(f, "</td><td class=\"num\" data-ms=\"%lld\">+", s->start_ms);
        put_dur(f, s->start_ms);
        fprintf(f, "</td><td class=\"num\" data-ms=\"%lld\">", s->dur_ms);
        put_dur(f, s->dur_ms);
        fprintf(f, "</td><td class=\"num\">%lld</td><td class=\"outcome\">", s->attempts);
        put(f, s->outcome, 40);
        fputs("</td><td>", f);
        put(f, s->rollback, 40);
        fputs("</td><td>", f);
        put(f, s->message, REP_TEXT_MAX);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void confirms_table(FILE *f, const rep_report *r)
{
    fputs("<h2>Confirmations</h2>\n<table id=\"confirmations\"><tr><th>step</th><th>at</th><th>answer</th><th>by</th>"
          "<th>user</th></tr>\n", f);
    for (size_t i = 0; i < r->nconfirms; i++) {
        const rep_confirm *c = &r->confirms[i];
        fputs("<tr><td class=\"step\">", f);
        put(f, c->step, REP_TEXT_MAX);
        fputs("</td><td class=\"num\">+", f);
        put_dur(f, c->at_ms);
        const char *const cols[] = {c->answer, c->by, c->user};
        for (int k = 0; k < 3; k++) {
            fputs("</td><td>", f);
            put(f, cols[k], 80);
        }
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void rollbacks_table(FILE *f, const rep_report *r)
{
    fputs("<h2>Rollbacks</h2>\n<table id=\"rollbacks\"><tr><th>step</th><th>start</th><th>duration</th><th>outcome</th>"
          "<th>message</th></tr>\n", f);
    for (size_t i = 0; i < r->nrollbacks; i++) {
        const rep_rollback *b = &r->rollbacks[i];
        fprintf(f, "<tr class=\"%s\"><td class=\"step\">", cls(b->outcome));
        put(f, b->step, REP_TEXT_MAX);
        fputs("</td><td class=\"num\">+", f);
        put_dur(f, b->start_ms);
        fputs("</td><td class=\"num\">", f);
        put_dur(f, b->dur_ms);
        fputs("</td><td class=\"outcome\">", f);
        put(f, b->outcome, 40);
        fputs("</td><td>", f);
        put(f, b->message, REP_TEXT_MAX);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void figures_table(FILE *f, const rep_report *r)
{
    fputs("<h2>Figures</h2>\n<table id=\"figures\"><tr><th>figure</th><th>value</th><th>objective</th><th>verdict</th></tr>\n", f);
    for (size_t i = 0; i < r->nfigures; i++) {
        const rep_figure *g = &r->figures[i];
        int measured = strcmp(g->objective, "none") != 0;
        char *v = rep_value_text(g->value);
        fputs("<tr><td class=\"label\">", f);
        put(f, g->label, 200);
        fputs("</td><td class=\"value\" data-value=\"", f);
        put(f, v, REP_TEXT_MAX);
        fputs("\">", f);
        if (measured && g->value_ms >= 0)
            put_dur(f, g->value_ms);
        else
            put(f, v, REP_TEXT_MAX);
        if (g->value && g->unit && !measured) {
            fputc(' ', f);
            put(f, g->unit, 32);
        }
        free(v);
        fputs("</td><td>", f);
        if (measured) {
            fputs(!strcmp(g->objective, "rto") ? "RTO " : "RPO ", f);
            put_dur(f, g->objective_ms);
        }
        fprintf(f, "</td><td class=\"verdict %s\">%s</td></tr>\n", g->met == 1 ? "pass" : g->met == 0 ? "fail" : "",
                !measured ? "" : g->met == 1 ? "pass" : g->met == 0 ? "fail" : "unknown");
    }
    fputs("</table>\n", f);
}

void rep_write_html(FILE *f, const rep_report *r)
{
    head(f, r);
    timeline(f, r);
    steps_table(f, r);
    if (r->nconfirms)
        confirms_table(f, r);
    if (r->nrollbacks)
        rollbacks_table(f, r);
    if (r->nfigures)
        figures_table(f, r);
    if (r->truncated)
        fprintf(f, "<p>The report lists the first %d of each kind.</p>\n", REP_ITEMS_MAX);
    if (r->torn_tail)
        fputs("<p>The journal's last record was torn and is ignored.</p>\n", f);
    fputs("<p><small>Made by runbook report from the run's journal.</small></p>\n</body></html>\n", f);
}
