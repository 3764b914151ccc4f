/* Starting a child for the runner: argv[0] looked up in the child's own PATH, then posix_spawn
 * into a new process group with default signals, an empty mask and only fds 0..3 open. */
#include "proc/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_PATH "/usr/bin:/bin"

void proc_fail(rb_proc_result *res, rb_proc_outcome o, int err, const char *fmt, ...)
{
    va_list ap;
    res->outcome = o;
    res->error = err;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof res->message, fmt, ap);
    va_end(ap);
}

static const char *env_path(const char *const *env)
{
    for (; env && *env; env++)
        if (strncmp(*env, "PATH=", 5) == 0)
            return *env + 5;
    return DEFAULT_PATH;
}

/* 0 if `path` is an executable regular file, else the errno execve would most likely give. */
static int check_executable(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return errno;
    if (!S_ISREG(st.st_mode))
        return EACCES;
    return faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0 ? 0 : errno;
}

/* Like execvp's search, but only absolute entries count: "" and "." would make the command
 * depend on the directory the runbook happens to run in. */
static int find_in_path(const char *name, const char *path, char *out, size_t size)
{
    size_t nlen = strlen(name);
    int err = ENOENT;
    while (*path) {
        const char *end = strchrnul(path, ':');
        size_t dlen = (size_t)(end - path);
        if (path[0] == '/' && dlen + 1 + nlen < size) {
            memcpy(out, path, dlen);
            out[dlen] = '/';
            memcpy(out + dlen + 1, name, nlen + 1);
            int e = check_executable(out);
            if (e == 0)
                return 0;
            if (e == EACCES)
                err = EACCES; /* as execvp: report it only if nothing better turns up */
        }
        path = *end ? end + 1 : end;
    }
    return err;
}

/* Turns argv[0] into a path to execute; on failure writes the message into res. */
static int resolve_command(const rb_proc_spec *spec, char *out, size_t size, rb_proc_result *res)
{
    const char *name = spec->argv ? spec->argv[0] : NULL;
    if (!name || !*name) {
        proc_fail(res, RB_PROC_SPAWN_FAILED, EINVAL, "empty command");
        return -1;
    }
    if (strchr(name, '/')) {
        if ((size_t)snprintf(out, size, "%s", name) < size)
            return 0;
        proc_fail(res, RB_PROC_SPAWN_FAILED, ENAMETOOLONG, "cannot run %.64s...: %s", name,
                  strerror(ENAMETOOLONG));
        return -1;
    }
    int err = find_in_path(name, env_path(spec->env), out, size);
    if (err == 0)
        return 0;
    if (err == ENOENT)
        proc_fail(res, RB_PROC_SPAWN_FAILED, err, "no such command: %s", name);
    else
        proc_fail(res, RB_PROC_SPAWN_FAILED, err, "cannot run %s: %s", name, strerror(err));
    return -1;
}

static int setup_attr(posix_spawnattr_t *at)
{
    sigset_t all, none;
    /* Every bit, not sigfillset(): glibc leaves its two internal signals out of that, and its
     * posix_spawn then hands them to the child as SIG_IGN, which survives the exec. */
    memset(&all, 0xff, sizeof all);
    sigemptyset(&none);
    int rc = posix_spawnattr_init(at);
    if (rc)
        return rc;
    short flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
    if ((rc = posix_spawnattr_setflags(at, flags)) || (rc = posix_spawnattr_setpgroup(at, 0)) ||
        (rc = posix_spawnattr_setsigdefault(at, &all)) ||
        (rc = posix_spawnattr_setsigmask(at, &none)))
        posix_spawnattr_destroy(at);
    return rc;
}

static int setup_files(posix_spawn_file_actions_t *fa, const proc_child_fds *fds, const char *cwd)
{
    int rc = posix_spawn_file_actions_init(fa);
    if (rc)
        return rc;
    if (fds->in >= 0)
        rc = posix_spawn_file_actions_adddup2(fa, fds->in, 0);
    else
        rc = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
    if (!rc)
        rc = posix_spawn_file_actions_adddup2(fa, fds->out, 1);
    if (!rc)
        rc = posix_spawn_file_actions_adddup2(fa, fds->err, 2);
    if (!rc && fds->fd3 >= 0)
        rc = posix_spawn_file_actions_adddup2(fa, fds->fd3, 3);
    if (!rc && cwd)
        rc = posix_spawn_file_actions_addchdir_np(fa, cwd);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
    /* The runner's own fds are close-on-exec; this also catches fds other code leaked. */
    if (!rc)
        rc = posix_spawn_file_actions_addclosefrom_np(fa, fds->fd3 >= 0 ? 4 : 3);
#endif
    if (rc)
        posix_spawn_file_actions_destroy(fa);
    return rc;
}

/* 1 if the child could not have entered `dir`, which posix_spawn reports like any other errno. */
static int bad_directory(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return 1;
    return faccessat(AT_FDCWD, dir, X_OK, AT_EACCESS) < 0;
}

/* Explains a failed posix_spawn: the directory, a missing command, or the exec itself. */
static void explain_spawn_error(const rb_proc_spec *spec, const char *path, int err,
                                rb_proc_result *res)
{
    const char *name = spec->argv[0];
    struct stat st;
    /* A relative path is relative to the child's directory: only an absolute one can be looked
     * at from here. */
    int can_stat = path[0] == '/' || !spec->cwd;
    if (spec->cwd && bad_directory(spec->cwd))
        proc_fail(res, RB_PROC_SPAWN_FAILED, err, "cannot change to directory %s: %s", spec->cwd,
                  strerror(err));
    else if (err == ENOENT && can_stat && stat(path, &st) == 0)
        proc_fail(res, RB_PROC_SPAWN_FAILED, err,
                  "cannot run %s: its interpreter or a library it needs is missing", name);
    else if (err == ENOENT)
        proc_fail(res, RB_PROC_SPAWN_FAILED, err, "no such command: %s", name);
    else
        proc_fail(res, RB_PROC_SPAWN_FAILED, err, "cannot run %s: %s", name, strerror(err));
}

/* posix_spawn proper; returns its error number. */
static int spawn_path(const rb_proc_spec *spec, const proc_child_fds *fds, const char *path,
                      pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int rc = setup_files(&fa, fds, spec->cwd);
    if (rc)
        return rc;
    rc = setup_attr(&at);
    if (rc)
        goto destroy_files;
    /* posix_spawn's prototypes predate const; neither array is written to. */
    rc = posix_spawn(pid, path, &fa, &at, (char *const *)spec->argv,
                     spec->env ? (char *const *)spec->env : (char *const[]){NULL});
    posix_spawnattr_destroy(&at);
destroy_files:
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

int proc_spawn(const rb_proc_spec *spec, const proc_child_fds *fds, pid_t *pid, rb_proc_result *res)
{
    char path[PATH_MAX];
    *pid = 0;
    if (resolve_command(spec, path, sizeof path, res) < 0)
        return -1;
    int rc = spawn_path(spec, fds, path, pid);
    if (rc == 0)
        return 0;
    *pid = 0;
    explain_spawn_error(spec, path, rc, res);
    return -1;
}
