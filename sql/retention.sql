--
-- Retention: create_topic/alter_topic settings, topics.maintain() removing
-- whole old pages, the log start moving forward, and what readers see.
--
\set VERBOSITY terse

-- settings are stored, shown by topics.topics, validated
SELECT topics.create_topic('ret_bytes', 2, retention_bytes => 65536);
SELECT topic, partitions, retention, retention_bytes, cleanup_policy
FROM topics.topics WHERE topic = 'ret_bytes'::regclass;
SELECT topics.create_topic('ret_bad', 1, retention => '-1 day');
SELECT topics.create_topic('ret_bad', 1, retention_bytes => -1);
SELECT topics.create_topic('ret_bad', 1, cleanup_policy => 'shred');
SELECT to_regclass('ret_bad');           -- none of those created anything

-- produce ten times the retained volume, one transaction per batch, with
-- maintenance in between: partition 0 stays at its byte budget and the file
-- stays bounded because removed pages are reused
DO $$
BEGIN
    FOR i IN 1..40 LOOP
        PERFORM count(*) FROM topics.produce_batch('ret_bytes',
            array_fill('k'::text, ARRAY[500]),
            ARRAY(SELECT repeat('x', 100) FROM generate_series(1, 500)), partition => 0);
        COMMIT;
        PERFORM * FROM topics.maintain('ret_bytes');
        COMMIT;
    END LOOP;
END;
$$;
SELECT partition, log_start_seq > 0 AS moved, next_seq, bytes <= 65536 + 8192 AS within_budget,
       record_count = next_seq - log_start_seq AS counted
FROM topics.partitions WHERE topic = 'ret_bytes'::regclass ORDER BY partition;
-- 40 x 500 x ~130 bytes were produced; the file holds about 2x the budget
SELECT pg_relation_size('ret_bytes') < 2 * 65536 + 8 * 8192 AS bounded,
       pg_relation_size('ret_bytes') < 40 * 500 * 100 / 4 AS far_below_produced;

-- what is left is intact and dense from the log start
SELECT count(*) = max(seq) - min(seq) + 1 AS dense,
       min(seq) = (SELECT log_start_seq FROM topics.partitions
                   WHERE topic = 'ret_bytes'::regclass AND partition = 0) AS starts_at_log_start,
       bool_and(value = convert_to(repeat('x', 100), 'UTF8')) AS intact
FROM ret_bytes WHERE partition = 0;
SELECT count(*) = (SELECT record_count FROM topics.partitions
                   WHERE topic = 'ret_bytes'::regclass AND partition = 0) AS fetch_all
FROM topics.fetch('ret_bytes', 0,
                  (SELECT log_start_seq FROM topics.partitions
                   WHERE topic = 'ret_bytes'::regclass AND partition = 0), 100000);

-- reading below the log start is Kafka's OffsetOutOfRange
SELECT * FROM topics.fetch('ret_bytes', 0, 0);
SELECT topics.get_shard_iterator('ret_bytes', 0, 'AT_SEQUENCE_NUMBER', 0) IS NOT NULL;
-- TRIM_HORIZON starts at the new log start
SELECT (records[1]).seq = (SELECT log_start_seq FROM topics.partitions
                           WHERE topic = 'ret_bytes'::regclass AND partition = 0) AS trim_horizon
FROM topics.get_records(topics.get_shard_iterator('ret_bytes', 0, 'TRIM_HORIZON'), 1);
-- a consumer group positioned below the log start continues at the log start
SELECT topics.commit('ret_group', 'ret_bytes', 0, 0);
SELECT min(seq) = (SELECT log_start_seq FROM topics.partitions
                   WHERE topic = 'ret_bytes'::regclass AND partition = 0) AS group_resumes
FROM topics.consume('ret_group', 'ret_bytes', 10);
-- retention removing the group's position after consume looked at the log
-- start: consume's reading half, handed a start below the log start, reads
-- from the log start and moves the group past what it returned
SELECT topics.commit('ret_race', 'ret_bytes', 0, 0);
SELECT count(*) AS race_count,
       min(seq) = (SELECT log_start_seq FROM topics.partitions
                   WHERE topic = 'ret_bytes'::regclass AND partition = 0) AS race_from_log_start,
       max(seq) AS race_last
FROM topics._consume_partition('ret_race', 'ret_bytes', 0, 0, 10) \gset
SELECT :race_count AS returned, :'race_from_log_start' AS from_log_start,
       seq = :race_last + 1 AS moved_past_last
FROM topics.committed('ret_race', 'ret_bytes') WHERE partition = 0;
-- a fresh group with auto_offset_reset earliest starts at the log start
SELECT min(seq) = (SELECT log_start_seq FROM topics.partitions
                   WHERE topic = 'ret_bytes'::regclass AND partition = 0) AS earliest
FROM topics.consume('ret_fresh', 'ret_bytes', 10);

-- a second run has nothing more to do
SELECT sum(pages_removed) FROM topics.maintain('ret_bytes');

-- the tail page always stays, and records of an open transaction stay
SELECT topics.create_topic('ret_open', 1, retention_bytes => 0);
BEGIN;
SELECT count(*) FROM topics.produce_batch('ret_open', array_fill('k'::text, ARRAY[300]),
    ARRAY(SELECT repeat('y', 100) FROM generate_series(1, 300)));
SELECT pages_removed FROM topics.maintain('ret_open');   -- own records: in progress
COMMIT;
SELECT pages_removed > 0 AS removed, log_start_seq > 0 AS moved FROM topics.maintain('ret_open');
SELECT bytes = 8192 AS only_the_tail, next_seq FROM topics.partitions
WHERE topic = 'ret_open'::regclass;

-- values stored out of line go with their records
SELECT topics.create_topic('ret_toast', 1, retention_bytes => 0);
CREATE FUNCTION pg_temp.toast_rows(t regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM %s',
                   (SELECT reltoastrelid::regclass FROM pg_class WHERE oid = t)) INTO n;
    RETURN n;
END $$;
INSERT INTO ret_toast (key, value)
SELECT 'big' || i, (SELECT convert_to(string_agg(md5(i::text || '/' || g::text), ''), 'UTF8')
                    FROM generate_series(1, 200) g)
FROM generate_series(1, 400) i;
SELECT pg_temp.toast_rows('ret_toast') > 0 AS toasted;
SELECT pages_removed > 0 AS removed FROM topics.maintain('ret_toast');
SELECT pg_temp.toast_rows('ret_toast') < 400 AS toast_rows_deleted,
       (SELECT count(*) FROM ret_toast) = (SELECT record_count FROM topics.partitions
                                           WHERE topic = 'ret_toast'::regclass) AS kept_readable,
       (SELECT bool_and(length(value) = 6400) FROM ret_toast) AS kept_intact;

-- time-based retention: records with old explicit timestamps go, recent stay
SELECT topics.create_topic('ret_time', 1, retention => '1 day');
INSERT INTO ret_time (key, value, ts)
SELECT 'old', convert_to(repeat('o', 200), 'UTF8'), now() - interval '10 days'
FROM generate_series(1, 200);
INSERT INTO ret_time (key, value)
SELECT 'new', convert_to(repeat('n', 200), 'UTF8') FROM generate_series(1, 200);
SELECT pages_removed > 0 AS removed FROM topics.maintain('ret_time');
SELECT count(*) FILTER (WHERE key = 'new') AS new_kept,
       count(*) FILTER (WHERE key = 'old') < 200 AS old_removed
FROM ret_time;
SELECT topics.seq_at_time('ret_time', 0, now() - interval '20 days') =
       (SELECT log_start_seq FROM topics.partitions WHERE topic = 'ret_time'::regclass)
       AS seq_at_time_from_log_start;

-- alter_topic changes and resets settings; only the owner may
SELECT topics.alter_topic('ret_time', retention => '2 days', retention_bytes => 1000000);
SELECT retention, retention_bytes FROM topics.topic_config WHERE topic = 'ret_time'::regclass;
SELECT topics.alter_topic('ret_time', reset_retention => true);
SELECT retention, retention_bytes FROM topics.topic_config WHERE topic = 'ret_time'::regclass;
SELECT topics.alter_topic('ret_time', partitions => 1);
SELECT topics.alter_topic('ret_time', partitions => 3);
SELECT partitions FROM topics.topics WHERE topic = 'ret_time'::regclass;
CREATE ROLE ret_reader;
GRANT SELECT ON ret_time TO ret_reader;
SET ROLE ret_reader;
SELECT topics.alter_topic('ret_time', retention => '1 hour');
SELECT * FROM topics.maintain('ret_time');
UPDATE topics.topic_config SET retention = '1 second';          -- RLS: no rows
SELECT count(*) FROM topics.maintain();                          -- owns no topics
RESET ROLE;
SELECT retention_bytes FROM topics.topic_config WHERE topic = 'ret_time'::regclass;

-- a topic without settings: maintain reports it, removes nothing
SELECT topics.create_topic('ret_none', 2);
SELECT * FROM topics.maintain('ret_none');
SELECT * FROM topics.maintain('pg_class');

-- DROP TABLE forgets the settings
DROP TABLE ret_time;
SELECT count(*) FROM topics.topic_config WHERE topic::text = 'ret_time';
DROP TABLE ret_bytes, ret_open, ret_none, ret_toast;
DROP ROLE ret_reader;
SELECT count(*) FROM topics.topic_config;

-- A sequential scan returns each partition's records in seq order, one
-- partition after the other, also once appends reuse pages retention
-- freed (the newest records then sit in the lowest blocks).  pg_dump's
-- COPY reads a topic so, and a restore appends the records with their
-- seqs, which must grow: until 0.9 the scan went in block order and the
-- dump of such a topic could not be restored.
SELECT topics.create_topic('ret_order', 2, retention_bytes => 16384);
ALTER TABLE ret_order SET (autovacuum_enabled = off);
SELECT count(*) FROM topics.produce_batch('ret_order', array_fill('k'::text, ARRAY[600]),
    ARRAY(SELECT repeat('v', 100) || g FROM generate_series(1, 600) g), partition => 0);
SELECT count(*) FROM topics.produce_batch('ret_order', array_fill('k'::text, ARRAY[300]),
    ARRAY(SELECT repeat('v', 100) || g FROM generate_series(1, 300) g), partition => 1);
SELECT partition, pages_removed > 0 AS removed FROM topics.maintain('ret_order') ORDER BY partition;
SELECT count(*) FROM topics.produce_batch('ret_order', array_fill('k'::text, ARRAY[300]),
    ARRAY(SELECT repeat('w', 100) || g FROM generate_series(1, 300) g), partition => 0);
-- pages were reused: block order is not seq order any more
SELECT count(*) > 0 AS reused FROM (
    SELECT seq < lag(seq) OVER (ORDER BY ctid) AS back FROM ret_order WHERE partition = 0) s
WHERE back;
-- the scan's order: partition 0, then 1, each in seq order from its log start
WITH scan AS (SELECT partition, seq, row_number() OVER () AS n FROM ret_order)
SELECT partition, count(*) AS records,
       bool_and(seq = first_seq + (n - first_n)) AS dense_in_seq_order,
       min(seq) = (SELECT log_start_seq FROM topics.partitions p
                   WHERE p.topic = 'ret_order'::regclass AND p.partition = s.partition) AS from_log_start
FROM (SELECT *, first_value(seq) OVER w AS first_seq, first_value(n) OVER w AS first_n
      FROM scan WINDOW w AS (PARTITION BY partition ORDER BY n)) s
GROUP BY partition ORDER BY min(n);
-- what the restore does with it
SELECT topics.create_topic('ret_order2', 2);
INSERT INTO ret_order2 SELECT * FROM ret_order;
SELECT (SELECT count(*) FROM ret_order2) = (SELECT count(*) FROM ret_order) AS all_copied,
       NOT EXISTS (SELECT partition, seq, key, value FROM ret_order
                   EXCEPT SELECT partition, seq, key, value FROM ret_order2) AS same_records;
-- and backward (a SCROLL cursor) in the same order, reversed
BEGIN;
DECLARE ret_c SCROLL CURSOR FOR SELECT partition, seq FROM ret_order;
MOVE LAST IN ret_c;
FETCH BACKWARD 3 FROM ret_c;
MOVE ABSOLUTE 1 IN ret_c;
FETCH RELATIVE 0 FROM ret_c;
COMMIT;
-- the planner knows that order (since 0.14): a replay in order needs no
-- sort of the topic, and a LIMIT stops the scan early; the rows are those
-- a sort gives (ORDER BY of expressions, which the scan's order does not
-- serve)
EXPLAIN (COSTS OFF) SELECT partition, seq, key FROM ret_order ORDER BY partition, seq;
EXPLAIN (COSTS OFF) SELECT partition, seq FROM ret_order ORDER BY partition, seq LIMIT 5;
SELECT (SELECT array_agg(partition || ':' || seq) FROM
            (SELECT partition, seq FROM ret_order ORDER BY partition, seq) s)
     = (SELECT array_agg(partition || ':' || seq) FROM
            (SELECT partition, seq FROM ret_order ORDER BY partition + 0, seq + 0) s) AS same_order,
       (SELECT array_agg(seq) FROM (SELECT seq FROM ret_order ORDER BY partition, seq LIMIT 5) s) AS first_five;
-- not by seq alone: the topic has two partitions
EXPLAIN (COSTS OFF) SELECT partition, seq FROM ret_order ORDER BY seq;
DROP TABLE ret_order, ret_order2;

-- A topic of one partition is in seq order; adding a partition makes a
-- prepared plan that relied on it again, with a sort
SELECT topics.create_topic('ret_one', 1);
SELECT count(*) FROM topics.produce_batch('ret_one', ARRAY['a', 'b', 'c'], ARRAY['1', '2', '3']);
PREPARE ret_one_q AS SELECT seq FROM ret_one ORDER BY seq;
EXPLAIN (COSTS OFF) EXECUTE ret_one_q;
-- the latest records walk backward from the end
EXPLAIN (COSTS OFF) SELECT seq, key FROM ret_one ORDER BY seq DESC LIMIT 2;
SELECT seq, key FROM ret_one ORDER BY seq DESC LIMIT 2;
-- without ORDER BY seq it is a sequential scan: offered for every query,
-- the seek, costed at 60 records a page, won over one of larger records
SELECT topics.create_topic('ret_wide', 1);
INSERT INTO ret_wide (key, value)
SELECT 'k', convert_to(repeat(md5(g::text), 40), 'UTF8') FROM generate_series(1, 2000) g;
ANALYZE ret_wide;
EXPLAIN (COSTS OFF) SELECT count(*) FROM ret_wide;
EXPLAIN (COSTS OFF) SELECT key FROM ret_wide WHERE key = 'x';
DROP TABLE ret_wide;
SELECT topics.alter_topic('ret_one', partitions => 2);
SELECT count(*) FROM topics.produce_batch('ret_one', ARRAY['d', 'e'], ARRAY['4', '5'], partition => 1);
EXPLAIN (COSTS OFF) EXECUTE ret_one_q;
EXECUTE ret_one_q;
DEALLOCATE ret_one_q;
DROP TABLE ret_one;
-- A SQL function plans all its statements before it runs them: here the
-- read was planned for one partition, and the topic, truncated in the same
-- transaction, gains its second at once.  The seek refuses to go on rather
-- than return partition 1's records after partition 0's; PL/pgSQL plans
-- each statement when it runs it.
SELECT topics.create_topic('ret_fn', 1);
CREATE FUNCTION ret_fn_replay() RETURNS SETOF bigint LANGUAGE sql AS $$
    TRUNCATE ret_fn;
    SELECT topics.alter_topic('ret_fn', partitions => 2);
    INSERT INTO ret_fn (partition, key, value) VALUES (0, 'a', 'x'), (0, 'b', 'x'), (1, 'c', 'x');
    SELECT seq FROM ret_fn ORDER BY seq;
$$;
SELECT * FROM ret_fn_replay();
CREATE FUNCTION ret_fn_replay2() RETURNS SETOF bigint LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE ret_fn;
    PERFORM topics.alter_topic('ret_fn', partitions => 3);
    INSERT INTO ret_fn (partition, key, value) VALUES (0, 'a', 'x'), (0, 'b', 'x'), (1, 'c', 'x');
    RETURN QUERY SELECT seq FROM ret_fn ORDER BY seq;
END
$$;
SELECT * FROM ret_fn_replay2();
DROP FUNCTION ret_fn_replay(), ret_fn_replay2();
DROP TABLE ret_fn;

-- maintain() removes records: not in a read-only transaction (until 0.9 it
-- did)
SELECT topics.create_topic('ret_ro', 1, retention_bytes => 8192);
SELECT count(*) FROM topics.produce_batch('ret_ro', array_fill('k'::text, ARRAY[500]),
    ARRAY(SELECT repeat('v', 100) FROM generate_series(1, 500)));
BEGIN READ ONLY;
SELECT count(*) FROM topics.maintain('ret_ro');
ROLLBACK;
SELECT log_start_seq FROM topics.partition_info('ret_ro');
DROP TABLE ret_ro;

-- Out-of-line values of the removed records go with them, those of
-- rolled-back records to VACUUM of the TOAST table: until 0.13 retention
-- tried to delete a rolled-back record's values too and failed with
-- "attempted to delete invisible tuple" after it had removed the pages, so
-- the committed records' values were left behind for good.  (The TOAST
-- table is not read before maintain(): a read would hint the rolled-back
-- values dead and hide the failure.)
SELECT topics.create_topic('ret_toast', 1);
SELECT seq FROM topics.produce('ret_toast', 'k',
    (SELECT string_agg(sha256((g * 7)::text::bytea), '') FROM generate_series(1, 80) g));
BEGIN;
SELECT seq FROM topics.produce('ret_toast', 'k',
    (SELECT string_agg(sha256(g::text::bytea), '') FROM generate_series(1, 80) g));
ROLLBACK;
SELECT seq FROM topics.produce('ret_toast', 'k',
    (SELECT string_agg(sha256((g * 3)::text::bytea), '') FROM generate_series(1, 80) g));
SELECT count(*) FROM topics.produce_batch('ret_toast', array_fill('k'::text, ARRAY[300]),
    array_fill(repeat('x', 100), ARRAY[300]));
SELECT topics.alter_topic('ret_toast', retention_bytes => 8192);
SELECT sum(records_removed) > 0 AS removed FROM topics.maintain('ret_toast');
SELECT log_start_seq > 2 AS past_the_large_values FROM topics.partition_info('ret_toast');
CREATE FUNCTION ret_toast_chunks() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM %s',
                   (SELECT reltoastrelid::regclass FROM pg_class WHERE oid = 'ret_toast'::regclass)) INTO n;
    RETURN n;
END $$;
SELECT ret_toast_chunks() AS chunks_left;
DROP FUNCTION ret_toast_chunks();
DROP TABLE ret_toast;

-- Out-of-line values of removed records go even when the transaction that
-- removed the records rolls back: the pages go at once, and the values'
-- ids wait on a free page stamped with that transaction until a run that
-- commits deletes them (until 0.17 they stayed for good).  VACUUM keeps
-- relfrozenxid at or below the stamp meanwhile.
SELECT topics.create_topic('ret_leak', 1);
SELECT topics.create_topic('ret_leak_c', 1, cleanup_policy => 'compact');
CREATE FUNCTION ret_values(t regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(DISTINCT chunk_id) FROM %s',
                   (SELECT reltoastrelid::regclass FROM pg_class WHERE oid = t)) INTO n;
    RETURN n;
END $$;
CREATE EXTENSION pageinspect;
CREATE FUNCTION ret_free_pages(t regclass) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM generate_series(0, (pg_relation_size(t) / 8192)::int - 1) b,
         LATERAL (SELECT get_raw_page(t::text, b) AS p) r
    WHERE get_byte(p, (page_header(p)).special + 24) = 5    -- a free page
$$;
CREATE FUNCTION ret_big(g int) RETURNS bytea LANGUAGE sql AS $$
    SELECT decode(string_agg(md5(g::text || '-' || i), ''), 'hex') FROM generate_series(1, 320) i
$$;
-- 20 records of 5 kB incompressible values, stored out of line, then small
-- ones, so that the large ones are on pages retention removes
SELECT count(*) FROM topics.produce_batch('ret_leak', ARRAY(SELECT 'k' || g FROM generate_series(1, 20) g),
    ARRAY(SELECT ret_big(g) FROM generate_series(1, 20) g));
SELECT count(*) FROM topics.produce_batch('ret_leak', array_fill('s'::text, ARRAY[300]),
    array_fill('\x00'::bytea, ARRAY[300]));
SELECT ret_values('ret_leak') AS values_stored;
BEGIN;
SELECT pg_current_xact_id()::text::bigint AS removal_xid \gset
SELECT sum(pages_removed) > 0 AS removed FROM topics._apply_retention('ret_leak', NULL, 0);
ROLLBACK;
SELECT count(*) FILTER (WHERE length(value) > 1000) AS large_records_left,
       ret_values('ret_leak') AS values_left
FROM ret_leak;
-- VACUUM says what holds relfrozenxid back, and what settles it (0.18)
\set VERBOSITY terse
VACUUM (FREEZE) ret_leak;
\set VERBOSITY default
SELECT relfrozenxid::text::bigint <= :removal_xid AS relfrozenxid_held_back
FROM pg_class WHERE oid = 'ret_leak'::regclass;
-- new records do not take the pages waiting for the values' deletion
SELECT ret_free_pages('ret_leak') AS free_before \gset
SELECT :free_before > 0 AS pages_waiting;
SELECT count(*) FROM topics.produce_batch('ret_leak', array_fill('t'::text, ARRAY[2000]),
    array_fill('\x00'::bytea, ARRAY[2000]));
SELECT ret_free_pages('ret_leak') = :free_before AS none_taken;
-- the next run deletes them, and then the pages are taken again
SELECT sum(pages_removed) >= 0 AS ran FROM topics._apply_retention('ret_leak', NULL, NULL);
SELECT ret_values('ret_leak') AS values_left;
VACUUM (FREEZE) ret_leak;
SELECT relfrozenxid::text::bigint > :removal_xid AS relfrozenxid_moved_on
FROM pg_class WHERE oid = 'ret_leak'::regclass;
SELECT count(*) FROM topics.produce_batch('ret_leak', array_fill('u'::text, ARRAY[2000]),
    array_fill('\x00'::bytea, ARRAY[2000]));
SELECT ret_free_pages('ret_leak') < :free_before AS taken_again;
-- compaction alike: superseded large records, removed in a transaction
-- that rolls back, then by one that commits
SELECT count(*) FROM topics.produce_batch('ret_leak_c', ARRAY(SELECT 'k' || (g % 4) FROM generate_series(1, 20) g),
    ARRAY(SELECT ret_big(g) FROM generate_series(1, 20) g));
SELECT count(*) FROM topics.produce_batch('ret_leak_c', array_fill('s'::text, ARRAY[300]),
    array_fill('\x00'::bytea, ARRAY[300]));
SELECT ret_values('ret_leak_c') AS values_stored;
BEGIN;
SELECT sum(records_removed) AS removed FROM topics.maintain('ret_leak_c');
ROLLBACK;
SELECT count(*) FILTER (WHERE length(value) > 1000) AS large_records_left,
       ret_values('ret_leak_c') AS values_left
FROM ret_leak_c;
SELECT sum(records_removed) AS removed FROM topics.maintain('ret_leak_c');
SELECT ret_values('ret_leak_c') AS values_left;
-- a run that removes nothing takes no transaction id (until 0.18 retention
-- with a time limit and compaction took one before they looked)
BEGIN;
SELECT sum(records_removed) AS removed FROM topics.maintain('ret_leak_c');
SELECT sum(pages_removed) AS removed FROM topics._apply_retention('ret_leak', '1 day', NULL);
SELECT pg_current_xact_id_if_assigned() IS NULL AS no_transaction_id;
COMMIT;
DROP TABLE ret_leak, ret_leak_c;
DROP FUNCTION ret_values(regclass);
DROP FUNCTION ret_big(int);
DROP FUNCTION ret_free_pages(regclass);
DROP EXTENSION pageinspect;
