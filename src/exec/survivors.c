/* Processes that outlived a killed run. Each child an action starts leads its own process
 * group; right after the start its group id, its start time (clock ticks after boot) and the
 * boot id are journaled in a `process` record. A resume looks first for the groups of attempts
 * without an end: a live member of such a group is a survivor when the leader is the journaled
 * process (same start time), or, the leader gone, when it started after it (a recycled pid
 * cannot be mistaken for it, and a journal from before a reboot matches nothing). Every child
 * also carries RUNBOOK_RUN=<run id> in its environment, set in this process before the first
 * step: that finds a survivor that left its group, or one started in the moment between its
 * start and its record, unless it dropped its environment (env -i, sudo, a daemon). The resume
 * waits a bounded time for them to end, and stops them only with consent. Reading another
 * process's environment needs the same user (or root), which is what a resume of one's own run
 * has. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define ENVIRON_MAX (256u * 1024u) /* bytes of /proc/PID/environ looked at */
#define SURVIVORS_MAX 64
#define GROUPS_MAX 256 /* open process records kept; the newest win */
#define ORPHAN_WAIT_MS (30LL * 1000) /* RUNBOOK_SURVIVOR_WAIT (seconds) overrides it */

void exec_mark_children(const char *run_id)
{
    setenv("RUNBOOK_RUN", run_id, 1);
}

/* ---- the process record ---- */

static const char *kind_name(invoke_kind k)
{
    return k == INVOKE_ROLLBACK ? "rollback" : k == INVOKE_UNDO ? "undo" : k == INVOKE_VERIFY ? "verify" : "main";
}

void exec_spawn_ctx_init(spawn_ctx *sc, run *r, const invocation *inv)
{
    json_t *each = exec_current_each();
    sc->r = r;
    step_key(r, inv->step, sc->step, sizeof sc->step);
    sc->kind = kind_name(inv->kind);
    sc->attempt = r->st[inv->step->index].attempts;
    sc->index = each ? json_integer_value(json_object_get(each, "index")) : -1;
}

/* Why a record after the start and not the group in attempt_start: posix_spawn gives the pid
 * only once the child runs, and holding a child between fork and exec would mean fork() in a
 * threaded process. A kill in between leaves a child without a record; the environment mark
 * still finds it (unless it dropped its environment). The record is written without an
 * fdatasync: written, it survives a kill of this process; only a machine crash can lose it,
 * and after a reboot no process of the run is left and the boot id would match nothing. */
void exec_journal_spawn(void *ctx, pid_t pgid)
{
    spawn_ctx *sc = ctx;
    rb_proc_stat st;
    char boot[64];
    if (rb_proc_stat_of(pgid, &st) != 0 || rb_proc_boot_id(boot, sizeof boot) != 0)
        return; /* nothing to recognise it by: the mark is all a resume has */
    json_t *f = json_pack("{s:s, s:s, s:i, s:I, s:s}", "step", sc->step, "kind", sc->kind, "pgid", (int)pgid,
                          "start_time", (json_int_t)st.start_time, "boot_id", boot);
    if (!strcmp(sc->kind, "main"))
        json_object_set_new(f, "attempt", json_integer(sc->attempt));
    if (sc->index >= 0)
        json_object_set_new(f, "index", json_integer(sc->index));
    pthread_mutex_lock(sc->r->mu);
    journal(sc->r, "process", f);
    pthread_mutex_unlock(sc->r->mu);
}

/* ---- the groups of attempts without an end ---- */

typedef struct group {
    pid_t pgid;
    unsigned long long start_time;
} group;

/* What to look for: the journaled groups still open, and the environment mark. */
typedef struct hunt {
    char mark[160];
    size_t mark_len;
    group groups[GROUPS_MAX];
    size_t ngroups;
} hunt;

static int same_int(const json_t *a, const json_t *b, const char *key)
{
    json_t *x = json_object_get(a, key), *y = json_object_get(b, key);
    return x && y && json_integer_value(x) == json_integer_value(y);
}

/* 1 when `rec`, journaled after the process record `p` of the same step, says the action that
 * started p's process has returned: its attempt's or item's end, a rollback's end, the step's
 * end or a new start, or (for a verify) what the resume did with its answer. */
static int ends(const json_t *p, const json_t *rec, const char *type)
{
    const char *kind = json_string_value(json_object_get(p, "kind"));
    int item = json_object_get(p, "index") != NULL;
    if (!strcmp(type, "step_end") || !strcmp(type, "step_start"))
        return 1;
    if (!kind || !strcmp(kind, "main"))
        return item ? !strcmp(type, "item_end") && same_int(p, rec, "index")
                    : !strcmp(type, "attempt_end") && same_int(p, rec, "attempt");
    if (!strcmp(kind, "verify"))
        return !strcmp(type, "note") || !strcmp(type, "attempt_start");
    return !strcmp(type, "rollback_end");
}

static const char *str_of(const json_t *rec, const char *key)
{
    return json_string_value(json_object_get(rec, key));
}

/* Drops the open process records that `rec` ends. */
static void close_ended(json_t **open, size_t *n, const json_t *rec, const char *type)
{
    const char *step = str_of(rec, "step");
    size_t k = 0;
    for (size_t i = 0; i < *n; i++)
        if (!step || strcmp(step, str_of(open[i], "step") ?: "") || !ends(open[i], rec, type))
            open[k++] = open[i];
    *n = k;
}

static void keep_open(json_t **open, size_t *n, json_t *rec)
{
    if (*n == GROUPS_MAX) { /* the oldest goes: its process is the likeliest to be long gone */
        memmove(open, open + 1, (GROUPS_MAX - 1) * sizeof *open);
        (*n)--;
    }
    open[(*n)++] = rec;
}

/* The groups of the journal's process records (of this boot) whose action never returned. */
static void find_open_groups(const json_t *records, hunt *h)
{
    json_t *open[GROUPS_MAX], *rec;
    size_t n = 0, k;
    char boot[64];
    h->ngroups = 0;
    if (rb_proc_boot_id(boot, sizeof boot) != 0)
        return; /* start times cannot be compared: the mark is all there is */
    json_array_foreach(records, k, rec)
    {
        const char *type = str_of(rec, "type");
        if (!type)
            continue;
        if (!strcmp(type, "process") && !strcmp(str_of(rec, "boot_id") ?: "", boot) &&
            json_integer_value(json_object_get(rec, "pgid")) > 1)
            keep_open(open, &n, rec);
        else if (strcmp(type, "process"))
            close_ended(open, &n, rec, type);
    }
    for (size_t i = 0; i < n; i++)
        h->groups[h->ngroups++] = (group){(pid_t)json_integer_value(json_object_get(open[i], "pgid")),
                                          (unsigned long long)json_integer_value(json_object_get(open[i], "start_time"))};
}

/* 1 when a live process in group g (started at `start`) is the run's: the leader is the
 * journaled process itself, or, the leader gone, the process started after it did. */
static int of_group(const group *g, unsigned long long start)
{
    rb_proc_stat leader;
    if (rb_proc_stat_of(g->pgid, &leader) == 0)
        return leader.start_time == g->start_time;
    return start >= g->start_time;
}

static int in_open_group(const hunt *h, const rb_proc_stat *st)
{
    for (size_t i = 0; i < h->ngroups; i++)
        if (h->groups[i].pgid == st->pgid && of_group(&h->groups[i], st->start_time))
            return 1;
    return 0;
}

/* ---- the environment mark ---- */

/* 1 when `env` (NUL-separated, len bytes) holds exactly `want` as one entry. */
static int environ_has(const char *env, size_t len, const char *want, size_t wlen)
{
    for (size_t i = 0; i + wlen <= len;) {
        const char *end = memchr(env + i, 0, len - i);
        size_t n = end ? (size_t)(end - env - i) : len - i;
        if (n == wlen && !memcmp(env + i, want, wlen))
            return 1;
        i += n + 1;
    }
    return 0;
}

static int marked(pid_t pid, const char *want, size_t wlen)
{
    if (!wlen)
        return 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/environ", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char *buf = malloc(ENVIRON_MAX);
    ssize_t n = buf ? read(fd, buf, ENVIRON_MAX) : -1;
    close(fd);
    int hit = n > 0 && environ_has(buf, (size_t)n, want, wlen);
    free(buf);
    return hit;
}

/* Live processes of the run (zombies do not count: they hold nothing). */
static size_t find_survivors(const hunt *h, pid_t *out, size_t max)
{
    DIR *d = opendir("/proc");
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < max) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid_t pid = (pid_t)atol(e->d_name);
        rb_proc_stat st;
        if (pid == getpid() || rb_proc_stat_of(pid, &st) != 0 || st.state == 'Z')
            continue;
        if (in_open_group(h, &st) || marked(pid, h->mark, h->mark_len))
            out[n++] = pid;
    }
    if (d)
        closedir(d);
    return n;
}

static void describe(const pid_t *pids, size_t n, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && used + 16 < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%ld", i ? ", " : "", (long)pids[i]);
}

static long long wait_ms(void)
{
    const char *v = getenv("RUNBOOK_SURVIVOR_WAIT");
    char *end;
    long long s = v ? strtoll(v, &end, 10) : -1;
    return v && *v && !*end && s >= 0 && s <= 3600 ? s * 1000 : ORPHAN_WAIT_MS;
}

static void say(run *r, const char *text)
{
    rb_event ev = {.kind = RB_EV_NOTE, .text = text};
    emit(r, &ev);
}

/* Waits up to ms for the survivors to end; the count left. Caller holds r->mu. */
static size_t wait_for_them(run *r, const hunt *h, pid_t *pids, long long ms)
{
    long long end = now_ms() + ms;
    size_t n = find_survivors(h, pids, SURVIVORS_MAX);
    pthread_mutex_unlock(r->mu);
    while (n && now_ms() < end && !exec_interrupted()) {
        usleep(100 * 1000);
        n = find_survivors(h, pids, SURVIVORS_MAX);
    }
    pthread_mutex_lock(r->mu);
    return n;
}

static void stop_them(const hunt *h, pid_t *pids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kill(pids[i], SIGTERM);
    for (int t = 0; t < 20 && find_survivors(h, pids, SURVIVORS_MAX); t++)
        usleep(100 * 1000);
    n = find_survivors(h, pids, SURVIVORS_MAX);
    for (size_t i = 0; i < n; i++)
        kill(pids[i], SIGKILL);
}

/* Whom to look for: the hunt is large (the open groups), so it lives on the heap. */
static hunt *hunt_new(const run *r, const char *run_id)
{
    hunt *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    int len = snprintf(h->mark, sizeof h->mark, "RUNBOOK_RUN=%s", run_id);
    h->mark_len = len > 0 && (size_t)len < sizeof h->mark ? (size_t)len : 0;
    find_open_groups(r->replay, h);
    return h;
}

static int settle(run *r, const hunt *h, char *err, size_t len)
{
    pid_t pids[SURVIVORS_MAX];
    size_t n = find_survivors(h, pids, SURVIVORS_MAX);
    if (!n)
        return 0;
    char list[256], text[400];
    describe(pids, n, list, sizeof list);
    snprintf(text, sizeof text, "%zu process%s of the interrupted run still run%s (pid %s): waiting up to %llds for them to end",
             n, n > 1 ? "es" : "", n > 1 ? "" : "s", list, wait_ms() / 1000);
    say(r, text);
    journal(r, "note", json_pack("{s:s, s:s}", "resume", "survivors of the interrupted run", "pids", list));
    if (!(n = wait_for_them(r, h, pids, wait_ms())))
        return 0;
    describe(pids, n, list, sizeof list);
    int yes = r->o->yes;
    if (!yes && r->o->ui.ask) {
        pthread_mutex_unlock(r->mu);
        snprintf(text, sizeof text, "Processes of the interrupted run still run (pid %s). Stop them?", list);
        yes = r->o->ui.ask(r->o->ui.ctx, "resume", text) == 1;
        pthread_mutex_lock(r->mu);
    }
    if (!yes)
        return snprintf(err, len, "processes of the interrupted run still run (pid %.120s); let them end, or resume on "
                        "a terminal or with --yes to stop them", list), -1;
    journal(r, "note", json_pack("{s:s, s:s, s:s}", "resume", "stopped the survivors", "pids", list, "by",
                                 r->o->yes ? "--yes" : "operator"));
    stop_them(h, pids, n);
    return 0;
}

int exec_settle_survivors(run *r, const char *run_id, char *err, size_t len)
{
    hunt *h = hunt_new(r, run_id);
    if (!h)
        return snprintf(err, len, "out of memory while looking for processes of the interrupted run"), -1;
    int rc = settle(r, h, err, len);
    free(h);
    return rc;
}
