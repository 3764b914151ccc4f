/* The exec and shell actions: a child process with its own process group, bounded captured
 * output shown live, and a timeout that stops the whole group. */
#include <stdlib.h>
#include <string.h>

#include "runbook/action.h"
#include "runbook/jsonstr.h"

extern char **environ;

static int listed(const char *const *names, const char *name, size_t len)
{
    for (size_t i = 0; names && names[i]; i++)
        if (strlen(names[i]) == len && !memcmp(names[i], name, len))
            return 1;
    return 0;
}

/* The operator's environment, without the variables secrets are read from (`unset`), plus the
 * step's env: (which wins, and is the one way a secret's variable reaches a child). */
static char **child_env(json_t *extra, const char *const *unset)
{
    size_t n = 0, k = 0;
    while (environ && environ[n])
        n++;
    char **env = calloc(n + json_object_size(extra) + 1, sizeof *env);
    if (!env)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t len = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        if (json_object_getn(extra, environ[i], len) || listed(unset, environ[i], len))
            continue;
        env[k++] = strdup(environ[i]);
    }
    const char *name;
    json_t *v;
    json_object_foreach(extra, name, v)
    {
        size_t len = strlen(name) + json_string_length(v) + 2;
        char *e = malloc(len);
        if (e)
            snprintf(e, len, "%s=%s", name, json_string_value(v) ? json_string_value(v) : "");
        env[k++] = e;
    }
    return env;
}

static void free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static void trampoline(void *ctx, rb_proc_stream stream, const char *bytes, size_t len)
{
    const rb_act_call *c = ctx;
    if (c->on_output)
        c->on_output(c->out_ctx, (int)stream, bytes, len);
}

static void spawned(void *ctx, pid_t pid)
{
    const rb_act_call *c = ctx;
    if (c->on_spawn)
        c->on_spawn(c->spawn_ctx, pid); /* the child leads its own group: pgid = pid */
}

static void to_result(const rb_proc_result *pr, rb_act_result *res)
{
    res->outputs = json_object();
    json_object_set_new(res->outputs, "exit_code", json_integer(pr->exit_code));
    json_object_set_new(res->outputs, "stdout", rb_json_string_lossy(pr->out.data ? pr->out.data : "", pr->out.len));
    json_object_set_new(res->outputs, "stderr", rb_json_string_lossy(pr->err.data ? pr->err.data : "", pr->err.len));
    switch (pr->outcome) {
    case RB_PROC_EXITED:
        res->outcome = RB_OUT_SUCCEEDED;
        break;
    case RB_PROC_SIGNALED:
        rb_act_fail(res, RB_OUT_FAILED, "signal", "killed by signal %d", pr->signal);
        break;
    case RB_PROC_TIMED_OUT:
        rb_act_fail(res, RB_OUT_TIMED_OUT, "timeout", "timed out after %llu ms", (unsigned long long)pr->duration_ms);
        break;
    case RB_PROC_CANCELLED:
        rb_act_fail(res, RB_OUT_CANCELLED, "cancelled", "cancelled");
        break;
    default:
        rb_act_fail(res, RB_OUT_FAILED, "spawn", "%s", pr->message);
    }
}

/* The time left before the call's deadline; 0: none. A passed deadline still gives the child
 * 1 ms, so it is reported as a timeout by the runner. */
static uint64_t timeout_of(const rb_act_call *c)
{
    long long left = rb_act_remaining_ms(c);
    return left < 0 ? 0 : left == 0 ? 1 : (uint64_t)left;
}

static void spec_from(const rb_act_call *c, rb_proc_spec *spec, char **env)
{
    rb_proc_spec_init(spec);
    json_t *in = json_object_get(c->params, "stdin");
    spec->env = (const char *const *)env;
    spec->cwd = json_string_value(json_object_get(c->params, "cwd"));
    spec->stdin_data = json_string_value(in);
    spec->stdin_len = json_string_length(in);
    spec->timeout_ms = timeout_of(c);
    spec->on_output = trampoline;
    spec->on_output_ctx = (void *)c;
    spec->on_spawn = spawned;
    spec->on_spawn_ctx = (void *)c;
    spec->cancel = c->cancel;
}

static int run_exec(const rb_act_call *c, rb_act_result *res)
{
    json_t *argv = json_object_get(c->params, "argv");
    size_t n = json_array_size(argv);
    const char **args = calloc(n + 1, sizeof *args);
    char **env = child_env(json_object_get(c->params, "env"), c->unset_env);
    if (!args || !env || !n) {
        free(args);
        free_strv(env);
        rb_act_fail(res, RB_OUT_FAILED, "spawn", "%s", n ? "out of memory" : "empty argv");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        args[i] = json_string_value(json_array_get(argv, i));
    rb_proc_spec spec;
    rb_proc_result pr;
    spec_from(c, &spec, env);
    spec.argv = args;
    rb_proc_run(&spec, &pr);
    to_result(&pr, res);
    rb_proc_result_cleanup(&pr);
    free(args);
    free_strv(env);
    return 0;
}

static int run_shell(const rb_act_call *c, rb_act_result *res)
{
    json_t *script = json_object_get(c->params, "script");
    char **env = child_env(json_object_get(c->params, "env"), c->unset_env);
    if (!env || !json_is_string(script)) {
        free_strv(env);
        rb_act_fail(res, RB_OUT_FAILED, "spawn", "out of memory");
        return -1;
    }
    rb_proc_spec spec;
    rb_proc_result pr;
    spec_from(c, &spec, env);
    rb_proc_run_shell(json_string_value(script), json_string_length(script), &spec, &pr);
    to_result(&pr, res);
    rb_proc_result_cleanup(&pr);
    free_strv(env);
    return 0;
}

/* expect: exit_code (default 0) and a regex over stdout. */
static void judge_process(const json_t *expect, rb_act_result *res)
{
    rb_act_judge_code_and_text(expect, res, "exit_code", 0, "exit code", "stdout");
}

/* " (in DIR, with env A, B, N bytes on stdin)": what the line alone does not say; env values
 * are left out (secrets travel there), the script's own RB_V values are on the line. */
static void say_context(const rb_act_call *c, rb_act_preview *p)
{
    const char *cwd = json_string_value(json_object_get(c->params, "cwd")), *k;
    json_t *v, *in = json_object_get(c->params, "stdin");
    int parts = 0, envs = 0;
    if (cwd) {
        rb_act_say(p, " (in ");
        rb_act_say_word(p, cwd, strlen(cwd));
        parts++;
    }
    json_object_foreach(json_object_get(c->params, "env"), k, v)
    {
        if (!strncmp(k, "RB_V", 4))
            continue;
        rb_act_say(p, "%s%s", envs ? ", " : parts ? ", with env " : " (with env ", k);
        envs++;
    }
    parts += envs > 0;
    if (json_is_string(in))
        rb_act_say(p, "%s%zu bytes on stdin", parts++ ? ", " : " (", json_string_length(in));
    rb_act_say(p, "%s\n", parts ? ")" : "");
}

static void preview_exec(const rb_act_call *c, rb_act_preview *p)
{
    size_t i;
    json_t *w;
    rb_act_say(p, "would run:");
    json_array_foreach(json_object_get(c->params, "argv"), i, w)
    {
        rb_act_say_n(p, " ", 1);
        rb_act_say_word(p, json_string_value(w) ? json_string_value(w) : "", json_string_length(w));
    }
    say_context(c, p);
}

static void preview_shell(const rb_act_call *c, rb_act_preview *p)
{
    json_t *script = json_object_get(c->params, "script");
    rb_act_say(p, "would run: ");
    rb_act_say_script_vars(p, json_object_get(c->params, "env"));
    rb_act_say(p, "sh -c ");
    rb_act_say_word(p, json_string_value(script) ? json_string_value(script) : "", json_string_length(script));
    say_context(c, p);
}

const rb_action_ops rb_exec_ops = {.run = run_exec, .judge = judge_process, .preview = preview_exec};
const rb_action_ops rb_shell_ops = {.run = run_shell, .judge = judge_process, .preview = preview_shell};
