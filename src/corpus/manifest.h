/* Reading back the prep options a corpus records in CORPUS/manifest.json (docs/corpus.md).
 *
 * A classifier records the options that decide a flow's tokens (cut, anonymisation, flow
 * table, filters) so that `pktlm classify` builds tokens exactly as the training corpus's
 * prep did, and `pktlm eval` can refuse a corpus made differently (docs/classify.md). The
 * manifest is written by prep itself (write_manifest in prep.c), so this is a small reader of
 * that known layout, not a general JSON parser: it looks up each key inside the "config"
 * object, and "seed" at the top level. */
#ifndef PKTLM_MANIFEST_H
#define PKTLM_MANIFEST_H
#include <stddef.h>
#include "corpus/prep.h"

/* Fill c (on top of prep_cfg_default) from CORPUS_DIR/manifest.json. *secret_used is set to 1
 * when prep had an anonymisation secret (never written out, so c->secret stays NULL).
 * Returns 0 ok, 1 when the manifest does not exist (err says so), -1 when it is unreadable or
 * a value is missing or malformed (err names the file, the key and the byte offset). */
int prep_cfg_from_manifest(const char *corpus_dir, prep_cfg *c, int *secret_used, char *err, size_t errlen);

/* The first token-relevant option on which a and b differ, as prep's command-line option with
 * both values ("--payload 32 vs 64"), in buf; returns 0 when they agree. Compared: the options
 * of corpus/prepopts.c marked `tokens` 1 (the cut, the filters, the flow timeouts, the
 * anonymisation). Not the seed: it picks the split and the (keyed, random) anonymisation maps,
 * not how tokens are made, so a corpus of other captures made with another seed is comparable. */
int prep_cfg_diff(const prep_cfg *a, const prep_cfg *b, char *buf, size_t n);

/* "--payload 32 --max-bytes 192 ... --seed 7": the token-relevant options of c that differ
 * from prep's defaults, and the seed (empty when none), for messages. */
void prep_cfg_describe(const prep_cfg *c, char *buf, size_t n);
/* The "path" of every entry of the manifest's "inputs", in order: entry i is the capture that
 * shard sequences with file = i come from (the exporters name captures by it). NULL with err
 * set when the manifest is missing or not prep's layout; free each and the array. */
char **manifest_input_paths(const char *corpus_dir, int *n, char *err, size_t errlen);
#endif
