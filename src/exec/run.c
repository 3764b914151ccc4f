/* A run: secrets, lock and journal set up; the scheduler that starts steps whose dependencies
 * are done (up to --jobs at once); the failure policy's rollbacks; the run's end. */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "runbook/privdir.h"
#include "runbook/values.h"

extern char **environ;

static rb_proc_cancel_token *volatile current_cancel;
static volatile sig_atomic_t interrupted;

void rb_exec_interrupt(void)
{
    interrupted = 1;
    rb_proc_cancel_token *t = current_cancel;
    if (t)
        rb_proc_cancel(t);
}

rb_proc_cancel_token *exec_set_cancel(rb_proc_cancel_token *t)
{
    rb_proc_cancel_token *was = current_cancel;
    current_cancel = t;
    return was;
}
int exec_interrupted(void) { return interrupted; }
int rb_exec_interrupted(void) { return interrupted; }

uint64_t rb_content_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a: detects edits, not an adversary */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static void on_signal(int sig)
{
    (void)sig;
    rb_exec_interrupt();
}

void rb_exec_install_signals(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A dropped SSH session or a closed terminal must not kill the run and free its lock while
     * a step's processes go on: it stops the run like SIGTERM, journaled, resumable. */
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* The user's home: $HOME, else the password database's entry for the effective user; never a
 * shared folder such as /tmp, where another user could have made the state folder first. */
static const char *home_dir(void)
{
    const char *home = getenv("HOME");
    if (home && home[0] == '/')
        return home;
    struct passwd *pw = getpwuid(geteuid());
    return pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
}

char *rb_exec_default_state_dir(void)
{
    const char *xdg = getenv("XDG_STATE_HOME"), *home;
    char buf[4096];
    if (xdg && xdg[0] == '/') /* a relative one is to be ignored (XDG base directory spec) */
        snprintf(buf, sizeof buf, "%s/runbook", xdg);
    else if ((home = home_dir()))
        snprintf(buf, sizeof buf, "%s/.local/state/runbook", home);
    else
        return NULL;
    return strdup(buf);
}

/* ---- secrets ---- */

#define SECRET_FILE_MAX (64 * 1024)

static char *expand_home(const char *path)
{
    const char *home = getenv("HOME");
    if (path[0] != '~' || path[1] != '/' || !home)
        return strdup(path);
    size_t n = strlen(home) + strlen(path);
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s", home, path + 1);
    return p;
}

static char *read_secret_file(const char *path, char *err, size_t len)
{
    char *full = expand_home(path);
    FILE *f = full ? fopen(full, "r") : NULL;
    free(full);
    if (!f) {
        snprintf(err, len, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(SECRET_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, SECRET_FILE_MAX + 1, f) : 0;
    fclose(f);
    if (!buf || n > SECRET_FILE_MAX) {
        snprintf(err, len, "%s is larger than 64 KiB", path);
        free(buf);
        return NULL;
    }
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--; /* files written by editors end in a newline that is not part of the secret */
    buf[n] = 0;
    return buf;
}

/* 1 when v is `name`, or one of its words (its runs of letters and digits). */
static int word_of(const char *name, const char *v, size_t vlen)
{
    if (!name)
        return 0;
    if (!strcmp(name, v))
        return 1;
    for (const char *p = name; *p;) {
        size_t n = 0;
        while (p[n] && ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= '0' && p[n] <= '9')))
            n++;
        if (n == vlen && !memcmp(p, v, n))
            return 1;
        p += n ? n : 1;
    }
    return 0;
}

static int word_in_list(const char *const *names, const char *v, size_t vlen)
{
    for (size_t i = 0; names && names[i]; i++)
        if (word_of(names[i], v, vlen))
            return 1;
    return 0;
}

/* 1 when v is a word of one of the runbook's own names: ids, keys, output fields. */
static int word_of_runbook(const rb_runbook *rb, const char *v, size_t vlen)
{
    int hit = word_of(rb->name, v, vlen) || word_of(rb->lock, v, vlen);
    for (size_t i = 0; !hit && i < rb->ninputs; i++)
        hit = word_of(rb->inputs[i].name, v, vlen);
    for (size_t i = 0; !hit && i < rb->nsecrets; i++)
        hit = word_of(rb->secrets[i].name, v, vlen);
    for (size_t i = 0; !hit && i < rb->ntargets; i++)
        hit = word_of(rb->targets[i].name, v, vlen);
    for (size_t i = 0; !hit && i < rb->nsteps; i++) {
        const rb_step *s = &rb->steps[i];
        hit = word_of(s->id, v, vlen) || (s->main.action.type && word_in_list(s->main.action.type->outputs, v, vlen));
        for (size_t k = 0; !hit && k < s->main.ncaptures; k++)
            hit = word_of(s->main.captures[k].name, v, vlen);
    }
    return hit;
}

/* Names of the journal's own structure (record types, field names, outcomes). */
static const char *const journal_words[] = {
    "seq", "ts", "type", "crc", "step", "outcome", "attempt", "attempts", "duration", "duration_ms", "message",
    "reason", "outputs", "error", "exit_code", "status", "run_start", "run_end", "step_start", "step_end",
    "attempt_start", "attempt_end", "confirm", "rollback_start", "rollback_end", "rollback_begin", "note",
    "resume", "interrupted", "runbook", "lock", "path", "hash", "inputs", "dry_run", "pid", "user", "rto_ms", "rpo_ms",
    "report", "label", "field", "objective", "unit",
    "by", "answer", "steps", "scope", "cause", "continued", "verified", "undecided", "succeeded", "failed",
    "timed_out", "skipped", "cancelled", "rolled_back", "not_run", "marked_done", "skipped_by", "from",
    "outputs_from", "retry_failed", "sudo_user", "process", "kind", "pgid", "start_time", "boot_id", NULL};

/* A secret that cannot be masked without rewriting what is around it is refused before any
 * step: a short one is found inside ordinary words and numbers, and one that is a word of the
 * runbook's own names would be masked out of every message that names them. The message names
 * the secret, never its value (nor the word it equals, which would give it away). */
static int unmaskable_secret(const run *r, const rb_secret *s, const char *v, char *err, size_t len)
{
    size_t n = strlen(v);
    if (n < RB_SECRET_MIN_LEN)
        return snprintf(err, len, "secret \"%s\" is shorter than %d bytes: it would be masked inside ordinary words and numbers; use a longer, random value", s->name, RB_SECRET_MIN_LEN), 1;
    int hit = word_in_list(journal_words, v, n) || word_in_list(rb_common_outputs, v, n);
    for (const run *p = r; !hit && p; p = p->parent)
        hit = word_of_runbook(p->rb, v, n);
    if (hit)
        return snprintf(err, len, "secret \"%s\" equals a word of the runbook's own ids and keys (step ids, inputs, secrets, targets, outputs or the journal's fields): masking it would rewrite them; use a longer, random value", s->name), 1;
    return 0;
}

/* Reads every declared secret into `out` and the masker. In a dry run a missing one is
 * unknown; in a real run it is an input error. */
int load_secrets(run *r, char *err, size_t len)
{
    r->secrets = json_object();
    for (size_t i = 0; i < r->rb->nsecrets; i++) {
        const rb_secret *s = &r->rb->secrets[i];
        char why[256] = "";
        char *v = NULL;
        if (s->env) {
            const char *e = getenv(s->env);
            v = e && *e ? strdup(e) : NULL;
            if (!v)
                snprintf(why, sizeof why, "environment variable %s is not set", s->env);
        } else if (s->file)
            v = read_secret_file(s->file, why, sizeof why);
        if (!v && !r->o->dry_run) {
            snprintf(err, len, "secret \"%s\": %s", s->name, why);
            return -1;
        }
        if (v && unmaskable_secret(r, s, v, err, len)) {
            free(v);
            return -1;
        }
        if (v && rb_masker_add(r->masker, v, strlen(v)) < 0) {
            /* a secret that cannot be masked must not be used at all */
            snprintf(err, len, "secret \"%s\" cannot be masked (%s)", s->name,
                     strlen(v) > RB_MASK_MAX_SECRET ? "longer than 64 KiB" : "out of memory");
            free(v);
            return -1;
        }
        json_object_set_new(r->secrets, s->name, v ? json_string(v) : json_incref(rb_unknown()));
        free(v);
    }
    return 0;
}

/* A called runbook's secrets read as its call will read them (under `caller`'s chain, for the
 * word check), into a masker of their own that is let go at once: preflight. 0, or -1 with
 * the reason in err, which names the secret, never its value. */
int exec_secrets_ready(const rb_runbook *rb, run *caller, char *err, size_t len)
{
    run probe;
    memset(&probe, 0, sizeof probe);
    probe.rb = rb, probe.o = caller->o, probe.parent = caller;
    probe.masker = rb_masker_new();
    int rc = probe.masker ? load_secrets(&probe, err, len) : (snprintf(err, len, "out of memory"), -1);
    json_decref(probe.secrets);
    rb_masker_free(probe.masker);
    return rc;
}

static json_t *env_object(void)
{
    json_t *o = json_object();
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        char *name = strndup(*e, (size_t)(eq - *e));
        json_t *v = rb_json_string_lossy(eq + 1, strlen(eq + 1));
        if (name && v)
            json_object_set_new(o, name, v);
        else
            json_decref(v);
        free(name);
    }
    return o;
}

/* ---- scheduling ---- */

static int deps_finished(run *r, size_t i)
{
    for (size_t k = 0; k < r->g->ndeps[i]; k++)
        if (!r->st[r->g->deps[i][k]].finished)
            return 0;
    return 1;
}

static void start_ready(run *r)
{
    for (size_t k = 0; k < r->g->n && !r->stopping; k++) {
        if (interrupted) /* with --jobs 1 steps run here, one after another: look between them */
            return;
        size_t i = r->g->order[k];
        if ((size_t)r->running >= (size_t)(r->o->jobs > 0 ? r->o->jobs : 1))
            return;
        if (!r->st[i].started && deps_finished(r, i))
            run_step_thread_start(r, i);
    }
}

static void join_finished(run *r)
{
    for (size_t i = 0; i < r->g->n; i++)
        if (r->st[i].running && r->st[i].finished) {
            pthread_t t = r->st[i].thread;
            r->st[i].running = 0;
            pthread_mutex_unlock(r->mu);
            pthread_join(t, NULL);
            pthread_mutex_lock(r->mu);
        }
}

void check_deadline(run *r)
{
    if (r->deadline_ms > 0 && !r->deadline_passed && now_ms() >= r->deadline_ms) {
        r->deadline_passed = 1;
        r->stopping = 1;
        rb_proc_cancel(r->cancel);
        char text[200];
        snprintf(text, sizeof text, "%s has passed: stopping", *r->deadline_what ? r->deadline_what : "the run's deadline");
        rb_event ev = {.kind = RB_EV_NOTE, .text = text};
        emit(r, &ev);
    }
}

static void wait_event(run *r)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 200 * 1000000L; /* wake to notice signals and the deadline */
    if (ts.tv_nsec >= 1000000000L)
        ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&r->cv, r->mu, &ts);
}

static void schedule_loop(run *r)
{
    for (;;) {
        if (interrupted && !r->stopping) {
            r->stopping = 1;
            rb_proc_cancel(r->cancel);
        }
        check_deadline(r);
        start_ready(r);
        join_finished(r);
        if (r->running == 0) {
            start_ready(r);
            if (r->running == 0)
                return;
        }
        wait_event(r);
    }
}

/* Runs the graph to its end; the caller holds r->mu. */
void schedule(run *r)
{
    /* With --jobs 1 the steps run in this thread, so nothing would look at the clock while one
     * runs: a link cancels the steps at the deadline (check_deadline then says why). A called
     * runbook's link, set up by its call, watches its deadline and its caller. */
    cancel_link deadline = {0};
    if (!r->parent)
        cancel_link_start(&deadline, NULL, r->cancel, r->deadline_ms);
    schedule_loop(r);
    cancel_link_stop(&deadline);
}

/* ---- set-up and end ---- */

static const char *lock_name(const rb_runbook *rb) { return rb->lock ? rb->lock : rb->name; }

/* The run's id comes with its journal file, which stays empty until the lock is held: a run
 * refused for the lock leaves no record that it started. */
static int create_journal(run *r, char *err, size_t len)
{
    if (!r->o->state_dir)
        return snprintf(err, len, "no state folder: HOME is not set and uid %ld has no home in the password "
                        "database; give --state-dir", (long)geteuid()), -1;
    if (rb_privdir_check(r->o->state_dir, RB_PRIVDIR_CREATE, err, len) != 0)
        return -1;
    char runs[4096];
    snprintf(runs, sizeof runs, "%s/runs", r->o->state_dir);
    if (rb_privdir_check(runs, RB_PRIVDIR_CREATE | RB_PRIVDIR_NOFOLLOW, err, len) != 0)
        return -1;
    if (rb_journal_create(r->o->state_dir, r->rb->name, &r->journal) != 0) {
        snprintf(err, len, "cannot create a journal under %s: %s", r->o->state_dir, strerror(errno));
        return -1;
    }
    rb_journal_set_masker(r->journal, r->masker);
    return 0;
}

/* The runbook's report: declaration, so `runbook report` reads the journal alone. */
static json_t *figures_json(const rb_runbook *rb)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < rb->nfigures; i++) {
        const rb_figure *f = &rb->figures[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "label", f->label ? f->label : "", "step", f->step ? f->step : "",
                              "field", f->field ? f->field : "", "objective", rb_figure_objective_name(f->objective));
        if (o && f->unit)
            json_object_set_new(o, "unit", json_string(f->unit));
        json_array_append_new(a, o);
    }
    return a;
}

static int start_journal(run *r, json_t *inputs)
{
    size_t srclen;
    const char *src = rb_doc_source(r->rb->doc, &srclen);
    char hash[32];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)rb_content_hash(src, srclen));
    char *abs = realpath(r->rb->path, NULL);
    json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:O, s:b, s:i, s:s, s:I}", "runbook", r->rb->name, "lock",
                          lock_name(r->rb), "path", abs ? abs : r->rb->path, "hash", hash,
                          "inputs", inputs, "dry_run", r->o->dry_run, "pid", (int)getpid(), "user",
                          getenv("USER") ? getenv("USER") : "?", "rto_ms", (json_int_t)r->rb->rto_ms);
    free(abs);
    json_object_set_new(f, "rpo_ms", json_integer(r->rb->rpo_ms));
    json_object_set_new(f, "report", figures_json(r->rb));
    return journal(r, "run_start", f);
}

int run_init(run *r, const rb_runbook *rb, const rb_graph *g, const rb_exec_opts *o, json_t *inputs)
{
    memset(r, 0, sizeof *r);
    r->rb = rb;
    r->g = g;
    r->o = o;
    r->failed_step = -1;
    r->mu = malloc(sizeof *r->mu);
    r->cancel = malloc(sizeof *r->cancel);
    r->st = calloc(rb->nsteps ? rb->nsteps : 1, sizeof *r->st);
    r->masker = o->masker ? o->masker : rb_masker_new();
    if (!r->mu || !r->cancel || !r->st || !r->masker || rb_proc_cancel_init(r->cancel) != 0)
        return -1;
    pthread_mutex_init(r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->inputs = json_incref(inputs);
    r->steps = json_object();
    r->env = env_object();
    r->rbobj = rb_runbook_object(rb);
    r->start_ms = now_ms();
    return 0;
}

/* The run's deadline, counted from now (a resume gets the whole of it again); it may be one
 * ${{ }}, so the inputs must be known. */
void set_deadline(run *r)
{
    long long ms = resolve_ms(r, r->rb->deadline_ms, r->rb->deadline_node, 0);
    r->deadline_ms = ms > 0 ? now_ms() + ms : 0;
}

void run_free(run *r)
{
    close_connections(r);
    if (r->mu) {
        pthread_mutex_destroy(r->mu);
        pthread_cond_destroy(&r->cv);
    }
    if (r->cancel && current_cancel == r->cancel)
        current_cancel = NULL;
    if (r->cancel)
        rb_proc_cancel_cleanup(r->cancel);
    rb_journal_close(r->journal);
    if (r->masker != r->o->masker)
        rb_masker_free(r->masker);
    json_decref(r->inputs);
    json_decref(r->secrets);
    json_decref(r->steps);
    json_decref(r->env);
    json_decref(r->runobj);
    json_decref(r->rbobj);
    json_decref(r->forward);
    free(r->mu);
    free(r->cancel);
    for (size_t i = 0; r->st && i < r->rb->nsteps; i++)
        json_decref(r->st[i].items_done);
    free(r->st);
}

static void summarize(run *r, rb_run_result *res, int rollback_ok, int rolled)
{
    if (interrupted) {
        res->outcome = RB_OUT_CANCELLED;
        res->exit_code = 130;
        if (r->o->dry_run)
            snprintf(res->message, sizeof res->message, "interrupted (a dry run is not resumed: start it again)");
        else
            snprintf(res->message, sizeof res->message, "interrupted: resume with 'runbook resume %s'", res->run_id);
    } else if (r->failed_step >= 0 || r->deadline_passed || r->journal_failed || r->rollback_pending) {
        res->outcome = rolled ? RB_OUT_ROLLED_BACK : RB_OUT_FAILED;
        res->exit_code = rolled && !rollback_ok ? 3 : 1;
        const step_state *st = r->failed_step >= 0 ? &r->st[r->failed_step] : NULL;
        /* masked before it is cut: a cut through a secret would leave half of it unrecognised */
        char *why = st ? rb_mask_apply(r->masker, st->message, strlen(st->message), NULL) : NULL;
        if (st)
            snprintf(res->message, sizeof res->message, "step %.64s %s: %.140s", r->rb->steps[r->failed_step].id,
                     rb_outcome_words(st->outcome == RB_OUT_ROLLED_BACK ? RB_OUT_FAILED : st->outcome),
                     why ? why : "(message withheld)");
        else
            snprintf(res->message, sizeof res->message, "%s",
                     r->journal_failed ? "the journal could not be written"
                     : r->deadline_passed ? "the deadline passed" : "a rollback was interrupted");
        free(why);
    } else {
        res->outcome = RB_OUT_SUCCEEDED;
        res->exit_code = 0;
    }
}

static const char *status_name(const rb_run_result *res)
{
    if (res->exit_code == 3)
        return "rollback_incomplete";
    return rb_outcome_name(res->outcome);
}

/* The facts the terminal's last line is made of (counted, never inferred from the outcome). */
static rb_run_ending ending_of(run *r, int rolled)
{
    rb_run_ending e = {.rollback = rolled, .undo_tried = r->undo_tried, .undo_failed = r->undo_failed};
    for (size_t i = 0; i < r->rb->nsteps; i++)
        e.continued += r->st[i].continued && r->st[i].finished;
    return e;
}

static json_t *continued_steps(run *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->rb->nsteps; i++)
        if (r->st[i].continued && r->st[i].finished)
            json_array_append_new(a, json_string(r->rb->steps[i].id));
    return a;
}

int run_finish(run *r, rb_run_result *res)
{
    int rolled = 0, rollback_ok = 1;
    rb_policy p = r->failed_step >= 0 ? r->rb->steps[r->failed_step].on_failure : r->rb->on_failure;
    if (!interrupted && (r->rollback_pending || ((r->failed_step >= 0 || r->deadline_passed) && p == RB_POLICY_ROLLBACK))) {
        rolled = 1;
        rollback_ok = run_rollbacks(r) == 0;
    }
    summarize(r, res, rollback_ok, rolled);
    long long ms = now_ms() - r->start_ms;
    if (interrupted) {
        journal(r, "interrupted", json_pack("{s:I}", "duration_ms", (json_int_t)ms));
    } else {
        json_t *f = json_pack("{s:s, s:i, s:I}", "status", status_name(res), "exit_code", res->exit_code,
                              "duration_ms", (json_int_t)ms);
        json_t *continued = continued_steps(r);
        if (json_array_size(continued))
            json_object_set(f, "continued", continued); /* failed, never to be read as succeeded */
        json_decref(continued);
        journal(r, "run_end", f);
    }
    journal_sync(r);
    rb_event ev = {.kind = RB_EV_RUN_END, .outcome = res->outcome, .duration_ms = ms, .text = res->message,
                   .dry_run = r->o->dry_run, .ending = ending_of(r, rolled)};
    emit(r, &ev);
    return res->exit_code;
}

/* "user alice", "uid 1003" or "user ?" for a holder's uid. */
static void holder_user(const rb_lock_holder *h, char *buf, size_t size)
{
    struct passwd *pw = h->uid >= 0 ? getpwuid((uid_t)h->uid) : NULL;
    if (pw)
        snprintf(buf, size, "user %s", pw->pw_name);
    else if (h->uid >= 0)
        snprintf(buf, size, "uid %ld", h->uid);
    else
        snprintf(buf, size, "user ?");
}

/* The one line a run prints when the system-wide lock is not in force: two operators are then
 * not kept apart, which they would otherwise assume. Once a run, calls included. */
static void warn_no_system_lock(run *r, const char *dir, const char *why)
{
    run *top = r;
    while (top->parent)
        top = top->parent;
    if (top->lock_warned)
        return;
    top->lock_warned = 1;
    char text[600];
    snprintf(text, sizeof text, "warning: runs by other operators on this machine are not kept apart from this one: "
             "the system lock folder %s cannot be used (%s); to fix, as root: %ssystemd-tmpfiles --create, or run "
             "runbook once", dir, why, strstr(why, "missing") ? "" : "remove that folder, then ");
    rb_event ev = {.kind = RB_EV_NOTE, .text = text};
    emit(r, &ev);
}

/* "held by run X (pid N) of user U": the system folder's holder as the kernel names it. */
static void describe_holder(const rb_lock_holder *h, char *buf, size_t size)
{
    char who[96];
    holder_user(h, who, sizeof who);
    if (h->pid > 0)
        snprintf(buf, size, "held by run %s (pid %ld) of %s", *h->run_id ? h->run_id : "?", h->pid, who);
    else
        snprintf(buf, size, "held by a run the kernel did not name");
}

/* Adds the system-wide lock to a held per-user one, so a run under another state folder (another
 * operator, sudo, another HOME) is kept apart too; when refused, the per-user lock is let go and
 * err names the holder. A system folder that cannot be used leaves the per-user lock alone, and
 * says so once (see warn_no_system_lock). */
static int add_system_lock(run *r, rb_lock **lock, const char *name, const char *run_id, char *err, size_t len)
{
    rb_lock_holder h = {{0}, 0, -1};
    const char *dir = getenv("RUNBOOK_LOCK_DIR"); /* tests give each simulated machine its own */
    dir = dir && *dir ? dir : RB_LOCK_SYSTEM_DIR;
    char why[200] = "", held[200];
    int rc = rb_lock_acquire_system(*lock, dir, name, run_id, &h, why, sizeof why);
    if (rc == RB_LOCK_NO_SYSTEM)
        warn_no_system_lock(r, dir, why);
    if (rc != RB_LOCK_BUSY)
        return 0;
    describe_holder(&h, held, sizeof held);
    snprintf(err, len, "lock \"%s\" is %s, under another state folder: one run at a time", name, held);
    rb_lock_release(*lock);
    *lock = NULL;
    return RB_LOCK_BUSY;
}

int take_lock(run *r, const char *name, const char *run_id, rb_lock **lock, char *err, size_t len)
{
    if (r->o->dry_run)
        return 0; /* a dry run changes nothing, so it may run beside a real one */
    char locks[4096];
    snprintf(locks, sizeof locks, "%s/locks", r->o->state_dir);
    if (rb_privdir_check(r->o->state_dir, RB_PRIVDIR_CREATE, err, len) != 0 ||
        rb_privdir_check(locks, RB_PRIVDIR_CREATE | RB_PRIVDIR_NOFOLLOW, err, len) != 0)
        return -1;
    rb_lock_holder h = {{0}, 0, -1};
    int rc = rb_lock_acquire(r->o->state_dir, name, run_id, lock, &h);
    char who[96];
    holder_user(&h, who, sizeof who);
    if (rc == RB_LOCK_BUSY)
        snprintf(err, len, "lock \"%s\" is held by run %s (pid %ld) of %s: one run at a time", name,
                 *h.run_id ? h.run_id : "?", h.pid, who);
    else if (rc != 0)
        snprintf(err, len, "cannot take the run's lock under %s: %s", r->o->state_dir, strerror(errno));
    else
        rc = add_system_lock(r, lock, name, run_id, err, len);
    return rc;
}

int run_main(run *r, rb_run_result *res)
{
    current_cancel = r->cancel;
    interrupted = 0;
    set_deadline(r);
    rb_event ev = {.kind = RB_EV_RUN_START, .text = res->run_id, .path = rb_journal_path(r->journal),
                   .dry_run = r->o->dry_run};
    emit(r, &ev);
    pthread_mutex_lock(r->mu);
    exec_from_journal(r);
    schedule(r);
    int code = run_finish(r, res);
    pthread_mutex_unlock(r->mu);
    return code;
}

int rb_exec_run(const rb_runbook *rb, const rb_graph *g, json_t *inputs, const rb_exec_opts *o,
                rb_run_result *res)
{
    memset(res, 0, sizeof *res);
    run r;
    rb_lock *lock = NULL;
    int code = 2;
    if (rb_actions_global_init(res->message, sizeof res->message) != 0) {
        res->exit_code = 2, res->outcome = RB_OUT_FAILED;
        return 2;
    }
    int refused = 0; /* the call tree's preflight: its exit code */
    if (run_init(&r, rb, g, o, inputs) != 0) {
        snprintf(res->message, sizeof res->message, "out of memory");
    } else if (load_secrets(&r, res->message, sizeof res->message) == 0 &&
               (refused = exec_preflight_calls(&r, res->message, sizeof res->message)) == 0 &&
               exec_from_prepare(&r, res->message, sizeof res->message) == 0 &&
               create_journal(&r, res->message, sizeof res->message) == 0) {
        snprintf(res->run_id, sizeof res->run_id, "%s", rb_journal_run_id(r.journal));
        exec_mark_children(res->run_id);
        r.runobj = json_pack("{s:s, s:b}", "id", res->run_id, "dry_run", o->dry_run);
        if (take_lock(&r, lock_name(rb), res->run_id, &lock, res->message, sizeof res->message) != 0)
            unlink(rb_journal_path(r.journal)); /* a refused run leaves no journal behind */
        else if (start_journal(&r, inputs) == 0)
            code = run_main(&r, res);
        else
            snprintf(res->message, sizeof res->message, "cannot write the journal %s", rb_journal_path(r.journal));
    }
    if (code == 2)
        res->exit_code = refused ? refused : 2, res->outcome = RB_OUT_FAILED;
    rb_lock_release(lock);
    run_free(&r);
    rb_actions_global_cleanup(); /* every thread of the run has ended */
    return res->exit_code;
}

/* ---- a called runbook: its steps run under the caller's journal, lock and masker ---- */

/* Runs a called runbook's steps (or what a resume left of them), then its failure policy; the
 * calling step fails with the callee, or is cancelled with it. Caller holds c->mu. */
static int called_graph_body(run *c, act_result *res)
{
    if (!c->stopping)
        schedule(c);
    rb_policy p = c->failed_step >= 0 ? c->rb->steps[c->failed_step].on_failure
                  : c->deadline_passed  ? c->rb->on_failure /* as a top-level run's deadline */
                                        : RB_POLICY_ABORT;
    int rolled = c->rollback_pending || p == RB_POLICY_ROLLBACK, ok = 1;
    if (rolled && !exec_interrupted())
        ok = run_rollbacks(c) == 0;
    if (c->failed_step < 0 && !c->stopping && !c->rollback_pending) {
        res->outcome = RB_OUT_SUCCEEDED;
        return 0;
    }
    const char *how = !rolled ? "" : ok ? " (rolled back)" : " (ITS ROLLBACK DID NOT COMPLETE)";
    const step_state *st = c->failed_step >= 0 ? &c->st[c->failed_step] : NULL;
    int cancelled = exec_interrupted() || (st && st->outcome == RB_OUT_CANCELLED);
    if (c->deadline_passed && !exec_interrupted())
        rb_act_fail(res, RB_OUT_TIMED_OUT, "timeout", "runbook %s was stopped: %s had passed%s", c->rb->name,
                    c->deadline_what, how);
    else
        rb_act_fail(res, cancelled ? RB_OUT_CANCELLED : RB_OUT_FAILED, cancelled ? "cancelled" : "runbook",
                    "runbook %s %s%s%.64s%s%.100s%s", c->rb->name, cancelled ? "was cancelled" : "failed",
                    st ? " at step " : "", st ? c->rb->steps[c->failed_step].id : "", st ? ": " : "",
                    st ? st->message : "", how);
    return -1;
}

/* A resume that cannot go on inside a called runbook (a step there stays in doubt) stops the
 * whole run as it would at the top: nothing more starts, and the calling step is left to be
 * entered again by the next resume. */
static void halt_resume(run *parent, act_result *res, const char *why)
{
    run *top = parent;
    for (run *p = parent; p; p = p->parent)
        p->stopping = 1, top = p;
    snprintf(top->halt, sizeof top->halt, "%s", why);
    rb_act_fail(res, RB_OUT_CANCELLED, "cancelled", "stopped: %s", why);
}

static int called_with_lock(run *parent, const invocation *inv, const rb_runbook *callee, const rb_graph *g,
                            json_t *inputs, act_result *res);

/* "Runs sharing a lock never run at once" holds for a called runbook too: its lock is taken for
 * the call unless a run up the chain already holds that name. NULL + 0 when none is needed. */
static int take_callee_lock(run *parent, const rb_runbook *callee, rb_lock **lock, act_result *res)
{
    *lock = NULL;
    if (parent->o->dry_run)
        return 0;
    for (const run *p = parent; p; p = p->parent)
        if (!strcmp(lock_name(p->rb), lock_name(callee)))
            return 0;
    rb_lock_holder h = {{0}, 0, -1};
    char err[300];
    int rc = rb_lock_acquire(parent->o->state_dir, lock_name(callee), rb_journal_run_id(parent->journal), lock, &h);
    pthread_mutex_lock(parent->mu); /* a warning it prints is an event: one at a time */
    int sys = rc == 0 ? add_system_lock(parent, lock, lock_name(callee), rb_journal_run_id(parent->journal), err, sizeof err) : 0;
    pthread_mutex_unlock(parent->mu);
    if (sys != 0) {
        rb_act_fail(res, RB_OUT_FAILED, "refused", "%s", err);
        return -1;
    }
    if (rc == RB_LOCK_BUSY)
        rb_act_fail(res, RB_OUT_FAILED, "refused", "lock \"%s\" of runbook %s is held by run %s (pid %ld)",
                 lock_name(callee), callee->name, *h.run_id ? h.run_id : "?", h.pid);
    else if (rc != 0)
        rb_act_fail(res, RB_OUT_FAILED, "refused", "cannot take lock \"%s\": %s", lock_name(callee), strerror(errno));
    return rc == 0 ? 0 : -1;
}

int run_called_graph(run *parent, const invocation *inv, const rb_runbook *callee, const rb_graph *g,
                     json_t *inputs, act_result *res)
{
    rb_lock *lock;
    if (take_callee_lock(parent, callee, &lock, res) != 0) {
        res->outputs = json_object();
        return -1;
    }
    int rc = called_with_lock(parent, inv, callee, g, inputs, res);
    rb_lock_release(lock);
    return rc;
}

void called_init(run *c, run *parent, const rb_step *s, const rb_runbook *callee, const rb_graph *g, json_t *inputs)
{
    memset(c, 0, sizeof *c);
    c->rb = callee;
    c->g = g;
    c->o = parent->o;
    c->parent = parent;
    c->failed_step = -1;
    c->mu = parent->mu;
    c->masker = parent->masker;
    c->journal = parent->journal;
    c->cancel = parent->cancel;
    c->st = calloc(callee->nsteps ? callee->nsteps : 1, sizeof *c->st);
    pthread_cond_init(&c->cv, NULL);
    snprintf(c->prefix, sizeof c->prefix, "%.180s%.64s/", parent->prefix, s->id);
    c->inputs = json_incref(inputs);
    c->steps = json_object();
    c->env = json_incref(parent->env);
    c->runobj = json_incref(parent->runobj);
    c->rbobj = rb_runbook_object(callee);
    c->start_ms = now_ms();
    c->replay = parent->replay;
}

void called_free(run *c)
{
    close_connections(c);
    pthread_cond_destroy(&c->cv);
    json_decref(c->inputs);
    json_decref(c->secrets);
    json_decref(c->steps);
    json_decref(c->env);
    json_decref(c->runobj);
    json_decref(c->rbobj);
    for (size_t i = 0; c->st && i < c->rb->nsteps; i++)
        json_decref(c->st[i].items_done);
    free(c->st);
}

/* The callee's own token, cancelled with the caller's and at the earlier of the calling step's
 * timeout and the callee's own deadline: either stops the callee alone, which then fails the
 * calling step as timed out. Caller holds c->mu (deadlines may read inputs). */
static int bound_call(run *c, const invocation *inv, cancel_link *link)
{
    if (rb_proc_cancel_init(&c->own_cancel) != 0)
        return -1;
    c->cancel = &c->own_cancel;
    set_deadline(c);
    long long step_ms = inv->timeout_ms > 0 ? c->start_ms + inv->timeout_ms : 0;
    if (c->deadline_ms > 0)
        snprintf(c->deadline_what, sizeof c->deadline_what, "the deadline of runbook %.64s", c->rb->name);
    if (step_ms > 0 && (c->deadline_ms <= 0 || step_ms < c->deadline_ms)) {
        c->deadline_ms = step_ms;
        snprintf(c->deadline_what, sizeof c->deadline_what, "the timeout of step %.64s", inv->step->id);
    }
    if (cancel_link_start(link, inv->cancel ? inv->cancel : c->parent->cancel, c->cancel, c->deadline_ms) != 0) {
        rb_proc_cancel_cleanup(&c->own_cancel);
        c->cancel = c->parent->cancel;
        return -1;
    }
    return 0;
}

static int called_with_lock(run *parent, const invocation *inv, const rb_runbook *callee, const rb_graph *g,
                            json_t *inputs, act_result *res)
{
    run c;
    called_init(&c, parent, inv->step, callee, g, inputs);
    cancel_link link = {0};
    int rc = -1;
    if (c.st) {
        pthread_mutex_lock(c.mu);
        /* the callee's own secrets are read like the caller's */
        char err[256] = "";
        if (bound_call(&c, inv, &link) != 0)
            rb_act_fail(res, RB_OUT_FAILED, "refused", "cannot watch runbook %s's time limits", callee->name);
        else if (load_secrets(&c, err, sizeof err) != 0)
            rb_act_fail(res, RB_OUT_FAILED, "refused", "%s", err);
        else if (c.replay && resume_called(&c, err, sizeof err) != 0)
            halt_resume(parent, res, err);
        else
            rc = called_graph_body(&c, res);
        pthread_mutex_unlock(c.mu);
    }
    cancel_link_stop(&link);
    if (c.cancel == &c.own_cancel)
        rb_proc_cancel_cleanup(&c.own_cancel);
    res->outputs = json_object();
    called_free(&c);
    return rc;
}
