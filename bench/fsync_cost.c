/* The cost of one journal-sized write + fdatasync on the disk under DIR: the unit the executor's
 * per-step overhead is measured against. Usage: fsync_cost DIR COUNT; prints median ms. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return fprintf(stderr, "usage: fsync_cost DIR COUNT\n"), 2;
    int n = atoi(argv[2]);
    char path[4096], rec[200];
    snprintf(path, sizeof path, "%s/fsync-cost.jsonl", argv[1]);
    memset(rec, 'x', sizeof rec - 1);
    rec[sizeof rec - 1] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0600);
    double *t = malloc((size_t)n * sizeof *t);
    if (fd < 0 || !t || n < 1)
        return perror("fsync_cost"), 1;
    for (int i = 0; i < n; i++) {
        double t0 = now();
        if (write(fd, rec, sizeof rec) != (ssize_t)sizeof rec || fdatasync(fd) != 0)
            return perror("fsync_cost"), 1;
        t[i] = now() - t0;
    }
    qsort(t, (size_t)n, sizeof *t, by_value);
    printf("%.3f\n", t[n / 2]);
    close(fd);
    unlink(path);
    free(t);
    return 0;
}
