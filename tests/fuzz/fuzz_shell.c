/* libFuzzer target for shell scripts with ${{ }} (issue 7 item 1): the input picks a script
 * from an alphabet of shell pieces (quotes, backslashes, $( ), backquotes, ${ }, $(( )), here-
 * documents of every kind, comments, case, templates, the $${{ escape, a }} inside an
 * expression's string) and a hostile value. When rb_shell_scan accepts the script, it is
 * rendered as `run` renders it (rb_shell_render) and run by /bin/sh -c (or bash, with a second
 * alphabet of what bash evaluates, when the first byte's second bit is set) in a scratch folder
 * with a time bound; the value tries to create the file CANARY there, and the target aborts if
 * it ever appears. The alphabet has no command that writes a file or loops, so only a value can
 * create it. Inputs whose first byte is odd are used as raw script text instead: those are
 * only lexed and rendered (never run: raw bytes could spell any command), for crashes and for
 * the lexer and the template parser agreeing on the ${{ }} count. */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runbook/expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const pieces[] = {
    "${{ inputs.x }}", "${{ default('}}', inputs.x) }}", "${{ inputs.x }}", "$${{", "}}", " ", " ", "\n",
    "'", "\"", "\\", "`", "$(", "(", ")", "$((", "((", "${", "{ ", " }", "$'", "$", "#", ";", "|", "&&",
    "<<E", "<<-E", "<<'E'", "<<\"E\"", "<<\\E", "<<EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE",
    "\nE\n", "\n\tE\n", "E", "\nEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE\n",
    "echo ", "printf %s ", "cat ", ": ", "true ", "x=", "$x", "case ", " in ", "a) ", ";; ", "esac",
    "eval ", "let ", "[[ ", " ]]", "a", "-", "=", "*", "\t", "}", "{", "$$", "\\\n", "${x:-", "${#x}",
};
#define NPIECES (sizeof pieces / sizeof *pieces)

/* What bash reads as code or as a name (arithmetic, subscripts, declarations, prompts): used,
 * with the pieces above, when the input's second bit asks for bash. The first alphabet keeps
 * its order so that the corpus's regression inputs still spell the scripts they were found as. */
static const char *const bash_pieces[] = {
    "alias y=", "y", "read ", "printf -v ", "declare -i ", "local ", "export ", "n=", "n", "$n", "$((n))",
    "((n))", "${a[n]}", "${s:n}", "${!n}", "${n@P}", "PS4=", "set -x;", "for n in ", "; do ", "done",
    "f() { ", "$1", "f ", "set -- ", "[ -v ", "[[ $n -eq 1 ]]", "unset ", "typeset ", "mapfile ", "sh -c ",
    "bash -c ", "IFS=", "PATH=", "for ((", "$[n]", "\"$n\"", "[ \"$n\" -lt 1 ]", "echo $n ",
};
#define NBASH (sizeof bash_pieces / sizeof *bash_pieces)

static const char *piece(size_t i, int bash)
{
    if (!bash)
        return pieces[i % NPIECES];
    i %= NPIECES + NBASH;
    return i < NPIECES ? pieces[i] : bash_pieces[i - NPIECES];
}

static const char *const canaries[] = {
    "$(touch CANARY)", "`touch CANARY`", "'; touch CANARY; '", "\"; touch CANARY; \"",
    "\ntouch CANARY\n", "E\ntouch CANARY\nE\n", "a[$(touch CANARY)]", "${x:-$(touch CANARY)}",
    "}}; touch CANARY; #", "\\';touch CANARY;#", "$((a[$(touch CANARY)]))", ");touch CANARY;(",
};
#define NCANARIES (sizeof canaries / sizeof *canaries)

static char scratch[] = "/tmp/rb-fuzz-shell.XXXXXX";
static char canary_path[64];
static const char *value;
static json_t *inputs[NCANARIES]; /* built once, never freed */

static json_t *lookup(void *ctx, const char *root)
{
    return strcmp(root, "inputs") ? NULL : ctx;
}

static void child(const char *shell, const char *text, json_t *env)
{
    const char *k;
    json_t *v;
    int null = open("/dev/null", O_RDWR);
    if (null < 0 || chdir(scratch) != 0)
        _exit(126);
    dup2(null, 0), dup2(null, 1), dup2(null, 2);
    setpgid(0, 0);
    json_object_foreach(env, k, v) setenv(k, json_string_value(v), 1);
    alarm(2); /* kept across exec: a script that hangs ends */
    execl(shell, "sh", "-c", text, (char *)NULL);
    _exit(127);
}

/* Runs the script; its process group is gone when this returns. */
static void run_sh(const char *shell, const char *text, json_t *env)
{
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0)
        child(shell, text, env);
    setpgid(pid, pid);
    while (waitpid(pid, NULL, 0) < 0)
        ;
    kill(-pid, SIGKILL);
}

static void init(void)
{
    if (canary_path[0])
        return;
    if (!mkdtemp(scratch))
        abort();
    snprintf(canary_path, sizeof canary_path, "%s/CANARY", scratch);
    for (size_t i = 0; i < NCANARIES; i++)
        if (!(inputs[i] = json_pack("{s:s}", "x", canaries[i])))
            abort();
}

/* Renders (and, when `execute`, runs) a script the lexer accepted. */
static void render_and_run(const char *script, size_t len, long nparts, const rb_shell_part *parts, json_t *in,
                           int execute, const char *shell)
{
    rb_expr_error e;
    rb_template *t = rb_template_parse(script, len, &e);
    if (!t)
        return; /* the checker reports a template error first; run never gets here */
    if ((size_t)nparts != rb_template_parts(t))
        abort(); /* the lexer and the template parser must see the same ${{ }} */
    rb_scope scope = {lookup, in, NULL};
    json_t *env = json_object();
    rb_shell_error err;
    int unknown = 0;
    char *text = rb_shell_render(t, script, len, &scope, env, &unknown, &err);
    int flows = 0; /* a value that reaches an evaluation: the renderer takes only a number */
    for (long i = 0; i < nparts && i < 64; i++)
        flows |= parts[i].flow != RB_SHELL_STAYS;
    if (execute && (unknown || (!text && !flows)))
        abort(); /* accepted by the lexer, known expressions: rendering cannot refuse */
    if (text && strstr(text, "touch CANARY") && !strstr(script, "touch CANARY"))
        abort(); /* a value reached the script's text */
    if (text && execute) {
        run_sh(shell, text, env);
        if (access(canary_path, F_OK) == 0) {
            fprintf(stderr, "a value ran as code in %s:\n--- script\n%s\n--- rendered\n%s\n--- value\n%s\n", shell, script, text, value);
            abort();
        }
    }
    free(text);
    json_decref(env);
    rb_template_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char script[4096];
    size_t len = 0;
    init();
    if (size < 2)
        return 0;
    value = canaries[data[1] % NCANARIES];
    json_t *in = inputs[data[1] % NCANARIES];
    int bash = (data[0] & 2) != 0;
    if (data[0] & 1) {
        len = size - 2 < sizeof script ? size - 2 : sizeof script;
        memcpy(script, data + 2, len);
    } else {
        for (size_t i = 2; i < size && i < 2 + 64; i++) {
            const char *p = piece(data[i], bash);
            size_t n = strlen(p);
            if (len + n >= sizeof script)
                break;
            memcpy(script + len, p, n);
            len += n;
        }
    }
    script[len] = 0;
    rb_shell_part parts[64];
    long n = rb_shell_scan(script, len, parts, 64, NULL);
    for (long i = 1; i < n && i < 64; i++)
        if (parts[i].offset <= parts[i - 1].offset)
            abort();
    if (n >= 0 && !memchr(script, 0, len))
        render_and_run(script, len, n, parts, in, !(data[0] & 1), bash ? "/bin/bash" : "/bin/sh");
    return 0;
}
