/* Processes that outlived a killed run. Every child of a run carries RUNBOOK_RUN=<run id> in
 * its environment (set in this process before the first step, so every child and grandchild
 * inherits it, also one that left its process group); a resume looks for live processes with
 * that mark before it verifies or reruns anything, waits a bounded time for them to end, and
 * stops them only with consent. Reading another process's environment needs the same user (or
 * root), which is what a resume of one's own run has. */
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
#define ORPHAN_WAIT_MS (30LL * 1000) /* RUNBOOK_SURVIVOR_WAIT (seconds) overrides it */

void exec_mark_children(const char *run_id)
{
    setenv("RUNBOOK_RUN", run_id, 1);
}

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

/* Live processes marked with run_id (zombies do not count: they hold nothing). */
static size_t find_survivors(const char *run_id, pid_t *out, size_t max)
{
    char want[160];
    int wlen = snprintf(want, sizeof want, "RUNBOOK_RUN=%s", run_id);
    DIR *d = opendir("/proc");
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < max) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid_t pid = (pid_t)atol(e->d_name);
        if (pid != getpid() && marked(pid, want, (size_t)wlen))
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
static size_t wait_for_them(run *r, const char *run_id, pid_t *pids, long long ms)
{
    long long end = now_ms() + ms;
    size_t n = find_survivors(run_id, pids, SURVIVORS_MAX);
    pthread_mutex_unlock(r->mu);
    while (n && now_ms() < end && !exec_interrupted()) {
        usleep(100 * 1000);
        n = find_survivors(run_id, pids, SURVIVORS_MAX);
    }
    pthread_mutex_lock(r->mu);
    return n;
}

static void stop_them(const char *run_id, pid_t *pids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kill(pids[i], SIGTERM);
    for (int t = 0; t < 20 && find_survivors(run_id, pids, SURVIVORS_MAX); t++)
        usleep(100 * 1000);
    n = find_survivors(run_id, pids, SURVIVORS_MAX);
    for (size_t i = 0; i < n; i++)
        kill(pids[i], SIGKILL);
}

int exec_settle_survivors(run *r, const char *run_id, char *err, size_t len)
{
    pid_t pids[SURVIVORS_MAX];
    size_t n = find_survivors(run_id, pids, SURVIVORS_MAX);
    if (!n)
        return 0;
    char list[256], text[400];
    describe(pids, n, list, sizeof list);
    snprintf(text, sizeof text, "%zu process%s of the interrupted run still run%s (pid %s): waiting up to %llds for them to end",
             n, n > 1 ? "es" : "", n > 1 ? "" : "s", list, wait_ms() / 1000);
    say(r, text);
    journal(r, "note", json_pack("{s:s, s:s}", "resume", "survivors of the interrupted run", "pids", list));
    if (!(n = wait_for_them(r, run_id, pids, wait_ms())))
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
    stop_them(run_id, pids, n);
    return 0;
}
