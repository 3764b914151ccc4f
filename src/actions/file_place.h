/* Where a local file step writes: the folder held open and a name in it, found without
 * trusting a symlink or a folder that another user controls. Internal to src/actions. */
#ifndef RB_ACTIONS_FILE_PLACE_H
#define RB_ACTIONS_FILE_PLACE_H

#include <limits.h>
#include <stddef.h>

/* Symlinks followed in one resolution at most (the kernel's own limit). */
#define RB_PLACE_MAX_LINKS 40

typedef struct rb_file_place {
    int dirfd;               /* the folder, O_RDONLY|O_DIRECTORY; every operation is relative to it */
    char name[NAME_MAX + 1]; /* the entry in it: never "", "." or ".." */
    char shown[PATH_MAX];    /* the folder's path as walked, then "/" name: for messages and outputs */
    int via_link;            /* the path's last component was a symlink that was followed */
} rb_file_place;

/* Finds `path`'s place. Folders on the way are walked one at a time from "/" (or the working
 * folder) with O_NOFOLLOW; a symlink met on the way, and one in the last component when
 * `follow_last` is set, is followed only when it is trusted: owned by the effective user or
 * root, in a folder owned by them that no one else may change (not writable by group or others,
 * or sticky). The folder found must be owned by the effective user or root. A followed last
 * symlink must point to an existing entry. Returns 0 and the place (close it with
 * rb_file_place_close), or -1 with the reason in err. */
int rb_file_place_open(const char *path, int follow_last, rb_file_place *p, char *err, size_t errlen);

/* Closes the folder. A place never opened (dirfd -1) is a no-op. */
void rb_file_place_close(rb_file_place *p);

#endif
