/*
 * tests/fuzz/replay.c - runs a fuzz target's LLVMFuzzerTestOneInput on
 * every file named on the command line (directories: each regular file in
 * them, sorted), so the seed corpus and any crash inputs replay under
 * ctest in a normal gcc build without libFuzzer.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads a whole file (malloc'd, never NULL on success); 0 or -1. */
static int read_file(const char *path, uint8_t **ret_data, size_t *ret_len) {
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    size_t len = 0, cap = 0;
    int rc = -1;
    if (!f)
        return -1;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 4096;
            uint8_t *n = realloc(data, ncap);
            if (!n)
                goto out;
            data = n;
            cap = ncap;
        }
        size_t got = fread(data + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f))
        goto out;
    *ret_data = data;
    *ret_len = len;
    data = NULL;
    rc = 0;
out:
    free(data);
    fclose(f);
    return rc;
}

/* Replays one file; 0, or -1 when it cannot be read. */
static int replay_file(const char *path) {
    uint8_t *data = NULL;
    size_t len = 0;
    if (read_file(path, &data, &len) != 0) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        return -1;
    }
    /* An exact-size copy, so ASan sees reads past the end as libFuzzer would. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(data);
        return -1;
    }
    memcpy(exact, data, len);
    free(data);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Replays path (a file, or each regular file of a directory); adds to *count. */
static int replay_path(const char *path, unsigned long *count) {
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: cannot stat %s\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (replay_file(path) != 0)
            return -1;
        (*count)++;
        return 0;
    }
    struct dirent **names = NULL;
    int n = scandir(path, &names, NULL, by_name);
    if (n < 0) {
        fprintf(stderr, "replay: cannot list %s\n", path);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char full[4096];
        if (rc == 0 && names[i]->d_name[0] != '.' &&
            (size_t)snprintf(full, sizeof full, "%s/%s", path, names[i]->d_name) < sizeof full &&
            stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
            if (replay_file(full) != 0)
                rc = -1;
            else
                (*count)++;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv) {
    unsigned long count = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        if (replay_path(argv[i], &count) != 0)
            return 1;
    printf("%lu inputs replayed\n", count);
    /* An empty corpus replays nothing: a wrong path must not pass silently. */
    return count ? 0 : 1;
}
