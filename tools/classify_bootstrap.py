#!/usr/bin/env python3
"""How sure is a macro-F1 margin? Resamples the test flows of `pktlm eval --predictions FILE`
by capture (the unit of the split: flows of one capture are not independent), with
replacement, and reports for each baseline the model's macro-F1 and accuracy margins: the
observed value, the 2.5 / 97.5 percentiles over the resamples and the share of resamples in
which the model is ahead. Macro-F1 as `pktlm eval` computes it: the mean F1 over the classes
that occur or are predicted. Plain Python (no numpy).

    tools/classify_bootstrap.py predictions.csv [--n 2000] [--seed 1] [--json]
"""
import csv, json, random, sys
from collections import defaultdict


def scores(rows, col):
    tp, sup, pred = defaultdict(int), defaultdict(int), defaultdict(int)
    ok = 0
    for r in rows:
        y, p = r['label'], r[col]
        sup[y] += 1
        pred[p] += 1
        if y == p:
            tp[y] += 1
            ok += 1
    classes = set(sup) | set(pred)
    f1 = [2 * tp[k] / (sup[k] + pred[k]) for k in classes]
    return sum(f1) / len(f1), ok / len(rows)


def main():
    args = sys.argv[1:]
    if not args or args[0] in ('-h', '--help'):
        print(__doc__.strip()); return 0
    path, n, seed, as_json = args[0], 2000, 1, '--json' in args
    if '--n' in args: n = int(args[args.index('--n') + 1])
    if '--seed' in args: seed = int(args[args.index('--seed') + 1])
    rows = list(csv.DictReader(open(path)))
    by_cap = defaultdict(list)
    for r in rows:
        by_cap[r['file']].append(r)
    caps = sorted(by_cap)
    rng = random.Random(seed)
    base = ['port_lookup', 'forest_ports', 'forest_no_ports']
    obs = {c: scores(rows, c) for c in ['model'] + base}
    diffs = {b: ([], []) for b in base}
    for _ in range(n):
        sample = [r for c in (rng.choice(caps) for _ in caps) for r in by_cap[c]]
        m = scores(sample, 'model')
        for b in base:
            s = scores(sample, b)
            diffs[b][0].append(m[0] - s[0])
            diffs[b][1].append(m[1] - s[1])
    out = {'predictions': path, 'flows': len(rows), 'captures': len(caps), 'resamples': n, 'seed': seed,
           'model': {'macro_f1': obs['model'][0], 'accuracy': obs['model'][1]}, 'baselines': {}}
    for b in base:
        o = out['baselines'][b] = {'macro_f1': obs[b][0], 'accuracy': obs[b][1]}
        for i, what in enumerate(['macro_f1', 'accuracy']):
            d = sorted(diffs[b][i])
            o['margin_' + what] = {'observed': obs['model'][i] - obs[b][i], 'p2.5': d[int(0.025 * n)],
                                   'p97.5': d[min(n - 1, int(0.975 * n))], 'share_model_ahead': sum(x > 0 for x in d) / n}
    if as_json:
        print(json.dumps(out, indent=1)); return 0
    print('%s: %d flows in %d captures, %d resamples of the captures' % (path, len(rows), len(caps), n))
    print('model: macro-F1 %.3f, accuracy %.3f' % obs['model'])
    for b in base:
        o = out['baselines'][b]
        for what in ['macro_f1', 'accuracy']:
            mg = o['margin_' + what]
            print('  vs %-16s %-8s %.3f: margin %+.3f, 95%% interval [%+.3f, %+.3f], model ahead in %.0f%% of resamples' %
                  (b, what, o[what], mg['observed'], mg['p2.5'], mg['p97.5'], 100 * mg['share_model_ahead']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
