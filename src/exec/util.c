/* Small pieces the executor's files share: clocks, cancellable waits, journaling, events,
 * the expression scope. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"


long long now_ms(void) { return rb_act_now_ms(); }

int wait_or_cancel(const rb_proc_cancel_token *cancel, long long ms)
{
    long long end = now_ms() + ms;
    for (;;) {
        if (cancel && rb_proc_cancel_requested(cancel))
            return 1;
        long long left = end - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {cancel ? cancel->fds[0] : -1, POLLIN, 0};
        poll(&p, 1, left > 1000 ? 1000 : (int)left);
    }
}

int journal(run *r, const char *type, json_t *fields)
{
    int rc = r->journal_failed ? -1 : rb_journal_append_nosync(r->journal, type, fields);
    if (rc != 0 && !r->journal_failed) {
        for (run *p = r; p; p = p->parent) { /* the journal is the whole call tree's */
            p->journal_failed = 1;
            p->stopping = 1;
            rb_proc_cancel(p->cancel);
        }
        char text[200];
        snprintf(text, sizeof text, "the journal cannot be written (%s): stopping the run", strerror(errno));
        rb_event ev = {.kind = RB_EV_NOTE, .text = text};
        emit(r, &ev);
    }
    json_decref(fields);
    return rc;
}

/* Every record so far on disk: called right before an action acts on the world. */
int journal_sync(run *r)
{
    if (r->journal_failed || rb_journal_sync(r->journal) == 0)
        return r->journal_failed ? -1 : 0;
    r->journal_failed = 1;
    r->stopping = 1;
    rb_proc_cancel(r->cancel);
    return -1;
}

/* Messages can quote what a command or server said, so they are masked like output
 * (RB_EV_OUTPUT chunks arrive masked by their stream already). */
static char *mask_text(run *r, const char *s)
{
    size_t n;
    return s ? rb_mask_apply(r->masker, s, strlen(s), &n) : NULL;
}

void emit(run *r, const rb_event *ev)
{
    if (!r->o->ui.event)
        return;
    if (!r->masker) {
        r->o->ui.event(r->o->ui.ctx, ev);
        return;
    }
    rb_event copy = *ev;
    char *text = ev->kind == RB_EV_OUTPUT ? NULL : mask_text(r, ev->text), *title = mask_text(r, ev->title);
    if (ev->kind != RB_EV_OUTPUT && ev->text)
        copy.text = text ? text : "(message withheld)";
    if (ev->title)
        copy.title = title ? title : "(title withheld)";
    r->o->ui.event(r->o->ui.ctx, &copy);
    free(text);
    free(title);
}

void step_key(const run *r, const rb_step *s, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", r->prefix, s->id ? s->id : "?");
}

/* A side file's name is one path component, and two steps must never share one: '_' is
 * written "_u" and '/' (a called runbook's step) "_s", so "app/cfg" and "app_cfg" differ. */
void side_key(const run *r, const rb_step *s, char *buf, size_t len)
{
    char key[320];
    step_key(r, s, key, sizeof key);
    size_t o = 0;
    for (const char *p = key; *p && o + 3 < len; p++) {
        if (*p == '_' || *p == '/') {
            buf[o++] = '_';
            buf[o++] = *p == '_' ? 'u' : 's';
        } else {
            buf[o++] = *p;
        }
    }
    buf[o] = 0;
}

static json_t *lookup(void *ctx, const char *root)
{
    run *r = ctx;
    if (!strcmp(root, "inputs"))
        return r->inputs;
    if (!strcmp(root, "secrets"))
        return r->secrets;
    if (!strcmp(root, "steps"))
        return r->steps;
    if (!strcmp(root, "env"))
        return r->env;
    if (!strcmp(root, "run"))
        return r->runobj;
    if (!strcmp(root, "runbook"))
        return r->rbobj;
    if (!strcmp(root, "each"))
        return exec_current_each();
    return NULL;
}

rb_scope run_scope(run *r) { return (rb_scope){lookup, r, NULL}; }
