/* The file action: an atomic write (temporary file, fsync, rename, fsync of the folder) whose
 * previous state is saved beside the journal first (0600), so a rollback — also a resumed
 * one — can put it back or remove the file. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_remote.h"
#include "runbook/action.h"

#define FILE_MAX (16u << 20)

static int sync_dir_of(const char *path)
{
    char *copy = strdup(path);
    int fd = copy ? open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    free(copy);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int write_all(int fd, const char *s, size_t len)
{
    while (len) {
        ssize_t n = write(fd, s, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        s += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Who owns the file and how it may be read: the old file's, so a service user keeps reading
 * its config; uid -1 when the file is new. */
typedef struct file_owner {
    mode_t mode;
    uid_t uid;
    gid_t gid;
} file_owner;

/* Writes `path` through a temporary file in the same folder, so readers see old or new. The
 * owner is copied when we may (as root); otherwise the file is ours, as any new file would be. */
static int atomic_write(const char *path, const char *data, size_t len, const file_owner *o, char *err,
                        size_t errlen)
{
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp)
        return snprintf(err, errlen, "out of memory"), -1;
    snprintf(tmp, n, "%s.rbXXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd >= 0 && o->uid != (uid_t)-1 && fchown(fd, o->uid, o->gid) != 0 && errno != EPERM)
        fd = (close(fd), unlink(tmp), -1);
    int rc = fd < 0 || fchmod(fd, o->mode) || write_all(fd, data, len) || fsync(fd) ? -1 : 0;
    if (fd >= 0 && close(fd) != 0)
        rc = -1;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1;
    if (rc != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        if (fd >= 0)
            unlink(tmp);
    } else if (sync_dir_of(path) != 0) {
        snprintf(err, errlen, "cannot sync the folder of %s: %s", path, strerror(errno));
        rc = -1;
    }
    free(tmp);
    return rc;
}

static char *read_bounded(const char *path, size_t *len, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *buf = NULL;
    if (fstat(fd, st) == 0 && S_ISREG(st->st_mode) && (size_t)st->st_size <= FILE_MAX &&
        (buf = malloc((size_t)st->st_size + 1))) {
        ssize_t n = read(fd, buf, (size_t)st->st_size);
        *len = n > 0 ? (size_t)n : 0;
        buf[*len] = 0;
    }
    close(fd);
    return buf;
}

/* Saves what the file was before the first write of this step; later attempts and a resumed
 * run keep that first record, which is the state a rollback must return to. */
static int save_previous(const rb_act_call *c, const char *path, char *err, size_t errlen)
{
    char *seen = NULL;
    size_t seen_len;
    int have = c->side_read ? c->side_read(c->side_ctx, "meta", &seen, &seen_len) : -1;
    free(seen);
    if (have == 0)
        return 0;
    if (have < 0)
        return snprintf(err, errlen, "cannot keep the previous content of %s beside the journal", path), -1;
    size_t len = 0;
    struct stat st;
    char *old = read_bounded(path, &len, &st);
    if (!old && errno != ENOENT)
        return snprintf(err, errlen, "cannot read the current %s: %s", path, strerror(errno)), -1;
    char meta[96];
    snprintf(meta, sizeof meta, "{\"existed\":%s,\"mode\":%u,\"uid\":%ld,\"gid\":%ld}", old ? "true" : "false",
             old ? (unsigned)(st.st_mode & 07777) : 0u, old ? (long)st.st_uid : -1L, old ? (long)st.st_gid : -1L);
    int rc = (old && c->side_write(c->side_ctx, "old", old, len) != 0) ||
             c->side_write(c->side_ctx, "meta", meta, strlen(meta)) != 0;
    free(old);
    if (rc)
        snprintf(err, errlen, "cannot save the previous content of %s beside the journal", path);
    return rc ? -1 : 0;
}

/* A symlink is written through: the file it points to is replaced and the link stays (a config
 * managed as "current -> v2.conf" keeps its shape). A dangling one is refused. malloc'd. */
static char *target_of(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISLNK(st.st_mode))
        return strdup(path);
    char *real = realpath(path, NULL);
    if (!real)
        snprintf(err, errlen, "%s is a symlink to a missing file: refusing to write", path);
    return real;
}

static file_owner owner_for(const char *path, const char *mode_s)
{
    struct stat st;
    int exists = stat(path, &st) == 0;
    file_owner o = {exists ? st.st_mode & 07777 : 0644, exists ? st.st_uid : (uid_t)-1, exists ? st.st_gid : (gid_t)-1};
    if (mode_s)
        o.mode = (mode_t)strtol(mode_s, NULL, 8);
    return o;
}

static int run_file(const rb_act_call *c, rb_act_result *res)
{
    if (c->target)
        return rb_file_remote_run(c, res);
    json_t *content = json_object_get(c->params, "content");
    char err[256];
    char *path = target_of(json_string_value(json_object_get(c->params, "path")), err, sizeof err);
    if (!path)
        return rb_act_fail(res, RB_OUT_FAILED, "io", "%s", err), -1;
    file_owner owner = owner_for(path, json_string_value(json_object_get(c->params, "mode")));
    struct stat st;
    size_t len = 0;
    int rc = -1;
    if (save_previous(c, path, err, sizeof err) == 0) {
        char *before = read_bounded(path, &len, &st);
        int changed = !before || len != json_string_length(content) || memcmp(before, json_string_value(content), len);
        free(before);
        if (atomic_write(path, json_string_value(content), json_string_length(content), &owner, err, sizeof err) == 0) {
            res->outputs = json_pack("{s:s, s:b}", "path", path, "changed", changed);
            res->outcome = RB_OUT_SUCCEEDED;
            rc = 0;
        }
    }
    if (rc != 0)
        rb_act_fail(res, RB_OUT_FAILED, "io", "%s", err);
    free(path);
    return rc;
}

/* The saved state: meta (JSON) and, when the file existed, its old content. */
static json_t *saved_meta(const rb_act_call *c)
{
    char *text = NULL;
    size_t len;
    json_t *meta = c->side_read && c->side_read(c->side_ctx, "meta", &text, &len) == 0
                       ? json_loadb(text, len, 0, NULL) : NULL;
    free(text);
    return meta;
}

static void restore_old(const rb_act_call *c, const char *path, json_t *meta, rb_act_result *res)
{
    char *old = NULL, err[256];
    size_t len = 0;
    json_t *uid = json_object_get(meta, "uid"), *gid = json_object_get(meta, "gid");
    file_owner o = {(mode_t)json_integer_value(json_object_get(meta, "mode")),
                    uid ? (uid_t)json_integer_value(uid) : (uid_t)-1, gid ? (gid_t)json_integer_value(gid) : (gid_t)-1};
    if (c->side_read(c->side_ctx, "old", &old, &len) != 0)
        rb_act_fail(res, RB_OUT_FAILED, "io", "the saved content of %s is missing", path);
    else if (atomic_write(path, old, len, &o, err, sizeof err) != 0)
        rb_act_fail(res, RB_OUT_FAILED, "io", "%s", err);
    free(old);
}

static int undo_file(const rb_act_call *c, rb_act_result *res)
{
    if (c->target)
        return rb_file_remote_undo(c, res);
    char err[256];
    const char *given = json_string_value(json_object_get(c->params, "path"));
    char *path = target_of(given, err, sizeof err);
    if (!path)
        path = strdup(given);
    json_t *meta = saved_meta(c);
    res->outputs = json_object();
    res->outcome = RB_OUT_SUCCEEDED;
    if (!meta) {
        /* never saved: the write never started, so there is nothing to undo */
    } else if (json_is_true(json_object_get(meta, "existed"))) {
        restore_old(c, path, meta, res);
    } else if (unlink(path) != 0 && errno != ENOENT) {
        rb_act_fail(res, RB_OUT_FAILED, "io", "cannot remove %s: %s", path, strerror(errno));
    } else {
        sync_dir_of(path);
    }
    json_decref(meta);
    free(path);
    return res->outcome == RB_OUT_SUCCEEDED ? 0 : -1;
}

const rb_action_ops rb_file_ops = {.run = run_file, .undo = undo_file, .disconnect = rb_file_remote_disconnect};
