/* Table-driven option parsing: see opts.h. */
#include "cli/opts.h"
#include "cli/cli.h"
#include "models/model.h"
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

int model_arch_parse_opt(const char *s) { int a = s ? model_arch_parse(s) : 0; return a ? a : -1; }

int cli_parse_opts(const char *verb, int argc, char **argv, const cli_opt *opts) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return 1;
        const cli_opt *o = opts;
        while (o->name && strcmp(a, o->name) && !(o->alias && !strcmp(a, o->alias))) o++;
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
