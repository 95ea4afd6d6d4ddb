/* Power-cut simulation for SQLite files: an LD_PRELOAD shim that keeps an undo log of every write not yet synced.
 *
 * For each file under $POWERCUT_DIR, every pwrite/write/ftruncate first appends the bytes it is about to overwrite
 * (and the file size) to an undo log in $POWERCUT_UNDO_DIR; fsync/fdatasync of the file empties that log, because
 * from then on the writes are on stable storage. After the process is SIGKILLed, `powercut.py restore` applies
 * the undo logs backwards: every file returns to its content at its last sync -- what a power cut that loses all
 * unsynced writes leaves on disk. The undo log itself is written without fsync: it only has to survive the
 * process (kill -9), not the machine, because the machine does not really lose power here.
 *
 * Not modelled: directory entries (a file created or removed since the last directory sync is assumed to stay
 * created or removed), writes through mmap (SQLite's -shm wal-index, which restore deletes: SQLite rebuilds it
 * from the WAL), torn sectors, and partial subsets of the unsynced writes (all of them are lost, the worst case).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_FDS 4096

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *tracked[MAX_FDS]; /* path of each tracked fd */
static char watch_dir[PATH_MAX];
static char undo_dir[PATH_MAX];
static int configured = -1;

static int (*real_open64)(const char *, int, ...);
static int (*real_open)(const char *, int, ...);
static int (*real_unlink)(const char *);
static int (*real_close)(int);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_ftruncate64)(int, off_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);

static void resolve(void) {
    if (real_pwrite64) return;
    real_open64 = dlsym(RTLD_NEXT, "open64");
    real_open = dlsym(RTLD_NEXT, "open");
    real_unlink = dlsym(RTLD_NEXT, "unlink");
    real_close = dlsym(RTLD_NEXT, "close");
    real_pwrite = dlsym(RTLD_NEXT, "pwrite");
    real_write = dlsym(RTLD_NEXT, "write");
    real_ftruncate64 = dlsym(RTLD_NEXT, "ftruncate64");
    real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
}

static int configure(void) {
    if (configured >= 0) return configured;
    const char *w = getenv("POWERCUT_DIR"), *u = getenv("POWERCUT_UNDO_DIR");
    configured = 0;
    if (w && u && realpath(w, watch_dir) && realpath(u, undo_dir)) configured = 1;
    return configured;
}

static void undo_path(const char *path, char *out) {
    size_t n = snprintf(out, PATH_MAX, "%s/", undo_dir);
    for (const char *p = path; *p && n < PATH_MAX - 6; p++) out[n++] = (*p == '/') ? '%' : *p;
    strcpy(out + n, ".undo");
}

static int watched(const char *full) {
    size_t n = strlen(watch_dir);
    return strncmp(full, watch_dir, n) == 0 && (full[n] == '/' || full[n] == 0);
}

static void track(int fd, const char *path) {
    if (fd < 0 || fd >= MAX_FDS || !configure()) return;
    char full[PATH_MAX];
    if (!realpath(path, full) || !watched(full)) return;
    pthread_mutex_lock(&lock);
    free(tracked[fd]);
    tracked[fd] = strdup(full);
    pthread_mutex_unlock(&lock);
}

/* Append (offset, saved length, size before, saved bytes) for the range [offset, offset+len) of fd's file. */
static void save(int fd, off_t offset, size_t len) {
    if (fd < 0 || fd >= MAX_FDS || !tracked[fd]) return;
    struct stat st;
    if (fstat(fd, &st) != 0) return;
    off_t size = st.st_size;
    size_t keep = 0;
    if (offset < size) keep = (size_t)((offset + (off_t)len <= size) ? (off_t)len : size - offset);
    char *old = keep ? malloc(keep) : NULL;
    if (keep && (!old || pread(fd, old, keep, offset) != (ssize_t)keep)) {
        free(old);
        fprintf(stderr, "powercut: cannot save %zu bytes of %s\n", keep, tracked[fd]);
        abort(); /* an incomplete undo log would make the simulation lie */
    }
    char path[PATH_MAX];
    undo_path(tracked[fd], path);
    int u = real_open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (u < 0) abort();
    int64_t head[3] = {(int64_t)offset, (int64_t)keep, (int64_t)size};
    if (real_write(u, head, sizeof head) != sizeof head || (keep && real_write(u, old, keep) != (ssize_t)keep)) abort();
    real_close(u);
    free(old);
}

static void synced(int fd) {
    if (fd < 0 || fd >= MAX_FDS || !tracked[fd]) return;
    char path[PATH_MAX];
    undo_path(tracked[fd], path);
    real_unlink(path);
}

/* A removed file takes its undo log with it (directory operations are assumed durable, see the top). */
int unlink(const char *path) {
    resolve();
    char full[PATH_MAX], log[PATH_MAX];
    int known = configure() && realpath(path, full) && watched(full);
    int r = real_unlink(path);
    if (r == 0 && known) {
        pthread_mutex_lock(&lock);
        undo_path(full, log);
        real_unlink(log);
        pthread_mutex_unlock(&lock);
    }
    return r;
}

int open64(const char *path, int flags, ...) {
    resolve();
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) { va_list ap; va_start(ap, flags); mode = va_arg(ap, int); va_end(ap); }
    int fd = real_open64(path, flags, mode);
    if (fd >= 0) track(fd, path);
    return fd;
}

int open(const char *path, int flags, ...) {
    resolve();
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) { va_list ap; va_start(ap, flags); mode = va_arg(ap, int); va_end(ap); }
    int fd = real_open(path, flags, mode);
    if (fd >= 0) track(fd, path);
    return fd;
}

int close(int fd) {
    resolve();
    if (fd >= 0 && fd < MAX_FDS && tracked[fd]) {
        pthread_mutex_lock(&lock);
        free(tracked[fd]);
        tracked[fd] = NULL;
        pthread_mutex_unlock(&lock);
    }
    return real_close(fd);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t offset) {
    resolve();
    if (fd >= 0 && fd < MAX_FDS && tracked[fd]) {
        pthread_mutex_lock(&lock);
        save(fd, offset, n);
        ssize_t r = real_pwrite64(fd, buf, n, offset);
        pthread_mutex_unlock(&lock);
        return r;
    }
    return real_pwrite64(fd, buf, n, offset);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t offset) { return pwrite64(fd, buf, n, offset); }

ssize_t write(int fd, const void *buf, size_t n) {
    resolve();
    if (fd >= 0 && fd < MAX_FDS && tracked[fd]) {
        pthread_mutex_lock(&lock);
        off_t at = lseek(fd, 0, SEEK_CUR);
        if (at >= 0) save(fd, at, n);
        ssize_t r = real_write(fd, buf, n);
        pthread_mutex_unlock(&lock);
        return r;
    }
    return real_write(fd, buf, n);
}

int ftruncate64(int fd, off_t length) {
    resolve();
    if (fd >= 0 && fd < MAX_FDS && tracked[fd]) {
        pthread_mutex_lock(&lock);
        struct stat st;
        if (fstat(fd, &st) == 0) save(fd, length, st.st_size > length ? (size_t)(st.st_size - length) : 0);
        int r = real_ftruncate64(fd, length);
        pthread_mutex_unlock(&lock);
        return r;
    }
    return real_ftruncate64(fd, length);
}

int ftruncate(int fd, off_t length) { return ftruncate64(fd, length); }

int fdatasync(int fd) {
    resolve();
    int r = real_fdatasync(fd);
    if (r == 0 && fd >= 0 && fd < MAX_FDS && tracked[fd]) {
        pthread_mutex_lock(&lock);
        synced(fd);
        pthread_mutex_unlock(&lock);
    }
    return r;
}

int fsync(int fd) {
    resolve();
    int r = real_fsync(fd);
    if (r == 0 && fd >= 0 && fd < MAX_FDS && tracked[fd]) {
        pthread_mutex_lock(&lock);
        synced(fd);
        pthread_mutex_unlock(&lock);
    }
    return r;
}
