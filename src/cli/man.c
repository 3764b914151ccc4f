/* runbook man: the manual page in roff, written from the same command and option tables as
 * --help and the completion scripts (the build runs it to install runbook.1). */
#include <string.h>

#include "cli.h"

static const cli_opt no_opts[] = {{NULL, NULL, NULL}};

const cli_command cli_man = {"man", "man", "Print the manual page (roff; view with: runbook man | man -l -).",
                             no_opts, cmd_man, NULL};

/* Text into roff: a backslash is \e, a dash \- (so it is not hyphenated), and a line never
 * starts with a control character ('.' or '\''). */
static void put_roff(const char *s, FILE *out)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", out);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-')
            fputs("\\-", out);
        else
            fputc(*s, out);
    }
}

static void put_option(const cli_command *cmd, const cli_opt *o, FILE *out)
{
    fputs(".TP\n", out);
    if (o->short_name)
        fprintf(out, "\\fB\\-%c\\fR, ", o->short_name);
    fprintf(out, "\\fB\\-\\-%s\\fR", o->name);
    if (o->arg)
        fputs(" \\fI", out), put_roff(o->arg, out), fputs("\\fR", out);
    fputs("\n", out);
    put_roff(o->help, out);
    if (o->choices)
        fputs(" (one of: ", out), put_roff(o->choices, out), fputs(")", out);
    if (o->flags & CLI_REPEAT)
        fputs(" (repeatable)", out);
    for (const cli_opt *p = cmd->opts; p->name; p++)
        if (p != o && (cli_word_in(o->conflicts, p->name) || cli_word_in(p->conflicts, o->name)))
            fputs(" (not with \\-\\-", out), put_roff(p->name, out), fputs(")", out);
    fputs("\n", out);
}

static void put_command(const cli_command *cmd, FILE *out)
{
    fputs(".SS \"", out);
    put_roff(cmd->name, out);
    fputs("\"\n\\fBrunbook ", out);
    put_roff(cmd->name, out);
    fputs("\\fR", out);
    put_roff(cmd->usage + strlen(cmd->name), out);
    fputs("\n.PP\n", out);
    put_roff(cmd->summary, out);
    fputs("\n", out);
    for (const cli_opt *o = cmd->opts; o->name; o++)
        if (!(o->flags & CLI_HIDDEN))
            put_option(cmd, o, out);
    fputs(".TP\n\\fB\\-h\\fR, \\fB\\-\\-help\\fR\nshow the command's options\n", out);
}

static const char man_head[] =
    ".SH NAME\n"
    "runbook \\- executable, checkable disaster\\-recovery runbooks\n"
    ".SH SYNOPSIS\n"
    ".B runbook\n"
    ".I COMMAND\n"
    "[\\fIOPTIONS\\fR] ...\n"
    ".br\n"
    ".B runbook\n"
    "\\-\\-version | \\-\\-help\n"
    ".SH DESCRIPTION\n"
    "A runbook is a YAML file of steps: commands, HTTP and SQL requests, SSH commands, file writes,\n"
    "manual steps and calls of other runbooks, with their checks, retries, timeouts, confirmations and\n"
    "rollbacks.\n"
    ".B runbook\n"
    "checks runbooks, previews them, runs them step by step with a journal of every step, and resumes\n"
    "an interrupted run from its journal.\n"
    "A NAME is looked up on \\fBRUNBOOK_PATH\\fR; a FILE is a path.\n"
    ".SH COMMANDS\n";

static const char man_tail[] =
    ".SH EXIT STATUS\n"
    ".TP\n.B 0\nsuccess\n"
    ".TP\n.B 1\nthe run failed, a file is invalid, or validate checked no runbook at all\n"
    ".TP\n.B 2\nusage or input error: bad flags, \\-\\-set values, missing files or secrets, a refused lock\n"
    ".TP\n.B 3\na rollback did not complete\n"
    ".TP\n.B 130\ninterrupted\n"
    ".SH ENVIRONMENT\n"
    ".TP\n.B RUNBOOK_PATH\ncolon\\-separated folders where a runbook NAME is looked up (default ./runbooks)\n"
    ".TP\n.B XDG_STATE_HOME\njournals and locks go to $XDG_STATE_HOME/runbook (default ~/.local/state/runbook)\n"
    ".TP\n.B NO_COLOR\nwhen set and not empty, no colour (as does TERM=dumb); \\-\\-color=always overrides it\n"
    ".SH FILES\n"
    ".TP\n.B .runbookignore\npaths validate skips, one pattern a line, as in .gitignore\n"
    ".SH SEE ALSO\n"
    "The language reference and the run behaviour: docs/language.md and docs/running.md of the\n"
    "source tree; the JSON Schema for editors is installed under share/runbook.\n";

int cmd_man(int argc, char **argv)
{
    char **pos;
    int npos, rc = cli_parse(&cli_man, argc, argv, NULL, NULL, &pos, &npos);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    if (npos)
        return cli_usage_error(&cli_man, "takes no arguments");
    printf(".TH RUNBOOK 1 \"\" \"runbook %s\" \"User Commands\"\n", RUNBOOK_VERSION);
    fputs(man_head, stdout);
    for (size_t i = 0; cli_commands[i]; i++)
        put_command(cli_commands[i], stdout);
    fputs(man_tail, stdout);
    return EXIT_OK;
}
