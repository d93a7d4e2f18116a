--
-- TopicSeek on the inner side of a nested loop: the partition and seq
-- bounds come from join clauses, and each outer row starts a seek with its
-- own values (since 0.14; before, such a join read the whole topic, into a
-- hash or once per outer row).  The join clauses that become bounds are not
-- rechecked, so every shape is compared with the same join over a heap copy.
--
SET enable_memoize = off;      -- plans below do not depend on its estimates

SELECT topics.create_topic('sj', 3);
-- partition 0: 20,000 records (about 330 pages), partition 1: 150, 2: none;
-- timestamps rise one second a record
SELECT count(*)
FROM generate_series(0, 19) AS b,
     LATERAL topics.produce_batch('sj', array_fill('k' || b, ARRAY[1000]),
                                  array_fill(convert_to(repeat('v', 100), 'UTF8'), ARRAY[1000]),
                                  partition => 0);
INSERT INTO sj (partition, key, value, ts)
SELECT 1, 'p' || g, convert_to('x' || g, 'UTF8'),
       '2026-01-01 00:00:00+00'::timestamptz + g * interval '1 second'
FROM generate_series(0, 149) g;
CREATE TABLE sj_heap AS SELECT * FROM sj;

-- consumer positions, of several types, some NULL or out of range
CREATE TABLE sj_pos (id int, part int, pos bigint, part8 bigint, pos2 smallint, at timestamptz);
INSERT INTO sj_pos VALUES
    (1, 0, 0, 0, 0, NULL), (2, 0, 19990, 0, 100, NULL), (3, 0, 20000, 0, 32767, NULL),
    (4, 1, 70, 1, 70, '2026-01-01 00:01:40+00'), (5, 1, NULL, 1, NULL, '2026-01-01 00:00:00+00'),
    (6, NULL, 5, NULL, 5, NULL), (7, 2, 0, 2, 0, NULL), (8, 3, 0, 3, 0, NULL),
    (9, -1, 0, -1, 0, NULL), (10, 1, 9223372036854775797, 4294967297, -1, NULL),
    (11, 1, -5, 1, -5, '2027-01-01 00:00:00+00'), (12, 1, 149, 1, 149, '2025-01-01 00:00:00+00');
ANALYZE sj, sj_heap, sj_pos;

-- three positions against a 20,000-record partition: a nested loop that
-- seeks for each, reading a few pages, where a hash join read them all
EXPLAIN (COSTS OFF)
SELECT p.id, t.seq FROM sj_pos p JOIN sj t ON t.partition = p.part AND t.seq >= p.pos
WHERE p.id IN (1, 2, 3) AND t.seq < p.pos + 5;
SELECT p.id, t.seq FROM sj_pos p JOIN sj t ON t.partition = p.part AND t.seq >= p.pos
WHERE p.id IN (1, 2, 3) AND t.seq < p.pos + 5 ORDER BY 1, 2;

CREATE FUNCTION buffers_touched(q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ' || q INTO plan;
    RETURN (plan->0->'Plan'->>'Shared Hit Blocks')::bigint
         + (plan->0->'Plan'->>'Shared Read Blocks')::bigint;
END
$$;
SELECT pg_relation_size('sj') / 8192 > 300 AS many_pages,
       buffers_touched($$SELECT p.id, t.seq FROM sj_pos p JOIN sj t
                         ON t.partition = p.part AND t.seq >= p.pos
                         WHERE p.id IN (1, 2, 3) AND t.seq < p.pos + 5$$) < 40 AS few_pages;

-- the next record after each position, and a LEFT JOIN that keeps
-- positions with none
EXPLAIN (COSTS OFF)
SELECT p.id, t.seq FROM sj_pos p LEFT JOIN sj t ON t.partition = p.part AND t.seq = p.pos + 1;
SELECT p.id, t.seq, t.key FROM sj_pos p LEFT JOIN sj t ON t.partition = p.part AND t.seq = p.pos + 1
ORDER BY 1;

-- compare(q): whether q, over the topic, plans a TopicSeek whose bounds
-- come from another rel (a bound naming a column), and whether its rows
-- differ from those of q over the heap copy; an error counts as the result
CREATE FUNCTION compare(q text, OUT join_seek bool, OUT rows bigint, OUT differs bool)
LANGUAGE plpgsql AS $$
DECLARE
    line text;
    got text[];
    want text[];
BEGIN
    join_seek := false;
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || format(q, 'sj', 'sj') LOOP
        join_seek := join_seek OR line ~ '^\s*(Partition|Seq From|Seq To|Time From): .*[a-z]\.[a-z]';
    END LOOP;
    BEGIN
        EXECUTE format('SELECT array_agg(r::text ORDER BY r::text) FROM (%s) r', format(q, 'sj', 'sj'))
            INTO got;
    EXCEPTION WHEN OTHERS THEN
        got := ARRAY[SQLERRM];
    END;
    BEGIN
        EXECUTE format('SELECT array_agg(r::text ORDER BY r::text) FROM (%s) r',
                       format(q, 'sj_heap', 'sj_heap')) INTO want;
    EXCEPTION WHEN OTHERS THEN
        want := ARRAY[SQLERRM];
    END;
    rows := coalesce(cardinality(got), 0);
    differs := got IS DISTINCT FROM want;
END
$$;

-- nested loops only, so that every shape below gets its chance to seek
SET enable_hashjoin = off;
SET enable_mergejoin = off;
CREATE TABLE sj_cases (n serial, q text);
INSERT INTO sj_cases (q)
SELECT format('SELECT p.id, t.seq FROM sj_pos p JOIN %%s t ON t.partition = p.%s AND %s', part, b)
FROM unnest(ARRAY['part', 'part8']) part,
     unnest(ARRAY['t.seq = p.pos', 't.seq > p.pos', 't.seq >= p.pos', 't.seq < p.pos', 't.seq <= p.pos',
                  'p.pos < t.seq', 'p.pos >= t.seq', 't.seq = p.pos2', 't.seq > p.pos2',
                  't.seq <= p.pos2 + 3', 't.seq > p.pos AND t.seq <= p.pos + 10',
                  't.seq BETWEEN p.pos - 2 AND p.pos + 2', 't.seq >= p.pos AND t.seq < 100',
                  't.seq > 140 AND t.seq >= p.pos', 't.seq = p.pos AND t.seq >= 0',
                  't.seq >= p.pos AND t.seq = p.pos + 3', 't.seq <> p.pos AND t.seq < 3',
                  't.seq IS NOT DISTINCT FROM p.pos', 't.seq >= coalesce(p.pos, 148)',
                  't.seq >= p.pos::numeric AND t.seq < 4', 't.ts >= p.at', 't.ts > p.at AND t.seq < p.pos',
                  't.ts = p.at', 't.seq > p.pos + 10', 't.seq <= p.pos + 10 AND t.seq > 148']) b;
INSERT INTO sj_cases (q) VALUES
    -- the topic on the nullable side of outer joins, and the other way round
    ('SELECT p.id, t.seq FROM sj_pos p LEFT JOIN %s t ON t.partition = p.part AND t.seq BETWEEN p.pos AND p.pos + 3'),
    ('SELECT p.id, t.seq FROM %s t RIGHT JOIN sj_pos p ON t.partition = p.part AND t.seq > p.pos AND t.seq < p.pos + 3'),
    ('SELECT p.id, t.seq FROM sj_pos p FULL JOIN (SELECT * FROM %s WHERE seq < 3 OR seq > 145) t ON t.partition = p.part AND t.seq = p.pos'),
    ('SELECT t.partition, t.seq, p.id FROM %s t LEFT JOIN sj_pos p ON t.partition = p.part AND t.seq = p.pos WHERE t.seq < 5 OR t.partition = 1'),
    -- semi and anti joins
    ('SELECT p.id FROM sj_pos p WHERE EXISTS (SELECT FROM %s t WHERE t.partition = p.part AND t.seq = p.pos)'),
    ('SELECT p.id FROM sj_pos p WHERE NOT EXISTS (SELECT FROM %s t WHERE t.partition = p.part AND t.seq >= p.pos)'),
    ('SELECT p.id FROM sj_pos p WHERE p.pos IN (SELECT seq FROM %s t WHERE t.partition = p.part)'),
    -- a record and the next one in its partition
    ('SELECT a.seq, b.seq, b.key FROM %s a JOIN %s b ON b.partition = a.partition AND b.seq = a.seq + 1 WHERE a.partition = 1'),
    ('SELECT a.partition, a.seq, b.seq FROM %s a JOIN %s b ON b.partition = a.partition AND b.seq = a.seq - 1 WHERE a.key IN (''p5'', ''k3'', ''p149'')'),
    -- the partition from one rel and the seq from another
    ('SELECT p.id, q.id, t.seq FROM sj_pos p JOIN sj_pos q ON q.id = p.id + 1 JOIN %s t ON t.partition = p.part AND t.seq >= q.pos AND t.seq < q.pos + 3'),
    -- the partition equal to two rels' columns at once
    ('SELECT p.id, t.seq FROM sj_pos p JOIN sj_pos q ON q.part = p.part AND q.id <> p.id JOIN %s t ON t.partition = q.part AND t.seq = p.pos'),
    -- LATERAL with ORDER BY and LIMIT, forward and backward
    ('SELECT p.id, t.seq FROM sj_pos p, LATERAL (SELECT seq FROM %s t WHERE t.partition = p.part AND t.seq > p.pos ORDER BY seq LIMIT 2) t'),
    ('SELECT p.id, t.seq FROM sj_pos p, LATERAL (SELECT seq FROM %s t WHERE t.partition = p.part AND t.seq < p.pos ORDER BY seq DESC LIMIT 2) t'),
    ('SELECT p.id, t.seq FROM sj_pos p, LATERAL (SELECT seq FROM %s t WHERE t.partition = p.part AND t.seq <= p.pos AND t.seq > p.pos - 3) t'),
    -- a view over the topic, and each branch of a UNION ALL
    ('SELECT p.id, t.seq FROM sj_pos p JOIN (SELECT partition, seq FROM %s WHERE seq < 2 UNION ALL SELECT partition, seq FROM %s WHERE seq >= 148) t ON t.partition = p.part AND t.seq >= p.pos');
SELECT n, (compare(q)).* FROM sj_cases ORDER BY n;
-- and the differing queries, if any
SELECT n, q FROM sj_cases WHERE (compare(q)).differs;
RESET enable_hashjoin;
RESET enable_mergejoin;

-- a generic plan of a prepared statement: the outer row's values are
-- parameters of the seek whatever the statement's own parameters are
SET plan_cache_mode = force_generic_plan;
PREPARE next_after(int) AS
SELECT p.id, t.seq FROM sj_pos p JOIN sj t ON t.partition = p.part AND t.seq > p.pos AND t.seq <= p.pos + $1
WHERE p.id IN (2, 4, 12) ORDER BY 1, 2;
EXECUTE next_after(2);
EXECUTE next_after(1);
DEALLOCATE next_after;
RESET plan_cache_mode;

-- a topic of one partition: a join on seq alone seeks its only partition
SELECT topics.create_topic('sj_one', 1);
SELECT count(*) FROM topics.produce_batch('sj_one', ARRAY(SELECT 'o' || g FROM generate_series(0, 499) g),
                                          ARRAY(SELECT 'v' || g FROM generate_series(0, 499) g));
EXPLAIN (COSTS OFF)
SELECT p.id, t.seq FROM sj_pos p JOIN sj_one t ON t.seq BETWEEN p.pos AND p.pos + 1 WHERE p.id IN (1, 4, 12);
SELECT p.id, t.seq, t.key FROM sj_pos p JOIN sj_one t ON t.seq BETWEEN p.pos AND p.pos + 1
ORDER BY 1, 2;
DROP TABLE sj_one;

DROP TABLE sj, sj_heap, sj_pos, sj_cases;
DROP FUNCTION compare(text), buffers_touched(text);
RESET enable_memoize;
