/* Private folders: created 0700, refused when another user owns them or could write in them. */
#include "runbook/privdir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int refuse(int e, char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int refuse(int e, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    errno = e;
    return -1;
}

/* Makes a new folder's entry durable: a journal in a folder whose entry a crash lost would be
 * lost with it. */
static void sync_parent(const char *path)
{
    char parent[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else if (slash == path)
        snprintf(parent, sizeof parent, "/");
    else
        snprintf(parent, sizeof parent, "%.*s", (int)(slash - path), path);
    int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* mkdir -p with mode 0700 for what it creates; existing folders are checked by the caller. */
static int make_dirs(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return errno = ENAMETOOLONG, -1;
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0700) == 0)
            sync_parent(buf);
        else if (errno != EEXIST)
            return -1;
        if (!c)
            return 0;
        *p = c;
    }
}

int rb_privdir_check(const char *path, int flags, char *err, size_t errlen)
{
    struct stat st;
    if (!path || !*path)
        return refuse(EINVAL, err, errlen, "no state folder was given");
    if ((flags & RB_PRIVDIR_CREATE) && make_dirs(path) != 0)
        return refuse(errno, err, errlen, "cannot create the folder %s: %s", path, strerror(errno));
    int rc = flags & RB_PRIVDIR_NOFOLLOW ? lstat(path, &st) : stat(path, &st);
    if (rc != 0)
        return refuse(errno, err, errlen, "cannot use the folder %s: %s", path, strerror(errno));
    if (S_ISLNK(st.st_mode))
        return refuse(EPERM, err, errlen, "%s is a symlink, not a folder: refusing to use it", path);
    if (!S_ISDIR(st.st_mode))
        return refuse(ENOTDIR, err, errlen, "%s is not a folder", path);
    if (st.st_uid != geteuid())
        return refuse(EPERM, err, errlen,
                      "the folder %s is owned by uid %ld, not by you (uid %ld): refusing to use it, since "
                      "what it holds would be trusted",
                      path, (long)st.st_uid, (long)geteuid());
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return refuse(EPERM, err, errlen,
                      "the folder %s may be written by %s (mode %04o): refusing to use it (chmod go-w %s)", path,
                      st.st_mode & S_IWOTH ? "others" : "its group", (unsigned)(st.st_mode & 07777), path);
    return 0;
}
