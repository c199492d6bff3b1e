#!/usr/bin/env python3
"""Realistic labelled telemetry series (NAB-like), standard library only.

gen.py OUTDIR [--per-kind N] [--seed S]
Writes OUTDIR/<name>.csv (header timestamp,value) and OUTDIR/labels.json:
  {name: {"kind":..., "n":..., "interval":..., "anomalies": [[idx, type], ...], "windows": [[s, e], ...]}}
Windows are NAB-style: total width 10% of the series split evenly across anomalies, centred on each
anomaly start, overlapping windows merged. Only the start of a persistent change is labelled.
"""
import datetime as dt
import json
import math
import os
import random
import sys

DAY = 86400.0
T0 = 1772409600.0  # 2026-03-02 00:00:00 UTC, a Monday


def poisson(rng, lam):
    if lam <= 0:
        return 0
    if lam > 40:
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    L, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= L:
            return k
        k += 1


def diurnal(t, tz_h=0.0, peak_h=14.0, sharp=1.5):
    """0..1 business-day curve in local time (tz_h hours from UTC)."""
    h = ((t / 3600.0 + tz_h) % 24.0)
    c = 0.5 + 0.5 * math.cos(2 * math.pi * (h - peak_h) / 24.0)
    return c ** sharp


def weekly(t, tz_h=0.0, weekend=0.6):
    dow = int(((t + tz_h * 3600) // DAY + 0) % 7)  # T0 is a Monday -> 0
    return weekend if dow >= 5 else 1.0


def times(rng, n, interval, jitter=0.0, drop=0.0, gaps=0, start=None):
    """Timestamps: regular, or jittered with dropped rows and a few long gaps."""
    t = (start if start is not None else T0 + rng.randrange(0, 20) * DAY)
    out = []
    gap_at = set(rng.randrange(n // 5, n) for _ in range(gaps))
    while len(out) < n:
        if len(out) in gap_at:
            t += interval * rng.randint(12, 72)
        if drop and rng.random() < drop:
            t += interval
            continue
        out.append(t + (rng.uniform(-jitter, jitter) * interval if jitter else 0.0))
        t += interval
    # keep monotone
    for i in range(1, n):
        if out[i] <= out[i - 1]:
            out[i] = out[i - 1] + 1.0
    return out


class AR1:
    def __init__(self, rng, phi, sd):
        self.rng, self.phi, self.sd, self.x = rng, phi, sd, 0.0

    def __call__(self):
        self.x = self.phi * self.x + self.rng.gauss(0, self.sd * math.sqrt(1 - self.phi ** 2))
        return self.x


def pick_starts(rng, n, k, lo=0.25, min_sep=0.12):
    """k anomaly start indices after the first `lo` of the series, separated."""
    for _ in range(1000):
        s = sorted(rng.randrange(int(n * lo), int(n * 0.92)) for _ in range(k))
        if all(b - a > min_sep * n for a, b in zip(s, s[1:])):
            return s
    return sorted(rng.sample(range(int(n * lo), int(n * 0.92)), k))


# ---------------------------------------------------------------- kinds
# each returns (ts, values, anomalies[(idx, type)])

def k_cpu(rng, anomalous=True):
    n = rng.randint(4000, 9000)
    iv = 300.0
    ts = times(rng, n, iv)
    tz = rng.choice([0, -5, 1, 8])
    base, amp = rng.uniform(5, 20), rng.uniform(20, 45)
    noise = AR1(rng, 0.7, rng.uniform(2, 5))
    cron_every = rng.choice([3600, 1800, 900])
    cron_amp = rng.uniform(15, 35)
    v = []
    shift = 0.0
    anoms = []
    kinds = ['deploy_shift', 'runaway', 'cron_storm', 'stuck']
    starts = pick_starts(rng, n, rng.randint(1, 3)) if anomalous else []
    plan = {s: rng.choice(kinds) for s in starts}
    active = None
    for i, t in enumerate(ts):
        if i in plan:
            active = (plan[i], i, rng.randint(12, 36))
            anoms.append((i, plan[i]))
            if plan[i] == 'deploy_shift':
                shift += rng.choice([-1, 1]) * rng.uniform(8, 15)
                active = None
        x = base + amp * diurnal(t, tz) * weekly(t, tz) + noise() + shift
        if int(t) % cron_every < iv:  # the cron job's sample
            x += cron_amp * rng.uniform(0.7, 1.2)
        h = ((t / 3600 + tz) % 24)
        if 2.0 <= h < 2.5:  # nightly backup: normal
            x += 30
        if active:
            kind, s0, dur = active
            if i - s0 >= dur:
                active = None
            elif kind == 'runaway':
                x = 95 + rng.gauss(0, 1.5)
            elif kind == 'cron_storm':
                x += cron_amp * rng.uniform(0.7, 1.2)
            elif kind == 'stuck':
                x = v[s0 - 1]
        x = min(100.0, max(0.0, x))
        v.append(round(x, 1))
    return ts, v, anoms, iv


def k_requests(rng, anomalous=True):
    n = rng.randint(4000, 9000)
    iv = 300.0
    ts = times(rng, n, iv)
    tz = rng.choice([0, -5, 1])
    peak = rng.choice([50, 200, 1500])
    anoms, v = [], []
    kinds = ['outage', 'surge', 'partial_drop']
    starts = pick_starts(rng, n, rng.randint(1, 3)) if anomalous else []
    plan = {s: rng.choice(kinds) for s in starts}
    active = None
    burst = 0
    for i, t in enumerate(ts):
        lam = peak * (0.05 + diurnal(t, tz)) * weekly(t, tz, 0.5)
        if burst > 0:  # normal short bursts (retries, a bot)
            lam *= 1.6
            burst -= 1
        elif rng.random() < 1 / 400:
            burst = rng.randint(1, 3)
        if i in plan:
            active = (plan[i], i, rng.randint(6, 36))
            anoms.append((i, plan[i]))
        if active:
            kind, s0, dur = active
            if i - s0 >= dur:
                active = None
            else:
                lam *= {'outage': 0.02, 'surge': 3.0, 'partial_drop': 0.45}[kind]
        v.append(poisson(rng, lam))
    return ts, v, anoms, iv


def k_errors(rng, anomalous=True):
    """Sparse error counts per minute: mostly 0."""
    n = rng.randint(4000, 9000)
    iv = 60.0
    ts = times(rng, n, iv)
    lam0 = rng.uniform(0.05, 0.6)
    anoms, v = [], []
    starts = pick_starts(rng, n, rng.randint(1, 2)) if anomalous else []
    active = None
    for i, t in enumerate(ts):
        lam = lam0 * (0.5 + diurnal(t))
        if rng.random() < 1 / 300:
            lam *= 8  # normal: a client retrying a few times
        if i in starts:
            active = (i, rng.randint(5, 30), rng.uniform(5, 20))
            anoms.append((i, 'error_burst'))
        if active:
            s0, dur, m = active
            if i - s0 >= dur:
                active = None
            else:
                lam *= m
        v.append(poisson(rng, lam))
    return ts, v, anoms, iv


def k_net(rng, anomalous=True):
    n = rng.randint(4000, 9000)
    iv = 300.0
    ts = times(rng, n, iv)
    tz = rng.choice([0, 1, -8])
    base = 10 ** rng.uniform(5, 8)
    anoms, v = [], []
    kinds = ['exfil', 'ddos']
    starts = pick_starts(rng, n, rng.randint(1, 2)) if anomalous else []
    plan = {s: rng.choice(kinds) for s in starts}
    active = None
    for i, t in enumerate(ts):
        mu = base * (0.15 + diurnal(t, tz)) * weekly(t, tz, 0.7)
        x = mu * rng.lognormvariate(0, 0.35)
        if rng.random() < 0.02:  # heavy-tailed bursts: backups, updates, video
            x += mu * (rng.paretovariate(1.3) - 1) * 2
        if i in plan:
            dur = rng.randint(36, 96) if plan[i] == 'exfil' else rng.randint(3, 8)
            active = (plan[i], i, dur)
            anoms.append((i, plan[i]))
        if active:
            kind, s0, dur = active
            if i - s0 >= dur:
                active = None
            elif kind == 'exfil':
                x += base * 0.5 * rng.uniform(0.9, 1.1)
            else:
                x += base * rng.uniform(8, 15)
        v.append(round(x))
    return ts, v, anoms, iv


def k_temp(rng, anomalous=True):
    n = rng.randint(4000, 9000)
    iv = rng.choice([60.0, 300.0])
    ts = times(rng, n, iv, drop=0.01, gaps=rng.randint(0, 2))
    drift = 0.0
    base = rng.uniform(35, 60)
    load = AR1(rng, 0.95, 1.5)
    anoms, v = [], []
    kinds = ['stuck', 'sensor_fail', 'overheat']
    starts = pick_starts(rng, n, rng.randint(1, 2)) if anomalous else []
    plan = {s: rng.choice(kinds) for s in starts}
    active = None
    for i, t in enumerate(ts):
        drift += rng.gauss(0, 0.02)
        drift *= 0.999
        x = base + 3 * diurnal(t, 0, 15) + drift + load() + rng.gauss(0, 0.4)
        if i in plan:
            dur = {'stuck': rng.randint(60, 240), 'sensor_fail': rng.randint(1, 6), 'overheat': rng.randint(30, 90)}[plan[i]]
            active = (plan[i], i, dur, rng.choice([0.0, -127.0, 85.0]))
            anoms.append((i, plan[i]))
        if active:
            kind, s0, dur, bad = active
            k = i - s0
            if k >= dur:
                active = None
            elif kind == 'stuck':
                x = v[s0 - 1]
            elif kind == 'sensor_fail':
                x = bad
            elif kind == 'overheat':
                x += 15.0 * min(1.0, k / (dur * 0.6))
        v.append(round(x * 2) / 2)
    return ts, v, anoms, iv


def k_memory(rng, anomalous=True):
    """Service RSS (MB): slow growth, daily deploy restarts (normal); leak = steeper ramp."""
    n = rng.randint(4000, 9000)
    iv = 300.0
    ts = times(rng, n, iv)
    base = rng.uniform(300, 2000)
    slope = base * rng.uniform(0.02, 0.08) / 288  # per sample
    restart_every = rng.randint(288, 288 * 3)
    anoms, v = [], []
    starts = pick_starts(rng, n, 1) if anomalous else []
    level = base
    extra = 0.0
    leak = 0.0
    next_restart = rng.randint(50, restart_every)
    for i, t in enumerate(ts):
        if i in starts:
            leak = slope * rng.uniform(4, 10)
            anoms.append((i, 'leak'))
        level += slope * rng.uniform(0, 2) + leak
        if i == next_restart:
            level = base
            leak = 0.0
            next_restart = i + restart_every + rng.randint(-30, 30)
        if level > base * 3:  # OOM kill
            level = base
            leak = 0.0
        x = level + base * 0.01 * rng.gauss(0, 1) + base * 0.03 * diurnal(t)
        v.append(round(x))
    return ts, v, anoms, iv


def k_shift(rng, anomalous=True):
    """Latency-like metric with persistent level shifts (each labelled at its start)."""
    n = rng.randint(4000, 9000)
    iv = 300.0
    ts = times(rng, n, iv)
    noise = AR1(rng, 0.5, 1.0)
    level = rng.uniform(20, 100)
    sd = level * rng.uniform(0.03, 0.1)
    anoms, v = [], []
    starts = pick_starts(rng, n, rng.randint(1, 3)) if anomalous else []
    for i, t in enumerate(ts):
        if i in starts:
            level += rng.choice([-1, 1]) * sd * rng.uniform(3, 6)
            anoms.append((i, 'level_shift'))
        x = level + sd * noise() + 0.5 * sd * diurnal(t)
        v.append(round(x, 2))
    return ts, v, anoms, iv


def k_seasonal(rng, anomalous=True):
    """Strong daily pattern (occupancy, logins); anomaly: a night that looks like a day, or a dead day."""
    iv = 300.0
    n = rng.randint(5000, 9000)
    ts = times(rng, n, iv)
    tz = rng.choice([0, -5, 1])
    peak = rng.uniform(50, 500)
    anoms, v = [], []
    starts = []
    if anomalous:
        # at local 00:00 of a day after the first week
        day0 = int((ts[0] + tz * 3600) // DAY) + rng.randint(8, int(n * iv / DAY) - 2)
        tstart = day0 * DAY - tz * 3600
        starts = [min(range(n), key=lambda i: abs(ts[i] - tstart))]
    kind = rng.choice(['night_as_day', 'dead_day'])
    for i, t in enumerate(ts):
        tt = t
        f = 1.0
        if starts and i >= starts[0] and t - ts[starts[0]] < (8 * 3600 if kind == 'night_as_day' else DAY):
            if kind == 'night_as_day':
                tt = t + 12 * 3600
            else:
                f = 0.25
        if starts and i == starts[0]:
            anoms.append((i, kind))
        x = peak * (0.05 + diurnal(tt, tz)) * f
        x *= rng.lognormvariate(0, 0.08)
        v.append(round(x, 1))
    return ts, v, anoms, iv


def k_irregular(rng, anomalous=True):
    """Event-driven reporting: jittered timestamps, dropped rows, hours-long gaps."""
    n = rng.randint(3000, 8000)
    iv = rng.choice([60.0, 300.0])
    ts = times(rng, n, iv, jitter=0.4, drop=0.15, gaps=rng.randint(2, 5))
    noise = AR1(rng, 0.8, 2.0)
    base = rng.uniform(20, 60)
    anoms, v = [], []
    starts = pick_starts(rng, n, rng.randint(1, 3)) if anomalous else []
    plan = {s: rng.choice(['spike', 'shift', 'dip']) for s in starts}
    shift = 0.0
    dip = None
    for i, t in enumerate(ts):
        x = base + 10 * diurnal(t) + noise() + shift
        if i in plan:
            anoms.append((i, plan[i]))
            if plan[i] == 'shift':
                shift += rng.choice([-1, 1]) * rng.uniform(8, 14)
            elif plan[i] == 'spike':
                x += rng.choice([-1, 1]) * rng.uniform(12, 25)
            else:
                dip = (i, rng.randint(5, 20))
        if dip and i - dip[0] < dip[1]:
            x -= 15
        v.append(round(x, 2))
    return ts, v, anoms, iv


def k_disk(rng, anomalous=True):
    """Disk usage %: slow fill, nightly log rotation drop (normal); anomaly: fast fill."""
    n = rng.randint(4000, 9000)
    iv = 300.0
    ts = times(rng, n, iv)
    x = rng.uniform(20, 60)
    rate = rng.uniform(0.5, 2.0) / 288
    anoms, v = [], []
    starts = pick_starts(rng, n, 1) if anomalous else []
    fast = 0
    for i, t in enumerate(ts):
        if i in starts:
            fast = rng.randint(24, 60)
            anoms.append((i, 'fast_fill'))
        x += rate * rng.uniform(0, 2) * (0.3 + diurnal(t))
        if fast > 0:
            x += rate * 25
            fast -= 1
        if int(t) % int(DAY) < iv:  # logrotate at 00:00
            x -= rate * 288 * 0.8
        x = max(1.0, min(100.0, x))
        v.append(round(x, 2))
    return ts, v, anoms, iv


def k_latency(rng, anomalous=True):
    """p50 request latency (ms), lognormal; anomalies: degradation, jitter (variance) episode."""
    n = rng.randint(4000, 9000)
    iv = 300.0
    ts = times(rng, n, iv)
    med = rng.uniform(20, 200)
    anoms, v = [], []
    starts = pick_starts(rng, n, rng.randint(1, 2)) if anomalous else []
    plan = {s: rng.choice(['degrade', 'jitter']) for s in starts}
    active = None
    for i, t in enumerate(ts):
        m, s = med * (1 + 0.4 * diurnal(t)), 0.25
        if i in plan:
            active = (plan[i], i, rng.randint(12, 36))
            anoms.append((i, plan[i]))
        if active:
            kind, s0, dur = active
            if i - s0 >= dur:
                active = None
            elif kind == 'degrade':
                m *= 2.0
            else:
                s = 0.9
        v.append(round(m * rng.lognormvariate(0, s), 1))
    return ts, v, anoms, iv


def k_hourly(rng, anomalous=True):
    """Hourly building energy (kWh): daily + weekly, 1 h sampling; anomaly: HVAC left on, meter drop."""
    n = rng.randint(1500, 3000)
    iv = 3600.0
    ts = times(rng, n, iv)
    base = rng.uniform(20, 80)
    anoms, v = [], []
    starts = pick_starts(rng, n, rng.randint(1, 2)) if anomalous else []
    plan = {s: rng.choice(['hvac_on', 'meter_zero']) for s in starts}
    active = None
    for i, t in enumerate(ts):
        x = base * (0.3 + diurnal(t, 1, 13, 2) * weekly(t, 1, 0.3)) * rng.lognormvariate(0, 0.07)
        if i in plan:
            active = (plan[i], i, rng.randint(12, 48) if plan[i] == 'hvac_on' else rng.randint(3, 10))
            anoms.append((i, plan[i]))
        if active:
            kind, s0, dur = active
            if i - s0 >= dur:
                active = None
            elif kind == 'hvac_on':
                x = max(x, base * 1.0 * rng.lognormvariate(0, 0.05))
            else:
                x = 0.0
        v.append(round(x, 2))
    return ts, v, anoms, iv


def k_persec(rng, anomalous=True):
    """1 s packet rate on a sensor network link: spiky, anomalies are floods and silences."""
    n = rng.randint(4000, 9000)
    iv = 1.0
    ts = times(rng, n, iv, drop=0.02)
    lam = rng.uniform(5, 40)
    anoms, v = [], []
    starts = pick_starts(rng, n, rng.randint(1, 2)) if anomalous else []
    plan = {s: rng.choice(['flood', 'silence']) for s in starts}
    active = None
    for i, t in enumerate(ts):
        l = lam * (1 + 0.3 * math.sin(2 * math.pi * i / 600))
        if rng.random() < 0.01:
            l *= 3  # normal chatter bursts
        if i in plan:
            active = (plan[i], i, rng.randint(20, 120))
            anoms.append((i, plan[i]))
        if active:
            kind, s0, dur = active
            if i - s0 >= dur:
                active = None
            else:
                l = l * 6 if kind == 'flood' else 0.05
        v.append(poisson(rng, l))
    return ts, v, anoms, iv


KINDS = {
    'cpu': k_cpu, 'requests': k_requests, 'errors': k_errors, 'net': k_net, 'temp': k_temp,
    'memory': k_memory, 'shift': k_shift, 'seasonal': k_seasonal, 'irregular': k_irregular,
    'disk': k_disk, 'latency': k_latency, 'hourly': k_hourly, 'persec': k_persec,
}
NOANOM = ['cpu', 'requests', 'net', 'temp', 'latency', 'memory']


def windows(n, anoms):
    if not anoms:
        return []
    w = max(2, int(0.1 * n / len(anoms)))
    ws = []
    for idx, _ in anoms:
        s, e = max(0, idx - w // 2), min(n - 1, idx + w // 2)
        if ws and s <= ws[-1][1]:
            ws[-1][1] = max(ws[-1][1], e)
        else:
            ws.append([s, e])
    return ws


def fmt_ts(t, style):
    if style == 'epoch':
        return ('%.3f' % t).rstrip('0').rstrip('.')
    d = dt.datetime.fromtimestamp(t, dt.timezone.utc)
    if style == 'nab':
        return d.strftime('%Y-%m-%d %H:%M:%S')
    return d.astimezone(dt.timezone(dt.timedelta(hours=-5))).isoformat()  # with an offset


def main():
    out = sys.argv[1]
    per = int(sys.argv[sys.argv.index('--per-kind') + 1]) if '--per-kind' in sys.argv else 4
    seed = int(sys.argv[sys.argv.index('--seed') + 1]) if '--seed' in sys.argv else 1
    os.makedirs(out, exist_ok=True)
    labels = {}
    for ki, (kname, fn) in enumerate(sorted(KINDS.items())):
        for j in range(per):
            rng = random.Random(seed * 100003 + ki * 101 + j)
            ts, v, anoms, iv = fn(rng, True)
            name = '%s_%02d' % (kname, j)
            style = ['nab', 'epoch', 'iso'][j % 3]
            labels[name] = write(out, name, kname, ts, v, anoms, iv, style)
    for j, kname in enumerate(NOANOM):
        rng = random.Random(seed * 7919 + j)
        ts, v, anoms, iv = KINDS[kname](rng, False)
        name = 'clean-%s_%02d' % (kname, 0)
        labels[name] = write(out, name, 'clean', ts, v, anoms, iv, 'nab')
    with open(os.path.join(out, 'labels.json'), 'w') as f:
        json.dump(labels, f, indent=0)
    print('%d series, %d rows' % (len(labels), sum(l['n'] for l in labels.values())))


def write(out, name, kind, ts, v, anoms, iv, style):
    with open(os.path.join(out, name + '.csv'), 'w') as f:
        f.write('timestamp,value\n')
        for t, x in zip(ts, v):
            f.write('%s,%s\n' % (fmt_ts(t, style), repr(x) if isinstance(x, float) else x))
    return {'kind': kind, 'n': len(v), 'interval': iv, 'ts': [ts[0], ts[-1]],
            'anomalies': [[i, k] for i, k in anoms], 'windows': windows(len(v), anoms)}


if __name__ == '__main__':
    main()
