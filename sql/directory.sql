--
-- The directory (a B-link tree per partition over its data pages) is
-- trimmed by retention: directory pages that lead only to removed data
-- pages go to the partition's free list with them and are reused, so a
-- long-lived topic keeps a directory proportional to what it retains.
-- Seeks, fetches, backward walks and time lookups stay correct meanwhile.
--
\set VERBOSITY terse
CREATE EXTENSION pageinspect;

-- pages of a topic by kind, read off each page's special space
-- (kind at byte 24, level at byte 26; see TopicPageOpaqueData)
CREATE FUNCTION page_kinds(t regclass)
RETURNS TABLE(kind text, pages bigint)
LANGUAGE sql AS $$
    SELECT CASE get_byte(p, s + 24)
               WHEN 1 THEN 'meta' WHEN 2 THEN 'state' WHEN 3 THEN 'data'
               WHEN 4 THEN 'dir level ' || get_byte(p, s + 26)
               WHEN 5 THEN 'free' ELSE 'other' END,
           count(*)
    FROM generate_series(0, (pg_relation_size(t) / 8192)::int - 1) b,
         LATERAL (SELECT get_raw_page(t::text, b) AS p) r,
         LATERAL (SELECT (page_header(r.p)).special AS s) h
    GROUP BY 1 ORDER BY 1
$$;
CREATE FUNCTION dir_pages(t regclass) RETURNS bigint
LANGUAGE sql AS $$
    SELECT coalesce(sum(pages), 0)::bigint FROM page_kinds(t) WHERE kind LIKE 'dir%'
$$;

-- every stored record as a reader sees it, to compare reads against
CREATE TABLE dir_copy (seq bigint PRIMARY KEY, key text, digest text);

-- Does every way of reading agree with dir_copy over the live records?
CREATE FUNCTION check_reads(t regclass) RETURNS TABLE(check_name text, ok boolean)
LANGUAGE plpgsql AS $$
DECLARE
    lo bigint;
    hi bigint;
    x bigint;
    got bigint;
    bad int := 0;
    same boolean;
BEGIN
    SELECT log_start_seq, next_seq INTO lo, hi FROM topics.partition_bounds(t);

    -- fetch from the log start to the end
    check_name := 'fetch walk equals the copy';
    ok := hi > lo AND NOT EXISTS (
        (SELECT seq, key, md5(value) FROM topics.fetch(t, 0, lo, 100000)
         EXCEPT ALL SELECT seq, key, digest FROM dir_copy WHERE seq >= lo)
        UNION ALL
        (SELECT seq, key, digest FROM dir_copy WHERE seq >= lo
         EXCEPT ALL SELECT seq, key, md5(value) FROM topics.fetch(t, 0, lo, 100000)));
    RETURN NEXT;

    -- a seek (TopicSeek) and a fetch from every 7th live seq find that record
    FOR x IN SELECT g FROM generate_series(lo, hi - 1, 7) g LOOP
        EXECUTE format('SELECT seq FROM %s WHERE partition = 0 AND seq >= $1 ORDER BY seq LIMIT 1', t)
            INTO got USING x;
        IF got IS DISTINCT FROM x THEN bad := bad + 1; END IF;
        SELECT f.seq INTO got FROM topics.fetch(t, 0, x, 1) f;
        IF got IS DISTINCT FROM x THEN bad := bad + 1; END IF;
        EXECUTE format('SELECT seq FROM %s WHERE partition = 0 AND seq <= $1 ORDER BY seq DESC LIMIT 1', t)
            INTO got USING x;
        IF got IS DISTINCT FROM x THEN bad := bad + 1; END IF;
    END LOOP;
    check_name := 'seeks forward and backward from every 7th seq';
    ok := bad = 0;
    RETURN NEXT;

    -- the whole partition backward
    check_name := 'backward walk equals the copy';
    EXECUTE format('SELECT count(*) FROM (SELECT seq, lag(seq) OVER () AS prev
                    FROM (SELECT seq FROM %s WHERE partition = 0 ORDER BY seq DESC) d) w
                    WHERE prev IS NOT NULL AND prev <> seq + 1', t) INTO got;
    EXECUTE format('SELECT count(*) = $1 FROM %s WHERE partition = 0', t) INTO ok USING hi - lo;
    ok := ok AND got = 0;
    RETURN NEXT;

    -- time lookups: before everything is the log start, and each record's
    -- own timestamp finds the first record with that timestamp
    check_name := 'seq_at_time';
    ok := topics.seq_at_time(t, 0, '2000-01-01') = lo;
    EXECUTE format('SELECT seq FROM %s WHERE partition = 0 AND ts >= $1 ORDER BY seq LIMIT 1', t)
        INTO got USING '2000-01-01'::timestamptz;
    ok := ok AND got = lo;
    EXECUTE format('SELECT bool_and(topics.seq_at_time($1, 0, ts) =
                        (SELECT min(seq) FROM %s s WHERE s.partition = 0 AND s.ts = r.ts))
                    FROM (SELECT ts FROM %s WHERE partition = 0 AND seq %% 97 = 0) r', t, t)
        INTO STRICT same USING t;
    ok := ok AND same;
    RETURN NEXT;

    -- below the log start: fetch says so, SELECT starts at the log start
    IF lo > 0 THEN
        check_name := 'fetch below the log start fails';
        BEGIN
            PERFORM * FROM topics.fetch(t, 0, lo - 1, 1);
            ok := false;
        EXCEPTION WHEN SQLSTATE '22T01' THEN    -- Kafka's OffsetOutOfRange
            ok := SQLERRM LIKE 'seq % is out of range for partition 0 of topic %';
        END;
        RETURN NEXT;
        check_name := 'SELECT from below the log start starts at it';
        EXECUTE format('SELECT min(seq) FROM (SELECT seq FROM %s WHERE partition = 0 AND seq >= $1
                        ORDER BY seq LIMIT 3) s', t) INTO got USING lo - 100;
        ok := got = lo;
        RETURN NEXT;
    END IF;
END;
$$;

-- Produce n records of 1900 bytes (four to a data page), one transaction
-- per 50, each with its own timestamp, and remember them.
CREATE PROCEDURE produce_pages(t regclass, n int)
LANGUAGE plpgsql AS $$
DECLARE
    base bigint;
BEGIN
    FOR i IN 1..n / 50 LOOP
        SELECT next_seq INTO base FROM topics.partition_bounds(t);
        INSERT INTO dir_copy
        SELECT p.seq, v.key, md5(v.value)
        FROM (SELECT g, 'k' || (base + g) AS key,
                     convert_to(repeat(md5((base + g)::text), 59) || lpad(g::text, 12), 'UTF8') AS value
              FROM generate_series(0, 49) g) v,
             LATERAL topics.produce(t, v.key, v.value, partition => 0) p;
        COMMIT;
    END LOOP;
END;
$$;

--
-- 1. Deep directory (four entries a page), retention removes most of it
--
SET pg_topics.directory_fanout = 4;
SELECT topics.create_topic('dirt', 1);
CALL produce_pages('dirt', 1600);          -- 400 data pages
SELECT * FROM page_kinds('dirt');
SELECT * FROM check_reads('dirt');

-- keep about 40 data pages: the leaves and upper pages left of them go
SELECT (SELECT sum(pages_removed) FROM topics._apply_retention('dirt', NULL, 40 * 8192)) AS pages_removed,
       (SELECT count(*) FROM dir_copy) - (SELECT next_seq - log_start_seq FROM topics.partition_bounds('dirt')) AS records_gone;
SELECT * FROM page_kinds('dirt');
SELECT * FROM check_reads('dirt');

-- a second run finds nothing more to free
SELECT pages_removed FROM topics._apply_retention('dirt', NULL, 40 * 8192);

-- producing again reuses the freed pages (new data and directory pages
-- alike come from the free list), and reads stay right
SELECT pg_relation_size('dirt') / 8192 AS blocks_before \gset
CALL produce_pages('dirt', 1000);          -- 250 more data pages
SELECT pg_relation_size('dirt') / 8192 - :blocks_before AS blocks_added,
       (SELECT pages FROM page_kinds('dirt') WHERE kind = 'free') AS free_left;
SELECT * FROM check_reads('dirt');

-- cycles of produce and retention: the directory stays proportional to
-- the data kept, and the file stops growing
CREATE PROCEDURE produce_and_retain(t regclass, cycles int)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..cycles LOOP
        CALL produce_pages(t, 400);
        PERFORM * FROM topics._apply_retention(t, NULL, 40 * 8192);
        COMMIT;
    END LOOP;
END;
$$;
CALL produce_and_retain('dirt', 6);
SELECT pg_relation_size('dirt') / 8192 AS blocks_cycle \gset
CALL produce_and_retain('dirt', 6);
SELECT pg_relation_size('dirt') / 8192 <= :blocks_cycle AS file_stopped_growing,
       dir_pages('dirt') <= 40 AS directory_bounded,
       (SELECT pages FROM page_kinds('dirt') WHERE kind = 'data') AS data_pages;
SELECT * FROM page_kinds('dirt');
SELECT * FROM check_reads('dirt');
RESET pg_topics.directory_fanout;

--
-- 2. The real fanout: the first leaves go once all their pages are removed
--
TRUNCATE dir_copy;
SELECT topics.create_topic('dirt_wide', 1);
CALL produce_pages('dirt_wide', 3200);     -- 800 data pages, three leaves
SELECT * FROM page_kinds('dirt_wide');
SELECT sum(pages_removed) AS pages_removed FROM topics._apply_retention('dirt_wide', NULL, 100 * 8192);
SELECT * FROM page_kinds('dirt_wide');
SELECT * FROM check_reads('dirt_wide');

--
-- 3. A split cut short (an error after its first WAL record, as when no
-- page can be had for the parent's entry), then retention down to the
-- tail: the leaf left of the new half stays, as its parent's last entry is
-- the only way down to the right edge until the split is finished, and the
-- next appends finish it and reuse the freed pages.  (0.16 freed that leaf;
-- the next append that took it from the free list as its new tail page
-- waited for its own lock for good.)
--
TRUNCATE dir_copy;
SET pg_topics.directory_fanout = 3;
SELECT topics.create_topic('dirt_cut', 1);
CALL produce_pages('dirt_cut', 100);
CREATE PROCEDURE produce_until_split_fails(t regclass)
LANGUAGE plpgsql AS $$
DECLARE
    s bigint;
BEGIN
    FOR i IN 1..100 LOOP
        BEGIN
            SELECT p.seq INTO s FROM topics.produce(t, 'cut' || i,
                convert_to(repeat(md5(i::text), 59), 'UTF8'), partition => 0) p;
            INSERT INTO dir_copy VALUES (s, 'cut' || i, md5(convert_to(repeat(md5(i::text), 59), 'UTF8')));
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'record % failed: %', i, SQLERRM;
            RETURN;
        END;
        COMMIT;
    END LOOP;
END;
$$;
SET pg_topics.debug_fail_in_split = 0;
CALL produce_until_split_fails('dirt_cut');
RESET pg_topics.debug_fail_in_split;
SELECT pages_removed FROM topics._apply_retention('dirt_cut', NULL, 0);
SELECT * FROM page_kinds('dirt_cut');
CALL produce_pages('dirt_cut', 200);
SELECT * FROM page_kinds('dirt_cut');
SELECT * FROM check_reads('dirt_cut');
RESET pg_topics.directory_fanout;

--
-- 4. An append that fails while finishing a split cut short, after it
-- linked its new data page (the page's own entry comes after): the page is
-- flagged, and the partition's next new page makes its entry first.  Then
-- retention down to that page, whose freed predecessors the next appends
-- reuse.  (Until 0.17 the page never got an entry: once the page of the
-- last entry before it was reused for newer records, a seek into it landed
-- there and skipped its records.)
--
TRUNCATE dir_copy;
SET pg_topics.directory_fanout = 3;
SELECT topics.create_topic('dirt_link', 1);
CALL produce_pages('dirt_link', 100);
SET pg_topics.debug_fail_in_split = 0;
CALL produce_until_split_fails('dirt_link');
SET pg_topics.debug_fail_in_split = 1;
CALL produce_until_split_fails('dirt_link');
RESET pg_topics.debug_fail_in_split;
-- the tail (partition 0's state: block 1, tail block at byte 44) is the
-- page the failed append linked, flagged as without an entry (0x0008 at
-- byte 28 of the special space)
CREATE FUNCTION tail_flags(t regclass) RETURNS int LANGUAGE sql AS $$
    SELECT get_byte(p, (page_header(p)).special + 28)
    FROM (SELECT get_raw_page(t::text, get_byte(sp, 44) + get_byte(sp, 45) * 256 +
                                       get_byte(sp, 46) * 65536) AS p
          FROM (SELECT get_raw_page(t::text, 1) AS sp) s) d
$$;
SELECT tail_flags('dirt_link') & 8 AS tail_without_entry;
SELECT pages_removed > 0 AS removed FROM topics._apply_retention('dirt_link', NULL, 0);
CALL produce_pages('dirt_link', 400);
SELECT tail_flags('dirt_link') & 8 AS tail_without_entry;
SELECT * FROM check_reads('dirt_link');
RESET pg_topics.directory_fanout;

--
-- 5. A data page without a directory entry and without the flag, as a
-- crash between the two WAL records left them under builds before 0.17
-- (pg_topics.debug_skip_directory_entry links pages so).  Once retention
-- freed the page of the entry before it and appends reused that, the entry
-- leads to a page that starts later than the entry says: readers go on from
-- the head instead of taking it for a gap of explicit seqs (until 0.17 they
-- skipped the page's records).
--
TRUNCATE dir_copy;
SET pg_topics.directory_fanout = 3;
SELECT topics.create_topic('dirt_legacy', 1);
CALL produce_pages('dirt_legacy', 100);
SET pg_topics.debug_skip_directory_entry = on;
CALL produce_pages('dirt_legacy', 50);     -- its pages get no entry
RESET pg_topics.debug_skip_directory_entry;
SELECT pages_removed > 0 AS removed FROM topics._apply_retention('dirt_legacy', NULL, 0);
CALL produce_pages('dirt_legacy', 200);
SELECT * FROM check_reads('dirt_legacy');
RESET pg_topics.directory_fanout;

-- only superusers may change the fanout or the split-failure test hook,
-- and both are bounded
SET pg_topics.directory_fanout = 2;
SET pg_topics.debug_fail_in_split = -2;
CREATE ROLE dir_user;
SET ROLE dir_user;
SET pg_topics.directory_fanout = 10;
SET pg_topics.debug_fail_in_split = 0;
SET pg_topics.debug_skip_directory_entry = on;
RESET ROLE;
DROP ROLE dir_user;

SELECT topics.drop_topic('dirt');
SELECT topics.drop_topic('dirt_wide');
SELECT topics.drop_topic('dirt_cut');
SELECT topics.drop_topic('dirt_link');
SELECT topics.drop_topic('dirt_legacy');
DROP FUNCTION tail_flags(regclass);
DROP PROCEDURE produce_until_split_fails(regclass);
DROP TABLE dir_copy;
DROP FUNCTION check_reads(regclass);
DROP PROCEDURE produce_and_retain(regclass, int);
DROP PROCEDURE produce_pages(regclass, int);
DROP FUNCTION dir_pages(regclass);
DROP FUNCTION page_kinds(regclass);
DROP EXTENSION pageinspect;
