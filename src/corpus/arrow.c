/* Arrow IPC file reader/writer for one list<int32> column: see arrow.h.
 *
 * The IPC file (Arrow columnar format spec, "IPC File Format"):
 *   "ARROW1" 00 00 | messages | footer flatbuffer | int32 footer length | "ARROW1"
 * and a message is  FFFFFFFF | int32 metadata length | Message flatbuffer (padded to 8) | body.
 * Flatbuffers (flatbuffers.dev, "Internals"): a buffer starts with a uint32 offset to its root
 * table; a table starts with an int32 soffset back to its vtable (uint16 vtable bytes, uint16
 * table bytes, uint16 offset of each field from the table start, 0 = absent); an offset field
 * (uint32) counts forward from where it is stored; a vector is a uint32 count then its
 * elements; a string a uint32 length, its bytes and a 0.
 * The tables used (Schema.fbs, Message.fbs, File.fbs; field numbers, a union takes two: its
 * type then its value):
 *   Message     0 version:short (V5 = 4), 1 header_type:ubyte (1 Schema, 3 RecordBatch),
 *               2 header, 3 bodyLength:long
 *   Schema      0 endianness:short (0 little), 1 fields:[Field]
 *   Field       0 name:string, 1 nullable:bool, 2 type_type:ubyte (2 Int, 12 List), 3 type,
 *               4 dictionary, 5 children:[Field]
 *   Int         0 bitWidth:int, 1 is_signed:bool;   List has no fields
 *   RecordBatch 0 length:long, 1 nodes:[FieldNode{length:long, null_count:long}],
 *               2 buffers:[Buffer{offset:long, length:long}], 3 compression
 *   Footer      0 version:short, 1 schema:Schema, 2 dictionaries:[Block], 3 recordBatches:[Block]
 *   Block       struct {offset:long, metaDataLength:int, (4 bytes padding), bodyLength:long}
 * A list<int32> column has two field nodes (the lists, the values) and four buffers (list
 * validity, int32 offsets, value validity, int32 values). */
#include "corpus/arrow.h"
#include "util/util.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { V5 = 4, HDR_SCHEMA = 1, HDR_BATCH = 3, TYPE_INT = 2, TYPE_LIST = 12 };
static const char MAGIC[6] = { 'A', 'R', 'R', 'O', 'W', '1' };

static void wr64le(uint8_t *p, uint64_t v) { wr32le(p, (uint32_t)v); wr32le(p + 4, (uint32_t)(v >> 32)); }

/* ---------------------------------------------------------------- writer ---- */

/* A flatbuffer built front to back: a parent first, its children after it (offsets count
 * forward), each offset slot patched once its target is written. */
typedef struct { uint8_t *b; size_t n, cap; int oom; } fbuf;

static void fb_put(fbuf *f, const void *p, size_t k) {
    if (f->oom) return;
    if (f->n + k > f->cap) {
        size_t c = f->cap ? f->cap * 2 : 1024;
        while (c < f->n + k) c *= 2;
        uint8_t *q = realloc(f->b, c);
        if (!q) { f->oom = 1; return; }
        f->b = q; f->cap = c;
    }
    if (p) memcpy(f->b + f->n, p, k); else memset(f->b + f->n, 0, k);
    f->n += k;
}
static void fb_pad(fbuf *f, size_t a, size_t rem) { while (!f->oom && f->n % a != rem) fb_put(f, NULL, 1); }
static void fb_patch(fbuf *f, size_t slot, size_t target) { if (!f->oom) wr32le(f->b + slot, (uint32_t)(target - slot)); }

/* A field of a table: size 1, 2, 4 or 8 (a scalar of value v), -1 (an offset, patched later),
 * 0 (absent). */
typedef struct { int size; uint64_t v; } fbfield;

/* The vtable, then the table; slot[i] = where field i is. Returns the table's position. */
static size_t fb_table(fbuf *f, int nf, const fbfield *fl, size_t *slot) {
    fb_pad(f, 2, 0);
    size_t vt = f->n, t0 = vt + 4 + 2 * (size_t)nf;
    while (t0 % 8 != 4) t0++;   /* the soffset ends 8-aligned: 8-byte fields can follow it */
    uint16_t off[16] = { 0 };
    size_t p = t0 + 4;
    for (int i = 0; i < nf; i++) {
        int s = fl[i].size < 0 ? 4 : fl[i].size;
        if (!s) continue;
        while (p % (size_t)s) p++;
        off[i] = (uint16_t)(p - t0);
        p += (size_t)s;
    }
    uint8_t h[4 + 2 * 16];
    wr16le(h, (uint16_t)(4 + 2 * nf));
    wr16le(h + 2, (uint16_t)(p - t0));
    for (int i = 0; i < nf; i++) wr16le(h + 4 + 2 * i, off[i]);
    fb_put(f, h, 4 + 2 * (size_t)nf);
    while (f->n < t0) fb_put(f, NULL, 1);
    uint8_t so[4];
    wr32le(so, (uint32_t)(t0 - vt));
    fb_put(f, so, 4);
    for (int i = 0; i < nf; i++) {
        if (!off[i]) { if (slot) slot[i] = 0; continue; }
        while (f->n < t0 + off[i]) fb_put(f, NULL, 1);
        uint8_t v[8];
        int s = fl[i].size < 0 ? 4 : fl[i].size;
        wr64le(v, fl[i].size < 0 ? 0 : fl[i].v);   /* little-endian: the low s bytes */
        if (slot) slot[i] = f->n;
        fb_put(f, v, (size_t)s);
    }
    while (f->n < t0 + (p - t0)) fb_put(f, NULL, 1);
    return t0;
}

/* A vector of count elements of elem bytes, aligned to align (the data, not the count); data
 * NULL = zeros (offset slots to patch at pos + 4 + 4 i). Returns the count's position. */
static size_t fb_vec(fbuf *f, uint32_t count, size_t elem, size_t align, const void *data) {
    fb_pad(f, align < 4 ? 4 : align, align <= 4 ? 0 : align - 4);
    size_t pos = f->n;
    uint8_t c[4];
    wr32le(c, count);
    fb_put(f, c, 4);
    fb_put(f, data, count * elem);
    return pos;
}

static size_t fb_string(fbuf *f, const char *s) {
    size_t pos = fb_vec(f, (uint32_t)strlen(s), 1, 1, s);
    fb_put(f, NULL, 1);
    return pos;
}

/* Field {name, nullable, type}: List of child, or Int 32 signed when child is NULL. */
static size_t put_field(fbuf *f, const char *name, int list_of_int) {
    fbfield fl[6] = { { -1, 0 }, { 1, 1 }, { 1, list_of_int ? TYPE_LIST : TYPE_INT }, { -1, 0 }, { 0, 0 }, { -1, 0 } };
    size_t s[6];
    size_t pos = fb_table(f, 6, fl, s);
    fb_patch(f, s[0], fb_string(f, name));
    if (list_of_int) {
        fb_patch(f, s[3], fb_table(f, 0, NULL, NULL));       /* List {} */
        size_t ch = fb_vec(f, 1, 4, 4, NULL);
        fb_patch(f, s[5], ch);
        fb_patch(f, ch + 4, put_field(f, "item", 0));
    } else {
        fbfield it[2] = { { 4, 32 }, { 1, 1 } };             /* Int {bitWidth 32, is_signed} */
        fb_patch(f, s[3], fb_table(f, 2, it, NULL));
        fb_patch(f, s[5], fb_vec(f, 0, 4, 4, NULL));          /* no children (readers want the vector) */
    }
    return pos;
}

static size_t put_schema(fbuf *f, const char *column) {
    fbfield fl[2] = { { 0, 0 }, { -1, 0 } };   /* endianness: default little */
    size_t s[2];
    size_t pos = fb_table(f, 2, fl, s);
    size_t v = fb_vec(f, 1, 4, 4, NULL);
    fb_patch(f, s[1], v);
    fb_patch(f, v + 4, put_field(f, column, 1));
    return pos;
}

/* A Message flatbuffer with a Schema or a RecordBatch header. */
static void put_message(fbuf *f, const char *column, uint64_t body, uint64_t n, uint64_t nv, const uint8_t *bufs) {
    fb_put(f, NULL, 4);   /* root offset */
    fbfield fl[4] = { { 2, V5 }, { 1, column ? HDR_SCHEMA : HDR_BATCH }, { -1, 0 }, { 8, body } };
    size_t s[4];
    fb_patch(f, 0, fb_table(f, 4, fl, s));
    if (column) { fb_patch(f, s[2], put_schema(f, column)); return; }
    fbfield rb[3] = { { 8, n }, { -1, 0 }, { -1, 0 } };
    size_t r[3];
    fb_patch(f, s[2], fb_table(f, 3, rb, r));
    uint8_t nodes[32];
    wr64le(nodes, n); wr64le(nodes + 8, 0); wr64le(nodes + 16, nv); wr64le(nodes + 24, 0);
    fb_patch(f, r[1], fb_vec(f, 2, 16, 8, nodes));
    fb_patch(f, r[2], fb_vec(f, 4, 16, 8, bufs));
}

static int put(FILE *fp, const void *p, size_t k) { return fwrite(p, 1, k, fp) == k ? 0 : -1; }
static int put_zeros(FILE *fp, size_t k) { static const uint8_t z[8]; return put(fp, z, k); }

/* One encapsulated message: FFFFFFFF, length, the flatbuffer padded to 8. Returns the bytes
 * written (the Block's metaDataLength), 0 on error. */
static size_t put_encapsulated(FILE *fp, const fbuf *f) {
    size_t meta = (f->n + 7) / 8 * 8;
    uint8_t h[8];
    wr32le(h, 0xffffffffu); wr32le(h + 4, (uint32_t)meta);
    if (put(fp, h, 8) || put(fp, f->b, f->n) || put_zeros(fp, meta - f->n)) return 0;
    return 8 + meta;
}

int arrow_write_lists(const char *path, const char *column, const int32_t *v, const uint64_t *offs, uint64_t n,
                      char *err, size_t errlen) {
    uint64_t nv = n ? offs[n] - offs[0] : 0;
    if (nv > 0x7fffffffu || n > 0x7fffffffu) { snprintf(err, errlen, "%s: %llu values: more than an int32 list holds", path, (unsigned long long)nv); return -1; }
    atomic_file a;
    FILE *fp = atomic_open(&a, path, err, errlen);
    if (!fp) return -1;
    fbuf sm = { 0 }, bm = { 0 }, ft = { 0 };
    /* body: the int32 offsets (from 0), then the values, each padded to 8 */
    uint64_t ob = 4 * (n + 1), obp = (ob + 7) / 8 * 8, vb = 4 * nv, vbp = (vb + 7) / 8 * 8;
    uint8_t bufs[64] = { 0 };
    wr64le(bufs + 16, 0); wr64le(bufs + 24, ob);          /* list offsets */
    wr64le(bufs + 32, obp); wr64le(bufs + 48, obp);       /* value validity (empty) at obp, values */
    wr64le(bufs + 56, vb);
    put_message(&sm, column, 0, 0, 0, NULL);
    put_message(&bm, NULL, obp + vbp, n, nv, bufs);
    int bad = sm.oom || bm.oom;
    uint8_t head[8] = { 'A', 'R', 'R', 'O', 'W', '1', 0, 0 };
    bad = bad || put(fp, head, 8);
    size_t m1 = bad ? 0 : put_encapsulated(fp, &sm);
    uint64_t rb_off = 8 + m1;
    size_t m2 = !m1 ? 0 : put_encapsulated(fp, &bm);
    bad = bad || !m1 || !m2;
    uint8_t w[4096];
    size_t k = 0;
    for (uint64_t i = 0; i <= n && !bad; i++) {   /* offsets, written 1024 at a time */
        wr32le(w + 4 * k++, (uint32_t)(offs[i] - offs[0]));
        if (k == 1024 || i == n) { bad = put(fp, w, 4 * k); k = 0; }
    }
    bad = bad || put_zeros(fp, obp - ob);
    for (uint64_t i = 0; i < nv && !bad; i++) {
        wr32le(w + 4 * k++, (uint32_t)v[offs[0] + i]);
        if (k == 1024 || i + 1 == nv) { bad = put(fp, w, 4 * k); k = 0; }
    }
    bad = bad || put_zeros(fp, vbp - vb);
    /* footer: version, schema, the one record batch's block */
    fb_put(&ft, NULL, 4);
    fbfield fl[4] = { { 2, V5 }, { -1, 0 }, { 0, 0 }, { -1, 0 } };
    size_t s[4];
    fb_patch(&ft, 0, fb_table(&ft, 4, fl, s));
    fb_patch(&ft, s[1], put_schema(&ft, column));
    uint8_t blk[24] = { 0 };
    wr64le(blk, rb_off); wr32le(blk + 8, (uint32_t)m2); wr64le(blk + 16, obp + vbp);
    fb_patch(&ft, s[3], fb_vec(&ft, 1, 24, 8, blk));
    uint8_t tail[10];
    wr32le(tail, (uint32_t)ft.n); memcpy(tail + 4, MAGIC, 6);
    bad = bad || ft.oom || put(fp, ft.b, ft.n) || put(fp, tail, 10);
    free(sm.b); free(bm.b); free(ft.b);
    if (bad) { snprintf(err, errlen, "%s: cannot write: %s", path, sm.oom || bm.oom || ft.oom ? "out of memory" : strerror(errno)); atomic_abort(&a); return -1; }
    return atomic_commit(&a, err, errlen);
}

/* ---------------------------------------------------------------- reader ---- */

/* A flatbuffer at base..base+len of the file image; every access is checked, the first bad
 * one is remembered with its file offset. */
typedef struct {
    const uint8_t *img; size_t size;   /* the whole file */
    size_t base, len;                  /* this flatbuffer */
    long bad;                          /* file offset of the first bad access, -1 none */
} fbr;

static int in(fbr *r, size_t pos, size_t k) {
    if (pos <= r->len && k <= r->len - pos) return 1;
    if (r->bad < 0) r->bad = (long)(r->base + (pos < r->len ? pos : r->len));
    return 0;
}
static uint32_t u32(fbr *r, size_t pos) { return in(r, pos, 4) ? rd32le(r->img + r->base + pos) : 0; }
static uint64_t u64(fbr *r, size_t pos) { return in(r, pos, 8) ? rd64le(r->img + r->base + pos) : 0; }
static size_t deref(fbr *r, size_t pos) { uint32_t o = u32(r, pos); return r->bad < 0 && o && in(r, pos + o, 4) ? pos + o : 0; }

/* Position of field i of the table at t, 0 when absent. */
static size_t field(fbr *r, size_t t, int i) {
    if (!t) return 0;
    int32_t so = (int32_t)u32(r, t);
    size_t vt = (size_t)((long)t - so);
    if (r->bad >= 0 || (long)t - so < 0 || !in(r, vt, 4)) { if (r->bad < 0) r->bad = (long)(r->base + t); return 0; }
    uint16_t vlen = rd16le(r->img + r->base + vt);
    if (vlen < 4 || !in(r, vt, vlen) || 4 + 2 * (size_t)i + 2 > vlen) return 0;
    uint16_t o = rd16le(r->img + r->base + vt + 4 + 2 * i);
    return o ? t + o : 0;
}
static uint64_t scalar(fbr *r, size_t t, int i, int size, uint64_t dflt) {
    size_t p = field(r, t, i);
    if (!p || !in(r, p, (size_t)size)) return dflt;
    const uint8_t *b = r->img + r->base + p;
    return size == 1 ? b[0] : size == 2 ? rd16le(b) : size == 4 ? rd32le(b) : rd64le(b);
}
static size_t table(fbr *r, size_t t, int i) { size_t p = field(r, t, i); return p ? deref(r, p) : 0; }
/* A vector field: its element count and the position of its first element. */
static uint32_t vec(fbr *r, size_t t, int i, size_t elem, size_t *first) {
    size_t v = table(r, t, i);
    if (!v) return 0;
    uint32_t n = u32(r, v);
    if (!in(r, v + 4, (size_t)n * elem)) return 0;
    *first = v + 4;
    return n;
}
static int name_is(fbr *r, size_t fld, const char *want) {
    size_t s = table(r, fld, 0);
    if (!s) return 0;
    uint32_t n = u32(r, s);
    return in(r, s + 4, n) && n == strlen(want) && !memcmp(r->img + r->base + s + 4, want, n);
}

static int fail(char *err, size_t errlen, const char *path, long at, const char *what) {
    snprintf(err, errlen, "%s: %s at byte offset %ld", path, what, at);
    return -1;
}

/* The schema: one column, list<int32> (named column when given). */
static int check_schema(fbr *r, size_t sch, const char *path, const char *column, char *err, size_t errlen) {
    size_t f0;
    uint32_t nf = vec(r, sch, 1, 4, &f0);
    if (r->bad >= 0) return fail(err, errlen, path, r->bad, "corrupt schema");
    if (nf != 1) {
        snprintf(err, errlen, "%s: %u columns: a token file has one, `%s: list<int32>`", path, nf, column ? column : "token_sequences");
        return -1;
    }
    size_t fld = deref(r, f0), ch0;
    if (column && !name_is(r, fld, column)) { snprintf(err, errlen, "%s: its column is not named '%s'", path, column); return -1; }
    if (scalar(r, fld, 2, 1, 0) != TYPE_LIST || vec(r, fld, 5, 4, &ch0) != 1) {
        snprintf(err, errlen, "%s: the column is not a list (list<int32> expected)", path);
        return -1;
    }
    size_t item = deref(r, ch0), it = table(r, item, 3);
    if (scalar(r, item, 2, 1, 0) != TYPE_INT || !it || scalar(r, it, 0, 4, 0) != 32 || scalar(r, it, 1, 1, 0) != 1) {
        snprintf(err, errlen, "%s: the lists do not hold int32 values (list<int32> expected)", path);
        return -1;
    }
    return r->bad >= 0 ? fail(err, errlen, path, r->bad, "corrupt schema") : 0;
}

static int grow(arrow_seqs *s, uint64_t n, uint64_t nv) {
    int32_t *v = realloc(s->values, (size_t)(s->n_values + nv + 1) * sizeof *v);
    if (v) s->values = v;
    uint64_t *o = realloc(s->offs, (size_t)(s->n + n + 1) * sizeof *o);
    if (o) s->offs = o;
    return v && o ? 0 : -1;
}

/* One record batch: its footer block {offset, metaDataLength, bodyLength}. */
static int read_batch(const uint8_t *img, size_t size, uint64_t off, uint64_t metalen, uint64_t bodylen, const char *path,
                      arrow_seqs *out, char *err, size_t errlen) {
    if (off > size || size - off < 8) return fail(err, errlen, path, (long)off, "record batch outside the file");
    size_t mstart = (size_t)off + 8;
    uint32_t mlen = rd32le(img + off + 4);
    if (rd32le(img + off) != 0xffffffffu) { mlen = rd32le(img + off); mstart = (size_t)off + 4; }   /* before format 0.15 */
    if (mlen > size - mstart) return fail(err, errlen, path, (long)off, "message metadata longer than the file");
    fbr r = { img, size, mstart, mlen, -1 };
    size_t msg = deref(&r, 0);
    if (scalar(&r, msg, 1, 1, 0) != HDR_BATCH) return fail(err, errlen, path, (long)off, "a message that is not a record batch");
    size_t rb = table(&r, msg, 2);
    if (field(&r, rb, 3)) return fail(err, errlen, path, (long)off, "a compressed record batch (not supported)");
    uint64_t len = scalar(&r, rb, 0, 8, 0);
    size_t np, bp;
    uint32_t nn = vec(&r, rb, 1, 16, &np), nb = vec(&r, rb, 2, 16, &bp);
    if (r.bad >= 0) return fail(err, errlen, path, r.bad, "corrupt record batch metadata");
    if (nn != 2 || nb != 4) return fail(err, errlen, path, (long)off, "a record batch without one list<int32> column");
    if (u64(&r, np) != len || u64(&r, np + 8) != 0 || u64(&r, np + 24) != 0)
        return fail(err, errlen, path, (long)(mstart + np), "null sequences or values (not supported)");
    if (metalen > size - off) return fail(err, errlen, path, (long)off, "record batch metadata outside the file");
    size_t body = (size_t)(off + metalen);   /* the body follows the block's metadata length */
    if (bodylen > size - body) return fail(err, errlen, path, (long)off, "record batch body outside the file");
    uint64_t oo = u64(&r, bp + 16), ol = u64(&r, bp + 24), vo = u64(&r, bp + 48), vl = u64(&r, bp + 56);
    if (len >= 0x7fffffff || oo > bodylen || ol > bodylen - oo || ol < 4 * (len + 1) || vo > bodylen || vl > bodylen - vo)
        return fail(err, errlen, path, (long)(mstart + bp), "buffers outside the record batch body");
    const uint8_t *O = img + body + oo, *V = img + body + vo;
    uint32_t first = rd32le(O), last = rd32le(O + 4 * len);
    if (first > last || (uint64_t)last * 4 > vl) return fail(err, errlen, path, (long)(body + oo), "list offsets beyond the values");
    if (grow(out, len, last - first)) { snprintf(err, errlen, "%s: out of memory", path); return -1; }
    if (out->n == 0) out->offs[0] = 0;
    for (uint64_t i = 0; i < len; i++) {
        uint32_t a = rd32le(O + 4 * i), b = rd32le(O + 4 * i + 4);
        if (b < a || b > last) return fail(err, errlen, path, (long)(body + oo + 4 * i), "list offsets not increasing");
        out->offs[out->n + i + 1] = out->offs[out->n] + (b - first);
    }
    for (uint64_t i = 0; i < (uint64_t)(last - first); i++) out->values[out->n_values + i] = (int32_t)rd32le(V + 4 * (first + i));
    out->n += len;
    out->n_values += last - first;
    return 0;
}

int arrow_read_lists(const char *path, const char *column, arrow_seqs *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp) { snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); return -1; }
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *img = sz > 0 ? malloc((size_t)sz) : NULL;
    if (sz < 0 || (sz > 0 && !img) || (sz > 0 && fread(img, 1, (size_t)sz, fp) != (size_t)sz)) {
        fclose(fp); free(img);
        snprintf(err, errlen, "%s: cannot read", path);
        return -1;
    }
    fclose(fp);
    size_t size = (size_t)sz;
    int rc = -1;
    if (size < 8 + 10 || memcmp(img, MAGIC, 6)) { fail(err, errlen, path, 0, "not an Arrow IPC file (no ARROW1 magic)"); goto done; }
    if (memcmp(img + size - 6, MAGIC, 6)) { fail(err, errlen, path, (long)size - 6, "no ARROW1 magic at the end (a cut file, or the stream format)"); goto done; }
    uint32_t flen = rd32le(img + size - 10);
    if (flen > size - 18) { fail(err, errlen, path, (long)size - 10, "footer length beyond the file"); goto done; }
    fbr r = { img, size, size - 10 - flen, flen, -1 };
    size_t foot = deref(&r, 0);
    if (check_schema(&r, table(&r, foot, 1), path, column, err, errlen)) goto done;
    size_t bp;
    uint32_t nb = vec(&r, foot, 3, 24, &bp);
    if (r.bad >= 0) { fail(err, errlen, path, r.bad, "corrupt footer"); goto done; }
    out->offs = calloc(1, sizeof *out->offs);
    if (!out->offs) { snprintf(err, errlen, "%s: out of memory", path); goto done; }
    for (uint32_t i = 0; i < nb; i++) {
        uint64_t off = u64(&r, bp + 24 * i), meta = u32(&r, bp + 24 * i + 8), body = u64(&r, bp + 24 * i + 16);
        if (read_batch(img, size, off, meta, body, path, out, err, errlen)) goto done;
    }
    rc = 0;
done:
    free(img);
    if (rc) arrow_seqs_free(out);
    return rc;
}

void arrow_seqs_free(arrow_seqs *s) {
    free(s->values); free(s->offs);
    memset(s, 0, sizeof *s);
}
