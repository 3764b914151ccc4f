/* The live line of a run on a terminal: which steps are running and for how long, redrawn in
 * place (\r, clear to end of line) about once a second, one line at most, and erased before any
 * other line is written so it never mixes with output. Never drawn when stdout is a pipe or a
 * file, on TERM=dumb, while a question waits, or in the middle of an output line. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "runbook/expr.h"
#include "runbook/show.h"
#include "ui.h"

#define TICK_MS 250       /* how often it looks; it redraws only when the text changes */
#define QUIET_MS 1000     /* a step shows no time until it has run this long, and no line is
                             drawn until this long after the last one printed */

long long ui_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ticker_step_started(ui_state *u, const char *id)
{
    ui_ticker *t = &u->tk;
    if (t->nrunning == UI_MAX_RUNNING) {
        t->uncounted++;
        return;
    }
    ui_running *r = &t->running[t->nrunning++];
    snprintf(r->id, sizeof r->id, "%s", id);
    r->since_ms = ui_now_ms();
}

void ticker_step_ended(ui_state *u, const char *id)
{
    ui_ticker *t = &u->tk;
    for (size_t i = 0; i < t->nrunning; i++)
        if (!strcmp(t->running[i].id, id)) {
            memmove(&t->running[i], &t->running[i + 1], (t->nrunning - i - 1) * sizeof *t->running);
            t->nrunning--;
            return;
        }
    if (t->uncounted)
        t->uncounted--;
}

void ticker_erase(ui_state *u)
{
    if (!u->tk.shown)
        return;
    fputs("\r\033[K", u->out);
    u->tk.shown = 0;
    u->tk.drawn[0] = 0;
}

void ticker_printed(ui_state *u) { u->tk.last_print_ms = ui_now_ms(); }

/* The terminal's width in columns (80 when it cannot tell). */
static size_t columns(FILE *f)
{
    struct winsize ws;
    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

static void elapsed(char *buf, size_t len, long long ms)
{
    rb_duration_format(ms / 1000 * 1000, buf, len);
}

/* "⋯ ID running 12s", or "⋯ 3 running: a 12s, b 3s, c 1s"; "" while nothing has run a second. */
static void compose(const ui_ticker *t, long long now, char *buf, size_t len)
{
    size_t n = t->nrunning + t->uncounted;
    buf[0] = 0;
    if (!t->nrunning || now - t->running[0].since_ms < QUIET_MS)
        return;
    char e[32];
    elapsed(e, sizeof e, now - t->running[0].since_ms);
    if (n == 1) {
        snprintf(buf, len, "⋯ %s running %s", t->running[0].id, e);
        return;
    }
    size_t at = (size_t)snprintf(buf, len, "⋯ %zu running:", n);
    for (size_t i = 0; i < t->nrunning && at < len; i++) {
        elapsed(e, sizeof e, now - t->running[i].since_ms);
        at += (size_t)snprintf(buf + at, len - at, "%s %s %s", i ? "," : "", t->running[i].id, e);
    }
}

/* Cuts s to at most `cols` characters, at a character boundary. */
static void fit(char *s, size_t cols)
{
    size_t chars = 0, i = 0;
    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xc0) == 0x80)
            continue; /* a continuation byte: part of the character already counted */
        if (chars++ == cols)
            break;
    }
    s[i] = 0;
}

static void draw(ui_state *u)
{
    ui_ticker *t = &u->tk;
    long long now = ui_now_ms();
    if (t->asking || !u->line_start || now - t->last_print_ms < QUIET_MS)
        return;
    char text[sizeof t->drawn];
    compose(t, now, text, sizeof text);
    size_t cols = columns(u->out);
    fit(text, cols > 1 ? cols - 1 : 1); /* the last column would wrap on some terminals */
    if (!strcmp(text, t->drawn))
        return;
    fputs("\r", u->out);
    rb_show(u->out, u->masker, text, strlen(text));
    fputs("\033[K", u->out);
    fflush(u->out);
    t->shown = text[0] != 0;
    snprintf(t->drawn, sizeof t->drawn, "%s", text);
}

static void *tick(void *arg)
{
    ui_state *u = arg;
    pthread_mutex_lock(&u->mu);
    while (!u->tk.stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += TICK_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&u->tk.cv, &u->mu, &ts);
        if (!u->tk.stop)
            draw(u);
    }
    pthread_mutex_unlock(&u->mu);
    return NULL;
}

void ticker_start(ui_state *u)
{
    if (!u->tk.on || u->tk.started)
        return;
    /* signals are for the executor's threads (a Ctrl-C must interrupt a question's read), never
     * the ticker's: it starts with every signal blocked */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    u->tk.started = pthread_create(&u->tk.thread, NULL, tick, u) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!u->tk.started)
        u->tk.on = 0; /* no live line, the run goes on */
}

void ticker_stop(ui_state *u)
{
    pthread_mutex_lock(&u->mu);
    int started = u->tk.started;
    u->tk.stop = 1;
    u->tk.started = 0;
    pthread_cond_signal(&u->tk.cv);
    pthread_mutex_unlock(&u->mu);
    if (started)
        pthread_join(u->tk.thread, NULL);
    pthread_mutex_lock(&u->mu);
    ticker_erase(u);
    fflush(u->out);
    pthread_mutex_unlock(&u->mu);
}
