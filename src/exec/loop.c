/* for_each: one step's action once per item of a list, each item journaled on its own
 * (item_start, item_end with its outputs), so a resume runs only the items that did not finish
 * and a rollback undoes each finished item, newest first (in the order they finished). With
 * `parallel: N` up to N items (never more than --jobs) run at once; a failing item starts no
 * more, and those already running finish, so that none is left in doubt. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "runbook/values.h"

static __thread json_t *current_each;

void exec_set_each(json_t *each) { current_each = each; }
json_t *exec_current_each(void) { return current_each; }

json_t *exec_loop_items(run *r, const rb_step *s, int *unknown, char *err, size_t len)
{
    const rb_node *n = s->for_each;
    json_t *list = NULL;
    *unknown = 0;
    if (n->kind == RB_NODE_SEQ) {
        list = render_typed(r, n, unknown, err, len);
    } else {
        rb_expr_error e;
        rb_expr *x = rb_expr_parse(n->str, n->len, &e);
        rb_scope scope = run_scope(r);
        list = x ? rb_expr_eval(x, &scope, &e) : NULL;
        if (!list)
            snprintf(err, len, "for_each: %s", e.message);
        rb_expr_free(x);
    }
    if (list && rb_is_unknown(list))
        *unknown = 1;
    if (list && !*unknown && !json_is_array(list))
        snprintf(err, len, "for_each gave %s, not a list", json_is_object(list) ? "an object" : "a single value");
    else if (list && json_array_size(list) > RB_MAX_ITEMS)
        snprintf(err, len, "for_each gave %zu items; at most %d", json_array_size(list), RB_MAX_ITEMS);
    else if (list && !*unknown)
        return list;
    json_decref(list);
    return NULL;
}

/* The outputs of item i when a resumed journal says it finished, else NULL (borrowed). */
static json_t *finished_item(const step_state *st, size_t i)
{
    size_t k;
    json_t *it;
    json_array_foreach(st->items_done, k, it)
    {
        if ((size_t)json_integer_value(json_object_get(it, "index")) == i)
            return it;
    }
    return NULL;
}

static json_t *each_binding(const rb_step *s, json_t *value, size_t i)
{
    return json_pack("{s:O, s:I}", s->each_as, value, "index", (json_int_t)i);
}

static void journal_item(run *r, const rb_step *s, const char *type, size_t i, json_t *value, const act_result *res)
{
    char key[320];
    step_key(r, s, key, sizeof key);
    json_t *f = json_pack("{s:s, s:I}", "step", key, "index", (json_int_t)i);
    json_object_set(f, "value", value);
    if (res) {
        json_object_set_new(f, "outcome", json_string(rb_outcome_name(res->outcome)));
        if (res->outcome == RB_OUT_SUCCEEDED && res->outputs && !r->o->dry_run) {
            json_t *vis = json_deep_copy(res->outputs);
            exec_bound_output(r, vis);
            json_object_set_new(f, "outputs", vis);
        } else if (res->outcome != RB_OUT_SUCCEEDED) {
            json_object_set_new(f, "message", rb_json_string_lossy(res->message, strlen(res->message)));
        }
    }
    journal(r, type, f);
}

/* One item: its attempts with each.* bound; 0 when it succeeded. */
static int run_item(run *r, const rb_step *s, step_state *st, size_t i, json_t *value, act_result *res)
{
    json_t *each = each_binding(s, value, i);
    exec_set_each(each);
    journal_item(r, s, "item_start", i, value, NULL);
    exec_attempts(r, s, st, res);
    journal_item(r, s, "item_end", i, value, res);
    exec_set_each(NULL);
    json_decref(each);
    if (res->outcome != RB_OUT_SUCCEEDED)
        return -1;
    if (!st->items_done)
        st->items_done = json_array();
    json_array_append_new(st->items_done, json_pack("{s:I, s:O, s:O}", "index", (json_int_t)i, "value", value,
                                                    "outputs", res->outputs ? res->outputs : json_null()));
    return 0;
}

static void item_failed(act_result *res, size_t i, json_t *value)
{
    char *v = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
    char msg[RB_ACT_MESSAGE_MAX];
    snprintf(msg, sizeof msg, "%s", res->message);
    snprintf(res->message, sizeof res->message, "item %zu (%.40s): %.180s", i, v ? v : "?", msg);
    free(v);
}

/* The items of one loop, shared by the threads that run them (parallel:); every field is read
 * and written under r->mu, which run_item releases while an action runs. */
typedef struct loop_work {
    run *r;
    const rb_step *s;
    step_state *st;
    json_t *list;
    json_t **outs;          /* per item: its outputs, once it finished */
    size_t next;            /* the next item to start */
    int failed;             /* an item failed: no more start; those running finish */
    size_t failed_index;    /* the first failing item (lowest index) ... */
    act_result failure;     /* ... and its result */
    int helpers;            /* helper threads still working */
    pthread_cond_t helpers_done;
} loop_work;

static void keep_failure(loop_work *w, size_t i, act_result *one)
{
    if (exec_interrupted() && !one->errclass[0])
        rb_act_fail(one, RB_OUT_CANCELLED, "cancelled", "cancelled");
    item_failed(one, i, json_array_get(w->list, i));
    if (w->failed && w->failed_index < i) {
        json_decref(one->outputs);
        return;
    }
    json_decref(w->failure.outputs);
    w->failure = *one;
    w->failed = 1;
    w->failed_index = i;
}

/* Takes items until none is left or one failed. Caller holds r->mu. */
static void work(loop_work *w)
{
    size_t n = json_array_size(w->list);
    while (!w->failed && w->next < n) {
        size_t i = w->next++;
        json_t *value = json_array_get(w->list, i), *done = finished_item(w->st, i);
        act_result one = {0};
        if (done)
            w->outs[i] = json_incref(json_object_get(done, "outputs"));
        else if (exec_interrupted() || run_item(w->r, w->s, w->st, i, value, &one) != 0)
            keep_failure(w, i, &one);
        else
            w->outs[i] = one.outputs;
    }
}

static void *helper(void *arg)
{
    loop_work *w = arg;
    pthread_mutex_lock(w->r->mu);
    work(w);
    w->helpers--;
    pthread_cond_signal(&w->helpers_done);
    pthread_mutex_unlock(w->r->mu);
    return NULL;
}

/* Runs the items with up to `parallel` of them at once: this thread and parallel-1 helpers. */
static void work_all(loop_work *w, int parallel)
{
    pthread_t threads[RB_MAX_PARALLEL];
    int started = 0;
    pthread_cond_init(&w->helpers_done, NULL);
    for (; started < parallel - 1; started++) {
        if (pthread_create(&threads[started], NULL, helper, w) != 0)
            break; /* fewer at once, not a failure */
        w->helpers++;
    }
    work(w);
    while (w->helpers > 0)
        pthread_cond_wait(&w->helpers_done, w->r->mu);
    for (int k = 0; k < started; k++)
        pthread_join(threads[k], NULL); /* each has let go of r->mu already */
    pthread_cond_destroy(&w->helpers_done);
}

static int items_at_once(const run *r, const rb_step *s, size_t n)
{
    int k = s->each_parallel < r->o->jobs ? s->each_parallel : r->o->jobs;
    return k < 1 ? 1 : (size_t)k > n ? (int)(n ? n : 1) : k;
}

void run_items(run *r, const rb_step *s, step_state *st, act_result *res)
{
    char err[256] = "";
    int unknown;
    json_t *list = exec_loop_items(r, s, &unknown, err, sizeof err);
    if (!list) {
        rb_act_fail(res, RB_OUT_FAILED, unknown ? "undecided" : "refused", "%s",
                    unknown ? "undecided: the list is known only in a real run" : err);
        return;
    }
    size_t n = json_array_size(list);
    loop_work w = {.r = r, .s = s, .st = st, .list = list, .outs = calloc(n + 1, sizeof(json_t *))};
    if (!w.outs) {
        rb_act_fail(res, RB_OUT_FAILED, "refused", "out of memory");
        json_decref(list);
        return;
    }
    work_all(&w, items_at_once(r, s, n));
    if (w.failed) {
        *res = w.failure;
    } else {
        json_t *outs = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append(outs, w.outs[i] ? w.outs[i] : json_null());
        memset(res, 0, sizeof *res);
        res->outcome = RB_OUT_SUCCEEDED;
        res->outputs = json_pack("{s:o}", "items", outs);
    }
    for (size_t i = 0; i < n; i++)
        json_decref(w.outs[i]);
    free(w.outs);
    json_decref(list);
}
