/* What the operator sees during a run: a line per step with its state and time, live command
 * output, retries and rollbacks, questions on the terminal, and the closing summary. */
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "runbook/expr.h"
#include "ui.h"

static const char *c(const ui_state *u, const char *code) { return u->color ? code : ""; }

static void put_ms(char *buf, size_t len, long long ms)
{
    if (ms < 1000)
        snprintf(buf, len, "%lldms", ms);
    else if (ms < 60000)
        snprintf(buf, len, "%.1fs", (double)ms / 1000.0);
    else
        rb_duration_format(ms / 1000 * 1000, buf, len);
}

static void remember(ui_state *u, const rb_event *ev)
{
    if (u->nsteps >= UI_MAX_STEPS || !ev->step)
        return;
    ui_step *s = &u->steps[u->nsteps++];
    snprintf(s->id, sizeof s->id, "%s", ev->step);
    s->outcome = ev->outcome;
    s->continued = ev->continued;
}

static void output(ui_state *u, const rb_event *ev)
{
    if (u->quiet)
        return;
    for (size_t i = 0; i < ev->len; i++) {
        if (u->line_start)
            fprintf(u->out, "%s    │ %s", c(u, "\033[2m"), c(u, "\033[0m"));
        fputc(ev->text[i], u->out);
        u->line_start = ev->text[i] == '\n';
    }
}

static void end_line(ui_state *u)
{
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
        if (!u->quiet)
            fprintf(u->out, "%s✓%s %s %s(%s%s)%s\n", c(u, "\033[32m"), c(u, "\033[0m"), ev->step, c(u, "\033[2m"), t,
                    ev->dry_run && ev->text && *ev->text ? ", dry run: not run" : "", c(u, "\033[0m"));
    } else if (ev->outcome == RB_OUT_NOT_RUN) {
        const char *why = ev->text ? ev->text : "";
        if (!strncmp(why, "undecided: ", 11))
            why += 11;
        if (!u->quiet)
            fprintf(u->out, "%s?%s %s undecided: %s\n", c(u, "\033[33m"), c(u, "\033[0m"), ev->step, why);
    } else if (ev->outcome == RB_OUT_SKIPPED) {
        if (!u->quiet)
            fprintf(u->out, "%s–%s %s skipped: %s\n", c(u, "\033[2m"), c(u, "\033[0m"), ev->step, ev->text ? ev->text : "");
    } else {
        fprintf(u->out, "%s✗%s %s %s%s: %s (%s)\n", c(u, "\033[31m"), c(u, "\033[0m"), ev->step,
                rb_outcome_name(ev->outcome), ev->continued ? ", continuing (on_failure: continue)" : "",
                ev->text && *ev->text ? ev->text : "-", t);
    }
}

static void run_end(ui_state *u, const rb_event *ev)
{
    char t[32], rto[32];
    put_ms(t, sizeof t, ev->duration_ms);
    end_line(u);
    fprintf(u->out, "\n%s%s%s%s in %s", c(u, "\033[1m"), ev->dry_run ? "Dry run " : "Run ",
            rb_outcome_name(ev->outcome), c(u, "\033[0m"), t);
    if (u->rto_ms > 0) {
        rb_duration_format(u->rto_ms, rto, sizeof rto);
        fprintf(u->out, " (RTO %s: %s)", rto, ev->duration_ms <= u->rto_ms ? "within" : "EXCEEDED");
    }
    fputc('\n', u->out);
    for (size_t i = 0; i < u->nsteps; i++)
        if (u->steps[i].continued)
            fprintf(u->out, "  failed and continued past: %s (%s)\n", u->steps[i].id, rb_outcome_name(u->steps[i].outcome));
    for (size_t i = 0; i < u->nsteps; i++)
        if (u->steps[i].outcome == RB_OUT_NOT_RUN)
            fprintf(u->out, "  undecided (only a real run can tell): %s\n", u->steps[i].id);
    if (ev->text && *ev->text)
        fprintf(u->out, "  %s\n", ev->text);
}

void ui_event(void *ctx, const rb_event *ev)
{
    ui_state *u = ctx;
    char t[32];
    switch (ev->kind) {
    case RB_EV_RUN_START:
        fprintf(u->out, "%s%s %s%s (journal: %s)\n", c(u, "\033[1m"), ev->dry_run ? "Dry run" : "Run", ev->text,
                c(u, "\033[0m"), ev->path ? ev->path : "-");
        break;
    case RB_EV_STEP_START:
        end_line(u);
        if (!u->quiet)
            fprintf(u->out, "%s▶%s %s%s%s\n", c(u, "\033[36m"), c(u, "\033[0m"), ev->step, ev->title ? " — " : "",
                    ev->title ? ev->title : "");
        break;
    case RB_EV_OUTPUT:
        output(u, ev);
        break;
    case RB_EV_RETRY:
        end_line(u);
        put_ms(t, sizeof t, ev->delay_ms);
        fprintf(u->out, "%s↻%s %s attempt %d/%d failed: %s; next in %s\n", c(u, "\033[33m"), c(u, "\033[0m"),
                ev->step, ev->attempt, ev->attempts, ev->text ? ev->text : "", t);
        break;
    case RB_EV_STEP_END:
        step_end(u, ev);
        break;
    case RB_EV_ROLLBACK:
        end_line(u);
        if (ev->outcome == RB_OUT_SKIPPED) /* irreversible, or nothing it could undo: not a failure */
            fprintf(u->out, "%s⤺%s %s not undone: %s\n", c(u, "\033[35m"), c(u, "\033[0m"), ev->step,
                    ev->text ? ev->text : "nothing to undo");
        else
            fprintf(u->out, "%s⤺%s %s %s%s%s\n", c(u, "\033[35m"), c(u, "\033[0m"), ev->step,
                    ev->outcome != RB_OUT_SUCCEEDED ? "ROLLBACK FAILED" : ev->dry_run ? "would be rolled back" : "rolled back",
                    ev->outcome == RB_OUT_SUCCEEDED ? "" : ": ", ev->outcome == RB_OUT_SUCCEEDED ? "" : ev->text ? ev->text : "");
        break;
    case RB_EV_NOTE:
        end_line(u);
        fprintf(u->out, "• %s%s%s\n", ev->step ? ev->step : "", ev->step ? ": " : "", ev->text ? ev->text : "");
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
    fprintf(stderr, "%s?%s %s: %s [y/N] ", c(u, "\033[1;33m"), c(u, "\033[0m"), step, question);
    fflush(stderr);
    char line[64];
    tcflush(STDIN_FILENO, TCIFLUSH); /* a "y" typed ahead must not answer a question not yet asked */
    if (!fgets(line, sizeof line, stdin))
        return 0; /* end of input (Ctrl-D) on a terminal: the operator did not say yes */
    return line[0] == 'y' || line[0] == 'Y';
}
