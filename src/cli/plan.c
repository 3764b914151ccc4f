/* placeholder replaced below */
#include "cli.h"
static const cli_opt plan_opts[] = {{NULL, NULL, NULL}};
const cli_command cli_plan = {"plan", "plan", "x", plan_opts, cmd_plan};
int cmd_plan(int argc, char **argv) { return 0; }
