/* What the operator sees during a run: a line per step with its state and time, live command
 * output, retries and rollbacks, questions on the terminal, and the closing summary. */
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "runbook/expr.h"
#include "runbook/show.h"
#include "ui.h"

/* Colour codes are the program's own: written as they are, never through the escaping. */
static void paint(const ui_state *u, const char *code)
{
    if (u->color)
        fputs(code, u->out);
}

/* A symbol in its colour, then the rest of the line (outside text escaped and masked). */
static void line(const ui_state *u, FILE *f, const char *code, const char *symbol, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void line(const ui_state *u, FILE *f, const char *code, const char *symbol, const char *fmt, ...)
{
    if (u->color)
        fputs(code, f);
    fputs(symbol, f);
    if (u->color)
        fputs("\033[0m", f);
    va_list ap;
    va_start(ap, fmt);
    rb_vshowf(f, u->masker, fmt, ap);
    va_end(ap);
}

static void put_ms(char *buf, size_t len, long long ms)
{
    if (ms < 1000)
        snprintf(buf, len, "%lldms", ms);
    else if (ms < 60000)
        snprintf(buf, len, "%.1fs", (double)ms / 1000.0);
    else
        rb_duration_format(ms / 1000 * 1000, buf, len);
}

/* Only what the summary names is kept (a step continued past or undecided), so a long run of
 * good steps cannot crowd them out; past the bound they are counted and the count is shown. */
static void remember(ui_state *u, const rb_event *ev)
{
    if (!ev->step || (!ev->continued && ev->outcome != RB_OUT_NOT_RUN))
        return;
    if (u->nsteps >= UI_MAX_STEPS) {
        u->unlisted++;
        return;
    }
    ui_step *s = &u->steps[u->nsteps++];
    snprintf(s->id, sizeof s->id, "%s", ev->step);
    s->outcome = ev->outcome;
    s->continued = ev->continued;
}

/* Writes a piece of one line of output (escaped: no output can move the cursor or rewrite
 * what is on the screen, a question included). */
static void output_piece(ui_state *u, const char *s, size_t len)
{
    if (!len)
        return;
    if (u->line_start) {
        paint(u, "\033[2m");
        fputs("    │ ", u->out);
        paint(u, "\033[0m");
    }
    rb_show(u->out, u->masker, s, len);
    u->line_start = s[len - 1] == '\n';
}

/* The held end of an unfinished UTF-8 character, shown escaped when another step's output
 * comes in between (a character is never completed by someone else's bytes). */
static void drop_carry(ui_state *u)
{
    output_piece(u, u->carry, u->ncarry);
    u->ncarry = 0;
}

static void output(ui_state *u, const rb_event *ev)
{
    if (u->quiet)
        return;
    const char *step = ev->step ? ev->step : "";
    if (u->ncarry && (strcmp(u->carry_step, step) || u->carry_stream != ev->stream))
        drop_carry(u);
    char *text = malloc(u->ncarry + ev->len + 1);
    if (!text)
        return;
    memcpy(text, u->carry, u->ncarry);
    memcpy(text + u->ncarry, ev->text, ev->len);
    size_t len = u->ncarry + ev->len;
    u->ncarry = rb_show_incomplete_tail(text, len);
    len -= u->ncarry;
    memcpy(u->carry, text + len, u->ncarry);
    snprintf(u->carry_step, sizeof u->carry_step, "%s", step);
    u->carry_stream = ev->stream;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (text + at)) + 1 : len - at;
        output_piece(u, text + at, n);
        at += n;
    }
    free(text);
}

static void end_line(ui_state *u)
{
    if (u->ncarry)
        drop_carry(u);
    if (!u->line_start)
        fputc('\n', u->out);
    u->line_start = 1;
}

static void step_end(ui_state *u, const rb_event *ev)
{
    char t[32];
    put_ms(t, sizeof t, ev->duration_ms);
    remember(u, ev);
    end_line(u);
    if (ev->outcome == RB_OUT_SUCCEEDED) {
        if (!u->quiet) {
            line(u, u->out, "\033[32m", "✓", " %s ", ev->step);
            paint(u, "\033[2m");
            rb_showf(u->out, u->masker, "(%s%s)", t, ev->dry_run && ev->text && *ev->text ? ", dry run: not run" : "");
            paint(u, "\033[0m");
            fputc('\n', u->out);
        }
    } else if (ev->outcome == RB_OUT_NOT_RUN) {
        const char *why = ev->text ? ev->text : "";
        if (!strncmp(why, "undecided: ", 11))
            why += 11;
        if (!u->quiet)
            line(u, u->out, "\033[33m", "?", " %s undecided: %s\n", ev->step, why);
    } else if (ev->outcome == RB_OUT_SKIPPED) {
        if (!u->quiet) {
            line(u, u->out, "\033[2m", "–", " %s skipped: %s\n", ev->step, ev->text ? ev->text : "");
        }
    } else {
        line(u, u->out, "\033[31m", "✗", " %s %s%s: %s (%s)\n", ev->step, rb_outcome_name(ev->outcome),
             ev->continued ? ", continuing (on_failure: continue)" : "", ev->text && *ev->text ? ev->text : "-", t);
    }
}

static void run_end(ui_state *u, const rb_event *ev)
{
    char t[32], rto[32];
    put_ms(t, sizeof t, ev->duration_ms);
    end_line(u);
    fputc('\n', u->out);
    paint(u, "\033[1m");
    rb_showf(u->out, u->masker, "%s%s", ev->dry_run ? "Dry run " : "Run ", rb_outcome_name(ev->outcome));
    paint(u, "\033[0m");
    rb_showf(u->out, u->masker, " in %s", t);
    if (u->rto_ms > 0) {
        rb_duration_format(u->rto_ms, rto, sizeof rto);
        rb_showf(u->out, u->masker, " (RTO %s: %s)", rto, ev->duration_ms <= u->rto_ms ? "within" : "EXCEEDED");
    }
    fputc('\n', u->out);
    for (size_t i = 0; i < u->nsteps; i++)
        if (u->steps[i].continued)
            rb_showf(u->out, u->masker, "  failed and continued past: %s (%s)\n", u->steps[i].id,
                     rb_outcome_name(u->steps[i].outcome));
    for (size_t i = 0; i < u->nsteps; i++)
        if (u->steps[i].outcome == RB_OUT_NOT_RUN)
            rb_showf(u->out, u->masker, "  undecided (only a real run can tell): %s\n", u->steps[i].id);
    if (u->unlisted)
        rb_showf(u->out, u->masker, "  and %zu more steps continued past or undecided (runbook journal lists them all)\n",
                 u->unlisted);
    if (ev->text && *ev->text)
        rb_showf(u->out, u->masker, "  %s\n", ev->text);
}

static void rollback(ui_state *u, const rb_event *ev)
{
    end_line(u);
    if (ev->outcome == RB_OUT_SKIPPED) /* irreversible, or nothing it could undo: not a failure */
        line(u, u->out, "\033[35m", "⤺", " %s not undone: %s\n", ev->step, ev->text ? ev->text : "nothing to undo");
    else if (ev->outcome == RB_OUT_SUCCEEDED)
        line(u, u->out, "\033[35m", "⤺", " %s %s\n", ev->step, ev->dry_run ? "would be rolled back" : "rolled back");
    else
        line(u, u->out, "\033[35m", "⤺", " %s ROLLBACK FAILED: %s\n", ev->step, ev->text ? ev->text : "");
}

void ui_event(void *ctx, const rb_event *ev)
{
    ui_state *u = ctx;
    char t[32];
    switch (ev->kind) {
    case RB_EV_RUN_START:
        paint(u, "\033[1m");
        rb_showf(u->out, u->masker, "%s %s", ev->dry_run ? "Dry run" : "Run", ev->text ? ev->text : "");
        paint(u, "\033[0m");
        rb_showf(u->out, u->masker, " (journal: %s)\n", ev->path ? ev->path : "-");
        break;
    case RB_EV_STEP_START:
        end_line(u);
        if (!u->quiet)
            line(u, u->out, "\033[36m", "▶", " %s%s%s\n", ev->step, ev->title ? " — " : "", ev->title ? ev->title : "");
        break;
    case RB_EV_OUTPUT:
        output(u, ev);
        break;
    case RB_EV_RETRY:
        end_line(u);
        put_ms(t, sizeof t, ev->delay_ms);
        line(u, u->out, "\033[33m", "↻", " %s attempt %d/%d failed: %s; next in %s\n", ev->step, ev->attempt,
             ev->attempts, ev->text ? ev->text : "", t);
        break;
    case RB_EV_STEP_END:
        step_end(u, ev);
        break;
    case RB_EV_ROLLBACK:
        rollback(u, ev);
        break;
    case RB_EV_NOTE:
        end_line(u);
        rb_showf(u->out, u->masker, "• %s%s%s\n", ev->step ? ev->step : "", ev->step ? ": " : "",
                 ev->text ? ev->text : "");
        break;
    case RB_EV_RUN_END:
        run_end(u, ev);
        break;
    }
    fflush(u->out);
}

int ui_terminal(void) { return isatty(STDIN_FILENO) && isatty(STDERR_FILENO); }

int ui_ask(void *ctx, const char *step, const char *question)
{
    ui_state *u = ctx;
    if (!ui_terminal())
        return -1;
    end_line(u);
    fflush(u->out);
    /* the question is escaped after rendering: a value in it cannot redraw it */
    line(u, stderr, "\033[1;33m", "?", " %s: %s [y/N] ", step, question);
    fflush(stderr);
    char answer[64];
    tcflush(STDIN_FILENO, TCIFLUSH); /* a "y" typed ahead must not answer a question not yet asked */
    /* Ctrl-C is an interrupt, not a "no": the signal may land on another thread, so the wait
     * looks at the run's interrupt flag rather than at read's EINTR alone */
    struct pollfd in = {STDIN_FILENO, POLLIN, 0};
    int ready = 0;
    while (!rb_exec_interrupted() && !ready)
        ready = poll(&in, 1, 200) > 0;
    if (ready && !rb_exec_interrupted() && fgets(answer, sizeof answer, stdin))
        return answer[0] == 'y' || answer[0] == 'Y';
    if (!rb_exec_interrupted())
        return 0; /* end of input (Ctrl-D) on a terminal: the operator did not say yes */
    rb_showf(stderr, NULL, "^C\n");
    return -2;
}
