/* The file action on an ssh target: the same promise as a local file step (atomic write, the
 * previous state saved beside the journal first, an undo that restores it), over SFTP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file_remote.h"
#include "ssh_session.h"

/* The state before the first write of this step, saved once (later attempts and a resume keep
 * it: it is what a rollback must return to). */
static int save_remote_previous(const rb_act_call *c, rb_ssh *s, const char *path, rb_act_result *res)
{
    char *seen = NULL;
    size_t seen_len;
    int have = c->side_read(c->side_ctx, "meta", &seen, &seen_len);
    free(seen);
    if (have == 0)
        return 0;
    rb_sftp_file old = {0};
    int found = have < 0 ? -1 : rb_ssh_sftp_read(s, c, path, &old, res);
    if (found < 0)
        return have < 0 ? (rb_act_fail(res, RB_OUT_FAILED, "io", "cannot keep the previous content of %s", path), -1) : -1;
    char meta[128];
    snprintf(meta, sizeof meta, "{\"existed\":%s,\"mode\":%lu,\"uid\":%lu,\"gid\":%lu}", found == 0 ? "true" : "false",
             old.mode, old.uid, old.gid);
    int rc = (found == 0 && c->side_write(c->side_ctx, "old", old.data ? old.data : "", old.len) != 0) ||
             c->side_write(c->side_ctx, "meta", meta, strlen(meta)) != 0;
    rb_sftp_file_free(&old);
    if (rc)
        rb_act_fail(res, RB_OUT_FAILED, "io", "cannot save the previous content of %s beside the journal", path);
    return rc ? -1 : 0;
}

static int changed_from(rb_ssh *s, const rb_act_call *c, const char *path, const json_t *content, rb_act_result *res)
{
    rb_sftp_file now = {0};
    int found = rb_ssh_sftp_read(s, c, path, &now, res);
    int changed = found != 0 || now.len != json_string_length(content) ||
                  memcmp(now.data, json_string_value(content), now.len) != 0;
    rb_sftp_file_free(&now);
    return changed;
}

int rb_file_remote_run(const rb_act_call *c, rb_act_result *res)
{
    const char *path = json_string_value(json_object_get(c->params, "path"));
    const json_t *content = json_object_get(c->params, "content");
    const char *mode_s = json_string_value(json_object_get(c->params, "mode"));
    int reused, rc = -1;
    rb_ssh *s = rb_ssh_acquire(c, res, &reused);
    if (!s)
        return -1;
    if (save_remote_previous(c, s, path, res) == 0) {
        int changed = changed_from(s, c, path, content, res);
        unsigned long mode = mode_s ? strtoul(mode_s, NULL, 8) : 0644;
        rc = rb_ssh_sftp_write(s, c, path, json_string_value(content), json_string_length(content), mode, NULL, res);
        if (rc == 0) {
            memset(res, 0, sizeof *res);
            res->outputs = json_pack("{s:s, s:b}", "path", path, "changed", changed);
            res->outcome = RB_OUT_SUCCEEDED;
        }
    }
    rb_ssh_release(c, s, rc != 0 && rb_ssh_stopped(res));
    return rc;
}

static json_t *saved_meta(const rb_act_call *c)
{
    char *text = NULL;
    size_t len;
    json_t *meta = c->side_read(c->side_ctx, "meta", &text, &len) == 0 ? json_loadb(text, len, 0, NULL) : NULL;
    free(text);
    return meta;
}

static int restore(const rb_act_call *c, rb_ssh *s, const char *path, json_t *meta, rb_act_result *res)
{
    if (!json_is_true(json_object_get(meta, "existed")))
        return rb_ssh_sftp_restore(s, c, path, NULL, res);
    rb_sftp_file old = {.mode = (unsigned long)json_integer_value(json_object_get(meta, "mode")),
                        .uid = (unsigned long)json_integer_value(json_object_get(meta, "uid")),
                        .gid = (unsigned long)json_integer_value(json_object_get(meta, "gid"))};
    if (c->side_read(c->side_ctx, "old", &old.data, &old.len) != 0) {
        rb_act_fail(res, RB_OUT_FAILED, "io", "the saved content of %s is missing", path);
        return -1;
    }
    int rc = rb_ssh_sftp_restore(s, c, path, &old, res);
    rb_sftp_file_free(&old);
    return rc;
}

int rb_file_remote_undo(const rb_act_call *c, rb_act_result *res)
{
    const char *path = json_string_value(json_object_get(c->params, "path"));
    json_t *meta = saved_meta(c);
    res->outputs = json_object();
    res->outcome = RB_OUT_SUCCEEDED;
    if (!meta)
        return 0; /* never saved: the write never started */
    int reused, rc = -1;
    rb_ssh *s = rb_ssh_acquire(c, res, &reused);
    if (s) {
        rc = restore(c, s, path, meta, res);
        rb_ssh_release(c, s, rc != 0 && rb_ssh_stopped(res));
    }
    if (rc == 0)
        res->outcome = RB_OUT_SUCCEEDED;
    json_decref(meta);
    return rc;
}

void rb_file_remote_disconnect(void *conn) { rb_ssh_close(conn, 1000); }
