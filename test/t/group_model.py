#!/usr/bin/python3
"""A model check of consumer groups and readers: producers, group members and
readers interleaved at random (from a seed, so a failure replays), one
step at a time.

usage: group_model.py HOST PORT DBNAME SEED STEPS [retention]

Three producers produce batches (produce_batch or INSERT, to a chosen
partition or by key) in transactions left open across steps, then commit
or roll back; a fetch reader and a shard-iterator reader follow each
partition (fetch from the seq after the last one returned, get_records
with the next iterator), outside transactions; three
members of one group consume in transactions left open across steps, then
commit (the records count as delivered) or roll back (they come again).
When nothing is open: VACUUM, VACUUM FULL, or one partition more.  Checks:
 - readers: only committed records, each once, from where they asked; a
   read that returns nothing leaves no committed record to read (one with
   no open producer's record before it in its partition), and at the end
   each reader has had every committed record;
 - liveness: when a member's consume returns nothing while no other member
   holds a partition, no committed record is left that it could read (one
   not delivered with no open producer's record before it in its partition);
 - at the end, after draining the group: every committed record delivered
   exactly once by committed consumes, in seq order per partition, and no
   aborted record delivered.
With "retention", retention also runs between steps (a few pages kept per
partition, removed even while transactions are open): then a committed
record may go undelivered only if it is below its partition's final log
start, and readers whose position retention removed go on at the log
start (fetch gets the out-of-range error and reads from the log start, as
a Kafka client resets; get_records goes on by itself).
Prints a summary line and one line per error; exits 1 on any error.  A
statement that blocks fails after statement_timeout: nothing here may wait.
"""
import random
import sys

import psycopg2
import psycopg2.errors

host, port, dbname, seed, steps = sys.argv[1:6]
seed, steps = int(seed), int(steps)
retention = sys.argv[6:7] == ['retention']
rnd = random.Random(seed)


def conn():
    c = psycopg2.connect(host=host, port=int(port), dbname=dbname)
    c.autocommit = True
    c.cursor().execute("SET statement_timeout = '60s'")
    return c


admin = conn().cursor()
npart = rnd.randint(1, 4)
topic = 'model_%s%d' % ('retention_' if retention else '', seed)
group = 'model_group'
admin.execute("SELECT topics.create_topic(%s, %s)", (topic, npart))
producers = [dict(c=conn(), open=False, pending=[]) for _ in range(3)]
members = [dict(c=conn(), open=False, pending=[]) for _ in range(3)]
readers = [dict(c=conn(), kind=kind, pos={}, it={}, seen=set(), last={}) for kind in ('fetch', 'get_records')]
committed_records = set()
aborted_records = set()
delivered = []                  # (partition, seq), in the order committed
errors = []
serial = 0


def produce(p):
    global serial
    cur = p['c'].cursor()
    if not p['open']:
        cur.execute("BEGIN")
        p['open'] = True
    n = rnd.randint(1, 30)
    part = rnd.randrange(npart) if rnd.random() < 0.7 else None
    keys = ['k%d' % rnd.randrange(50) for _ in range(n)]
    values = []
    for _ in range(n):
        serial += 1
        values.append(psycopg2.Binary(('v%d' % serial).encode()))
    if rnd.random() < 0.7:
        cur.execute("SELECT partition, seq FROM topics.produce_batch(%s, %s, %s::bytea[], NULL, %s)",
                    (topic, keys, values, part))
    else:
        cur.execute("INSERT INTO " + topic + " (key, value, partition) "
                    "SELECT unnest(%s::text[]), unnest(%s::bytea[]), %s RETURNING partition, seq",
                    (keys, values, part))
    p['pending'] += [tuple(r) for r in cur.fetchall()]


def end_producer(p, commit):
    p['c'].cursor().execute("COMMIT" if commit else "ROLLBACK")
    (committed_records if commit else aborted_records).update(p['pending'])
    p['pending'] = []
    p['open'] = False


def consume(m):
    cur = m['c'].cursor()
    if not m['open']:
        cur.execute("BEGIN")
        m['open'] = True
    cur.execute("SELECT partition, seq FROM topics.consume(%s, %s, %s)",
                (group, topic, rnd.randint(1, 40)))
    got = [tuple(r) for r in cur.fetchall()]
    m['pending'] += got
    if got or any(x['open'] for x in members if x is not m):
        return len(got)
    # no other member holds a partition: no record may be left to read
    taken = set(delivered) | set(m['pending'])
    first_open = first_open_seqs()
    starts = {part: log_start(part) for part in range(npart)} if retention else {}
    ready = sorted(r for r in committed_records
                   if r not in taken and r[1] < first_open.get(r[0], 1 << 62)
                   and r[1] >= starts.get(r[0], 0))
    if ready:
        errors.append('consume returned nothing with %d records to read, e.g. %s'
                      % (len(ready), ready[:3]))
    return 0


def first_open_seqs():
    """per partition, the lowest seq an open producer transaction holds"""
    first = {}
    for p in producers:
        for part, seq in p['pending']:
            first[part] = min(first.get(part, seq), seq)
    return first


def log_start(part):
    admin.execute("SELECT log_start_seq FROM topics.partition_bounds(%s) WHERE partition = %s",
                  (topic, part))
    return admin.fetchone()[0]


def read(reader, part):
    """one fetch or get_records call of a reader; returns how many came"""
    cur = reader['c'].cursor()
    start = reader['pos'].get(part, 0)
    if reader['kind'] == 'fetch':
        try:
            cur.execute("SELECT seq FROM topics.fetch(%s, %s, %s, %s)",
                        (topic, part, start, rnd.randint(1, 40)))
        except psycopg2.DataError as e:
            # 22T01, pg_topics' OffsetOutOfRange (since 0.14; 22023 before)
            if not retention or e.pgcode != '22T01':
                raise
            # retention removed the position: go on at the log start
            cur.execute("SELECT log_start_seq FROM topics.partition_bounds(%s) "
                        "WHERE partition = %s", (topic, part))
            start = reader['pos'][part] = cur.fetchone()[0]
            cur.execute("SELECT seq FROM topics.fetch(%s, %s, %s, %s)",
                        (topic, part, start, rnd.randint(1, 40)))
        seqs = [r[0] for r in cur.fetchall()]
        if seqs:
            reader['pos'][part] = seqs[-1] + 1
    else:
        it = reader['it'].get(part)
        if it is None:
            cur.execute("SELECT topics.get_shard_iterator(%s, %s, 'TRIM_HORIZON')", (topic, part))
            it = cur.fetchone()[0]
        cur.execute("SELECT ARRAY(SELECT (r).seq FROM unnest(records) r), next_shard_iterator "
                    "FROM topics.get_records(%s, %s)", (it, rnd.randint(1, 40)))
        seqs, reader['it'][part] = cur.fetchone()
        if seqs:
            reader['pos'][part] = seqs[-1] + 1
    for seq in seqs:
        rec = (part, seq)
        if rec not in committed_records:
            errors.append('%s returned %s, which is not committed' % (reader['kind'], rec))
        if rec in reader['seen']:
            errors.append('%s returned %s twice' % (reader['kind'], rec))
        if seq < start:
            errors.append('%s from %d returned seq %d' % (reader['kind'], start, seq))
        if retention and seq <= reader['last'].get(part, -1):
            errors.append('%s returned seq %d after %d' % (reader['kind'], seq, reader['last'][part]))
        reader['last'][part] = seq
        reader['seen'].add(rec)
    if not seqs:
        limit = first_open_seqs().get(part, 1 << 62)
        low = max(start, log_start(part)) if retention else start
        ready = sorted(r for r in committed_records
                       if r[0] == part and r[1] >= low and r[1] < limit)
        if ready:
            errors.append('%s returned nothing with %d records to read, e.g. %s'
                          % (reader['kind'], len(ready), ready[:3]))
    return len(seqs)


def end_member(m, commit):
    m['c'].cursor().execute("COMMIT" if commit else "ROLLBACK")
    if commit:
        delivered.extend(m['pending'])
    m['pending'] = []
    m['open'] = False


for step in range(steps):
    r = rnd.random()
    if r < 0.35:
        p = rnd.choice(producers)
        if p['open'] and rnd.random() < 0.5:
            end_producer(p, rnd.random() < 0.75)
        else:
            produce(p)
    elif r < 0.45:
        read(rnd.choice(readers), rnd.randrange(npart))
    elif r < (0.55 if retention else 0.9):
        m = rnd.choice(members)
        if m['open'] and rnd.random() < 0.5:
            end_member(m, rnd.random() < 0.8)
        else:
            consume(m)
    elif retention and r < 0.9:
        # keep about one page a partition
        admin.execute("SELECT count(*) FROM topics._apply_retention(%s, NULL, %s)",
                      (topic, 8192))
    elif not any(x['open'] for x in producers + members):
        # these wait for open transactions on the topic: only when none is
        if rnd.random() < 0.1 and npart < 6:
            npart += 1
            admin.execute("SELECT topics.alter_topic(%s, partitions => %s)", (topic, npart))
        elif rnd.random() < 0.3:
            admin.execute("VACUUM FULL " + topic)
        else:
            admin.execute("VACUUM " + topic)

for p in producers:
    if p['open']:
        end_producer(p, rnd.random() < 0.75)
for m in members:
    if m['open']:
        end_member(m, True)
# drain the group with one member, a transaction a call
for _ in range(100000):
    n = consume(members[0])
    end_member(members[0], True)
    if n == 0:
        break

for reader in readers:
    for part in range(npart):
        while read(reader, part) > 0:
            pass
    missing = sorted(r for r in committed_records - reader['seen']
                     if not retention or r[1] >= log_start(r[0]))
    if missing:
        errors.append('%s never returned %d committed records, e.g. %s'
                      % (reader['kind'], len(missing), missing[:5]))

seen = set()
last = {}
for rec in delivered:
    if rec in seen:
        errors.append('delivered twice: %s' % (rec,))
    if rec in aborted_records:
        errors.append('aborted record delivered: %s' % (rec,))
    if rec[0] in last and rec[1] <= last[rec[0]]:
        errors.append('partition %d: seq %d delivered after %d' % (rec[0], rec[1], last[rec[0]]))
    seen.add(rec)
    last[rec[0]] = rec[1]
missing = sorted(r for r in committed_records - seen
                 if not retention or r[1] >= log_start(r[0]))
if missing:
    errors.append('%d committed records never delivered, e.g. %s' % (len(missing), missing[:5]))
admin.execute("SELECT partition, committed_seq, next_seq FROM topics.consumer_lag "
              "WHERE group_id = %s AND topic = %s::regclass ORDER BY partition", (group, topic))
lag = admin.fetchall()
for part, pos, next_seq in lag:
    if pos != next_seq:
        errors.append('partition %d: the drained group is at %d, the next seq is %d'
                      % (part, pos, next_seq))
print('seed %d: %d steps%s, %d partitions, %d records committed, %d aborted, %d delivered'
      % (seed, steps, ', retention' if retention else '', npart, len(committed_records),
         len(aborted_records), len(delivered)))
for e in errors[:20]:
    print('error: ' + e)
sys.exit(1 if errors else 0)
