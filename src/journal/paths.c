/* Where journals live: run ids, the names allowed into paths, and durable directories. */
#include "journal/journal_int.h"
#include "runbook/privdir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RUN_ID_NAME_MAX 48

int journal_name_ok(const char *s, const char *first, const char *rest, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= max || !strchr(first, s[0]))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!strchr(rest, s[i]))
            return 0;
    return 1;
}

int rb_run_id_valid(const char *id)
{
    return journal_name_ok(id, JOURNAL_ALNUM, JOURNAL_ALNUM "-_", RB_RUN_ID_MAX);
}

static unsigned random16(void)
{
    unsigned char b[2];
    if (getrandom(b, sizeof b, GRND_NONBLOCK) == (ssize_t)sizeof b)
        return (unsigned)b[0] << 8 | b[1];
    struct timespec t; /* no entropy yet: O_EXCL still keeps ids unique */
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (unsigned)(t.tv_nsec ^ getpid()) & 0xffff;
}

int rb_run_id_new(const char *runbook, char *buf, size_t size)
{
    const char *lower = "abcdefghijklmnopqrstuvwxyz0123456789";
    if (!journal_name_ok(runbook, lower, "abcdefghijklmnopqrstuvwxyz0123456789_-", SIZE_MAX) ||
        size < RB_RUN_ID_MAX) {
        errno = EINVAL;
        return -1;
    }
    time_t now = time(NULL);
    struct tm tm;
    char stamp[20];
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(buf, size, "%s-%.*s-%04x", stamp, RUN_ID_NAME_MAX, runbook, random16());
    return 0;
}

char *journal_printf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        errno = ENOMEM;
        return NULL;
    }
    return s;
}

char *rb_journal_path_of(const char *state_dir, const char *run_id)
{
    if (!state_dir || !*state_dir || !rb_run_id_valid(run_id)) {
        errno = EINVAL;
        return NULL;
    }
    return journal_printf("%s/runs/%s.jsonl", state_dir, run_id);
}

int journal_sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* Folders under the state folder are private: created 0700, refused when another user owns
 * them or may write in them, or when they are symlinks (see runbook/privdir.h). */
int journal_make_dirs(const char *path)
{
    return rb_privdir_check(path, RB_PRIVDIR_CREATE | RB_PRIVDIR_NOFOLLOW, NULL, 0);
}
