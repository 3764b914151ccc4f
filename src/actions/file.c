/* The file action: an atomic write (temporary file, fsync, rename, fsync of the folder) whose
 * previous state is saved beside the journal first (0600), so a rollback — also a resumed
 * one — can put it back or remove the file. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_place.h"
#include "file_remote.h"
#include "runbook/action.h"

#define FILE_MAX (16u << 20)
#define PREVIEW_DIFF_LINES 200 /* a dry run's diff of a file step, at most */

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

/* A fresh temporary entry beside the file (O_EXCL|O_NOFOLLOW: nothing planted is reused); its
 * name goes into tmp. */
static int open_temp(const rb_file_place *p, char *tmp, size_t size)
{
    static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (int tries = 0; tries < 100; tries++) {
        unsigned char r[6];
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
            return -1;
        char suffix[7];
        for (size_t i = 0; i < sizeof r; i++)
            suffix[i] = letters[r[i] % (sizeof letters - 1)];
        suffix[6] = '\0';
        if (strlen(p->name) + 10 <= NAME_MAX)
            snprintf(tmp, size, "%s.rb%s", p->name, suffix);
        else
            snprintf(tmp, size, ".rb-tmp-%s", suffix);
        int fd = openat(p->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

/* Writes the place's entry through a temporary file in the same folder, so readers see old or
 * new; the rename replaces the entry itself, whatever it has become meanwhile, and follows
 * nothing. The owner is copied when we may (as root); otherwise the file is ours. */
static int atomic_write(const rb_file_place *p, const char *data, size_t len, const file_owner *o, char *err,
                        size_t errlen)
{
    char tmp[NAME_MAX + 1];
    int fd = open_temp(p, tmp, sizeof tmp);
    if (fd >= 0 && o->uid != (uid_t)-1 && fchown(fd, o->uid, o->gid) != 0 && errno != EPERM)
        fd = (close(fd), unlinkat(p->dirfd, tmp, 0), -1);
    int rc = fd < 0 || fchmod(fd, o->mode) || write_all(fd, data, len) || fsync(fd) ? -1 : 0;
    if (fd >= 0 && close(fd) != 0)
        rc = -1;
    if (rc == 0 && renameat(p->dirfd, tmp, p->dirfd, p->name) != 0)
        rc = -1;
    if (rc != 0) {
        snprintf(err, errlen, "cannot write %s: %s", p->shown, strerror(errno));
        if (fd >= 0)
            unlinkat(p->dirfd, tmp, 0);
    } else if (fsync(p->dirfd) != 0) {
        snprintf(err, errlen, "cannot sync the folder of %s: %s", p->shown, strerror(errno));
        rc = -1;
    }
    return rc;
}

/* The entry's content, when it is a regular file of at most FILE_MAX bytes; NULL with errno
 * otherwise (ENOENT: there is none; ELOOP: it is a symlink; EINVAL: not a regular file). */
static char *read_bounded(const rb_file_place *p, size_t *len, struct stat *st)
{
    int fd = openat(p->dirfd, p->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *buf = NULL;
    if (fstat(fd, st) != 0)
        buf = NULL;
    else if (!S_ISREG(st->st_mode))
        errno = EINVAL;
    else if ((size_t)st->st_size > FILE_MAX)
        errno = EFBIG;
    else if ((buf = malloc((size_t)st->st_size + 1))) {
        ssize_t n = read(fd, buf, (size_t)st->st_size);
        *len = n > 0 ? (size_t)n : 0;
        buf[*len] = 0;
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return buf;
}

/* Saves what the file was before the first write of this step; later attempts and a resumed
 * run keep that first record, which is the state a rollback must return to. */
static int save_previous(const rb_act_call *c, const rb_file_place *p, char *err, size_t errlen)
{
    char *seen = NULL;
    size_t seen_len;
    int have = c->side_read ? c->side_read(c->side_ctx, "meta", &seen, &seen_len) : -1;
    free(seen);
    if (have == 0)
        return 0;
    if (have < 0)
        return snprintf(err, errlen, "cannot keep the previous content of %s beside the journal", p->shown), -1;
    size_t len = 0;
    struct stat st;
    char *old = read_bounded(p, &len, &st);
    if (!old && errno != ENOENT)
        return snprintf(err, errlen, "cannot read the current %s: %s", p->shown, strerror(errno)), -1;
    char meta[96];
    snprintf(meta, sizeof meta, "{\"existed\":%s,\"mode\":%u,\"uid\":%ld,\"gid\":%ld}", old ? "true" : "false",
             old ? (unsigned)(st.st_mode & 07777) : 0u, old ? (long)st.st_uid : -1L, old ? (long)st.st_gid : -1L);
    int rc = (old && c->side_write(c->side_ctx, "old", old, len) != 0) ||
             c->side_write(c->side_ctx, "meta", meta, strlen(meta)) != 0;
    free(old);
    if (rc)
        snprintf(err, errlen, "cannot save the previous content of %s beside the journal", p->shown);
    return rc ? -1 : 0;
}

static file_owner owner_for(const rb_file_place *p, const char *mode_s)
{
    struct stat st;
    int exists = fstatat(p->dirfd, p->name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
    file_owner o = {exists ? st.st_mode & 07777 : 0644, exists ? st.st_uid : (uid_t)-1, exists ? st.st_gid : (gid_t)-1};
    if (mode_s)
        o.mode = (mode_t)strtol(mode_s, NULL, 8);
    return o;
}

/* A trusted symlink is written through (see rb_file_place_open): the file it points to is
 * replaced and the link stays (a config managed as "current -> v2.conf" keeps its shape). */
static int run_file(const rb_act_call *c, rb_act_result *res)
{
    if (c->target)
        return rb_file_remote_run(c, res);
    json_t *content = json_object_get(c->params, "content");
    const char *given = json_string_value(json_object_get(c->params, "path"));
    char err[PATH_MAX + 256];
    rb_file_place p;
    if (rb_file_place_open(given, 1, &p, err, sizeof err) != 0)
        return rb_act_fail(res, RB_OUT_FAILED, "io", "%s", err), -1;
    file_owner owner = owner_for(&p, json_string_value(json_object_get(c->params, "mode")));
    struct stat st;
    size_t len = 0;
    int rc = -1;
    if (save_previous(c, &p, err, sizeof err) == 0) {
        char *before = read_bounded(&p, &len, &st);
        int changed = !before || len != json_string_length(content) || memcmp(before, json_string_value(content), len);
        free(before);
        if (atomic_write(&p, json_string_value(content), json_string_length(content), &owner, err, sizeof err) == 0) {
            res->outputs = json_pack("{s:s, s:b}", "path", p.via_link ? p.shown : given, "changed", changed);
            res->outcome = RB_OUT_SUCCEEDED;
            rc = 0;
        }
    }
    if (rc != 0)
        rb_act_fail(res, RB_OUT_FAILED, "io", "%s", err);
    rb_file_place_close(&p);
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

/* Puts the saved content back, found again with the same checks as the write. */
static void restore_old(const rb_act_call *c, const char *given, json_t *meta, rb_act_result *res)
{
    char *old = NULL, err[PATH_MAX + 256];
    size_t len = 0;
    json_t *uid = json_object_get(meta, "uid"), *gid = json_object_get(meta, "gid");
    file_owner o = {(mode_t)json_integer_value(json_object_get(meta, "mode")),
                    uid ? (uid_t)json_integer_value(uid) : (uid_t)-1, gid ? (gid_t)json_integer_value(gid) : (gid_t)-1};
    rb_file_place p;
    if (rb_file_place_open(given, 1, &p, err, sizeof err) != 0)
        rb_act_fail(res, RB_OUT_FAILED, "io", "cannot restore: %s", err);
    else if (c->side_read(c->side_ctx, "old", &old, &len) != 0)
        rb_act_fail(res, RB_OUT_FAILED, "io", "the saved content of %s is missing", p.shown);
    else if (atomic_write(&p, old, len, &o, err, sizeof err) != 0)
        rb_act_fail(res, RB_OUT_FAILED, "io", "%s", err);
    free(old);
    rb_file_place_close(&p);
}

/* Removes the file the step created: the entry itself, in its folder, never what a symlink put
 * there since then points to; an entry that is no longer a regular file is left alone. */
static void remove_new(const char *given, rb_act_result *res)
{
    char err[PATH_MAX + 256];
    struct stat st;
    rb_file_place p;
    if (rb_file_place_open(given, 0, &p, err, sizeof err) != 0)
        rb_act_fail(res, RB_OUT_FAILED, "io", "cannot remove: %s", err);
    else if (fstatat(p.dirfd, p.name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT)
            rb_act_fail(res, RB_OUT_FAILED, "io", "cannot remove %s: %s", p.shown, strerror(errno));
    } else if (!S_ISREG(st.st_mode))
        rb_act_fail(res, RB_OUT_FAILED, "io", "%s is no longer the regular file this step wrote (it is now %s): left as it is",
                    p.shown, S_ISLNK(st.st_mode) ? "a symlink" : "something else");
    else if (unlinkat(p.dirfd, p.name, 0) != 0 && errno != ENOENT)
        rb_act_fail(res, RB_OUT_FAILED, "io", "cannot remove %s: %s", p.shown, strerror(errno));
    else
        fsync(p.dirfd);
    rb_file_place_close(&p);
}

static int undo_file(const rb_act_call *c, rb_act_result *res)
{
    if (c->target)
        return rb_file_remote_undo(c, res);
    const char *given = json_string_value(json_object_get(c->params, "path"));
    json_t *meta = saved_meta(c);
    res->outputs = json_object();
    res->outcome = RB_OUT_SUCCEEDED;
    if (!meta) {
        /* never saved: the write never started, so there is nothing to undo */
    } else if (json_is_true(json_object_get(meta, "existed"))) {
        restore_old(c, given, meta, res);
    } else {
        remove_new(given, res);
    }
    json_decref(meta);
    return res->outcome == RB_OUT_SUCCEEDED ? 0 : -1;
}

/* "would write PATH (mode)" and the diff of what it holds now against the new content; the
 * file is found with the same checks as the write, and only read. A remote file is not read:
 * a dry run opens no connection for a write step. */
static void preview_file(const rb_act_call *c, rb_act_preview *p)
{
    json_t *content = json_object_get(c->params, "content");
    const char *given = json_string_value(json_object_get(c->params, "path"));
    const char *mode = json_string_value(json_object_get(c->params, "mode"));
    rb_act_say(p, "would write %s%s%s (%zu bytes%s%s)\n", given ? given : "?", c->target ? " on " : "",
               c->target ? (c->target_name ? c->target_name : "?") : "", json_string_length(content),
               mode ? ", mode " : "", mode ? mode : "");
    if (c->target || !given)
        return;
    char err[PATH_MAX + 256];
    rb_file_place place;
    struct stat st;
    size_t len = 0;
    char *before = NULL;
    if (rb_file_place_open(given, 1, &place, err, sizeof err) != 0) {
        rb_act_say(p, "(%s)\n", err);
        return;
    }
    errno = 0;
    before = read_bounded(&place, &len, &st);
    if (before || errno == ENOENT)
        rb_act_say_diff(p, before ? before : "", before ? len : 0, json_string_value(content),
                        json_string_length(content), place.shown, PREVIEW_DIFF_LINES);
    else
        rb_act_say(p, "(the current %s cannot be read: %s)\n", place.shown, strerror(errno));
    free(before);
    rb_file_place_close(&place);
}

const rb_action_ops rb_file_ops = {
    .run = run_file, .undo = undo_file, .disconnect = rb_file_remote_disconnect, .preview = preview_file};
