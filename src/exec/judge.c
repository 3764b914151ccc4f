/* After an action succeeded and was judged: what its captures read, and secret captures. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define RB_SECRET_SIDE_MAX (16u << 20) /* the secret captures kept for one step */
#include "runbook/regex.h"
#include "runbook/values.h"

/* ---- captures ---- */

static json_t *main_text(const rb_action *a, json_t *outputs)
{
    return a->type->capture_text ? json_object_get(outputs, a->type->capture_text) : NULL;
}

static json_t *capture_re(const rb_capture *cap, json_t *text)
{
    size_t off, gs, gl;
    char msg[160];
    rb_regex *re = rb_regex_compile(cap->arg, strlen(cap->arg), &off, msg, sizeof msg);
    json_t *v = NULL;
    if (re && json_is_string(text) &&
        rb_regex_match(re, json_string_value(text), json_string_length(text), 1, &gs, &gl) == 1 && gs != (size_t)-1)
        v = json_stringn(json_string_value(text) + gs, gl);
    rb_regex_free(re);
    return v;
}

static json_t *capture_json(const rb_capture *cap, const rb_action *a, json_t *outputs)
{
    json_t *doc = json_object_get(outputs, "json"), *parsed = NULL;
    if (!doc) {
        json_t *text = main_text(a, outputs);
        if (json_is_string(text))
            parsed = json_loadb(json_string_value(text), json_string_length(text), JSON_DECODE_ANY, NULL);
        doc = parsed;
    }
    json_t *v = doc ? rb_json_pointer_get(doc, cap->arg) : NULL;
    json_incref(v);
    json_decref(parsed);
    return v;
}

static json_t *capture_one(const rb_capture *cap, const rb_action *a, json_t *outputs)
{
    if (cap->kind == RB_CAP_RE)
        return capture_re(cap, main_text(a, outputs));
    if (cap->kind == RB_CAP_JSON)
        return capture_json(cap, a, outputs);
    json_t *row = json_array_get(json_object_get(outputs, "rows"), 0);
    json_t *v = json_object_get(row, cap->arg);
    return json_incref(v);
}

/* A secret capture can be any JSON value: every scalar in it is masked as the text a command
 * would print (98765432, true), not only strings. -1 when one cannot be masked. */
static int mask_value(rb_masker *m, json_t *v)
{
    size_t i;
    const char *key;
    json_t *item;
    int rc = 0;
    if (json_is_string(v))
        return json_string_length(v) ? rb_masker_add(m, json_string_value(v), json_string_length(v)) < 0 ? -1 : 0 : 0;
    if (json_is_array(v)) {
        json_array_foreach(v, i, item) rc |= mask_value(m, item);
        return rc;
    }
    if (json_is_object(v)) {
        json_object_foreach(v, key, item) rc |= mask_value(m, item);
        return rc;
    }
    if (!json_is_number(v))
        return 0; /* true, false and null are not worth hiding: they are in every output */
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    rc = text && rb_masker_add(m, text, strlen(text)) < 0 ? -1 : 0;
    free(text);
    return rc;
}

int apply_captures(run *r, const rb_block *k, act_result *res, char *err, size_t errlen)
{
    for (size_t i = 0; i < k->ncaptures; i++) {
        const rb_capture *cap = &k->captures[i];
        if (!cap->node || !cap->name)
            continue;
        json_t *v = capture_one(cap, &k->action, res->outputs);
        if (!v) {
            snprintf(err, errlen, "capture \"%s\" found nothing", cap->name);
            return -1;
        }
        if (cap->secret && mask_value(r->masker, v) != 0) {
            json_decref(v); /* unmaskable: fail the step rather than let it through */
            snprintf(err, errlen, "secret capture \"%s\" cannot be masked", cap->name);
            return -1;
        }
        json_object_set_new(res->outputs, cap->name, v);
    }
    return 0;
}

/* ---- secret captures across a resume ---- */

int block_has_secret_capture(const rb_block *k)
{
    for (size_t i = 0; i < k->ncaptures; i++)
        if (k->captures[i].secret && k->captures[i].name)
            return 1;
    return 0;
}

static int has_secret_capture(const rb_step *s) { return block_has_secret_capture(&s->main); }

void mask_secret_captures(run *r, const rb_block *k, json_t *outputs)
{
    for (size_t i = 0; i < k->ncaptures; i++) {
        const rb_capture *cap = &k->captures[i];
        json_t *v = cap->secret && cap->node && cap->name ? capture_one(cap, &k->action, outputs) : NULL;
        mask_value(r->masker, v);
        json_decref(v);
    }
}

void save_secret_captures(run *r, const rb_step *s, json_t *outputs)
{
    if (!has_secret_capture(s))
        return;
    json_t *keep = json_object();
    for (size_t i = 0; i < s->main.ncaptures; i++) {
        const rb_capture *cap = &s->main.captures[i];
        json_t *v = cap->secret && cap->name ? json_object_get(outputs, cap->name) : NULL;
        if (v)
            json_object_set(keep, cap->name, v);
    }
    char key[320];
    side_key(r, s, key, sizeof key);
    char *text = json_dumps(keep, JSON_COMPACT);
    /* Without it a resumed run would read null where the value was: worth a note, not a stop. */
    if (!text || rb_journal_side_write(r->journal, key, "secrets", text, strlen(text)) != 0) {
        rb_event ev = {.kind = RB_EV_NOTE, .step = key, .text = "its secret captures could not be kept for a resume"};
        emit(r, &ev);
    }
    free(text);
    json_decref(keep);
}

void load_secret_captures(run *r, const rb_step *s, json_t *outputs)
{
    if (!has_secret_capture(s))
        return;
    char key[320];
    side_key(r, s, key, sizeof key);
    char *text = NULL;
    size_t len = 0;
    json_t *kept = rb_journal_side_read(r->journal, key, "secrets", RB_SECRET_SIDE_MAX, &text, &len) == 0
                       ? json_loadb(text, len, 0, NULL) : NULL;
    const char *name;
    json_t *v;
    json_object_foreach(kept, name, v)
    {
        mask_value(r->masker, v);
        json_object_set(outputs, name, v);
    }
    json_decref(kept);
    free(text);
}
