#!/usr/bin/python3
"""Seeded randomized model check of pg_topics compaction and retention
(TAP 023_compaction_model runs it).

usage: python3 compaction_model.py SEED [STEPS] [--dr0] [--host DIR] [--port N] [--trace] [--keep]
Creates database mc_SEED (dropped first), topics tc (compact), tdt (delete, time),
tdb (delete, bytes), tcd (compact,delete; time), runs STEPS random steps, checks after each.
Exit code 1 on first invariant failure; prints the step log (--trace prints each SQL step).
"""
import os, sys, random, datetime, traceback
import psycopg2, psycopg2.extensions

from seeded_run import Args, LOG, log, Fail, fail, finish_run

UTC = datetime.timezone.utc
ARGS = Args(500, 5631, '/tmp/r2')
SEED = ARGS.seed
STEPS = ARGS.steps
DR0 = ARGS.flag('--dr0')
TRACE = ARGS.trace
PORT = ARGS.port
HOST = ARGS.host
rnd = random.Random(SEED)
DB = 'mc_%d' % SEED
KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', None]
RB = 3 * 8192


def connect(db):
    c = psycopg2.connect(host=HOST, port=PORT, user='postgres', dbname=db)
    return c


adm = connect('postgres')
adm.autocommit = True
adm.cursor().execute('DROP DATABASE IF EXISTS %s' % DB)
adm.cursor().execute('CREATE DATABASE %s' % DB)

auto = connect(DB); auto.autocommit = True
txc = connect(DB); txc.autocommit = True
opc = connect(DB); opc.autocommit = True
A = auto.cursor()
A.execute('CREATE EXTENSION pg_topics')
A.execute("SET lock_timeout = '3s'")
if DR0:
    A.execute('SET pg_topics.delete_retention = 0')
DELRET = datetime.timedelta(seconds=0) if DR0 else datetime.timedelta(days=1)

TOPICS = {
    'tc': dict(policy='compact', ret=None),
    'tdt': dict(policy='delete', ret=datetime.timedelta(hours=1)),
    'tdb': dict(policy='delete', ret=None, rb=RB),
    'tcd': dict(policy='compact,delete', ret=datetime.timedelta(hours=1)),
}
for name, t in TOPICS.items():
    A.execute("SELECT topics.create_topic(%s, 2, retention => %s, retention_bytes => %s, cleanup_policy => %s)",
              (name, '1 hour' if t['ret'] else None, t.get('rb'), t['policy']))
    t['nparts'] = 2
    t['parts'] = [dict(recs={}, next=0, ls=0) for _ in range(2)]
    t['delivered'] = {}   # partition -> last delivered seq (consumer group)


class Rec:
    __slots__ = ('seq', 'part', 'key', 'val', 'ts', 'st', 'gone', 'ctid', 'seen', 'delivered', 'gone_how')

    def __init__(s, part, seq, key, val, ts):
        s.part, s.seq, s.key, s.val, s.ts = part, seq, key, val, ts
        s.st = 'pending'; s.gone = False; s.ctid = None; s.seen = False; s.delivered = False; s.gone_how = None

    def __repr__(s):
        return 'Rec(p%d s%d %s %s ts=%s %s%s)' % (s.part, s.seq, s.key, None if s.val is None else s.val[:8],
                                              s.ts, s.st, ' GONE:' + str(s.gone_how) if s.gone else '')


vcount = [0]


def newval():
    vcount[0] += 1
    return 'v%d-' % vcount[0] + 'x' * rnd.choice([20, 300, 1500])


def newts():
    now = datetime.datetime.now(UTC)
    return rnd.choice([None, None, now - datetime.timedelta(hours=2), now - datetime.timedelta(days=2),
                       now - datetime.timedelta(minutes=rnd.randint(0, 30)), now + datetime.timedelta(minutes=5)])


def register(tname, rows, specs, txrecs):
    t = TOPICS[tname]
    for (p, s), (k, v, ts) in zip(rows, specs):
        P = t['parts'][p]
        if s in P['recs']:
            fail('seq %d of %s p%d handed out twice' % (s, tname, p))
        if s < P['next']:
            fail('seq %d of %s p%d below model next %d (seq reused/decreased)' % (s, tname, p, P['next']))
        r = Rec(p, s, k, v, ts)
        P['recs'][s] = r
        P['next'] = s + 1
        txrecs.append(r)


def do_produce(cur, tname, txrecs, desc):
    t = TOPICS[tname]
    kind = rnd.choice(['produce', 'batch', 'insert', 'insert'])
    old = (CUR[0] // 60) % 2 == 1 and t['ret'] is not None
    if old:
        kind = 'insert'
    part = rnd.choice([None] + list(range(t['nparts'])))
    if kind == 'produce':
        k = rnd.choice(KEYS); v = None if rnd.random() < 0.2 else newval()
        sql = cur.mogrify("SELECT partition, seq FROM topics.produce(%s, %s, %s::text, partition => %s)", (tname, k, v, part)).decode()
        specs = [(k, v, None)]
    elif kind == 'batch':
        n = rnd.randint(1, 12)
        ks = [rnd.choice(KEYS) for _ in range(n)]
        vs = [None if rnd.random() < 0.15 else newval() for _ in range(n)]
        sql = cur.mogrify("SELECT partition, seq FROM topics.produce_batch(%s, %s::text[], %s::text[], partition => %s)", (tname, ks, vs, part)).decode()
        specs = [(ks[i], vs[i], None) for i in range(n)]
    else:
        n = rnd.randint(1, 5)
        specs = []
        vals = []
        for i in range(n):
            k = rnd.choice(KEYS); v = None if rnd.random() < 0.2 else newval(); ts = newts()
            if old and rnd.random() < 0.95:
                ts = datetime.datetime.now(UTC) - rnd.choice([datetime.timedelta(hours=2), datetime.timedelta(days=2)])
            p = part if part is not None else rnd.choice([None, rnd.randrange(t['nparts'])])
            specs.append((k, v, ts))
            vals.append(cur.mogrify("(%s::int, %s, convert_to(%s, 'UTF8'), coalesce(%s::timestamptz, now()))", (p, k, v, ts)).decode())
        sql = "INSERT INTO %s (partition, key, value, ts) VALUES %s RETURNING partition, seq" % (tname, ', '.join(vals))
        # NULL partition in INSERT: let the AM pick. (column default)
        sql = sql.replace("(NULL::int,", "(DEFAULT,") if False else sql
    desc.append(sql)
    cur.execute(sql)
    rows = cur.fetchall()
    if len(rows) != len(specs):
        fail('produce returned %d rows for %d records' % (len(rows), len(specs)))
    register(tname, rows, specs, txrecs)
    return rows


CUR = [0]
open_tx = dict(active=False, recs=[], topics=set())


def busy(tname):
    return open_tx['active'] and tname in open_tx['topics']


def pending_first(tname, p):
    m = [r.seq for r in open_tx['recs'] if r.part == p and r.st == 'pending'] if open_tx['active'] else []
    m = [s for s in m if any(r.seq == s for r in open_tx['recs'])]
    return min(m) if m and tname in open_tx['topics'] else None


def pending_first2(tname, p):
    if not open_tx['active']:
        return None
    s = [r.seq for (tn, r) in open_tx['recs'] if tn == tname and r.part == p and r.st == 'pending']
    return min(s) if s else None


def step_tx():
    cur = txc.cursor()
    cur.execute('BEGIN')
    recs = []  # (tname, rec)
    desc = ['BEGIN']
    for _ in range(rnd.randint(1, 3)):
        tn = rnd.choice(list(TOPICS))
        if rnd.random() < 0.15:
            cur.execute('SAVEPOINT s'); desc.append('SAVEPOINT s')
            sub = []
            do_produce(cur, tn, sub, desc)
            if rnd.random() < 0.5:
                cur.execute('ROLLBACK TO SAVEPOINT s'); desc.append('ROLLBACK TO SAVEPOINT s')
                for r in sub:
                    r.st = 'aborted'
            else:
                cur.execute('RELEASE SAVEPOINT s'); desc.append('RELEASE SAVEPOINT s')
                recs += [(tn, r) for r in sub]
        else:
            sub = []
            do_produce(cur, tn, sub, desc)
            recs += [(tn, r) for r in sub]
    if rnd.random() < 0.75:
        cur.execute('COMMIT'); desc.append('COMMIT')
        for _, r in recs:
            r.st = 'committed'
    else:
        cur.execute('ROLLBACK'); desc.append('ROLLBACK')
        for _, r in recs:
            r.st = 'aborted'
    return 'tx', desc


def step_open():
    cur = opc.cursor()
    desc = []
    if not open_tx['active']:
        cur.execute('BEGIN'); desc.append('-- open: BEGIN')
        open_tx.update(active=True, recs=[], topics=set())
    if rnd.random() < 0.3 and open_tx['recs']:
        commit = rnd.random() < 0.6
        cur.execute('COMMIT' if commit else 'ROLLBACK'); desc.append('-- open: ' + ('COMMIT' if commit else 'ROLLBACK'))
        for _, r in open_tx['recs']:
            if r.st == 'pending':
                r.st = 'committed' if commit else 'aborted'
        open_tx.update(active=False, recs=[], topics=set())
        return 'open_end', desc
    tn = rnd.choice(list(TOPICS))
    sub = []
    do_produce(cur, tn, sub, desc)
    open_tx['recs'] += [(tn, r) for r in sub]
    open_tx['topics'].add(tn)
    desc[-1] = '-- open: ' + desc[-1]
    return 'open_add', desc


def run_auto(sql):
    try:
        A.execute(sql)
        return True
    except psycopg2.errors.LockNotAvailable:
        return False


maint_info = {}


def step_maintain():
    tn = rnd.choice(list(TOPICS))
    A.execute('SELECT clock_timestamp()')
    t0 = A.fetchone()[0]
    sql = "SELECT * FROM topics.maintain('%s')" % tn
    A.execute(sql)
    res = A.fetchall()
    A.execute('SELECT clock_timestamp()')
    t1 = A.fetchone()[0]
    maint_info.clear()
    maint_info.update(topic=tn, t0=t0, t1=t1, res=res)
    return 'maintain', [sql]


def step_vacuum():
    tn = rnd.choice(list(TOPICS))
    kind = rnd.choice(['VACUUM', 'VACUUM', 'VACUUM FREEZE', 'VACUUM FULL'])
    if kind == 'VACUUM FULL' and busy(tn):
        kind = 'VACUUM'
    sql = '%s %s' % (kind, tn)
    if not run_auto(sql):
        fail('lock timeout on ' + sql)
    return 'vacuum', [sql]


def step_truncate():
    tn = rnd.choice([t for t in TOPICS if not busy(t)] or [None])
    if tn is None:
        return 'noop', []
    sql = 'TRUNCATE %s' % tn
    if not run_auto(sql):
        fail('lock timeout on ' + sql)
    for P in TOPICS[tn]['parts']:
        for r in P['recs'].values():
            if r.st == 'committed' and not r.gone:
                r.gone = True; r.gone_how = 'truncate'
    return 'truncate', [sql]


def step_alter():
    cands = [t for t in TOPICS if not busy(t) and TOPICS[t]['nparts'] < 4]
    if not cands:
        return 'noop', []
    tn = rnd.choice(cands)
    t = TOPICS[tn]
    n = t['nparts'] + 1
    sql = "SELECT topics.alter_topic('%s', partitions => %d)" % (tn, n)
    if not run_auto(sql):
        fail('lock timeout on ' + sql)
    t['nparts'] = n
    t['parts'].append(dict(recs={}, next=0, ls=0))
    return 'alter', [sql]


def visible_expected(t, p):
    return {s: r for s, r in t['parts'][p]['recs'].items() if r.st == 'committed' and not r.gone}


def rowcmp(where, r, key, val, ts):
    v = None if val is None else bytes(val).decode()
    if r.key != key or r.val != v:
        fail('%s: record p%d s%d content differs: db (%r,%r) model (%r,%r)' % (where, r.part, r.seq, key, v, r.key, r.val))
    if r.ts is not None and ts != r.ts:
        # explicit ts given by producer
        fail('%s: record p%d s%d ts %s, produced with %s' % (where, r.part, r.seq, ts, r.ts))


def check(kind, desc):
    A.execute('SELECT clock_timestamp()')
    now = A.fetchone()[0]
    for tn, t in TOPICS.items():
        A.execute('SELECT partition, log_start_seq, next_seq, last_stable_seq, bytes FROM topics.partition_info(%s) ORDER BY 1', (tn,))
        info = {r[0]: r[1:] for r in A.fetchall()}
        if sorted(info) != list(range(t['nparts'])):
            fail('%s: partitions %s, model has %d' % (tn, sorted(info), t['nparts']))
        A.execute('SELECT partition, seq, key, value, ts, ctid::text FROM %s' % tn)
        full = A.fetchall()
        byp = {p: [] for p in range(t['nparts'])}
        for row in full:
            byp[row[0]].append(row)
        for p in range(t['nparts']):
            P = t['parts'][p]
            ls, nxt, lss, nbytes = info[p]
            where = '%s p%d' % (tn, p)
            if not (ls <= lss <= nxt):
                fail('%s: bounds log_start %d last_stable %d next %d' % (where, ls, lss, nxt))
            if nxt != P['next']:
                fail('%s: next_seq %d, model %d' % (where, nxt, P['next']))
            if ls < P['ls']:
                fail('%s: log_start_seq went back from %d to %d' % (where, P['ls'], ls))
            pf = pending_first2(tn, p)
            exp_lss = pf if pf is not None else nxt
            if lss != exp_lss:
                fail('%s: last_stable_seq %d, expected %d' % (where, lss, exp_lss))
            rows = byp[p]
            seqs = [r[1] for r in rows]
            if any(a >= b for a, b in zip(seqs, seqs[1:])):
                fail('%s: plain scan seqs not strictly increasing: %s' % (where, seqs))
            exp = visible_expected(t, p)
            got = {}
            for (_, s, k, v, ts, ctid) in rows:
                r = P['recs'].get(s)
                if r is None:
                    fail('%s: scan returned unknown seq %d' % (where, s))
                if r.st != 'committed':
                    fail('%s: scan returned %s record %r' % (where, r.st, r))
                if r.gone:
                    fail('%s: scan returned record removed earlier (%s): %r' % (where, r.gone_how, r))
                if s < ls:
                    fail('%s: scan returned seq %d below log_start %d' % (where, s, ls))
                rowcmp(where + ' scan', r, k, v, ts)
                if r.ts is None:
                    r.ts = ts
                r.seen = True
                r.ctid = tuple(int(x) for x in ctid.strip('()').split(','))
                got[s] = (r, ts)
            # disappearances
            missing = [r for s, r in exp.items() if s not in got]
            if missing:
                justify(kind, tn, t, p, missing, ls, now)
            P['ls'] = ls
            # TopicSeek
            A.execute('SELECT seq FROM %s WHERE partition = %d ORDER BY seq' % (tn, p))
            sk = [r[0] for r in A.fetchall()]
            if sk != seqs:
                fail('%s: TopicSeek %s != plain scan %s' % (where, sk, seqs))
            stable = [s for s in seqs if s < lss]
            # fetch
            A.execute('SELECT seq, key, value FROM topics.fetch(%s, %s, %s, 100000)', (tn, p, ls))
            fr = A.fetchall()
            if [r[0] for r in fr] != stable:
                fail('%s: fetch from %d returned %s, expected %s' % (where, ls, [r[0] for r in fr], stable))
            # shard iterator
            A.execute("SELECT topics.get_shard_iterator(%s, %s, 'TRIM_HORIZON')", (tn, p))
            it = A.fetchone()[0]
            got_it = []
            for _ in range(1000):
                A.execute('WITH g AS (SELECT * FROM topics.get_records(%s, 37)) '
                          'SELECT g.next_shard_iterator, r.seq FROM g LEFT JOIN LATERAL unnest(g.records) r ON true', (it,))
                rr = A.fetchall()
                it = rr[0][0]
                ss = [x[1] for x in rr if x[1] is not None]
                if not ss:
                    break
                got_it += ss
            if got_it != stable:
                fail('%s: get_records loop returned %s, expected %s' % (where, got_it, stable))
            # seq_at_time and ts seek
            tss = [r.ts or g for (r, g) in got.values()]
            cands = [now - datetime.timedelta(days=3), now + datetime.timedelta(hours=1)]
            if tss:
                for _ in range(3):
                    x = rnd.choice(tss)
                    cands.append(x + datetime.timedelta(microseconds=rnd.choice([-1, 0, 1])))
            for at in cands:
                A.execute('SELECT topics.seq_at_time(%s, %s, %s)', (tn, p, at))
                sat = A.fetchone()[0]
                earlier = [s for s, (r, g) in got.items() if s < sat and g >= at]
                if earlier:
                    fail('%s: seq_at_time(%s) = %d but committed seq %s has ts >= it' % (where, at, sat, earlier))
                # none with ts >= at: the last stable offset (next_seq
                # until 0.10); or the running record there has ts >= at
                # (the model knows a running record's ts only if given)
                if sat == lss and sat != nxt:
                    r = P['recs'].get(sat)
                    later = [s for s, (_, g) in got.items() if s > sat and g >= at]
                    if later and (r is None or (r.ts is not None and r.ts < at)):
                        fail('%s: seq_at_time(%s) = last stable %d but committed seqs %s have ts >= it'
                             % (where, at, sat, later))
                elif sat != nxt:
                    r = P['recs'].get(sat)
                    if r is None or sat < ls:
                        fail('%s: seq_at_time(%s) = %d: no such stored record (log_start %d)' % (where, at, sat, ls))
                    if sat in got and got[sat][1] < at:
                        fail('%s: seq_at_time(%s) = %d whose ts %s < at' % (where, at, sat, got[sat][1]))
                    if r.ts is not None and r.ts < at:
                        fail('%s: seq_at_time(%s) = %d whose ts %s < at' % (where, at, sat, r.ts))
                A.execute('SELECT seq FROM %s WHERE partition = %d AND ts >= %%s ORDER BY seq' % (tn, p), (at,))
                tsel = [r[0] for r in A.fetchall()]
                etsel = sorted(s for s, (r, g) in got.items() if g >= at)
                if tsel != etsel:
                    fail('%s: SELECT ts >= %s returned %s, expected %s' % (where, at, tsel, etsel))
            # bytes retention
            if kind == 'maintain' and maint_info['topic'] == tn and t.get('rb') and pf is None:
                if nbytes > RB:
                    fail('%s: %d bytes after maintain with retention_bytes %d' % (where, nbytes, RB))
            # compaction completeness after maintain
            if kind == 'maintain' and maint_info['topic'] == tn and 'compact' in t['policy']:
                compaction_complete(tn, t, p, got, pf, ls)
        # consumer group
        consume_check(tn, t)


def justify(kind, tn, t, p, missing, ls, now):
    where = '%s p%d' % (tn, p)
    if kind != 'maintain' or maint_info['topic'] != tn:
        fail('%s: committed records vanished after a %s step: %s' % (where, kind, missing[:10]))
    t1 = maint_info['t1']
    P = t['parts'][p]
    pf = pending_first2(tn, p)
    for r in missing:
        ok = False
        how = None
        if 'delete' in t['policy'] and r.seq < ls:
            if t.get('rb'):
                ok = True; how = 'bytes'
            elif t['ret'] is not None:
                # every committed record in the removed range should be older than the cutoff
                ts = r.ts if r.ts is not None else None
                if ts is not None and ts < t1 - t['ret']:
                    ok = True; how = 'time'
                elif ts is None:
                    fail('%s: retention by time removed record with append-time ts (recent): %r' % (where, r))
        if not ok and 'compact' in t['policy'] and r.key is not None:
            # a record after the first in-progress one supersedes nothing yet
            later = [x for x in P['recs'].values() if x.key == r.key and x.seq > r.seq and x.st == 'committed'
                     and (pf is None or x.seq < pf)]
            if later:
                ok = True; how = 'superseded by %d' % later[0].seq
            elif r.val is None:
                ts = r.ts
                if ts is None:
                    ts = maint_info.get('seen_ts', {}).get((tn, p, r.seq))
                if r.ts is not None and r.ts < t1 - DELRET:
                    ok = True; how = 'old tombstone'
        if not ok:
            fail('%s: maintain removed a record it should keep: %r (log_start %d)' % (where, r, ls))
        if 'compact' in t['policy'] and r.seq >= ls and pf is not None and r.seq >= pf:
            fail('%s: compaction removed %r at/after the first in-progress record %d' % (where, r, pf))
        r.gone = True
        r.gone_how = how
        GONE_STEP[id(r)] = CUR[0]


def compaction_complete(tn, t, p, got, pf, ls):
    """After maintain: every superseded/old-tombstone record below the settled end must be gone."""
    P = t['parts'][p]
    if not got:
        return
    nxt = P['next']
    last = max(got)
    # the tail page is known only if the partition's last seq is a visible record
    if last != nxt - 1:
        return
    r = got[last][0]
    tail_first = last - r.ctid[1] + 1
    bound = tail_first if pf is None else min(tail_first, pf)
    t1 = maint_info['t1']
    for s, (r, g) in got.items():
        if s >= bound or r.key is None:
            continue
        later = [x for x in P['recs'].values() if x.key == r.key and x.seq > s and x.st == 'committed'
                 and (pf is None or x.seq < pf)]
        old_tomb = r.val is None and g < maint_info['t0'] - DELRET - datetime.timedelta(milliseconds=1)
        if later or old_tomb:
            fail('%s p%d: after maintain, %r survives though %s (settled end %d, tail page starts at %d)' % (
                tn, p, r, 'superseded by %d' % later[0].seq if later else 'an old tombstone', bound, tail_first))
    # tail page records never compacted: all committed records >= tail_first remain
    for s, x in P['recs'].items():
        if s >= tail_first and x.st == 'committed' and s not in got and x.gone_how not in ('truncate',) and GONE_STEP.get(id(x)) == CUR[0]:
            fail('%s p%d: compaction removed %r on the tail page (starts at %d)' % (tn, p, x, tail_first))


def consume_check(tn, t):
    got = []
    for _ in range(200):
        A.execute("SELECT partition, seq FROM topics.consume('g', %s, 23)", (tn,))
        rows = A.fetchall()
        if not rows:
            break
        got += rows
    for p, s in got:
        P = t['parts'][p]
        r = P['recs'].get(s)
        if r is None or r.st != 'committed':
            fail('%s p%d: consume delivered %s seq %d' % (tn, p, 'unknown' if r is None else r.st, s))
        if r.delivered:
            fail('%s p%d: consume delivered seq %d twice' % (tn, p, s))
        last = t['delivered'].get(p, -1)
        if s <= last:
            fail('%s p%d: consume delivered seq %d after %d' % (tn, p, s, last))
        t['delivered'][p] = s
        r.delivered = True
    # nothing skipped: every visible stable record was delivered at some point
    for p in range(t['nparts']):
        pf = pending_first2(tn, p)
        for s, r in visible_expected(t, p).items():
            if (pf is None or s < pf) and not r.delivered:
                fail('%s p%d: consumer group never delivered visible committed seq %d (%r)' % (tn, p, s, r))


STEPS_W = [(step_tx, 30), (step_open, 12), (step_maintain, 16), (step_vacuum, 8), (step_truncate, 1), (step_alter, 1)]
STEPS_W = [(f, w * 3) for f, w in STEPS_W]
STEPS_W[4] = (step_truncate, 1)
funcs = [f for f, w in STEPS_W for _ in range(w)]

step = 0
GONE_STEP = {}
try:
    check('init', [])
    for step in range(1, STEPS + 1):
        f = rnd.choice(funcs)
        if '--keep' in sys.argv and step == STEPS:
            print('stopping before step', step); os._exit(0)
        CUR[0] = step
        kind, desc = f()
        for d in desc:
            log('[%d] %s' % (step, d))
        check(kind, desc)
    from collections import Counter
    st = Counter()
    for tn, t in TOPICS.items():
        for P in t['parts']:
            for r in P['recs'].values():
                st[(tn, r.st, (r.gone_how or '').split(' ')[0])] += 1
    print('seed %d%s: %d steps OK; %s' % (SEED, ' dr0' if DR0 else '', STEPS, dict(sorted(st.items()))))
    ok = True
except Fail as e:
    print('seed %d%s: FAIL at step %d: %s' % (SEED, ' dr0' if DR0 else '', step, e))
    print('--- last steps:')
    for l in LOG[-15:]:
        print(l)
    ok = False
except Exception:
    print('seed %d: ERROR at step %d' % (SEED, step))
    traceback.print_exc()
    for l in LOG[-15:]:
        print(l)
    ok = False
finish_run(ok, (auto, txc, opc), adm, DB)
