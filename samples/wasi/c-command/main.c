/* c-command: a WASI command in C (wasi-libc) that exercises what a command line program
 * needs from its host: arguments, environment variables, a preopened directory (read a file,
 * create a directory, write and rename files, list the directory), clocks, the sandbox
 * (paths outside the preopen must fail) and the exit status.
 *
 * Usage: c-command [--exit N] WORD...
 *   The data directory is /data (a preopen). It must hold input.txt; the program writes
 *   /data/counts.txt (word frequencies of input.txt) and /data/sub/note.txt.
 *   With --exit N the program ends with exit(N) after all its work; otherwise it returns 0.
 *
 * Everything printed is deterministic: clocks are reported only as properties (monotonic
 * time advances, the wall clock is after 2020), errors by their errno name.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DATA "/data"

static const char *errno_name(int e) {
    switch (e) {
    case 0: return "OK";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EBADF: return "EBADF";
    case EEXIST: return "EEXIST";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ELOOP: return "ELOOP";
    case ENOSYS: return "ENOSYS";
    case EROFS: return "EROFS";
    case EXDEV: return "EXDEV";
#ifdef ENOTCAPABLE
    case ENOTCAPABLE: return "ENOTCAPABLE";
#endif
    default: return "E?";
    }
}

struct word {
    char text[32];
    int count;
};

static struct word words[512];
static int nwords;

static void add_word(const char *w, size_t len) {
    if (len >= sizeof words[0].text) len = sizeof words[0].text - 1;
    for (int i = 0; i < nwords; i++) {
        if (strlen(words[i].text) == len && memcmp(words[i].text, w, len) == 0) {
            words[i].count++;
            return;
        }
    }
    if (nwords == (int)(sizeof words / sizeof words[0])) return;
    memcpy(words[nwords].text, w, len);
    words[nwords].text[len] = 0;
    words[nwords].count = 1;
    nwords++;
}

/* Most frequent first, then alphabetical. */
static int by_count(const void *a, const void *b) {
    const struct word *x = a, *y = b;
    if (x->count != y->count) return y->count - x->count;
    return strcmp(x->text, y->text);
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads /data/input.txt, prints its line/word/byte counts and writes /data/counts.txt. */
static int count_words(void) {
    FILE *in = fopen(DATA "/input.txt", "r");
    if (!in) {
        printf("input: cannot open " DATA "/input.txt: %s\n", errno_name(errno));
        return -1;
    }
    char buf[256], cur[64];
    size_t n, curlen = 0;
    long lines = 0, total = 0, bytes = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        for (size_t i = 0; i < n; i++) {
            char c = buf[i];
            bytes++;
            if (c == '\n') lines++;
            if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
            if ((c >= 'a' && c <= 'z') || c == '\'') {
                if (curlen < sizeof cur) cur[curlen++] = c;
            } else if (curlen) {
                add_word(cur, curlen);
                total++;
                curlen = 0;
            }
        }
    }
    if (curlen) {
        add_word(cur, curlen);
        total++;
    }
    fclose(in);
    printf("input: %ld lines, %ld words, %ld bytes, %d distinct\n", lines, total, bytes, nwords);

    qsort(words, (size_t)nwords, sizeof words[0], by_count);
    FILE *out = fopen(DATA "/counts.txt", "w");
    if (!out) {
        printf("output: cannot create " DATA "/counts.txt: %s\n", errno_name(errno));
        return -1;
    }
    for (int i = 0; i < nwords; i++) fprintf(out, "%d %s\n", words[i].count, words[i].text);
    if (fclose(out) != 0) {
        printf("output: close failed: %s\n", errno_name(errno));
        return -1;
    }
    printf("output: wrote " DATA "/counts.txt, top word \"%s\" x%d\n",
           nwords ? words[0].text : "", nwords ? words[0].count : 0);
    return 0;
}

/* mkdir, write a temporary file, rename it, stat it, then list /data sorted. */
static void directory_work(void) {
    int r = mkdir(DATA "/sub", 0755);
    printf("mkdir " DATA "/sub: %s\n", errno_name(r == 0 ? 0 : errno));
    int fd = open(DATA "/sub/note.tmp", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        printf("create note.tmp: %s\n", errno_name(errno));
        return;
    }
    const char note[] = "written by c-command\n";
    ssize_t w = write(fd, note, sizeof note - 1);
    close(fd);
    r = rename(DATA "/sub/note.tmp", DATA "/sub/note.txt");
    printf("write %zd bytes, rename: %s\n", w, errno_name(r == 0 ? 0 : errno));
    struct stat st;
    r = stat(DATA "/sub/note.txt", &st);
    if (r == 0)
        printf("stat note.txt: regular=%d size=%lld\n", S_ISREG(st.st_mode) ? 1 : 0,
               (long long)st.st_size);
    else
        printf("stat note.txt: %s\n", errno_name(errno));
    r = stat(DATA "/sub/note.tmp", &st);
    printf("stat note.tmp: %s\n", errno_name(r == 0 ? 0 : errno));

    DIR *d = opendir(DATA);
    if (!d) {
        printf("opendir: %s\n", errno_name(errno));
        return;
    }
    char *names[64];
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && count < 64) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        size_t len = strlen(e->d_name);
        names[count] = malloc(len + 2);
        memcpy(names[count], e->d_name, len + 1);
        if (e->d_type == DT_DIR) strcat(names[count], "/");
        count++;
    }
    closedir(d);
    qsort(names, (size_t)count, sizeof names[0], by_name);
    printf("listing " DATA ":");
    for (int i = 0; i < count; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
}

/* Paths outside the preopen: every one must fail, and the errno is printed. */
static void sandbox(void) {
    static const char *const paths[] = {
        "../outside.txt",        /* relative: matches no preopen (wasi-libc) */
        "/etc/passwd",           /* absolute, no preopen covers it (wasi-libc) */
        DATA "/../outside.txt",  /* inside the preopen, escapes through .. (host) */
        DATA "/escape-link",     /* a symlink in the preopen pointing outside (host) */
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        errno = 0;
        int fd = open(paths[i], O_RDONLY);
        if (fd >= 0) {
            char buf[64] = {0};
            ssize_t n = read(fd, buf, sizeof buf - 1);
            printf("sandbox: open %s: SUCCEEDED (read %zd bytes) -- the sandbox leaks\n", paths[i], n);
            close(fd);
        } else {
            printf("sandbox: open %s: %s\n", paths[i], errno_name(errno));
        }
    }
}

static void clocks(void) {
    struct timespec a, b, res, wall;
    clock_gettime(CLOCK_MONOTONIC, &a);
    /* Busy work until the monotonic clock moves (bounded). */
    volatile unsigned long sink = 0;
    int advanced = 0;
    for (int round = 0; round < 1000 && !advanced; round++) {
        for (int i = 0; i < 10000; i++) sink += (unsigned long)i * 7;
        clock_gettime(CLOCK_MONOTONIC, &b);
        advanced = b.tv_sec > a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec > a.tv_nsec);
    }
    (void)sink;
    clock_getres(CLOCK_MONOTONIC, &res);
    clock_gettime(CLOCK_REALTIME, &wall);
    time_t now = time(NULL);
    printf("clocks: monotonic advanced: %s, resolution positive: %s, "
           "wall clock after 2020: %s, time() agrees: %s\n",
           advanced ? "yes" : "no", (res.tv_sec > 0 || res.tv_nsec > 0) ? "yes" : "no",
           wall.tv_sec > 1577836800 ? "yes" : "no",
           (now >= wall.tv_sec - 5 && now <= wall.tv_sec + 5) ? "yes" : "no");
}

int main(int argc, char **argv) {
    int status = 0;
    printf("args: %d\n", argc - 1);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--exit") == 0 && i + 1 < argc) status = atoi(argv[i + 1]);
        printf("  arg %d: \"%s\" (%zu bytes)\n", i, argv[i], strlen(argv[i]));
    }
    static const char *const vars[] = {"KILN_GREETING", "KILN_EMPTY", "KILN_UNSET"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v)
            printf("env %s = \"%s\"\n", vars[i], v);
        else
            printf("env %s is unset\n", vars[i]);
    }
    count_words();
    directory_work();
    sandbox();
    clocks();
    fflush(stdout);
    fprintf(stderr, "c-command: done, exit status %d\n", status);
    if (status != 0) exit(status);
    return 0;
}
