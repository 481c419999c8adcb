/* Exclusive lock on an output's PATH.lock: see outlock.h. */
#include "util/outlock.h"
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int out_lock_take(out_lock *l, const char *path, char *err, size_t errlen) {
    l->fd = -1;
    if (errlen) err[0] = 0;
    size_t n = strlen(path) + 6;
    l->path = malloc(n);
    if (!l->path) { snprintf(err, errlen, "out of memory"); return -1; }
    snprintf(l->path, n, "%s.lock", path);
    /* The holder unlinks the file when it is done: a run that opened the old file just before
     * and then got the lock holds a name nobody else will see, so it checks that the name still
     * leads to the file it locked, and tries again otherwise. */
    for (int tries = 0; tries < 100; tries++) {
        int fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            snprintf(err, errlen, "cannot create the lock file %s: %s", l->path, strerror(errno));
            break;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            close(fd);
            if (e == EWOULDBLOCK)
                snprintf(err, errlen, "%s is being written by another pktlm run (it holds %s); give another -o or wait for it",
                         path, l->path);
            else snprintf(err, errlen, "cannot lock %s: %s", l->path, strerror(e));
            break;
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(l->path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            l->fd = fd;
            return 0;
        }
        close(fd);
    }
    if (l->fd < 0 && !err[0]) snprintf(err, errlen, "cannot lock %s", l->path);
    free(l->path);
    l->path = NULL;
    return -1;
}

void out_lock_release(out_lock *l) {
    if (!l->path) return;
    unlink(l->path);   /* before the lock goes: see out_lock_take */
    close(l->fd);
    free(l->path);
    l->path = NULL;
    l->fd = -1;
}

int out_inside(const char *path, const char *dir) {
    char rd[PATH_MAX], rp[PATH_MAX], parent[PATH_MAX];
    if (!realpath(dir, rd)) return 0;
    /* the output may not exist yet: resolve its folder, then add its name */
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    const char *name = slash ? slash + 1 : path;
    if (slash == parent) parent[1] = 0;
    else if (slash) *slash = 0;
    else snprintf(parent, sizeof parent, ".");
    if (!realpath(parent, rp)) return 0;
    size_t n = strlen(rp);
    if (n + 1 + strlen(name) >= sizeof rp) return 0;
    if (n > 1 || rp[0] != '/') rp[n++] = '/';
    snprintf(rp + n, sizeof rp - n, "%s", name);
    /* an existing output (or a link) resolved in full: `-o CORPUS/../CORPUS/x` and links into it */
    char full[PATH_MAX];
    if (realpath(rp, full)) snprintf(rp, sizeof rp, "%s", full);
    size_t L = strlen(rd);
    return strncmp(rp, rd, L) == 0 && (rp[L] == '/' || rp[L] == 0 || (L == 1 && rd[0] == '/'));
}

int out_guard_take(out_lock *l, const char *path, const char *input_dir, char *err, size_t errlen) {
    l->fd = -1; l->path = NULL;
    if (input_dir && out_inside(path, input_dir)) {
        snprintf(err, errlen, "-o %s is inside the input corpus %s: the run would overwrite its own data; write it elsewhere",
                 path, input_dir);
        return -1;
    }
    return out_lock_take(l, path, err, errlen);
}
