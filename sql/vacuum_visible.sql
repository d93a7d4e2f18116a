--
-- After VACUUM a full page whose records are settled is read without a
-- visibility check per record (aborted records get dead line pointers):
-- every way of reading returns exactly what it returned before.
--
\set VERBOSITY terse
SELECT topics.create_topic('vv', 2);
SELECT count(*) FROM topics.produce_batch('vv', array_fill('a'::text, ARRAY[700]),
    ARRAY(SELECT 'first ' || g FROM generate_series(1, 700) g), partition => 0);
BEGIN;
SELECT count(*) FROM topics.produce_batch('vv', array_fill('x'::text, ARRAY[300]),
    ARRAY(SELECT 'aborted ' || g FROM generate_series(1, 300) g), partition => 0);
ROLLBACK;
SELECT count(*) FROM topics.produce_batch('vv', array_fill('b'::text, ARRAY[700]),
    ARRAY(SELECT 'second ' || g FROM generate_series(1, 700) g), partition => 0);
INSERT INTO vv (key, value, partition) SELECT 'p1', 'one', 1 FROM generate_series(1, 10);

CREATE TEMP TABLE before_select AS SELECT partition, seq, key, value FROM vv;
CREATE TEMP TABLE before_fetch AS SELECT seq, key, value FROM topics.fetch('vv', 0, 0, 100000);
VACUUM vv;
VACUUM vv;     -- a second VACUUM finds the settled pages already marked

-- the same records, the aborted ones still absent, by every path
SELECT (SELECT count(*) FROM vv) AS records,
       (SELECT count(*) FROM vv WHERE key = 'x') AS aborted_visible,
       (SELECT count(*) FROM (SELECT partition, seq, key, value FROM vv
                              EXCEPT SELECT * FROM before_select) d) AS select_differs,
       (SELECT count(*) FROM (SELECT seq, key, value FROM topics.fetch('vv', 0, 0, 100000)
                              EXCEPT SELECT * FROM before_fetch) d) AS fetch_differs,
       (SELECT count(*) FROM topics.fetch('vv', 0, 0, 100000)) AS fetched;
-- the gap the aborted batch left is still there
SELECT min(seq), max(seq) FROM vv WHERE key = 'b';
SELECT count(*), min(seq), max(seq) FROM topics.fetch('vv', 0, 700, 10);
-- seeking SELECTs and iterators across the settled pages
SELECT count(*), min(seq), max(seq) FROM (SELECT seq FROM vv WHERE partition = 0 AND seq >= 650
                                          ORDER BY seq LIMIT 100) s;
SELECT cardinality(records), (records[1]).seq
FROM topics.get_records(topics.get_shard_iterator('vv', 0, 'AT_SEQUENCE_NUMBER', 699), 5);
SELECT partition, next_seq, record_count FROM topics.partitions
WHERE topic = 'vv'::regclass ORDER BY partition;
-- producing after VACUUM continues normally
SELECT seq FROM topics.produce('vv', 'c', 'after vacuum', partition => 0);
SELECT count(*) FROM vv WHERE key = 'c';
DROP TABLE vv;
