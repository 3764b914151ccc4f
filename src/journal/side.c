/* Side files beside a journal: rollback data that must not be journaled, 0600, replaced whole. */
#include "journal/journal_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIDE_NAME_MAX 128

/* Returns the run's side directory, created (0700) if needed; caller frees. NULL with errno. */
static char *side_dir(const rb_journal *j)
{
    char *dir = journal_printf("%s/%s.d", j->runs_dir, j->run_id);
    if (dir && journal_make_dirs(dir) < 0) {
        int saved = errno;
        free(dir);
        errno = saved;
        return NULL;
    }
    return dir;
}

static int side_names_ok(const char *step_id, const char *suffix)
{
    return journal_name_ok(step_id, JOURNAL_ALNUM, JOURNAL_ALNUM "_-", SIDE_NAME_MAX) &&
           journal_name_ok(suffix, JOURNAL_ALNUM, JOURNAL_ALNUM "_.-", SIDE_NAME_MAX) &&
           !strstr(suffix, "..");
}

char *rb_journal_side_path(rb_journal *j, const char *step_id, const char *suffix)
{
    if (!side_names_ok(step_id, suffix)) {
        errno = EINVAL;
        return NULL;
    }
    char *dir = side_dir(j);
    char *path = dir ? journal_printf("%s/%s.%s", dir, step_id, suffix) : NULL;
    free(dir);
    return path;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes `tmp` whole and synced, mode 0600 whatever the umask left. */
static int write_file(const char *tmp, const void *data, size_t len)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    int rc = fchmod(fd, 0600) < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0 ? -1 : 0;
    int saved = errno;
    if (close(fd) < 0 && rc == 0)
        return -1;
    errno = saved;
    return rc;
}

int rb_journal_side_write(rb_journal *j, const char *step_id, const char *suffix,
                          const void *data, size_t len)
{
    if (!side_names_ok(step_id, suffix)) {
        errno = EINVAL;
        return -1;
    }
    char *dir = side_dir(j);
    /* The leading dot keeps the temporary name out of the space of side file names. */
    char *tmp = dir ? journal_printf("%s/.%s.%s.tmp", dir, step_id, suffix) : NULL;
    char *path = dir ? journal_printf("%s/%s.%s", dir, step_id, suffix) : NULL;
    int rc = -1;
    if (tmp && path && write_file(tmp, data, len) == 0 && rename(tmp, path) == 0)
        rc = journal_sync_dir(dir);
    if (rc < 0 && tmp) {
        int saved = errno;
        unlink(tmp); /* gone already if the rename was done */
        errno = saved;
    }
    free(tmp);
    free(path);
    free(dir);
    return rc;
}

int rb_journal_side_read(rb_journal *j, const char *step_id, const char *suffix, size_t max, char **data,
                         size_t *len)
{
    char *path = rb_journal_side_path(j, step_id, suffix);
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
    int rc = fd < 0 ? (path && errno == ENOENT ? 1 : -1) : -1;
    struct stat st;
    free(path);
    *data = NULL;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size <= max &&
        (*data = malloc((size_t)st.st_size + 1))) {
        ssize_t n = read(fd, *data, (size_t)st.st_size);
        *len = n > 0 ? (size_t)n : 0;
        (*data)[*len] = 0;
        rc = n == st.st_size ? 0 : (free(*data), *data = NULL, -1);
    }
    if (fd >= 0)
        close(fd);
    return rc;
}
