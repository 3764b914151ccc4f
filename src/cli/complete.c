/* runbook help, runbook completion bash|zsh, and the hidden helper the completion scripts
 * call for words only a run of the program knows (runbook names, run ids, input names). The
 * scripts are written from the commands' option tables, as --help and the man page are. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "runbook/exec.h"
#include "runbook/journal.h"
#include "runbook/show.h"
#include "walk.h"

static const cli_opt no_opts[] = {{NULL, NULL, NULL}};

const cli_command cli_help_cmd = {"help", "help [COMMAND]", "Show the commands, or one command's options.",
                                  no_opts, cmd_help, "commands"};

const cli_command cli_completion = {"completion", "completion bash|zsh",
                                    "Print a shell completion script (see docs/running.md to install it).",
                                    no_opts, cmd_completion, "shells"};

static int no_opt(int opt, const char *arg, void *ctx) { return 0; }

int cmd_help(int argc, char **argv)
{
    char **pos;
    int npos, rc = cli_parse(&cli_help_cmd, argc, argv, no_opt, NULL, &pos, &npos);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    if (npos > 1)
        return cli_usage_error(&cli_help_cmd, "name one command");
    if (npos == 0) {
        cli_usage(stdout);
        return EXIT_OK;
    }
    const cli_command *cmd = cli_command_find(pos[0]);
    if (!cmd)
        return cli_usage_error(&cli_help_cmd, "unknown command '%s' (see 'runbook help')", pos[0]);
    cli_help(cmd, stdout);
    return EXIT_OK;
}

/* ---- the hidden helper ---- */

static void print_runbook_names(void)
{
    const char *env = getenv("RUNBOOK_PATH");
    char *dirs = strdup(env && *env ? env : "./runbooks"), *save = NULL;
    for (char *d = dirs ? strtok_r(dirs, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save)) {
        walk_ignore ign;
        walk_ignore_init(&ign);
        walk_files files = {0};
        struct stat st;
        if (stat(d, &st) == 0 && walk_collect("__complete", &d, 1, &ign, &files) == 0) /* a missing folder is no error here */
            for (size_t i = 0; i < files.count; i++) {
                const char *base = strrchr(files.paths[i], '/');
                base = base ? base + 1 : files.paths[i];
                rb_showf(stdout, NULL, "%.*s\n", (int)strcspn(base, "."), base);
            }
        walk_files_free(&files);
        walk_ignore_cleanup(&ign);
    }
    free(dirs);
}

static void print_run_ids(const char *state_dir)
{
    char *state = state_dir ? strdup(state_dir) : rb_exec_default_state_dir();
    rb_run_summary *runs = NULL;
    size_t n = 0;
    if (state && rb_journal_list(state, &runs, &n) == 0)
        for (size_t i = n; i-- > 0;) /* newest first */
            rb_showf(stdout, NULL, "%s\n", runs[i].run_id);
    free(runs);
    free(state);
}

static void print_input_names(const char *name)
{
    rb_catalog *cat = cli_catalog();
    char *path = cat ? cli_resolve(name, cat) : NULL;
    rb_diags quiet;
    rb_diags_init(&quiet);
    rb_runbook *rb = path ? rb_runbook_load(path, &quiet) : NULL;
    for (size_t i = 0; rb && i < rb->ninputs; i++)
        rb_showf(stdout, NULL, "%s=\n", rb->inputs[i].name);
    rb_runbook_free(rb);
    rb_diags_cleanup(&quiet);
    free(path);
    rb_catalog_free(cat);
}

int cli_complete_helper(int argc, char **argv)
{
    const char *kind = argc > 1 ? argv[1] : "";
    if (!strcmp(kind, "runbooks"))
        print_runbook_names();
    else if (!strcmp(kind, "runs"))
        print_run_ids(argc > 3 && !strcmp(argv[2], "--state-dir") ? argv[3] : NULL);
    else if (!strcmp(kind, "inputs") && argc > 2)
        print_input_names(argv[2]);
    return EXIT_OK;
}

/* ---- bash ---- */

/* The words a command's options complete to: "-y --yes --set ...". */
static void put_option_words(const cli_command *cmd, FILE *out)
{
    for (const cli_opt *o = cmd->opts; o->name; o++) {
        if (o->flags & CLI_HIDDEN)
            continue;
        if (o->short_name)
            fprintf(out, "-%c ", o->short_name);
        fprintf(out, "--%s ", o->name);
    }
    fputs("-h --help", out);
}

/* The options that take a value, so the script can tell a value from the command's operand. */
static void put_valued_words(const cli_command *cmd, FILE *out)
{
    for (const cli_opt *o = cmd->opts; o->name; o++)
        if (o->arg) {
            if (o->short_name)
                fprintf(out, " -%c", o->short_name);
            fprintf(out, " --%s", o->name);
        }
}

/* What a kind of word completes to, as a bash statement filling COMPREPLY. */
static const char *bash_kind(const char *kind)
{
    static const struct {
        const char *kind, *code;
    } kinds[] = {
        {"runbooks", "_runbook_words \"$cur\" runbooks; _runbook_files \"$cur\""},
        {"runs", "_runbook_words \"$cur\" runs $(_runbook_state_dir)"},
        {"inputs", "compopt -o nospace 2>/dev/null; _runbook_words \"$cur\" inputs \"$(_runbook_operand)\""},
        {"dirs", "COMPREPLY=($(compgen -d -- \"$cur\"))"},
        {"paths", "COMPREPLY=($(compgen -f -- \"$cur\"))"},
        {"files", "COMPREPLY=($(compgen -f -- \"$cur\"))"},
        {"shells", "COMPREPLY=($(compgen -W \"bash zsh\" -- \"$cur\"))"},
        {"commands", "COMPREPLY=($(compgen -W \"$_runbook_commands\" -- \"$cur\"))"},
    };
    for (size_t i = 0; kind && i < sizeof kinds / sizeof *kinds; i++)
        if (!strcmp(kinds[i].kind, kind))
            return kinds[i].code;
    return "COMPREPLY=()";
}

static void put_bash_values(const cli_command *cmd, FILE *out)
{
    fputs("        case $prev in\n", out);
    for (const cli_opt *o = cmd->opts; o->name; o++) {
        if (!o->arg)
            continue;
        fprintf(out, "        --%s%s%c) ", o->name, o->short_name ? "|-" : "", o->short_name ? o->short_name : ' ');
        if (o->choices && !o->complete)
            fprintf(out, "COMPREPLY=($(compgen -W \"%s\" -- \"$cur\"))", o->choices);
        else
            fputs(bash_kind(o->complete), out);
        fputs("; return ;;\n", out);
    }
    fputs("        esac\n", out);
}

static void put_bash_command(const cli_command *cmd, FILE *out)
{
    fprintf(out, "    %s)\n        valued=\"", cmd->name);
    put_valued_words(cmd, out);
    fputs("\"\n", out);
    put_bash_values(cmd, out);
    fputs("        if [[ $cur == -* ]]; then\n            COMPREPLY=($(compgen -W \"", out);
    put_option_words(cmd, out);
    fprintf(out, "\" -- \"$cur\"))\n        else\n            %s\n        fi ;;\n", bash_kind(cmd->operand));
}

static const char bash_head[] =
    "# bash completion for runbook, written by `runbook completion bash` from its option tables.\n"
    "# Install: runbook completion bash > ~/.local/share/bash-completion/completions/runbook\n"
    "\n"
    "# Words only the program knows: runbook names, run ids, input names (runbook __complete).\n"
    "_runbook_words() {\n"
    "    local cur=$1 IFS=$'\\n'\n"
    "    shift\n"
    "    COMPREPLY+=($(compgen -W \"$(command runbook __complete \"$@\" 2>/dev/null)\" -- \"$cur\"))\n"
    "}\n"
    "_runbook_files() {\n"
    "    local IFS=$'\\n'\n"
    "    COMPREPLY+=($(compgen -f -X '!*.y*ml' -- \"$1\") $(compgen -d -S / -- \"$1\"))\n"
    "}\n"
    "# --state-dir DIR as given on the line, for the run ids.\n"
    "_runbook_state_dir() {\n"
    "    local i\n"
    "    for ((i = 2; i < COMP_CWORD; i++)); do\n"
    "        [[ ${COMP_WORDS[i]} == --state-dir ]] && printf -- '--state-dir %s' \"${COMP_WORDS[i + 1]}\"\n"
    "    done\n"
    "}\n"
    "# The command's first operand (the runbook, for --set NAME=...): not an option, not an option's value.\n"
    "_runbook_operand() {\n"
    "    local i w\n"
    "    for ((i = 2; i < ${#COMP_WORDS[@]}; i++)); do\n"
    "        w=${COMP_WORDS[i]}\n"
    "        ((i == COMP_CWORD)) && continue\n"
    "        [[ $w == -* || $w == = || ${COMP_WORDS[i - 1]} == = ]] && continue\n"
    "        [[ -n ${COMP_WORDS[i - 1]} && \" $valued \" == *\" ${COMP_WORDS[i - 1]} \"* ]] && continue\n"
    "        printf '%s' \"$w\"\n"
    "        return\n"
    "    done\n"
    "}\n"
    "_runbook() {\n"
    "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]} cmd=${COMP_WORDS[1]} valued\n"
    "    COMPREPLY=()\n"
    "    # --color=always: bash splits at '=', so the option is the word before it\n"
    "    [[ $prev == = && COMP_CWORD -gt 2 ]] && prev=${COMP_WORDS[COMP_CWORD - 2]}\n"
    "    [[ $cur == = ]] && { prev=${COMP_WORDS[COMP_CWORD - 1]}; cur=; }\n"
    "    if ((COMP_CWORD == 1)); then\n"
    "        COMPREPLY=($(compgen -W \"$_runbook_commands --help --version\" -- \"$cur\"))\n"
    "        return\n"
    "    fi\n"
    "    case $cmd in\n";

static void put_bash(FILE *out)
{
    fputs(bash_head, out);
    for (size_t i = 0; cli_commands[i]; i++)
        put_bash_command(cli_commands[i], out);
    fputs("    esac\n}\n_runbook_commands=\"", out);
    for (size_t i = 0; cli_commands[i]; i++)
        fprintf(out, "%s%s", i ? " " : "", cli_commands[i]->name);
    fputs("\"\ncomplete -F _runbook runbook\n", out);
}

/* ---- zsh ---- */

/* Help text inside an _arguments spec: up to its first '(' or ';', without the characters
 * the spec gives a meaning to. */
static void put_zsh_text(const char *s, FILE *out)
{
    size_t n = strcspn(s, "(;");
    while (n && s[n - 1] == ' ')
        n--;
    for (size_t i = 0; i < n; i++)
        if (!strchr("[]:'\\`$", s[i]))
            fputc(s[i], out);
}

static const char *zsh_kind(const char *kind)
{
    static const struct {
        const char *kind, *fn;
    } kinds[] = {{"runbooks", "_runbook_runbooks"}, {"runs", "_runbook_runs"}, {"inputs", "_runbook_inputs"},
                 {"dirs", "_files -/"},             {"paths", "_files"},       {"files", "_files"},
                 {"shells", "(bash zsh)"},          {"commands", "_runbook_commands"}};
    for (size_t i = 0; kind && i < sizeof kinds / sizeof *kinds; i++)
        if (!strcmp(kinds[i].kind, kind))
            return kinds[i].fn;
    return " ";
}

/* '(-q --quiet --verbose)'{-q,--quiet}'[show less]': the exclusion list holds the option itself
 * unless it is repeatable, and what it conflicts with. */
static void put_zsh_option(const cli_command *cmd, const cli_opt *o, FILE *out)
{
    char excl[512] = "";
    size_t n = 0;
    if (!(o->flags & CLI_REPEAT))
        n += o->short_name ? (size_t)snprintf(excl, sizeof excl, " -%c --%s", o->short_name, o->name)
                           : (size_t)snprintf(excl, sizeof excl, " --%s", o->name);
    for (const cli_opt *p = cmd->opts; p->name && n < sizeof excl - 80; p++)
        if (p != o && (cli_word_in(o->conflicts, p->name) || cli_word_in(p->conflicts, o->name)))
            n += p->short_name ? (size_t)snprintf(excl + n, sizeof excl - n, " -%c --%s", p->short_name, p->name)
                               : (size_t)snprintf(excl + n, sizeof excl - n, " --%s", p->name);
    fprintf(out, "        '%s", o->flags & CLI_REPEAT ? "*" : "");
    if (n)
        fprintf(out, "(%s)", excl + 1);
    if (o->short_name)
        fprintf(out, "'{-%c,--%s%s}'[", o->short_name, o->name, o->arg ? "=" : "");
    else
        fprintf(out, "--%s%s[", o->name, o->arg ? "=" : "");
    put_zsh_text(o->help, out);
    fputs("]", out);
    if (o->arg && o->choices && !o->complete)
        fprintf(out, ":%s:(%s)", o->arg, o->choices);
    else if (o->arg)
        fprintf(out, ":%s:%s", o->arg, zsh_kind(o->complete));
    fputs("' \\\n", out);
}

static void put_zsh_command(const cli_command *cmd, FILE *out)
{
    fprintf(out, "    %s)\n        _arguments -s -S \\\n", cmd->name);
    for (const cli_opt *o = cmd->opts; o->name; o++)
        if (!(o->flags & CLI_HIDDEN))
            put_zsh_option(cmd, o, out);
    fputs("        '(- *)'{-h,--help}'[show this help]' \\\n", out);
    if (cmd->operand)
        fprintf(out, "        '*:%s:%s' ;;\n", cmd->operand, zsh_kind(cmd->operand));
    else
        fputs("        ;;\n", out);
}

static const char zsh_head[] =
    "#compdef runbook\n"
    "# zsh completion for runbook, written by `runbook completion zsh` from its option tables.\n"
    "# Install: runbook completion zsh > \"${fpath[1]}/_runbook\" (any folder on $fpath)\n"
    "\n"
    "_runbook_runbooks() {\n"
    "    local -a names\n"
    "    names=(${(f)\"$(command runbook __complete runbooks 2>/dev/null)\"})\n"
    "    _alternative 'runbooks:runbook:compadd -a names' 'files:file:_files -g \"*.(yaml|yml)\"'\n"
    "}\n"
    "_runbook_runs() {\n"
    "    local -a ids\n"
    "    local dir=${opt_args[--state-dir]}\n"
    "    ids=(${(f)\"$(command runbook __complete runs ${dir:+--state-dir $dir} 2>/dev/null)\"})\n"
    "    compadd -V runs -a ids\n"
    "}\n"
    "_runbook_inputs() {\n"
    "    local -a names\n"
    "    names=(${(f)\"$(command runbook __complete inputs ${line[1]} 2>/dev/null)\"})\n"
    "    compadd -S '' -a names\n"
    "}\n"
    "_runbook_commands() {\n"
    "    local -a commands\n"
    "    commands=(\n";

static void put_zsh(FILE *out)
{
    fputs(zsh_head, out);
    for (size_t i = 0; cli_commands[i]; i++) {
        fprintf(out, "        '%s:", cli_commands[i]->name);
        put_zsh_text(cli_commands[i]->summary, out);
        fputs("'\n", out);
    }
    fputs("    )\n    _describe -t commands command commands\n}\n\n"
          "_runbook() {\n"
          "    local curcontext=$curcontext state line\n"
          "    typeset -A opt_args\n"
          "    if ((CURRENT == 2)); then\n"
          "        _runbook_commands\n"
          "        return\n"
          "    fi\n"
          "    local cmd=$words[2]\n"
          "    shift words\n"
          "    ((CURRENT--))\n"
          "    curcontext=${curcontext%:*:*}:runbook-$cmd:\n"
          "    case $cmd in\n", out);
    for (size_t i = 0; cli_commands[i]; i++)
        put_zsh_command(cli_commands[i], out);
    fputs("    esac\n}\n\n_runbook \"$@\"\n", out);
}

int cmd_completion(int argc, char **argv)
{
    char **pos;
    int npos, rc = cli_parse(&cli_completion, argc, argv, no_opt, NULL, &pos, &npos);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    if (npos != 1 || (strcmp(pos[0], "bash") && strcmp(pos[0], "zsh")))
        return cli_usage_error(&cli_completion, "name a shell: bash or zsh");
    if (!strcmp(pos[0], "bash"))
        put_bash(stdout);
    else
        put_zsh(stdout);
    return EXIT_OK;
}
