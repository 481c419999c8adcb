/* Label sources of `pktlm prep`: a set of label names and per-flow label rows.
 *  - file labels: CSV with a file column (File/path/file) and a label column
 *    (Label/label/class, or named), as NetSSM's `File,Label`;
 *  - flow labels: CSV of one row per flow: file column, protocol (l4/proto), the two
 *    endpoints (a_ip,a_port,b_ip,b_port or src_ip,src_port,dst_ip,dst_port) and a label
 *    column; endpoints match in either order.
 * A CSV file path matches an input when it equals it or is a suffix of it starting
 * after a '/' (so rows written relative to a data folder match absolute inputs). */
#ifndef PKTLM_LABELS_H
#define PKTLM_LABELS_H
#include <stdint.h>
#include <stddef.h>

typedef struct {
    char **names;     /* sorted, unique */
    int n, cap;
} label_set;
/* Add a name (kept sorted); returns 0, -1 out of memory. */
int label_set_add(label_set *s, const char *name);
int label_set_find(const label_set *s, const char *name);   /* index or -1 */
void label_set_free(label_set *s);

/* A label-file argument "FILE.csv[:COLUMN]" (prep --file-labels / --flow-labels, compare
 * --labels) split in place: *file = arg, *col = the text after the last ':' (that ':'
 * overwritten), or NULL when there is none or when arg as given is an existing file (a file
 * name that holds ':'). */
void label_csv_spec(char *arg, char **file, char **col);

/* Does csv_path name input (see above)? */
int label_path_match(const char *input, const char *csv_path);

/* File -> label rows. */
typedef struct { char *path, *label; } file_label;
typedef struct { file_label *v; int n; } file_labels;
int file_labels_load(file_labels *fl, const char *csv, const char *column, char *err, size_t errlen);
const char *file_labels_find(const file_labels *fl, const char *input);   /* NULL when none */
void file_labels_free(file_labels *fl);

/* Flow -> label rows. */
typedef struct {
    char *path;
    uint8_t ver, proto;
    uint8_t addr[2][16];
    uint16_t port[2];
    char *label;
} flow_label;
typedef struct {
    flow_label *v;
    int n;
    uint32_t *slots;  /* hash of (basename, proto, endpoints) -> row+1 chains via next */
    uint32_t *next;
    size_t nslots;
} flow_labels;
int flow_labels_load(flow_labels *fl, const char *csv, const char *column, char *err, size_t errlen);
/* Label of a flow of input file `input` (endpoints in any order) or NULL. */
const char *flow_labels_find(const flow_labels *fl, const char *input, int ver, int proto,
                             const uint8_t *addr0, uint16_t port0, const uint8_t *addr1, uint16_t port1);
void flow_labels_free(flow_labels *fl);
#endif
