/* What the operator sees during a run: a line per step with its state and time, live command
 * output, retries and rollbacks, questions on the terminal, and the closing summary. */
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "runbook/expr.h"
#include "runbook/show.h"
#include "ui.h"

/* --timestamps: the local time with milliseconds and the UTC offset, ISO 8601
 * ("2026-12-07T03:12:45.123+01:00 "), at the start of each line. */
static void stamp_to(const ui_state *u, FILE *f)
{
    if (!u->timestamps)
        return;
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    char day[32], zone[8];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    strftime(zone, sizeof zone, "%z", &tm); /* +hhmm: written +hh:mm, as the extended format wants */
    fprintf(f, "%s.%03ld%.3s:%.2s ", day, ts.tv_nsec / 1000000L, zone, zone[0] ? zone + 3 : "");
}

/* Every line starts here: the live line goes first, then the time when asked for. */
static void begin_line(ui_state *u, FILE *f)
{
    ticker_erase(u);
    ticker_printed(u);
    stamp_to(u, f);
}

/* Colour codes are the program's own: written as they are, never through the escaping. */
static void paint(const ui_state *u, const char *code)
{
    if (u->color)
        fputs(code, u->out);
}

/* A symbol in its colour, then the rest of the line (outside text escaped and masked). */
static void line(ui_state *u, FILE *f, const char *code, const char *symbol, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void line(ui_state *u, FILE *f, const char *code, const char *symbol, const char *fmt, ...)
{
    begin_line(u, f);
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
        begin_line(u, u->out);
        paint(u, "\033[2m");
        fputs("    │ ", u->out);
        if (u->show_ids) /* steps side by side: each line says whose it is */
            rb_showf(u->out, u->masker, "%s: ", u->out_step);
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

/* Another step's (or stream's) output ends the line in progress: two never share a line. */
static void take_line(ui_state *u, const char *step, int stream)
{
    if (!u->line_start && (strcmp(u->out_step, step) || u->out_stream != stream)) {
        fputc('\n', u->out);
        u->line_start = 1;
    }
    snprintf(u->out_step, sizeof u->out_step, "%s", step);
    u->out_stream = stream;
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
    take_line(u, step, ev->stream);
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

/* "✗ db timed out: ...": the outcome in plain words; a reason that only repeats the outcome's
 * journal name ("cancelled") is left out rather than shown as "cancelled: cancelled". */
static void failure_line(ui_state *u, const rb_event *ev, const char *t)
{
    const char *why = ev->text && *ev->text ? ev->text : NULL;
    if (why && !strcmp(why, rb_outcome_name(ev->outcome)))
        why = NULL;
    line(u, u->out, "\033[31m", "✗", " %s %s%s%s%s (%s)\n", ev->step, rb_outcome_words(ev->outcome),
         ev->continued ? ", continuing (on_failure: continue)" : "", why ? ": " : "", why ? why : "", t);
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
        failure_line(u, ev, t);
    }
}

/* The run's ending in plain words, from the executor's counts: a failed rollback, a rollback
 * with nothing to undo and a clean one must never read alike. */
static void ending_words(const rb_event *ev, char *buf, size_t len)
{
    const rb_run_ending *e = &ev->ending;
    if (ev->outcome == RB_OUT_SUCCEEDED && e->continued)
        snprintf(buf, len, "succeeded with %d failed-and-continued step%s", e->continued, e->continued == 1 ? "" : "s");
    else if (ev->outcome == RB_OUT_SUCCEEDED || ev->outcome == RB_OUT_CANCELLED || !e->rollback)
        snprintf(buf, len, "%s", rb_outcome_words(ev->outcome == RB_OUT_ROLLED_BACK ? RB_OUT_FAILED : ev->outcome));
    else if (e->undo_tried == 0)
        snprintf(buf, len, "failed (nothing to roll back)");
    else if (ev->dry_run)
        snprintf(buf, len, "failed (a real run would roll back %d step%s)", e->undo_tried, e->undo_tried == 1 ? "" : "s");
    else if (e->undo_failed)
        snprintf(buf, len, "failed — rollback incomplete (%d of %d undo steps failed)", e->undo_failed, e->undo_tried);
    else
        snprintf(buf, len, "rolled back");
}

/* A line of plain text (the summary, a note), started like every line: live line erased, time stamped. */
static void text_line(ui_state *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_line(ui_state *u, const char *fmt, ...)
{
    begin_line(u, u->out);
    va_list ap;
    va_start(ap, fmt);
    rb_vshowf(u->out, u->masker, fmt, ap);
    va_end(ap);
}

/* What the summary lists (continued past, undecided, why it failed), then the ending: the last
 * line is always the one that says how the run ended. */
static void run_details(ui_state *u, const rb_event *ev)
{
    for (size_t i = 0; i < u->nsteps; i++)
        if (u->steps[i].continued)
            text_line(u, "  failed and continued past: %s (%s)\n", u->steps[i].id,
                         rb_outcome_words(u->steps[i].outcome));
    for (size_t i = 0; i < u->nsteps; i++)
        if (u->steps[i].outcome == RB_OUT_NOT_RUN)
            text_line(u, "  undecided (only a real run can tell): %s\n", u->steps[i].id);
    if (u->unlisted)
        text_line(u, "  and %zu more steps continued past or undecided (runbook journal lists them all)\n",
                     u->unlisted);
    if (ev->text && *ev->text)
        text_line(u, "  %s\n", ev->text);
}

static void run_end(ui_state *u, const rb_event *ev)
{
    char t[32], rto[32], words[128];
    put_ms(t, sizeof t, ev->duration_ms);
    end_line(u);
    ticker_erase(u);
    fputc('\n', u->out);
    run_details(u, ev);
    ending_words(ev, words, sizeof words);
    begin_line(u, u->out);
    paint(u, "\033[1m");
    rb_showf(u->out, u->masker, "%s%s", ev->dry_run ? "Dry run " : "Run ", words);
    paint(u, "\033[0m");
    rb_showf(u->out, u->masker, " in %s", t);
    if (u->rto_ms > 0) {
        rb_duration_format(u->rto_ms, rto, sizeof rto);
        rb_showf(u->out, u->masker, " (RTO %s: %s)", rto, ev->duration_ms <= u->rto_ms ? "within" : "EXCEEDED");
    }
    fputc('\n', u->out);
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

/* A dry run's "would run: ..." and a file step's diff, one line at a time, each indented under
 * its step (and timestamped), the diff's added and removed lines in colour. */
static void preview(ui_state *u, const rb_event *ev)
{
    const char *p = ev->text ? ev->text : "";
    end_line(u);
    while (!u->quiet && *p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        int added = p[0] == '+' && strncmp(p, "+++", 3), removed = p[0] == '-' && strncmp(p, "---", 3);
        begin_line(u, u->out);
        fputs("    ", u->out);
        if (u->show_ids) /* steps side by side: each line says whose it is */
            rb_showf(u->out, u->masker, "%s: ", ev->step ? ev->step : "");
        paint(u, added ? "\033[32m" : removed ? "\033[31m" : !strncmp(p, "@@", 2) ? "\033[36m" : "");
        rb_show(u->out, u->masker, p, n);
        paint(u, "\033[0m");
        fputc('\n', u->out);
        p += n + (nl != NULL);
    }
}

static void run_start(ui_state *u, const rb_event *ev)
{
    begin_line(u, u->out);
    paint(u, "\033[1m");
    rb_showf(u->out, u->masker, "%s %s", ev->dry_run ? "Dry run" : "Run", ev->text ? ev->text : "");
    paint(u, "\033[0m");
    rb_showf(u->out, u->masker, " (journal: %s)\n", ev->path ? ev->path : "-");
}

static void step_start(ui_state *u, const rb_event *ev)
{
    end_line(u);
    if (u->quiet)
        return;
    line(u, u->out, "\033[36m", "▶", " %s%s%s\n", ev->step, ev->title ? " — " : "", ev->title ? ev->title : "");
    ticker_step_started(u, ev->step);
    ticker_start(u);
}

static void note(ui_state *u, const rb_event *ev)
{
    end_line(u);
    text_line(u, "• %s%s%s\n", ev->step ? ev->step : "", ev->step ? ": " : "", ev->text ? ev->text : "");
}

static void retry(ui_state *u, const rb_event *ev)
{
    char t[32];
    end_line(u);
    put_ms(t, sizeof t, ev->delay_ms);
    line(u, u->out, "\033[33m", "↻", " %s attempt %d/%d failed: %s; next in %s\n", ev->step, ev->attempt,
         ev->attempts, ev->text ? ev->text : "", t);
}

static void dispatch(ui_state *u, const rb_event *ev)
{
    switch (ev->kind) {
    case RB_EV_RUN_START:
        run_start(u, ev);
        break;
    case RB_EV_STEP_START:
        step_start(u, ev);
        break;
    case RB_EV_OUTPUT:
        output(u, ev);
        break;
    case RB_EV_RETRY:
        retry(u, ev);
        break;
    case RB_EV_STEP_END:
        ticker_step_ended(u, ev->step ? ev->step : "");
        step_end(u, ev);
        break;
    case RB_EV_ROLLBACK:
        rollback(u, ev);
        break;
    case RB_EV_NOTE:
        note(u, ev);
        break;
    case RB_EV_PREVIEW:
        preview(u, ev);
        break;
    case RB_EV_RUN_END:
        u->tk.nrunning = u->tk.uncounted = 0; /* nothing runs any more: the live line stays away */
        run_end(u, ev);
        break;
    }
}

void ui_event(void *ctx, const rb_event *ev)
{
    ui_state *u = ctx;
    pthread_mutex_lock(&u->mu);
    dispatch(u, ev);
    fflush(u->out);
    pthread_mutex_unlock(&u->mu);
}

int ui_terminal(void) { return isatty(STDIN_FILENO) && isatty(STDERR_FILENO); }

/* Waits (bounded) until a pipe on `f` is drained: under `run ... | tee log` the step's header
 * must reach the screen through tee before the question does, straight on stderr. */
static void drain_pipe(FILE *f)
{
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISFIFO(st.st_mode))
        return;
    for (int waited = 0; waited < 1000; waited += 10) {
        int pending = 0;
        if (ioctl(fileno(f), FIONREAD, &pending) != 0 || pending <= 0)
            break;
        poll(NULL, 0, 10);
    }
    poll(NULL, 0, 20); /* the reader took it: give it the moment to write it out */
}

int ui_ask(void *ctx, const char *step, const char *question)
{
    ui_state *u = ctx;
    if (!ui_terminal())
        return -1;
    pthread_mutex_lock(&u->mu);
    end_line(u);
    ticker_erase(u);
    fflush(u->out);
    drain_pipe(u->out);
    u->tk.asking = 1;
    /* the question is escaped after rendering: a value in it cannot redraw it */
    line(u, stderr, "\033[1;33m", "?", " %s: %s [y/N] ", step, question);
    fflush(stderr);
    pthread_mutex_unlock(&u->mu);
    char answer[64];
    tcflush(STDIN_FILENO, TCIFLUSH); /* a "y" typed ahead must not answer a question not yet asked */
    /* Ctrl-C is an interrupt, not a "no": the signal may land on another thread, so the wait
     * looks at the run's interrupt flag rather than at read's EINTR alone */
    struct pollfd in = {STDIN_FILENO, POLLIN, 0};
    int ready = 0;
    while (!rb_exec_interrupted() && !ready)
        ready = poll(&in, 1, 200) > 0;
    char *got = ready && !rb_exec_interrupted() ? fgets(answer, sizeof answer, stdin) : NULL;
    pthread_mutex_lock(&u->mu);
    u->tk.asking = 0;
    ticker_printed(u);
    pthread_mutex_unlock(&u->mu);
    if (got)
        return answer[0] == 'y' || answer[0] == 'Y';
    if (!rb_exec_interrupted())
        return 0; /* end of input (Ctrl-D) on a terminal: the operator did not say yes */
    rb_showf(stderr, NULL, "^C\n");
    return -2;
}

void ui_init(ui_state *u, FILE *out, int ticker)
{
    memset(u, 0, sizeof *u);
    u->out = out;
    u->line_start = 1;
    const char *term = getenv("TERM");
    u->tk.on = ticker && isatty(fileno(out)) && term && *term && strcmp(term, "dumb");
    pthread_mutex_init(&u->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the ticker's waits follow the monotonic clock */
    pthread_cond_init(&u->tk.cv, &ca);
    pthread_condattr_destroy(&ca);
}

void ui_cleanup(ui_state *u)
{
    ticker_stop(u);
    pthread_cond_destroy(&u->tk.cv);
    pthread_mutex_destroy(&u->mu);
}
