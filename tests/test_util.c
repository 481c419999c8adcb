/* util: atomic file replacement (atomic_open / atomic_commit / atomic_abort, write_file_atomic).
 * What it must guarantee: the new content appears whole or not at all, the old file survives
 * every failure, no temporary file is left behind, and errors name the file. */
#include "test.h"
#include "util/util.h"
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

static char dir[600];

/* entries of dir (besides . and ..) */
static int count_entries(const char *d) {
    DIR *h = opendir(d);
    if (!h) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(h))) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(h);
    return n;
}

static int file_is(const char *path, const char *want) {
    char buf[256];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return !strcmp(buf, want);
}

static void test_commit_replaces(void) {
    char p[700], err[800];
    snprintf(p, sizeof p, "%s/a.txt", dir);
    CHECK(write_file_atomic(p, "old\n", 4) == 0);
    CHECK(file_is(p, "old\n"));
    atomic_file a;
    FILE *f = atomic_open(&a, p, err, sizeof err);
    CHECK(f != NULL);
    if (!f) return;
    fputs("new content\n", f);
    CHECK(file_is(p, "old\n"));              /* nothing visible before the commit */
    CHECK_EQ(count_entries(dir), 2);         /* a.txt and its temporary file, side by side */
    CHECK(atomic_commit(&a, err, sizeof err) == 0);
    CHECK(file_is(p, "new content\n"));
    CHECK_EQ(count_entries(dir), 1);
    CHECK(a.f == NULL && a.path == NULL && a.tmp == NULL);
    unlink(p);
}

static void test_abort_keeps_old(void) {
    char p[700], err[800];
    snprintf(p, sizeof p, "%s/b.txt", dir);
    CHECK(write_file_atomic(p, "keep", 4) == 0);
    atomic_file a;
    FILE *f = atomic_open(&a, p, err, sizeof err);
    CHECK(f != NULL);
    if (!f) return;
    fputs("half wri", f);
    atomic_abort(&a);
    CHECK(file_is(p, "keep"));
    CHECK_EQ(count_entries(dir), 1);
    atomic_abort(&a);                        /* a second abort is harmless */
    unlink(p);
}

/* the rename fails (a directory has the name): the error names the path, the directory and its
 * content stay, no temporary file is left */
static void test_commit_failure(void) {
    char p[700], inner[800], err[800];
    snprintf(p, sizeof p, "%s/c.txt", dir);
    snprintf(inner, sizeof inner, "%s/x", p);
    CHECK(mkdir(p, 0755) == 0);
    CHECK(write_file_atomic(inner, "inner", 5) == 0);
    atomic_file a;
    FILE *f = atomic_open(&a, p, err, sizeof err);
    CHECK(f != NULL);
    if (!f) return;
    fputs("data", f);
    CHECK(atomic_commit(&a, err, sizeof err) != 0);
    CHECKF(strstr(err, p) && strstr(err, "cannot write"), "%s", err);
    CHECK(file_is(inner, "inner"));
    CHECK_EQ(count_entries(dir), 1);
    CHECK(write_file_atomic(p, "x", 1) != 0 && errno != 0);
    CHECK_EQ(count_entries(dir), 1);
    unlink(inner);
    rmdir(p);
}

static void test_open_failure(void) {
    char p[700], err[800];
    snprintf(p, sizeof p, "%s/no/such/dir/d.txt", dir);
    atomic_file a;
    CHECK(atomic_open(&a, p, err, sizeof err) == NULL);
    CHECKF(strstr(err, p) && strstr(err, "No such file"), "%s", err);
    atomic_abort(&a);                        /* released: a no-op */
    CHECK(write_file_atomic(p, "x", 1) != 0 && errno == ENOENT);
    CHECK_EQ(count_entries(dir), 0);
}

/* an empty buffer makes an empty file (not an error) */
static void test_empty(void) {
    char p[700];
    snprintf(p, sizeof p, "%s/e.txt", dir);
    CHECK(write_file_atomic(p, "", 0) == 0);
    struct stat st;
    CHECK(stat(p, &st) == 0 && st.st_size == 0);
    unlink(p);
}

/* JSON escaping: quote, backslash and every control character, bytes >= 0x80 (UTF-8) kept */
static void test_json_escape(void) {
    char buf[256] = "";
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    CHECK(f != NULL);
    if (!f) return;
    json_escape(f, "a\"b\\c\n\x01\x1f\xc3\xa9");
    fclose(f);
    CHECKF(!strcmp(buf, "a\\\"b\\\\c\\u000a\\u0001\\u001f\xc3\xa9"), "got %s", buf);
    char e[7];   /* the byte-level escape that prep's in-memory manifest writer shares */
    CHECK(json_escape_byte(e, '"') == 2 && !strcmp(e, "\\\""));
    CHECK(json_escape_byte(e, 0x1f) == 6 && !strcmp(e, "\\u001f"));
    CHECK(json_escape_byte(e, 0xc3) == 1 && e[0] == (char)0xc3 && !e[1]);
}

int main(void) {
    snprintf(dir, sizeof dir, "%s/atomic", t_tmpdir());
    mkdir(dir, 0755);
    RUN(test_commit_replaces);
    RUN(test_abort_keeps_old);
    RUN(test_commit_failure);
    RUN(test_open_failure);
    RUN(test_empty);
    RUN(test_json_escape);
    return t_done();
}
