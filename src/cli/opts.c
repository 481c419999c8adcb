/* Table-driven option parsing: see opts.h. */
#include "cli/opts.h"
#include "cli/cli.h"
#include "models/model.h"
#include <float.h>
#include <limits.h>
#include <stdio.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

int model_arch_parse_opt(const char *s) { int a = s ? model_arch_parse(s) : 0; return a ? a : -1; }

/* fields some built backbone reads */
static uint32_t built_mask(void) {
    uint32_t m = 0;
    for (int a = 1; a < ARCH_MAX; a++)
        if (model_backbones[a].ops) m |= MF_ARCHES(a);
    return m;
}

int cli_model_check_given(const char *verb, const void *cfgv, const void *defv) {
    const model_config *c = cfgv, *d = defv;
    for (int i = 0; i < model_nfields; i++) {
        const model_field *f = &model_fields[i];
        if (f->flag && !(f->archs & MF_ARCHES(c->arch)) && model_field_get(c, f) != model_field_get(d, f)) {
            cli_error(verb, "%s is not a setting of the %s backbone", f->flag, model_arch_name(c->arch));
            return 2;
        }
    }
    return 0;
}

/* the backbones built into this pktlm, for messages: "gpt2, qwen2" */
static const char *arch_list(void) {
    static char b[128];
    b[0] = 0;
    for (int a = 1; a < ARCH_MAX; a++)
        if (model_backbones[a].ops) snprintf(b + strlen(b), sizeof b - strlen(b), "%s%s", b[0] ? ", " : "", model_backbones[a].name);
    return b;
}

void cli_model_help(FILE *f, const void *defv, int resumable_only) {
    const model_config *def = defv;
    for (int i = 0; i < model_nfields; i++) {
        const model_field *fd = &model_fields[i];
        if (!fd->flag || (resumable_only && !fd->resume) || !(fd->archs & built_mask())) continue;
        char left[40], dflt[64] = "";
        snprintf(left, sizeof left, "%s%s", fd->flag, fd->is_flag ? "" : fd->type == MF_ARCH ? " NAME" : fd->type == MF_FLOAT ? " X" : " N");
        double v = model_field_get(def, fd);
        if (fd->type == MF_ARCH) snprintf(dflt, sizeof dflt, " (default %s; built: %s)", model_arch_name((int)v), arch_list());
        else if (!fd->is_flag && v != 0) snprintf(dflt, sizeof dflt, " (default %g)", v);
        fprintf(f, "  %-20s %s%s\n", left, fd->help, dflt);
    }
}

/* one config-table option: a = the flag, val = the next argument; 1 when it took val, -1 error */
static int parse_model_field(const char *verb, const model_field *fd, model_config *c, const char *a, const char *val) {
    if (fd->is_flag) { model_field_set(c, fd, 1); return 0; }
    if (fd->type == MF_ARCH) {
        int v = val ? model_arch_parse_opt(val) : -1;
        if (v < 0 || !model_backbones[v].ops) {
            cli_error(verb, "%s: %s architecture (built: %s)%s%s%s", a, v > 0 ? "not built-in" : "unknown", arch_list(),
                      val ? " (got '" : "", val ? val : "", val ? "')" : "");
            return -1;
        }
        model_field_set(c, fd, v);
        return 1;
    }
    if (fd->type == MF_INT) {
        long n;
        if (cli_long_in(verb, a, val, (long)fd->lo, (long)fd->hi, &n)) return -1;
        model_field_set(c, fd, (double)n);
        return 1;
    }
    double d;
    if (cli_double(verb, a, val, &d)) return -1;
    if (!(d >= fd->lo && d <= fd->hi)) { cli_error(verb, "%s must be %g..%g, got %s", a, fd->lo, fd->hi, val); return -1; }
    model_field_set(c, fd, d);
    return 1;
}

int cli_parse_opts(const char *verb, int argc, char **argv, const cli_opt *opts) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return 1;
        const cli_opt *o = opts;
        const model_field *fd = NULL;
        for (; o->name; o++) {
            if (o->kind == CO_MODEL) {
                for (int k = 0; k < model_nfields && !fd; k++)
                    if (model_fields[k].flag && !strcmp(a, model_fields[k].flag) && (!o->flag || model_fields[k].resume) &&
                        (model_fields[k].archs & built_mask()))
                        fd = &model_fields[k];
                if (fd) break;
            } else if (!strcmp(a, o->name) || (o->alias && !strcmp(a, o->alias))) break;
        }
        if (!o->name) { cli_error(verb, "unknown option '%s' (see --help)", a); return 2; }
        long n;
        double d;
        switch (o->kind) {
        case CO_FLAG: *(int *)o->dst = o->flag; continue;
        case CO_INT:
            if (cli_long_in(verb, a, val, o->ranged ? (long)o->lo : INT_MIN, o->ranged ? (long)o->hi : INT_MAX, &n)) return 2;
            *(int *)o->dst = (int)n;
            break;
        case CO_LONG:
            if (cli_long_in(verb, a, val, o->ranged ? (long)o->lo : LONG_MIN, o->ranged && o->hi < 9.2e18 ? (long)o->hi : LONG_MAX, &n)) return 2;
            *(long *)o->dst = n;
            break;
        case CO_U64: if (cli_long_in(verb, a, val, 0, LONG_MAX, &n)) return 2; *(uint64_t *)o->dst = (uint64_t)n; break;
        case CO_FLOAT:
        case CO_DOUBLE:
            if (cli_double(verb, a, val, &d)) return 2;
            if (o->ranged == 1 && (d < o->lo || d > o->hi)) {
                if (isinf(o->hi)) cli_error(verb, "%s must be at least %g, got %s", a, o->lo, val);
                else cli_error(verb, "%s must be %g..%g, got %s", a, o->lo, o->hi, val);
                return 2;
            }
            if (o->ranged == 2 && !(d > o->lo && d <= o->hi)) {
                if (isinf(o->hi)) cli_error(verb, "%s must be greater than %g, got %s", a, o->lo, val);
                else cli_error(verb, "%s must be greater than %g and at most %g, got %s", a, o->lo, o->hi, val);
                return 2;
            }
            /* a double in range may still not be a float: 1e-50 would become 0, 1e39 inf */
            if (o->kind == CO_FLOAT && ((d != 0 && (float)d == 0) || isinf((float)d))) {
                cli_error(verb, "%s %s is outside what a float holds (%g..%g in magnitude)", a, val, (double)FLT_MIN, (double)FLT_MAX);
                return 2;
            }
            if (o->kind == CO_FLOAT) *(float *)o->dst = (float)d; else *(double *)o->dst = d;
            break;
        case CO_MODEL: {
            int r = parse_model_field(verb, fd, o->dst, a, val);
            if (r < 0) return 2;
            if (r == 0) continue;
            break;
        }
        case CO_GIB: if (cli_positive(verb, a, val, &d)) return 2; *(size_t *)o->dst = d < 1e9 ? (size_t)(d * 1073741824.0) : SIZE_MAX; break;
        case CO_STR:
        case CO_SKIP:
            if (!val) { cli_error(verb, "%s needs a value", a); return 2; }
            if (o->kind == CO_STR) *(const char **)o->dst = val;
            break;
        case CO_CHOICE: {
            int v = val ? o->choice(val) : -1;
            if (v < 0) { cli_error(verb, "%s: %s%s%s%s", a, o->hint, val ? " (got '" : "", val ? val : "", val ? "')" : ""); return 2; }
            *(int *)o->dst = v;
            break;
        }
        }
        i++;
    }
    return 0;
}
