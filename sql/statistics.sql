--
-- Cumulative statistics: what pg_stat_user_tables and pg_statio_user_tables
-- show for a topic, counted where heap counts them: records produced by
-- every path as inserted rows, each sequential scan (and rescan) with the
-- rows it returned, nothing updated or deleted (records are immutable), and
-- the buffers read.
--
SELECT topics.create_topic('st_t', 2);
SELECT count(*) FROM topics.produce_batch('st_t', ARRAY['a', 'b', 'c'], ARRAY['1', '2', '3']);
SELECT seq FROM topics.produce('st_t', 'k', 'v'::bytea, partition => 0);
INSERT INTO st_t (partition, key, value) VALUES (1, 'x', 'y');
COPY st_t (partition, key, value) FROM stdin;
0	c1	v1
1	c2	v2
\.
-- one sequential scan of seven rows
SELECT count(*) FROM st_t;
-- a correlated subquery scans the topic again for each outer row: three
-- more scans (one start, two rescans) of seven rows each
EXPLAIN (COSTS OFF)
SELECT i, (SELECT count(*) FROM st_t WHERE length(key) > i) FROM (VALUES (0), (1), (2)) v(i);
SELECT i, (SELECT count(*) FROM st_t WHERE length(key) > i) FROM (VALUES (0), (1), (2)) v(i);
SELECT pg_stat_force_next_flush();
SELECT seq_scan, seq_tup_read, n_tup_ins, n_tup_upd, n_tup_del, n_tup_hot_upd
FROM pg_stat_user_tables WHERE relid = 'st_t'::regclass;
SELECT heap_blks_read + heap_blks_hit > 0 AS buffers_counted
FROM pg_statio_user_tables WHERE relid = 'st_t'::regclass;
-- an aborted record is inserted too (as heap counts it) and dead.  VACUUM
-- resets the count of rows inserted since the last VACUUM (which
-- autovacuum_vacuum_insert_threshold compares) and the dead count, and
-- reports as live the seqs in use, aborted records included: a plain VACUUM
-- skips the all-visible pages, so it counts from the partitions' bounds
BEGIN;
SELECT seq FROM topics.produce('st_t', 'gone', 'v'::bytea, partition => 1);
ROLLBACK;
SELECT pg_stat_force_next_flush();
SELECT n_tup_ins, n_live_tup, n_dead_tup, n_ins_since_vacuum, vacuum_count
FROM pg_stat_user_tables WHERE relid = 'st_t'::regclass;
VACUUM st_t;
SELECT pg_stat_force_next_flush();
SELECT n_tup_ins, n_live_tup, n_dead_tup, n_ins_since_vacuum, vacuum_count
FROM pg_stat_user_tables WHERE relid = 'st_t'::regclass;
-- ANALYZE samples the records a snapshot sees: seven
ANALYZE st_t;
SELECT pg_stat_force_next_flush();
SELECT n_live_tup, n_dead_tup, analyze_count
FROM pg_stat_user_tables WHERE relid = 'st_t'::regclass;
SELECT reltuples FROM pg_class WHERE oid = 'st_t'::regclass;
