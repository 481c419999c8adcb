/* The one option parser and the help, man page and completion written from its tables: see opts.h. */
#include "cli/opts.h"
#include "cli/cli.h"
#include "models/model.h"
#include <float.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* set by `pktlm --man` and `--completion` only, while they ask each verb for its --help */
static int help_fmt = CLI_HELP_TEXT;
static FILE *help_out;
void cli_help_format(int fmt, FILE *out) { help_fmt = fmt; help_out = out; }

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

/* the backbones built into this pktlm: "gpt2, qwen2" (sep ", ") or "gpt2 qwen2" (sep " ") */
static const char *arch_list(const char *sep) {
    static char b[128];
    b[0] = 0;
    for (int a = 1; a < ARCH_MAX; a++)
        if (model_backbones[a].ops) snprintf(b + strlen(b), sizeof b - strlen(b), "%s%s", b[0] ? sep : "", model_backbones[a].name);
    return b;
}

/* the config-table fields a CO_MODEL entry (resumable_only: .flag) offers */
static int model_field_offered(const model_field *f, int resumable_only) {
    return f->flag && (!resumable_only || f->resume) && (f->archs & built_mask());
}

/* ---- parsing ---- */

/* "a|b|c" -> "a, b or c" */
static void words_text(const char *w, char *out, size_t n) {
    size_t k = 0;
    out[0] = 0;
    for (const char *p = w; *p && k + 8 < n;) {
        const char *e = strchr(p, '|');
        size_t L = e ? (size_t)(e - p) : strlen(p);
        const char *sep = p == w ? "" : strchr(p, '|') ? ", " : " or ";
        k += (size_t)snprintf(out + k, n - k, "%s%.*s", sep, (int)L, p);
        p += L + (e != NULL);
    }
}

/* index of v in "a|b|c", -1 if absent */
static int words_index(const char *w, const char *v) {
    size_t n = strlen(v);
    for (int i = 0; *w; i++) {
        const char *e = strchr(w, '|');
        size_t L = e ? (size_t)(e - w) : strlen(w);
        if (L == n && !strncmp(w, v, n)) return i;
        if (!e) break;
        w = e + 1;
    }
    return -1;
}

/* spelling s is the option's name or one of its '|'-separated aliases */
static int spelled(const cli_opt *o, const char *s) {
    if (o->name && !strcmp(o->name, s)) return 1;
    return o->alias && words_index(o->alias, s) >= 0;
}

static int takes_value(const cli_opt *o, const model_field *fd) {
    if (o->kind == CO_MODEL) return !fd->is_flag;
    return o->kind != CO_FLAG;
}

/* the number checks of one value; nm is the option as written (without "=value") */
static int set_number(const char *verb, const cli_opt *o, const char *nm, const char *val) {
    long n;
    double d;
    switch (o->kind) {
    case CO_INT:
        if (cli_long_in(verb, nm, val, o->ranged ? (long)o->lo : INT_MIN, o->ranged && o->hi < INT_MAX ? (long)o->hi : INT_MAX, &n)) return -1;
        *(int *)o->dst = (int)n;
        return 0;
    case CO_LONG:
        if (cli_long_in(verb, nm, val, o->ranged ? (long)o->lo : LONG_MIN, o->ranged && o->hi < 9.2e18 ? (long)o->hi : LONG_MAX, &n)) return -1;
        *(long *)o->dst = n;
        return 0;
    case CO_U64:
        if (cli_long_in(verb, nm, val, 0, LONG_MAX, &n)) return -1;
        *(uint64_t *)o->dst = (uint64_t)n;
        return 0;
    case CO_GIB:
        if (cli_positive(verb, nm, val, &d)) return -1;
        *(size_t *)o->dst = d < 1e9 ? (size_t)(d * 1073741824.0) : SIZE_MAX;
        return 0;
    default: break;
    }
    if (cli_double(verb, nm, val, &d)) return -1;
    if (o->ranged == 1 && (d < o->lo || d > o->hi)) {
        if (isinf(o->hi)) cli_error(verb, "%s must be at least %g, got %s", nm, o->lo, val);
        else cli_error(verb, "%s must be %g..%g, got %s", nm, o->lo, o->hi, val);
        return -1;
    }
    if (o->ranged == 2 && !(d > o->lo && d <= o->hi)) {
        if (isinf(o->hi)) cli_error(verb, "%s must be greater than %g, got %s", nm, o->lo, val);
        else cli_error(verb, "%s must be greater than %g and at most %g, got %s", nm, o->lo, o->hi, val);
        return -1;
    }
    /* a double in range may still not be a float: 1e-50 would become 0, 1e39 inf */
    if (o->kind == CO_FLOAT && ((d != 0 && (float)d == 0) || isinf((float)d))) {
        cli_error(verb, "%s %s is outside what a float holds (%g..%g in magnitude)", nm, val, (double)FLT_MIN, (double)FLT_MAX);
        return -1;
    }
    if (o->kind == CO_FLOAT) *(float *)o->dst = (float)d; else *(double *)o->dst = d;
    return 0;
}

/* one config-table option (nm: as written, val: its value or NULL for a flag) */
static int set_model_field(const char *verb, const model_field *fd, model_config *c, const char *nm, const char *val) {
    if (fd->is_flag) { model_field_set(c, fd, 1); return 0; }
    if (fd->type == MF_ARCH) {
        int v = model_arch_parse_opt(val);
        if (v < 0 || !model_backbones[v].ops) {
            cli_error(verb, "%s must be %s, got '%s'%s", nm, arch_list(", "), val, v > 0 ? " (not built into this pktlm)" : "");
            return -1;
        }
        model_field_set(c, fd, v);
        return 0;
    }
    if (fd->type == MF_INT) {
        long n;
        if (cli_long_in(verb, nm, val, (long)fd->lo, (long)fd->hi, &n)) return -1;
        model_field_set(c, fd, (double)n);
        return 0;
    }
    double d;
    if (cli_double(verb, nm, val, &d)) return -1;
    if (!(d >= fd->lo && d <= fd->hi)) { cli_error(verb, "%s must be %g..%g, got %s", nm, fd->lo, fd->hi, val); return -1; }
    model_field_set(c, fd, d);
    return 0;
}

static int set_value(const cli_cmd *c, const cli_opt *o, const model_field *fd, const char *nm, const char *val) {
    const char *verb = c->verb;
    switch (o->kind) {
    case CO_FLAG: *(int *)o->dst = o->flag; return 0;
    case CO_MODEL: return set_model_field(verb, fd, o->dst, nm, val);
    case CO_STR: *(const char **)o->dst = val; return 0;
    case CO_FN: return o->fn(verb, nm, val, o->dst);
    case CO_LIST:
        if (*o->count >= o->flag) { cli_error(verb, "%s may be given at most %d times", nm, o->flag); return -1; }
        ((char **)o->dst)[(*o->count)++] = (char *)val;
        return 0;
    case CO_CHOICE: {
        int v = o->words ? words_index(o->words, val) : o->choice(val);
        if (v < 0) {
            char w[256];
            if (o->words) words_text(o->words, w, sizeof w);
            cli_error(verb, "%s must be %s, got '%s'", nm, o->words ? w : o->hint, val);
            return -1;
        }
        *(int *)o->dst = v;
        return 0;
    }
    default: return set_number(verb, o, nm, val);
    }
}

int cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    return 0;
}

const char *cli_peek_opt(int argc, char **argv, const char *name) {
    size_t n = strlen(name);
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
        if (!strcmp(argv[i], name)) return i + 1 < argc ? argv[i + 1] : NULL;
        if (!strncmp(argv[i], name, n) && argv[i][n] == '=') return argv[i] + n + 1;
    }
    return NULL;
}

static const char *see_help(const cli_cmd *c) {
    static char b[96];
    snprintf(b, sizeof b, "(see pktlm %s --help)", c->title ? c->title : c->verb);
    return b;
}

int cli_parse(const cli_cmd *c, int argc, char **argv) {
    const char *verb = c->verb;
    if (cli_wants_help(argc, argv)) { cli_usage(c, help_out ? help_out : stdout); return 1; }
    /* argv reordered at the end: options (with their values) first, then "--" if given, then
     * the positionals */
    int nent = 0;
    while (c->opts[nent].kind != CO_END) nent++;
    char **opt = malloc((size_t)(argc + 1) * sizeof *opt), **pos = malloc((size_t)(argc + 1) * sizeof *pos);
    unsigned char *given = calloc((size_t)nent + 1, 1);
    if (!opt || !pos || !given) { free(opt); free(pos); free(given); cli_error(verb, "out of memory"); return 2; }
    int nopt = 0, npos = 0, dashdash = 0, rc = 2;
    char *dd = NULL;   /* the "--" argument */
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (dashdash || a[0] != '-' || !a[1]) { pos[npos++] = a; continue; }
        if (!strcmp(a, "--")) { dashdash = 1; dd = a; continue; }
        /* --name=value: the name without the value, for matching and for messages */
        char nm[64];
        const char *eq = a[1] == '-' ? strchr(a, '=') : NULL, *val = NULL;
        if (eq && (size_t)(eq - a) >= sizeof nm) eq = NULL;
        snprintf(nm, sizeof nm, "%.*s", eq ? (int)(eq - a) : (int)sizeof nm - 1, a);
        const cli_opt *o = c->opts;
        const model_field *fd = NULL;
        for (; o->kind != CO_END; o++) {
            if (o->kind == CO_MODEL) {
                for (int k = 0; k < model_nfields && !fd; k++)
                    if (model_field_offered(&model_fields[k], o->flag) && !strcmp(nm, model_fields[k].flag)) fd = &model_fields[k];
                if (fd) break;
            } else if (o->kind != CO_POS && o->kind != CO_POS_LIST && o->kind != CO_SECTION && spelled(o, nm)) break;
        }
        if (o->kind == CO_END) { cli_error(verb, "unknown option '%s' %s", nm, see_help(c)); goto out; }
        opt[nopt++] = a;
        if (takes_value(o, fd)) {
            if (eq) val = eq + 1;
            else if (i + 1 < argc) { val = argv[++i]; opt[nopt++] = argv[i]; }
            else { cli_error(verb, "%s needs a value (%s)", nm, o->kind == CO_MODEL ? "see --help" : o->arg ? o->arg : "see --help"); goto out; }
        } else if (eq) { cli_error(verb, "%s takes no value (got '%s')", nm, a); goto out; }
        if (set_value(c, o, fd, nm, val)) goto out;
        if (o->set) *o->set = 1;
        given[o - c->opts] = 1;
    }
    /* required options */
    for (const cli_opt *o = c->opts; o->kind != CO_END; o++)
        if (o->req && !given[o - c->opts]) {
            const char *sp = o->name;
            if (o->alias && o->alias[0] == '-' && o->alias[1] != '-') sp = o->alias;   /* the short spelling: -o */
            cli_error(verb, "missing %.*s%s%s %s", (int)strcspn(sp, "|"), sp, o->arg ? " " : "", o->arg ? o->arg : "", see_help(c));
            goto out;
        }
    /* positionals: single ones in order, then the list takes the rest */
    int k = 0;
    const cli_opt *list = NULL;
    for (const cli_opt *o = c->opts; o->kind != CO_END; o++) {
        if (o->kind == CO_POS_LIST) list = o;
        if (o->kind != CO_POS) continue;
        if (k < npos) *(const char **)o->dst = pos[k++];
        else if (!o->opt) { cli_error(verb, "missing %s %s", o->name, see_help(c)); goto out; }
    }
    if (list) {
        if (npos - k < list->flag) { cli_error(verb, "missing %s %s", list->name, see_help(c)); goto out; }
        *(char ***)list->dst = argv + 1 + nopt + dashdash + k;
        *list->count = npos - k;
        k = npos;
    }
    if (k < npos) {
        cli_error(verb, "unexpected argument '%s' %s", pos[k], see_help(c));
        goto out;
    }
    memcpy(argv + 1, opt, (size_t)nopt * sizeof *argv);
    if (dashdash) argv[1 + nopt] = dd;
    memcpy(argv + 1 + nopt + dashdash, pos, (size_t)npos * sizeof *argv);
    rc = 0;
out:
    free(opt);
    free(pos);
    free(given);
    return rc;
}

/* ---- help, man page, completion ---- */


/* s within a line: backslashes and minus signs as roff wants them */
static void roff_esc(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '\\') fputs("\\e", f);
        else if (*s == '-') fputs("\\-", f);
        else fputc(*s, f);
    }
}

void cli_roff_text(FILE *f, const char *s) {
    int bol = 1;
    for (; *s; s++) {
        if (bol && *s == '\n') { fputs(".PP\n", f); continue; }   /* an empty line: a new paragraph */
        if (bol && (*s == '.' || *s == '\'')) fputs("\\&", f);
        char ch[2] = { *s, 0 };
        if (*s == '\n') fputc('\n', f); else roff_esc(f, ch);
        bol = *s == '\n';
    }
    if (!bol) fputc('\n', f);
}

/* "(default 8, 1..1000000)" or "" */
static void default_text(const cli_opt *o, char *b, size_t n) {
    char d[96] = "", r[128] = "";
    b[0] = 0;
    if (!o->nodef && !(o->help && strstr(o->help, "default")) && o->dst) {
        switch (o->kind) {
        case CO_INT: snprintf(d, sizeof d, "%d", *(int *)o->dst); break;
        case CO_LONG: snprintf(d, sizeof d, "%ld", *(long *)o->dst); break;
        case CO_U64: snprintf(d, sizeof d, "%llu", (unsigned long long)*(uint64_t *)o->dst); break;
        case CO_FLOAT: snprintf(d, sizeof d, "%g", (double)*(float *)o->dst); break;
        case CO_DOUBLE: snprintf(d, sizeof d, "%g", *(double *)o->dst); break;
        case CO_STR: if (*(const char **)o->dst) snprintf(d, sizeof d, "%s", *(const char **)o->dst); break;
        case CO_CHOICE: {
            int v = *(int *)o->dst;
            const char *w = o->words;
            for (int i = 0; w && i < v; i++) { w = strchr(w, '|'); if (w) w++; }
            if (w && v >= 0) snprintf(d, sizeof d, "%.*s", (int)strcspn(w, "|"), w);
            break;
        }
        default: break;
        }
    }
    /* %.15g: integer bounds in full (1000000, not 1e+06) */
    if (o->ranged == 1 && !isinf(o->hi) && o->hi < INT_MAX) snprintf(r, sizeof r, "%.15g..%.15g", o->lo, o->hi);
    else if (o->ranged == 1 && o->lo > 0) snprintf(r, sizeof r, "at least %.15g", o->lo);
    else if (o->ranged == 2 && o->hi < 1e9) snprintf(r, sizeof r, "greater than %.15g, at most %.15g", o->lo, o->hi);
    else if (o->ranged == 2) snprintf(r, sizeof r, "greater than %.15g", o->lo);
    /* a cut help line is still a help line: the length is checked only to say so to gcc */
    if ((d[0] || r[0]) && snprintf(b, n, " (%s%s%s%s)", d[0] ? "default " : "", d, d[0] && r[0] ? ", " : "", r) < 0) b[0] = 0;
}

/* the left column: "-o, --out FILE", "--packets K", "INPUT..." */
static void left_text(const cli_opt *o, char *b, size_t n) {
    const char *al = o->alias;
    b[0] = 0;
    if (al && al[0] == '-' && al[1] != '-') snprintf(b, n, "%.*s, ", (int)strcspn(al, "|"), al);
    size_t L = strlen(b);
    snprintf(b + L, n - L, "%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
}

/* one option: text (indented help, continuation lines aligned) or roff (.TP) */
static void opt_line(FILE *f, const char *left, const char *help, const char *dflt) {
    if (help_fmt == CLI_HELP_ROFF) {
        fputs(".TP\n\\fB", f);
        roff_esc(f, left);
        fputs("\\fR\n", f);
        char *h = NULL;
        size_t hn = 0;
        FILE *m = open_memstream(&h, &hn);
        if (m) { fprintf(m, "%s%s", help, dflt); fclose(m); cli_roff_text(f, h); free(h); }
        return;
    }
    int w = fprintf(f, "  %s", left);
    if (w > 24) { fputc('\n', f); w = 0; }
    for (const char *p = help; ; ) {
        const char *e = strchr(p, '\n');
        fprintf(f, "%*s%.*s", 25 - w, "", e ? (int)(e - p) : (int)strlen(p), p);
        if (!e) break;
        fputc('\n', f);
        w = 0;
        p = e + 1;
    }
    fprintf(f, "%s\n", dflt);
}

static void words_line(FILE *f, const cli_cmd *c, const char *spelling, const char *type, const char *words) {
    fprintf(f, "%s\t%s\t%s\t%s\n", c->verb, spelling, type, words ? words : "");
}

/* completion lines of one option (each spelling) */
static void opt_words(FILE *f, const cli_cmd *c, const cli_opt *o) {
    const char *type = o->kind == CO_FLAG ? "flag" : o->kind == CO_STR || o->kind == CO_LIST ? "file"
                     : o->kind == CO_CHOICE && o->words ? "choice" : "value";
    char w[256] = "";
    if (o->words) { snprintf(w, sizeof w, "%s", o->words); for (char *p = w; *p; p++) if (*p == '|') *p = ' '; }
    words_line(f, c, o->name, type, w);
    for (const char *a = o->alias; a && *a;) {   /* the short spelling (-o); other long ones are not offered */
        size_t L = strcspn(a, "|");
        char sp[64];
        snprintf(sp, sizeof sp, "%.*s", (int)L, a);
        if (sp[1] != '-') words_line(f, c, sp, type, w);
        a += L + (a[L] == '|');
    }
}

static void model_opts(FILE *f, const cli_cmd *c, const cli_opt *o) {
    const model_config *def = o->dst;
    for (int i = 0; i < model_nfields; i++) {
        const model_field *fd = &model_fields[i];
        if (!model_field_offered(fd, o->flag)) continue;
        if (help_fmt == CLI_HELP_WORDS) {
            words_line(f, c, fd->flag, fd->is_flag ? "flag" : fd->type == MF_ARCH ? "choice" : "value", fd->type == MF_ARCH ? arch_list(" ") : "");
            continue;
        }
        char left[64], dflt[160] = "";
        snprintf(left, sizeof left, "%s%s", fd->flag, fd->is_flag ? "" : fd->type == MF_ARCH ? " NAME" : fd->type == MF_FLOAT ? " X" : " N");
        double v = model_field_get(def, fd);
        if (fd->type == MF_ARCH) snprintf(dflt, sizeof dflt, " (default %s; built: %s)", model_arch_name((int)v), arch_list(", "));
        else if (!fd->is_flag && v != 0) snprintf(dflt, sizeof dflt, " (default %g, %.15g..%.15g)", v, fd->lo, fd->hi);
        else if (!fd->is_flag) snprintf(dflt, sizeof dflt, " (%.15g..%.15g)", fd->lo, fd->hi);
        opt_line(f, left, fd->help, dflt);
    }
}

static void text_block(FILE *f, const char *s) {
    if (!s) return;
    if (help_fmt == CLI_HELP_ROFF) cli_roff_text(f, s);
    else fprintf(f, "%s%s", s, s[0] && s[strlen(s) - 1] != '\n' ? "\n" : "");
}

void cli_usage(const cli_cmd *c, FILE *f) {
    const char *title = c->title ? c->title : c->verb;
    if (help_fmt == CLI_HELP_WORDS) {
        for (const cli_opt *o = c->opts; o->kind != CO_END; o++) {
            if (o->kind == CO_MODEL) model_opts(f, c, o);
            else if (o->help && o->kind != CO_SECTION && o->kind != CO_POS && o->kind != CO_POS_LIST) opt_words(f, c, o);
        }
        return;
    }
    if (help_fmt == CLI_HELP_ROFF) {
        fprintf(f, ".SS \"pktlm %s\"\n.nf\n", title);
        for (const char *u = c->usage; u && *u;) {
            size_t L = strcspn(u, "\n");
            char *line = strndup(u, L);
            fprintf(f, "\\fBpktlm %s\\fR ", c->verb);
            if (line) roff_esc(f, line);
            fputc('\n', f);
            free(line);
            u += L + (u[L] == '\n');
        }
        fputs(".fi\n.PP\n", f);
    } else {
        int first = 1;
        for (const char *u = c->usage; u && *u; first = 0) {
            size_t L = strcspn(u, "\n");
            fprintf(f, "%s pktlm %s %.*s\n", first ? "usage:" : "      ", c->verb, (int)L, u);
            u += L + (u[L] == '\n');
        }
        fputc('\n', f);
    }
    if (c->about) { text_block(f, c->about); fputs(help_fmt == CLI_HELP_ROFF ? ".PP\n" : "\n", f); }
    for (const cli_opt *o = c->opts; o->kind != CO_END; o++) {
        if (o->kind == CO_MODEL) { model_opts(f, c, o); continue; }
        if (!o->help) continue;
        if (o->kind == CO_SECTION) {
            if (help_fmt == CLI_HELP_ROFF) { fputs(".PP\n\\fI", f); roff_esc(f, o->help); fputs("\\fR\n", f); }
            else fprintf(f, "%s\n", o->help);
            continue;
        }
        char left[96], dflt[160];
        left_text(o, left, sizeof left);
        if (o->kind == CO_POS_LIST) snprintf(left + strlen(left), sizeof left - strlen(left), "...");
        default_text(o, dflt, sizeof dflt);
        opt_line(f, left, o->help, o->kind == CO_POS || o->kind == CO_POS_LIST ? "" : dflt);
    }
    if (c->more) {
        if (help_fmt == CLI_HELP_ROFF) fputs(".PP\n", f); else fputc('\n', f);
        text_block(f, c->more);
    }
    if (c->extra) {
        if (help_fmt == CLI_HELP_ROFF) fputs(".PP\n.nf\n", f);
        if (help_fmt == CLI_HELP_ROFF) {
            char *t = NULL;
            size_t tn = 0;
            FILE *m = open_memstream(&t, &tn);
            if (m) { c->extra(m); fclose(m); cli_roff_text(f, t); free(t); }
            fputs(".fi\n", f);
        } else c->extra(f);
    }
}
