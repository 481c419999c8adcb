/* Guards on a training run's output.
 *
 * One writer per output: a run that writes MODEL.ckpt and its logs takes an exclusive lock on
 * MODEL.ckpt.lock beside it (flock, so a crashed or killed holder releases it with its file
 * descriptors), and a second run with the same -o is refused at once instead of interleaving its
 * log rows with the first's. The lock file is removed when the holder releases it. */
#ifndef PKTLM_OUTLOCK_H
#define PKTLM_OUTLOCK_H
#include <stddef.h>

typedef struct { int fd; char *path; } out_lock;

/* 0: locked (release with out_lock_release); -1: err says why (another run holds it, or the
 * lock file cannot be created next to path). */
int out_lock_take(out_lock *l, const char *path, char *err, size_t errlen);
void out_lock_release(out_lock *l);   /* no-op on a zeroed or released l */

/* 1 when path (existing or not) lies inside directory dir once links and ".." are resolved:
 * a training run refuses to write its checkpoint or logs into its own input corpus. */
int out_inside(const char *path, const char *dir);

/* Both, as every training run starts: refuse a path inside input_dir (may be NULL), then lock it. */
int out_guard_take(out_lock *l, const char *path, const char *input_dir, char *err, size_t errlen);
#endif
