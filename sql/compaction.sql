--
-- cleanup_policy 'compact': at least the latest record of every key stays,
-- seqs are unchanged (superseded records leave gaps), old tombstones go,
-- head pages left empty are removed, the tail and unsettled records stay.
--
\set VERBOSITY terse
SELECT topics.create_topic('cp', 2, cleanup_policy => 'compact');
SELECT topic, cleanup_policy FROM topics.topics WHERE topic = 'cp'::regclass;

-- 20 keys updated 30 times each (600 records, several pages), partition 0
DO $$
BEGIN
    FOR round IN 1..30 LOOP
        PERFORM count(*) FROM topics.produce_batch('cp',
            ARRAY(SELECT 'key-' || k FROM generate_series(1, 20) k),
            ARRAY(SELECT repeat('v', 60) || ':' || round FROM generate_series(1, 20) k),
            partition => 0);
    END LOOP;
END;
$$;
-- tombstones: key-1 deleted long ago, key-2 deleted just now
INSERT INTO cp (partition, key, value, ts) VALUES (0, 'key-1', NULL, now() - interval '2 days');
INSERT INTO cp (partition, key, value) VALUES (0, 'key-2', NULL);
-- records without a key are never compacted
INSERT INTO cp (partition, key, value) SELECT 0, NULL, 'no key' FROM generate_series(1, 3);
-- fill more pages so the latest records are not all on the tail
SELECT count(*) FROM topics.produce_batch('cp', array_fill('filler'::text, ARRAY[400]),
    ARRAY(SELECT repeat('f', 60) FROM generate_series(1, 400)), partition => 0);
CREATE TEMP TABLE before AS SELECT seq, key, value FROM cp WHERE partition = 0;
SELECT count(*) AS records, max(seq) AS last FROM before;

SELECT partition, records_removed > 0 AS removed, pages_removed > 0 AS pages_freed
FROM topics.maintain('cp') ORDER BY partition;

-- the latest record of every key is still there, unchanged and at its seq
SELECT count(*) AS keys_missing FROM (
    SELECT DISTINCT ON (key) key, seq, value FROM before WHERE key IS NOT NULL
    ORDER BY key, seq DESC) l
WHERE NOT EXISTS (SELECT 1 FROM cp c WHERE c.partition = 0 AND c.seq = l.seq
                  AND c.value IS NOT DISTINCT FROM l.value)
  AND NOT (l.key = 'key-1' AND l.value IS NULL);
-- every remaining record is one of the originals at its original seq
SELECT count(*) AS changed FROM cp c
WHERE c.partition = 0 AND NOT EXISTS (SELECT 1 FROM before b WHERE b.seq = c.seq
    AND b.key IS NOT DISTINCT FROM c.key AND b.value IS NOT DISTINCT FROM c.value);
-- superseded records are gone below the tail page; key-1's old tombstone
-- went, key-2's recent one stays; keyless records stay
SELECT key, count(*) AS kept, max(seq) AS latest FROM cp
WHERE partition = 0 AND key IN ('key-1', 'key-2', 'key-3') GROUP BY key ORDER BY key;
SELECT count(*) FROM cp WHERE key IS NULL;
SELECT count(*) < 300 AS fewer_than_half FROM cp WHERE partition = 0 AND key LIKE 'key-%';
-- fetch, seek and iterators skip the gaps
SELECT count(*) = (SELECT count(*) FROM cp WHERE partition = 0) AS fetch_agrees
FROM topics.fetch('cp', 0, (SELECT log_start_seq FROM topics.partitions
                            WHERE topic = 'cp'::regclass AND partition = 0), 100000);
SELECT count(*) = count(DISTINCT seq) AS no_duplicates,
       bool_and(seq >= 0) AS seqs_kept FROM cp;
-- running it again changes nothing
SELECT sum(records_removed) FROM topics.maintain('cp');
-- new records continue after the last seq
SELECT seq FROM topics.produce('cp', 'key-5', 'newest', partition => 0);

-- an open transaction's records and everything after them stay
SELECT topics.create_topic('cp_open', 1, cleanup_policy => 'compact');
SELECT count(*) FROM topics.produce_batch('cp_open', array_fill('k'::text, ARRAY[200]),
    ARRAY(SELECT repeat('a', 80) FROM generate_series(1, 200)));
BEGIN;
SELECT count(*) FROM topics.produce_batch('cp_open', array_fill('k'::text, ARRAY[200]),
    ARRAY(SELECT repeat('b', 80) FROM generate_series(1, 200)));
SELECT sum(records_removed) AS removed_with_own_open FROM topics.maintain('cp_open');
COMMIT;
SELECT sum(records_removed) > 0 AS removed_after_commit FROM topics.maintain('cp_open');
SELECT count(*) >= 1 AS latest_kept, max(seq) FROM cp_open;

-- 'compact,delete' does both; the policy can be changed
SELECT topics.alter_topic('cp_open', cleanup_policy => 'compact,delete', retention_bytes => 0);
SELECT cleanup_policy, retention_bytes FROM topics.topic_config WHERE topic = 'cp_open'::regclass;
SELECT count(*) FROM topics.maintain('cp_open');
SELECT topics.alter_topic('cp_open', cleanup_policy => 'shred');
DROP TABLE cp, cp_open;

-- keys are compared by their text: a key stored out of line (each record's
-- its own TOAST value) or compressed by another method supersedes too
SELECT topics.create_topic('cp_big', 1, cleanup_policy => 'compact');
SELECT count(*) FROM topics.produce_batch('cp_big',
    array_fill((SELECT string_agg(md5(g::text), '') FROM generate_series(1, 100) g), ARRAY[30]),
    ARRAY(SELECT 'out of line ' || g || repeat('.', 400) FROM generate_series(1, 30) g));
SELECT count(*) FROM topics.produce_batch('cp_big', array_fill(repeat('q', 3000), ARRAY[20]),
    ARRAY(SELECT 'pglz ' || g || repeat('.', 400) FROM generate_series(1, 20) g));
ALTER TABLE cp_big ALTER COLUMN key SET COMPRESSION lz4;
SELECT count(*) FROM topics.produce_batch('cp_big', array_fill(repeat('q', 3000), ARRAY[20]),
    ARRAY(SELECT 'lz4 ' || g || repeat('.', 400) FROM generate_series(1, 20) g));
SELECT count(*) FROM topics.produce_batch('cp_big', array_fill('filler'::text, ARRAY[40]),
    ARRAY(SELECT 'filler ' || g || repeat('.', 400) FROM generate_series(1, 40) g));
SELECT pg_relation_size(reltoastrelid) > 0 AS has_out_of_line_keys
FROM pg_class WHERE oid = 'cp_big'::regclass;
SELECT sum(records_removed) AS removed FROM topics.maintain('cp_big');
SELECT left(key, 8) AS key, count(*), max(seq),
       split_part(convert_from((array_agg(value ORDER BY seq DESC))[1], 'UTF8'), '.', 1) AS latest
FROM cp_big WHERE key <> 'filler' GROUP BY 1 ORDER BY 1;
DROP TABLE cp_big;
