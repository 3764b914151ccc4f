/* Test servers for the unit tests of the network actions: started from tests/servers/ as child
 * processes that die with the test, each writing the port it listens on to a file. */
#ifndef RUNBOOK_TEST_SERVERS_H
#define RUNBOOK_TEST_SERVERS_H

#include <sys/types.h>

/* The source tree ($RUNBOOK_SOURCE_DIR, set by ctest; else "."). */
const char *ts_source_dir(void);
/* Starts argv (stdout to /dev/null); the child gets SIGKILL when the test process dies. */
pid_t ts_spawn(char *const argv[]);
/* The port a server wrote to `file`, waiting up to 10 s; -1 when none came. */
int ts_read_port(const char *file);

#endif
