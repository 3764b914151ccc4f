/* An SSH session to an ssh target: non-blocking TCP connect and libssh2 session under the call's
 * deadline and cancel fd, the host key checked against known_hosts, then authentication. */
#include <ares.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ssh_session.h"

#define KNOWN_LINE_MAX 16384
#define KEY_FILE_MAX 65536

static const char *tval(const rb_act_call *c, const char *key)
{
    const char *v = json_string_value(json_object_get(c->target, key));
    return v && *v ? v : NULL;
}

static int tflag(const rb_act_call *c, const char *key)
{
    const char *v = tval(c, key);
    return v && (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"));
}

/* "~/x" -> "$HOME/x" (malloc'd): runbooks name keys and known_hosts the way ssh does. */
static char *expand_home(const char *path)
{
    const char *home = getenv("HOME");
    if (path[0] != '~' || path[1] != '/' || !home)
        return strdup(path);
    size_t n = strlen(home) + strlen(path);
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s%s", home, path + 1);
    return out;
}

int rb_ssh_stopped(const rb_act_result *res)
{
    return res->outcome == RB_OUT_TIMED_OUT || res->outcome == RB_OUT_CANCELLED;
}

void rb_ssh_fail(rb_ssh *s, rb_act_result *res, const char *errclass, const char *what)
{
    char *msg = NULL;
    if (s && s->session)
        libssh2_session_last_error(s->session, &msg, NULL, 0);
    rb_act_fail(res, RB_OUT_FAILED, errclass, "%s %s: %s", what, s ? s->name : "",
                msg && *msg ? msg : "failed");
}

/* ---- waiting ---- */

/* Polls fd for `events` and the cancel fd until the deadline. 0 ready, -1 with res filled. */
static int wait_fd(const rb_act_call *c, int fd, short events, rb_act_result *res)
{
    for (;;) {
        if (rb_act_cancelled(c))
            return rb_act_fail(res, RB_OUT_CANCELLED, "cancelled", "cancelled"), -1;
        long long left = rb_act_remaining_ms(c);
        if (left == 0)
            return rb_act_fail(res, RB_OUT_TIMED_OUT, "timeout", "timed out"), -1;
        struct pollfd p[2] = {{fd, events, 0}, {c->cancel_fd, POLLIN, 0}};
        int n = poll(p, c->cancel_fd >= 0 ? 2 : 1, left < 0 || left > 1000 ? 1000 : (int)left);
        if (n < 0 && errno != EINTR)
            return rb_act_fail(res, RB_OUT_FAILED, "io", "poll: %s", strerror(errno)), -1;
        if (n > 0 && p[0].revents)
            return 0;
    }
}

int rb_ssh_wait(rb_ssh *s, const rb_act_call *c, rb_act_result *res)
{
    int dir = libssh2_session_block_directions(s->session);
    short ev = (dir & LIBSSH2_SESSION_BLOCK_INBOUND ? POLLIN : 0) |
               (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND ? POLLOUT : 0);
    return wait_fd(c, s->sock, ev ? ev : POLLIN, res);
}

/* ---- TCP ---- */

static int connect_one(const rb_act_call *c, const struct ares_addrinfo_node *ai, rb_act_result *res)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return rb_act_fail(res, RB_OUT_FAILED, "connect", "socket: %s", strerror(errno)), -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    int err = errno;
    if (err == EINPROGRESS) {
        if (wait_fd(c, fd, POLLOUT, res) != 0)
            return close(fd), -1;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err == 0)
            return fd;
    }
    close(fd);
    rb_act_fail(res, RB_OUT_FAILED, "connect", "cannot connect: %s", strerror(err));
    return -1;
}

/* Each address of host in turn, looked up within the call's deadline. */
static int tcp_connect(const rb_act_call *c, const char *host, const char *port, rb_act_result *res)
{
    struct ares_addrinfo *list;
    if (rb_act_resolve(c, host, port, &list, res) != 0)
        return -1;
    int fd = -1;
    for (const struct ares_addrinfo_node *ai = list->nodes; ai && fd < 0; ai = ai->ai_next) {
        fd = connect_one(c, ai, res);
        if (fd < 0 && rb_ssh_stopped(res))
            break;
    }
    ares_freeaddrinfo(list);
    if (fd < 0 && !rb_ssh_stopped(res)) {
        char msg[RB_ACT_MESSAGE_MAX];
        snprintf(msg, sizeof msg, "%s", res->message);
        rb_act_fail(res, RB_OUT_FAILED, "connect", "%s:%s: %s", host, port, msg);
    }
    return fd;
}

/* ---- host key ---- */

static int knownhost_type(int hostkey_type)
{
    switch (hostkey_type) {
    case LIBSSH2_HOSTKEY_TYPE_RSA: return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
    case LIBSSH2_HOSTKEY_TYPE_DSS: return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
    case LIBSSH2_HOSTKEY_TYPE_ED25519: return LIBSSH2_KNOWNHOST_KEY_ED25519;
    default: return LIBSSH2_KNOWNHOST_KEY_UNKNOWN;
    }
}

static const int all_key_types[] = {
    LIBSSH2_KNOWNHOST_KEY_SSHRSA,    LIBSSH2_KNOWNHOST_KEY_SSHDSS,    LIBSSH2_KNOWNHOST_KEY_ECDSA_256,
    LIBSSH2_KNOWNHOST_KEY_ECDSA_384, LIBSSH2_KNOWNHOST_KEY_ECDSA_521, LIBSSH2_KNOWNHOST_KEY_ED25519,
};

/* "SHA256:<base64 without padding>", as ssh and ssh-keygen -l print it. */
static void fingerprint(rb_ssh *s, char *out, size_t outlen)
{
    const unsigned char *h =
        (const unsigned char *)libssh2_hostkey_hash(s->session, LIBSSH2_HOSTKEY_HASH_SHA256);
    unsigned char b64[64];
    if (!h) {
        snprintf(out, outlen, "SHA256:?");
        return;
    }
    int n = EVP_EncodeBlock(b64, h, 32);
    while (n > 0 && b64[n - 1] == '=')
        b64[--n] = 0;
    snprintf(out, outlen, "SHA256:%s", (const char *)b64);
}

/* Reads known_hosts line by line: libssh2_knownhost_readfile stops at the first line it cannot
 * parse (a marker such as @revoked, a cert authority, junk), and every host after it would be
 * "unknown". Unparsable lines are skipped. 0, or -1 when the file cannot be opened. */
static int read_known_hosts(LIBSSH2_KNOWNHOSTS *kh, const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char *line = malloc(KNOWN_LINE_MAX);
    while (line && fgets(line, KNOWN_LINE_MAX, f)) {
        size_t len = strlen(line);
        if (len == KNOWN_LINE_MAX - 1 && line[len - 1] != '\n') {
            int ch; /* an overlong line: skip the rest of it */
            while ((ch = getc(f)) != EOF && ch != '\n') {
            }
            continue;
        }
        libssh2_knownhost_readline(kh, line, len, LIBSSH2_KNOWNHOST_FILE_OPENSSH);
    }
    free(line);
    fclose(f);
    return 0;
}

static int check_type(LIBSSH2_KNOWNHOSTS *kh, const char *name, const char *key, size_t len, int type)
{
    return libssh2_knownhost_checkp(kh, name, -1, key, len,
                                    LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | type, NULL);
}

/* checkp compares only entries of the key's own type: a host known under another type comes
 * back NOTFOUND. Asked with each other type, such an entry answers MISMATCH. */
static int known_under_other_type(LIBSSH2_KNOWNHOSTS *kh, const char *name, const char *key,
                                  size_t len, int type)
{
    for (size_t i = 0; i < sizeof all_key_types / sizeof all_key_types[0]; i++)
        if (all_key_types[i] != type &&
            check_type(kh, name, key, len, all_key_types[i]) == LIBSSH2_KNOWNHOST_CHECK_MISMATCH)
            return 1;
    return 0;
}

/* Ends the file with a newline first, so the new entry is a line of its own. */
static int append_line(const char *path, const char *line, size_t len)
{
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    char last = '\n';
    off_t end = lseek(fd, 0, SEEK_END);
    if (end > 0 && pread(fd, &last, 1, end - 1) != 1)
        last = '\n';
    int rc = (last != '\n' && write(fd, "\n", 1) != 1) || write(fd, line, len) != (ssize_t)len ? -1 : 0;
    if (fsync(fd) != 0)
        rc = -1;
    return close(fd) != 0 ? -1 : rc;
}

static int accept_new(rb_ssh *s, LIBSSH2_KNOWNHOSTS *kh, const char *path, const char *key,
                      size_t len, int type, rb_act_result *res)
{
    struct libssh2_knownhost *entry = NULL;
    char line[KNOWN_LINE_MAX];
    size_t n = 0;
    int mask = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | type;
    if (libssh2_knownhost_addc(kh, s->name, NULL, key, len, NULL, 0, mask, &entry) != 0 ||
        libssh2_knownhost_writeline(kh, entry, line, sizeof line, &n, LIBSSH2_KNOWNHOST_FILE_OPENSSH) != 0 ||
        append_line(path, line, n) != 0) {
        rb_act_fail(res, RB_OUT_FAILED, "hostkey", "cannot add the host key of %s to %s: %s", s->name,
                    path, strerror(errno));
        return -1;
    }
    return 0;
}

static int refuse_unknown(rb_ssh *s, const char *path, const char *port, rb_act_result *res)
{
    char fp[80], host[280];
    fingerprint(s, fp, sizeof fp);
    snprintf(host, sizeof host, "%s", s->name[0] == '[' ? s->name + 1 : s->name);
    host[strcspn(host, "]")] = 0;
    rb_act_fail(res, RB_OUT_FAILED, "hostkey",
                "REFUSED: unknown host key of %s (%s); after checking it, add it with "
                "`ssh-keyscan -p %s %s >> %s` or set host_key_check: accept-new",
                s->name, fp, port, host, path);
    return -1;
}

static int refuse_changed(rb_ssh *s, const char *path, const char *how, rb_act_result *res)
{
    char fp[80];
    fingerprint(s, fp, sizeof fp);
    rb_act_fail(res, RB_OUT_FAILED, "hostkey",
                "REFUSED: the host key of %s changed%s (now %s); if that is expected, fix its "
                "entry in %s", s->name, how, fp, path);
    return -1;
}

/* Decides on the server's key against known_hosts: 0 accepted, -1 refused (res). */
static int judge_host_key(rb_ssh *s, LIBSSH2_KNOWNHOSTS *kh, const char *path, int accept,
                          const char *port, rb_act_result *res)
{
    size_t len;
    int htype;
    const char *key = libssh2_session_hostkey(s->session, &len, &htype);
    int type = knownhost_type(htype);
    if (!key)
        return rb_ssh_fail(s, res, "hostkey", "no host key from"), -1;
    switch (check_type(kh, s->name, key, len, type)) {
    case LIBSSH2_KNOWNHOST_CHECK_MATCH:
        return 0;
    case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
        return refuse_changed(s, path, "", res);
    case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
        if (known_under_other_type(kh, s->name, key, len, type))
            return refuse_changed(s, path, " (it is known under another key type)", res);
        return accept ? accept_new(s, kh, path, key, len, type, res) : refuse_unknown(s, path, port, res);
    default:
        return rb_ssh_fail(s, res, "hostkey", "cannot check the host key of"), -1;
    }
}

static int check_host_key(rb_ssh *s, const rb_act_call *c, const char *port, rb_act_result *res)
{
    const char *mode = tval(c, "host_key_check");
    if (mode && !strcmp(mode, "false"))
        return 0; /* the runbook's visible choice */
    int accept = mode && !strcmp(mode, "accept-new");
    if (mode && !accept && strcmp(mode, "true"))
        return rb_act_fail(res, RB_OUT_FAILED, "refused",
                           "host_key_check must be true, false or accept-new"), -1;
    char *path = expand_home(tval(c, "known_hosts") ? tval(c, "known_hosts") : "~/.ssh/known_hosts");
    LIBSSH2_KNOWNHOSTS *kh = libssh2_knownhost_init(s->session);
    int rc = -1;
    if (!path || !kh)
        rb_act_fail(res, RB_OUT_FAILED, "io", "out of memory");
    else if (read_known_hosts(kh, path) != 0 && errno != ENOENT) /* absent: every host is new */
        rb_act_fail(res, RB_OUT_FAILED, "hostkey", "cannot read known_hosts %s: %s", path, strerror(errno));
    else
        rc = judge_host_key(s, kh, path, accept, port, res);
    if (kh)
        libssh2_knownhost_free(kh);
    free(path);
    return rc;
}

/* ---- authentication ---- */

static uint32_t be32(const unsigned char *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

/* The key type named in an "openssh-key-v1" blob: its public key comes first and is never
 * encrypted. 1 when it is ssh-rsa. */
static int openssh_blob_is_rsa(const unsigned char *b, size_t n)
{
    static const char magic[] = "openssh-key-v1";
    size_t off = sizeof magic;
    if (n < off || memcmp(b, magic, off) != 0)
        return 0;
    for (int i = 0; i < 3; i++) { /* cipher, kdf, kdf options */
        if (off + 4 > n || be32(b + off) > n - off - 4)
            return 0;
        off += 4 + be32(b + off);
    }
    off += 4 + 4; /* number of keys, length of the first public key */
    return off + 4 + 7 <= n && be32(b + off) == 7 && !memcmp(b + off + 4, "ssh-rsa", 7);
}

static size_t base64_body(const char *pem, unsigned char *out, size_t outlen)
{
    const char *p = strchr(pem, '\n');
    size_t w = 0;
    unsigned char quad[4];
    int q = 0;
    for (; p && *p && *p != '-' && w + 3 <= outlen; p++) {
        if (*p == '\n' || *p == '\r' || *p == ' ')
            continue;
        quad[q++] = (unsigned char)*p;
        if (q == 4) {
            int n = EVP_DecodeBlock(out + w, quad, 4);
            w += n > 0 ? (size_t)n : 0;
            q = 0;
        }
    }
    return w;
}

/* 1 when the private key file holds an RSA key (PEM "RSA PRIVATE KEY" or OpenSSH format). */
static int key_file_is_rsa(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    char *text = calloc(1, KEY_FILE_MAX + 1);
    unsigned char *blob = malloc(KEY_FILE_MAX);
    size_t n = text ? fread(text, 1, KEY_FILE_MAX, f) : 0;
    fclose(f);
    int rsa = 0;
    if (n && blob && strstr(text, "BEGIN RSA PRIVATE KEY"))
        rsa = 1;
    else if (n && blob && strstr(text, "BEGIN OPENSSH PRIVATE KEY"))
        rsa = openssh_blob_is_rsa(blob, base64_body(strstr(text, "BEGIN OPENSSH"), blob, KEY_FILE_MAX));
    free(text);
    free(blob);
    return rsa;
}

static int auth_key(rb_ssh *s, const rb_act_call *c, const char *user, rb_act_result *res)
{
    char *path = expand_home(tval(c, "key"));
    if (!path)
        return rb_act_fail(res, RB_OUT_FAILED, "io", "out of memory"), -1;
    int rc;
    RB_SSH_AGAIN(s, c, res, rc,
                 libssh2_userauth_publickey_fromfile_ex(s->session, user, (unsigned)strlen(user), NULL,
                                                        path, tval(c, "key_passphrase")));
    if (rc != 0 && !rb_ssh_stopped(res)) {
        if (key_file_is_rsa(path))
            rb_act_fail(res, RB_OUT_FAILED, "auth",
                        "RSA keys cannot be used by this build's libssh2 1.10 (no rsa-sha2 signatures): "
                        "use an ed25519 or ecdsa key (%s)", path);
        else
            rb_ssh_fail(s, res, "auth", "key authentication refused by");
    }
    free(path);
    return rc == 0 ? 0 : -1;
}

static int agent_try_all(rb_ssh *s, const rb_act_call *c, LIBSSH2_AGENT *a, const char *user,
                         rb_act_result *res)
{
    struct libssh2_agent_publickey *id = NULL, *prev = NULL;
    while (libssh2_agent_get_identity(a, &id, prev) == 0) {
        int rc;
        RB_SSH_AGAIN(s, c, res, rc, libssh2_agent_userauth(a, user, id));
        if (rc == 0)
            return 0;
        if (rb_ssh_stopped(res))
            return -1;
        prev = id;
    }
    rb_act_fail(res, RB_OUT_FAILED, "auth", "no key of the SSH agent was accepted by %s", s->name);
    return -1;
}

static int auth_agent(rb_ssh *s, const rb_act_call *c, const char *user, rb_act_result *res)
{
    if (!getenv("SSH_AUTH_SOCK"))
        return rb_act_fail(res, RB_OUT_FAILED, "auth", "no SSH agent (SSH_AUTH_SOCK is not set)"), -1;
    LIBSSH2_AGENT *a = libssh2_agent_init(s->session);
    int rc = -1;
    if (!a || libssh2_agent_connect(a) != 0 || libssh2_agent_list_identities(a) != 0)
        rb_ssh_fail(s, res, "auth", "cannot use the SSH agent for");
    else
        rc = agent_try_all(s, c, a, user, res);
    if (a) {
        libssh2_agent_disconnect(a);
        libssh2_agent_free(a);
    }
    return rc;
}

static int auth_password(rb_ssh *s, const rb_act_call *c, const char *user, rb_act_result *res)
{
    const char *pw = tval(c, "password");
    int rc;
    RB_SSH_AGAIN(s, c, res, rc,
                 libssh2_userauth_password_ex(s->session, user, (unsigned)strlen(user), pw,
                                              (unsigned)strlen(pw), NULL));
    if (rc != 0 && !rb_ssh_stopped(res))
        rb_act_fail(res, RB_OUT_FAILED, "auth", "password authentication as %s refused by %s", user, s->name);
    return rc == 0 ? 0 : -1;
}

/* The methods the target names, in this order: key file, agent, password; the agent alone when
 * it names none. The first that succeeds wins; the last failure is reported. */
static int authenticate(rb_ssh *s, const rb_act_call *c, rb_act_result *res)
{
    const char *user = tval(c, "user");
    int tried = 0;
    if (!user)
        return rb_act_fail(res, RB_OUT_FAILED, "auth", "the ssh target has no user"), -1;
    if (tval(c, "key") && (tried = 1, auth_key(s, c, user, res) == 0))
        return 0;
    if (!rb_ssh_stopped(res) && tflag(c, "agent") && (tried = 1, auth_agent(s, c, user, res) == 0))
        return 0;
    if (!rb_ssh_stopped(res) && tval(c, "password") && (tried = 1, auth_password(s, c, user, res) == 0))
        return 0;
    if (tried || rb_ssh_stopped(res))
        return -1;
    if (getenv("SSH_AUTH_SOCK") && auth_agent(s, c, user, res) == 0)
        return 0;
    if (!rb_ssh_stopped(res))
        rb_act_fail(res, RB_OUT_FAILED, "auth",
                    "no way to log in to %s: the target names no key, password or agent, and the "
                    "SSH agent (SSH_AUTH_SOCK) had no accepted key", s->name);
    return -1;
}

/* ---- sessions ---- */

static rb_ssh *ssh_new(const char *host, const char *port)
{
    rb_ssh *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->sock = -1;
    if (!strcmp(port, "22"))
        snprintf(s->name, sizeof s->name, "%s", host);
    else
        snprintf(s->name, sizeof s->name, "[%s]:%s", host, port);
    return s;
}

static int handshake(rb_ssh *s, const rb_act_call *c, rb_act_result *res)
{
    s->session = libssh2_session_init();
    if (!s->session)
        return rb_act_fail(res, RB_OUT_FAILED, "io", "out of memory"), -1;
    libssh2_session_set_blocking(s->session, 0);
    int rc;
    RB_SSH_AGAIN(s, c, res, rc, libssh2_session_handshake(s->session, s->sock));
    if (rc != 0 && !rb_ssh_stopped(res))
        rb_ssh_fail(s, res, "connect", "SSH handshake with");
    return rc == 0 ? 0 : -1;
}

rb_ssh *rb_ssh_open(const rb_act_call *c, rb_act_result *res)
{
    const char *host = tval(c, "host"), *port = tval(c, "port") ? tval(c, "port") : "22";
    if (!host)
        return rb_act_fail(res, RB_OUT_FAILED, "connect", "the ssh target has no host"), NULL;
    rb_ssh *s = ssh_new(host, port);
    if (!s)
        return rb_act_fail(res, RB_OUT_FAILED, "io", "out of memory"), NULL;
    s->sock = tcp_connect(c, host, port, res);
    if (s->sock < 0 || handshake(s, c, res) != 0 || check_host_key(s, c, port, res) != 0 ||
        authenticate(s, c, res) != 0) {
        rb_ssh_close(s, 0);
        return NULL;
    }
    return s;
}

rb_ssh *rb_ssh_acquire(const rb_act_call *c, rb_act_result *res, int *reused)
{
    *reused = c->conn && *c->conn;
    if (*reused)
        return *c->conn;
    rb_ssh *s = rb_ssh_open(c, res);
    if (s && c->conn)
        *c->conn = s;
    return s;
}

void rb_ssh_release(const rb_act_call *c, rb_ssh *s, int drop)
{
    if (!s)
        return;
    if (c->conn && *c->conn == s && !drop)
        return;
    if (c->conn && *c->conn == s)
        *c->conn = NULL;
    rb_ssh_close(s, drop ? 0 : 1000);
}

/* A goodbye (SFTP shut, disconnect message) within grace_ms. */
static void say_goodbye(rb_ssh *s, int grace_ms)
{
    rb_act_call grace = {.cancel_fd = -1, .deadline_ms = rb_act_now_ms() + grace_ms};
    rb_act_result ignored = {0};
    int rc;
    if (s->sftp) {
        RB_SSH_AGAIN(s, &grace, &ignored, rc, libssh2_sftp_shutdown(s->sftp));
        if (rc != LIBSSH2_ERROR_EAGAIN)
            s->sftp = NULL;
    }
    RB_SSH_AGAIN(s, &grace, &ignored, rc, libssh2_session_disconnect(s->session, "bye"));
}

void rb_ssh_close(rb_ssh *s, int grace_ms)
{
    if (!s)
        return;
    if (s->session && grace_ms > 0)
        say_goodbye(s, grace_ms);
    /* Shut the socket before freeing: with the peer gone every call fails at once instead of
     * blocking, and the server sees the connection end, which ends the remote command. */
    if (s->sock >= 0)
        shutdown(s->sock, SHUT_RDWR);
    for (int i = 0; s->sftp && i < 3; i++)
        if (libssh2_sftp_shutdown(s->sftp) != LIBSSH2_ERROR_EAGAIN)
            s->sftp = NULL;
    if (s->session)
        libssh2_session_free(s->session);
    if (s->sock >= 0)
        close(s->sock);
    free(s);
}
