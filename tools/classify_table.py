#!/usr/bin/env python3
"""Markdown results table of docs/classify.md from `pktlm eval --json` outputs named
<task>-<scratch|pre>-<full|frozen>.json in a folder (default: current). Plain Python."""
import json, os, sys

d = sys.argv[1] if len(sys.argv) > 1 else '.'
tasks = sys.argv[2:] or ['A', 'B']
rows = [('scratch', 'full', 'model, no pretraining, fine-tuned'), ('scratch', 'frozen', 'model, no pretraining, frozen (random encoder + head)'),
        ('pre', 'full', 'model, pretrained, fine-tuned'), ('pre', 'frozen', 'model, pretrained, frozen (head only)')]
res = {}
for t in tasks:
    for init, kind, _ in rows:
        p = os.path.join(d, '%s-%s-%s.json' % (t, init, kind))
        if os.path.exists(p):
            res[(t, init, kind)] = json.load(open(p))
print('| | ' + ' | '.join('%s macro-F1 | %s accuracy' % (t, t) for t in tasks) + ' |')
print('|---|' + '---:|---:|' * len(tasks))
def cell(r):
    return '%.3f | %.3f' % (r['macro_f1'], r['accuracy']) if r else '- | -'
for init, kind, name in rows:
    cells = []
    for t in tasks:
        j = res.get((t, init, kind))
        cells.append(cell(j['results'][0] if j else None))
    print('| %s | %s |' % (name, ' | '.join(cells)))
base = {}
for t in tasks:
    for k, j in res.items():
        if k[0] == t:
            base[t] = j
            break
for i, name in [(1, 'majority class'), (2, 'port lookup'), (3, 'forest, header stats + ports'), (4, 'forest, header stats, no ports')]:
    cells = [cell(base[t]['results'][i] if t in base else None) for t in tasks]
    print('| %s | %s |' % (name, ' | '.join(cells)))
for t in tasks:
    if t in base:
        print('\n%s: %d test flows, %d classes' % (t, base[t]['flows'], base[t]['classes']), file=sys.stderr)
