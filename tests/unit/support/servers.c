/* Test servers: see servers.h. */
#include "servers.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

const char *ts_source_dir(void)
{
    const char *s = getenv("RUNBOOK_SOURCE_DIR");
    return s && *s ? s : ".";
}

pid_t ts_spawn(char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a crashed test leaves no server behind */
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

int ts_read_port(const char *file)
{
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(file, "r");
        int port = 0;
        if (f) {
            int n = fscanf(f, "%d", &port);
            fclose(f);
            if (n == 1 && port > 0)
                return port;
        }
        usleep(50000);
    }
    return -1;
}
