# scan_check.py SECS PRIMARY_DSN [READER_DSN]: one producer (serial, so each
# partition's visible records are a prefix of it), a retention loop with
# VACUUM on the primary, and two readers (on READER_DSN, a hot standby, when
# given) running full sequential scans forward and through a SCROLL cursor
# backward.  Each scan must return every partition once, in partition order,
# each in seq order without gaps (on a standby, a gap is allowed where
# retention removed the records under the scan: replay does not wait for a
# standby's pins), from at most the log start after the scan to at least the
# last stable offset before it, unless retention removed that end too; a
# backward pass returns the forward rows reversed, less those retention
# removed since.  Used by test/soak/stress_scan.
import os, sys, time, threading, random, psycopg2
secs = float(sys.argv[1]); stop = time.time() + secs
DSN = sys.argv[2]
RDSN = sys.argv[3] if len(sys.argv) > 3 else DSN
c = psycopg2.connect(DSN); c.autocommit = True; cur = c.cursor()
cur.execute("DROP TABLE IF EXISTS ss"); cur.execute("SELECT topics.create_topic('ss', 3, retention_bytes => 40000)")
cur.execute("ALTER TABLE ss SET (autovacuum_enabled = off)")
errors = []; counts = {'scans': 0, 'back': 0, 'produced': 0, 'maint': 0}
def producer():
    p = psycopg2.connect(DSN); p.autocommit = True; q = p.cursor()
    while time.time() < stop:
        n = random.randint(1, 60)
        q.execute("SELECT count(*) FROM topics.produce_batch('ss', array_fill(NULL::text, ARRAY[%s]), ARRAY(SELECT repeat('v', %s) FROM generate_series(1, %s)), partition => %s)",
                  (n, random.randint(10, 400), n, random.randint(0, 2)))
        counts['produced'] += n
def maint():
    p = psycopg2.connect(DSN); p.autocommit = True; q = p.cursor()
    while time.time() < stop:
        q.execute("SELECT count(*) FROM topics.maintain('ss')"); counts['maint'] += 1
        if random.random() < 0.05: q.execute("VACUUM ss")
        time.sleep(0.01)
def check(rows, before, after, what):
    if os.environ.get('SORT'): rows = sorted(rows)
    parts = []
    for p_, s in rows:
        if not parts or parts[-1][0] != p_: parts.append((p_, []))
        parts[-1][1].append(s)
    seen = [p_ for p_, _ in parts]
    if seen != sorted(set(seen)): errors.append((what, 'partition order', seen)); return
    for p_, seqs in parts:
        for a, b in zip(seqs, seqs[1:]):
            if b <= a: errors.append((what, 'not increasing', p_, a, b)); return
            # a gap is only retention's, run under a standby's scan: the walk
            # went on at the log start, which is at most the one after
            if b != a + 1 and (RDSN == DSN or b > after[p_][0]):
                errors.append((what, 'gap', p_, a, b, after[p_])); return
        if seqs[0] > after[p_][0]: errors.append((what, 'starts after log start', p_, seqs[0], after[p_])); return
        if seqs[-1] < before[p_][1] - 1 and seqs[-1] + 1 >= after[p_][0]:
            errors.append((what, 'ends before LSO', p_, seqs[-1], before[p_], after[p_])); return
    for p_ in range(3):
        if p_ not in seen and before[p_][1] > after[p_][0]: errors.append((what, 'partition missing', p_, before[p_], after[p_]))
def reader(backward):
    p = psycopg2.connect(RDSN); q = p.cursor()
    while time.time() < stop:
        q.execute("SELECT partition, log_start_seq, last_stable_seq FROM topics.partition_info('ss')")
        before = {r[0]: (r[1], r[2]) for r in q.fetchall()}
        p.commit()
        q.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        if backward:
            q.execute("DECLARE c SCROLL CURSOR FOR SELECT partition, seq FROM ss")
            q.execute("FETCH ALL FROM c"); fwd = q.fetchall()
            q.execute("FETCH BACKWARD ALL FROM c"); bwd = q.fetchall()
            rb = bwd[::-1]; sb = set(rb)
            kept = [r for r in fwd if r in sb]
            if os.environ.get('SORT'): kept, rb = sorted(kept), sorted(rb)
            if kept != rb or len(sb) != len(rb):
                errors.append(('backward', 'not the forward order', len(fwd), len(bwd)))
            else:
                for p_ in range(3):
                    gone = [s for (pp, s) in fwd if pp == p_ and (pp, s) not in sb]
                    left = [s for (pp, s) in rb if pp == p_]
                    if gone and left and max(gone) > min(left):
                        errors.append(('backward', 'missing in the middle', p_, gone[:3], left[:3]))
            rows = fwd; counts['back'] += 1
        else:
            q.execute("SELECT partition, seq FROM ss"); rows = q.fetchall(); counts['scans'] += 1
        p.commit()
        q.execute("SELECT partition, log_start_seq, last_stable_seq FROM topics.partition_info('ss')")
        after = {r[0]: (r[1], r[2]) for r in q.fetchall()}
        p.commit()
        check(rows, before, after, 'backward' if backward else 'forward')
ts = [threading.Thread(target=f) for f in (producer, maint)] + [threading.Thread(target=reader, args=(b,)) for b in (False, True)]
[t.start() for t in ts]; [t.join() for t in ts]
print(counts, "errors", len(errors)); import collections; print(collections.Counter((e[0], e[1]) for e in errors))
for e in errors[:8]: print(e)
sys.exit(1 if errors else 0)
