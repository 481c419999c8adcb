/* safetensors reader and float32 writer (safetensors.h). JSON through libcjson. */
#include "models/safetensors.h"
#include "util/util.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

float st_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* IEEE half: 1 sign, 5 exponent (bias 15), 10 mantissa bits; subnormals scaled by 2^-24 */
float st_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, mant = h & 1023, u;
    if (e == 31) u = sign | 0x7f800000u | (mant << 13);                 /* inf, nan */
    else if (e) u = sign | ((e + 112) << 23) | (mant << 13);            /* normal: rebias 15 -> 127 */
    else {
        float f = ldexpf((float)mant, -24);                             /* zero, subnormal */
        memcpy(&u, &f, 4);
        u |= sign;
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int dtype_of(const char *s, int *bytes) {
    static const struct { const char *n; int t, b; } k[] = {
        { "F32", ST_F32, 4 }, { "F16", ST_F16, 2 }, { "BF16", ST_BF16, 2 }, { "F64", ST_F64, 8 },
        { "I64", ST_OTHER, 8 }, { "I32", ST_OTHER, 4 }, { "I16", ST_OTHER, 2 }, { "I8", ST_OTHER, 1 },
        { "U64", ST_OTHER, 8 }, { "U32", ST_OTHER, 4 }, { "U16", ST_OTHER, 2 }, { "U8", ST_OTHER, 1 },
        { "BOOL", ST_OTHER, 1 }, { "F8_E4M3", ST_OTHER, 1 }, { "F8_E5M2", ST_OTHER, 1 },
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (!strcmp(s, k[i].n)) { *bytes = k[i].b; return k[i].t; }
    return 0;
}

void st_shape_str(char *b, size_t n, const int64_t *shape, int ndim) {
    size_t o = 0;
    o += (size_t)snprintf(b, n, "[");
    for (int i = 0; i < ndim && o < n; i++) o += (size_t)snprintf(b + o, n - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (o < n) snprintf(b + o, n - o, "]");
}

static int by_name(const void *a, const void *b) { return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name); }
static int by_begin(const void *a, const void *b) {
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

/* a JSON number that is a whole number in [0, 2^53] (cJSON keeps numbers as doubles) */
static int json_u64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d)) return -1;
    *out = (uint64_t)d;
    return 0;
}

void st_close(st_file *s) {
    if (s->f) fclose(s->f);
    for (int i = 0; i < s->n; i++) free(s->t[i].name);
    free(s->t); free(s->path);
    memset(s, 0, sizeof *s);
}

static int fail(st_file *s, cJSON *j, char *hdr) {
    cJSON_Delete(j);
    free(hdr);
    st_close(s);
    return -1;
}

int st_open(st_file *s, const char *path, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    s->path = strdup(path);
    s->f = fopen(path, "rb");
    if (!s->path || !s->f) { snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); return fail(s, NULL, NULL); }
    struct stat sb;
    if (fstat(fileno(s->f), &sb) != 0) { snprintf(err, errlen, "%s: %s", path, strerror(errno)); return fail(s, NULL, NULL); }
    s->file_size = (uint64_t)sb.st_size;
    uint8_t lb[8];
    if (fread(lb, 1, 8, s->f) != 8) {
        snprintf(err, errlen, "%s: not a safetensors file: %llu bytes, shorter than the 8-byte header length", path,
                 (unsigned long long)s->file_size);
        return fail(s, NULL, NULL);
    }
    uint64_t N = rd64le(lb);
    if (N < 2 || N > ST_MAX_HEADER || N > s->file_size - 8) {
        snprintf(err, errlen, "%s: not a safetensors file: header length %llu at byte offset 0 (file %llu bytes, format limit %llu)",
                 path, (unsigned long long)N, (unsigned long long)s->file_size, ST_MAX_HEADER);
        return fail(s, NULL, NULL);
    }
    s->data_off = 8 + N;
    char *hdr = malloc(N + 1);
    if (!hdr) { snprintf(err, errlen, "%s: out of memory for a %llu-byte header", path, (unsigned long long)N); return fail(s, NULL, NULL); }
    if (fread(hdr, 1, N, s->f) != N) { snprintf(err, errlen, "%s: truncated header (byte offset 8)", path); return fail(s, NULL, hdr); }
    hdr[N] = 0;
    if (strlen(hdr) != N) {
        snprintf(err, errlen, "%s: NUL byte in the JSON header at byte offset %zu", path, 8 + strlen(hdr));
        return fail(s, NULL, hdr);
    }
    const char *where = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(hdr, N, &where, 0);
    if (!j || !cJSON_IsObject(j)) {
        snprintf(err, errlen, "%s: bad JSON header near byte offset %llu", path,
                 (unsigned long long)(8 + (where && where >= hdr && where <= hdr + N ? (size_t)(where - hdr) : 0)));
        return fail(s, j, hdr);
    }
    int n = 0;
    for (cJSON *e = j->child; e; e = e->next) n += strcmp(e->string, "__metadata__") != 0;
    s->t = calloc(n ? (size_t)n : 1, sizeof *s->t);
    if (!s->t) { snprintf(err, errlen, "%s: out of memory", path); return fail(s, j, hdr); }
    uint64_t buf = s->file_size - s->data_off;
    for (cJSON *e = j->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            if (!cJSON_IsObject(e)) { snprintf(err, errlen, "%s: __metadata__ is not an object", path); return fail(s, j, hdr); }
            continue;
        }
        st_tensor *t = &s->t[s->n];
        t->name = strdup(e->string);
        if (!t->name) { snprintf(err, errlen, "%s: out of memory", path); return fail(s, j, hdr); }
        s->n++;
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype"), *sh = cJSON_GetObjectItemCaseSensitive(e, "shape"),
                    *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        int bytes = 0;
        if (!cJSON_IsObject(e) || !cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2) {
            snprintf(err, errlen, "%s: tensor '%s': header entry needs dtype, shape and data_offsets [begin, end]", path, t->name);
            return fail(s, j, hdr);
        }
        if (!(t->dtype = dtype_of(dt->valuestring, &bytes))) {
            snprintf(err, errlen, "%s: tensor '%s': unknown dtype '%.16s'", path, t->name, dt->valuestring);
            return fail(s, j, hdr);
        }
        snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dt->valuestring);
        t->ndim = cJSON_GetArraySize(sh);
        if (t->ndim > ST_MAX_DIMS) { snprintf(err, errlen, "%s: tensor '%s': %d dimensions (at most %d)", path, t->name, t->ndim, ST_MAX_DIMS); return fail(s, j, hdr); }
        uint64_t numel = 1;
        int k = 0, bad = 0;
        for (const cJSON *d = sh->child; d; d = d->next, k++) {
            uint64_t v;
            if (json_u64(d, &v)) { bad = 1; break; }
            t->shape[k] = v > INT64_MAX ? INT64_MAX : (int64_t)v;
            /* numel x 8 bytes must fit 64 bits: larger shapes are refused before they overflow */
            if (bad || (v && numel > (UINT64_MAX / 16) / v)) { bad = 2; numel = 0; continue; }
            numel *= v;
        }
        if (bad == 1) { snprintf(err, errlen, "%s: tensor '%s': shape must be non-negative whole numbers", path, t->name); return fail(s, j, hdr); }
        t->numel = numel;
        if (json_u64(of->child, &t->begin) || json_u64(of->child->next, &t->end) || t->end < t->begin) {
            snprintf(err, errlen, "%s: tensor '%s': data_offsets must be whole numbers with begin <= end", path, t->name);
            return fail(s, j, hdr);
        }
        char sb2[160];
        st_shape_str(sb2, sizeof sb2, t->shape, t->ndim);
        if (bad == 2) { snprintf(err, errlen, "%s: tensor '%s': shape %s is too large", path, t->name, sb2); return fail(s, j, hdr); }
        if (t->end - t->begin != numel * (uint64_t)bytes) {
            snprintf(err, errlen, "%s: tensor '%s': %s %s needs %llu bytes, data_offsets give %llu", path, t->name, t->dtype_name,
                     sb2, (unsigned long long)(numel * bytes), (unsigned long long)(t->end - t->begin));
            return fail(s, j, hdr);
        }
    }
    cJSON_Delete(j);
    free(hdr);
    /* the tensors must tile the buffer: sorted by offset, each begins where the one before ends */
    const st_tensor **o = malloc((s->n ? (size_t)s->n : 1) * sizeof *o);
    if (!o) { snprintf(err, errlen, "%s: out of memory", path); return fail(s, NULL, NULL); }
    for (int i = 0; i < s->n; i++) o[i] = &s->t[i];
    qsort(o, (size_t)s->n, sizeof *o, by_begin);
    uint64_t at = 0;
    for (int i = 0; i < s->n; i++) {
        if (o[i]->begin != at) {
            snprintf(err, errlen, "%s: tensor '%s' starts at byte offset %llu, expected %llu (%s)", path, o[i]->name,
                     (unsigned long long)(s->data_off + o[i]->begin), (unsigned long long)(s->data_off + at),
                     o[i]->begin < at ? "overlaps the tensor before it" : "a hole in the data");
            free(o);
            return fail(s, NULL, NULL);
        }
        at = o[i]->end;
    }
    free(o);
    if (at != buf) {
        snprintf(err, errlen, "%s: the tensors end at byte offset %llu but the file is %llu bytes (%s)", path,
                 (unsigned long long)(s->data_off + at), (unsigned long long)s->file_size, at < buf ? "trailing bytes" : "truncated");
        return fail(s, NULL, NULL);
    }
    qsort(s->t, (size_t)s->n, sizeof *s->t, by_name);
    for (int i = 1; i < s->n; i++)
        if (!strcmp(s->t[i].name, s->t[i - 1].name)) {
            snprintf(err, errlen, "%s: tensor '%s' appears twice in the header", path, s->t[i].name);
            return fail(s, NULL, NULL);
        }
    return 0;
}

const st_tensor *st_find(const st_file *s, const char *name) {
    st_tensor key;
    key.name = (char *)name;
    return bsearch(&key, s->t, (size_t)s->n, sizeof *s->t, by_name);
}

int st_read_f32(st_file *s, const st_tensor *t, float *dst, char *err, size_t errlen) {
    if (t->dtype == ST_OTHER) { snprintf(err, errlen, "%s: tensor '%s' is %s, not a floating-point type", s->path, t->name, t->dtype_name); return -1; }
    if (fseeko(s->f, (off_t)(s->data_off + t->begin), SEEK_SET) != 0) {
        snprintf(err, errlen, "%s: cannot seek to byte offset %llu: %s", s->path, (unsigned long long)(s->data_off + t->begin), strerror(errno));
        return -1;
    }
    int ok = 1;
    if (t->dtype == ST_F32) ok = fread(dst, 4, t->numel, s->f) == t->numel;   /* little-endian host */
    else {
        /* widen in chunks: the raw bytes never need a second full-size buffer */
        uint8_t buf[1 << 15];
        int w = t->dtype == ST_F64 ? 8 : 2;
        size_t per = sizeof buf / (size_t)w;
        for (uint64_t i = 0; ok && i < t->numel; i += per) {
            size_t k = t->numel - i < per ? (size_t)(t->numel - i) : per;
            if (fread(buf, (size_t)w, k, s->f) != k) { ok = 0; break; }
            for (size_t q = 0; q < k; q++) {
                const uint8_t *b = buf + q * (size_t)w;
                if (t->dtype == ST_BF16) dst[i + q] = st_bf16_to_f32(rd16le(b));
                else if (t->dtype == ST_F16) dst[i + q] = st_f16_to_f32(rd16le(b));
                else { uint64_t u = rd64le(b); double d; memcpy(&d, &u, 8); dst[i + q] = (float)d; }
            }
        }
    }
    if (!ok) {
        snprintf(err, errlen, "%s: read error in tensor '%s' (byte offset %llu)", s->path, t->name,
                 (unsigned long long)(s->data_off + t->begin));
        return -1;
    }
    return 0;
}

static int out_by_name(const void *a, const void *b) {
    return strcmp((*(const st_out *const *)a)->name, (*(const st_out *const *)b)->name);
}

int st_write(const char *path, const st_out *t, int n, const char *const *meta, int nmeta, char *err, size_t errlen) {
    const st_out **o = malloc((n ? (size_t)n : 1) * sizeof *o);
    cJSON *j = cJSON_CreateObject();
    char *txt = NULL;
    int rc = -1;
    if (!o || !j) { snprintf(err, errlen, "out of memory"); goto done; }
    for (int i = 0; i < n; i++) o[i] = &t[i];
    qsort(o, (size_t)n, sizeof *o, out_by_name);
    if (nmeta > 0) {
        cJSON *m = cJSON_AddObjectToObject(j, "__metadata__");
        for (int i = 0; i + 1 < nmeta; i += 2) cJSON_AddStringToObject(m, meta[i], meta[i + 1]);
    }
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        if (i && !strcmp(o[i]->name, o[i - 1]->name)) { snprintf(err, errlen, "tensor '%s' given twice", o[i]->name); goto done; }
        cJSON *e = cJSON_AddObjectToObject(j, o[i]->name), *sh = cJSON_AddArrayToObject(e, "shape"),
              *of = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddStringToObject(e, "dtype", "F32");
        uint64_t numel = 1;
        for (int d = 0; d < o[i]->ndim; d++) { cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)o[i]->shape[d])); numel *= (uint64_t)o[i]->shape[d]; }
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)at));
        at += numel * 4;
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)at));
    }
    txt = cJSON_PrintUnformatted(j);
    if (!txt) { snprintf(err, errlen, "out of memory"); goto done; }
    size_t len = strlen(txt), padded = (len + 7) & ~(size_t)7;
    atomic_file a;
    FILE *f = atomic_open(&a, path, err, errlen);
    if (!f) goto done;
    uint8_t lb[8];
    wr32le(lb, (uint32_t)padded); wr32le(lb + 4, (uint32_t)((uint64_t)padded >> 32));
    int ok = fwrite(lb, 1, 8, f) == 8 && fwrite(txt, 1, len, f) == len;
    for (size_t i = len; ok && i < padded; i++) ok = fputc(' ', f) != EOF;
    for (int i = 0; ok && i < n; i++) {
        uint64_t numel = 1;
        for (int d = 0; d < o[i]->ndim; d++) numel *= (uint64_t)o[i]->shape[d];
        ok = fwrite(o[i]->data, 4, numel, f) == numel;
    }
    if (!ok) { snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno)); atomic_abort(&a); goto done; }
    rc = atomic_commit(&a, err, errlen);
done:
    free(txt);
    cJSON_Delete(j);
    free(o);
    return rc;
}
