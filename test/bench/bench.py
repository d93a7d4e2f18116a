#!/usr/bin/python3
"""pg_topics benchmark: the workloads of a log, done the pg_topics way and the
peers' ways (a heap "outbox" table with a btree on (partition, seq), PgQ), in
one run on one cluster.  Started by test/bench/run, which provides the
cluster; see test/bench/README.md.

Every number is measured here, in this run; ratios are pg_topics / peer
(higher is better for rates, lower for bytes).
"""
import argparse
import contextlib
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import psycopg2

ARGS = None
RESULTS = []          # dicts: section, workload, system, value, unit, extra


HAVE_PGMQ = False
WAL_PASS = 100        # transactions of the WAL measurement after a produce workload's rounds
WAL_PASS_RECORDS = 1000   # ... or more, to produce at least this many records


def progress(msg):
    print('[%s] %s' % (time.strftime('%H:%M:%S'), msg), file=sys.stderr, flush=True)


def connect(autocommit=True, appname='bench'):
    conn = psycopg2.connect(host=ARGS.host, port=ARGS.port, dbname=ARGS.db, user='postgres',
                            application_name=appname)
    conn.autocommit = autocommit
    return conn


CONN = None


def q(sql, params=None):
    with CONN.cursor() as cur:
        cur.execute(sql, params)
        if cur.description is not None:
            return cur.fetchall()
    return None


def q1(sql, params=None):
    return q(sql, params)[0][0]


def lsn():
    return q1('SELECT pg_current_wal_insert_lsn()')


def wait_flushed(target):
    """Wait until WAL is flushed up to target: an asynchronous commit makes
    the WAL writer flush it within wal_writer_delay."""
    q('SELECT txid_current()')
    deadline = time.monotonic() + 30
    while q1('SELECT pg_current_wal_flush_lsn() < %s', (target,)):
        if time.monotonic() > deadline:
            sys.exit('WAL not flushed up to %s after 30 s' % target)
        time.sleep(0.05)


def record(section, workload, system, value, unit, **extra):
    RESULTS.append(dict(section=section, workload=workload, system=system,
                        value=value, unit=unit, **extra))


def pgbench(script, clients, seconds, label, transactions=None, protocol='simple', defines=None):
    """Run pgbench with one custom script for seconds (or a number of
    transactions per client); return transactions per second.  defines
    gives the script's variables (pgbench -D): with protocol 'prepared' or
    'extended' each is a bound parameter, as a driver sends it."""
    with tempfile.NamedTemporaryFile('w', suffix='.sql', delete=False) as f:
        f.write(script)
        path = f.name
    os.chmod(path, 0o644)
    cmd = ['pgbench', '-n', '-h', ARGS.host, '-p', str(ARGS.port), '-U', 'postgres',
           '-c', str(clients), '-j', str(min(clients, 2)), '-M', protocol]
    for name, value in (defines or {}).items():
        cmd += ['-D', '%s=%s' % (name, value)]
    cmd += ['-t', str(transactions)] if transactions else ['-T', str(seconds)]
    cmd += ['-f', path, ARGS.db]
    progress('  pgbench %s: %d client(s), %s' % (label, clients, '%d transactions' % transactions
                                                 if transactions else '%d s' % seconds))
    out = subprocess.run(cmd, capture_output=True, text=True)
    os.unlink(path)
    m = re.search(r'tps = ([0-9.]+) \(without initial connection time\)', out.stdout)
    failed = re.search(r'number of failed transactions: (\d+)', out.stdout)
    if not m or out.returncode != 0:
        sys.exit('pgbench failed for %s:\n%s\n%s' % (label, out.stdout, out.stderr))
    if failed and int(failed.group(1)) > 0:
        sys.exit('pgbench %s had %s failed transactions' % (label, failed.group(1)))
    return float(m.group(1))


def rel_bytes(rel):
    return rels_bytes([rel])


def rels_bytes(rels):
    """Bytes on disk of the relations named in rels, with indexes and TOAST."""
    return int(q1('SELECT sum(pg_total_relation_size(r)) FROM unnest(%s::regclass[]) r', (rels,)))


def topic_count(name):
    return q1('SELECT sum(next_seq) FROM topics.partitions WHERE topic = %s::regclass', (name,))


# a queue's event tables (event_N, and its rotating event_N_0..2) and their template
PGQ_EVENT_TABLES = """SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE n.nspname = 'pgq' AND c.relname LIKE 'event_%' AND c.relkind = 'r'"""


def pgq_bytes():
    return int(q1('SELECT coalesce(sum(pg_total_relation_size(t::regclass)), 0) FROM (%s) s(t)'
                  % PGQ_EVENT_TABLES))


def reset_pgq():
    q("SELECT pgq.drop_queue(queue_name, true) FROM pgq.queue")


# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------

OUTBOX = """CREATE TABLE {name} (
    partition integer NOT NULL,
    seq bigserial,
    ts timestamptz NOT NULL DEFAULT now(),
    key text,
    value bytea,
    headers jsonb,
    PRIMARY KEY (partition, seq))"""


def reset_pgmq(*queues):
    if not HAVE_PGMQ:
        return
    for name in queues:
        if q1("SELECT count(*) FROM pgmq.meta WHERE queue_name = %s", (name,)):
            q("SELECT pgmq.drop_queue(%s)", (name,))
        q("SELECT pgmq.create(%s)", (name,))


def pgmq_bytes(name):
    return rel_bytes('pgmq.q_' + name)


def fresh_topic(name, partitions):
    q('DROP TABLE IF EXISTS %s' % name)
    q('SELECT topics.create_topic(%s, %s)', (name, partitions))


def fresh_outbox(name):
    q('DROP TABLE IF EXISTS %s' % name)
    q(OUTBOX.format(name=name))


def settle():
    q('CHECKPOINT')


@contextlib.contextmanager
def own_wal(warmup=None):
    """Measure the WAL that the work inside writes, after a CHECKPOINT and
    warmup(), if given (the first change of each page after a checkpoint
    logs the whole page, once per checkpoint: over 100 single-record
    produces that came to a few hundred bytes a record, on every side).
    Yields a function that returns the WAL bytes flushed since, less those
    of records that carry no transaction id (read with pg_walinspect): what
    autovacuum, the checkpointer and the background writer wrote meanwhile.
    Every record a produce writes carries its transaction's id, its commit
    record too, and synchronous_commit is on, so all of it is flushed when
    the work returns.  By hand, 100 calls of produce_batch (100 x 1 KiB)
    beside a VACUUM that pruned 43k pages (a full-page image each, after
    the CHECKPOINT) came to 18,950 B per record by the plain LSN
    difference, and to 1,113 B by this count, as with nothing beside them."""
    settle()
    if warmup:
        warmup()
    start = q1('SELECT pg_current_wal_flush_lsn()')

    def written():
        end = q1('SELECT pg_current_wal_flush_lsn()')
        other = q("""SELECT resource_manager || ' ' || record_type, sum(pg_wal_lsn_diff(end_lsn, start_lsn))
                     FROM pg_get_wal_records_info(%s, %s) WHERE xid = '0'
                     GROUP BY 1 ORDER BY 2 DESC""", (start, end))
        total = int(q1('SELECT pg_wal_lsn_diff(%s, %s)', (end, start)))
        other_bytes = int(sum(row[1] for row in other))
        if other_bytes > total / 100:
            progress('  %d kB of WAL written meanwhile by other processes (%s): not counted' %
                     (other_bytes // 1024, ', '.join('%s %d kB' % (kind, size // 1024) for kind, size in other[:3])))
        return total - other_bytes
    yield written


# ---------------------------------------------------------------------------
# Produce
# ---------------------------------------------------------------------------

def produce_single():
    for clients in ARGS.clients:
        progress('single-record produce, %d clients' % clients)
        fresh_topic('b_single', 4)
        fresh_outbox('b_outbox_single')
        reset_pgq()
        q("SELECT pgq.create_queue('bq_single')")
        reset_pgmq('bm_single')
        settle()
        wl = 'single-record produce, %d client%s' % (clients, '' if clients == 1 else 's')
        k = "\\set k random(1, 1000000)\n"
        # with WAL (commit record included) and disk bytes per record, as batches
        runs = [('pg_topics', k + "SELECT * FROM topics.produce('b_single', 'key-' || :k, repeat('x', 100));\n",
                 lambda: rel_bytes('b_single'), lambda: topic_count('b_single')),
                ('heap+btree', k + "INSERT INTO b_outbox_single (partition, key, value) "
                 "VALUES (:k % 4, 'key-' || :k, convert_to(repeat('x', 100), 'UTF8'));\n",
                 lambda: rel_bytes('b_outbox_single'), lambda: q1('SELECT count(*) FROM b_outbox_single')),
                ('PgQ', k + "SELECT pgq.insert_event('bq_single', 'key-' || :k, repeat('x', 100));\n",
                 pgq_bytes, pgq_count)]
        if HAVE_PGMQ:
            runs.append(('pgmq', k + "SELECT pgmq.send('bm_single', jsonb_build_object('key', 'key-' || :k, "
                         "'value', repeat('x', 100)));\n",
                         lambda: pgmq_bytes('bm_single'), lambda: q1('SELECT count(*) FROM pgmq.q_bm_single')))
        paired('produce', wl, runs, clients, ARGS.rounds, 1, value_bytes=110)


def reset_batch_tables():
    fresh_topic('b_batch', 4)
    fresh_topic('b_batch_ins', 4)
    fresh_outbox('b_outbox_batch')
    reset_pgq()
    q("SELECT pgq.create_queue('bq_batch')")
    reset_pgmq('bm_batch')


def produce_batch():
    sizes = [(100, 1000, 'batch produce, 1000 x 100 B')]
    if not ARGS.quick:
        sizes += [(1024, 100, 'batch produce, 100 x 1 KiB'), (16384, 10, 'batch produce, 10 x 16 KiB')]
    for size, n, wl in sizes:
        progress(wl)
        # values: hex digests, compressible about 2:1 like typical JSON
        val = "(SELECT string_agg(md5(g::text || '-' || i), '') FROM generate_series(1, %d) i)" % (size // 32)
        if size == 100:
            val = "repeat('x', 100)"
        reset_batch_tables()
        settle()
        keys = "ARRAY(SELECT 'key-' || g FROM generate_series(1, %d) g)" % n
        vals = "ARRAY(SELECT %s FROM generate_series(1, %d) g)" % (val, n)

        runs = [('pg_topics', "SELECT count(*) FROM topics.produce_batch('b_batch', %s, %s);\n" % (keys, vals),
                 lambda: rel_bytes('b_batch'), lambda: topic_count('b_batch'))]
        if size == 100:
            runs.append(('pg_topics INSERT..SELECT',
                         "INSERT INTO b_batch_ins (key, value) SELECT 'key-' || g, convert_to(%s, 'UTF8') "
                         "FROM generate_series(1, %d) g;\n" % (val, n),
                         lambda: rel_bytes('b_batch_ins'), lambda: topic_count('b_batch_ins')))
        runs.append(('heap+btree',
                     "INSERT INTO b_outbox_batch (partition, key, value) SELECT g %% 4, 'key-' || g, "
                     "convert_to(%s, 'UTF8') FROM generate_series(1, %d) g;\n" % (val, n),
                     lambda: rel_bytes('b_outbox_batch'),
                     lambda: q1('SELECT count(*) FROM b_outbox_batch')))
        runs.append(('PgQ', "SELECT count(pgq.insert_event('bq_batch', 'key-' || g, %s)) "
                     "FROM generate_series(1, %d) g;\n" % (val, n),
                     pgq_bytes, pgq_count))
        if HAVE_PGMQ:
            runs.append(('pgmq', "SELECT count(*) FROM pgmq.send_batch('bm_batch', "
                         "ARRAY(SELECT jsonb_build_object('key', 'key-' || g, 'value', %s) "
                         "FROM generate_series(1, %d) g));\n" % (val, n),
                         lambda: pgmq_bytes('bm_batch'),
                         lambda: q1('SELECT count(*) FROM pgmq.q_bm_batch')))
        rates = paired('produce', wl, runs, 1, ARGS.rounds, n, value_bytes=size + 10)
        if size == 1024:
            produce_batch_bound(n, size, wl)
        if size == 100:
            # the same statement on both sides: the heap's rows come from an
            # INSERT ... SELECT, which builds no arrays (produce_batch's
            # arguments cost it the page faults of glibc giving their memory
            # back after every statement: RESULTS.md, run 34)
            record_rounds('produce', wl + ', INSERT ... SELECT on both sides',
                          {system: rates[system] for system in ('pg_topics INSERT..SELECT', 'heap+btree')})
            produce_batch_bound(n, size, wl)
            vacuum_wal(runs, {'pg_topics': lambda: ['b_batch'],
                              'heap+btree': lambda: ['b_outbox_batch'],
                              'PgQ': lambda: [r[0] for r in q(PGQ_EVENT_TABLES)],
                              'pgmq': lambda: ['pgmq.q_bm_batch']})


def produce_batch_bound(n, size, wl):
    """Batch produce as a client does it: the keys and values of n records
    arrive as two bound text[] parameters (pgbench -D, prepared statements:
    the same bytes on the wire for every system), and each system stores
    them its own way.  The rows above build their input in the server
    (produce_batch needs arrays, the peers' INSERT ... SELECT does not);
    here every system parses the same arrays.  Rates only: the records
    stored are those of the row above, so are their WAL and disk bytes.
    The 1 KiB values are those of the row above (md5 digests in hex); 10 x
    16 KiB is left out, as its arrays (160 KiB) are longer than one
    argument of a command line may be (128 KiB on Linux), and pgbench -D
    takes them there.  pgmq is left out (its send_batch takes jsonb[]: a
    conversion the others do not pay)."""
    wl += ', bound text[] arguments on every side'
    progress(wl)
    reset_batch_tables()
    settle()
    if size == 100:
        vals = ['x' * 100] * n
    else:
        vals = [''.join(hashlib.md5(('%d-%d' % (g, i)).encode()).hexdigest()
                        for i in range(1, size // 32 + 1)) for g in range(1, n + 1)]
    defines = {'keys': '{%s}' % ','.join('key-%d' % g for g in range(1, n + 1)),
               'vals': '{%s}' % ','.join(vals)}
    runs = [('pg_topics', "SELECT count(*) FROM topics.produce_batch('b_batch', :keys::text[], :vals::text[]);\n"),
            ('heap+btree', "INSERT INTO b_outbox_batch (partition, key, value) "
             "SELECT i % 4, k, convert_to(v, 'UTF8') "
             "FROM unnest(:keys::text[], :vals::text[]) WITH ORDINALITY AS u(k, v, i);\n"),
            ('PgQ', "SELECT count(pgq.insert_event('bq_batch', k, v)) "
             "FROM unnest(:keys::text[], :vals::text[]) AS u(k, v);\n")]
    paired('produce', wl, runs, 1, ARGS.rounds, n, protocol='prepared', defines=defines)


def vacuum_wal(runs, tables):
    """WAL that the first VACUUM after a checkpoint writes, per record, for
    each system of runs (the batch produce runs) with tables[system]: into
    fresh tables, 100 transactions of the system's script with autovacuum
    off, then a CHECKPOINT and VACUUM of its tables.  What VACUUM marks
    costs a full-page image of a page when it is the page's first change
    since the checkpoint and is WAL-logged (heap: the visibility map's
    pages; pg_topics up to run 18: every data page, its records frozen and
    its all-visible flag set; since, the flag is a hint and records are
    frozen at vacuum_freeze_min_age).  Counted with pg_walinspect from the
    records that name a block of the tables, their indexes or TOAST, once
    the WAL writer has flushed them (VACUUM does not wait for that)."""
    wl = 'first VACUUM after a CHECKPOINT, 100 batches of 1000 x 100 B'
    progress(wl)
    q('ALTER SYSTEM SET autovacuum = off')
    q('SELECT pg_reload_conf()')
    try:
        reset_batch_tables()
        chosen = [run for run in runs if run[0] in tables]
        for system, script, _, _ in chosen:
            pgbench(script, 1, None, '%s, for VACUUM' % system, transactions=WAL_PASS)
        for system, _, _, count in chosen:
            rels = tables[system]()
            nodes = [r[0] for r in q("""SELECT pg_relation_filenode(c.oid)::text FROM pg_class c
                                        WHERE c.oid = ANY(%s::regclass[])
                                           OR c.oid IN (SELECT indexrelid FROM pg_index
                                                        WHERE indrelid = ANY(%s::regclass[]))
                                           OR c.oid IN (SELECT reltoastrelid FROM pg_class
                                                        WHERE oid = ANY(%s::regclass[]))
                                           OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid IN
                                                        (SELECT reltoastrelid FROM pg_class
                                                         WHERE oid = ANY(%s::regclass[])))""",
                                     (rels, rels, rels, rels)) if r[0] is not None]
            settle()
            start = lsn()
            q('VACUUM %s' % ', '.join(rels))
            end = lsn()
            wait_flushed(end)
            wal = int(q1("""SELECT coalesce(sum(pg_wal_lsn_diff(end_lsn, start_lsn)), 0)
                            FROM pg_get_wal_records_info(%s, %s)
                            WHERE block_ref ~ ('rel [0-9]+/[0-9]+/(' || %s || ')( |$)')""",
                         (start, end, '|'.join(nodes))))
            n = count()
            record('produce', wl, system, wal / max(n, 1), 'WAL bytes per record', records=n)

        # then 10 more batches each and a second VACUUM: the blocks it
        # touches (tables, indexes, TOAST; hits and reads), from
        # pg_statio_all_tables, flushed by this session before each look
        wl2 = 'second VACUUM, after 10 more batches (10% more records): blocks touched'
        progress(wl2)

        def touched(rels):
            q('SELECT pg_stat_force_next_flush()')
            q('SELECT pg_stat_clear_snapshot()')
            return int(q1("""SELECT coalesce(sum(coalesce(heap_blks_read, 0) + coalesce(heap_blks_hit, 0)
                                             + coalesce(idx_blks_read, 0) + coalesce(idx_blks_hit, 0)
                                             + coalesce(toast_blks_read, 0) + coalesce(toast_blks_hit, 0)
                                             + coalesce(tidx_blks_read, 0) + coalesce(tidx_blks_hit, 0)), 0)
                             FROM pg_statio_all_tables WHERE relid = ANY(%s::regclass[])""", (rels,)))
        for system, script, _, _ in chosen:
            pgbench(script, 1, None, '%s, 10 more batches' % system, transactions=WAL_PASS // 10)
        for system, _, _, count in chosen:
            rels = tables[system]()
            before = touched(rels)
            q('VACUUM %s' % ', '.join(rels))
            blocks = touched(rels) - before
            record('produce', wl2, system, blocks, 'blocks touched (of %d)' % (rels_bytes(rels) // 8192),
                   records=count())

        # and VACUUM FULL of the same tables: records copied per second,
        # its own WAL per record (own_wal: the rewrite runs in a transaction
        # with an xid, and commits synchronously), bytes on disk per record
        # after
        wl3 = 'VACUUM FULL of the same tables (110 batches of 1000 x 100 B)'
        progress(wl3)
        for system, _, _, count in chosen:
            rels = tables[system]()
            n = int(count())
            with own_wal() as written:
                t0 = time.monotonic()
                q('VACUUM FULL %s' % ', '.join(rels))
                secs = time.monotonic() - t0
                wal = written()
            record('produce', wl3, system, n / secs, 'records/s', records=n,
                   wal_bytes_per_record=wal / max(n, 1), disk_bytes_per_record=rels_bytes(rels) / max(n, 1))
    finally:
        q('ALTER SYSTEM RESET autovacuum')
        q('SELECT pg_reload_conf()')


def pgq_count():
    # every queue's event tables inherit from pgq.event_template
    return int(q1('SELECT count(*) FROM pgq.event_template'))


def copy_load():
    n = ARGS.copy_records
    wl = 'COPY of %s records' % format(n, ',')
    progress(wl)
    path = os.path.join(ARGS.workdir, 'copy.tsv')
    hpath = os.path.join(ARGS.workdir, 'copy_heap.tsv')
    val = 'x' * 100
    with open(path, 'w') as f, open(hpath, 'w') as h:
        for i in range(n):
            f.write('key-%d\t%s\n' % (i, val))
            h.write('%d\tkey-%d\t%s\n' % (i % 4, i, val))
    os.chmod(path, 0o644)
    os.chmod(hpath, 0o644)
    copies = {'pg_topics': ("COPY b_copy (key, value) FROM '%s'" % path, 'b_copy'),
              'heap+btree': ("COPY b_outbox_copy (partition, key, value) FROM '%s'" % hpath, 'b_outbox_copy')}
    wal = {system: [] for system in copies}
    disk = {system: [] for system in copies}

    def load(system, i):
        # each round loads fresh tables
        sql, rel = copies[system]
        progress('  COPY %s, round %d of %d' % (system, i + 1, ARGS.copy_rounds))
        if system == 'pg_topics':
            fresh_topic(rel, 4)
        else:
            fresh_outbox(rel)
        with own_wal() as written:
            t0 = time.monotonic()
            q(sql)
            elapsed = time.monotonic() - t0
            wal[system].append(written() / n)
        disk[system].append(rel_bytes(rel) / n)
        return n / elapsed
    rates = interleave(copies, ARGS.copy_rounds, load)
    record_rounds('produce', wl, rates,
                  extra=lambda system, rate: dict(mb_s=rate * 110 / 1e6,
                                                  wal_bytes_per_record=statistics.median(wal[system]),
                                                  disk_bytes_per_record=statistics.median(disk[system])))


# ---------------------------------------------------------------------------
# Read
# ---------------------------------------------------------------------------

def load_read_tables():
    n = ARGS.read_records
    progress('loading %s records for the read workloads' % format(n, ','))
    fresh_topic('b_read', 1)
    fresh_outbox('b_outbox_read')
    q("INSERT INTO b_read (key, value) SELECT 'key-' || g, convert_to(repeat('x', 100), 'UTF8') "
      "FROM generate_series(0, %s) g", (n - 1,))
    q("INSERT INTO b_outbox_read (partition, seq, key, value) SELECT 0, g, 'key-' || g, "
      "convert_to(repeat('x', 100), 'UTF8') FROM generate_series(0, %s) g", (n - 1,))
    q('VACUUM ANALYZE b_read')
    q('VACUUM ANALYZE b_outbox_read')
    settle()


def interleave(systems, rounds, measure):
    """Call measure(system, round) for each of systems in turn, rounds
    times, and return each system's rates, round by round.  Within a round
    the systems run seconds apart, so that a drift of the machine's speed
    during a workload (10-20% on a shared VM) falls on both sides of a
    ratio rather than on one."""
    rates = {system: [] for system in systems}
    for i in range(rounds):
        for system in systems:
            rates[system].append(measure(system, i))
    return rates


def round_ratios(ours, theirs):
    """The median and range of the ratios of two systems' rates, round by
    round."""
    ratios = sorted(a / b for a, b in zip(ours, theirs))
    return dict(ratio=statistics.median(ratios), ratio_min=ratios[0], ratio_max=ratios[-1])


def record_rounds(section, wl, rates, pick=statistics.median, extra=None):
    """Record each system's rate, the pick of its rounds (interleave's
    result; the first system is pg_topics), with each peer's ratio: the
    median of the rounds' ratios and their range.  extra(system, rate)
    gives further fields."""
    ours = next(iter(rates.values()))
    for system, rs in rates.items():
        rate = pick(rs)
        fields = {'rounds': len(rs)}
        if rs is not ours:
            fields.update(round_ratios(ours, rs))
        if extra:
            fields.update(extra(system, rate))
        record(section, wl, system, rate, 'records/s', **fields)


def paired(section, wl, runs, clients, rounds, unit_per_tx, value_bytes=None, protocol='simple',
           defines=None):
    """Run pgbench with each of runs [(system, script)] in turn (interleave),
    rounds times, ARGS.seconds / rounds seconds each, and record each
    system's median rate; the first system is pg_topics.

    A run given as (system, script, table_bytes, count) also gets WAL bytes
    per record, from a pass of its own after the rounds (own_wal, warmed up
    by 100 transactions: then at least 100 transactions and 1000 records of
    the system alone; in the rounds the WAL of other systems' tables, such
    as autovacuum's, would be counted for whichever system ran while it was
    written), bytes on disk per record over all it stored, and MB/s of
    value_bytes per record."""
    secs = max(1, ARGS.seconds // rounds)
    by_system = {run[0]: run for run in runs}
    rates = interleave(by_system, rounds, lambda system, i: unit_per_tx * pgbench(
        by_system[system][1], clients, secs, '%s, round %d of %d' % (system, i + 1, rounds),
        protocol=protocol, defines=defines))
    wal = {}
    for system, script in (run[:2] for run in runs if len(run) == 4):
        n = max(WAL_PASS, -(-WAL_PASS_RECORDS // unit_per_tx))
        with own_wal(lambda: pgbench(script, 1, None, '%s, WAL pass warm-up' % system,
                                     transactions=WAL_PASS)) as written:
            pgbench(script, 1, None, '%s, WAL pass' % system, transactions=n)
            wal[system] = written() / (n * unit_per_tx)

    def sizes(system, rate):
        run = by_system[system]
        if len(run) != 4:
            return {}
        return dict(mb_s=rate * value_bytes / 1e6, wal_bytes_per_record=wal[system],
                    disk_bytes_per_record=run[2]() / max(run[3](), 1))
    record_rounds(section, wl, rates, extra=sizes)
    return rates


def fetch_random():
    n = ARGS.read_records
    r = "\\set r random(0, %d)\n" % (n - 1001)
    runs = [('pg_topics', r + "SELECT count(*), sum(length(value)) FROM topics.fetch('b_read', 0, :r, 1000);\n"),
            ('pg_topics SELECT', r + "SELECT count(*), sum(length(value)) FROM (SELECT value FROM b_read "
             "WHERE partition = 0 AND seq >= :r ORDER BY seq LIMIT 1000) s;\n"),
            ('heap+btree', r + "SELECT count(*), sum(length(value)) FROM (SELECT value FROM b_outbox_read "
             "WHERE partition = 0 AND seq >= :r ORDER BY seq LIMIT 1000) s;\n")]
    # One client waits for every round trip, and on the 2-core test VM a
    # round trip costs about as much as the fetch: the floor is recorded
    # as its own row.  Two clients keep both cores busy.
    wl = 'round trip floor: SELECT 1, 1 client'
    progress(wl)
    record('read', wl, 'PostgreSQL', pgbench('SELECT 1;\n', 1, max(1, ARGS.seconds // ARGS.rounds),
                                             'SELECT 1'), 'statements/s')
    for clients in (1, 2):
        wl = 'fetch 1000 records from a random seq, %d client%s' % (clients, '' if clients == 1 else 's')
        progress(wl)
        paired('read', wl, runs, clients, ARGS.rounds, 1000)
    # drivers that prepare statements (JDBC after a few executions, pgx)
    # skip parse and plan on both sides
    wl = 'fetch 1000 records from a random seq, 1 client, prepared statements'
    progress(wl)
    paired('read', wl, runs, 1, ARGS.rounds, 1000, protocol='prepared')


def latest_records():
    wl = 'latest 10 records (ORDER BY seq DESC LIMIT 10)'
    progress(wl)
    paired('read', wl, [(system, "SELECT count(*), sum(length(value)) FROM (SELECT value FROM %s "
                 "WHERE partition = 0 ORDER BY seq DESC LIMIT 10) s;\n" % rel)
                for system, rel in (('pg_topics', 'b_read'), ('heap+btree', 'b_outbox_read'))],
           1, ARGS.rounds, 10)


def full_scan():
    """The scan twice: first with the tables' pages wherever the load and the
    workloads before left them, then with both tables read into shared
    buffers (pg_prewarm).  A table larger than a quarter of shared_buffers is
    read through a small ring, so what the first finds depends on how much of
    each table the earlier workloads left in shared buffers; the second is the
    same state for both."""
    n = ARGS.read_records

    rels = {'pg_topics': 'b_read', 'heap+btree': 'b_outbox_read'}

    def scan(system, i):
        t0 = time.monotonic()
        q('SELECT count(*), sum(length(value)) FROM %s' % rels[system])
        return n / (time.monotonic() - t0)

    def measure(wl):
        for rel in rels.values():
            q('SELECT count(*), sum(length(value)) FROM %s' % rel)     # warm
        record_rounds('read', wl, interleave(rels, ARGS.scan_rounds, scan), pick=max,
                      extra=lambda system, rate: dict(mb_s=rate * 110 / 1e6))

    q('SET max_parallel_workers_per_gather = 0')
    progress('full replay scan')
    measure('full replay scan')
    progress('full replay scan, both tables in shared buffers')
    q('CREATE EXTENSION IF NOT EXISTS pg_prewarm')
    q("SELECT pg_prewarm('b_read'), pg_prewarm('b_outbox_read')")
    measure('full replay scan, both tables in shared buffers')
    q('RESET max_parallel_workers_per_gather')


def seek_cost():
    sizes = [10000, ARGS.read_records] + ([10000000] if ARGS.full else [])
    for size in sizes:
        wl = 'SELECT seek, LIMIT 100, in %s records' % format(size, ',')
        progress(wl)
        if size == ARGS.read_records:
            rel = 'b_read'
        else:
            rel = 'b_seek_%d' % size
            fresh_topic(rel, 1)
            q("INSERT INTO %s (key, value) SELECT 'k', convert_to(repeat('x', 100), 'UTF8') "
              "FROM generate_series(1, %d)" % (rel, size))
            q('VACUUM ANALYZE %s' % rel)
        bufs, times = [], []
        import random
        rnd = random.Random(42)
        for _ in range(30):
            x = rnd.randrange(0, size - 100)
            plan = q1('EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT * FROM %s '
                      'WHERE partition = 0 AND seq >= %d ORDER BY seq LIMIT 100' % (rel, x))
            top = plan[0]
            bufs.append(top['Plan'].get('Shared Hit Blocks', 0) + top['Plan'].get('Shared Read Blocks', 0))
            times.append(top['Execution Time'])
        record('read', wl, 'pg_topics', statistics.median(times), 'ms (median)',
               buffers=statistics.median(bufs))


# ---------------------------------------------------------------------------
# Consume
# ---------------------------------------------------------------------------

def consumer(appname, one_call):
    """A consumer's connection and its step(calls): one_call(cursor) takes
    one batch and returns how many records it got, or None when the queue
    is empty; each call is a transaction."""
    c = connect(autocommit=False, appname=appname)

    def step(calls):
        got = 0
        with c.cursor() as cur:
            for _ in range(calls):
                k = one_call(cur)
                c.commit()
                if k is None:
                    break
                got += k
        return got
    return c, step


def topic_consumer(group):
    """A member of a pg_topics group: 1000 records per consume."""
    def one_call(cur):
        cur.execute("SELECT count(*) FROM topics.consume(%s, 'b_cons', 1000)", (group,))
        return cur.fetchone()[0]
    return consumer('member', one_call)


def pgq_consumer():
    """PgQ's consumer loop: a batch (1000 events, one tick) per transaction."""
    def one_call(cur):
        cur.execute("SELECT pgq.next_batch('bq_cons', 'c')")
        batch = cur.fetchone()[0]
        if batch is None:
            return None
        cur.execute('SELECT count(*) FROM pgq.get_batch_events(%s)', (batch,))
        k = cur.fetchone()[0]
        cur.execute('SELECT pgq.finish_batch(%s)', (batch,))
        return k
    return consumer('pgq', one_call)


def pgmq_consumer():
    """pgmq's: read 1000 messages, delete them, commit (a queue forgets what
    was consumed)."""
    def one_call(cur):
        cur.execute("SELECT array_agg(msg_id) FROM pgmq.read('bm_cons', 30, 1000)")
        ids = cur.fetchone()[0]
        if not ids:
            return None
        cur.execute("SELECT count(*) FROM pgmq.delete('bm_cons', %s::bigint[])", (ids,))
        return cur.fetchone()[0]
    return consumer('pgmq', one_call)


def consume_group():
    n = ARGS.consume_records
    batches = n // 1000
    progress('loading %s records for the consumer workloads' % format(n, ','))
    fresh_topic('b_cons', 4)
    q("INSERT INTO b_cons (key, value) SELECT 'key-' || g, convert_to(repeat('x', 100), 'UTF8') "
      "FROM generate_series(1, %s) g", (n,))
    q('VACUUM ANALYZE b_cons')
    # PgQ: the same records as events, ticked every 1000 events
    progress('loading %s events into PgQ' % format(n, ','))
    reset_pgq()
    q("SELECT pgq.create_queue('bq_cons')")
    q("SELECT pgq.register_consumer('bq_cons', 'c')")
    for _ in range(batches):
        q("SELECT count(pgq.insert_event('bq_cons', 'key-' || g, repeat('x', 100))) "
          "FROM generate_series(1, 1000) g")
        q("SELECT pgq.force_tick('bq_cons')")
        q("SELECT pgq.ticker('bq_cons')")
    if HAVE_PGMQ:
        progress('loading %s messages into pgmq' % format(n, ','))
        reset_pgmq('bm_cons')
        for _ in range(batches):
            q("SELECT count(*) FROM pgmq.send_batch('bm_cons', ARRAY(SELECT jsonb_build_object("
              "'key', 'key-' || g, 'value', repeat('x', 100)) FROM generate_series(1, 1000) g))")
        q('VACUUM ANALYZE pgmq.q_bm_cons')
    settle()

    # one consumer each, in turn: every round takes a fifth of each queue
    wl = 'consume in a group, 1 member'
    progress(wl)
    # create the group's rows first, as a running group has them
    q("SELECT count(*) FROM topics.consume('bench1', 'b_cons', 1)")
    consumers = {'pg_topics': topic_consumer('bench1'), 'PgQ': pgq_consumer()}
    if HAVE_PGMQ:
        consumers['pgmq'] = pgmq_consumer()
    got = {system: 0 for system in consumers}

    def take(system, i):
        calls = batches // ARGS.rounds if i < ARGS.rounds - 1 else batches - (batches // ARGS.rounds) * i
        progress('  %s, round %d of %d: %d batches of 1000' % (system, i + 1, ARGS.rounds, calls))
        t0 = time.monotonic()
        k = consumers[system][1](calls)
        got[system] += k
        return k / (time.monotonic() - t0)
    rates = interleave(consumers, ARGS.rounds, take)
    for system, (c, step) in consumers.items():
        if system == 'pg_topics':
            # a call stops at the end of its partition, so the rounds' calls
            # can leave a few records behind: drain them, untimed
            while True:
                k = step(1)
                if k == 0:
                    break
                got[system] += k
        c.close()
        expected = n - 1 if system == 'pg_topics' else batches * 1000
        if got[system] != expected:
            sys.exit('%s consumer got %d records, expected %d' % (system, got[system], expected))
    record_rounds('consume', wl, rates)

    for members in (2, 4):
        wl = 'consume in a group, %d members' % members
        progress(wl)
        group = 'bench%d' % members
        counts = [0] * members
        q("SELECT count(*) FROM topics.consume(%s, 'b_cons', 1)", (group,))

        def member(i):
            c, step = topic_consumer(group)
            empty = 0
            while empty < 2:
                got = step(1)
                counts[i] += got
                empty = empty + 1 if got == 0 else 0
            c.close()
        threads = [threading.Thread(target=member, args=(i,)) for i in range(members)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        total = sum(counts) + 1
        if total != n:
            sys.exit('consume: expected %d records, got %d' % (n, total))
        record('consume', wl, 'pg_topics', n / elapsed, 'records/s')


def get_records_loop():
    wl = 'get_records loop (1000 per call)'
    progress(wl)
    n = ARGS.read_records
    it = q1("SELECT topics.get_shard_iterator('b_read', 0, 'TRIM_HORIZON')")
    got = 0
    t0 = time.monotonic()
    while True:
        cnt, it = q("SELECT cardinality(records), next_shard_iterator FROM topics.get_records(%s, 1000)",
                    (it,))[0]
        if not cnt:
            break
        got += cnt
    elapsed = time.monotonic() - t0
    if got != n:
        sys.exit('get_records walked %d records, expected %d' % (got, n))
    record('consume', wl, 'pg_topics', n / elapsed, 'records/s')


def long_poll_latency():
    rounds = ARGS.latency_rounds
    wl = 'long-poll wake-up latency (producer statement sent to waiter return)'
    progress('%s, %d rounds' % (wl, rounds))
    fresh_topic('b_lp', 1)
    waiter = connect(appname='bench_waiter')
    producer = connect(appname='bench_producer')
    watch = connect(appname='bench_watch')
    lat = []
    for i in range(rounds):
        box = {}

        def wait():
            with waiter.cursor() as cur:
                cur.execute("SELECT count(*) FROM topics.fetch('b_lp', 0, %s, 10, NULL, '10 s')", (i,))
                box['n'] = cur.fetchone()[0]
                box['t'] = time.monotonic()
        t = threading.Thread(target=wait)
        t.start()
        with watch.cursor() as cur:
            while True:
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bench_waiter' "
                            "AND state = 'active' AND wait_event_type = 'Extension'")
                if cur.fetchone()[0] == 1:
                    break
        with producer.cursor() as cur:
            # the commit happens inside this autocommit statement: timing from
            # before it is sent is an upper bound of commit-to-return
            t_send = time.monotonic()
            cur.execute("SELECT topics.produce('b_lp', 'k', 'v')")
        t.join()
        if box.get('n') != 1:
            sys.exit('long-poll round %d returned %r records' % (i, box.get('n')))
        lat.append((box['t'] - t_send) * 1000)
    lat.sort()
    record('consume', wl, 'pg_topics', statistics.median(lat), 'ms (median)',
           p99=lat[min(len(lat) - 1, int(len(lat) * 0.99))], max=lat[-1])


def consume_memory():
    n = ARGS.memory_records
    progress('loading %s records for the memory workloads' % format(n, ','))
    fresh_topic('b_mem', 4)
    q("INSERT INTO b_mem (key, value) SELECT 'key-' || g, convert_to(repeat('x', 100), 'UTF8') "
      "FROM generate_series(1, %s) g", (n,))
    q('VACUUM ANALYZE b_mem')
    mem = "SELECT sum(total_bytes) FROM pg_backend_memory_contexts"

    # fetch: one session walks every partition, 1000 records per call
    wl = 'backend memory over a fetch loop'
    progress('%s (%s records)' % (wl, format(n, ',')))
    c = connect(autocommit=True, appname='mem')
    with c.cursor() as cur:
        cur.execute("SELECT count(*) FROM topics.fetch('b_mem', 0, 0, 1000)")
        cur.execute(mem)
        before = int(cur.fetchone()[0])
        got = 0
        for part in range(4):
            pos = 0
            while True:
                cur.execute("SELECT count(*), max(seq) FROM topics.fetch('b_mem', %s, %s, 1000)", (part, pos))
                k, last = cur.fetchone()
                if k == 0:
                    break
                got += k
                pos = last + 1
        cur.execute(mem)
        after = int(cur.fetchone()[0])
    c.close()
    if got != n:
        sys.exit('fetch loop: expected %d records, got %d' % (n, got))
    record('consume', wl, 'pg_topics', after / 1024, 'KiB after', before_kib=before / 1024, records=got)

    # consume: one member drains the topic, 1000 records per transaction
    wl = 'backend memory over a consume loop'
    progress('%s (%s records)' % (wl, format(n, ',')))
    c = connect(autocommit=False, appname='mem')
    with c.cursor() as cur:
        cur.execute("SELECT count(*) FROM topics.consume('mem', 'b_mem', 1000)")
        c.commit()
        cur.execute(mem)
        before = int(cur.fetchone()[0])
        c.commit()
        got = 1000
        while True:
            cur.execute("SELECT count(*) FROM topics.consume('mem', 'b_mem', 1000)")
            k = cur.fetchone()[0]
            c.commit()
            if k == 0:
                break
            got += k
        cur.execute(mem)
        after = int(cur.fetchone()[0])
        c.commit()
    c.close()
    if got != n:
        sys.exit('consume loop: expected %d records, got %d' % (n, got))
    record('consume', wl, 'pg_topics', after / 1024, 'KiB after', before_kib=before / 1024, records=got)


def rss_anon_kib(pid):
    """Private anonymous memory of a process (its own allocations, not the
    shared buffers it touches), from /proc."""
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('RssAnon:'):
                return int(line.split()[1])
    return None


def copy_memory():
    n = 10000000
    wl = 'backend memory during a COPY of %s records' % format(n, ',')
    progress(wl + ' (writing the file)')
    path = os.path.join(ARGS.workdir, 'copy_mem.tsv')
    val = 'x' * 100
    with open(path, 'w') as f:
        for i in range(n):
            f.write('key-%d\t%s\n' % (i, val))
    os.chmod(path, 0o644)
    fresh_topic('b_copy_mem', 4)
    c = connect(appname='copymem')
    with c.cursor() as cur:
        cur.execute('SELECT pg_backend_pid()')
        pid = cur.fetchone()[0]
    samples = []                        # (seconds since start, KiB)
    done = threading.Event()

    def sample():
        t0 = time.monotonic()
        while not done.is_set():
            kib = rss_anon_kib(pid)
            if kib is not None:
                samples.append((time.monotonic() - t0, kib))
            done.wait(0.1)

    progress(wl)
    before = rss_anon_kib(pid)
    t = threading.Thread(target=sample)
    t.start()
    with c.cursor() as cur:
        cur.execute("COPY b_copy_mem (key, value) FROM '%s'" % path)
    done.set()
    t.join()
    c.close()
    os.unlink(path)
    if len(samples) < 10:
        sys.exit('COPY memory: too few samples (%d)' % len(samples))
    # the first tenth of the run against all of it: growth would show as a
    # peak well above what the backend held early on
    tenth = samples[len(samples) // 10][1]
    peak = max(k for _, k in samples)
    record('produce', wl, 'pg_topics', peak, 'KiB peak (RssAnon)', before_kib=before,
           after_first_tenth_kib=tenth, samples=len(samples))


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

def report():
    rows = []
    by = {}
    for r in RESULTS:
        by.setdefault((r['section'], r['workload']), []).append(r)
    lines = ['| workload | system | result | ratio (pg_topics / this) | MB/s | WAL B/record | disk B/record |',
             '|---|---|---|---|---|---|---|']
    for (section, wl), rs in by.items():
        ours = next((r for r in rs if r['system'] == 'pg_topics'), None)
        for r in rs:
            ratio = ''
            if 'ratio' in r:
                ratio = '%.2fx (%.2f-%.2f)' % (r['ratio'], r['ratio_min'], r['ratio_max'])
            elif ours is not None and r is not ours and r['unit'] == 'records/s' and r['value']:
                ratio = '%.2fx' % (ours['value'] / r['value'])
            extra = ''
            if 'p99' in r:
                extra = ' (p99 %.2f, max %.2f)' % (r['p99'], r['max'])
            if 'buffers' in r:
                extra = ' (%g buffers)' % r['buffers']
            if 'after_first_tenth_kib' in r:
                extra = ' (%.0f KiB before, %.0f KiB a tenth of the way in, %d samples)' % (
                    r['before_kib'], r['after_first_tenth_kib'], r['samples'])
            elif 'before_kib' in r:
                extra = ' (%.0f KiB before, %s records consumed)' % (r['before_kib'], format(r['records'], ','))
            val = ('{:,.0f}'.format(r['value']) if r['unit'] in ('records/s', 'statements/s')
                   or r['unit'].startswith('blocks') else '%.2f' % r['value'])
            lines.append('| %s | %s | %s %s%s | %s | %s | %s | %s |' % (
                wl, r['system'], val, r['unit'], extra, ratio,
                '%.1f' % r['mb_s'] if 'mb_s' in r else '',
                '%.0f' % r['wal_bytes_per_record'] if 'wal_bytes_per_record' in r else '',
                '%.0f' % r['disk_bytes_per_record'] if 'disk_bytes_per_record' in r else ''))
    print('\n'.join(lines))
    if ARGS.json:
        with open(ARGS.json, 'w') as f:
            json.dump({'settings': ARGS.settings, 'results': RESULTS}, f, indent=1, default=float)


def main():
    global ARGS, CONN
    p = argparse.ArgumentParser()
    p.add_argument('--host', required=True)
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--db', default='bench')
    p.add_argument('--workdir', required=True)
    p.add_argument('--quick', action='store_true')
    p.add_argument('--full', action='store_true')
    p.add_argument('--json')
    p.add_argument('--settings', default='')
    ARGS = p.parse_args()
    if ARGS.quick:
        ARGS.seconds, ARGS.clients = 3, [1, 8]
        ARGS.copy_records, ARGS.read_records, ARGS.consume_records = 100000, 100000, 50000
        ARGS.memory_records = 50000
        ARGS.latency_rounds = 30
        ARGS.rounds, ARGS.scan_rounds, ARGS.copy_rounds = 3, 3, 1
    else:
        ARGS.seconds, ARGS.clients = 15, [1, 8, 32]
        ARGS.copy_records, ARGS.read_records, ARGS.consume_records = 1000000, 1000000, 400000
        ARGS.memory_records = 1000000
        ARGS.latency_rounds = 200
        ARGS.rounds, ARGS.scan_rounds, ARGS.copy_rounds = 5, 7, 3
    CONN = connect()
    q('CREATE EXTENSION IF NOT EXISTS pg_topics')
    q('CREATE EXTENSION IF NOT EXISTS pgq')
    q('CREATE EXTENSION IF NOT EXISTS pg_walinspect')
    # pgmq is not in Debian's archive: compared only when the server has it
    global HAVE_PGMQ
    HAVE_PGMQ = bool(q1("SELECT count(*) FROM pg_available_extensions WHERE name = 'pgmq'"))
    if HAVE_PGMQ:
        q('CREATE EXTENSION IF NOT EXISTS pgmq')
        progress('pgmq %s found: comparing against it too' %
                 q1("SELECT extversion FROM pg_extension WHERE extname = 'pgmq'"))
    else:
        progress('pgmq is not installed on this server: its rows are left out')
    produce_single()
    produce_batch()
    copy_load()
    load_read_tables()
    fetch_random()
    latest_records()
    full_scan()
    seek_cost()
    get_records_loop()
    consume_group()
    consume_memory()
    if ARGS.full:
        copy_memory()
    long_poll_latency()
    report()


if __name__ == '__main__':
    main()
