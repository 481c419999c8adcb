/* Arrow IPC files of one column `token_sequences: list<int32>`: tcpflowgen's token files
 * (docs/tokens.md, "Arrow files"). Written from the Arrow columnar format specification
 * (IPC file format: "ARROW1" magic, encapsulated flatbuffer messages, footer), for this one
 * schema only; checked against the npm `apache-arrow` package (tests/arrow_oracle.js).
 *
 * Writer: one schema message, one record batch (list offsets and int32 values, no nulls),
 * the footer; little-endian, buffers 8-byte aligned, metadata version V5.
 * Reader: any number of record batches; the column must be list<int32> (a List of a signed
 * 32-bit Int); null lists are refused, as are compressed bodies and other schemas. Every
 * offset is bounds-checked: a bad file gives a message with the file and the byte offset. */
#ifndef PKTLM_ARROW_H
#define PKTLM_ARROW_H
#include <stdint.h>
#include <stddef.h>

/* A list of int32 sequences: sequence i is values[offs[i] .. offs[i+1]). */
typedef struct {
    int32_t *values;
    uint64_t *offs;        /* n + 1 entries */
    uint64_t n, n_values;
} arrow_seqs;

/* Write seqs (n sequences, sequence i = v[offs[i] .. offs[i+1])) to path atomically. 0 ok,
 * -1 with err. The column is named `column` ("token_sequences"). */
int arrow_write_lists(const char *path, const char *column, const int32_t *v, const uint64_t *offs, uint64_t n,
                      char *err, size_t errlen);
/* Read the list<int32> column named `column` (NULL: the only column). 0 ok, -1 with err. */
int arrow_read_lists(const char *path, const char *column, arrow_seqs *out, char *err, size_t errlen);
void arrow_seqs_free(arrow_seqs *s);
#endif
