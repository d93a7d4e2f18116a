#!/usr/bin/python3
"""Seeded differential test of a topic against a plain heap "twin" table
holding the same rows (TAP 030_differential runs it).

usage: python3 differential.py SEED [STEPS] [--host DIR] [--port N] [--trace] [--keep] [--skip CHECK,...]

--skip (or the environment's PGTOPICS_DIFF_SKIP) leaves out named checks,
for hunting past a known finding by hand: millis (millis_behind_latest),
seq_at_time, subxact (the open transaction releases its savepoints instead of
rolling them back).

Creates database diff_SEED (dropped first) with a topic "t" of 1 to 4
partitions and a heap table "twin" (partition, seq, ts, key, value, headers,
primary key (partition, seq)).  Every write goes to both in the same
transaction, so that they commit or roll back together: produce (bytea, text
and jsonb values), produce_batch (NULL keys, NULL values, an explicit
partition, batches that span pages), INSERT ... VALUES and INSERT ... SELECT
with producer-given timestamps out of order, COPY; in transactions that
commit or roll back, with savepoints rolled back or released, and in a second
connection whose transaction stays open across steps (or is prepared, and
committed or rolled back later by another session, when
max_prepared_transactions allows).  The twin gets the
partition, seq and ts the topic assigned (RETURNING, produce's rows, the
append time read back in the transaction); the driver checks that seqs are
handed out densely per partition and that a key goes where Kafka's murmur2
partitioner puts it.  VACUUM (plain, FREEZE, FULL) and ANALYZE run between
steps, and now and then alter_topic adds a partition (committed or rolled
back).

Read checks compare the topic's answer with the twin's: seeks (seq bounds,
LIMIT, backward), predicates on key, ts, value and headers, aggregates,
windows, joins with a VALUES list and LATERAL seeks, prepared statements
(custom and generic plans), parallel plans, cursors (forward, and SCROLL
backward), EXCEPT ALL of the whole tables, REPEATABLE READ snapshots across a
commit, xmin (the twin's row comes from the same subtransaction), the order
of a plain sequential scan, and reads inside the producing transaction
(SELECT, fetch, partition_info, seq_at_time); fetch (max_bytes, LATERAL
calls, correlated subqueries, WITH ORDINALITY), seq_at_time, shard iterator
walks of every type with millis_behind_latest, fetch readers and iterators
followed across steps, topics.partitions (log_start_seq, next_seq,
last_stable_seq, record_count), partition_bounds and a consumer group that
must deliver every committed record exactly once, in order.  The expected
answers of the stable-offset readers (fetch, get_records, consume,
last_stable_seq) stop at the last stable offset: the first record, not
rolled back to a savepoint, of the second connection's open transaction (and
inside a producing transaction, of its own); plain SELECT follows MVCC.
millis_behind_latest is expected to be 0 when no committed record remains
below the last stable offset after the last one returned, else the ts of
the newest committed record below the last stable offset (the highest seq)
minus the last returned one's, in ms, at least 1.
Exit code 1 on the first mismatch, with the last steps' SQL.
"""
import datetime
import io
import json
import os
import random
import sys
import time
import traceback

import psycopg2
import psycopg2.errors
import psycopg2.extras
from psycopg2.extras import Json

from seeded_run import Args, LOG, log, Fail, fail, finish_run

UTC = datetime.timezone.utc
ARGS = Args(300, 5712, '/tmp/difftest', valued=('--skip',))
SEED = ARGS.seed
STEPS = ARGS.steps
TRACE = ARGS.trace
PORT = ARGS.port
HOST = ARGS.host
SKIP = set(filter(None, (ARGS.value('--skip') or os.environ.get('PGTOPICS_DIFF_SKIP', '')).split(',')))
rnd = random.Random(SEED)
DB = 'diff_%d' % SEED
T = 't'
COLS = 'partition, seq, ts, key, value, headers'
KEYS = ['a', 'b', 'user-1', 'user-42', 'ключ', '', None, None]


def connect(db):
    c = psycopg2.connect(host=HOST, port=PORT, user='postgres', dbname=db)
    c.autocommit = True
    c.set_client_encoding('UTF8')
    c.cursor().execute("SET statement_timeout = '60s'")
    return c


def murmur2_partition(key, n):
    """Kafka's default partitioner (murmur2 of the key's UTF-8 bytes)."""
    data = key.encode('utf-8')
    length = len(data)
    m = 0x5bd1e995
    h = (0x9747b28c ^ length) & 0xffffffff
    for i in range(length // 4):
        k = int.from_bytes(data[4 * i:4 * i + 4], 'little')
        k = (k * m) & 0xffffffff
        k ^= k >> 24
        k = (k * m) & 0xffffffff
        h = (h * m) & 0xffffffff
        h ^= k
    extra = length % 4
    base = length & ~3
    if extra == 3:
        h ^= data[base + 2] << 16
    if extra >= 2:
        h ^= data[base + 1] << 8
    if extra >= 1:
        h ^= data[base]
        h = (h * m) & 0xffffffff
    h ^= h >> 13
    h = (h * m) & 0xffffffff
    h ^= h >> 15
    return (h & 0x7fffffff) % n


def norm(v):
    if isinstance(v, memoryview):
        return bytes(v)
    return v


def normrows(rows):
    return [tuple(norm(x) for x in r) for r in rows]


def short(rows, n=6):
    def sv(x):
        if isinstance(x, bytes):
            return 'b%d:%s' % (len(x), x[:6].hex())
        if isinstance(x, datetime.datetime):
            return x.strftime('%H:%M:%S.%f')
        return repr(x)
    out = ['(' + ', '.join(sv(x) for x in r) + ')' for r in rows[:n]]
    return '[' + ', '.join(out) + (', ... %d rows' % len(rows) if len(rows) > n else '') + ']'


def diffrows(label, got, exp, sql=None):
    if got == exp:
        return
    i = 0
    while i < min(len(got), len(exp)) and got[i] == exp[i]:
        i += 1
    fail('%s: topic returned %d rows, twin %d; first difference at row %d: topic %s, twin %s%s' % (
        label, len(got), len(exp), i, short(got[i:i + 3], 3), short(exp[i:i + 3], 3),
        '\n  SQL: ' + sql if sql else ''))


# ---------------------------------------------------------------------------
# Set-up
# ---------------------------------------------------------------------------

adm = connect('postgres')
_ac = adm.cursor()
_ac.execute('SELECT gid FROM pg_prepared_xacts WHERE database = %s', (DB,))
_left = [r[0] for r in _ac.fetchall()]
if _left:        # left by a failed run: they would keep the database
    _c = connect(DB)
    for _g in _left:
        _c.cursor().execute('ROLLBACK PREPARED %s', (_g,))
    _c.close()
_ac.execute('DROP DATABASE IF EXISTS %s' % DB)
adm.cursor().execute('CREATE DATABASE %s' % DB)

W = connect(DB)      # producing transactions that end within a step
O = connect(DB)      # a producing transaction left open across steps
R = connect(DB)      # readers (autocommit)
S = connect(DB)      # a REPEATABLE READ reader
Rc = R.cursor()
Rc.execute('CREATE EXTENSION pg_topics')
NP = rnd.randint(1, 4)
Rc.execute('SELECT topics.create_topic(%s, %s)', (T, NP))
Rc.execute('CREATE TABLE twin (partition int, seq bigint, ts timestamptz, key text, value bytea, '
           'headers jsonb, PRIMARY KEY (partition, seq))')
Rc.execute("SET pg_topics.shard_iterator_ttl = '1h'")
Rc.execute('SHOW max_prepared_transactions')
PREPARE = int(Rc.fetchone()[0]) > 0
FANOUT = rnd.choice([None, 3, 4])
if FANOUT:
    for c in (W, O):
        c.cursor().execute('SET pg_topics.directory_fanout = %d' % FANOUT)
log('-- seed %d: %d partitions, directory_fanout %s' % (SEED, NP, FANOUT))

hwm = [0] * NP            # next seq each partition hands out (aborted ones included)
open_tx = dict(active=False, recs=[], prepared=None)   # O's records: dicts p, seq, ts, aborted
stats = dict(records=0, aborted_tx=0, committed_tx=0, checks=0)


def server_now(cur):
    cur.execute('SELECT clock_timestamp()')
    return cur.fetchone()[0]


W_tx = dict(active=False, recs=[])      # W's records while its transaction runs


def lso(p):
    """Last stable offset of partition p for readers: the first record of
    O's open transaction that did not roll back (to a savepoint), else
    next_seq."""
    if open_tx['active']:
        s = [r['seq'] for r in open_tx['recs'] if r['p'] == p and not r['aborted']]
        if s:
            return min(s)
    return hwm[p]


def sub_note(p):
    """For failure messages: records of O's open transaction in p that were
    rolled back to a savepoint."""
    s = [r['seq'] for r in open_tx['recs'] if r['p'] == p and r['aborted']] if open_tx['active'] else []
    return '; the open transaction has records rolled back to a savepoint at seqs %d..%d' % (min(s), max(s)) if s else ''


def lso_in_w(p):
    """The last stable offset as partition_info shows it inside W's
    transaction: the same for every session, W's own records included."""
    s = [r['seq'] for r in W_tx['recs'] if r['p'] == p and not r['aborted']]
    return min([lso(p)] + s)


# ---------------------------------------------------------------------------
# Producing
# ---------------------------------------------------------------------------

def newkey():
    k = rnd.choice(KEYS)
    if k == 'user-1' and rnd.random() < 0.5:
        k = 'k%d' % rnd.randint(0, 40)
    return k


def newval():
    r = rnd.random()
    if r < 0.08:
        return None
    if r < 0.12:
        return b''
    if r < 0.16:
        return b'ab' * rnd.randint(1000, 4000)          # compressible
    return rnd.randbytes(rnd.choice([1, 5, 30, 30, 120, 120, 400, 900, 2500]))


def newtext():
    r = rnd.random()
    if r < 0.08:
        return None
    return ''.join(rnd.choice('abcxyzé€ 01') for _ in range(rnd.choice([0, 3, 20, 200, 1500])))


def newheaders():
    r = rnd.random()
    if r < 0.5:
        return None
    if r < 0.9:
        return {'h': rnd.randint(0, 5), 'src': rnd.choice(['x', 'y'])}
    return [1, 'two', None]


def newts(now):
    r = rnd.random()
    if r < 0.35:
        return None                                          # append time
    if r < 0.55:
        return now - datetime.timedelta(seconds=rnd.randint(0, 3600), microseconds=rnd.randint(0, 999999))
    if r < 0.65:
        return now - datetime.timedelta(days=rnd.randint(1, 900))
    if r < 0.8:
        return now + datetime.timedelta(seconds=rnd.randint(0, 3000), microseconds=rnd.randint(0, 999999))
    if r < 0.9:
        return now + datetime.timedelta(milliseconds=rnd.randint(-3, 3))
    return datetime.datetime(2020, 1, 1, tzinfo=UTC) + datetime.timedelta(milliseconds=rnd.randint(0, 5))


def register(rows, parts_given, keys, where):
    """rows: (partition, seq) the topic returned, in input order.  Checks
    density and the partitioner; advances hwm."""
    for (p, s), pg, k in zip(rows, parts_given, keys):
        if not 0 <= p < NP:
            fail('%s: partition %s out of range' % (where, p))
        if pg is not None and p != pg:
            fail('%s: record asked for partition %d went to %d' % (where, pg, p))
        if pg is None and k is not None and p != murmur2_partition(k, NP):
            fail('%s: key %r went to partition %d, Kafka\'s partitioner gives %d of %d'
                 % (where, k, p, murmur2_partition(k, NP), NP))
        if s != hwm[p]:
            fail('%s: partition %d handed out seq %d, expected %d (dense, never reused)' % (where, p, s, hwm[p]))
        hwm[p] = s + 1


def read_append_ts(cur, pairs, t0, t1, where):
    """The ts of own records just produced with append time, read back in
    the producing transaction (a join seek); checks they are in [t0, t1]."""
    if not pairs:
        return {}
    cur.execute('SELECT t.partition, t.seq, t.ts FROM unnest(%s::int[], %s::bigint[]) u(p, s) '
                'JOIN ' + T + ' t ON t.partition = u.p AND t.seq = u.s',
                ([p for p, s in pairs], [s for p, s in pairs]))
    got = {(p, s): ts for p, s, ts in cur.fetchall()}
    if len(got) != len(set(pairs)):
        fail('%s: own records not visible in the producing transaction: asked %s, got %s'
             % (where, sorted(pairs)[:5], sorted(got)[:5]))
    for k, ts in got.items():
        if not (t0 <= ts <= t1):
            fail('%s: append-time ts %s of p%d s%d outside the statement [%s, %s]' % (where, ts, k[0], k[1], t0, t1))
    return got


def twin_insert(cur, rows):
    if rows:
        psycopg2.extras.execute_values(
            cur, 'INSERT INTO twin (partition, seq, ts, key, value, headers) VALUES %s',
            [(p, s, ts, k, None if v is None else psycopg2.Binary(v), None if h is None else Json(h))
             for (p, s, ts, k, v, h) in rows],
            template='(%s, %s, %s, %s, %s::bytea, %s::jsonb)', page_size=500)


def produce_op(cur, where):
    """One producing statement on cur (inside a transaction), mirrored into
    the twin.  Returns the twin rows (p, seq, ts, key, value, headers)."""
    now = server_now(cur)
    kind = rnd.choice(['produce', 'produce', 'batch', 'batch', 'insert', 'insert', 'insert_select', 'copy'])
    part = rnd.randrange(NP) if rnd.random() < 0.35 else None
    out = []
    if kind == 'produce':
        k = newkey()
        h = newheaders()
        form = rnd.choice(['bytea', 'text', 'jsonb'])
        if form == 'bytea':
            v = newval()
            arg = None if v is None else psycopg2.Binary(v)
            cast = 'bytea'
        elif form == 'text':
            tv = newtext()
            v = None if tv is None else tv.encode()
            arg = tv
            cast = 'text'
        else:
            doc = rnd.choice([{'a': 1, 'b': [1, 2]}, [1, 'x'], 'str', 42, {'z': {'y': None}}])
            arg = Json(doc)
            cur.execute('SELECT %s::jsonb::text', (arg,))
            v = cur.fetchone()[0].encode()
            cast = 'jsonb'
        sql = cur.mogrify('SELECT partition, seq FROM topics.produce(%s, %s, %s::' + cast + ', %s::jsonb, partition => %s)',
                          (T, k, arg, None if h is None else Json(h), part)).decode()
        specs = [(k, v, None, h, part)]
    elif kind == 'batch':
        n = rnd.choice([0, 1, 2, 3, 5, 8, 12, 20]) if rnd.random() < 0.9 else rnd.randint(60, 250)
        ks = [newkey() for _ in range(n)]
        hs = [newheaders() for _ in range(n)] if rnd.random() < 0.5 else None
        if rnd.random() < 0.6:
            vs = [newval() for _ in range(n)]
            if n > 50:
                vs = [None if v is None else v[:200] for v in vs]
            varg = [None if v is None else psycopg2.Binary(v) for v in vs]
            cast = 'bytea[]'
        else:
            tvs = [newtext() for _ in range(n)]
            if n > 50:
                tvs = [None if v is None else v[:100] for v in tvs]
            vs = [None if t is None else t.encode() for t in tvs]
            varg = tvs
            cast = 'text[]'
        sql = cur.mogrify('SELECT partition, seq FROM topics.produce_batch(%s, %s::text[], %s::' + cast +
                          ', %s::jsonb[], partition => %s)',
                          (T, ks, varg, None if hs is None else [None if h is None else Json(h) for h in hs],
                           part)).decode()
        specs = [(ks[i], vs[i], None, None if hs is None else hs[i], part) for i in range(n)]
    elif kind in ('insert', 'insert_select'):
        n = rnd.choice([1, 1, 2, 3, 7])
        specs = []
        for _ in range(n):
            k = newkey()
            p = part if part is not None else rnd.choice([None, None, rnd.randrange(NP)])
            specs.append((k, newval(), newts(now), newheaders(), p))
        if kind == 'insert':
            vals = [cur.mogrify('(%s::int, %s, %s::bytea, %s::timestamptz, %s::jsonb)',
                                (p, k, None if v is None else psycopg2.Binary(v), ts, None if h is None else Json(h))).decode()
                    for (k, v, ts, h, p) in specs]
            sql = 'INSERT INTO %s (partition, key, value, ts, headers) VALUES %s RETURNING partition, seq, ts' % (
                T, ', '.join(vals))
        else:
            sql = cur.mogrify(
                'INSERT INTO ' + T + ' (partition, key, value, ts, headers) '
                'SELECT p, k, v, ts, h FROM unnest(%s::int[], %s::text[], %s::bytea[], %s::timestamptz[], %s::jsonb[]) '
                'WITH ORDINALITY AS u(p, k, v, ts, h, o) ORDER BY o RETURNING partition, seq, ts',
                ([p for (k, v, ts, h, p) in specs], [k for (k, v, ts, h, p) in specs],
                 [None if v is None else psycopg2.Binary(v) for (k, v, ts, h, p) in specs],
                 [ts for (k, v, ts, h, p) in specs],
                 [None if h is None else Json(h) for (k, v, ts, h, p) in specs])).decode()
    else:  # copy
        n = rnd.choice([1, 2, 5, 10, 40])
        specs = []
        lines = []
        for _ in range(n):
            k = newkey()
            p = part if part is not None else (rnd.randrange(NP) if k is None or rnd.random() < 0.3 else None)
            v, ts, h = newval(), newts(now), newheaders()
            specs.append((k, v, ts, h, p))
            f = ['\\N' if p is None else str(p), '\\N' if k is None else k,
                 '\\N' if v is None else '\\\\x' + v.hex(),
                 '\\N' if ts is None else ts.isoformat(),
                 '\\N' if h is None else json.dumps(h)]
            lines.append('\t'.join(f))
        sql = 'COPY %s (partition, key, value, ts, headers) FROM STDIN  -- %d rows' % (T, n)

    log('%s %s' % (where, sql if len(sql) < 400 else sql[:400] + '...'))
    t0 = server_now(cur)
    if kind == 'copy':
        before = list(hwm)
        cur.copy_expert('COPY %s (partition, key, value, ts, headers) FROM STDIN' % T,
                        io.StringIO('\n'.join(lines) + '\n'))
        # nobody else produces during the statement: seqs follow on from
        # next_seq per partition, in input order
        rows = []
        nxt = list(before)
        for (k, v, ts, h, p) in specs:
            pp = p if p is not None else murmur2_partition(k, NP)
            rows.append((pp, nxt[pp]))
            nxt[pp] += 1
        cur.execute('SELECT t.partition, t.seq, t.ts, t.key, t.value, t.headers FROM unnest(%s::int[], %s::bigint[]) '
                    'WITH ORDINALITY u(p, s, o) JOIN ' + T + ' t ON t.partition = u.p AND t.seq = u.s ORDER BY u.o',
                    ([p for p, s in rows], [s for p, s in rows]))
        back = normrows(cur.fetchall())
        exp = [(p, s, k, v, h) for (p, s), (k, v, ts, h, _) in zip(rows, specs)]
        if [(r[0], r[1], r[3], r[4], r[5]) for r in back] != exp:
            fail('%s: COPY of %d rows: records read back at the seqs following next_seq %s differ from the input: '
                 'got %s, expected %s' % (where, n, before, short(back), short(exp)))
        rets = [(r[0], r[1], r[2]) for r in back]
    else:
        cur.execute(sql)
        rets = cur.fetchall()
        if rets and len(rets[0]) == 2:      # produce, produce_batch: no ts
            rets = [(p, s, None) for p, s in rets]
    t1 = server_now(cur)
    if len(rets) != len(specs):
        fail('%s: %d result rows for %d records' % (where, len(rets), len(specs)))
    register([(p, s) for p, s, _ in rets], [sp[4] for sp in specs], [sp[0] for sp in specs], where)
    append = [(p, s) for (p, s, rts), sp in zip(rets, specs) if sp[2] is None and rts is None]
    ats = read_append_ts(cur, append, t0, t1, where)
    for (p, s, rts), (k, v, ts, h, pg) in zip(rets, specs):
        if ts is not None and rts is not None and rts != ts:
            fail('%s: p%d s%d: RETURNING ts %s, the producer gave %s' % (where, p, s, rts, ts))
        if ts is None and rts is not None and not (t0 <= rts <= t1):
            fail('%s: p%d s%d: append-time ts %s outside the statement [%s, %s]' % (where, p, s, rts, t0, t1))
        ts = ts if ts is not None else (rts if rts is not None else ats[(p, s)])
        out.append((p, s, ts, k, v, h))
    twin_insert(cur, out)
    stats['records'] += len(out)
    return out


def maybe_savepoint(cur, where):
    """A produce, maybe inside a savepoint rolled back or released; returns
    its records and whether they were rolled back."""
    if rnd.random() < 0.25:
        cur.execute('SAVEPOINT sp'); log(where + ' SAVEPOINT sp')
        rows = produce_op(cur, where)
        if rnd.random() < 0.5 and not (where == '[O]' and 'subxact' in SKIP):
            cur.execute('ROLLBACK TO SAVEPOINT sp'); log(where + ' ROLLBACK TO SAVEPOINT sp')
            return rows, True
        cur.execute('RELEASE SAVEPOINT sp'); log(where + ' RELEASE SAVEPOINT sp')
        return rows, False
    return produce_op(cur, where), False


# ---------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------

def step_tx():
    cur = W.cursor()
    cur.execute('BEGIN'); log('[W] BEGIN')
    W_tx.update(active=True, recs=[])
    for _ in range(rnd.randint(1, 4)):
        rows, aborted = maybe_savepoint(cur, '[W]')
        W_tx['recs'] += [dict(p=p, seq=s, ts=ts, aborted=aborted) for (p, s, ts, k, v, h) in rows]
        if rnd.random() < 0.25:
            check_in_tx(cur)
    W_tx.update(active=False, recs=[])
    if rnd.random() < 0.75:
        cur.execute('COMMIT'); log('[W] COMMIT')
        stats['committed_tx'] += 1
    else:
        cur.execute('ROLLBACK'); log('[W] ROLLBACK')
        stats['aborted_tx'] += 1


def end_open():
    commit = rnd.random() < 0.6
    if open_tx['prepared']:
        sql = "%s PREPARED '%s'" % ('COMMIT' if commit else 'ROLLBACK', open_tx['prepared'])
        Rc.execute(sql); log('[R] ' + sql)
    else:
        O.cursor().execute('COMMIT' if commit else 'ROLLBACK'); log('[O] ' + ('COMMIT' if commit else 'ROLLBACK'))
    open_tx.update(active=False, recs=[], prepared=None)


def step_open():
    """O's transaction: begin, produce, end; or PREPARE it (its records stay
    in progress until another session's COMMIT or ROLLBACK PREPARED)."""
    cur = O.cursor()
    if open_tx['prepared']:
        end_open()
        return
    if not open_tx['active']:
        cur.execute('BEGIN'); log('[O] BEGIN')
        open_tx.update(active=True, recs=[], prepared=None)
    elif open_tx['recs'] and rnd.random() < 0.35:
        if PREPARE and rnd.random() < 0.3:
            gid = 'o_%d_%d' % (SEED, len(LOG))
            cur.execute("PREPARE TRANSACTION '%s'" % gid); log("[O] PREPARE TRANSACTION '%s'" % gid)
            open_tx['prepared'] = gid
            return
        end_open()
        return
    rows, aborted = maybe_savepoint(cur, '[O]')
    for (p, s, ts, k, v, h) in rows:
        open_tx['recs'].append(dict(p=p, seq=s, ts=ts, aborted=aborted))


def step_grow():
    """One partition more (alter_topic), in a transaction that commits or
    rolls back; new partitions appear at commit."""
    global NP
    if open_tx['active'] or NP >= 6:
        return
    cur = W.cursor()
    cur.execute('BEGIN'); log('[W] BEGIN')
    sql = "SELECT topics.alter_topic('%s', partitions => %d)" % (T, NP + 1)
    cur.execute(sql); log('[W] ' + sql)
    if rnd.random() < 0.3:
        cur.execute('ROLLBACK'); log('[W] ROLLBACK')
        return
    cur.execute('COMMIT'); log('[W] COMMIT')
    NP += 1
    hwm.append(0)


def step_vacuum():
    kind = rnd.choice(['VACUUM', 'VACUUM', 'VACUUM FREEZE', 'VACUUM FULL', 'ANALYZE', 'VACUUM ANALYZE'])
    if kind == 'VACUUM FULL' and open_tx['active']:
        kind = 'VACUUM'
    if open_tx['active']:
        # the topic's TOAST table is a heap: its truncation would wait 5 s
        # for the open producer's lock (VACUUM_TRUNCATE_LOCK_TIMEOUT)
        kind = {'VACUUM': 'VACUUM (TRUNCATE false)', 'VACUUM FREEZE': 'VACUUM (FREEZE, TRUNCATE false)',
                'VACUUM ANALYZE': 'VACUUM (ANALYZE, TRUNCATE false)'}.get(kind, kind)
    sql = '%s %s' % (kind, T)
    log('[R] ' + sql)
    Rc.execute(sql)


# ---------------------------------------------------------------------------
# Read checks
# ---------------------------------------------------------------------------

def both(cur, sql, params=(), ordered=True, label=None):
    """Run sql (with {T} for the table) on the topic and on the twin; the
    answers must be equal."""
    res = []
    for tab in (T, 'twin'):
        q = sql.replace('{T}', tab)
        cur.execute(q, params)
        rows = normrows(cur.fetchall())
        if not ordered:
            rows.sort(key=repr)
        res.append(rows)
    stats['checks'] += 1
    diffrows(label or 'SELECT', res[0], res[1], cur.mogrify(sql.replace('{T}', T), params).decode())
    return res[0]


def rand_seq(p):
    return rnd.choice([0, 0, hwm[p], max(0, hwm[p] - 1), rnd.randint(0, hwm[p] + 2), rnd.randint(0, hwm[p] + 2)])


def rand_at(cur, p):
    cur.execute('SELECT ts FROM twin WHERE partition = %s ORDER BY seq', (p,))
    tss = [r[0] for r in cur.fetchall()]
    tss = rnd.sample(tss, min(3, len(tss)))
    now = server_now(cur)
    c = [now - datetime.timedelta(days=1000), now + datetime.timedelta(hours=2), now,
         now - datetime.timedelta(minutes=rnd.randint(1, 60))]
    for x in tss:
        c.append(x + datetime.timedelta(microseconds=rnd.choice([-1, 0, 0, 1, -1000])))
    return rnd.choice(c)


def check_select(cur):
    p = rnd.randrange(NP)
    x = rand_seq(p)
    y = x + rnd.randint(0, 30)
    n = rnd.choice([1, 3, 10, 100])
    kind = rnd.randrange(19)
    if kind == 0:
        both(cur, 'SELECT ' + COLS + ' FROM {T} WHERE partition = %s AND seq >= %s ORDER BY seq LIMIT %s', (p, x, n))
    elif kind == 1:
        both(cur, 'SELECT ' + COLS + ' FROM {T} WHERE partition = %s AND seq >= %s AND seq < %s ORDER BY seq', (p, x, y))
    elif kind == 2:
        both(cur, 'SELECT ' + COLS + ' FROM {T} WHERE partition = %s ORDER BY seq DESC LIMIT %s', (p, n))
    elif kind == 3:
        both(cur, 'SELECT ' + COLS + ' FROM {T} WHERE partition = %s AND seq < %s ORDER BY seq DESC LIMIT %s', (p, y, n))
    elif kind == 4:
        op = rnd.choice(['>', '<=', '=', '>='])
        both(cur, 'SELECT seq, key, ts FROM {T} WHERE partition = %s AND seq ' + op + ' %s ORDER BY seq', (p, x))
    elif kind == 5:
        both(cur, 'SELECT seq, value FROM {T} WHERE partition = %s AND seq BETWEEN %s AND %s ORDER BY seq', (p, x, y))
    elif kind == 6:
        arr = [rand_seq(p) for _ in range(rnd.randint(1, 6))]
        both(cur, 'SELECT seq, key FROM {T} WHERE partition = %s AND seq = ANY(%s::bigint[]) ORDER BY seq', (p, arr))
    elif kind == 7:
        at = rand_at(cur, p)
        op = rnd.choice(['>=', '>', '<', '<='])
        lim = rnd.choice(['', ' LIMIT %d' % n])
        both(cur, 'SELECT seq, ts FROM {T} WHERE partition = %s AND ts ' + op + ' %s ORDER BY seq' + lim, (p, at))
        both(cur, 'SELECT seq, ts FROM {T} WHERE partition = %s AND seq >= %s AND ts ' + op + ' %s ORDER BY seq' + lim,
             (p, x, at))
    elif kind == 8:
        at = rand_at(cur, p)
        both(cur, 'SELECT partition, seq, ts FROM {T} WHERE ts >= %s ORDER BY partition, seq', (at,))
    elif kind == 9:
        k = newkey()
        if k is None:
            both(cur, 'SELECT partition, seq FROM {T} WHERE key IS NULL ORDER BY partition, seq')
        else:
            both(cur, 'SELECT partition, seq, value FROM {T} WHERE key = %s ORDER BY partition, seq', (k,))
    elif kind == 10:
        both(cur, 'SELECT partition, seq FROM {T} WHERE partition = %s AND (value IS NULL OR octet_length(value) > 100 '
                  'OR headers ? \'h\' OR headers->>\'src\' = \'y\') ORDER BY seq', (p,))
    elif kind == 11:
        both(cur, 'SELECT count(*), count(key), count(DISTINCT key), sum(octet_length(value)), min(ts), max(ts), '
                  'min(seq), max(seq), count(headers) FROM {T} WHERE partition = %s', (p,))
    elif kind == 12:
        both(cur, 'SELECT partition, count(*), max(seq), min(ts), sum(octet_length(key)) FROM {T} GROUP BY partition '
                  'ORDER BY partition')
    elif kind == 13:
        both(cur, 'SELECT partition, seq, seq - lag(seq) OVER (PARTITION BY partition ORDER BY seq), '
                  'row_number() OVER (PARTITION BY partition ORDER BY seq) FROM {T} ORDER BY partition, seq')
    elif kind == 14:
        pairs = []
        for _ in range(rnd.randint(1, 8)):
            q = rnd.randrange(NP)
            pairs.append((q, rand_seq(q), len(pairs)))
        vals = ', '.join(cur.mogrify('(%s, %s::bigint, %s)', pr).decode() for pr in pairs)
        both(cur, 'SELECT v.tag, t.partition, t.seq, t.key, t.value FROM (VALUES ' + vals + ') v(p, s, tag) '
                  'JOIN {T} t ON t.partition = v.p AND t.seq = v.s ORDER BY v.tag')
        both(cur, 'SELECT v.tag, x.seq, x.ts FROM (VALUES ' + vals + ') v(p, s, tag) CROSS JOIN LATERAL '
                  '(SELECT seq, ts FROM {T} t WHERE t.partition = v.p AND t.seq >= v.s ORDER BY seq LIMIT 3) x '
                  'ORDER BY v.tag, x.seq')
        both(cur, 'SELECT v.tag, count(t.seq) FROM (VALUES ' + vals + ') v(p, s, tag) '
                  'LEFT JOIN {T} t ON t.partition = v.p AND t.seq >= v.s AND t.seq < v.s + 5 GROUP BY v.tag ORDER BY v.tag')
    elif kind == 15:
        both(cur, 'SELECT ' + COLS + ' FROM {T} ORDER BY partition, seq')
    elif kind == 16:
        # no partition named: a TopicSeek of the only partition, else a sort
        both(cur, 'SELECT partition, seq, key FROM {T} WHERE seq >= %s ORDER BY seq, partition LIMIT %s', (x, n))
        both(cur, 'SELECT partition, seq FROM {T} ORDER BY seq DESC, partition DESC LIMIT %s', (n,))
    elif kind == 17:
        # xmin: the twin's row was written by the same (sub)transaction
        both(cur, 'SELECT partition, seq, xmin::text FROM {T} WHERE partition = %s ORDER BY seq', (p,))
    else:
        # a plain sequential scan returns partition 0 in seq order, then 1, ...
        cur.execute('SET max_parallel_workers_per_gather = 0')
        try:
            cur.execute('SELECT partition, seq FROM ' + T)
            got = cur.fetchall()
        finally:
            cur.execute('RESET max_parallel_workers_per_gather')
        cur.execute('SELECT partition, seq FROM twin ORDER BY partition, seq')
        stats['checks'] += 1
        diffrows('SELECT partition, seq FROM %s (a sequential scan, in partition and seq order)' % T, got, cur.fetchall())


def check_full_diff(cur, where='full'):
    cur.execute('(SELECT ' + COLS + ', 1 AS side FROM ' + T + ' EXCEPT ALL SELECT ' + COLS + ', 1 FROM twin) '
                'UNION ALL (SELECT ' + COLS + ', 2 FROM twin EXCEPT ALL SELECT ' + COLS + ', 2 FROM ' + T + ') '
                'ORDER BY partition, seq, side LIMIT 10')
    rows = normrows(cur.fetchall())
    stats['checks'] += 1
    if rows:
        fail('%s: topic and twin differ (side 1: only in topic, 2: only in twin): %s' % (where, short(rows, 10)))


def check_in_tx(cur):
    """Inside W's transaction: own records are visible to SELECT and fetch."""
    r = rnd.random()
    if r < 0.3:
        check_select(cur)
    elif r < 0.45:
        check_full_diff(cur, 'full diff inside the producing transaction')
    elif r < 0.55:
        cur.execute('SELECT partition, next_seq, last_stable_seq FROM topics.partition_info(%s) ORDER BY 1', (T,))
        got = cur.fetchall()
        exp = [(p, hwm[p], lso_in_w(p)) for p in range(NP)]
        stats['checks'] += 1
        if got != exp:
            fail('partition_info inside the producing transaction: %s, expected (partition, next_seq, last_stable_seq) '
                 '%s (the first record of a transaction still running, the caller\'s own included)' % (got, exp))
    elif r < 0.65:
        # own running records count, as the twin shows them to W
        check_seq_at_time(cur, in_w=True)
    else:
        p = rnd.randrange(NP)
        x = rnd.randint(0, hwm[p])
        n = rnd.choice([1, 5, 1000])
        stop = lso(p) if open_tx['active'] and lso(p) < hwm[p] else hwm[p]
        cur.execute('SELECT ' + COLS + ' FROM topics.fetch(%s, %s, %s, %s)', (T, p, x, n))
        got = normrows(cur.fetchall())
        cur.execute('SELECT ' + COLS + ' FROM twin WHERE partition = %s AND seq >= %s AND seq < %s ORDER BY seq LIMIT %s',
                    (p, x, stop, n))
        exp = normrows(cur.fetchall())
        stats['checks'] += 1
        diffrows('fetch(%s, %d, %d, %d) inside the producing transaction (stops at %d%s; its own records: %s)' % (
            T, p, x, n, stop, sub_note(p), [(r['seq'], 'rolled back to a savepoint' if r['aborted'] else 'running')
                                            for r in W_tx['recs'] if r['p'] == p][:12]), got, exp)


def check_prepared(cur):
    p = rnd.randrange(NP)
    mode = rnd.choice(['auto', 'force_generic_plan', 'force_custom_plan'])
    cur.execute('SET plan_cache_mode = ' + mode)
    for tab in (T, 'twin'):
        cur.execute('PREPARE q_%s(int, bigint, int) AS SELECT %s FROM %s WHERE partition = $1 AND seq >= $2 '
                    'ORDER BY seq LIMIT $3' % (tab, COLS, tab))
    try:
        for _ in range(7):
            x, n = rand_seq(p), rnd.choice([1, 4, 50])
            res = []
            for tab in (T, 'twin'):
                cur.execute('EXECUTE q_%s(%%s, %%s, %%s)' % tab, (p, x, n))
                res.append(normrows(cur.fetchall()))
            stats['checks'] += 1
            diffrows('prepared seek (%s) p%d seq >= %d LIMIT %d' % (mode, p, x, n), res[0], res[1])
    finally:
        cur.execute('DEALLOCATE ALL')
        cur.execute('RESET plan_cache_mode')


def check_parallel(cur):
    cur.execute('SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; '
                'SET max_parallel_workers_per_gather = 2')
    try:
        both(cur, 'SELECT count(*), sum(seq), sum(octet_length(value)), count(DISTINCT key) FROM {T}')
        both(cur, 'SELECT partition, seq, key FROM {T} WHERE key IS NOT NULL', ordered=False)
    finally:
        cur.execute('RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size; '
                    'RESET max_parallel_workers_per_gather')


def check_cursor():
    cur = R.cursor()
    p = rnd.randrange(NP)
    scroll = rnd.random() < 0.4
    if rnd.random() < 0.5:
        q = 'SELECT ' + COLS + ' FROM {T} WHERE partition = %d AND seq >= %d ORDER BY seq' % (p, rand_seq(p))
    else:
        q = 'SELECT ' + COLS + ' FROM {T} ORDER BY partition, seq'
    cur.execute('BEGIN')
    try:
        for tab in (T, 'twin'):
            cur.execute('DECLARE c_%s %s CURSOR FOR %s' % (tab, 'SCROLL' if scroll else 'NO SCROLL', q.replace('{T}', tab)))
        ops = []
        for _ in range(rnd.randint(2, 8)):
            if scroll and rnd.random() < 0.35:
                ops.append(rnd.choice(['FETCH BACKWARD %d' % rnd.randint(1, 10), 'FETCH PRIOR', 'FETCH FIRST',
                                       'FETCH LAST', 'FETCH ABSOLUTE %d' % rnd.randint(-5, 30)]))
            else:
                ops.append(rnd.choice(['FETCH %d' % rnd.randint(1, 40), 'FETCH NEXT', 'FETCH FORWARD ALL']))
        for op in ops:
            res = []
            for tab in (T, 'twin'):
                cur.execute('%s FROM c_%s' % (op, tab))
                res.append(normrows(cur.fetchall()))
            stats['checks'] += 1
            diffrows('cursor %s: %s (after %s)' % (q.replace('{T}', T), op, ops), res[0], res[1])
    finally:
        cur.execute('COMMIT')


def expected_stable(cur, p, start, n):
    cur.execute('SELECT ' + COLS + ' FROM twin WHERE partition = %s AND seq >= %s AND seq < %s ORDER BY seq LIMIT %s',
                (p, start, lso(p), n))
    return normrows(cur.fetchall())


def check_fetch(cur):
    p = rnd.randrange(NP)
    r = rnd.random()
    if r < 0.1:
        x = hwm[p] + rnd.randint(1, 3)
        try:
            cur.execute('SELECT * FROM topics.fetch(%s, %s, %s)', (T, p, x))
            fail('fetch(%s, %d, %d) past next_seq %d returned %d rows, expected SQLSTATE 22T01'
                 % (T, p, x, hwm[p], len(cur.fetchall())))
        except psycopg2.Error as e:
            if e.pgcode != '22T01':
                fail('fetch past next_seq: SQLSTATE %s (%s), expected 22T01' % (e.pgcode, e.pgerror))
        return
    x = rnd.randint(0, hwm[p])
    n = rnd.choice([1, 2, 7, 100, 1000])
    if r < 0.2:
        # max_bytes: a prefix of what max_records alone returns, at least one record
        mb = rnd.choice([1, 100, 1000, 5000])
        cur.execute('SELECT ' + COLS + ' FROM topics.fetch(%s, %s, %s, %s, max_bytes => %s)', (T, p, x, n, mb))
        got = normrows(cur.fetchall())
        exp = expected_stable(cur, p, x, n)
        stats['checks'] += 1
        if got != exp[:len(got)] or (exp and not got):
            fail('fetch(%s, %d, %d, %d, max_bytes => %d) returned %s, not a non-empty prefix of %s' % (
                T, p, x, n, mb, short(got), short(exp)))
        return
    if r < 0.3:
        # every partition through LATERAL calls, and a correlated subquery
        cur.execute('SELECT f.partition, f.seq, f.ts, f.key, f.value, f.headers FROM generate_series(0, %s) g(p) '
                    'CROSS JOIN LATERAL topics.fetch(%s, g.p, 0, %s) f ORDER BY g.p', (NP - 1, T, n))
        got = normrows(cur.fetchall())
        exp = []
        for q in range(NP):
            exp += expected_stable(cur, q, 0, n)
        stats['checks'] += 1
        diffrows('LATERAL fetch of every partition, max %d' % n, got, exp)
        cur.execute('SELECT g.p, (SELECT count(*) FROM topics.fetch(%s, g.p, 0, %s)), '
                    '(SELECT max(seq) FROM topics.fetch(%s, g.p, 0, %s)) FROM generate_series(0, %s) g(p) ORDER BY 1',
                    (T, n, T, n, NP - 1))
        got = cur.fetchall()
        exp = []
        for q in range(NP):
            e = expected_stable(cur, q, 0, n)
            exp.append((q, len(e), e[-1][1] if e else None))
        diffrows('fetch in a correlated subquery, max %d' % n, got, exp)
        return
    sql = 'SELECT ' + COLS + ' FROM topics.fetch(%s, %s, %s, %s)'
    if rnd.random() < 0.2:
        sql = 'SELECT ' + COLS + ' FROM topics.fetch(%s, %s, %s, %s) WITH ORDINALITY ORDER BY ordinality'
    if rnd.random() < 0.3:
        sql = 'SELECT ' + COLS + ' FROM topics.fetch(%s, %s, %s, 10000) LIMIT %s'
    if rnd.random() < 0.2:
        sql = 'SELECT * FROM (SELECT ' + COLS + ' FROM topics.fetch(%s, %s, %s, %s) OFFSET 0) f'
    cur.execute(sql, (T, p, x, n))
    got = normrows(cur.fetchall())
    stats['checks'] += 1
    diffrows('%s (last stable offset %d, next_seq %d%s)' % (cur.mogrify(sql, (T, p, x, n)).decode(), lso(p), hwm[p],
                                                         sub_note(p)),
             got, expected_stable(cur, p, x, n))


FREADERS = {}     # p -> position of a fetch reader that follows the partition


def check_fetch_reader(cur):
    p = rnd.randrange(NP)
    pos = FREADERS.setdefault(p, 0)
    n = rnd.choice([1, 3, 20, 500])
    cur.execute('SELECT ' + COLS + ' FROM topics.fetch(%s, %s, %s, %s)', (T, p, pos, n))
    got = normrows(cur.fetchall())
    stats['checks'] += 1
    diffrows('fetch reader of p%d at %d, max %d (last stable offset %d%s)' % (p, pos, n, lso(p), sub_note(p)),
             got, expected_stable(cur, p, pos, n))
    if got:
        FREADERS[p] = got[-1][1] + 1


def expected_seq_at_time(cur, p, at, in_w=False):
    """The twin's committed rows (and W's own, inside W), and O's running
    records that did not roll back."""
    cur.execute('SELECT min(seq) FROM twin WHERE partition = %s AND ts >= %s', (p, at))
    c = [cur.fetchone()[0]]
    if open_tx['active']:
        c += [r['seq'] for r in open_tx['recs'] if r['p'] == p and not r['aborted'] and r['ts'] >= at]
    c = [x for x in c if x is not None]
    return min(c) if c else (lso_in_w(p) if in_w else lso(p))


def check_seq_at_time(cur, in_w=False):
    p = rnd.randrange(NP)
    at = rand_at(cur, p)
    cur.execute('SELECT topics.seq_at_time(%s, %s, %s)', (T, p, at))
    got = cur.fetchone()[0]
    exp = expected_seq_at_time(cur, p, at, in_w)
    stats['checks'] += 1
    if got != exp and 'seq_at_time' not in SKIP:
        fail('seq_at_time(%s, %d, %s) = %s%s, expected %s (first non-aborted seq with ts >= at, else the last stable '
             'offset %d; next_seq %d)' % (T, p, at, got, ' inside the producing transaction' if in_w else '', exp,
                                         lso_in_w(p) if in_w else lso(p), hwm[p]))


def get_records(cur, it, n):
    cur.execute('SELECT g.next_shard_iterator, g.millis_behind_latest, r.partition, r.seq, r.ts, r.key, r.value, r.headers '
                'FROM topics.get_records(%s, %s) g LEFT JOIN LATERAL unnest(g.records) WITH ORDINALITY '
                'AS r(partition, seq, ts, key, value, headers, o) ON true ORDER BY r.o', (it, n))
    rows = cur.fetchall()
    recs = normrows([r[2:] for r in rows if r[3] is not None])
    return rows[0][0], rows[0][1], recs


def expected_millis(cur, p, recs):
    """0 when no committed record remains below the last stable offset after
    the last one returned; else the ts of the newest committed record below
    the last stable offset (the highest seq: the tip a reader can get now)
    minus the last returned one's, in ms, at least 1."""
    if not recs:
        return 0
    last = recs[-1]
    cur.execute('SELECT count(*) FROM twin WHERE partition = %s AND seq > %s AND seq < %s', (p, last[1], lso(p)))
    if cur.fetchone()[0] == 0:
        return 0
    cur.execute('SELECT ts FROM twin WHERE partition = %s AND seq < %s ORDER BY seq DESC LIMIT 1', (p, lso(p)))
    newest = cur.fetchone()[0]
    d = newest - last[2]
    us = (d.days * 86400 + d.seconds) * 1000000 + d.microseconds
    return max(1, us // 1000 if us > 0 else 0)


def walk(cur, p, it, pos, label, limit_calls=400):
    """Follow an iterator until a call returns nothing; every call's records
    must be the twin's from the position on, below the last stable offset."""
    seen = []
    for _ in range(limit_calls):
        n = rnd.choice([1, 2, 5, 17, 100, 1000])
        nit, millis, recs = get_records(cur, it, n)
        exp = expected_stable(cur, p, pos, n)
        stats['checks'] += 1
        diffrows('%s: get_records(max %d) at %d (last stable offset %d%s)' % (label, n, pos, lso(p), sub_note(p)),
                 recs, exp)
        em = expected_millis(cur, p, recs)
        if millis != em and 'millis' not in SKIP:
            fail('%s: get_records(max %d) at %d returned up to seq %s: millis_behind_latest %s, expected %s '
                 '(last stable offset %d, next_seq %d)' % (label, n, pos, recs[-1][1] if recs else None, millis, em,
                                                           lso(p), hwm[p]))
        if recs and recs[-1][1] < pos:
            fail('%s: went back' % label)
        it = nit
        if not recs:
            return it, pos, seen
        seen += [r[1] for r in recs]
        pos = recs[-1][1] + 1
        if rnd.random() < 0.15:
            return it, pos, seen
    fail('%s: no end after %d get_records calls' % (label, limit_calls))


def new_iterator(cur, p):
    kind = rnd.choice(['TRIM_HORIZON', 'trim_horizon', 'AT_SEQUENCE_NUMBER', 'AFTER_SEQUENCE_NUMBER', 'AT_TIMESTAMP',
                       'LATEST'])
    seq = at = None
    if kind == 'AT_SEQUENCE_NUMBER':
        seq = rnd.randint(0, hwm[p]); start = seq
    elif kind == 'AFTER_SEQUENCE_NUMBER':
        if hwm[p] == 0:
            kind, start = 'TRIM_HORIZON', 0
        else:
            seq = rnd.randint(0, hwm[p] - 1); start = seq + 1
    elif kind == 'AT_TIMESTAMP':
        at = rand_at(cur, p); start = expected_seq_at_time(cur, p, at)
    elif kind == 'LATEST':
        start = lso(p)
    else:
        start = 0
    cur.execute('SELECT topics.get_shard_iterator(%s, %s, %s, seq => %s, at => %s)', (T, p, kind, seq, at))
    it = cur.fetchone()[0]
    return it, start, '%s iterator of p%d (seq %s, at %s, starts at %d)' % (kind, p, seq, at, start)


def check_iterator_walk(cur):
    p = rnd.randrange(NP)
    if rnd.random() < 0.1:
        x = hwm[p] + 1
        try:
            cur.execute("SELECT topics.get_shard_iterator(%s, %s, 'AT_SEQUENCE_NUMBER', %s)", (T, p, x))
            fail('AT_SEQUENCE_NUMBER %d past next_seq %d of p%d gave an iterator, expected SQLSTATE 22T01' % (x, hwm[p], p))
        except psycopg2.Error as e:
            if e.pgcode != '22T01':
                fail('AT_SEQUENCE_NUMBER past next_seq: SQLSTATE %s (%s), expected 22T01' % (e.pgcode, e.pgerror))
        return
    it, start, label = new_iterator(cur, p)
    walk(cur, p, it, start, label)


ITERS = []        # iterators followed across steps: dict p, it, pos, start, seen, label


def check_iterator_follow(cur):
    if len(ITERS) < 4 and (not ITERS or rnd.random() < 0.3):
        p = rnd.randrange(NP)
        it, start, label = new_iterator(cur, p)
        ITERS.append(dict(p=p, it=it, pos=start, start=start, seen=[], label=label))
    I = rnd.choice(ITERS)
    I['it'], I['pos'], seen = walk(cur, I['p'], I['it'], I['pos'], 'followed ' + I['label'])
    I['seen'] += seen


GROUP = dict(delivered={})     # p -> list of seqs delivered by committed consumes


def check_consume(cur):
    delivered = GROUP['delivered']
    for _ in range(500):
        n = rnd.choice([1, 3, 10, 200])
        rollback = rnd.random() < 0.15
        if rollback:
            cur.execute('BEGIN')
        cur.execute('SELECT ' + COLS + " FROM topics.consume('g', %s, %s)", (T, n))
        rows = normrows(cur.fetchall())
        if rollback:
            cur.execute('ROLLBACK')
            if not rows:
                break
            continue
        if not rows:
            break
        ps = {r[0] for r in rows}
        if len(ps) != 1:
            fail('consume returned records of partitions %s in one call' % sorted(ps))
        p = rows[0][0]
        prev = delivered.setdefault(p, [])
        first = prev[-1] + 1 if prev else 0
        exp = expected_stable(cur, p, first, n)
        stats['checks'] += 1
        diffrows("consume('g', %s, %d) of p%d after seq %s (last stable offset %d%s)" % (
            T, n, p, prev[-1] if prev else None, lso(p), sub_note(p)), rows, exp)
        prev += [r[1] for r in rows]
    else:
        fail('consume never ran dry')
    for p in range(NP):
        cur.execute('SELECT seq FROM twin WHERE partition = %s AND seq < %s ORDER BY seq', (p, lso(p)))
        exp = [r[0] for r in cur.fetchall()]
        got = delivered.get(p, [])
        if got != exp:
            cur.execute("SELECT committed_seq FROM topics.consumer_lag WHERE group_id = 'g' AND partition = %s", (p,))
            pos = cur.fetchall()
            fail('consumer group: p%d delivered %s, expected every committed record below the last stable offset %d '
                 'once: %s (the group\'s position: %s%s)' % (p, got[-8:], lso(p), exp[-8:], pos, sub_note(p)))


def check_partitions(cur):
    q = rnd.choice(['SELECT partition, log_start_seq, next_seq, last_stable_seq, record_count FROM topics.partitions '
                    'WHERE topic = %s::regclass ORDER BY partition',
                    'SELECT partition, log_start_seq, next_seq, last_stable_seq, record_count FROM '
                    'topics.partition_info(%s) ORDER BY partition'])
    cur.execute(q, (T,))
    got = cur.fetchall()
    exp = [(p, 0, hwm[p], lso(p), hwm[p]) for p in range(NP)]
    stats['checks'] += 1
    if got != exp:
        fail('%s: %s, expected (partition, log_start, next_seq, last_stable, record_count) %s' % (
            q % repr(T), got, exp))
    cur.execute('SELECT partition, log_start_seq, next_seq FROM topics.partition_bounds(%s) ORDER BY 1', (T,))
    got = cur.fetchall()
    if got != [(p, 0, hwm[p]) for p in range(NP)]:
        fail('partition_bounds: %s, expected next_seq %s' % (got, hwm))


def check_repeatable_read():
    """A REPEATABLE READ snapshot sees the same on both sides before and
    after a transaction of W commits."""
    cur = S.cursor()
    cur.execute('BEGIN ISOLATION LEVEL REPEATABLE READ')
    try:
        check_full_diff(cur, 'REPEATABLE READ snapshot')
        before = both(cur, 'SELECT partition, count(*), max(seq) FROM {T} GROUP BY 1 ORDER BY 1')
        step_tx()
        after = both(cur, 'SELECT partition, count(*), max(seq) FROM {T} GROUP BY 1 ORDER BY 1',
                     label='REPEATABLE READ after a commit')
        if after != before:
            fail('REPEATABLE READ: topic changed under the snapshot: %s then %s' % (before, after))
        check_select(cur)
    finally:
        cur.execute('COMMIT')


def check_read():
    """One read check, drawn by weight (the cumulative share of each)."""
    cur = R.cursor()
    r = rnd.random()
    for upto, check in ((0.30, check_select), (0.36, check_prepared), (0.39, check_parallel),
                        (0.46, lambda _cur: check_cursor()), (0.56, check_fetch),
                        (0.62, check_fetch_reader), (0.70, check_seq_at_time),
                        (0.80, check_iterator_walk), (0.88, check_iterator_follow),
                        (0.94, check_consume), (1.01, check_partitions)):
        if r < upto:
            check(cur)
            return


def step_reads():
    for _ in range(rnd.randint(1, 4)):
        check_read()


def finish():
    """Close O, then every follower must have had exactly the twin's rows."""
    cur = R.cursor()
    if open_tx['active']:
        end_open()
    check_full_diff(cur, 'final')
    # the reads above were seeks, as README says
    cur.execute('EXPLAIN (COSTS OFF) SELECT * FROM ' + T + ' WHERE partition = 0 AND seq >= 5 ORDER BY seq LIMIT 10')
    plan = '\n'.join(r[0] for r in cur.fetchall())
    if 'TopicSeek' not in plan:
        fail('a seek of partition 0 from seq 5 does not run as a TopicSeek:\n' + plan)
    check_partitions(cur)
    for I in ITERS:
        for _ in range(100):
            I['it'], pos, seen = walk(cur, I['p'], I['it'], I['pos'], 'final ' + I['label'])
            I['seen'] += seen
            if pos == I['pos'] and not seen:
                break
            I['pos'] = pos
        cur.execute('SELECT seq FROM twin WHERE partition = %s AND seq >= %s ORDER BY seq', (I['p'], I['start']))
        exp = [r[0] for r in cur.fetchall()]
        if I['seen'] != exp:
            fail('%s, followed across steps, returned %d records %s, expected %d %s' % (
                I['label'], len(I['seen']), I['seen'][-6:], len(exp), exp[-6:]))
    for p in list(FREADERS):
        for _ in range(10000):
            before = FREADERS[p]
            check_fetch_reader_p(cur, p)
            if FREADERS[p] == before:
                break
    check_consume(cur)


def check_fetch_reader_p(cur, p):
    pos = FREADERS[p]
    cur.execute('SELECT ' + COLS + ' FROM topics.fetch(%s, %s, %s, 1000)', (T, p, pos))
    got = normrows(cur.fetchall())
    diffrows('final fetch reader of p%d at %d' % (p, pos), got, expected_stable(cur, p, pos, 1000))
    if got:
        FREADERS[p] = got[-1][1] + 1


STEPS_W = [(step_tx, 30), (step_open, 10), (step_vacuum, 4), (step_reads, 40), (check_repeatable_read, 3),
           (step_grow, 1)]
funcs = [f for f, w in STEPS_W for _ in range(w)]

step = 0
ok = False
t_start = time.time()
try:
    for step in range(1, STEPS + 1):
        f = rnd.choice(funcs)
        log('[%d] -- %s' % (step, f.__name__))
        if '--keep' in sys.argv and step == STEPS:
            print('stopping before step', step)
            os._exit(0)
        f()
        if step % 10 == 0:
            check_full_diff(R.cursor(), 'full diff after step %d' % step)
    step = 'final'
    finish()
    Rc.execute('SELECT count(*) FROM twin')
    kept = Rc.fetchone()[0]
    print('seed %d: %d steps OK; %d partitions, %d seqs handed out (%d committed), %d checks, '
          '%d transactions committed, %d rolled back, %.1f s' % (
              SEED, STEPS, NP, sum(hwm), kept, stats['checks'], stats['committed_tx'], stats['aborted_tx'],
              time.time() - t_start))
    ok = True
except Fail as e:
    print('seed %d: FAIL at step %s: %s' % (SEED, step, e))
    print('--- last steps:')
    for line in LOG[-25:]:
        print(line)
except Exception:
    print('seed %d: ERROR at step %s' % (SEED, step))
    traceback.print_exc(file=sys.stdout)
    for line in LOG[-25:]:
        print(line)
if open_tx['prepared']:
    try:
        Rc.execute("ROLLBACK PREPARED '%s'" % open_tx['prepared'])
    except Exception:
        pass
finish_run(ok, (W, O, R, S), adm, DB)
