/* An SSH session to an ssh target (libssh2 1.10) for the actions that talk SSH (ssh, and file
 * over SFTP): TCP connect, handshake, host key check and authentication, every step
 * non-blocking under the call's deadline and cancel fd. Internal to src/actions. */
#ifndef RB_ACTIONS_SSH_SESSION_H
#define RB_ACTIONS_SSH_SESSION_H

#include <libssh2.h>
#include <libssh2_sftp.h>

#include "runbook/action.h"

typedef struct rb_ssh {
    int sock;
    LIBSSH2_SESSION *session;  /* non-blocking */
    LIBSSH2_SFTP *sftp;        /* opened on first SFTP use; closed with the session */
    char name[280];            /* "host" or "[host]:port", for messages and known_hosts */
} rb_ssh;

/* Repeats a libssh2 call while it would block, waiting for the socket in between. When the
 * wait ends by the deadline or a cancel, the loop stops with rc LIBSSH2_ERROR_EAGAIN and `res`
 * holds the timeout or cancel. */
#define RB_SSH_AGAIN(s, c, res, rc, call)                                                          \
    while (((rc) = (call)) == LIBSSH2_ERROR_EAGAIN && rb_ssh_wait((s), (c), (res)) == 0)
/* The same for calls that return a pointer (NULL with last errno EAGAIN while blocked). */
#define RB_SSH_AGAIN_PTR(s, c, res, p, call)                                                       \
    while (!((p) = (call)) &&                                                                      \
           libssh2_session_last_errno((s)->session) == LIBSSH2_ERROR_EAGAIN &&                    \
           rb_ssh_wait((s), (c), (res)) == 0)

/* Opens a session to c->target: connect, handshake, host key check (host_key_check true,
 * false or accept-new; known_hosts), authentication (key file, agent, password; the agent when
 * none is given). NULL with `res` filled (errclass connect, hostkey, auth, timeout, cancelled). */
rb_ssh *rb_ssh_open(const rb_act_call *c, rb_act_result *res);
/* The session of the call's connection slot, opened and stored there on first use; a fresh
 * one when the call has no slot. *reused says whether it came from the slot. */
rb_ssh *rb_ssh_acquire(const rb_act_call *c, rb_act_result *res, int *reused);
/* Ends a call's use of s: kept in the slot unless `drop` (broken, timed out, cancelled) or the
 * call has no slot; then closed (and the slot emptied). */
void rb_ssh_release(const rb_act_call *c, rb_ssh *s, int drop);
/* Disconnects politely within grace_ms (0: at once: the TCP connection is shut, so the server
 * ends the session and its commands) and frees s. NULL is fine. */
void rb_ssh_close(rb_ssh *s, int grace_ms);

/* Waits until the socket is ready in the directions libssh2 is blocked on. 0 when ready; -1
 * with `res` filled when the deadline passed or the run was cancelled. */
int rb_ssh_wait(rb_ssh *s, const rb_act_call *c, rb_act_result *res);
/* 1 when `res` holds a timeout or a cancel (after an RB_SSH_AGAIN loop gave up). */
int rb_ssh_stopped(const rb_act_result *res);
/* Fills res as a failure of `what` with libssh2's last error (never holds a secret). */
void rb_ssh_fail(rb_ssh *s, rb_act_result *res, const char *errclass, const char *what);

/* ---- SFTP (ssh_sftp.c) ---- */

/* A remote file as it was: its content and attributes, for a rollback. */
typedef struct rb_sftp_file {
    char *data;  /* malloc'd */
    size_t len;
    unsigned long mode, uid, gid; /* mode: permission bits only */
} rb_sftp_file;

#define RB_SFTP_FILE_MAX (16u << 20)

/* Reads `path` (at most RB_SFTP_FILE_MAX bytes) into *out. 0 found, 1 absent, -1 error (res). */
int rb_ssh_sftp_read(rb_ssh *s, const rb_act_call *c, const char *path, rb_sftp_file *out,
                     rb_act_result *res);
/* Writes `path` atomically: a temporary file in the same folder, written, synced, given `mode`
 * (and the owner in `owner` when not NULL and we may), then renamed over `path`. 0 or -1 (res). */
int rb_ssh_sftp_write(rb_ssh *s, const rb_act_call *c, const char *path, const char *data,
                      size_t len, unsigned long mode, const rb_sftp_file *owner, rb_act_result *res);
/* Puts back what rb_ssh_sftp_read saw: `old` (rewritten with its mode and owner), or, when
 * old is NULL (the file was absent), removes `path`. 0 or -1 (res). */
int rb_ssh_sftp_restore(rb_ssh *s, const rb_act_call *c, const char *path, const rb_sftp_file *old,
                        rb_act_result *res);
void rb_sftp_file_free(rb_sftp_file *f);

#endif
