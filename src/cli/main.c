/* The runbook command: a thin dispatcher over the subcommands' table. */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "runbook/show.h"

const cli_command *const cli_commands[] = {&cli_run,   &cli_plan,   &cli_validate, &cli_resume,
                                           &cli_runs,  &cli_journal, &cli_report,  &cli_graph,
                                           &cli_list,  &cli_help_cmd, &cli_completion, &cli_man, NULL};

const cli_command *cli_command_find(const char *name)
{
    for (size_t i = 0; cli_commands[i]; i++)
        if (!strcmp(cli_commands[i]->name, name))
            return cli_commands[i];
    return NULL;
}

void cli_usage(FILE *out)
{
    fputs("usage: runbook COMMAND [OPTIONS] ...\n"
          "       runbook --version | --help\n\n"
          "Executable, checkable disaster-recovery runbooks.\n\ncommands:\n", out);
    for (size_t i = 0; cli_commands[i]; i++)
        rb_showf(out, NULL, "  %-11s %s\n", cli_commands[i]->name, cli_commands[i]->summary);
    fputs("\n'runbook help COMMAND' or 'runbook COMMAND --help' shows a command's options;\n"
          "'runbook --version' the version; 'runbook man' the manual page.\n"
          "Exit codes: 0 success, 1 failed or invalid, 2 usage or input error,\n"
          "3 rollback incomplete, 130 interrupted.\n", out);
}

int main(int argc, char **argv)
{
    /* validate loads many documents one after another: keep freed arena blocks in the heap
     * for the next one instead of returning them to the kernel and faulting them in again. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
    if (argc < 2) {
        cli_usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
        cli_usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(name, "--version")) {
        rb_showf(stdout, NULL, "runbook %s (language version 1)\n", RUNBOOK_VERSION);
        return EXIT_OK;
    }
    if (!strcmp(name, CLI_COMPLETE_HELPER))
        return cli_complete_helper(argc - 1, argv + 1);
    const cli_command *cmd = cli_command_find(name);
    if (cmd)
        return cmd->run(argc - 1, argv + 1);
    rb_showf(stderr, NULL, "runbook: unknown command '%s'\n", name);
    cli_usage(stderr);
    return EXIT_USAGE;
}
