/* Run locks: a second run is refused and told who holds it; a lock dies with its holder. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runbook/lock.h"

static char root[64];

static int setup(void **state)
{
    snprintf(root, sizeof root, "/tmp/rb-lock-XXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int teardown(void **state)
{
    nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static void lock_file(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/state/locks/%s.lock", root, name);
}

static void state_dir(char *buf, size_t size)
{
    snprintf(buf, size, "%s/state", root);
}

/* Forks a child that takes `name` as `run_id`, reports on `ready`, and then either waits for
 * a byte on `go` and exits, or (exec_after) replaces itself by a long sleep. */
static pid_t spawn_holder(const char *name, const char *run_id, int ready[2], int go[2],
                          int exec_after)
{
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char dir[128];
        state_dir(dir, sizeof dir);
        rb_lock *l;
        char ok = rb_lock_acquire(dir, name, run_id, &l, NULL) == 0 ? 'y' : 'n';
        if (write(ready[1], &ok, 1) != 1)
            _exit(2);
        if (exec_after)
            execl("/bin/sleep", "sleep", "30", (char *)NULL);
        char c;
        if (read(go[0], &c, 1) < 0)
            _exit(3);
        _exit(0);
    }
    char ok;
    assert_int_equal(read(ready[0], &ok, 1), 1);
    assert_int_equal(ok, 'y');
    return pid;
}

static void close_pipes(int a[2], int b[2])
{
    close(a[0]), close(a[1]), close(b[0]), close(b[1]);
}

static void second_run_is_refused_and_told_who_holds_it(void **state)
{
    char dir[128];
    state_dir(dir, sizeof dir);
    int ready[2], go[2];
    pid_t child = spawn_holder("dr", "20261121T234512Z-failover-ab12", ready, go, 0);

    rb_lock *l = NULL;
    rb_lock_holder h;
    assert_int_equal(rb_lock_acquire(dir, "dr", "20261121T234513Z-failover-cd34", &l, &h),
                     RB_LOCK_BUSY);
    assert_null(l);
    assert_string_equal(h.run_id, "20261121T234512Z-failover-ab12");
    assert_int_equal(h.pid, child);
    memset(&h, 0, sizeof h);
    assert_int_equal(rb_lock_query(dir, "dr", &h), 1);
    assert_int_equal(h.pid, child);

    assert_int_equal(write(go[1], "x", 1), 1);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_int_equal(rb_lock_query(dir, "dr", NULL), 0);
    assert_int_equal(rb_lock_acquire(dir, "dr", "20261121T234513Z-failover-cd34", &l, &h), 0);
    assert_non_null(l);
    rb_lock_release(l);
    close_pipes(ready, go);
}

static void killed_holder_leaves_no_stale_lock(void **state)
{
    char dir[128];
    state_dir(dir, sizeof dir);
    int ready[2], go[2];
    pid_t child = spawn_holder("db", "run-1", ready, go, 0);
    rb_lock *l;
    assert_int_equal(rb_lock_acquire(dir, "db", "run-2", &l, NULL), RB_LOCK_BUSY);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    assert_int_equal(rb_lock_acquire(dir, "db", "run-2", &l, NULL), 0);
    rb_lock_release(l);
    close_pipes(ready, go);
}

/* The holder execs a long-running command: the lock must not live on in it. */
static void commands_started_by_a_run_do_not_inherit_it(void **state)
{
    char dir[128];
    state_dir(dir, sizeof dir);
    int ready[2], go[2];
    pid_t child = spawn_holder("dns", "run-1", ready, go, 1);
    rb_lock *l = NULL;
    struct timespec wait = {0, 10000000L};
    for (int i = 0; i < 300 && rb_lock_acquire(dir, "dns", "run-2", &l, NULL) == RB_LOCK_BUSY; i++)
        nanosleep(&wait, NULL);
    assert_non_null(l);
    assert_int_equal(kill(child, 0), 0); /* the command still runs */
    rb_lock_release(l);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    close_pipes(ready, go);
}

static void holder_details_are_in_the_file_while_held(void **state)
{
    char dir[128], path[192], text[192] = "";
    state_dir(dir, sizeof dir);
    rb_lock *l;
    assert_int_equal(rb_lock_acquire(dir, "dr", "run-x", &l, NULL), 0);
    lock_file(path, sizeof path, "dr");
    FILE *fp = fopen(path, "r");
    assert_non_null(fgets(text, sizeof text, fp));
    fclose(fp);
    char want[64];
    snprintf(want, sizeof want, "run-x %ld %ld\n", (long)getpid(), (long)geteuid());
    assert_string_equal(text, want);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(text, sizeof text, "%s/locks", dir);
    assert_int_equal(stat(text, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    /* The same process asking again is a second run, refused. */
    rb_lock *again;
    rb_lock_holder h;
    assert_int_equal(rb_lock_acquire(dir, "dr", "run-y", &again, &h), RB_LOCK_BUSY);
    assert_string_equal(h.run_id, "run-x");
    rb_lock_release(l);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 0);
}

static void lock_names_are_checked(void **state)
{
    char dir[128];
    state_dir(dir, sizeof dir);
    const char *good[] = {"dr", "0", "a_b-c", "failover-to-secondary"};
    const char *bad[] = {"", "-x", "_x", "Dr", "a/b", "a b", "../x", "a.b",
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_true(rb_lock_name_valid(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_false(rb_lock_name_valid(bad[i]));
        rb_lock *l;
        errno = 0;
        assert_int_equal(rb_lock_acquire(dir, bad[i], "run-1", &l, NULL), -1);
        assert_int_equal(errno, EINVAL);
        assert_int_equal(rb_lock_query(dir, bad[i], NULL), -1);
    }
    rb_lock *l;
    assert_int_equal(rb_lock_acquire(dir, "dr", "two words", &l, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(rb_lock_query(dir, "never-taken", NULL), 0);
}

/* Two state folders, one name: the system-wide lock keeps the second run out, names the holder
 * (run id, pid, uid), and dies with it. Only a root-owned sticky folder is used. */
static void system_lock_spans_state_folders(void **state)
{
    char sys[128], dir_a[128], dir_b[128];
    snprintf(sys, sizeof sys, "%s/sys", root);
    snprintf(dir_a, sizeof dir_a, "%s/a", root);
    snprintf(dir_b, sizeof dir_b, "%s/b", root);
    assert_int_equal(mkdir(sys, 0755), 0);
    assert_int_equal(chmod(sys, 01777), 0);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        rb_lock *l;
        int ok = rb_lock_acquire(dir_a, "dr", "run-a", &l, NULL) == 0 &&
                 rb_lock_acquire_system(l, sys, "dr", "run-a", NULL, NULL, 0) == 0;
        char c = ok ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    char c = 0;
    assert_int_equal(read(ready[0], &c, 1), 1);
    rb_lock *l = NULL;
    rb_lock_holder h;
    assert_int_equal(rb_lock_acquire(dir_b, "dr", "run-b", &l, NULL), 0);
    if (geteuid() != 0) {
        /* a folder of ours is not trusted: only the per-user lock holds */
        assert_int_equal(c, 'n');
        assert_int_equal(rb_lock_acquire_system(l, sys, "dr", "run-b", &h, NULL, 0), RB_LOCK_NO_SYSTEM);
    } else {
        assert_int_equal(c, 'y');
        assert_int_equal(rb_lock_acquire_system(l, sys, "dr", "run-b", &h, NULL, 0), RB_LOCK_BUSY);
        assert_string_equal(h.run_id, "run-a");
        assert_int_equal(h.pid, child);
        assert_int_equal(h.uid, (long)geteuid());
        /* the file is writable by all: text naming another pid is not believed, the kernel is */
        char file[160];
        snprintf(file, sizeof file, "%s/dr.lock", sys);
        FILE *f = fopen(file, "w");
        assert_non_null(f);
        fprintf(f, "forged-run 1 0\n");
        fclose(f);
        assert_int_equal(rb_lock_acquire_system(l, sys, "dr", "run-b", &h, NULL, 0), RB_LOCK_BUSY);
        assert_string_equal(h.run_id, "");
        assert_int_equal(h.pid, child);
        assert_int_equal(h.uid, (long)geteuid());
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    if (geteuid() == 0)
        assert_int_equal(rb_lock_acquire_system(l, sys, "dr", "run-b", &h, NULL, 0), 0);
    rb_lock_release(l);
    close(ready[0]);
    close(ready[1]);
}

/* A system folder that is not root's 1777 folder (or is a symlink to one) is not used, and the
 * reason says what is wrong with it. */
static void untrusted_system_folder_is_not_used(void **state)
{
    char sys[128], link[128], dir[128], why[200], missing[160];
    snprintf(sys, sizeof sys, "%s/sys", root);
    snprintf(link, sizeof link, "%s/link", root);
    snprintf(missing, sizeof missing, "%s/sys/none", root);
    state_dir(dir, sizeof dir);
    assert_int_equal(mkdir(sys, 0777), 0);
    assert_int_equal(chmod(sys, 0777), 0); /* not sticky: anyone could remove a lock file */
    rb_lock *l;
    assert_int_equal(rb_lock_acquire(dir, "dr", "run-x", &l, NULL), 0);
    if (geteuid() == 0) {
        assert_int_equal(rb_lock_acquire_system(l, sys, "dr", "run-x", NULL, why, sizeof why), RB_LOCK_NO_SYSTEM);
        assert_string_equal(why, "its mode is 0777, not 1777");
        assert_int_equal(chmod(sys, 01755), 0); /* sticky, but other operators cannot make files */
        assert_int_equal(rb_lock_acquire_system(l, sys, "dr", "run-x", NULL, why, sizeof why), RB_LOCK_NO_SYSTEM);
        assert_string_equal(why, "its mode is 1755, not 1777");
        assert_int_equal(chown(sys, 1234, 0), 0);
        assert_int_equal(chmod(sys, 01777), 0);
        assert_int_equal(rb_lock_acquire_system(l, sys, "dr", "run-x", NULL, why, sizeof why), RB_LOCK_NO_SYSTEM);
        assert_string_equal(why, "it is owned by uid 1234, not root");
        assert_int_equal(chown(sys, 0, 0), 0);
    } else {
        assert_int_equal(rb_lock_acquire_system(l, sys, "dr", "run-x", NULL, why, sizeof why), RB_LOCK_NO_SYSTEM);
        assert_non_null(strstr(why, "not root"));
    }
    assert_int_equal(chmod(sys, 01777), 0);
    assert_int_equal(symlink(sys, link), 0);
    assert_int_equal(rb_lock_acquire_system(l, link, "dr", "run-x", NULL, why, sizeof why), RB_LOCK_NO_SYSTEM);
    assert_string_equal(why, "it is not a folder");
    if (geteuid() != 0) { /* nobody but root creates it */
        assert_int_equal(rb_lock_acquire_system(l, missing, "dr", "run-x", NULL, why, sizeof why), RB_LOCK_NO_SYSTEM);
        assert_string_equal(why, "it is missing");
    }
    rb_lock_release(l);
}

/* Root creates a missing system folder as root's, mode 1777, and uses it. */
static void root_creates_the_system_folder(void **state)
{
    if (geteuid() != 0)
        skip();
    char sys[128], dir[128];
    struct stat st;
    snprintf(sys, sizeof sys, "%s/made", root);
    state_dir(dir, sizeof dir);
    rb_lock *l;
    mode_t old = umask(022);
    assert_int_equal(rb_lock_acquire(dir, "dr", "run-x", &l, NULL), 0);
    assert_int_equal(rb_lock_acquire_system(l, sys, "dr", "run-x", NULL, NULL, 0), 0);
    umask(old);
    assert_int_equal(lstat(sys, &st), 0);
    assert_int_equal(st.st_uid, 0);
    assert_int_equal(st.st_mode & 07777, 01777);
    rb_lock_release(l);
}

/* A state folder others may write is refused: a lock planted there could name anyone. */
static void state_folder_others_may_write_is_refused(void **state)
{
    char dir[128];
    state_dir(dir, sizeof dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(chmod(dir, 0777), 0);
    rb_lock *l;
    errno = 0;
    assert_int_equal(rb_lock_acquire(dir, "dr", "run-x", &l, NULL), -1);
    assert_int_equal(errno, EPERM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(second_run_is_refused_and_told_who_holds_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(killed_holder_leaves_no_stale_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(commands_started_by_a_run_do_not_inherit_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(holder_details_are_in_the_file_while_held, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(lock_names_are_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(system_lock_spans_state_folders, setup, teardown),
        cmocka_unit_test_setup_teardown(untrusted_system_folder_is_not_used, setup, teardown),
        cmocka_unit_test_setup_teardown(root_creates_the_system_folder, setup, teardown),
        cmocka_unit_test_setup_teardown(state_folder_others_may_write_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
