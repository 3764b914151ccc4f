/* Run locks: runs sharing a lock name never run at once, and a crash leaves no stale lock. */
#ifndef RUNBOOK_LOCK_H
#define RUNBOOK_LOCK_H

#include <stddef.h>

/* Longest run id plus its NUL (run ids are made by rb_run_id_new in journal.h). */
#define RB_RUN_ID_MAX 96
#define RB_LOCK_NAME_MAX 64

/* Returned by rb_lock_acquire when another open file holds the lock. */
#define RB_LOCK_BUSY 1
/* Returned by rb_lock_acquire_system when the system folder cannot be used. */
#define RB_LOCK_NO_SYSTEM 2

/* Where every user's runs also take their lock, so runs with different state folders (two
 * operators, sudo, another HOME or XDG_STATE_HOME) are kept apart. */
#define RB_LOCK_SYSTEM_DIR "/run/lock/runbook"

typedef struct rb_lock rb_lock;

/* Who holds a lock, as written in the lock file by the holder. run_id is "" and pid 0 when
 * the file did not say (the holder had not written it yet, or it was not a runbook); uid is -1
 * when unknown. From the system folder they are what the kernel says (see rb_lock_acquire_system). */
typedef struct rb_lock_holder {
    char run_id[RB_RUN_ID_MAX];
    long pid;
    long uid;
} rb_lock_holder;

/* 1 if `name` is a valid lock name: [a-z0-9][a-z0-9_-]*, at most RB_LOCK_NAME_MAX bytes. */
int rb_lock_name_valid(const char *name);

/* Takes the lock <state_dir>/locks/<name>.lock without waiting (directories are created 0700,
 * the file 0600; the file is never deleted, since deleting it would let two runs lock two
 * different files of the same name). The lock is an open-file-description lock on a
 * close-on-exec descriptor: commands the run starts do not inherit it, and it is released when
 * the run ends, however it ends. A child forked without exec shares it.
 * Once locked, the file holds "<run_id> <pid> <uid>\n", synced to disk. The state folder and
 * its locks/ folder must be the effective user's own (see privdir.h): -1 with EPERM otherwise.
 * Returns 0 and a handle in *out (free with rb_lock_release); RB_LOCK_BUSY when another run
 * holds it, with what it wrote in *holder (may be NULL); -1 with errno on error (EINVAL for a bad
 * name or run id). Two acquisitions of one name in one process conflict too: a runbook called
 * from another shares its caller's lock and must not take it again. */
int rb_lock_acquire(const char *state_dir, const char *name, const char *run_id, rb_lock **out,
                    rb_lock_holder *holder);

/* Adds to a held lock the system-wide one: <sys_dir>/<name>.lock (RB_LOCK_SYSTEM_DIR), a
 * flock on a close-on-exec descriptor, released with the lock. sys_dir is used only when it is
 * a folder (not a symlink) owned by root with mode 1777 (sticky, writable by all); root creates
 * it so when it is missing, nobody else does. The file is created 0666 and opened with
 * O_NOFOLLOW | O_NONBLOCK, whoever made it; one another user made unwritable still locks
 * (read-only), without the holder's details. Returns 0 (held), RB_LOCK_BUSY (held by another
 * open file: *holder, may be NULL, says who as the kernel does: the pid holding the flock in
 * /proc/locks, the uid owning that process, and the run id written in the file only when the
 * file names that pid and uid; pid 0 and uid -1 when the kernel did not say), or
 * RB_LOCK_NO_SYSTEM when the folder or file cannot be used: then only the per-user lock holds,
 * and `why` (may be NULL) says why in a few words ("it is missing", "it is owned by uid 1000,
 * not root", "its mode is 0755, not 1777", ...). -1 with EINVAL for a bad argument. */
int rb_lock_acquire_system(rb_lock *lock, const char *sys_dir, const char *name, const char *run_id,
                           rb_lock_holder *holder, char *why, size_t whylen);

/* Clears the holder's details from the files and releases the lock(s). NULL is a no-op. */
void rb_lock_release(rb_lock *lock);

/* Tells, without taking it, whether the lock is held: 1 (and who holds it in *holder, may be
 * NULL), 0 if free or never created, -1 with errno on error (EINVAL for a bad name). */
int rb_lock_query(const char *state_dir, const char *name, rb_lock_holder *holder);

#endif
