-- Set-up of the retention soak (test/soak/run): one topic that retention
-- keeps at 300 pages while producers append and checkers read, and the
-- check the checkers run.  The directory takes three entries a page
-- (pg_topics.directory_fanout, set for the database by the driver), so it
-- is deep and retention trims it, and pages are reused, all the time.
SELECT topics.create_topic('soak', 1);
INSERT INTO soak (key, value)
SELECT 'k', convert_to(repeat('x', 1500), 'UTF8') FROM generate_series(1, 4000);

-- One random position around the stored range, read four ways.  Below
-- the last stable offset every seq is a committed record (nothing aborts
-- here), so seeks and fetches must find exactly it; above it, running
-- batches may hide records.  Raises an error on any wrong answer.
CREATE FUNCTION soak_check() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    lo bigint;
    hi bigint;
    lo2 bigint;
    x bigint;
    s bigint[];
BEGIN
    SELECT log_start_seq, last_stable_seq INTO lo, hi FROM topics.partition_info('soak');
    x := greatest(0, lo - 20 + floor(random() * (hi - lo + 40))::bigint);

    -- forward seek (TopicSeek): dense up to the stable offset, from x
    s := ARRAY(SELECT seq FROM soak WHERE partition = 0 AND seq >= x ORDER BY seq LIMIT 5);
    s := ARRAY(SELECT e FROM unnest(s) e WHERE e < hi);
    SELECT log_start_seq INTO lo2 FROM topics.partition_bounds('soak');
    IF x < hi AND x >= lo2 AND (cardinality(s) = 0 OR s[1] <> x) THEN
        RAISE EXCEPTION 'seek from % gave % (log start % then %, stable offset %)', x, s, lo, lo2, hi;
    END IF;
    IF cardinality(s) > 1 AND s[cardinality(s)] - s[1] <> cardinality(s) - 1 THEN
        RAISE EXCEPTION 'seek from % not dense: %', x, s;
    END IF;

    -- backward walk (ORDER BY seq DESC)
    s := ARRAY(SELECT seq FROM soak WHERE partition = 0 AND seq <= x ORDER BY seq DESC LIMIT 5);
    SELECT log_start_seq INTO lo2 FROM topics.partition_bounds('soak');
    IF x < hi AND x >= lo2 AND (cardinality(s) = 0 OR s[1] <> x) THEN
        RAISE EXCEPTION 'backward from % gave % (log start %, stable offset %)', x, s, lo2, hi;
    END IF;
    IF x < hi AND cardinality(s) > 1 AND s[1] - s[cardinality(s)] <> cardinality(s) - 1 THEN
        RAISE EXCEPTION 'backward from % not dense: %', x, s;
    END IF;

    -- fetch: from x exactly, or out of range below the log start (or past
    -- the end, which x may be when nothing is running)
    BEGIN
        s := ARRAY(SELECT seq FROM topics.fetch('soak', 0, x, 5));
        IF x < hi AND (cardinality(s) = 0 OR s[1] <> x
                       OR s[cardinality(s)] - s[1] <> cardinality(s) - 1) THEN
            RAISE EXCEPTION 'fetch from % gave %', x, s;
        END IF;
    EXCEPTION WHEN SQLSTATE '22T01' THEN    -- out of range (22023 before 0.14)
        SELECT log_start_seq INTO lo2 FROM topics.partition_bounds('soak');
        IF x >= lo2 AND x <= hi THEN
            RAISE EXCEPTION 'fetch from % out of range with log start %: %', x, lo2, SQLERRM;
        END IF;
    END;

    -- time lookup through the directory
    PERFORM topics.seq_at_time('soak', 0, now() - random() * interval '10 seconds');
    RETURN 1;
END;
$$;

-- A second topic where every other batch aborts, vacuumed (plain and
-- FREEZE) all the time beside its producer: VACUUM marks aborted records'
-- line pointers dead, on the tail page too, while batches append to it.
-- No reader may ever see an aborted record, and no committed one may go
-- missing: the committed batches' seqs are known from the producer's
-- results, recorded in soak_abort_committed.
SELECT topics.create_topic('soak_abort', 1);
CREATE TABLE soak_abort_committed (seq bigint PRIMARY KEY);

CREATE FUNCTION soak_abort_check() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    m bigint;
BEGIN
    SELECT count(*) INTO n FROM soak_abort WHERE key = 'a';
    IF n <> 0 THEN
        RAISE EXCEPTION '% aborted records visible to a scan', n;
    END IF;
    SELECT count(*) INTO n FROM topics.fetch('soak_abort', 0, 0, 1000000) WHERE key = 'a';
    IF n <> 0 THEN
        RAISE EXCEPTION '% aborted records returned by fetch', n;
    END IF;
    -- every committed batch recorded so far is there, with its value
    SELECT count(*), count(s.seq) INTO n, m
    FROM soak_abort_committed c LEFT JOIN soak_abort s
        ON s.partition = 0 AND s.seq = c.seq AND s.value = convert_to('committed', 'UTF8');
    IF n <> m THEN
        RAISE EXCEPTION '% of % committed records missing', n - m, n;
    END IF;
    RETURN 1;
END;
$$;
