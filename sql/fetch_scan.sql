--
-- fetch_scan: topics.fetch in FROM runs as the TopicFetch custom scan, which
-- streams rows from the pages instead of filling a tuplestore first.  It
-- must give exactly what the function gives.  WITH ORDINALITY keeps the
-- plain function scan, so it serves as the reference.
--
SELECT topics.create_topic('fs_t', 2);
SELECT count(*) FROM topics.produce_batch('fs_t',
    ARRAY(SELECT CASE WHEN g % 7 = 0 THEN NULL ELSE 'k' || g END FROM generate_series(0, 1999) g),
    ARRAY(SELECT repeat(chr(97 + g % 26), g % 300) FROM generate_series(0, 1999) g),
    ARRAY(SELECT CASE WHEN g % 5 = 0 THEN jsonb_build_object('n', g) END FROM generate_series(0, 1999) g),
    0);
-- an aborted record leaves a gap at seq 2000
BEGIN;
SELECT seq FROM topics.produce('fs_t', 'gone', 'x', NULL, 0);
ROLLBACK;
SELECT count(*) FROM topics.produce_batch('fs_t',
    ARRAY(SELECT 'late' || g FROM generate_series(0, 9) g),
    ARRAY(SELECT 'v' || g FROM generate_series(0, 9) g), NULL, 0);

-- the plan
EXPLAIN (COSTS OFF) SELECT seq, value FROM topics.fetch('fs_t', 0, 10, 5);
EXPLAIN (COSTS OFF) SELECT count(*) FROM topics.fetch('fs_t', 0, 10) WHERE key LIKE 'k1%';
-- LATERAL too: the outer columns are parameters of the scan
EXPLAIN (COSTS OFF) SELECT f.seq FROM generate_series(0, 1) p, LATERAL topics.fetch('fs_t', p, 0) f;
-- branches of a UNION ALL, and expressions computed by the scan itself
EXPLAIN (COSTS OFF) SELECT seq FROM topics.fetch('fs_t', 0, 0, 2) UNION ALL SELECT seq FROM topics.fetch('fs_t', 1, 0, 2);
SELECT seq FROM topics.fetch('fs_t', 0, 0, 2) UNION ALL SELECT seq FROM topics.fetch('fs_t', 0, 2008, 5);
EXPLAIN (VERBOSE, COSTS OFF) SELECT seq + 1, upper(key) FROM topics.fetch('fs_t', 0, 0, 2);
-- not for ORDINALITY or a whole-row use: those stay function scans
EXPLAIN (COSTS OFF) SELECT * FROM topics.fetch('fs_t', 0, 10) WITH ORDINALITY;
EXPLAIN (COSTS OFF) SELECT f FROM topics.fetch('fs_t', 0, 10) f;

-- same rows as the function, for every column, from many positions and limits
CREATE FUNCTION fs_diff(from_seq bigint, max_records int, max_bytes int) RETURNS bigint
LANGUAGE sql AS $$
    SELECT count(*) FROM (
        (SELECT partition, seq, ts, key, value, headers::text
           FROM topics.fetch('fs_t', 0, from_seq, max_records, max_bytes)
         EXCEPT ALL
         SELECT partition, seq, ts, key, value, headers::text
           FROM topics.fetch('fs_t', 0, from_seq, max_records, max_bytes) WITH ORDINALITY)
        UNION ALL
        (SELECT partition, seq, ts, key, value, headers::text
           FROM topics.fetch('fs_t', 0, from_seq, max_records, max_bytes) WITH ORDINALITY
         EXCEPT ALL
         SELECT partition, seq, ts, key, value, headers::text
           FROM topics.fetch('fs_t', 0, from_seq, max_records, max_bytes))) d
$$;
SELECT s, m, b, fs_diff(s, m, b) AS differences,
       (SELECT count(*) FROM topics.fetch('fs_t', 0, s, m, b)) AS rows
FROM (VALUES (0, 1000, NULL), (0, 5000, NULL), (1995, 20, NULL), (2000, 20, NULL),
             (2010, 20, NULL), (0, 1000, 5000), (7, 3, 1), (1500, 1000, 100000)) v(s, m, b);
-- columns one at a time
SELECT sum(seq) FROM topics.fetch('fs_t', 0, 0, 5000);
SELECT count(key), count(*) - count(key) AS null_keys FROM topics.fetch('fs_t', 0, 0, 5000);
SELECT sum(length(value)) FROM topics.fetch('fs_t', 0, 0, 5000);
SELECT count(headers), sum((headers->>'n')::int) FROM topics.fetch('fs_t', 0, 0, 5000);
SELECT min(partition), max(partition), bool_and(ts IS NOT NULL) FROM topics.fetch('fs_t', 0, 0, 5000);
-- the scan's row holds only the columns the query uses, in the order it
-- uses them, and then those only its quals use: the rows are the function's
-- in any order of columns, with a qual on a column not returned, with
-- max_bytes, and when rescanned
SELECT count(*) AS differences FROM (
    (SELECT value, key, seq FROM topics.fetch('fs_t', 0, 0, 5000) WHERE ts IS NOT NULL AND headers IS NULL
     EXCEPT ALL
     SELECT value, key, seq FROM topics.fetch('fs_t', 0, 0, 5000) WITH ORDINALITY WHERE ts IS NOT NULL AND headers IS NULL)
    UNION ALL
    (SELECT value, key, seq FROM topics.fetch('fs_t', 0, 0, 5000) WITH ORDINALITY WHERE ts IS NOT NULL AND headers IS NULL
     EXCEPT ALL
     SELECT value, key, seq FROM topics.fetch('fs_t', 0, 0, 5000) WHERE ts IS NOT NULL AND headers IS NULL)) d;
SELECT headers, partition, seq FROM topics.fetch('fs_t', 0, 1995, 3);
SELECT (SELECT array_agg(seq) FROM topics.fetch('fs_t', 0, 0, 1000, 5000)) =
       (SELECT array_agg(seq) FROM topics.fetch('fs_t', 0, 0, 1000, 5000) WITH ORDINALITY) AS same_with_max_bytes;
SELECT g, f.key, f.seq FROM generate_series(1, 2) g CROSS JOIN topics.fetch('fs_t', 0, 2008) f ORDER BY 1, 3;
-- quals run on the streamed rows
SELECT seq, key FROM topics.fetch('fs_t', 0, 1990) WHERE key LIKE '%7' ORDER BY seq;
SELECT seq FROM topics.fetch('fs_t', 0, 1995) WHERE headers IS NOT NULL;
-- whole rows
SELECT to_jsonb(f) - 'ts' AS record FROM topics.fetch('fs_t', 0, 2001, 2) f;
-- LIMIT stops the walk; the rows are the first ones
SELECT seq FROM topics.fetch('fs_t', 0, 100, 5000) LIMIT 3;

-- rescans: a new call each time, with the new arguments
SELECT g, (SELECT array_agg(seq) FROM topics.fetch('fs_t', 0, g, 2)) FROM generate_series(1998, 2002) g;
SELECT g, f.seq FROM generate_series(1, 2) g CROSS JOIN topics.fetch('fs_t', 0, 2008) f ORDER BY 1, 2;
-- a rescan with the same arguments gives the call's rows again without
-- reading the topic again, as the function scan does (a wait would not
-- wait again); the first pass is not cut short by the rescans
CREATE FUNCTION fs_buffers(q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ' || q INTO plan;
    RETURN (plan->0->'Plan'->>'Shared Hit Blocks')::bigint
         + (plan->0->'Plan'->>'Shared Read Blocks')::bigint;
END
$$;
SET enable_material = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM (VALUES (1), (2), (3)) v(x), topics.fetch('fs_t', 0, 0, 300) f;
SELECT x, count(*), min(seq), max(seq) FROM (VALUES (1), (2), (3)) v(x), topics.fetch('fs_t', 0, 0, 300) f
GROUP BY x ORDER BY x;
SELECT fs_buffers($$SELECT count(*) FROM (VALUES (1), (2), (3)) v(x), topics.fetch('fs_t', 0, 0, 300) f$$)
     = fs_buffers($$SELECT count(*) FROM topics.fetch('fs_t', 0, 0, 300) f$$) AS read_once;
RESET enable_material;
-- a correlated subquery whose fetch does not depend on the outer row: the
-- function scan calls once and rescans its rows, and so does TopicFetch
SELECT g, (SELECT count(*) + g FROM topics.fetch('fs_t', 0, 0, 300) f) FROM generate_series(1, 3) g;
SELECT fs_buffers($$SELECT g, (SELECT count(*) + g FROM topics.fetch('fs_t', 0, 0, 300) f) FROM generate_series(1, 3) g$$)
     = fs_buffers($$SELECT count(*) FROM topics.fetch('fs_t', 0, 0, 300) f$$) AS read_once;
DROP FUNCTION fs_buffers(text);
-- where fmgr would do more than call the function, the function scan stays:
-- per-function statistics for C functions, SECURITY DEFINER, SET clauses
SET track_functions = 'all';
EXPLAIN (COSTS OFF) SELECT seq FROM topics.fetch('fs_t', 0, 10, 5);
RESET track_functions;
ALTER FUNCTION topics.fetch(regclass, integer, bigint, integer, integer, interval) SET work_mem = '4MB';
EXPLAIN (COSTS OFF) SELECT seq FROM topics.fetch('fs_t', 0, 10, 5);
ALTER FUNCTION topics.fetch(regclass, integer, bigint, integer, integer, interval) RESET ALL;
EXPLAIN (COSTS OFF) SELECT seq FROM topics.fetch('fs_t', 0, 10, 5);
-- LATERAL: every partition of every readable topic from its log start, as a
-- consumer reading all partitions would
SELECT topics.create_topic('fs_l', 3);
SELECT count(*) FROM topics.produce_batch('fs_l', ARRAY(SELECT 'k' || g FROM generate_series(1, 30) g),
                                          ARRAY(SELECT 'v' || g FROM generate_series(1, 30) g));
SELECT p.partition, count(f.seq), min(f.seq), max(f.seq), p.next_seq
FROM topics.partitions p, LATERAL topics.fetch(p.topic, p.partition, p.log_start_seq, 100) f
WHERE p.topic = 'fs_l'::regclass GROUP BY p.partition, p.next_seq ORDER BY 1;
SELECT count(*) FROM (
    SELECT p.partition, f.seq, f.key FROM topics.partitions p, LATERAL topics.fetch(p.topic, p.partition, 2, 5) f
    WHERE p.topic = 'fs_l'::regclass
    EXCEPT ALL
    SELECT p.partition, f.seq, f.key FROM topics.partitions p, LATERAL topics.fetch(p.topic, p.partition, 2, 5) WITH ORDINALITY f
    WHERE p.topic = 'fs_l'::regclass) d;
DROP TABLE fs_l;
-- parameters of a generic plan
PREPARE fs_p(bigint, int) AS SELECT seq, key FROM topics.fetch('fs_t', 0, $1, $2);
SET plan_cache_mode = force_generic_plan;
EXECUTE fs_p(1999, 3);
EXECUTE fs_p(2005, 10);
EXPLAIN (COSTS OFF) EXECUTE fs_p(0, 1);
RESET plan_cache_mode;
DEALLOCATE fs_p;
-- cursors, forward and scroll
BEGIN;
DECLARE fs_c CURSOR FOR SELECT seq FROM topics.fetch('fs_t', 0, 1997, 6);
FETCH 2 FROM fs_c;
FETCH 2 FROM fs_c;
FETCH ALL FROM fs_c;
DECLARE fs_s SCROLL CURSOR FOR SELECT seq FROM topics.fetch('fs_t', 0, 1997, 4);
FETCH ALL FROM fs_s;
FETCH BACKWARD 2 FROM fs_s;
COMMIT;

-- errors are the function's
SELECT * FROM topics.fetch(NULL, 0, 0);
SELECT * FROM topics.fetch('fs_t', NULL, 0);
SELECT * FROM topics.fetch('fs_t', 0, NULL);
SELECT * FROM topics.fetch('fs_t', 0, 0, NULL);
SELECT * FROM topics.fetch('fs_t', 0, 0, 10, NULL, NULL);
SELECT * FROM topics.fetch('fs_t', 0, -1);
SELECT * FROM topics.fetch('fs_t', 0, 0, 0);
SELECT * FROM topics.fetch('fs_t', 0, 0, 10, 0);
SELECT * FROM topics.fetch('fs_t', 0, 0, 10, NULL, '-1 s');
SELECT * FROM topics.fetch('fs_t', 2, 0);
SELECT * FROM topics.fetch('fs_t', 0, 2011);
SELECT * FROM topics.fetch('pg_class', 0, 0);

-- privileges: SELECT on the topic, EXECUTE on the function
CREATE ROLE regress_fs_reader;
SET ROLE regress_fs_reader;
SELECT count(*) FROM topics.fetch('fs_t', 0, 0);
RESET ROLE;
GRANT SELECT ON fs_t TO regress_fs_reader;
SET ROLE regress_fs_reader;
SELECT count(*) FROM topics.fetch('fs_t', 0, 0);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION topics.fetch(regclass, integer, bigint, integer, integer, interval) FROM PUBLIC;
SET ROLE regress_fs_reader;
SELECT count(*) FROM topics.fetch('fs_t', 0, 0);
RESET ROLE;
GRANT EXECUTE ON FUNCTION topics.fetch(regclass, integer, bigint, integer, integer, interval) TO PUBLIC;

-- a cached plan follows the topic: dropped, then created again
PREPARE fs_q AS SELECT count(*) FROM topics.fetch('fs_t', 1, 0);
EXECUTE fs_q;
DROP TABLE fs_t;
EXECUTE fs_q;
SELECT topics.create_topic('fs_t', 2);
SELECT count(*) FROM topics.produce('fs_t', 'a', 'b', NULL, 1);
EXECUTE fs_q;
DEALLOCATE fs_q;

DROP TABLE fs_t;
DROP FUNCTION fs_diff(bigint, int, int);
DROP ROLE regress_fs_reader;
