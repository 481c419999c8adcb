/* safetensors files (docs/interop.md "Weights"): an 8-byte little-endian header length N,
 * N bytes of JSON {"NAME": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
 * {...}}, then the tensors' bytes, row-major little-endian, offsets relative to byte 8 + N.
 * The reader checks what the format promises (the tensors tile the buffer exactly, the buffer
 * ends where the file ends, no duplicate names) before any tensor is read, so a damaged or
 * foreign file is an error naming the file and the byte offset, never a wrong weight.
 * The writer writes float32 only (what pktlm's parameters are), header padded with spaces to
 * a multiple of 8 so the tensors are aligned, atomically (PATH.tmp.PID, renamed). */
#ifndef PKTLM_SAFETENSORS_H
#define PKTLM_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { ST_F32 = 1, ST_F16, ST_BF16, ST_F64, ST_OTHER };
#define ST_MAX_DIMS 8
#define ST_MAX_HEADER 100000000ull   /* the format's own bound on N */

typedef struct {
    char *name;
    int dtype;                 /* ST_*; ST_OTHER (ints, bools, fp8...) can be listed, not read as floats */
    char dtype_name[12];       /* as the file spells it */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t numel;
    uint64_t begin, end;       /* byte range in the buffer (file offset data_off + begin) */
} st_tensor;

typedef struct {
    char *path;
    FILE *f;
    uint64_t data_off;         /* 8 + N */
    uint64_t file_size;
    int n;
    st_tensor *t;              /* sorted by name */
} st_file;

/* Open and validate. 0 ok; -1 with err (the file is closed again). */
int st_open(st_file *s, const char *path, char *err, size_t errlen);
void st_close(st_file *s);
const st_tensor *st_find(const st_file *s, const char *name);
/* Read a tensor as float32 (F32 copied, BF16 and F16 widened exactly, F64 rounded) into
 * dst (numel floats). 0 ok; -1 with err. */
int st_read_f32(st_file *s, const st_tensor *t, float *dst, char *err, size_t errlen);
/* "[2, 3]" of a shape, for messages */
void st_shape_str(char *b, size_t n, const int64_t *shape, int ndim);

/* One float32 tensor to write. */
typedef struct {
    const char *name;
    int ndim;
    int64_t shape[4];
    const float *data;
} st_out;
/* Write tensors (sorted by name in the file; names must be distinct) with optional
 * "__metadata__" pairs meta[0]=meta[1], meta[2]=meta[3], ... (nmeta strings). 0 ok, -1 err. */
int st_write(const char *path, const st_out *t, int n, const char *const *meta, int nmeta, char *err, size_t errlen);

/* Half-precision conversions (exact widening; bf16 is the top half of a float32). */
float st_bf16_to_f32(uint16_t h);
float st_f16_to_f32(uint16_t h);
#endif
