/* pktlm: the C library behind the `pktlm` tool (libpktlm.a), one header for a program that
 * links it:
 *
 *     #include <pktlm.h>
 *     cc prog.c $(pkg-config --cflags --libs pktlm)
 *
 * `make install` puts this file and the library's own headers (one folder per stage, as in
 * the source tree: docs/architecture.md) under PREFIX/include/pktlm/, the archive under
 * PREFIX/lib and pktlm.pc under PREFIX/lib/pkgconfig. The stages below are included in their
 * pipeline order; each header documents its functions. */
#ifndef PKTLM_H
#define PKTLM_H
#include "util/util.h"            /* clocks, progress, atomic files, JSON escaping */
#include "capture/capture.h"      /* pcap/pcapng reader and writer */
#include "capture/packet.h"       /* link/IP/transport parser */
#include "flow/flow.h"            /* bidirectional 5-tuple flow table */
#include "corpus/prep.h"          /* captures -> anonymised token corpus */
#include "corpus/shard.h"         /* token shards */
#include "corpus/vocab.h"         /* vocab.json: label names */
#include "models/model.h"         /* backbones, the config field table */
#include "models/checkpoint.h"    /* the model file */
#include "train/pretrain.h"       /* causal-LM training */
#include "train/finetune.h"       /* flow classifiers */
#include "gen/generate.h"         /* sampling flows into a valid trace */
#include "eval/metrics.h"         /* accuracy, F1, confusion matrices */
#endif
