/* pcap and pcapng reader.
 *
 * Why our own: libpcap reads one format per handle, stops at the first pcapng interface
 * whose link type differs from the first one, and costs ~2x the time of a buffered read.
 * Here the file is read with read() into a buffer (4 MiB, grown only for larger records)
 * and records are parsed in place. A record that straddles the end of the buffer is
 * moved to the front before the next read. */
#include "capture/capture.h"
#include "util/util.h"
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

#define BUF_SIZE (4u << 20)
#define MAX_RECORD (64u << 20)      /* larger blocks are taken as corruption */
#define PCAP_MAX_CAPLEN 262144u     /* libpcap's limit for ordinary link types */

#define PCAP_MAGIC_US  0xa1b2c3d4u
#define PCAP_MAGIC_NS  0xa1b23c4du
#define PCAP_MAGIC_MOD 0xa1b2cd34u  /* Alexey Kuznetzov's modified format: 24-byte records */
#define PCAPNG_SHB     0x0a0d0d0au
#define PCAPNG_BOM     0x1a2b3c4du

static uint32_t bswap32(uint32_t v) { return v >> 24 | (v >> 8 & 0xff00) | (v << 8 & 0xff0000) | v << 24; }
static uint16_t bswap16(uint16_t v) { return (uint16_t)(v >> 8 | v << 8); }
static uint32_t r32(const cap_reader *r, const uint8_t *p) { uint32_t v = rd32le(p); return r->swap ? bswap32(v) : v; }
static uint16_t r16(const cap_reader *r, const uint8_t *p) { uint16_t v = rd16le(p); return r->swap ? bswap16(v) : v; }

static int fail(cap_reader *r, uint64_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(cap_reader *r, uint64_t off, const char *fmt, ...) {
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(r->err, sizeof r->err, "%s: %s at byte offset %llu", r->path, msg, (unsigned long long)off);
    return -1;
}

static void warn(cap_reader *r, uint64_t off, const char *msg) {
    r->bad_blocks++;
    if (!r->warn[0]) snprintf(r->warn, sizeof r->warn, "%s at byte offset %llu", msg, (unsigned long long)off);
}

/* Make at least n unread bytes available. Returns the number available (< n only at EOF),
 * or -1 on a read error. */
static long ensure(cap_reader *r, size_t n) {
    if (r->hi - r->lo >= n) return (long)(r->hi - r->lo);
    if (n > r->cap) {
        size_t nc = r->cap;
        while (nc < n) nc *= 2;
        uint8_t *b = malloc(nc);
        if (!b) return -1;
        memcpy(b, r->buf + r->lo, r->hi - r->lo);
        free(r->buf);
        r->buf = b; r->cap = nc;
        r->base += r->lo; r->hi -= r->lo; r->lo = 0;
    } else if (r->lo > 0) {
        memmove(r->buf, r->buf + r->lo, r->hi - r->lo);
        r->base += r->lo; r->hi -= r->lo; r->lo = 0;
    }
    while (!r->eof && r->hi - r->lo < n) {
        ssize_t got = read(r->fd, r->buf + r->hi, r->cap - r->hi);
        if (got < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (got == 0) r->eof = 1;
        r->hi += (size_t)got;
        r->bytes_read += (uint64_t)got;
    }
    return (long)(r->hi - r->lo);
}

static uint64_t pos(const cap_reader *r) { return r->base + r->lo; }

const char *cap_format_name(int fmt) {
    switch (fmt) {
    case CAP_PCAP: return "pcap";
    case CAP_PCAP_NS: return "pcap-ns";
    case CAP_PCAP_MOD: return "pcap-modified";
    case CAP_PCAPNG: return "pcapng";
    default: return "unknown";
    }
}

const char *linktype_name(int lt) {
    switch (lt) {
    case LT_NULL: return "null";
    case LT_ETHERNET: return "ether";
    case LT_PPP: return "ppp";
    case LT_RAW_12: case LT_RAW_14: case LT_RAW: return "rawip";
    case LT_PPP_HDLC: return "ppp-hdlc";
    case LT_PPP_ETHER: return "pppoe";
    case LT_C_HDLC: return "chdlc";
    case LT_IEEE802_11: return "802.11";
    case LT_LOOP: return "loop";
    case LT_LINUX_SLL: return "linux-sll";
    case LT_RADIOTAP: return "802.11-radiotap";
    case LT_IPV4: return "rawip4";
    case LT_IPV6: return "rawip6";
    case LT_LINUX_SLL2: return "linux-sll2";
    default: return NULL;
    }
}

int cap_sniff(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    uint8_t m[4];
    ssize_t n = read(fd, m, 4);
    close(fd);
    if (n != 4) return 0;
    uint32_t v = rd32le(m);
    return v == PCAPNG_SHB || v == PCAP_MAGIC_US || v == PCAP_MAGIC_NS || v == PCAP_MAGIC_MOD || v == bswap32(PCAP_MAGIC_US) ||
           v == bswap32(PCAP_MAGIC_NS) || v == bswap32(PCAP_MAGIC_MOD);
}

int cap_linktype(const cap_reader *r) {
    if (r->fmt == CAP_PCAPNG) return r->nifs > 0 ? r->ifs[0].linktype : -1;
    return r->fmt ? r->linktype : -1;
}

/* ---- pcapng ---- */

static int add_iface(cap_reader *r, const uint8_t *body, uint32_t blen, uint64_t off) {
    if (blen < 8) return fail(r, off, "interface description block too short (%u bytes)", blen + 12);
    if (r->nifs == r->ifs_cap) {
        int nc = r->ifs_cap ? r->ifs_cap * 2 : 8;
        if (nc > 65536) return fail(r, off, "more than 65536 interfaces");
        cap_iface *n = realloc(r->ifs, (size_t)nc * sizeof *n);
        if (!n) return fail(r, off, "out of memory");
        r->ifs = n; r->ifs_cap = nc;
    }
    cap_iface *f = &r->ifs[r->nifs++];
    f->linktype = r16(r, body);
    f->snaplen = r32(r, body + 4);
    f->mul = 1000; f->div = 1; f->pow2 = 0; f->offset_ns = 0;  /* default: microseconds */
    /* options: code, length, value padded to 4 */
    uint32_t o = 8;
    while (o + 4 <= blen) {
        uint16_t code = r16(r, body + o), len = r16(r, body + o + 2);
        o += 4;
        if (code == 0 || o + len > blen) break;
        if (code == 9 && len >= 1) {   /* if_tsresol */
            uint8_t v = body[o];
            if (v & 0x80) {
                int e = v & 0x7f;
                if (e > 63) return fail(r, off, "interface timestamp resolution 2^-%d not supported", e);
                f->pow2 = e; f->mul = e ? 0 : 1000000000u; f->div = 1;   /* 2^-0: whole seconds */
            } else {
                if (v > 18) return fail(r, off, "interface timestamp resolution 10^-%d not supported", v);
                uint64_t p = 1;
                for (int i = 0; i < (v > 9 ? v - 9 : 9 - v); i++) p *= 10;
                if (v <= 9) { f->mul = p; f->div = 1; } else { f->mul = 1; f->div = p; }
            }
        } else if (code == 14 && len >= 8) {  /* if_tsoffset, seconds */
            uint64_t s = (uint64_t)r32(r, body + o) | (uint64_t)r32(r, body + o + 4) << 32;
            if (r->swap) s = (uint64_t)r32(r, body + o + 4) | (uint64_t)r32(r, body + o) << 32;
            f->offset_ns = (int64_t)(s * 1000000000u);
        }
        o += (len + 3u) & ~3u;
    }
    return 0;
}

/* Unsigned arithmetic: a corrupt timestamp wraps instead of overflowing a signed value. */
static int64_t ticks_to_ns(const cap_iface *f, uint64_t t) {
    uint64_t ns;
    if (f->pow2) ns = (uint64_t)(((unsigned __int128)t * 1000000000u) >> f->pow2);
    else if (f->div > 1) ns = t / f->div;
    else ns = t * f->mul;
    return (int64_t)(ns + (uint64_t)f->offset_ns);
}

/* Section header: sets the byte order. The reader sits at the block start. */
static int read_shb(cap_reader *r) {
    uint64_t off = pos(r);
    long have = ensure(r, 12);
    if (have < 0) return fail(r, off, "read error: %s", strerror(errno));
    if (have < 12) return fail(r, off, "truncated section header block (file ends %ld bytes later)", have);
    const uint8_t *p = r->buf + r->lo;
    uint32_t bom = rd32le(p + 8);
    if (bom == PCAPNG_BOM) r->swap = 0;
    else if (bom == bswap32(PCAPNG_BOM)) r->swap = 1;
    else return fail(r, off + 8, "bad pcapng byte-order magic 0x%08x", bom);
    uint32_t blen = r32(r, p + 4);
    if (blen < 28 || blen % 4 || blen > MAX_RECORD) return fail(r, off, "corrupt section header block length %u", blen);
    have = ensure(r, blen);
    if (have < 0) return fail(r, off, "read error: %s", strerror(errno));
    if ((uint32_t)have < blen) return fail(r, off, "truncated section header block (need %u bytes, file has %ld)", blen, have);
    p = r->buf + r->lo;
    if (r32(r, p + blen - 4) != blen) return fail(r, off, "section header block: trailing length %u != %u", r32(r, p + blen - 4), blen);
    uint16_t major = r16(r, p + 12);
    if (major != 1) return fail(r, off, "pcapng major version %u not supported", major);
    r->nifs = 0;   /* interface ids restart in each section */
    r->nsections++;
    r->lo += blen;
    return 0;
}

static int next_pcapng(cap_reader *r, cap_pkt *pk) {
    for (;;) {
        uint64_t off = pos(r);
        long have = ensure(r, 8);
        if (have < 0) return fail(r, off, "read error: %s", strerror(errno));
        if (have == 0) return 0;
        if (have < 8) return fail(r, off, "truncated block header (%ld bytes left)", have);
        const uint8_t *p = r->buf + r->lo;
        if (rd32le(p) == PCAPNG_SHB) {
            if (read_shb(r) < 0) return -1;
            continue;
        }
        uint32_t type = r32(r, p), blen = r32(r, p + 4);
        if (blen < 12 || blen % 4 || blen > MAX_RECORD)
            return fail(r, off, "corrupt block length %u (block type 0x%08x)", blen, type);
        have = ensure(r, blen);
        if (have < 0) return fail(r, off, "read error: %s", strerror(errno));
        if ((uint32_t)have < blen) return fail(r, off, "truncated block (type 0x%08x needs %u bytes, file has %ld)", type, blen, have);
        p = r->buf + r->lo;
        if (r32(r, p + blen - 4) != blen)
            return fail(r, off, "corrupt block: trailing length %u != leading length %u", r32(r, p + blen - 4), blen);
        const uint8_t *body = p + 8;
        uint32_t bl = blen - 12;
        r->lo += blen;
        if (type == 1) {                         /* interface description */
            if (add_iface(r, body, bl, off) < 0) return -1;
        } else if (type == 6 || type == 2) {     /* enhanced packet / obsolete packet */
            if (bl < 20) { warn(r, off, "packet block too short"); continue; }
            uint32_t ifid = type == 6 ? r32(r, body) : r16(r, body);
            uint32_t caplen = r32(r, body + 12), len = r32(r, body + 16);
            if (ifid >= (uint32_t)r->nifs) { warn(r, off, "packet names an undefined interface"); continue; }
            if (caplen > bl - 20) return fail(r, off, "packet block: captured length %u exceeds block (%u bytes)", caplen, bl - 20);
            uint64_t t = (uint64_t)r32(r, body + 4) << 32 | r32(r, body + 8);
            const cap_iface *f = &r->ifs[ifid];
            pk->ts_ns = ticks_to_ns(f, t);
            pk->caplen = caplen; pk->len = len < caplen ? caplen : len;
            pk->linktype = f->linktype; pk->iface = (uint16_t)ifid;
            pk->data = body + 20; pk->offset = off;
            r->packets++;
            return 1;
        } else if (type == 3) {                  /* simple packet: interface 0, no timestamp */
            if (bl < 4) { warn(r, off, "simple packet block too short"); continue; }
            if (r->nifs == 0) { warn(r, off, "simple packet block before any interface"); continue; }
            uint32_t len = r32(r, body), caplen = bl - 4;
            if (caplen > len) caplen = len;
            if (r->ifs[0].snaplen && caplen > r->ifs[0].snaplen) caplen = r->ifs[0].snaplen;
            pk->ts_ns = 0; pk->caplen = caplen; pk->len = len;
            pk->linktype = r->ifs[0].linktype; pk->iface = 0;
            pk->data = body + 4; pk->offset = off;
            r->packets++;
            return 1;
        } else {
            r->skipped_blocks++;                 /* statistics, name resolution, custom, ... */
        }
    }
}

/* ---- pcap ---- */

static int next_pcap(cap_reader *r, cap_pkt *pk) {
    uint64_t off = pos(r);
    long have = ensure(r, r->rec_hdr);
    if (have < 0) return fail(r, off, "read error: %s", strerror(errno));
    if (have == 0) return 0;
    if ((uint32_t)have < r->rec_hdr) return fail(r, off, "truncated record header (%ld of %u bytes)", have, r->rec_hdr);
    const uint8_t *p = r->buf + r->lo;
    uint32_t sec = r32(r, p), frac = r32(r, p + 4), caplen = r32(r, p + 8), len = r32(r, p + 12);
    if (r->len_swap == 2 || (r->len_swap == 1 && caplen > len)) { uint32_t x = caplen; caplen = len; len = x; }
    /* libpcap's rule: a record longer than both the snapshot length and 256 KiB is corrupt */
    if (caplen > MAX_RECORD || (caplen > PCAP_MAX_CAPLEN && caplen > r->snaplen))
        return fail(r, off, "corrupt record length %u (snapshot length %u)", caplen, r->snaplen);
    have = ensure(r, r->rec_hdr + caplen);
    if (have < 0) return fail(r, off, "read error: %s", strerror(errno));
    if ((uint64_t)have < r->rec_hdr + (uint64_t)caplen)
        return fail(r, off, "truncated record (needs %u bytes of data, file has %ld)", caplen, have - (long)r->rec_hdr);
    p = r->buf + r->lo;
    pk->ts_ns = (int64_t)sec * 1000000000 + (int64_t)frac * (r->fmt == CAP_PCAP_NS ? 1 : 1000);
    pk->caplen = caplen; pk->len = len < caplen ? caplen : len;
    pk->linktype = r->linktype; pk->iface = 0;
    pk->data = p + r->rec_hdr; pk->offset = off;
    r->lo += r->rec_hdr + caplen;
    r->packets++;
    return 1;
}

/* fd >= 0: the caller's descriptor, read from where it is and left open. */
static int open_inner(cap_reader *r, const char *path, int fd) {
    memset(r, 0, sizeof *r);
    r->fd = -1;
    r->path = strdup(path);
    if (!r->path) { snprintf(r->err, sizeof r->err, "out of memory"); return -1; }
    if (fd >= 0) r->fd = fd;
    else if (strcmp(path, "-") == 0) r->fd = 0;
    else {
        r->fd = open(path, O_RDONLY);
        if (r->fd < 0) { snprintf(r->err, sizeof r->err, errno == EINTR ? "%s: interrupted" : "%s: %s", path, strerror(errno)); return -1; }
        r->own_fd = 1;
    }
    if (r->fd != 0) {
        struct stat st;
        if (fstat(r->fd, &st) == 0) {
            if (S_ISDIR(st.st_mode)) { snprintf(r->err, sizeof r->err, "%s: is a directory", path); return -1; }
            if (S_ISREG(st.st_mode)) r->file_size = (uint64_t)st.st_size;
        }
#ifdef POSIX_FADV_SEQUENTIAL
        posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    }
    r->cap = BUF_SIZE;
    r->buf = malloc(r->cap);
    if (!r->buf) { snprintf(r->err, sizeof r->err, "%s: out of memory", path); return -1; }
    long have = ensure(r, 24);
    if (have < 0) { snprintf(r->err, sizeof r->err, "%s: read error: %s", path, strerror(errno)); return -1; }
    if (have == 0) { snprintf(r->err, sizeof r->err, "%s: empty file (0 bytes) at byte offset 0", path); return -1; }
    const uint8_t *p = r->buf;
    uint32_t m = have >= 4 ? rd32le(p) : 0;
    if (m == PCAPNG_SHB) {
        r->fmt = CAP_PCAPNG;
        return read_shb(r);
    }
    int fmt = 0;
    r->swap = 0;
    if (m == PCAP_MAGIC_US) fmt = CAP_PCAP;
    else if (m == PCAP_MAGIC_NS) fmt = CAP_PCAP_NS;
    else if (m == PCAP_MAGIC_MOD) fmt = CAP_PCAP_MOD;
    else if (m == bswap32(PCAP_MAGIC_US)) fmt = CAP_PCAP, r->swap = 1;
    else if (m == bswap32(PCAP_MAGIC_NS)) fmt = CAP_PCAP_NS, r->swap = 1;
    else if (m == bswap32(PCAP_MAGIC_MOD)) fmt = CAP_PCAP_MOD, r->swap = 1;
    if (!fmt) {
        if (have >= 2 && p[0] == 0x1f && p[1] == 0x8b)
            return fail(r, 0, "gzip-compressed file: decompress it first (zcat FILE | pktlm ... -)");
        return fail(r, 0, "not a pcap or pcapng file (magic 0x%08x)", m);
    }
    if (have < 24) return fail(r, 0, "truncated pcap file header (%ld of 24 bytes)", have);
    r->fmt = fmt;
    uint16_t major = r16(r, p + 4);
    if (major != 2) return fail(r, 4, "pcap major version %u not supported", major);
    r->snaplen = r32(r, p + 16);
    /* upper bits of the link-type field carry FCS information, not the type */
    r->linktype = (uint16_t)(r32(r, p + 20) & 0xffff);
    r->rec_hdr = fmt == CAP_PCAP_MOD ? 24 : 16;
    /* Writers before pcap 2.3 stored the two lengths the other way round; 2.3 files may
     * have either order (libpcap's rule, kept so both readers agree). */
    uint16_t minor = r16(r, p + 6);
    r->len_swap = minor < 3 ? 2 : minor == 3 ? 1 : 0;
    r->lo = 24;
    return 0;
}

int cap_open(cap_reader *r, const char *path) {
    if (open_inner(r, path, -1) == 0) return 0;
    cap_close(r);   /* nothing to release for the caller; r->err keeps the message */
    return -1;
}

int cap_open_fd(cap_reader *r, int fd, const char *name) {
    if (open_inner(r, name, fd) == 0) return 0;
    cap_close(r);   /* nothing to release for the caller; r->err keeps the message */
    return -1;
}

int cap_next(cap_reader *r, cap_pkt *pk) {
    if (r->err[0]) return -1;
    if (r->fmt == CAP_PCAPNG) return next_pcapng(r, pk);
    if (r->fmt) return next_pcap(r, pk);
    return -1;
}

void cap_close(cap_reader *r) {
    if (r->own_fd && r->fd >= 0) close(r->fd);
    free(r->buf);
    free(r->ifs);
    free(r->path);
    r->buf = NULL; r->ifs = NULL; r->path = NULL; r->fd = -1; r->own_fd = 0;
}
