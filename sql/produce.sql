--
-- produce: topics.produce, topics.produce_batch, INSERT and COPY
--
SELECT topics.create_topic('pr_t', 3);

-- bytea value with headers into an explicit partition
SELECT * FROM topics.produce('pr_t', 'k1', '\x00ff10'::bytea, '{"trace": "abc"}', 0);
-- text value: an unknown literal resolves to the text variant, stored as UTF-8
SELECT * FROM topics.produce('pr_t', 'k2', 'hello', NULL, 0);
-- jsonb value, stored as its text
SELECT * FROM topics.produce('pr_t', 'k3', '{"b": [1, 2], "a": null}'::jsonb, NULL, 0);
-- named arguments
SELECT * FROM topics.produce('pr_t', 'k4', 'named'::text, partition => 0);
-- NULL key with an explicit partition, NULL value (a tombstone)
SELECT * FROM topics.produce('pr_t', NULL, 'no key'::text, NULL, 0);
SELECT * FROM topics.produce('pr_t', 'k6', NULL::bytea, NULL, 0);
SELECT * FROM topics.produce('pr_t', 'k7', NULL, NULL, 0);
-- empty value and empty key are values, not NULL
SELECT * FROM topics.produce('pr_t', '', ''::bytea, '{}', 0);

SELECT partition, seq, key, value, headers, ts IS NOT NULL AS has_ts
FROM pr_t ORDER BY partition, seq;
SELECT convert_from(value, 'UTF8') AS value_text FROM pr_t
WHERE partition = 0 AND seq IN (1, 2, 3) ORDER BY seq;

-- the key decides the partition when none is given (Kafka murmur2; see the
-- partitioner test): 'foobar' -> 0, 'abc' -> 0, 'a-little-bit-long-string' -> 2
SELECT * FROM topics.produce('pr_t', 'foobar', 'v'::bytea);
SELECT * FROM topics.produce('pr_t', 'abc', 'v'::bytea, NULL, NULL);
SELECT * FROM topics.produce('pr_t', 'a-little-bit-long-string', 'v'::bytea);
-- a NULL key without a partition goes to some partition (the partitioner
-- test checks the round-robin spread)
SELECT topics.create_topic('pr_rr', 3);
SELECT partition BETWEEN 0 AND 2 AS in_range, seq = 0 AS first_seq
FROM topics.produce('pr_rr', NULL, 'v'::bytea);
SELECT count(*) FROM pr_rr WHERE key IS NULL;
DROP TABLE pr_rr;

-- seq is dense from 0 in every partition
SELECT partition, array_agg(seq ORDER BY seq) AS seqs FROM pr_t GROUP BY partition ORDER BY partition;

-- produce_batch: one row per record, in input order
SELECT topics.create_topic('pr_b', 1);
SELECT * FROM topics.produce_batch('pr_b', ARRAY['a', 'b', 'c'], ARRAY['\x01', '\x02', '\x03']::bytea[]);
SELECT * FROM topics.produce_batch('pr_b', ARRAY['d', NULL], ARRAY['text d', NULL]::text[],
                                   ARRAY['{"h": 1}', NULL]::jsonb[]);
SELECT * FROM topics.produce_batch('pr_b', ARRAY[]::text[], ARRAY[]::bytea[]);
SELECT seq, key, value, headers FROM pr_b ORDER BY seq;

-- on a topic with several partitions each result row names where its input
-- record went
CREATE TEMP TABLE pr_res AS
SELECT r.ord, r.partition, r.seq
FROM topics.produce_batch('pr_t',
        ARRAY['foobar', 'a-little-bit-longer-string', 'abc', 'a', 'order-1', 'order-2', 'user:42'],
        ARRAY['v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7']::text[])
     WITH ORDINALITY AS r(partition, seq, ord);
SELECT r.ord, r.partition, t.key, convert_from(t.value, 'UTF8') AS value
FROM pr_res r JOIN pr_t t ON t.partition = r.partition AND t.seq = r.seq
ORDER BY r.ord;
-- batch with an explicit partition
SELECT * FROM topics.produce_batch('pr_t', ARRAY['x', 'y'], ARRAY['1', '2']::text[], NULL, 2);
SELECT * FROM topics.produce_batch('pr_t', ARRAY['x', 'y'], ARRAY['1', '2']::text[], partition => 1);
SELECT partition, array_agg(seq ORDER BY seq) AS seqs FROM pr_t GROUP BY partition ORDER BY partition;

-- errors
SELECT * FROM topics.produce('pr_no_such_topic', 'k', 'v');
SELECT * FROM topics.produce(NULL, 'k', 'v');
SELECT * FROM topics.produce('pr_t', 'k', 'v', NULL, 3);
SELECT * FROM topics.produce('pr_t', 'k', 'v', NULL, -1);
CREATE TABLE pr_plain (partition integer, seq bigint, ts timestamptz, key text, value bytea, headers jsonb);
SELECT * FROM topics.produce('pr_plain', 'k', 'v');
SELECT * FROM topics.produce_batch('pr_plain', ARRAY['k'], ARRAY['v']::text[]);
SELECT count(*) FROM pr_plain;
DROP TABLE pr_plain;
SELECT * FROM topics.produce_batch('pr_no_such_topic', ARRAY['k'], ARRAY['v']::text[]);
SELECT * FROM topics.produce_batch(NULL, ARRAY['k'], ARRAY['v']::text[]);
SELECT * FROM topics.produce_batch('pr_t', ARRAY['a', 'b'], ARRAY['1', '2', '3']::text[]);
SELECT * FROM topics.produce_batch('pr_t', ARRAY['a', 'b'], ARRAY['1', '2']::text[], ARRAY['{}']::jsonb[]);
SELECT * FROM topics.produce_batch('pr_t', NULL, ARRAY['1', '2']::text[]);
SELECT * FROM topics.produce_batch('pr_t', ARRAY['a', 'b'], NULL::text[]);
SELECT * FROM topics.produce_batch('pr_t', ARRAY['a', 'b'], ARRAY['1', '2']::text[], NULL, 3);
SELECT * FROM topics.produce_batch('pr_t', ARRAY['a', 'b'], ARRAY['1', '2']::text[], NULL, -1);
SELECT * FROM topics.produce_batch('pr_t', ARRAY[['a', 'b'], ['c', 'd']], ARRAY[['1', '2'], ['3', '4']]::text[]);
-- records over pg_topics.max_record_bytes (key + value + headers bytes)
SET pg_topics.max_record_bytes = 100;
SHOW pg_topics.max_record_bytes;
SELECT * FROM topics.produce('pr_t', 'k', repeat('x', 99), NULL, 2);   -- 100 bytes: fits
SELECT * FROM topics.produce('pr_t', 'k', repeat('x', 100), NULL, 2);  -- 101 bytes
SELECT * FROM topics.produce('pr_t', repeat('k', 101), NULL::bytea, NULL, 2);
SELECT * FROM topics.produce_batch('pr_t', ARRAY['a', 'b'], ARRAY['small', repeat('x', 200)], NULL, 2);
INSERT INTO pr_t (partition, key, value) VALUES (2, 'k', convert_to(repeat('x', 100), 'UTF8'));
RESET pg_topics.max_record_bytes;
-- nothing of the failed calls is visible
SELECT partition, count(*) FROM pr_t GROUP BY partition ORDER BY partition;

-- INSERT produces too; RETURNING reports where each record went
SELECT topics.create_topic('pr_ins', 3);
INSERT INTO pr_ins (key, value) VALUES ('foobar', '\x01'), ('a-little-bit-long-string', '\x02')
RETURNING partition, seq, key;
INSERT INTO pr_ins (partition, key, value, headers) VALUES (1, 'k', '\x03', '{"h": true}')
RETURNING partition, seq, key, value, headers, ts IS NOT NULL AS has_ts;
INSERT INTO pr_ins (partition, key, value)
SELECT 2, 'g' || g, convert_to('value ' || g, 'UTF8') FROM generate_series(1, 5) g
RETURNING partition, seq, key;
INSERT INTO pr_ins (partition, key, value) VALUES (3, 'k', '\x04');
INSERT INTO pr_ins (partition, key, value) VALUES (-1, 'k', '\x04');
SELECT partition, seq, key, value, headers FROM pr_ins ORDER BY partition, seq;

-- seq and ts are assigned by the access method
INSERT INTO pr_ins (partition, seq, key, value) VALUES (1, 100, 'explicit seq', '\x05')
RETURNING partition, seq;
INSERT INTO pr_ins (partition, ts, key, value) VALUES (1, '2001-02-03 04:05:06+00', 'explicit ts', '\x06')
RETURNING partition, seq, ts = '2001-02-03 04:05:06+00' AS kept_ts;
INSERT INTO pr_ins (partition, seq, key, value) VALUES (1, 0, 'seq taken', '\x07');
INSERT INTO pr_ins (partition, seq, key, value) VALUES (1, -5, 'negative seq', '\x07');
INSERT INTO pr_ins (partition, key, value) VALUES (1, 'after explicit', '\x08') RETURNING partition, seq;
INSERT INTO pr_ins (partition, seq, key, value) VALUES (1, 1000000, 'far seq', '\x09') RETURNING partition, seq;
SELECT partition, seq, key FROM pr_ins WHERE partition = 1 ORDER BY seq;
SELECT seq, key FROM topics.fetch('pr_ins', 1, 0);
SELECT seq, key FROM topics.fetch('pr_ins', 1, 2);
SELECT seq, key FROM topics.fetch('pr_ins', 1, 999999);
SELECT count(*) FROM topics.fetch('pr_ins', 1, 1000001);
SELECT partition, log_start_seq, next_seq, last_stable_seq FROM topics.partitions
WHERE topic = 'pr_ins'::regclass ORDER BY partition;

-- COPY FROM produces
SELECT topics.create_topic('pr_copy', 2);
COPY pr_copy (key, value) FROM STDIN;
foobar	\\x666f6f
abc	\\x616263
\N	\\x00
a	\N
\.
COPY pr_copy (partition, key, value, headers) FROM STDIN;
1	k1	\\x01	{"copy": 1}
1	k2	\\x02	\N
\.
-- (the null key went to either partition, so seq is not shown)
COPY (SELECT partition, key, value, headers FROM pr_copy WHERE key IS NOT NULL ORDER BY partition, key COLLATE "C") TO STDOUT;
SELECT partition BETWEEN 0 AND 1 AS in_range, value FROM pr_copy WHERE key IS NULL;
SELECT count(*) FROM pr_copy;

-- seq is never reused: a rolled back record leaves a gap
SELECT topics.create_topic('pr_gap', 1);
SELECT * FROM topics.produce('pr_gap', 'a', 'committed');
BEGIN;
SELECT * FROM topics.produce('pr_gap', 'b', 'rolled back');
SELECT * FROM topics.produce_batch('pr_gap', ARRAY['c', 'd'], ARRAY['rolled', 'back']);
-- the own transaction sees its records
SELECT seq, key FROM pr_gap ORDER BY seq;
ROLLBACK;
SELECT * FROM topics.produce('pr_gap', 'e', 'committed');
BEGIN;
SELECT * FROM topics.produce('pr_gap', 'f', 'committed');
SAVEPOINT s1;
SELECT * FROM topics.produce('pr_gap', 'g', 'rolled back');
ROLLBACK TO SAVEPOINT s1;
SELECT * FROM topics.produce('pr_gap', 'h', 'committed');
COMMIT;
SELECT seq, key FROM pr_gap ORDER BY seq;
SELECT log_start_seq, next_seq, last_stable_seq FROM topics.partitions
WHERE topic = 'pr_gap'::regclass;

-- TRUNCATE empties the topic, but seq continues
TRUNCATE pr_gap;
SELECT count(*) FROM pr_gap;
SELECT log_start_seq, next_seq, last_stable_seq, record_count FROM topics.partitions
WHERE topic = 'pr_gap'::regclass;
SELECT * FROM topics.produce('pr_gap', 'i', 'after truncate');
SELECT seq, key FROM pr_gap ORDER BY seq;
-- a rolled back TRUNCATE keeps the records and the offsets
BEGIN;
TRUNCATE pr_gap;
SELECT count(*) FROM pr_gap;
ROLLBACK;
SELECT seq, key FROM pr_gap ORDER BY seq;
SELECT * FROM topics.produce('pr_gap', 'j', 'after rolled back truncate');
-- TRUNCATE and produce in the same transaction
BEGIN;
TRUNCATE pr_gap;
SELECT * FROM topics.produce('pr_gap', 'k', 'same transaction');
COMMIT;
SELECT seq, key FROM pr_gap ORDER BY seq;
SELECT log_start_seq, next_seq, record_count FROM topics.partitions WHERE topic = 'pr_gap'::regclass;

-- A producer's timestamp must be finite and at most
-- pg_topics.timestamp_after_max (1 hour by default; Kafka's
-- message.timestamp.after.max.ms) after the clock: one record stamped
-- 'infinity' at a partition's head kept time-based retention from removing
-- anything (until 0.17).  Old timestamps are fine; a restore (explicit seqs,
-- the owner's) brings back what was stored.
\set VERBOSITY terse
SELECT topics.create_topic('pr_ts', 1, retention => '1 day');
INSERT INTO pr_ts (key, ts) VALUES ('inf', 'infinity');
INSERT INTO pr_ts (key, ts) VALUES ('-inf', '-infinity');
INSERT INTO pr_ts (key, ts) VALUES ('2h', now() + interval '2 hours');
COPY pr_ts (key, ts) FROM STDIN;
copied	infinity
\.
INSERT INTO pr_ts (key, ts) VALUES ('30min', now() + interval '30 minutes'), ('old', '2001-01-01')
RETURNING seq, key;
SET pg_topics.timestamp_after_max = -1;
INSERT INTO pr_ts (key, ts) VALUES ('2 days', now() + interval '2 days') RETURNING seq, key;
INSERT INTO pr_ts (key, ts) VALUES ('inf', 'infinity');
SET pg_topics.timestamp_after_max = '10min';
INSERT INTO pr_ts (key, ts) VALUES ('30min', now() + interval '30 minutes');
RESET pg_topics.timestamp_after_max;
INSERT INTO pr_ts (partition, seq, key, ts) VALUES (0, 10, 'restored', 'infinity') RETURNING seq, key;
SELECT seq, key FROM pr_ts ORDER BY seq;
CREATE ROLE regress_pr_producer;
GRANT INSERT ON pr_ts TO regress_pr_producer;
SET ROLE regress_pr_producer;
SET pg_topics.timestamp_after_max = -1;
RESET ROLE;
DROP OWNED BY regress_pr_producer;
DROP ROLE regress_pr_producer;
\set VERBOSITY default

DROP TABLE pr_t, pr_b, pr_ins, pr_copy, pr_gap, pr_ts;
