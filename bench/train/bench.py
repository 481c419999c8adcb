#!/usr/bin/python3
"""Training throughput of pktlm vs PyTorch on the same model, batch, length and optimizer.
Configs: A = 6 layers, d 256, 8 heads, ctx 256, vocab 300; B = 8 layers, d 512, 8 heads,
ctx 256, vocab 300. Both get 2 threads. Four runs per config, in this order: pktlm fp32,
pktlm --bf16 (where the CPU has avx512_bf16), PyTorch fp32 and PyTorch bf16 autocast (each at its
best over BLAS x OpenMP waiting). Reports tokens/s (mean over timed steps, after warm-up steps),
model FLOP/s, fraction of the fp32 peak of this CPU (measured at the start by bench/peak/peak.c, an
FMA loop on 2 threads: a constant would be wrong on a CPU with another clock or FMA width, e.g.
Zen 5's full-width 512-bit units against Zen 4's), peak RSS, and the ratios.

Model FLOPs per token = 6 * (12 L C^2 + V C)  (matmuls: forward 2x, backward 4x per weight)
                      + 6 L T C               (causal attention: QK^T and PV over T/2 keys)
Usage: bench/train/bench.py [--configs A,B] [--batch 8] [--steps N] [--pktlm ./pktlm] [--no-bf16] [--json F]"""
import argparse
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def measure_peak(threads=2):
    """fp32 FMA peak of `threads` cores in FLOP/s, from bench/peak/peak.c built for this CPU"""
    exe = os.path.join(tempfile.gettempdir(), "pktlm-bench-peak.%d" % os.getpid())
    try:
        subprocess.run(["cc", "-O2", "-march=native", "-fopenmp", os.path.join(ROOT, "bench", "peak", "peak.c"),
                        "-o", exe], check=True)
        out = subprocess.run([exe, str(threads)], check=True, capture_output=True, text=True).stdout
        return json.loads(out)["gflops_fp32"] * 1e9
    finally:
        if os.path.exists(exe):
            os.unlink(exe)


PEAK = measure_peak()
CONFIGS = {"A": dict(layers=6, d=256, heads=8, ctx=256, vocab=300),
           "B": dict(layers=8, d=512, heads=8, ctx=256, vocab=300)}


def write_corpus(d, vocab, ntok):
    """Random tokens in the shard format (corpus/shard.h): speed does not depend on content."""
    os.makedirs(d, exist_ok=True)
    rng = random.Random(1)
    for split, name, n in ((0, "train.tok", ntok), (1, "val.tok", 4096)):
        seqlen = 512
        toks = [rng.randrange(3, vocab) for _ in range(n)]
        nseq = n // seqlen
        hdr = [0] * 256
        hdr[0:8] = [0x4B4F5450, 1, vocab, 0, 1, 2, 0, vocab]
        hdr[8], hdr[10], hdr[12] = nseq, n, split
        with open(os.path.join(d, name), "wb") as f:
            f.write(struct.pack("<256i", *hdr))
            f.write(struct.pack("<%dH" % n, *toks))
            for i in range(nseq):
                f.write(struct.pack("<QIiIIQ", i * seqlen, seqlen, -1, 0, i, i))
    # the corpus's vocabulary file (corpus/vocab.c checks it against the shards' header: no labels)
    with open(os.path.join(d, "vocab.json"), "w") as f:
        json.dump({"format": "pktlm-tokens", "vocab_size": vocab, "label_base": vocab, "labels": []}, f)




def run_rss(cmd, env):
    t0 = time.time()
    pid = os.fork()
    if pid == 0:
        fd = os.open(os.devnull, os.O_WRONLY)
        out = os.open(os.path.join(tmp, "out.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, 1)
        os.dup2(fd, 2)
        os.execvpe(cmd[0], cmd, env)
    _, status, ru = os.wait4(pid, 0)
    with open(os.path.join(tmp, "out.txt")) as f:
        out = f.read()
    return os.waitstatus_to_exitcode(status), out, ru.ru_maxrss * 1024, time.time() - t0


def flops_per_token(c):
    L, C, V, T = c["layers"], c["d"], c["vocab"], c["ctx"]
    return 6 * (12 * L * C * C + V * C) + 6 * L * T * C


ap = argparse.ArgumentParser()
ap.add_argument("--configs", default="A,B")
ap.add_argument("--batch", type=int, default=8)
ap.add_argument("--steps", type=int, default=0, help="timed steps (default: A 10, B 5)")
ap.add_argument("--warm", type=int, default=2)
ap.add_argument("--pktlm", default=os.path.join(ROOT, "pktlm"))
ap.add_argument("--json", default="")
ap.add_argument("--no-bf16", action="store_true", help="fp32 runs only")
args = ap.parse_args()

tmp = tempfile.mkdtemp(prefix="pktlm-bench-train.")
env = dict(os.environ, OMP_NUM_THREADS="2", LD_LIBRARY_PATH="/usr/lib/x86_64-linux-gnu/blis-openmp")
BLAS = {"BLIS-openmp": "/usr/lib/x86_64-linux-gnu/blis-openmp"}
if os.path.isdir("/usr/lib/x86_64-linux-gnu/openblas-openmp"):
    BLAS["OpenBLAS-openmp"] = "/usr/lib/x86_64-linux-gnu/openblas-openmp"
results = []
HAVE_BF16 = "avx512_bf16" in open("/proc/cpuinfo").read()


def pktlm_tps(cmd, csv):
    """pktlm's mean tok/s over the timed steps (its CSV: column 7 is the step's tok/s) and peak RSS"""
    rc, _, rss, _ = run_rss(cmd, env)
    if rc != 0:
        sys.exit("pktlm failed: " + " ".join(cmd))
    rows = [l.split(",") for l in open(csv).read().splitlines()[1:]]
    tps = [float(r[6]) for r in rows[args.warm:]]
    return len(tps) / sum(1.0 / t for t in tps), rss


def torch_best(pcmd):
    """the peer at its best: each BLAS it can load (BLIS-openmp as the brief measured it;
    OpenBLAS-openmp, several times faster on some CPUs once the OPENBLAS_CORETYPE override of
    this machine is lifted for that command alone; torch_peer.py checks a product against
    float64 first) x libgomp's default (spinning) and passive waiting"""
    best, rss_best = None, 0
    for blas, pol in [(b, p) for b in BLAS for p in ("default", "passive")]:
        e = dict(env, LD_LIBRARY_PATH=BLAS[blas])
        if blas.startswith("OpenBLAS"):
            e.pop("OPENBLAS_CORETYPE", None)
            e.pop("OPENBLAS_L2_SIZE", None)
        if pol == "passive":
            e["OMP_WAIT_POLICY"] = "passive"
        else:
            e.pop("OMP_WAIT_POLICY", None)
        rc, out, rss, _ = run_rss(pcmd, e)
        if rc != 0:
            sys.exit("torch peer failed: " + " ".join(pcmd))
        r = json.loads(out.strip().splitlines()[-1])
        r["policy"], r["blas"] = pol, blas
        if best is None or r["tok_per_s"] > best["tok_per_s"]:
            best, rss_best = r, rss
    return best, rss_best


print("training throughput, 2 threads, batch %d, AdamW, same model in both (noisy: shared machine)" % args.batch)
print("%-3s %-22s %9s %8s %7s %7s %8s  %s" % ("cfg", "run", "tok/s", "GFLOP/s", "%fp32pk", "RSS MB", "ratio", "notes"))
for name in args.configs.split(","):
    c = CONFIGS[name]
    steps = args.steps or (10 if name == "A" else 5)
    B, T = args.batch, c["ctx"]
    cdir = os.path.join(tmp, "corpus" + name)
    write_corpus(cdir, c["vocab"], B * T * (steps + args.warm + 2) + 4096)
    ck = os.path.join(tmp, name + ".ckpt")
    cmd = [args.pktlm, "pretrain", "--data", cdir, "--layers", str(c["layers"]), "--d-model", str(c["d"]),
           "--heads", str(c["heads"]), "--ctx", str(T), "--batch", str(B), "--steps", str(steps + args.warm),
           "--warmup", "1", "--eval-every", "1000000", "--val-batches", "1", "--threads", "2", "--quiet", "-o", ck]
    csv = os.path.join(tmp, name + ".csv")
    runs = {}
    runs["pktlm fp32"] = pktlm_tps(cmd, csv) + ("",)
    if HAVE_BF16 and not args.no_bf16:
        runs["pktlm --bf16"] = pktlm_tps(cmd + ["--bf16"], csv) + ("",)
    pcmd = ["/usr/bin/python3", os.path.join(HERE, "torch_peer.py"), "--layers", str(c["layers"]), "--d-model",
            str(c["d"]), "--heads", str(c["heads"]), "--ctx", str(T), "--vocab", str(c["vocab"]), "--batch", str(B),
            "--steps", str(steps), "--warm", str(args.warm), "--threads", "2"]
    t, rss = torch_best(pcmd)
    runs["torch fp32"] = (t["tok_per_s"], rss, "torch %s, %s, OMP wait %s" % (t["torch"], t["blas"], t["policy"]))
    if not args.no_bf16:
        t, rss = torch_best(pcmd + ["--bf16"])
        runs["torch bf16 autocast"] = (t["tok_per_s"], rss, "torch %s, %s, OMP wait %s" % (t["torch"], t["blas"], t["policy"]))
    fpt = flops_per_token(c)
    desc = "%dL d%d h%d ctx%d V%d" % (c["layers"], c["d"], c["heads"], T, c["vocab"])
    tf = runs["torch fp32"][0]
    tb = runs.get("torch bf16 autocast", (None,))[0]
    for who, (tp, rss, note) in runs.items():
        ratio = ""
        if who == "pktlm fp32":
            ratio = "%.2fx" % (tp / tf)
            note = "vs torch fp32 (%s)" % desc
        elif who == "pktlm --bf16":
            ratio = "%.2fx" % (tp / tb) if tb else ""
            note = "vs torch bf16; %.2fx torch fp32, %.2fx pktlm fp32" % (tp / tf, tp / runs["pktlm fp32"][0])
        results.append(dict(config=name, who=who.split()[0], precision="bf16" if "bf16" in who else "fp32",
                            tok_per_s=tp, gflops=tp * fpt / 1e9, peak_frac=tp * fpt / PEAK, rss_mb=rss / 1e6,
                            detail=note))
        print("%-3s %-22s %9.0f %8.1f %6.1f%% %7.0f %8s  %s" % (
            name, who, tp, tp * fpt / 1e9, 100 * tp * fpt / PEAK, rss / 1e6, ratio, note))
    sys.stdout.flush()
print("FLOPs/token = 6(12LC^2+VC) + 6LTC; %%fp32pk: of %.0f GFLOP/s, the fp32 FMA peak of 2 cores measured by "
      "bench/peak/peak.c in this run (bf16 dot products peak at twice that where the CPU has them); "
      "tok/s = mean over %s timed steps after %d warm-up"
      % (PEAK / 1e9, "10 (A) / 5 (B)" if not args.steps else args.steps, args.warm))
if args.json:
    # written whole to a temporary file first, so a killed run leaves the last result intact
    meta = dict(date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), load_avg=open("/proc/loadavg").read().split()[:3],
                cpu=next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), ""),
                note="shared 2-core machine, noisy; peer at its best of BLAS x OpenMP waiting policy",
                peak_gflops_fp32=round(PEAK / 1e9, 1))
    with open(args.json + ".tmp", "w") as f:
        json.dump(dict(meta, rows=results), f, indent=1)
    os.replace(args.json + ".tmp", args.json)
