/* kiln-diff's C probe: a wasi-libc (preview1) command made a component with the preview1
 * command adapter (kiln-componentize command), run by kiln-diff's WASI mode under kiln and
 * under wasmtime with the same preopen (/data, a copy of one tree each). The adapter reaches
 * the host through other WASI 0.2 functions than Rust's std does (descriptor streams at
 * offsets, directory entry streams behind readdir cookies, stat with timestamps, poll), so
 * this exercises them. Everything printed is deterministic: results, errno names, sizes.
 *
 * Build (src/wasi/mod.rs does this): clang --target=wasm32-wasi -O2 cprobe.c -o cprobe.core.wasm
 * && kiln-componentize command cprobe.core.wasm -o cprobe.wasm
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The adapter allocates its state with this (see the header of samples/wasi/common). */
__attribute__((export_name("cabi_realloc"))) void *cabi_realloc(void *ptr, size_t old_size,
                                                                 size_t align, size_t new_size) {
    (void)old_size;
    if (new_size == 0) return (void *)align;
    void *p = realloc(ptr, new_size);
    if (!p) abort();
    return p;
}

static const char *err_name(int e) {
    switch (e) {
    case 0: return "ok";
    case ENOENT: return "ENOENT";
    case EEXIST: return "EEXIST";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case ENOTEMPTY: return "ENOTEMPTY";
    case ENOTCAPABLE: return "ENOTCAPABLE";
    case ESPIPE: return "ESPIPE";
    case ELOOP: return "ELOOP";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EXDEV: return "EXDEV";
    case ENOTSUP: return "ENOTSUP";
    case ENOSYS: return "ENOSYS";
    case EFBIG: return "EFBIG";
    case EROFS: return "EROFS";
    case EPIPE: return "EPIPE";
    default: return "other";
    }
}

/* Prints `what: rc` and the errno name when rc < 0. */
static long report(const char *what, long rc) {
    if (rc < 0)
        printf("%s: -1 %s (%d)\n", what, err_name(errno), errno);
    else
        printf("%s: %ld\n", what, rc);
    return rc;
}

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists a directory sorted, with d_type, and checks telldir/seekdir cookies. */
static void listing(const char *path) {
    DIR *d = opendir(path);
    if (!d) {
        printf("opendir %s: %s\n", path, err_name(errno));
        return;
    }
    char *names[512];
    int n = 0;
    long third = -1;
    char third_name[256] = "";
    struct dirent *e;
    while ((e = readdir(d)) && n < 512) {
        char buf[300];
        snprintf(buf, sizeof buf, "%s/%d", e->d_name, e->d_type);
        names[n++] = strdup(buf);
        if (n == 3) {
            third = telldir(d);
            if ((e = readdir(d))) {
                snprintf(third_name, sizeof third_name, "%s", e->d_name);
                snprintf(buf, sizeof buf, "%s/%d", e->d_name, e->d_type);
                names[n++] = strdup(buf);
            }
        }
    }
    qsort(names, n, sizeof names[0], cmp);
    printf("listing %s (%d):", path, n);
    for (int i = 0; i < n; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
    if (third >= 0) {
        seekdir(d, third);
        e = readdir(d);
        printf("seekdir back: %s\n", e && strcmp(e->d_name, third_name) == 0 ? "same entry" : "different");
    }
    rewinddir(d);
    int again = 0;
    while (readdir(d)) again++;
    printf("rewinddir count: %d\n", again);
    closedir(d);
}

static void files(void) {
    char buf[64];
    int fd = report("open input", open("/data/input.txt", O_RDWR));
    report("pread at 5", pread(fd, buf, 8, 5));
    printf("  bytes: %.8s\n", buf);
    report("pread past end", pread(fd, buf, 8, 1000));
    report("lseek end", lseek(fd, 0, SEEK_END));
    report("lseek cur -3", lseek(fd, -3, SEEK_CUR));
    report("lseek negative", lseek(fd, -1000, SEEK_SET));
    report("pwrite at 2", pwrite(fd, "XY", 2, 2));
    report("pwrite far", pwrite(fd, "Z", 1, 40));
    struct stat st;
    report("fstat", fstat(fd, &st));
    printf("  size %lld mode-type %o nlink %llu\n", (long long)st.st_size, st.st_mode & S_IFMT,
           (unsigned long long)st.st_nlink);
    report("ftruncate 10", ftruncate(fd, 10));
    report("fsync", fsync(fd));
    report("fdatasync", fdatasync(fd));
    report("posix_fadvise", posix_fadvise(fd, 0, 10, POSIX_FADV_SEQUENTIAL) == 0 ? 0 : -1);
    struct timespec times[2] = {{.tv_sec = 1234567890, .tv_nsec = 5}, {.tv_sec = 1000000000, .tv_nsec = 999}};
    report("futimens", futimens(fd, times));
    report("fstat again", fstat(fd, &st));
    printf("  size %lld atime %lld.%09ld mtime %lld.%09ld\n", (long long)st.st_size,
           (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec, (long long)st.st_mtim.tv_sec,
           st.st_mtim.tv_nsec);
    struct timespec omit[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = 7, .tv_nsec = 0}};
    report("utimensat omit atime", utimensat(AT_FDCWD, "/data/input.txt", omit, 0));
    report("stat", stat("/data/input.txt", &st));
    printf("  atime %lld mtime %lld\n", (long long)st.st_atim.tv_sec, (long long)st.st_mtim.tv_sec);
    report("close", close(fd));
    report("close again", close(fd));
    report("read closed", read(fd, buf, 1));

    report("open O_EXCL existing", open("/data/input.txt", O_CREAT | O_EXCL | O_WRONLY, 0644));
    report("open O_DIRECTORY on a file", open("/data/input.txt", O_RDONLY | O_DIRECTORY));
    report("open dir O_WRONLY", open("/data/sub", O_WRONLY));
    fd = report("open O_APPEND", open("/data/log.txt", O_CREAT | O_WRONLY | O_APPEND, 0644));
    report("write 1", write(fd, "one\n", 4));
    report("lseek 0", lseek(fd, 0, SEEK_SET));
    report("write 2", write(fd, "two\n", 4));
    close(fd);
    fd = report("open O_TRUNC", open("/data/trunc.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644));
    report("write", write(fd, "long contents\n", 14));
    close(fd);
    fd = report("reopen O_TRUNC", open("/data/trunc.txt", O_WRONLY | O_TRUNC));
    report("write short", write(fd, "s\n", 2));
    close(fd);
    report("access R_OK", access("/data/input.txt", R_OK));
    report("access missing", access("/data/nope", F_OK));
    report("rename over existing", rename("/data/trunc.txt", "/data/log.txt"));
    report("link", link("/data/log.txt", "/data/log2.txt"));
    report("stat nlink", stat("/data/log.txt", &st));
    printf("  nlink %llu size %lld\n", (unsigned long long)st.st_nlink, (long long)st.st_size);
    report("unlink", unlink("/data/log2.txt"));
    report("symlink", symlink("input.txt", "/data/sym"));
    report("lstat symlink", lstat("/data/sym", &st));
    printf("  is link %d\n", S_ISLNK(st.st_mode));
    char target[64] = "";
    long n = report("readlink", readlink("/data/sym", target, sizeof target - 1));
    if (n >= 0) printf("  target %.*s\n", (int)n, target);
    report("readlink of a file", readlink("/data/input.txt", target, sizeof target));
    report("mkdir", mkdir("/data/newdir", 0755));
    report("rmdir sub (non-empty)", rmdir("/data/sub"));
    report("rename dir", rename("/data/newdir", "/data/renamed"));
    report("escape through ..", open("/data/../outside.txt", O_RDONLY));
    report("escape through symlink", open("/data/up/outside.txt", O_RDONLY));
    listing("/data");
    listing("/data/many");
}

static void cwd(void) {
    char buf[256];
    printf("getcwd: %s\n", getcwd(buf, sizeof buf) ? buf : "(error)");
    report("chdir /data/sub", chdir("/data/sub"));
    printf("getcwd: %s\n", getcwd(buf, sizeof buf) ? buf : "(error)");
    int fd = report("open relative", open("nested.txt", O_RDONLY));
    long n = report("read", read(fd, buf, sizeof buf));
    if (n > 0) printf("  %.*s", (int)n, buf);
    close(fd);
    report("open ../input.txt", open("../input.txt", O_RDONLY));
    report("chdir missing", chdir("/data/missing"));
}

static void timing(void) {
    struct timespec res, a, b;
    report("clock_getres monotonic", clock_getres(CLOCK_MONOTONIC, &res));
    printf("  positive: %d\n", res.tv_sec > 0 || res.tv_nsec > 0);
    clock_gettime(CLOCK_MONOTONIC, &a);
    struct timespec d = {.tv_sec = 0, .tv_nsec = 15000000};
    report("nanosleep", nanosleep(&d, NULL));
    clock_gettime(CLOCK_MONOTONIC, &b);
    long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
    printf("  slept >= 15 ms: %d\n", ns >= 15000000);
    clock_gettime(CLOCK_REALTIME, &a);
    printf("realtime after 2020: %d\n", a.tv_sec > 1577836800);
    unsigned char r1[32], r2[32];
    report("getentropy", getentropy(r1, sizeof r1));
    getentropy(r2, sizeof r2);
    printf("  two draws differ: %d\n", memcmp(r1, r2, sizeof r1) != 0);
    /* poll: stdin (bytes are there) and a timeout. */
    struct pollfd p = {.fd = 0, .events = POLLIN};
    report("poll stdin", poll(&p, 1, 1000));
    printf("  revents POLLIN: %d\n", (p.revents & POLLIN) != 0);
    char buf[4096];
    long total = 0, got;
    while ((got = read(0, buf, sizeof buf)) > 0) total += got;
    printf("stdin bytes: %ld, last read %ld\n", total, got);
}

static void output(void) {
    /* 1.5 MiB through stdio in pieces of varying size, then stderr. */
    static char block[1 << 16];
    for (size_t i = 0; i < sizeof block; i++) block[i] = "0123456789abcdef\n"[i % 17];
    for (int i = 0; i < 24; i++) fwrite(block, 1, (sizeof block) - (size_t)(i * 97), stdout);
    for (int i = 0; i < 1000; i++) printf("%d%c", i, i % 20 == 19 ? '\n' : ' ');
    fflush(stdout);
    fprintf(stderr, "to stderr: %d\n", 42);
    fwrite(block, 1, 5000, stderr);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "files") == 0) files();
    else if (strcmp(mode, "cwd") == 0) cwd();
    else if (strcmp(mode, "timing") == 0) timing();
    else if (strcmp(mode, "output") == 0) output();
    else if (strcmp(mode, "closed-stdout") == 0) {
        /* The host closed stdout: write errors are reported, the program goes on. */
        long a = write(1, "raw\n", 4);
        int ea = errno;
        int b = printf("buffered %d\n", 1);
        int c = fflush(stdout);
        int ec = errno;
        fprintf(stderr, "write: %ld %s\nprintf: %d\nfflush: %d %s\nstderr still works\n", a,
                a < 0 ? err_name(ea) : "", b, c, c ? err_name(ec) : "");
    }
    else if (strcmp(mode, "exit") == 0) {
        printf("exit %s\n", argc > 2 ? argv[2] : "0");
        fflush(stdout);
        exit(argc > 2 ? atoi(argv[2]) : 0);
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    return 0;
}
