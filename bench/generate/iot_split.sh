#!/usr/bin/env bash
# Deal the captures of every iot_sentinel device folder, in sorted order, round-robin into
# three sets (REAL, OTHER, TRAIN), as docs/compare.md's iot_sentinel recipe does, but into
# folders named by the device *type* (column `class` of labels/files.csv: 27 types; it merges
# EdimaxCam1/2, EdnetCam1/2, WeMoSwitch/2, WeMoInsightSwitch/2), so that folder labels
# (`pktlm prep`'s default, `pktlm compare --labels folder`) are the types. Links are named
# DEVICE__FILE.pcap (two devices of one type have files of the same name).
# usage: iot_split.sh SHARED_DATA OUTDIR   -> OUTDIR/{real,other,train}/CLASS/*.pcap
set -eu
D=$1 O=$2
python3 - "$D" "$O" <<'PY'
import csv, os, sys
d, o = sys.argv[1], sys.argv[2]
cls = {}
for r in csv.DictReader(open(os.path.join(d, 'labels/files.csv'))):
    if r['path'].startswith('iot_sentinel/'): cls[r['path']] = r['class']
devs = sorted(x for x in os.listdir(os.path.join(d, 'iot_sentinel')) if os.path.isdir(os.path.join(d, 'iot_sentinel', x)))
n = 0
for dev in devs:
    files = sorted(f for f in os.listdir(os.path.join(d, 'iot_sentinel', dev)) if f.endswith('.pcap'))
    for i, f in enumerate(files):
        rel = 'iot_sentinel/%s/%s' % (dev, f)
        dst = os.path.join(o, ('real', 'other', 'train')[i % 3], cls[rel])
        os.makedirs(dst, exist_ok=True)
        link = os.path.join(dst, '%s__%s' % (dev, f))
        if not os.path.islink(link): os.symlink(os.path.realpath(os.path.join(d, rel)), link)
        n += 1
print('iot_split: %d captures of %d devices -> %s/{real,other,train}' % (n, len(devs), o))
PY
