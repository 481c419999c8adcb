/* libFuzzer target: the safetensors reader (src/models/safetensors.c) on an arbitrary file.
 * bytes -> memfd -> st_open (header length, JSON through libcjson, dtypes, shapes, offsets,
 * tiling, file size, duplicates) -> st_find and st_read_f32 of every float tensor (bounded)
 * -> st_close. Every error is fine; a crash, a sanitizer report, a leak or a hang is a bug.
 * Seeds: the .safetensors files of tests/fixtures/hf_gpt2, hf_qwen2, hf_qwen2_tied. See docs/fuzzing.md. */
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "memfd.h"
#include "models/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64], err[512];
    int fd = fuzz_memfd("fuzz.safetensors", data, size, path);
    if (fd < 0) return 0;
    st_file s;
    if (st_open(&s, path, err, sizeof err) == 0) {
        /* what a valid header promises: every tensor inside the file */
        for (int i = 0; i < s.n; i++) {
            const st_tensor *t = &s.t[i];
            if (t->end > s.file_size - s.data_off || st_find(&s, t->name) != t) __builtin_trap();
            if (t->dtype == ST_OTHER || t->numel > (1u << 20)) continue;
            float *dst = malloc((t->numel ? t->numel : 1) * sizeof *dst);
            if (dst && st_read_f32(&s, t, dst, err, sizeof err) != 0) __builtin_trap();   /* validated: readable */
            free(dst);
        }
        st_close(&s);
    }
    close(fd);
    return 0;
}
