/* Small shared helpers: byte order, time, errors. Every stage may include this. */
#ifndef PKTLM_UTIL_H
#define PKTLM_UTIL_H
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

static inline uint16_t rd16be(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd32be(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static inline uint16_t rd16le(const uint8_t *p) { return (uint16_t)(p[1] << 8 | p[0]); }
static inline uint32_t rd32le(const uint8_t *p) { return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0]; }
static inline uint64_t rd64le(const uint8_t *p) { return (uint64_t)rd32le(p + 4) << 32 | rd32le(p); }
static inline void wr16be(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void wr32be(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v; }
static inline void wr16le(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void wr32le(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24); }

/* Monotonic wall clock in seconds, for rates and ETAs. */
double now_sec(void);
/* Peak resident set size of this process in bytes (from getrusage). */
size_t peak_rss_bytes(void);

/* A progress line on stderr, redrawn at most every 0.5 s; silent when stderr is not
 * a terminal unless PKTLM_PROGRESS=1. done/total in the caller's units (bytes, steps). */
typedef struct {
    const char *what;   /* "reading", "training" ... */
    const char *unit;   /* "MB", "tok" ... used for the rate */
    double scale;       /* divide done by this for the rate, e.g. 1e6 for MB */
    double t0, last;
    int enabled, drawn;
} progress;
void progress_init(progress *p, const char *what, const char *unit, double scale);
void progress_update(progress *p, double done, double total, const char *extra);
void progress_end(progress *p);
/* s seconds as "42s", "3m07s", "2h05m"; "?" when negative, NaN or beyond 1e8 (an ETA). */
void fmt_duration(char *buf, size_t n, double s);

/* Replacing a file atomically, for everything the user keeps: the data goes to PATH.tmp.PID
 * (the same directory, so the rename cannot cross file systems), which is flushed, fsynced
 * and renamed over PATH. A crash or an error leaves PATH as it was (or absent), never half
 * written; on failure the temporary file is removed. Error messages name PATH.
 *   atomic_file a;
 *   FILE *f = atomic_open(&a, path, err, sizeof err);   NULL: cannot create (err says why)
 *   ... fwrite(f) ...
 *   atomic_commit(&a, err, sizeof err);                  0: PATH replaced; -1: err, PATH untouched
 * or atomic_abort(&a) to drop what was written. Both release a (commit even when it fails). */
typedef struct { FILE *f; char *path, *tmp; } atomic_file;
FILE *atomic_open(atomic_file *a, const char *path, char *err, size_t errlen);
int atomic_commit(atomic_file *a, char *err, size_t errlen);
void atomic_abort(atomic_file *a);   /* no-op on a released or zeroed a */

/* Write a whole buffer to path atomically (atomic_open/commit). 0 on success; -1 with errno
 * set (callers print %m). */
int write_file_atomic(const char *path, const void *buf, size_t n);

/* Errors are values (docs/architecture.md): err_set formats the message into err (errlen
 * bytes) and returns -1, so that `return err_set(...)` reports and fails in one line.
 * OPT_FAIL(o, ...) does it into the `char err[]` of an options struct o (pretrain_opts,
 * finetune_opts, gen_opts ...: how the library's run functions report to their caller). */
int err_set(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define OPT_FAIL(o, ...) err_set((o)->err, sizeof (o)->err, __VA_ARGS__)

/* s escaped for the inside of a JSON string (quote, backslash, control characters); no quotes.
 * json_escape_byte: the escape of one byte into out (NUL-ended), its length 1..6; the one
 * definition of the escaping, for writers into memory (prep's manifest) and files. */
void json_escape(FILE *f, const char *s);
int json_escape_byte(char out[7], unsigned char c);

/* SplitMix64: small, seedable, reproducible RNG used everywhere (never rand()). */
static inline uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static inline double rng_uniform(uint64_t *s) { return (double)(splitmix64(s) >> 11) * (1.0 / 9007199254740992.0); }

#endif
