/* Capture I/O: our own pcap / pcapng reader and a pcap writer.
 *
 * The reader fills a large buffer with read() (no mmap, so RSS stays flat on captures of
 * any size and pipes work) and hands out packets that point into that buffer: no
 * allocation per packet. Every error names the file and the byte offset of the record
 * that could not be read; all packets before it have been delivered.
 * See docs/capture.md for the formats and link types handled. */
#ifndef PKTLM_CAPTURE_H
#define PKTLM_CAPTURE_H
#include <stdint.h>
#include <stdio.h>
#include "util/util.h"

enum cap_format { CAP_NONE = 0, CAP_PCAP, CAP_PCAP_NS, CAP_PCAP_MOD, CAP_PCAPNG };

/* Link types (LINKTYPE_* values as stored in files). */
enum {
    LT_NULL = 0, LT_ETHERNET = 1, LT_PPP = 9, LT_RAW_12 = 12, LT_RAW_14 = 14, LT_PPP_HDLC = 50,
    LT_PPP_ETHER = 51, LT_RAW = 101, LT_C_HDLC = 104, LT_IEEE802_11 = 105, LT_LOOP = 108,
    LT_LINUX_SLL = 113, LT_RADIOTAP = 127, LT_IPV4 = 228, LT_IPV6 = 229, LT_LINUX_SLL2 = 276,
};

typedef struct {
    int64_t ts_ns;          /* nanoseconds since the epoch */
    uint32_t caplen, len;   /* bytes captured, bytes on the wire */
    uint16_t linktype;
    uint16_t iface;         /* pcapng interface index within its section (0 for pcap) */
    const uint8_t *data;    /* valid until the next cap_next() */
    uint64_t offset;        /* byte offset of this record in the file */
} cap_pkt;

typedef struct {
    uint16_t linktype;
    uint32_t snaplen;
    /* ticks -> ns: ns = ticks * mul / div when pow2 == 0, else (ticks * 1e9) >> pow2 */
    uint64_t mul, div;
    int pow2;
    int64_t offset_ns;      /* if_tsoffset */
} cap_iface;

typedef struct {
    char *path;
    int fd, own_fd;
    uint8_t *buf;
    size_t cap, lo, hi;     /* unread bytes are buf[lo..hi) */
    uint64_t base;          /* file offset of buf[0] */
    int eof;
    uint64_t file_size;     /* 0 when unknown (pipe) */
    int fmt;
    int swap;               /* section written in the other byte order */
    /* pcap */
    uint32_t snaplen;
    uint16_t linktype;
    uint32_t rec_hdr;       /* 16, or 24 for the modified (Kuznetzov) format */
    int len_swap;           /* pcap < 2.3: caplen and len swapped (2 always, 1 when caplen > len) */
    /* pcapng */
    cap_iface *ifs;
    int nifs, ifs_cap, nsections;
    /* counters */
    uint64_t packets, bytes_read;
    uint64_t skipped_blocks;   /* pcapng blocks we do not use (stats, name resolution, custom) */
    uint64_t bad_blocks;       /* packets naming an undefined interface, etc.: skipped, warned */
    char warn[256];            /* first warning, if any */
    char err[512];             /* set when cap_open / cap_next fail */
} cap_reader;

/* Open a capture ("-" is standard input). 0 on success, -1 with r->err set; after a
 * failure nothing is held (calling cap_close() anyway is harmless). */
int cap_open(cap_reader *r, const char *path);
/* The same on a descriptor the caller owns (cap_close leaves it open), read from its current
 * offset; name is the file name used in messages. */
int cap_open_fd(cap_reader *r, int fd, const char *name);
/* Next packet: 1 = packet in *p, 0 = clean end of file, -1 = error (r->err names file + offset). */
int cap_next(cap_reader *r, cap_pkt *p);
void cap_close(cap_reader *r);
/* Link type of a pcap file, or of the first interface of a pcapng file (-1 if none yet). */
int cap_linktype(const cap_reader *r);

/* 1 when the file starts with a pcap or pcapng magic (used to pick captures out of folders). */
int cap_sniff(const char *path);
const char *cap_format_name(int fmt);
const char *linktype_name(int lt);   /* "ether", "rawip", ... or NULL when unknown */

/* pcap writer: writes PATH.tmp.PID and renames it into place on close, so a crash never
 * leaves a half-written file under the user's name. */
typedef struct {
    atomic_file out;
    FILE *f;              /* = out.f */
    int nsec, pcapng;
    uint32_t snaplen;
    uint64_t packets;
    int failed;
} cap_writer;
int cap_writer_open(cap_writer *w, const char *path, uint16_t linktype, int nsec, uint32_t snaplen);
/* The same, as pcapng (one section, one interface, if_tsresol 9 when nsec) when pcapng != 0. */
int cap_writer_open_fmt(cap_writer *w, const char *path, uint16_t linktype, int nsec, uint32_t snaplen, int pcapng);
int cap_writer_write(cap_writer *w, int64_t ts_ns, const uint8_t *data, uint32_t caplen, uint32_t len);
int cap_writer_close(cap_writer *w);   /* 0 on success; the file exists only then */
void cap_writer_abort(cap_writer *w);  /* drop the temporary file */
#endif
