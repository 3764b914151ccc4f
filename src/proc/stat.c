/* Reading /proc for who a process is: its group and start time, and the boot they count from.
 * A resume uses them to recognise the process groups a killed run left behind (survivors.c). */
#include "runbook/proc.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STAT_MAX 1024 /* a stat line is well under this; comm is at most 16 bytes */

/* Reads a small /proc file whole; its length, or -1. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n >= 0)
        buf[n] = 0;
    return n;
}

/* The fields after "PID (comm) ": comm may hold spaces and ')', so the last ')' ends it. */
static int parse_stat(char *line, rb_proc_stat *st)
{
    char *p = strrchr(line, ')');
    if (!p || p[1] != ' ' || !p[2])
        return -1;
    st->state = p[2];
    p += 3;
    char *end;
    for (int field = 4; field <= 22; field++) {
        unsigned long long v = strtoull(p, &end, 10); /* a negative field (nice) is skipped too */
        if (end == p)
            return -1;
        if (field == 5)
            st->pgid = (pid_t)v;
        if (field == 22)
            st->start_time = v;
        p = end;
    }
    return 0;
}

int rb_proc_stat_of(pid_t pid, rb_proc_stat *st)
{
    char path[64], line[STAT_MAX];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    memset(st, 0, sizeof *st);
    if (read_small(path, line, sizeof line) <= 0)
        return -1;
    return parse_stat(line, st);
}

/* The boot id never changes while the process lives: read once (each child's record names it). */
static char boot_id[64];
static ssize_t boot_id_len;
static pthread_once_t boot_id_once = PTHREAD_ONCE_INIT;

static void read_boot_id(void)
{
    ssize_t n = read_small("/proc/sys/kernel/random/boot_id", boot_id, sizeof boot_id);
    while (n > 0 && (boot_id[n - 1] == '\n' || boot_id[n - 1] == ' '))
        boot_id[--n] = 0;
    boot_id_len = n;
}

int rb_proc_boot_id(char *buf, size_t size)
{
    pthread_once(&boot_id_once, read_boot_id);
    const char *id = boot_id;
    ssize_t n = boot_id_len;
    if (n <= 0 || (size_t)n >= size) {
        if (size)
            buf[0] = 0;
        return -1;
    }
    memcpy(buf, id, (size_t)n + 1);
    return 0;
}
