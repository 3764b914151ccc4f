/* Private to the command line: exit codes, the option table, and shared loading helpers.
 * Only this layer prints to the terminal or decides an exit code. */
#ifndef RUNBOOK_CLI_H
#define RUNBOOK_CLI_H

#include <stdio.h>

#include "runbook/check.h"
#include "runbook/diag.h"
#include "runbook/graph.h"
#include "runbook/model.h"

enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,      /* the run failed, or a file is invalid */
    EXIT_USAGE = 2,       /* usage or input error: bad flags, --set values, missing files */
    EXIT_ROLLBACK = 3,    /* a rollback did not complete */
    EXIT_INTERRUPTED = 130
};

/* Option tables list the first fields of an entry and name the rest only where they matter
 * ({"jobs", "N", "..."} has no short form, no flags): an omitted field is zero, as C says. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* How an option may be given (cli_opt.flags). */
enum {
    CLI_REPEAT = 1 << 0, /* may be given several times, each value kept (--set); without it an
                            option that takes a value is refused when given twice */
    CLI_COLOR = 1 << 1,  /* the shared --color=auto|always|never: cli_parse handles it itself
                            (never passed to on_opt) and cli_use_color obeys it */
    CLI_HIDDEN = 1 << 2, /* parsed, left out of --help, the man page and completion */
};

/* One option of a subcommand. The table is the single description of a command's options:
 * parsing, --help, the man page and shell completion all read it. The first three fields are
 * positional; the rest are optional and best given by name:
 *   {"quiet", NULL, "show less", .short_name = 'q', .conflicts = "verbose"}
 *   {"set", "NAME=VALUE", "give an input", .flags = CLI_REPEAT, .complete = "inputs"}
 *   {"format", "FORMAT", "output format", .choices = "text json"} */
typedef struct cli_opt {
    const char *name;      /* long name without dashes */
    const char *arg;       /* argument name shown in help, or NULL for a flag */
    const char *help;
    char short_name;       /* -x, or 0 */
    unsigned flags;        /* CLI_REPEAT, CLI_COLOR, CLI_HIDDEN */
    const char *conflicts; /* space-separated long names refused together with this one */
    const char *choices;   /* space-separated values the argument takes (help, completion), or NULL */
    const char *complete;  /* what completes the argument: "runbooks", "runs", "inputs", "dirs",
                              "files", or NULL (choices, else nothing) */
} cli_opt;

/* The shared --color entry of the commands that colour. */
#define CLI_OPT_COLOR                                                                           \
    {"color", "WHEN", "colour: auto (default: on a terminal, unless NO_COLOR or TERM=dumb), always or never", \
     .flags = CLI_COLOR, .choices = "auto always never"}

typedef struct cli_command {
    const char *name;
    const char *usage;   /* the synopsis after "runbook " */
    const char *summary; /* one line */
    const cli_opt *opts; /* terminated by a NULL name */
    int (*run)(int argc, char **argv);
    const char *operand; /* what completes the positional arguments: "runbooks", "runs",
                            "paths", "dirs", "shells", "commands" or NULL */
} cli_command;

/* Parses argv (argv[0] is the subcommand). For each option calls on_opt(index in opts, arg,
 * ctx), which returns 0 or an exit code; positional arguments are gathered in *pos (argv
 * storage, NULL-terminated). --help prints the command's help and returns -1 (exit 0). */
int cli_parse(const cli_command *cmd, int argc, char **argv,
              int (*on_opt)(int opt, const char *arg, void *ctx), void *ctx, char ***pos, int *npos);
void cli_help(const cli_command *cmd, FILE *out);
/* "-y, --yes" / "    --state-dir DIR": an option's left column in help and the man page. */
void cli_option_left(const cli_opt *o, char *buf, size_t len);
/* 1 when `name` is one of the space-separated words of `list` (NULL: none). */
int cli_word_in(const char *list, const char *name);
int cli_usage_error(const cli_command *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A runbook loaded, built, graphed and checked. */
typedef struct cli_loaded {
    rb_runbook *rb; /* NULL when the file did not load */
    rb_graph graph;
    int graph_ok;
} cli_loaded;

/* Loads and checks one file; diagnostics go to `d` (warnings promoted under `strict`).
 * Returns the number of errors found in this file. Free with cli_loaded_free. */
size_t cli_load_checked(const char *path, rb_catalog *cat, int strict, rb_diags *d, cli_loaded *out);
/* The same, with the lint rules `ignore` (NULL-terminated) waived as --ignore. */
size_t cli_load_checked_ignoring(const char *path, rb_catalog *cat, int strict, const char *const *ignore,
                                 rb_diags *d, cli_loaded *out);
void cli_loaded_free(cli_loaded *l);

/* Resolves NAME|FILE: an existing file path, else NAME on RUNBOOK_PATH. malloc'd or NULL. */
char *cli_resolve(const char *name_or_file, rb_catalog *cat);
/* The catalog of RUNBOOK_PATH (default ./runbooks). */
rb_catalog *cli_catalog(void);

/* Loads NAME|FILE for plan/graph/run: prints diagnostics and returns an exit code != 0 when
 * it is missing or invalid. */
int cli_open_runbook(const char *arg, rb_catalog *cat, cli_loaded *out);

/* --set k=v pairs, checked against the runbook's declared inputs. */
typedef struct cli_sets {
    char **names, **values;
    size_t count;
} cli_sets;
int cli_sets_add(cli_sets *s, const char *kv);           /* 0, or -1 when not k=v */
void cli_sets_free(cli_sets *s);
/* Checks every --set against the declarations: unknown names and bad values are reported to
 * stderr. Returns 0 when all are valid. */
int cli_sets_check(const cli_sets *s, const rb_runbook *rb);
const char *cli_sets_get(const cli_sets *s, const char *name);

/* Colour on `f`: --color=always/never when given; otherwise on a terminal unless NO_COLOR is
 * set or TERM is dumb (or unset). */
int cli_use_color(FILE *f);
/* The --color choice (cli_parse sets it): -1 never, 0 auto, 1 always. */
extern int cli_color_mode;

/* Every command, NULL-terminated (main.c), for help, the man page and completion. */
extern const cli_command *const cli_commands[];
const cli_command *cli_command_find(const char *name);

/* The commands' list for `runbook --help` (main.c). */
void cli_usage(FILE *out);

/* The hidden helper the completion scripts call (complete.c): `runbook __complete runbooks`
 * prints the runbook names on RUNBOOK_PATH, `__complete runs [--state-dir DIR]` the run ids,
 * `__complete inputs NAME|FILE` one "input=" per declared input. Always exits 0; prints nothing
 * it cannot find. */
#define CLI_COMPLETE_HELPER "__complete"
int cli_complete_helper(int argc, char **argv);

int cmd_help(int argc, char **argv);
int cmd_completion(int argc, char **argv);
int cmd_man(int argc, char **argv);

/* The run id an operator's RUN names under state_dir: an id, `last`, a runbook's name (its
 * newest run) or a unique start of an id. EXIT_OK with it in buf, or EXIT_USAGE after saying
 * why on stderr (as "runbook CMD: ...", an ambiguous start with its candidates). runid.c. */
int cli_run_id(const char *state_dir, const char *arg, const char *cmd, char *buf, size_t len);

int cmd_validate(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_graph(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_runs(int argc, char **argv);
int cmd_journal(int argc, char **argv);
int cmd_report(int argc, char **argv);

extern const cli_command cli_validate, cli_plan, cli_graph, cli_list, cli_run, cli_resume, cli_runs, cli_journal,
    cli_report, cli_help_cmd, cli_completion, cli_man;

#endif
