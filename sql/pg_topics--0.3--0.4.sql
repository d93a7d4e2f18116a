/* pg_topics 0.3 -> 0.4: a member's first consume of a new group does not wait for another's */

\echo Use "ALTER EXTENSION pg_topics UPDATE TO '0.4'" to load this file. \quit

-- The first consume of a brand-new group (or of partitions added since the
-- last call) makes the group's rows.  Until that transaction ends they are
-- invisible to the group's other members, and the unique index made a
-- second member's insert wait for it: its consume blocked for as long as
-- the first member's transaction ran, whatever its "wait".  Now one member
-- makes the rows, under an advisory lock on the group; the others see the
-- lock taken and find nothing to take yet, as when other members hold
-- every partition, and come back.
CREATE OR REPLACE FUNCTION topics.consume(group_id text, topic regclass, max_records integer DEFAULT 1000,
                               wait interval DEFAULT '0')
RETURNS SETOF topics.record
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reset text;
    gen bigint;
    part integer;
    pos bigint;
    log_start bigint;
    last bigint;
    r topics.record;
    deadline timestamptz;
BEGIN
    IF group_id IS NULL OR topic IS NULL OR max_records IS NULL OR wait IS NULL THEN
        RAISE EXCEPTION 'group_id, topic, max_records and wait must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF max_records < 1 THEN
        RAISE EXCEPTION 'max_records must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF wait < interval '0' THEN
        RAISE EXCEPTION 'wait must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    deadline := clock_timestamp() + wait;
    PERFORM topics.partition_bounds(consume.topic);    -- a topic, readable by the caller

    -- A new group (or new partitions) start where auto_offset_reset says.
    -- The member that makes the rows holds an advisory lock on the group
    -- until its transaction ends, and until then the rows are invisible to
    -- the other members, whose inserts would wait for that transaction:
    -- instead they leave the rows to it and find nothing to take yet, as
    -- when other members hold every partition.
    IF NOT EXISTS (SELECT 1 FROM topics.consumer_groups g
                   WHERE g.group_id = consume.group_id AND g.topic = consume.topic)
       OR EXISTS (SELECT 1 FROM topics.partition_bounds(consume.topic) b
                  WHERE NOT EXISTS (SELECT 1 FROM topics.committed_offsets x
                                    WHERE x.group_id = consume.group_id
                                      AND x.topic = consume.topic
                                      AND x.partition = b.partition)) THEN
        IF pg_try_advisory_xact_lock(hashtextextended('pg_topics consumer group '
                                                      || consume.topic::oid || ' '
                                                      || consume.group_id, 0)) THEN
            INSERT INTO topics.consumer_groups AS g (group_id, topic)
            VALUES (consume.group_id, consume.topic)
            ON CONFLICT ON CONSTRAINT consumer_groups_pkey DO NOTHING;
            SELECT g.auto_offset_reset INTO reset FROM topics.consumer_groups g
            WHERE g.group_id = consume.group_id AND g.topic = consume.topic;
            INSERT INTO topics.committed_offsets AS o (group_id, topic, partition, seq)
            SELECT consume.group_id, consume.topic, b.partition,
                   CASE WHEN reset = 'latest' THEN b.next_seq ELSE b.log_start_seq END
            FROM topics.partition_bounds(consume.topic) b
            WHERE NOT EXISTS (SELECT 1 FROM topics.committed_offsets x
                              WHERE x.group_id = consume.group_id AND x.topic = consume.topic
                                AND x.partition = b.partition)
            ON CONFLICT ON CONSTRAINT committed_offsets_pkey DO NOTHING;
        END IF;
    END IF;

    LOOP
        IF wait > interval '0' THEN
            gen := topics._wait_generation(consume.topic);   -- before looking
        END IF;
        -- the partition with the most records waiting that no other member
        -- of the group holds; the row lock lasts until our transaction ends
        SELECT o.partition, o.seq, b.log_start_seq INTO part, pos, log_start
        FROM topics.committed_offsets o
        JOIN topics.partition_bounds(consume.topic) b ON b.partition = o.partition
        WHERE o.group_id = consume.group_id AND o.topic = consume.topic
          AND b.next_seq > o.seq
        ORDER BY b.next_seq - o.seq DESC, o.partition
        FOR UPDATE OF o SKIP LOCKED
        LIMIT 1;

        IF FOUND THEN
            IF pos < log_start THEN
                pos := log_start;       -- records before the log start are gone
            END IF;
            last := NULL;
            BEGIN
                FOR r IN SELECT * FROM topics.fetch(consume.topic, part, pos, consume.max_records) LOOP
                    RETURN NEXT r;
                    last := r.seq;
                END LOOP;
            EXCEPTION WHEN invalid_parameter_value THEN
                -- retention removed pos since we read the log start (fetch
                -- fails before its first record): go on at the new log
                -- start, as a Kafka consumer resets on OffsetOutOfRange
                SELECT b.log_start_seq INTO log_start
                FROM topics.partition_bounds(consume.topic) b WHERE b.partition = part;
                IF pos >= log_start THEN
                    RAISE;
                END IF;
                CONTINUE;
            END;
            IF last IS NOT NULL THEN
                UPDATE topics.committed_offsets o SET seq = last + 1, committed_at = now()
                WHERE o.group_id = consume.group_id AND o.topic = consume.topic
                  AND o.partition = part;
                RETURN;
            END IF;
        END IF;

        EXIT WHEN clock_timestamp() >= deadline;
        EXIT WHEN NOT topics._wait_for_records(consume.topic, gen, deadline);
    END LOOP;
END;
$$;
