/* Replays fuzz inputs without libFuzzer: each argument is a file or a directory (its regular
 * files, sorted by name, not recursive).  Runs LLVMFuzzerTestOneInput on each, printing TAP,
 * one line per input; a finding aborts inside the harness, failing the test. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char **paths;
static size_t npaths, cap;

static void add(const char *p) {
    if (npaths == cap) {
        cap = cap ? 2 * cap : 64;
        paths = realloc(paths, cap * sizeof *paths);
        if (!paths) abort();
    }
    paths[npaths] = strdup(p);
    if (!paths[npaths]) abort();
    npaths++;
}

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void collect(const char *arg) {
    struct stat st;
    if (stat(arg, &st) != 0) {
        fprintf(stderr, "replay: cannot stat %s\n", arg);
        exit(2);
    }
    if (!S_ISDIR(st.st_mode)) {
        add(arg);
        return;
    }
    DIR *d = opendir(arg);
    if (!d) exit(2);
    size_t first = npaths;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "README.md") == 0) continue;
        char buf[4096];
        snprintf(buf, sizeof buf, "%s/%s", arg, e->d_name);
        if (stat(buf, &st) == 0 && S_ISREG(st.st_mode)) add(buf);
    }
    closedir(d);
    qsort(paths + first, npaths - first, sizeof *paths, cmp);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        collect(argv[i]);
    printf("1..%zu\n", npaths);
    fflush(stdout);
    for (size_t i = 0; i < npaths; i++) {
        FILE *f = fopen(paths[i], "rb");
        if (!f) {
            printf("not ok %zu - %s (cannot open)\n", i + 1, paths[i]);
            return 1;
        }
        size_t len = 0, size = 4096;
        uint8_t *buf = malloc(size);
        size_t r;
        while (buf && (r = fread(buf + len, 1, size - len, f)) > 0) {
            len += r;
            if (len == size) buf = realloc(buf, size *= 2);
        }
        fclose(f);
        if (!buf) abort();
        LLVMFuzzerTestOneInput(buf, len);
        free(buf);
        printf("ok %zu - %s\n", i + 1, paths[i]);
        fflush(stdout);
        free(paths[i]);
    }
    free(paths);
    return 0;
}
