/* The runbook command: a thin dispatcher over the subcommands' table. */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "runbook/show.h"

static const cli_command *const commands[] = {&cli_run, &cli_plan, &cli_validate, &cli_resume, &cli_runs,
                                              &cli_journal, &cli_report, &cli_graph, &cli_list, NULL};

static void usage(FILE *out)
{
    fputs("usage: runbook COMMAND [OPTIONS] ...\n\n"
          "Executable, checkable disaster-recovery runbooks.\n\ncommands:\n", out);
    for (size_t i = 0; commands[i]; i++)
        rb_showf(out, NULL, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    fputs("\n'runbook COMMAND --help' shows a command's options.\n"
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
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(name, "--version")) {
        rb_showf(stdout, NULL, "runbook %s (language version 1)\n", RUNBOOK_VERSION);
        return EXIT_OK;
    }
    for (size_t i = 0; commands[i]; i++)
        if (!strcmp(commands[i]->name, name))
            return commands[i]->run(argc - 1, argv + 1);
    rb_showf(stderr, NULL, "runbook: unknown command '%s'\n", name);
    usage(stderr);
    return EXIT_USAGE;
}
