--
-- fetch: reading a partition from an offset
--
SELECT topics.create_topic('ft_t', 2);
-- ten records of 12 payload bytes each (2-byte key, 10-byte value) in partition 0
SELECT count(*) FROM topics.produce_batch('ft_t',
    ARRAY(SELECT 'k' || g FROM generate_series(0, 9) g),
    ARRAY(SELECT 'value-' || lpad(g::text, 4, '0') FROM generate_series(0, 9) g),
    NULL, 0);
SELECT * FROM topics.produce('ft_t', 'h', 'with headers', '{"a": "b"}', 1);
SELECT * FROM topics.produce('ft_t', NULL, NULL::bytea, NULL, 1);

-- from 0: everything, in seq order
SELECT partition, seq, ts IS NOT NULL AS has_ts, key, convert_from(value, 'UTF8') AS value, headers
FROM topics.fetch('ft_t', 0, 0);
SELECT partition, seq, key, value, headers FROM topics.fetch('ft_t', 1, 0);
-- one column at a time (the scan decodes a record only as far as the
-- columns used): each agrees with the table, max_bytes or not
SELECT (SELECT array_agg(headers) FROM topics.fetch('ft_t', 1, 0)) AS headers,
       (SELECT array_agg(ts) FROM topics.fetch('ft_t', 1, 0))
         = (SELECT array_agg(ts ORDER BY seq) FROM ft_t WHERE partition = 1) AS ts_agree,
       (SELECT array_agg(value) FROM topics.fetch('ft_t', 1, 0, max_bytes => 100))
         = (SELECT array_agg(value ORDER BY seq) FROM ft_t WHERE partition = 1) AS values_agree,
       (SELECT array_agg(partition) FROM topics.fetch('ft_t', 1, 0)) AS partitions;
-- from the middle
SELECT seq, key FROM topics.fetch('ft_t', 0, 7);
-- max_records
SELECT seq, key FROM topics.fetch('ft_t', 0, 2, 3);
SELECT seq, key FROM topics.fetch('ft_t', 0, 8, 100);
SELECT seq, key FROM topics.fetch('ft_t', 0, 0, max_records => 1);
-- max_bytes counts key + value + headers bytes; the first record is returned
-- even when it alone is larger
SELECT seq, key FROM topics.fetch('ft_t', 0, 0, 100, 36);
SELECT seq, key FROM topics.fetch('ft_t', 0, 0, 100, 35);
SELECT seq, key FROM topics.fetch('ft_t', 0, 0, 100, 24);
SELECT seq, key FROM topics.fetch('ft_t', 0, 0, 100, 12);
SELECT seq, key FROM topics.fetch('ft_t', 0, 5, 100, 1);
SELECT seq, key FROM topics.fetch('ft_t', 0, 5, max_bytes => 1);
-- both limits: the tighter one wins
SELECT seq, key FROM topics.fetch('ft_t', 0, 0, 2, 1000);
SELECT seq, key FROM topics.fetch('ft_t', 0, 0, 5, 24);
-- from_seq = next seq: nothing yet
SELECT count(*) FROM topics.fetch('ft_t', 0, 10);
SELECT count(*) FROM topics.fetch('ft_t', 1, 2);

-- errors
SELECT * FROM topics.fetch('ft_t', 0, -1);
SELECT * FROM topics.fetch('ft_t', 0, 11);
SELECT * FROM topics.fetch('ft_t', 1, 1000000);
SELECT * FROM topics.fetch('ft_t', 2, 0);
SELECT * FROM topics.fetch('ft_t', -1, 0);
SELECT * FROM topics.fetch(NULL, 0, 0);
SELECT * FROM topics.fetch('ft_t', NULL, 0);
SELECT * FROM topics.fetch('ft_t', 0, NULL);
SELECT * FROM topics.fetch('ft_t', 0, 0, -1);
SELECT * FROM topics.fetch('ft_t', 0, 0, 10, -1);
SELECT * FROM topics.fetch('ft_no_such_topic', 0, 0);
CREATE TABLE ft_plain (partition integer, seq bigint, ts timestamptz, key text, value bytea, headers jsonb);
SELECT * FROM topics.fetch('ft_plain', 0, 0);
DROP TABLE ft_plain;

-- aborted records are skipped, leaving gaps in seq
BEGIN;
SELECT * FROM topics.produce('ft_t', 'aborted', 'x', NULL, 1);
SELECT * FROM topics.produce('ft_t', 'aborted', 'y', NULL, 1);
ROLLBACK;
BEGIN;
SELECT * FROM topics.produce('ft_t', 'committed', 'z', NULL, 1);
SAVEPOINT sp;
SELECT * FROM topics.produce('ft_t', 'aborted sub', 'x', NULL, 1);
ROLLBACK TO SAVEPOINT sp;
SAVEPOINT sp2;
SELECT * FROM topics.produce('ft_t', 'committed sub', 'z', NULL, 1);
RELEASE SAVEPOINT sp2;
COMMIT;
SELECT seq, key FROM topics.fetch('ft_t', 1, 0);
-- from an aborted seq: the next committed record
SELECT seq, key FROM topics.fetch('ft_t', 1, 2);
SELECT seq, key FROM topics.fetch('ft_t', 1, 5);
-- max_records counts returned records, not skipped ones
SELECT seq, key FROM topics.fetch('ft_t', 1, 1, 2);
SELECT log_start_seq, next_seq, last_stable_seq FROM topics.partitions
WHERE topic = 'ft_t'::regclass AND partition = 1;
SELECT count(*) FROM topics.fetch('ft_t', 1, 7);

-- fetch returns what the equivalent SELECT returns
CREATE FUNCTION ft_same(topic regclass, p integer, from_seq bigint, n integer)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    a text[];
    b text[];
BEGIN
    SELECT array_agg(f::text ORDER BY f.seq) INTO a FROM topics.fetch(topic, p, from_seq, n) f;
    EXECUTE format('SELECT array_agg(r::text ORDER BY r.seq) FROM '
                   '(SELECT * FROM %s WHERE partition = $1 AND seq >= $2 ORDER BY seq LIMIT $3) r',
                   topic) INTO b USING p, from_seq, n;
    RETURN a IS NOT DISTINCT FROM b;
END $$;
SELECT p, s, ft_same('ft_t', p, s, 4) FROM (VALUES (0, 0), (0, 3), (0, 9), (0, 10), (1, 0), (1, 2)) v(p, s);

-- many pages (enough for a directory of more than one level): 120000 records
-- in one partition, seeks from anywhere
SELECT topics.create_topic('ft_big', 3);
INSERT INTO ft_big (partition, key, value)
SELECT 1, 'key-' || g, convert_to('value-' || g, 'UTF8') FROM generate_series(0, 119999) g;
SELECT * FROM topics.produce('ft_big', 'other', 'x', NULL, 2);
SELECT partition, log_start_seq, next_seq, last_stable_seq, record_count
FROM topics.partitions WHERE topic = 'ft_big'::regclass ORDER BY partition;
SELECT s, ft_same('ft_big', 1, s, 1000)
FROM unnest(ARRAY[0, 1, 150, 4999, 25000, 33333, 49000, 65536, 99999, 118999, 119999, 120000]) s;
-- the default max_records is 1000
SELECT count(*), min(seq), max(seq) FROM topics.fetch('ft_big', 1, 12345);
SELECT count(*), min(seq), max(seq) FROM topics.fetch('ft_big', 1, 119990);
SELECT count(*) FROM topics.fetch('ft_big', 1, 0, 200000);
-- every record is where its seq says
SELECT count(*) AS wrong FROM topics.fetch('ft_big', 1, 0, 200000)
WHERE key <> 'key-' || seq OR convert_from(value, 'UTF8') <> 'value-' || seq;
SELECT seq, key FROM topics.fetch('ft_big', 1, 31337, 3);
SELECT seq, key FROM ft_big WHERE partition = 1 AND seq >= 31337 ORDER BY seq LIMIT 3;
SELECT count(*) FROM ft_big WHERE partition = 1 AND seq BETWEEN 1000 AND 1999;

-- after TRUNCATE, offsets below the log start are gone
TRUNCATE ft_big;
SELECT partition, log_start_seq, next_seq, record_count
FROM topics.partitions WHERE topic = 'ft_big'::regclass ORDER BY partition;
SELECT * FROM topics.fetch('ft_big', 1, 0);
SELECT * FROM topics.fetch('ft_big', 1, 119999);
SELECT count(*) FROM topics.fetch('ft_big', 1, 120000);
SELECT count(*) FROM topics.fetch('ft_big', 0, 0);
SELECT * FROM topics.produce('ft_big', 'after', 'truncate', NULL, 1);
SELECT seq, key FROM topics.fetch('ft_big', 1, 120000);

DROP FUNCTION ft_same(regclass, integer, bigint, integer);
DROP TABLE ft_t, ft_big;
