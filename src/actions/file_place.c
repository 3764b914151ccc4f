/* Finding a local file step's folder one component at a time, as file descriptors, so a symlink
 * or a folder planted by another user cannot send a write (or a rollback's removal) elsewhere. */
#include "file_place.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A folder reached so far: an O_PATH descriptor and the path it was reached by. */
typedef struct at {
    int fd;
    char text[PATH_MAX];
} at;

typedef struct walker {
    int links; /* symlinks followed so far, against RB_PLACE_MAX_LINKS */
    char *err;
    size_t errlen;
} walker;

static int fail(walker *w, const char *fmt, const char *a, const char *b)
{
    snprintf(w->err, w->errlen, fmt, a, b);
    return -1;
}

static int fail_errno(walker *w, const char *what, const char *path)
{
    snprintf(w->err, w->errlen, "cannot %s %s: %s", what, path, strerror(errno));
    return -1;
}

static int ours(uid_t uid) { return uid == 0 || uid == geteuid(); }

/* "dir/comp" into buf, for messages (cut short with "..." when it does not fit). */
static const char *joined(char *buf, size_t size, const at *a, const char *comp)
{
    if (snprintf(buf, size, "%s%s%s", a->text, strcmp(a->text, "/") ? "/" : "", comp) >= (int)size)
        memcpy(buf + size - 4, "...", 4);
    return buf;
}

static int go_root(walker *w, at *a)
{
    int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fail_errno(w, "open", "/");
    if (a->fd >= 0)
        close(a->fd);
    a->fd = fd;
    snprintf(a->text, sizeof a->text, "/");
    return 0;
}

static int text_push(walker *w, at *a, const char *comp)
{
    char buf[PATH_MAX];
    int n = snprintf(buf, sizeof buf, "%s%s%s", a->text, strcmp(a->text, "/") ? "/" : "", comp);
    if (n < 0 || (size_t)n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return fail_errno(w, "follow", a->text);
    }
    memcpy(a->text, buf, (size_t)n + 1);
    return 0;
}

static void text_pop(at *a)
{
    char *slash = strrchr(a->text, '/');
    if (slash && slash != a->text)
        *slash = '\0';
    else
        snprintf(a->text, sizeof a->text, "/");
}

/* A symlink is followed only when nobody but us or root could have put it there or can swap it:
 * the link is theirs, and so is its folder, which no one else may change (sticky does for that:
 * others cannot remove or rename an entry they do not own). */
static int link_trusted(walker *w, const at *a, const char *comp, const struct stat *link)
{
    char where[PATH_MAX];
    struct stat dir;
    joined(where, sizeof where, a, comp);
    if (!ours(link->st_uid)) {
        snprintf(w->err, w->errlen, "%s is a symlink owned by uid %ld, not by you or root: not following it",
                 where, (long)link->st_uid);
        return 0;
    }
    if (fstat(a->fd, &dir) != 0)
        return fail_errno(w, "inspect", a->text), 0;
    if (!ours(dir.st_uid) || ((dir.st_mode & (S_IWGRP | S_IWOTH)) && !(dir.st_mode & S_ISVTX))) {
        snprintf(w->err, w->errlen,
                 "%s is a symlink in a folder that others can change (%s: uid %ld, mode %04o): not following it",
                 where, a->text, (long)dir.st_uid, (unsigned)(dir.st_mode & 07777));
        return 0;
    }
    return 1;
}

/* Reads the trusted symlink `comp` in a's folder into buf. */
static int read_link(walker *w, const at *a, const char *comp, const struct stat *st, char *buf, size_t size)
{
    char where[PATH_MAX];
    joined(where, sizeof where, a, comp);
    if (++w->links > RB_PLACE_MAX_LINKS)
        return fail(w, "%s: too many symlinks%s", where, "");
    if (!link_trusted(w, a, comp, st))
        return -1;
    ssize_t n = readlinkat(a->fd, comp, buf, size - 1);
    if (n < 0)
        return fail_errno(w, "read the symlink", where);
    if ((size_t)n >= size - 1)
        return fail(w, "%s: the symlink's target is too long%s", where, "");
    buf[n] = '\0';
    return 0;
}

static int walk_dirs(walker *w, at *a, const char *path);

/* Moves a into its subfolder comp, following a trusted symlink (relative to a's folder). */
static int enter(walker *w, at *a, const char *comp)
{
    struct stat st;
    char where[PATH_MAX];
    if (!strcmp(comp, ".") || !*comp)
        return 0;
    joined(where, sizeof where, a, comp);
    if (strcmp(comp, "..") && fstatat(a->fd, comp, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return fail_errno(w, "reach", where);
    if (strcmp(comp, "..") && S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        return read_link(w, a, comp, &st, target, sizeof target) ? -1 : walk_dirs(w, a, target);
    }
    int fd = openat(a->fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode)) {
        if (fd >= 0)
            close(fd), errno = ENOTDIR;
        return fail_errno(w, "enter the folder", where);
    }
    close(a->fd);
    a->fd = fd;
    if (!strcmp(comp, ".."))
        return text_pop(a), 0;
    return text_push(w, a, comp);
}

/* Moves a along every component of path (from "/" when it is absolute). */
static int walk_dirs(walker *w, at *a, const char *path)
{
    char copy[PATH_MAX], *save = NULL;
    if (snprintf(copy, sizeof copy, "%s", path) >= (int)sizeof copy) {
        errno = ENAMETOOLONG;
        return fail_errno(w, "follow", path);
    }
    if (copy[0] == '/' && go_root(w, a) != 0)
        return -1;
    for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save))
        if (enter(w, a, c) != 0)
            return -1;
    return 0;
}

/* The folder the entry lives in, opened for reading and fsync, if it is ours or root's. */
static int open_folder(walker *w, const at *a, rb_file_place *p)
{
    struct stat st;
    p->dirfd = openat(a->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (p->dirfd < 0 || fstat(p->dirfd, &st) != 0)
        return fail_errno(w, "open the folder", a->text);
    if (!ours(st.st_uid)) {
        snprintf(w->err, w->errlen, "the folder %s is owned by uid %ld, not by you or root: refusing to write there",
                 a->text, (long)st.st_uid);
        return -1;
    }
    return 0;
}

static int place_in(walker *w, at *a, const char *path, int follow_last, rb_file_place *p);

/* The last component: a trusted symlink is followed (it must lead to an existing entry),
 * anything else is the place. */
static int settle_last(walker *w, at *a, const char *name, int follow_last, rb_file_place *p)
{
    struct stat st;
    char where[PATH_MAX];
    joined(where, sizeof where, a, name);
    int exists = fstatat(a->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (!exists && errno != ENOENT)
        return fail_errno(w, "inspect", where);
    if (exists && S_ISLNK(st.st_mode) && follow_last) {
        char target[PATH_MAX];
        if (read_link(w, a, name, &st, target, sizeof target) != 0)
            return -1;
        if (fstatat(a->fd, name, &st, 0) != 0)
            return fail(w, "%s is a symlink to a missing file: refusing to write%s", where, "");
        p->via_link = 1;
        return place_in(w, a, target, 1, p);
    }
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->shown, sizeof p->shown, "%s", where);
    return open_folder(w, a, p);
}

static int place_in(walker *w, at *a, const char *path, int follow_last, rb_file_place *p)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
    if (!*name || !strcmp(name, ".") || !strcmp(name, "..") || strlen(name) > NAME_MAX)
        return fail(w, "%s does not name a file%s", path, "");
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 0, path);
    if (slash == path)
        snprintf(dir, sizeof dir, "/");
    if (walk_dirs(w, a, dir) != 0)
        return -1;
    return settle_last(w, a, name, follow_last, p);
}

/* Where a walk starts: "/" for an absolute path, else the working folder. */
static int start_at(walker *w, at *a, const char *path)
{
    if (path[0] == '/')
        return go_root(w, a);
    a->fd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (a->fd < 0 || !getcwd(a->text, sizeof a->text))
        return fail_errno(w, "open the working folder for", path);
    return 0;
}

int rb_file_place_open(const char *path, int follow_last, rb_file_place *p, char *err, size_t errlen)
{
    walker w = {0, err, errlen};
    at a = {-1, ""};
    memset(p, 0, sizeof *p);
    p->dirfd = -1;
    if (!path || !*path || strlen(path) >= PATH_MAX)
        return snprintf(err, errlen, "a file step needs a path shorter than %d bytes", PATH_MAX), -1;
    int rc = start_at(&w, &a, path) == 0 ? place_in(&w, &a, path, follow_last, p) : -1;
    if (a.fd >= 0)
        close(a.fd);
    if (rc != 0)
        rb_file_place_close(p);
    return rc;
}

void rb_file_place_close(rb_file_place *p)
{
    if (p->dirfd >= 0)
        close(p->dirfd);
    p->dirfd = -1;
}
