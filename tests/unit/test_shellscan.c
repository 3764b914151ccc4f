/* The shell lexer (rb_shell_scan) and the rendering of shell scripts (rb_shell_render): the five
 * bypasses of issue 7 item 1, tables of accepted and refused scripts with the refusal's offset,
 * and rendered scripts run by /bin/sh with hostile values, checking from outside (a marker file
 * in a scratch folder, the script's output) that no value ever ran as code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runbook/expr.h"

static char dir[] = "/tmp/rb-shellscan.XXXXXX";

static const char *const hostile[] = {
    "$(touch M)", "`touch M`", "';touch M;'", "\";touch M;\"", ";touch M;#", "\ntouch M\n",
    "$(touch M)\nEOF\ntouch M", "a[$(touch M)]", "${x:-$(touch M)}", "\\\";touch M;#", "EOF\ntouch M", NULL};

static json_t *values;

static json_t *lookup(void *ctx, const char *root)
{
    (void)ctx;
    return json_object_get(values, root);
}

/* Renders `script` with inputs.x = value; NULL when refused. *env gets the variables. */
static char *render(const char *script, const char *value, json_t **env, rb_shell_error *err)
{
    rb_expr_error e;
    rb_template *t = rb_template_parse(script, strlen(script), &e);
    assert_non_null(t);
    values = json_pack("{s:{s:s, s:s}}", "inputs", "x", value, "y", "}}");
    rb_scope scope = {lookup, NULL, NULL};
    *env = json_object();
    int unknown = 0;
    char *out = rb_shell_render(t, script, strlen(script), &scope, *env, &unknown, err);
    assert_false(unknown);
    rb_template_free(t);
    json_decref(values);
    return out;
}

/* The shells a rendered script is run by: /bin/sh (dash here), and bash, which is /bin/sh on
 * other systems and the login shell that runs an `ssh` command on most hosts. */
static const char *const shells[] = {"/bin/sh", "/bin/bash", NULL};

/* Runs `text` with `shell` -c in the scratch folder with `env`; returns its stdout (caller
 * frees). Bounded: a script that hangs is killed after 5 s. */
static char *run_in(const char *shell, const char *text, json_t *env)
{
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *k;
        json_t *v;
        dup2(fd[1], 1);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 2);
        close(fd[0]);
        if (chdir(dir) != 0)
            _exit(126);
        json_object_foreach(env, k, v) setenv(k, json_string_value(v), 1);
        alarm(5);
        execl(shell, "sh", "-c", text, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char *out = calloc(1, 65536);
    size_t n = 0;
    ssize_t r;
    while (out && n < 65535 && (r = read(fd[0], out + n, 65535 - n)) > 0)
        n += (size_t)r;
    close(fd[0]);
    waitpid(pid, NULL, 0);
    return out;
}

static char *run_sh(const char *text, json_t *env)
{
    return run_in("/bin/sh", text, env);
}

static int marker_exists(void)
{
    char path[64];
    snprintf(path, sizeof path, "%s/M", dir);
    return access(path, F_OK) == 0;
}

/* For every hostile value: refused, or rendered and run without the marker appearing. Returns
 * whether it was accepted. */
static int never_runs(const char *script)
{
    int accepted = -1;
    for (size_t i = 0; hostile[i]; i++) {
        json_t *env;
        rb_shell_error err;
        char *text = render(script, hostile[i], &env, &err);
        for (size_t k = 0; text && shells[k]; k++) {
            free(run_in(shells[k], text, env));
            if (marker_exists())
                fail_msg("%s: script %s ran the value %s (rendered: %s)", shells[k], script, hostile[i], text);
        }
        assert_true(accepted == -1 || accepted == (text != NULL)); /* the value never decides */
        accepted = text != NULL;
        free(text);
        json_decref(env);
    }
    return accepted;
}

static long scan(const char *script, rb_shell_part *parts, size_t n, rb_shell_error *err)
{
    return rb_shell_scan(script, strlen(script), parts, n, err);
}

/* ---- the five bypasses found in issue 7 ---- */

static void bypass_backslash_before_template(void **state)
{
    (void)state;
    const char *s = "echo \\${{ inputs.x }}";
    rb_shell_error err;
    assert_int_equal(scan(s, NULL, 0, &err), -1);
    assert_int_equal(err.offset, 6);
    assert_non_null(strstr(err.message, "after a backslash"));
    assert_int_equal(never_runs(s), 0);
}

static void bypass_braces_in_expression_string(void **state)
{
    (void)state;
    const char *s = "echo ${{ default('}}', 'a') }} \"' ${{ inputs.x }} \"";
    rb_shell_part p[2];
    assert_int_equal(scan(s, p, 2, NULL), 2);
    assert_int_equal(p[0].offset, 5);
    assert_int_equal(p[0].form, RB_SHELL_WORD);
    assert_int_equal(p[1].form, RB_SHELL_QUOTED); /* inside the double quotes, as the shell sees it */
    assert_int_equal(never_runs(s), 1);
}

static void bypass_escape_inside_quotes(void **state)
{
    (void)state;
    const char *s = "echo '$${{' }} ' ${{ inputs.x }}'";
    rb_shell_error err;
    assert_int_equal(scan(s, NULL, 0, &err), -1);
    assert_int_equal(err.offset, 17);
    assert_non_null(strstr(err.message, "single quotes"));
    assert_int_equal(never_runs(s), 0);
    /* the escape is literal text to the shell: the lexer reads "${{" there, not a template */
    json_t *env;
    char *text = render("echo '$${{ x }}' ${{ inputs.x }}", "v", &env, &err);
    assert_string_equal(text, "echo '${{ x }}' \"$RB_V1\"");
    char *out = run_sh(text, env);
    assert_string_equal(out, "${{ x }} v\n");
    free(out), free(text), json_decref(env);
}

static void bypass_two_heredocs_on_a_line(void **state)
{
    (void)state;
    const char *s = "cat <<EOF <<S\nS\n${{ inputs.x }}\nEOF\nS\necho ${{ inputs.x }}\n";
    rb_shell_part p[2];
    assert_int_equal(scan(s, p, 2, NULL), 2);
    assert_int_equal(p[0].form, RB_SHELL_QUOTED); /* in the first body, which ends at EOF */
    assert_int_equal(p[0].argv, 0);
    assert_int_equal(p[1].form, RB_SHELL_WORD);
    assert_int_equal(never_runs(s), 1);
    /* the second body quoted: refused there, whichever order */
    rb_shell_error err;
    assert_int_equal(scan("cat <<EOF <<'S'\nEOF\n${{ inputs.x }}\nS\n", NULL, 0, &err), -1);
    assert_int_equal(err.offset, 20);
}

static void bypass_long_heredoc_delimiter(void **state)
{
    (void)state;
    char d[201], s[1024];
    memset(d, 'D', 200), d[200] = 0;
    snprintf(s, sizeof s, "cat <<%s\n%.63s\n${{ inputs.x }}\n%s\necho ${{ inputs.x }}\n", d, d, d);
    rb_shell_part p[2];
    assert_int_equal(scan(s, p, 2, NULL), 2);
    assert_int_equal(p[0].form, RB_SHELL_QUOTED);
    assert_int_equal(p[1].form, RB_SHELL_WORD);
    assert_int_equal(never_runs(s), 1);
    snprintf(s, sizeof s, "cat <<'%s'\n%.63s\n${{ inputs.x }}\n%s\n", d, d, d);
    assert_int_equal(scan(s, NULL, 0, NULL), -1);
    assert_int_equal(never_runs(s), 0);
}

/* ---- tables ---- */

typedef struct accepted {
    const char *script;
    const char *forms; /* W or Q per ${{ }}, then a for argv per part: "WQ:10" */
} accepted;

static const accepted accepted_table[] = {
    {"echo ${{ inputs.x }}", "W:1"},
    {"echo pre${{ inputs.x }}post", "W:1"},
    {"echo \"a ${{ inputs.x }} b\"", "Q:1"},
    {"X=${{ inputs.x }} env", "W:0"},
    {"X=${{ inputs.x }} printenv X; /usr/bin/printf %s ${{ inputs.x }}", "WW:01"},
    {"X=${{ inputs.x }}; echo \"$X\"", "W:0"},
    {"cat <<EOF\n${{ inputs.x }}\nEOF", "Q:0"},
    {"cat <<-EOF\n\t${{ inputs.x }}\n\tEOF\necho ${{ inputs.x }}", "QW:01"},
    {"echo $(echo ${{ inputs.x }})", "W:1"},
    {"echo \"$(echo \"${{ inputs.x }}\")\"", "Q:1"},
    {"case ${{ inputs.x }} in a) echo ${{ inputs.x }};; (b) :;; esac", "WW:11"},
    {"v=$(case a in a) echo ${{ inputs.x }};; esac)", "W:1"},
    {"# a comment\necho ${{ inputs.x }} # after", "W:1"},
    {"echo a#${{ inputs.x }}", "W:1"},
    {"echo '}}' ${{ inputs.x }} '$${{'", "W:1"},
    {"[ ${{ inputs.x }} = a ] || echo \"${{ inputs.y }}\" >&2", "WQ:11"},
    {"echo $${{ inputs.x }}", ""},
    {"cat <<\"E F\"\nbody\nE F\necho ${{ inputs.x }}", "W:1"},
    {"f() { echo ${{ inputs.x }}; }; f", "W:1"},
    {"(cd / && echo ${{ inputs.x }})", "W:1"},
    {"echo ${{ inputs.x }} \\\n ${{ inputs.x }}", "WW:11"},
    /* the safe spellings of what bash would evaluate */
    {"export X=${{ inputs.x }}", "W:0"},
    {"f() { local v=${{ inputs.x }}; echo \"$v\"; }; f", "W:0"},
    {"n=${{ inputs.x }}; [ \"$n\" -lt 5 ] 2>/dev/null || echo big", "W:0"},
    {"sh -c 'echo \"$1\"' sh ${{ inputs.x }}", "W:1"},
    {"for f in ${{ inputs.x }}; do echo \"$f\"; done", "W:1"},
    {"i=0; i=$((i + 1)); echo ${{ inputs.x }}", "W:1"},
    {"x=${{ inputs.x }}; echo \"${x:-none}\" \"${#x}\"", "W:0"},
    {"printf '%s\\n' ${{ inputs.x }}", "W:1"},
    {"[ -n ${{ inputs.x }} ]", "W:1"},
    {"v=${{ inputs.x }}; [[ -n $v && $v == a* ]] || echo \"$v\"", "W:0"},
};

static void accepted_scripts(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof accepted_table / sizeof *accepted_table; i++) {
        const accepted *a = &accepted_table[i];
        rb_shell_part p[4];
        rb_shell_error err;
        long n = scan(a->script, p, 4, &err);
        if (n < 0)
            fail_msg("refused %s: %s at %zu", a->script, err.message, err.offset);
        const char *argv = strchr(a->forms, ':');
        assert_int_equal((size_t)n, argv ? (size_t)(argv - a->forms) : 0);
        for (long j = 0; j < n; j++) {
            assert_int_equal(p[j].form, a->forms[j] == 'W' ? RB_SHELL_WORD : RB_SHELL_QUOTED);
            assert_int_equal(p[j].argv, argv[1 + j] == '1');
        }
        assert_int_equal(never_runs(a->script), 1);
    }
}

typedef struct refused {
    const char *script;
    size_t offset;
    const char *message;
} refused;

static const refused refused_table[] = {
    {"echo 'a ${{ inputs.x }}'", 8, "single quotes"},
    {"echo $'a ${{ inputs.x }}'", 9, "$'...'"},
    {"echo \"\\${{ inputs.x }}\"", 7, "after a backslash"},
    {"echo `echo ${{ inputs.x }}`", 11, "backquotes"},
    {"echo ${v:-${{ inputs.x }}}", 10, "${...}"},
    {"echo $((1 + ${{ inputs.x }}))", 12, "arithmetic"},
    {"((n = ${{ inputs.x }}))", 6, "arithmetic"},
    {"# ${{ inputs.x }}", 2, "comment"},
    {"echo a # ${{ inputs.x }}", 9, "comment"},
    {"eval ${{ inputs.x }}", 5, "eval"},
    {"eval \"echo ${{ inputs.x }}\"", 11, "eval"},
    /* the command name as the shell reads it (found by fuzz_shell: a line continuation before eval) */
    {"\\eval ${{ inputs.x }}", 6, "eval"},
    {"e\\val ${{ inputs.x }}", 6, "eval"},
    {"\\\neval ${{ inputs.x }}", 7, "eval"},
    {"echo -\nE\n\\\n\\\neval ${{ inputs.x }}\\\n", 18, "eval"},
    {"command eval ${{ inputs.x }}", 13, "eval"},
    {"builtin eval ${{ inputs.x }}", 13, "eval"},
    {"time eval ${{ inputs.x }}", 10, "eval"},
    /* a command named at run time may be eval (found by fuzz_shell: $xeval empty, eval next) */
    {"$xeval eval ${{ inputs.x }}", 12, "could be eval"},
    {"x=eval\n$x ${{ inputs.x }}", 10, "could be eval"},
    {"'eval' ${{ inputs.x }}", 7, "could be eval"},
    {"\"$cmd\" ${{ inputs.x }}", 7, "could be eval"},
    {"$(echo eval) ${{ inputs.x }}", 13, "could be eval"},
    {"${{ inputs.x }} --version", 0, "command's name"},
    {"FOO=1 ${{ inputs.x }}", 6, "command's name"},
    {"let n=${{ inputs.x }}", 6, "let"},
    {"[[ ${{ inputs.x }} -eq 1 ]]", 3, "[["},
    {"trap \"echo ${{ inputs.x }}\" EXIT", 11, "trap"},
    {"cat <<'EOF'\n${{ inputs.x }}\nEOF", 12, "quoted"},
    {"cat <<E\\OF\n${{ inputs.x }}\nEOF", 11, "quoted"},
    {"cat <<${{ inputs.x }}\nx\n", 6, "delimiter"},
    {"cat <<EOF\n${{ inputs.x }}\n", 4, "no end line"},
    {"cat <<EOF", 4, "no body"},
    {"echo \"${{ inputs.x }}", 5, "unterminated \""},
    {"echo 'a", 5, "unterminated '"},
    {"echo $(echo ${{ inputs.x }}", 5, "unterminated $("},
    {"echo ${{ inputs.x }})", 20, ")"},
    {"echo \"${v:-'}\"${{ inputs.x }}'\"", 11, "different shells"},
    {"echo ${{ inputs.x ", 5, "unterminated ${{"},
    /* bash, the remote shell of most hosts, reads some arguments as code or as names (issue 7
     * item 1, found in a later audit: alias, printf -v, declare -i, PS4, $((x)) ran the value) */
    {"alias greet=${{ inputs.x }}", 12, "alias"},
    {"eval \"$(echo ${{ inputs.x }})\"", 13, "eval"},
    {"$cmd \"$(echo ${{ inputs.x }})\"", 13, "could be eval"},
    {"read -r ${{ inputs.x }}", 8, "read"},
    {"read v <<< ${{ inputs.x }}", 11, "read"},
    {"printf -v ${{ inputs.x }} %s 1", 10, "printf"},
    {"printf -v \"${{ inputs.x }}\" %s 1", 11, "printf"},
    {"[ -v ${{ inputs.x }} ]", 5, "["},
    {"unset ${{ inputs.x }}", 6, "unset"},
    {"declare -i n=${{ inputs.x }}", 13, "declare"},
    {"typeset -i n=${{ inputs.x }}", 13, "typeset"},
    {"local ${{ inputs.x }}", 6, "local"},
    {"source ${{ inputs.x }}", 7, "source"},
    {". ${{ inputs.x }}", 2, "."},
    {"exec ${{ inputs.x }}", 5, "exec"},
    {"PS4=${{ inputs.x }}; set -x; true", 4, "PS4"},
    {"PATH=${{ inputs.x }} ls", 5, "PATH"},
    {"export LD_PRELOAD=${{ inputs.x }}", 18, "LD_PRELOAD"},
    {"P\\\nATH=${{ inputs.x }}", 7, "cannot read"},
    {"ssh host systemctl restart ${{ inputs.x }}", 27, "ssh"},
    {"ssh host \"$(echo ${{ inputs.x }})\"", 17, "ssh"},
    {"watch echo ${{ inputs.x }}", 11, "watch"},
    {"bash -c ${{ inputs.x }}", 8, "bash"},
    {"sh -ec \"echo ${{ inputs.x }}\"", 13, "sh"},
    /* a value given to a variable that bash later evaluates, or a shell runs */
    {"x=${{ inputs.x }}; echo $((x))", 2, "x, which the script's line 1 evaluates"},
    {"x=${{ inputs.x }}\necho $(( $x + 1 ))", 2, "line 2"},
    {"n=${{ inputs.x }}; [[ $n -eq 1 ]]", 2, "arithmetic"},
    {"n=${{ inputs.x }}; a=(1 2); echo ${a[n]}", 2, "arithmetic"},
    {"n=${{ inputs.x }}; echo ${s:n}", 2, "arithmetic"},
    {"n=${{ inputs.x }}; echo ${!n}", 2, "arithmetic"},
    {"n=${{ inputs.x }}; echo ${n@P}", 2, "arithmetic"},
    {"declare -i n; n=${{ inputs.x }}", 16, "arithmetic"},
    {"for i in ${{ inputs.x }}; do echo $((i)); done", 9, "arithmetic"},
    {"for ((i = 0; i < n; i++)); do :; done; n=${{ inputs.x }}", 41, "arithmetic"},
    {"let i=n; n=${{ inputs.x }}", 11, "arithmetic"},
    {"y=$(echo ${{ inputs.x }}); echo $((y))", 9, "y, which"},
    {"f() { echo $(( $1 + 1 )); }; f ${{ inputs.x }}", 31, "$1"},
    {"u=${{ inputs.x }}; ssh host \"systemctl restart $u\"", 2, "as code"},
    {"v=${{ inputs.x }}; eval \"$v\"", 2, "as code"},
    {"v=${{ inputs.x }}; trap \"echo $v\" EXIT", 2, "as code"},
    {"n=${{ inputs.x }}; echo $[n]", 24, "$[ ]"},
};

static void refused_scripts(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof refused_table / sizeof *refused_table; i++) {
        const refused *r = &refused_table[i];
        rb_shell_error err;
        if (scan(r->script, NULL, 0, &err) != -1)
            fail_msg("accepted %s", r->script);
        if (err.offset != r->offset || !strstr(err.message, r->message))
            fail_msg("%s: got %zu \"%s\", want %zu \"%s\"", r->script, err.offset, err.message, r->offset, r->message);
    }
}

/* A value given to a variable that the script evaluates: the scan marks its part (where, and
 * how), the renderer passes a number and refuses anything else, and bash runs the number. */
static void flows_take_only_numbers(void **state)
{
    (void)state;
    static const struct {
        const char *script;
        unsigned char flow;
        unsigned line;
        const char *out; /* what bash prints with x = 41 */
    } cases[] = {
        {"n=${{ inputs.x }}\necho $((n + 1))", RB_SHELL_EVALUATED, 2, "42\n"},
        {"n=${{ inputs.x }}; [[ $n -eq 41 ]] && echo yes", RB_SHELL_EVALUATED, 1, "yes\n"},
        {"f() { echo $(( $1 * 2 )); }\nf ${{ inputs.x }}", RB_SHELL_EVALUATED, 1, "82\n"},
        {"v=${{ inputs.x }}\n\neval \"echo $v\"", RB_SHELL_RUN, 3, "41\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rb_shell_part p[2];
        rb_shell_error err;
        assert_int_equal(scan(cases[i].script, p, 2, &err), 1);
        assert_int_equal(p[0].flow, cases[i].flow);
        assert_int_equal(p[0].flow_line, cases[i].line);
        json_t *env;
        char *text = render(cases[i].script, "41", &env, &err);
        assert_non_null(text);
        char *out = run_in("/bin/bash", text, env);
        assert_string_equal(out, cases[i].out);
        free(out), free(text), json_decref(env);
        for (size_t k = 0; hostile[k]; k++) {
            assert_null(render(cases[i].script, hostile[k], &env, &err));
            assert_non_null(strstr(err.message, "not a number"));
            json_decref(env);
        }
        assert_null(render(cases[i].script, "4 1", &env, &err));
        json_decref(env);
    }
    /* without room for the mark (no parts[]), the same script is refused */
    assert_int_equal(scan("n=${{ inputs.x }}; echo $((n))", NULL, 0, NULL), -1);
}

/* ---- what the shell gets ---- */

static void values_stay_one_literal_word(void **state)
{
    (void)state;
    for (size_t i = 0; hostile[i]; i++) {
        json_t *env;
        rb_shell_error err;
        char *text = render("printf '[%s]' ${{ inputs.x }} \"<${{ inputs.x }}>\"\ncat <<E\n(${{ inputs.x }})\nE",
                            hostile[i], &env, &err);
        assert_non_null(text);
        assert_null(strstr(text, hostile[i])); /* no value in the text at all */
        char *out = run_sh(text, env), want[512];
        snprintf(want, sizeof want, "[%s][<%s>](%s)\n", hostile[i], hostile[i], hostile[i]);
        assert_string_equal(out, want);
        assert_false(marker_exists());
        free(out), free(text), json_decref(env);
    }
}

static void nul_in_a_value_is_an_error(void **state)
{
    (void)state;
    rb_expr_error e;
    const char *s = "echo ${{ inputs.x }}";
    rb_template *t = rb_template_parse(s, strlen(s), &e);
    values = json_loads("{\"inputs\": {\"x\": \"a\\u0000b\"}}", 0, NULL);
    rb_scope scope = {lookup, NULL, NULL};
    json_t *env = json_object();
    rb_shell_error err;
    int unknown = 0;
    assert_null(rb_shell_render(t, s, strlen(s), &scope, env, &unknown, &err));
    assert_false(unknown);
    assert_int_equal(json_object_size(env), 0);
    json_decref(env), json_decref(values), rb_template_free(t);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof path, "%s/M", dir);
    unlink(path);
    return rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bypass_backslash_before_template),
        cmocka_unit_test(bypass_braces_in_expression_string),
        cmocka_unit_test(bypass_escape_inside_quotes),
        cmocka_unit_test(bypass_two_heredocs_on_a_line),
        cmocka_unit_test(bypass_long_heredoc_delimiter),
        cmocka_unit_test(accepted_scripts),
        cmocka_unit_test(refused_scripts),
        cmocka_unit_test(flows_take_only_numbers),
        cmocka_unit_test(values_stay_one_literal_word),
        cmocka_unit_test(nul_in_a_value_is_an_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
