/* Run locks on open-file-description locks, which the kernel drops along with their holder. */
#include "runbook/lock.h"
#include "runbook/privdir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

/* A holder writes its details just after locking; a refused run may read before that. */
#define HOLDER_READ_TRIES 20
#define HOLDER_READ_WAIT_NS 5000000L

struct rb_lock {
    int fd;
    int sys_fd;       /* the system-wide lock's file (flock), or -1 */
    int sys_writable; /* it was opened for writing, so its holder details are ours to clear */
};

int rb_lock_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > RB_LOCK_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i && (c == '_' || c == '-'));
        if (!ok)
            return 0;
    }
    return 1;
}

/* Run ids go into the file as one word, so no spaces or newlines. */
static int run_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n >= RB_RUN_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", id[i]))
            return 0;
    return 1;
}

static int lock_path(char *buf, size_t size, const char *state_dir, const char *name)
{
    if (!rb_lock_name_valid(name) || !state_dir || !*state_dir) {
        errno = EINVAL;
        return -1;
    }
    if (snprintf(buf, size, "%s/locks/%s.lock", state_dir, name) >= (int)size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

static int lock_op(int fd, int cmd, struct flock *fl)
{
    *fl = (struct flock){.l_type = F_WRLCK, .l_whence = SEEK_SET};
    return fcntl(fd, cmd, fl);
}

/* Parses "<run_id> <pid> <uid>\n" (or, from an older holder, "<run_id> <pid>\n"); 0 if the
 * text is not (yet) complete. */
static int parse_holder(const char *text, rb_lock_holder *h)
{
    char id[RB_RUN_ID_MAX]; /* %95s below: RB_RUN_ID_MAX - 1 */
    long pid, uid = -1;
    char nl;
    int ok = sscanf(text, "%95s %ld %ld%c", id, &pid, &uid, &nl) == 4;
    if (!ok) {
        uid = -1;
        ok = sscanf(text, "%95s %ld%c", id, &pid, &nl) == 3;
    }
    if (!ok || nl != '\n' || pid <= 0)
        return 0;
    snprintf(h->run_id, sizeof h->run_id, "%s", id);
    h->pid = pid;
    h->uid = uid;
    return 1;
}

static void read_holder(int fd, rb_lock_holder *h)
{
    struct timespec wait = {0, HOLDER_READ_WAIT_NS};
    *h = (rb_lock_holder){{0}, 0, -1};
    for (int i = 0; i < HOLDER_READ_TRIES; i++) {
        char text[RB_RUN_ID_MAX + 32];
        ssize_t n = pread(fd, text, sizeof text - 1, 0);
        if (n < 0)
            return;
        text[n] = '\0';
        if (parse_holder(text, h))
            return;
        nanosleep(&wait, NULL);
    }
}

static int write_holder(int fd, const char *run_id)
{
    char text[RB_RUN_ID_MAX + 32];
    int n = snprintf(text, sizeof text, "%s %ld %ld\n", run_id, (long)getpid(), (long)geteuid());
    if (ftruncate(fd, 0) < 0)
        return -1;
    ssize_t w = pwrite(fd, text, (size_t)n, 0);
    if (w != n) {
        if (w >= 0)
            errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}

/* Opens <dir>/<name>.lock: a regular file, never through a symlink. */
static int open_in(const char *dir, const char *name, int flags)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s.lock", dir, name) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW, 0600);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    return fd;
}

/* To take a lock the folders must be the user's own (created 0700 if missing): a lock file
 * another user could plant would let them refuse our runs with a holder of their choosing. */
static int open_lock_file(const char *state_dir, const char *name, int flags)
{
    char path[PATH_MAX], dir[PATH_MAX];
    if (lock_path(path, sizeof path, state_dir, name) < 0)
        return -1;
    snprintf(dir, sizeof dir, "%s/locks", state_dir);
    if ((flags & O_CREAT) && (rb_privdir_check(state_dir, RB_PRIVDIR_CREATE, NULL, 0) < 0 ||
                              rb_privdir_check(dir, RB_PRIVDIR_CREATE | RB_PRIVDIR_NOFOLLOW, NULL, 0) < 0))
        return -1;
    return open_in(dir, name, flags);
}

int rb_lock_acquire(const char *state_dir, const char *name, const char *run_id, rb_lock **out,
                    rb_lock_holder *holder)
{
    if (!run_id_valid(run_id)) {
        errno = EINVAL;
        return -1;
    }
    int fd = open_lock_file(state_dir, name, O_RDWR | O_CREAT);
    if (fd < 0)
        return -1;
    struct flock fl;
    if (lock_op(fd, F_OFD_SETLK, &fl) < 0) {
        int busy = errno == EAGAIN || errno == EACCES;
        int saved = errno;
        if (busy && holder)
            read_holder(fd, holder);
        close(fd);
        errno = saved;
        return busy ? RB_LOCK_BUSY : -1;
    }
    rb_lock *l = malloc(sizeof *l);
    if (!l || write_holder(fd, run_id) < 0) {
        int saved = l ? errno : ENOMEM;
        free(l);
        close(fd);
        errno = saved;
        return -1;
    }
    l->fd = fd;
    l->sys_fd = -1;
    l->sys_writable = 0;
    *out = l;
    return 0;
}

void rb_lock_release(rb_lock *lock)
{
    if (!lock)
        return;
    /* Cleared while still held, so it never erases the next holder's details. */
    if (lock->sys_fd >= 0 && lock->sys_writable && ftruncate(lock->sys_fd, 0) < 0) {
        /* Stale details are harmless: they are shown only while the lock is held. */
    }
    if (ftruncate(lock->fd, 0) < 0) {
        /* as above */
    }
    if (lock->sys_fd >= 0)
        close(lock->sys_fd);
    close(lock->fd);
    free(lock);
}

int rb_lock_query(const char *state_dir, const char *name, rb_lock_holder *holder)
{
    int fd = open_lock_file(state_dir, name, O_RDONLY);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    struct flock fl;
    int rc = lock_op(fd, F_OFD_GETLK, &fl) < 0 ? -1 : fl.l_type != F_UNLCK;
    if (rc == 1 && holder)
        read_holder(fd, holder);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* ---- the system-wide lock ---- */

/* Root makes the folder: 0700 first, so nobody can put anything in it before it is root's and
 * sticky, then 1777 through a descriptor that did not follow a link. */
static void create_system_dir(const char *dir)
{
    if (mkdir(dir, 0700) != 0)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_uid == 0 && S_ISDIR(st.st_mode))
        (void)fchmod(fd, 01777); /* when it fails, the folder stays 0700 and the check below says so */
    if (fd >= 0)
        close(fd);
}

/* The system folder is trusted only as root made it: a folder (not a link), root's, mode 1777
 * (sticky, so no user can remove or replace another's lock file; writable by all, so every
 * operator can take a lock in it). Root creates it when missing; nobody else does, since a
 * folder a user made is theirs to empty. 0, or -1 with the reason in why. */
static int system_dir_ready(const char *dir, char *why, size_t len)
{
    struct stat st;
    if (lstat(dir, &st) != 0 && errno == ENOENT && geteuid() == 0)
        create_system_dir(dir);
    if (lstat(dir, &st) != 0)
        return snprintf(why, len, "%s", errno == ENOENT ? "it is missing" : strerror(errno)), -1;
    if (!S_ISDIR(st.st_mode))
        return snprintf(why, len, "it is not a folder"), -1;
    if (st.st_uid != 0)
        return snprintf(why, len, "it is owned by uid %ld, not root", (long)st.st_uid), -1;
    if ((st.st_mode & 07777) != 01777)
        return snprintf(why, len, "its mode is %04o, not 1777", (unsigned)(st.st_mode & 07777)), -1;
    return 0;
}

/* Opens (creating, readable and writable by all) <dir>/<name>.lock, never through a symlink,
 * and never waiting (O_NONBLOCK: a FIFO planted under the name must not hang the run). A file
 * another user made private is still opened read-only: flock needs no write access, so it
 * still excludes, and only the holder's details are lost. */
static int open_system_file(const char *dir, const char *name, int *writable)
{
    char path[PATH_MAX];
    const int how = O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
    if (snprintf(path, sizeof path, "%s/%s.lock", dir, name) >= (int)sizeof path)
        return errno = ENAMETOOLONG, -1;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | how, 0666);
    if (fd >= 0)
        fchmod(fd, 0666); /* whatever the umask: every user's runs take this file */
    else if (errno == EEXIST)
        fd = open(path, O_RDWR | how);
    *writable = fd >= 0;
    if (fd < 0 && errno == EACCES)
        fd = open(path, O_RDONLY | how);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        close(fd);
        return errno = EINVAL, -1;
    }
    return fd;
}

/* The pid the kernel names as holding a flock on the file st describes (/proc/locks), or 0. */
static long kernel_holder_pid(const struct stat *st)
{
    FILE *f = fopen("/proc/locks", "re");
    char line[256];
    long found = 0;
    while (f && !found && fgets(line, sizeof line, f)) {
        char kind[16];
        long pid;
        unsigned maj, min;
        unsigned long ino;
        if (strstr(line, "->")) /* a waiter, not a holder */
            continue;
        if (sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%lu", kind, &pid, &maj, &min, &ino) == 5 &&
            !strcmp(kind, "FLOCK") && maj == major(st->st_dev) && min == minor(st->st_dev) && ino == st->st_ino)
            found = pid;
    }
    if (f)
        fclose(f);
    return found;
}

/* Who holds the system lock, as the kernel says it: the pid from /proc/locks, the user who
 * owns that process; the run id from the file's text only when the text names that pid (any
 * user may write the text). All unknown when the kernel does not say. */
static void read_system_holder(int fd, rb_lock_holder *h)
{
    rb_lock_holder said;
    struct stat st, proc;
    char path[64];
    read_holder(fd, &said);
    *h = (rb_lock_holder){{0}, 0, -1};
    long pid = fstat(fd, &st) == 0 ? kernel_holder_pid(&st) : 0;
    snprintf(path, sizeof path, "/proc/%ld", pid);
    if (pid <= 0 || stat(path, &proc) != 0)
        return;
    h->pid = pid;
    h->uid = (long)proc.st_uid;
    if (said.pid == pid && said.uid == h->uid)
        snprintf(h->run_id, sizeof h->run_id, "%s", said.run_id);
}

int rb_lock_acquire_system(rb_lock *lock, const char *sys_dir, const char *name, const char *run_id,
                           rb_lock_holder *holder, char *why, size_t whylen)
{
    int writable;
    char ignored[8];
    if (!why)
        why = ignored, whylen = sizeof ignored;
    *why = 0;
    if (!lock || !rb_lock_name_valid(name) || !run_id_valid(run_id) || !sys_dir)
        return errno = EINVAL, -1;
    if (system_dir_ready(sys_dir, why, whylen) != 0)
        return RB_LOCK_NO_SYSTEM;
    int fd = open_system_file(sys_dir, name, &writable);
    if (fd < 0)
        return snprintf(why, whylen, "its file %s.lock cannot be opened: %s", name, strerror(errno)), RB_LOCK_NO_SYSTEM;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        if (busy && holder)
            read_system_holder(fd, holder);
        else if (!busy)
            snprintf(why, whylen, "its file %s.lock cannot be locked: %s", name, strerror(errno));
        close(fd);
        return busy ? RB_LOCK_BUSY : RB_LOCK_NO_SYSTEM;
    }
    if (writable)
        write_holder(fd, run_id); /* details only: the flock is what excludes */
    lock->sys_fd = fd;
    lock->sys_writable = writable;
    return 0;
}
