/* Remote files over SFTP on an rb_ssh session: read a file as it was (content, mode, owner),
 * write one atomically (temporary file in the same folder, then rename into place), and put
 * back or remove what was there, for a rollback. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "ssh_session.h"

#define PERM_BITS 07777ul

static const char *fx_text(unsigned long fx)
{
    switch (fx) {
    case LIBSSH2_FX_NO_SUCH_FILE: return "no such file";
    case LIBSSH2_FX_PERMISSION_DENIED: return "permission denied";
    case LIBSSH2_FX_NO_SUCH_PATH: return "no such folder";
    case LIBSSH2_FX_FILE_ALREADY_EXISTS: return "file exists";
    case LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM: return "no space left";
    case LIBSSH2_FX_QUOTA_EXCEEDED: return "quota exceeded";
    case LIBSSH2_FX_WRITE_PROTECT: return "read-only file system";
    default: return NULL;
    }
}

/* Fills res for a failed SFTP call on `path`, unless the wait for it was what ended. */
static int sftp_fail(rb_ssh *s, rb_act_result *res, const char *what, const char *path, int rc)
{
    if (rb_ssh_stopped(res))
        return -1;
    const char *why = rc == LIBSSH2_ERROR_SFTP_PROTOCOL ? fx_text(libssh2_sftp_last_error(s->sftp)) : NULL;
    if (why)
        rb_act_fail(res, RB_OUT_FAILED, "io", "cannot %s %s on %s: %s", what, path, s->name, why);
    else
        rb_ssh_fail(s, res, "io", what);
    return -1;
}

static int sftp_start(rb_ssh *s, const rb_act_call *c, rb_act_result *res)
{
    if (!s->sftp)
        RB_SSH_AGAIN_PTR(s, c, res, s->sftp, libssh2_sftp_init(s->session));
    if (!s->sftp && !rb_ssh_stopped(res))
        rb_ssh_fail(s, res, "io", "cannot start SFTP on");
    return s->sftp ? 0 : -1;
}

static LIBSSH2_SFTP_HANDLE *open_file(rb_ssh *s, const rb_act_call *c, const char *path,
                                      unsigned long flags, long mode, rb_act_result *res)
{
    LIBSSH2_SFTP_HANDLE *h;
    RB_SSH_AGAIN_PTR(s, c, res, h,
                     libssh2_sftp_open_ex(s->sftp, path, (unsigned)strlen(path), flags, mode,
                                          LIBSSH2_SFTP_OPENFILE));
    return h;
}

static void close_file(rb_ssh *s, const rb_act_call *c, LIBSSH2_SFTP_HANDLE *h)
{
    rb_act_result ignored = {0};
    int rc;
    RB_SSH_AGAIN(s, c, &ignored, rc, libssh2_sftp_close_handle(h));
}

/* ---- reading ---- */

static int read_all(rb_ssh *s, const rb_act_call *c, LIBSSH2_SFTP_HANDLE *h, rb_sftp_file *out,
                    rb_act_result *res)
{
    size_t cap = out->len + 1;
    out->data = malloc(cap);
    out->len = 0;
    for (ssize_t n = 1; out->data && n > 0;) {
        if (out->len + 4096 > cap) {
            if (cap > RB_SFTP_FILE_MAX + 1)
                return rb_act_fail(res, RB_OUT_FAILED, "io", "the file is over 16 MiB"), -1;
            char *d = realloc(out->data, cap * 2 + 4096);
            if (!d)
                break;
            out->data = d, cap = cap * 2 + 4096;
        }
        RB_SSH_AGAIN(s, c, res, n, libssh2_sftp_read(h, out->data + out->len, cap - out->len - 1));
        if (n < 0)
            return (int)n;
        out->len += (size_t)n;
    }
    return out->data ? 0 : (rb_act_fail(res, RB_OUT_FAILED, "io", "out of memory"), -1);
}

int rb_ssh_sftp_read(rb_ssh *s, const rb_act_call *c, const char *path, rb_sftp_file *out,
                     rb_act_result *res)
{
    LIBSSH2_SFTP_ATTRIBUTES a;
    int rc;
    memset(out, 0, sizeof *out);
    if (sftp_start(s, c, res) != 0)
        return -1;
    RB_SSH_AGAIN(s, c, res, rc,
                 libssh2_sftp_stat_ex(s->sftp, path, (unsigned)strlen(path), LIBSSH2_SFTP_STAT, &a));
    if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL && libssh2_sftp_last_error(s->sftp) == LIBSSH2_FX_NO_SUCH_FILE)
        return 1;
    if (rc != 0)
        return sftp_fail(s, res, "read", path, rc);
    if (a.filesize > RB_SFTP_FILE_MAX)
        return rb_act_fail(res, RB_OUT_FAILED, "io", "%s on %s is over 16 MiB", path, s->name), -1;
    out->mode = a.permissions & PERM_BITS, out->uid = a.uid, out->gid = a.gid;
    out->len = (size_t)a.filesize;
    LIBSSH2_SFTP_HANDLE *h = open_file(s, c, path, LIBSSH2_FXF_READ, 0, res);
    if (!h)
        return sftp_fail(s, res, "read", path, libssh2_session_last_errno(s->session));
    rc = read_all(s, c, h, out, res);
    close_file(s, c, h);
    if (rc != 0)
        rb_sftp_file_free(out);
    return rc == 0 ? 0 : sftp_fail(s, res, "read", path, rc);
}

void rb_sftp_file_free(rb_sftp_file *f)
{
    free(f->data);
    f->data = NULL;
    f->len = 0;
}

/* ---- writing ---- */

static int write_all(rb_ssh *s, const rb_act_call *c, LIBSSH2_SFTP_HANDLE *h, const char *data,
                     size_t len, rb_act_result *res)
{
    for (size_t off = 0; off < len;) {
        ssize_t n;
        RB_SSH_AGAIN(s, c, res, n, libssh2_sftp_write(h, data + off, len - off));
        if (n < 0)
            return (int)n;
        off += (size_t)n;
    }
    return 0;
}

/* The mode (and, when we may, the owner: as root) of an open file. */
static int set_attrs(rb_ssh *s, const rb_act_call *c, LIBSSH2_SFTP_HANDLE *h, unsigned long mode,
                     const rb_sftp_file *owner, rb_act_result *res)
{
    LIBSSH2_SFTP_ATTRIBUTES a = {.flags = LIBSSH2_SFTP_ATTR_PERMISSIONS, .permissions = mode & PERM_BITS};
    int rc;
    RB_SSH_AGAIN(s, c, res, rc, libssh2_sftp_fsetstat(h, &a));
    if (rc != 0 || !owner)
        return rc;
    LIBSSH2_SFTP_ATTRIBUTES o = {.flags = LIBSSH2_SFTP_ATTR_UIDGID, .uid = owner->uid, .gid = owner->gid};
    int orc;
    RB_SSH_AGAIN(s, c, res, orc, libssh2_sftp_fsetstat(h, &o));
    return rb_ssh_stopped(res) ? orc : 0; /* not ours to give away: the file stays ours */
}

/* Content, sync, mode; the handle closed either way. */
static int fill_temp(rb_ssh *s, const rb_act_call *c, const char *tmp, const char *data, size_t len,
                     unsigned long mode, const rb_sftp_file *owner, rb_act_result *res)
{
    unsigned long flags = LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_EXCL;
    LIBSSH2_SFTP_HANDLE *h = open_file(s, c, tmp, flags, 0600, res);
    if (!h)
        return libssh2_session_last_errno(s->session);
    int rc = write_all(s, c, h, data, len, res);
    if (rc == 0)
        RB_SSH_AGAIN(s, c, res, rc, libssh2_sftp_fsync(h));
    if (rc == 0)
        rc = set_attrs(s, c, h, mode, owner, res);
    close_file(s, c, h);
    return rc;
}

/* 'v' with each ' as '\'' : one shell word (malloc'd). */
static char *quoted(const char *v)
{
    size_t n = 3;
    for (const char *p = v; *p; p++)
        n += *p == '\'' ? 4 : 1;
    char *out = malloc(n), *o = out;
    if (!out)
        return NULL;
    *o++ = '\'';
    for (const char *p = v; *p; p++) {
        if (*p == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        } else
            *o++ = *p;
    }
    *o++ = '\'';
    *o = 0;
    return out;
}

/* Runs a short command with no input on the session; its exit status, or -1. */
static int exec_status(rb_ssh *s, const rb_act_call *c, const char *cmd, rb_act_result *res)
{
    LIBSSH2_CHANNEL *ch;
    int rc, status = -1;
    char sink[1024];
    RB_SSH_AGAIN_PTR(s, c, res, ch, libssh2_channel_open_session(s->session));
    if (!ch)
        return -1;
    RB_SSH_AGAIN(s, c, res, rc, libssh2_channel_exec(ch, cmd));
    while (rc == 0 && !libssh2_channel_eof(ch)) {
        ssize_t n = libssh2_channel_read_ex(ch, 0, sink, sizeof sink);
        ssize_t m = libssh2_channel_read_ex(ch, SSH_EXTENDED_DATA_STDERR, sink, sizeof sink);
        if (n == LIBSSH2_ERROR_EAGAIN && m == LIBSSH2_ERROR_EAGAIN && rb_ssh_wait(s, c, res) != 0)
            rc = -1;
        else if ((n < 0 && n != LIBSSH2_ERROR_EAGAIN) || (m < 0 && m != LIBSSH2_ERROR_EAGAIN))
            rc = -1;
    }
    if (rc == 0)
        RB_SSH_AGAIN(s, c, res, rc, libssh2_channel_close(ch));
    if (rc == 0)
        RB_SSH_AGAIN(s, c, res, rc, libssh2_channel_wait_closed(ch));
    if (rc == 0)
        status = libssh2_channel_get_exit_status(ch);
    libssh2_channel_free(ch); /* a pending free goes with the session */
    return status;
}

/* OpenSSH's SFTP rename (protocol 3) will not replace an existing file, and libssh2 1.10 cannot
 * send the posix-rename extension; mv -f over an exec channel is rename(2), atomic. */
static int replace_with(rb_ssh *s, const rb_act_call *c, const char *tmp, const char *path,
                        rb_act_result *res)
{
    int rc;
    RB_SSH_AGAIN(s, c, res, rc,
                 libssh2_sftp_rename_ex(s->sftp, tmp, (unsigned)strlen(tmp), path, (unsigned)strlen(path),
                                        LIBSSH2_SFTP_RENAME_OVERWRITE | LIBSSH2_SFTP_RENAME_ATOMIC |
                                            LIBSSH2_SFTP_RENAME_NATIVE));
    if (rc == 0 || rb_ssh_stopped(res))
        return rc;
    char *qt = quoted(tmp), *qp = quoted(path), *cmd = NULL;
    if (qt && qp && asprintf(&cmd, "mv -f -- %s %s", qt, qp) < 0)
        cmd = NULL;
    rc = cmd && exec_status(s, c, cmd, res) == 0 ? 0 : -1;
    free(qt);
    free(qp);
    free(cmd);
    return rc;
}

static void remove_quietly(rb_ssh *s, const rb_act_call *c, const char *path)
{
    rb_act_result ignored = {0};
    int rc;
    RB_SSH_AGAIN(s, c, &ignored, rc, libssh2_sftp_unlink_ex(s->sftp, path, (unsigned)strlen(path)));
}

static char *temp_name(const char *path)
{
    unsigned char r[6];
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (tmp && RAND_bytes(r, sizeof r) != 1)
        memset(r, 0, sizeof r);
    if (tmp)
        snprintf(tmp, n, "%s.rb%02x%02x%02x%02x%02x%02x", path, r[0], r[1], r[2], r[3], r[4], r[5]);
    return tmp;
}

int rb_ssh_sftp_write(rb_ssh *s, const rb_act_call *c, const char *path, const char *data,
                      size_t len, unsigned long mode, const rb_sftp_file *owner, rb_act_result *res)
{
    if (sftp_start(s, c, res) != 0)
        return -1;
    char *tmp = temp_name(path);
    if (!tmp)
        return rb_act_fail(res, RB_OUT_FAILED, "io", "out of memory"), -1;
    int rc = fill_temp(s, c, tmp, data, len, mode, owner, res);
    if (rc != 0)
        sftp_fail(s, res, "write", tmp, rc);
    else if ((rc = replace_with(s, c, tmp, path, res)) != 0 && !rb_ssh_stopped(res))
        rb_act_fail(res, RB_OUT_FAILED, "io", "cannot rename %s into place on %s", tmp, s->name);
    if (rc != 0 && !rb_ssh_stopped(res))
        remove_quietly(s, c, tmp);
    free(tmp);
    return rc == 0 ? 0 : -1;
}

int rb_ssh_sftp_restore(rb_ssh *s, const rb_act_call *c, const char *path, const rb_sftp_file *old,
                        rb_act_result *res)
{
    if (old)
        return rb_ssh_sftp_write(s, c, path, old->data ? old->data : "", old->len, old->mode, old, res);
    if (sftp_start(s, c, res) != 0)
        return -1;
    int rc;
    RB_SSH_AGAIN(s, c, res, rc, libssh2_sftp_unlink_ex(s->sftp, path, (unsigned)strlen(path)));
    if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL && libssh2_sftp_last_error(s->sftp) == LIBSSH2_FX_NO_SUCH_FILE)
        return 0;
    return rc == 0 ? 0 : sftp_fail(s, res, "remove", path, rc);
}
