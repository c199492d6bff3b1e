#!/usr/bin/env python3
"""Score labelled series with hubguard-score (or a variant binary) and baselines; NAB, AP, FA, delay.

evaluate.py DATADIR [--det NAME=SPEC ...] [--kinds] [--out results.json]
SPEC: bin:/path/to/hubguard-score[:extra args separated by spaces]  | wgauss | ewma | random
Default detectors: hg ($HUBGUARD_SCORE, else build/src/score/hubguard-score of this tree), wgauss,
ewma, random. Run by tests/bench/anomaly-eval-realistic.
"""
import bisect
import json
import math
import os
import random
import subprocess
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
HG = os.environ.get('HUBGUARD_SCORE', os.path.join(HERE, '../../../build/src/score/hubguard-score'))
A_TP, A_FP, A_FN = 1.0, 0.11, 1.0


def read_values(path):
    with open(path) as f:
        next(f)
        return [float(l.rsplit(',', 1)[1]) for l in f if l.strip()]


def run_bin(path, csvpath, extra):
    with open(csvpath, 'rb') as f:
        p = subprocess.run(['nice', '-n', '10', path] + extra, stdin=f, capture_output=True)
    if p.returncode != 0:
        raise RuntimeError('%s: %s' % (csvpath, p.stderr.decode()))
    lines = p.stdout.decode().splitlines()[1:]
    return [float(l.split(',')[1]) for l in lines]


def zscore(z):
    z = abs(z)
    return z / (z + 1.0)  # monotone in |z|, no ties at saturation; |z| = 4 -> 0.8


def wgauss(v, W=1000, warm=30):
    out, s, ss = [], 0.0, 0.0
    from collections import deque
    q = deque()
    for x in v:
        n = len(q)
        if n >= warm:
            m = s / n
            var = max(ss / n - m * m, 0.0)
            sd = math.sqrt(var)
            z = (x - m) / sd if sd > 1e-12 * (abs(m) + 1) else (0.0 if x == m else 1e6)
            out.append(zscore(z))
        else:
            out.append(0.0)
        q.append(x)
        s += x
        ss += x * x
        if len(q) > W:
            y = q.popleft()
            s -= y
            ss -= y * y
    return out


def ewma(v, a=0.02, warm=30):
    out, m, var = [], None, 0.0
    for i, x in enumerate(v):
        if m is None:
            m = x
            out.append(0.0)
            continue
        sd = math.sqrt(var)
        if i >= warm:
            z = (x - m) / sd if sd > 1e-12 * (abs(m) + 1) else (0.0 if x == m else 1e6)
            out.append(zscore(z))
        else:
            out.append(0.0)
        d = x - m
        aa = max(a, 1.0 / (i + 1))
        m += aa * d
        var = (1 - aa) * (var + aa * d * d)
    return out


def rnd(v, name):
    r = random.Random(name)
    return [r.random() for _ in v]


DEFAULT_THR = {'bin': 0.6, 'wgauss': 0.8, 'ewma': 0.8, 'random': 0.999}


def scores_for(spec, name, csvpath, cache):
    cpath = os.path.join(cache, name + '.txt') if cache else None
    if cpath and os.path.exists(cpath) and os.path.getmtime(cpath) > os.path.getmtime(csvpath):
        with open(cpath) as f:
            return [float(x) for x in f.read().split()]
    if spec.startswith('bin:'):
        parts = spec[4:].split(':', 1)
        s = run_bin(parts[0], csvpath, parts[1].split() if len(parts) > 1 else [])
    else:
        v = read_values(csvpath)
        s = {'wgauss': lambda: wgauss(v), 'ewma': lambda: ewma(v), 'random': lambda: rnd(v, name)}[spec]()
    if cpath:
        with open(cpath, 'w') as f:
            f.write('\n'.join('%.6g' % x for x in s))
    return s


def scaled_sigmoid(p):
    if p > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * p)) - 1.0


class SeriesNab:
    """Per-series structures for a fast NAB threshold sweep."""

    def __init__(self, s, lab):
        n = len(s)
        self.prob = min(int(0.15 * n), 750)
        self.windows = lab['windows']
        inwin = [None] * n
        for wi, (a, b) in enumerate(self.windows):
            for i in range(a, b + 1):
                inwin[i] = wi
        # FP weights of outside points, sorted by score descending
        fp = []
        prev = None
        for i in range(n):
            if inwin[i] is not None:
                prev = self.windows[inwin[i]]
                continue
            if i < self.prob:
                continue
            if prev is None:
                w = -1.0
            else:
                w = scaled_sigmoid(abs(prev[1] - i) / float(max(prev[1] - prev[0], 1)))
            fp.append((s[i], w * A_FP))
        fp.sort(key=lambda x: -x[0])
        self.fp_neg_scores = [-x[0] for x in fp]
        self.fp_cum = [0.0]
        self.fp_cnt = len(fp)
        for _, w in fp:
            self.fp_cum.append(self.fp_cum[-1] + w)
        # windows: record highs (score, index) from the window start
        self.records = []
        for (a, b) in self.windows:
            rec, best = [], -1.0
            for i in range(max(a, self.prob), b + 1):
                if s[i] > best:
                    best = s[i]
                    rec.append((best, i))
            self.records.append((rec, a, b))

    def score(self, thr):
        k = bisect.bisect_right(self.fp_neg_scores, -thr)  # outside points with score >= thr
        tot = self.fp_cum[k]
        tp = fn = 0
        for rec, a, b in self.records:
            hit = None
            for sc, i in rec:
                if sc >= thr:
                    hit = i
                    break
            if hit is None:
                tot -= A_FN
                fn += 1
            else:
                tot += A_TP * scaled_sigmoid(-(b - hit + 1) / float(b - a + 1))
                tp += 1
        return tot, tp, fn, k

    def perfect(self):
        return sum(A_TP * scaled_sigmoid(-1.0) for _ in self.records)


def nab(series, thr):
    raw = null = perf = 0.0
    tp = fn = fpn = 0
    for sn in series:
        r, a, b, c = sn.score(thr)
        raw += r
        tp += a
        fn += b
        fpn += c
        null -= A_FN * len(sn.records)
        perf += sn.perfect()
    norm = 100.0 * (raw - null) / (perf - null) if perf != null else float('nan')
    return norm, raw, tp, fn, fpn


def best_threshold(series, allscores):
    cands = sorted(set(allscores))
    if len(cands) > 600:
        cands = [cands[int(i * (len(cands) - 1) / 599)] for i in range(600)]
    best = None
    for t in cands:
        if t <= 0:
            continue
        r = nab(series, t)
        if best is None or r[1] > best[1][1]:
            best = (t, r)
    return best


def average_precision(pairs):
    """pairs: (score, label); ties grouped (sklearn-style)."""
    P = sum(y for _, y in pairs)
    if P == 0:
        return float('nan')
    pairs = sorted(pairs, key=lambda x: -x[0])
    ap = tp = seen = 0
    i = 0
    while i < len(pairs):
        j = i
        gtp = 0
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            gtp += pairs[j][1]
            j += 1
        tp += gtp
        seen = j
        ap += (gtp / P) * (tp / seen)
        i = j
    return ap


def event_auc(SS, LL):
    """P(a window's highest score (from the window start) > a random normal point's score), ties half."""
    normal, wmax = [], []
    for s, lab in zip(SS, LL):
        y = labels_vec(lab)
        pr = min(int(0.15 * lab['n']), 750)
        normal += [s[i] for i in range(pr, lab['n']) if not y[i]]
        for a, b in lab['windows']:
            wmax.append(max(s[max(a, pr):b + 1]))
    normal.sort()
    n = len(normal)
    tot = 0.0
    for m in wmax:
        lo = bisect.bisect_left(normal, m)
        hi = bisect.bisect_right(normal, m)
        tot += (lo + 0.5 * (hi - lo)) / n
    return tot / len(wmax) if wmax else float('nan')


def event_f1(SN, SS, LL, K=12):
    """Best over thresholds of an event F1: recall = windows detected (a score >= t inside, after the probation) /
    windows; precision = detected / (detected + false alarms), false alarms = normal points >= t with no normal
    point >= t among the K before them (an alarm re-arms after K quiet samples), but at least (normal points
    >= t) / K (a standing alarm counts once per K samples)."""
    from collections import deque
    pts, mins = [], []
    for s, lab in zip(SS, LL):
        y = labels_vec(lab)
        pr = min(int(0.15 * lab['n']), 750)
        q = deque()  # (index, score) of normal points, decreasing scores, within the last K
        for i in range(pr, lab['n']):
            if y[i]:
                q.clear()
                continue
            while q and q[0][0] < i - K:
                q.popleft()
            m = q[0][1] if q else -1.0
            pts.append(-s[i])
            mins.append(-min(s[i], m))
            while q and q[-1][1] <= s[i]:
                q.pop()
            q.append((i, s[i]))
    pts.sort()
    mins.sort()
    W = sum(len(sn.records) for sn in SN)
    cands = sorted(set(-x for x in pts) | set(r[0] for sn in SN for rec, _, _ in sn.records for r in rec))
    if len(cands) > 800:
        cands = [cands[int(i * (len(cands) - 1) / 799)] for i in range(800)]
    best = (0.0, None)
    for t in cands:
        if t <= 0:
            continue
        npts = bisect.bisect_right(pts, -t)
        fa = max(npts - bisect.bisect_right(mins, -t), npts / K)  # a standing alarm counts once per K samples
        tp = sum(1 for sn in SN for rec, _, _ in sn.records if rec and rec[-1][0] >= t)
        if tp == 0:
            continue
        p, r = tp / (tp + fa), tp / W
        f = 2 * p * r / (p + r)
        if f > best[0]:
            best = (f, t)
    return best


def labels_vec(lab):
    y = [0] * lab['n']
    for a, b in lab['windows']:
        for i in range(a, b + 1):
            y[i] = 1
    return y


def fa_and_delay(s, lab, thr):
    n = len(s)
    prob = min(int(0.15 * n), 750)
    y = labels_vec(lab)
    normal = fa = episodes = 0
    prev_alarm = False
    for i in range(prob, n):
        if not y[i]:
            normal += 1
            a = s[i] >= thr
            fa += a
            if a and not prev_alarm:
                episodes += 1
            prev_alarm = a
        else:
            prev_alarm = False
    delays = []
    detected = 0
    starts = [a for a, _ in lab['anomalies']]
    for (a, b) in lab['windows']:
        st = [x for x in starts if a <= x <= b]
        st = st[0] if st else (a + b) // 2
        hit = next((i for i in range(max(a, prob), b + 1) if s[i] >= thr), None)
        if hit is not None:
            detected += 1
            delays.append(hit - st)
    return normal, fa, episodes, detected, delays


def median(x):
    x = sorted(x)
    return x[len(x) // 2] if x else float('nan')


def main():
    args = sys.argv[1:]
    data = args[0]
    dets = []
    out = None
    i = 1
    while i < len(args):
        if args[i] == '--det':
            k, v = args[i + 1].split('=', 1)
            dets.append((k, v))
            i += 2
        elif args[i] == '--out':
            out = args[i + 1]
            i += 2
        else:
            i += 1
    if not dets:
        dets = [('hg', 'bin:' + HG), ('wgauss', 'wgauss'), ('ewma', 'ewma'), ('random', 'random')]
    labels = json.load(open(os.path.join(data, 'labels.json')))
    names = sorted(labels)
    results = {}
    for dname, spec in dets:
        cache = os.path.join(data, 'scores', dname)
        os.makedirs(cache, exist_ok=True)
        with ThreadPoolExecutor(2) as ex:
            S = dict(zip(names, ex.map(lambda nm: scores_for(spec, nm, os.path.join(data, nm + '.csv'), cache), names)))
        for nm in names:
            assert len(S[nm]) == labels[nm]['n'], (dname, nm, len(S[nm]), labels[nm]['n'])
        series = {nm: SeriesNab(S[nm], labels[nm]) for nm in names}
        allsc = [x for nm in names for x in S[nm][series[nm].prob:]]
        thr, (norm, raw, tp, fn, fpn) = best_threshold(list(series.values()), allsc)
        dthr = DEFAULT_THR[spec.split(':')[0]]
        kinds = defaultdict(list)
        for nm in names:
            kinds[labels[nm]['kind']].append(nm)
        per = {}
        for kind, nms in sorted(kinds.items()) + [('ALL', names)]:
            kn = nab([series[x] for x in nms], thr)
            pairs = []
            aps = []
            for x in nms:
                y = labels_vec(labels[x])
                pr = series[x].prob
                pp = list(zip(S[x][pr:], y[pr:]))
                pairs += pp
                if any(y):
                    aps.append(average_precision(pp))
            normal = fa = ep = det = nw = 0
            delays, delays_opt = [], []
            det_opt = 0
            for x in nms:
                a, b, c, d, dl = fa_and_delay(S[x], labels[x], dthr)
                normal += a
                fa += b
                ep += c
                det += d
                delays += dl
                nw += len(labels[x]['windows'])
                _, _, _, d2, dl2 = fa_and_delay(S[x], labels[x], thr)
                det_opt += d2
                delays_opt += dl2
            per[kind] = {
                'series': len(nms), 'windows': nw,
                'nab': kn[0] if nw else None, 'nab_tp': kn[2], 'nab_fn': kn[3], 'nab_fp': kn[4], 'nab_raw': kn[1],
                'ap_pooled': average_precision(pairs) if nw else None,
                'event_f1': event_f1([series[x] for x in nms], [S[x] for x in nms], [labels[x] for x in nms]) if nw else None,
                'ap_mean': sum(aps) / len(aps) if aps else None,
                'fa_per_1k': 1000.0 * fa / max(normal, 1), 'fa_episodes_per_1k': 1000.0 * ep / max(normal, 1),
                'recall_default': det / nw if nw else None, 'delay_median_default': median(delays),
                'recall_opt': det_opt / nw if nw else None, 'delay_median_opt': median(delays_opt),
            }
        results[dname] = {'threshold_opt': thr, 'default_threshold': dthr, 'kinds': per}
        a = per['ALL']
        print('%-10s thr*=%.4f NAB=%6.1f (tp %d fn %d fp %d) APpool=%.3f APmean=%.3f evF1*=%.3f FA/1k@%.3g=%.2f ep/1k=%.2f recall@def=%.2f delay=%s'
              % (dname, thr, norm, tp, fn, fpn, a['ap_pooled'], a['ap_mean'], a['event_f1'][0], dthr, a['fa_per_1k'],
                 a['fa_episodes_per_1k'], a['recall_default'], a['delay_median_default']), flush=True)
    if out:
        json.dump(results, open(out, 'w'), indent=1)
    # per-kind table
    print('\nper kind: NAB (at each detector\'s corpus-optimal threshold) / AP mean / FA per 1k @default / recall@default')
    print('%-10s' % 'kind' + ''.join('%-30s' % d for d, _ in dets))
    for kind in sorted(results[dets[0][0]]['kinds']):
        row = '%-10s' % kind
        for d, _ in dets:
            p = results[d]['kinds'][kind]
            f = lambda x, fm: (fm % x) if x is not None and x == x else '-'
            row += '%-30s' % ('%s / %s / %s / %s' % (f(p['nab'], '%.1f'), f(p['ap_mean'], '%.2f'),
                                                    f(p['fa_per_1k'], '%.1f'), f(p['recall_default'], '%.2f')))
        print(row)


if __name__ == '__main__':
    main()
