/* pg_topics 0.7 -> 0.8: consume goes on to the next partition when the one with the largest lag has nothing to read yet; auto_offset_reset 'latest' starts at the last stable offset */

\echo Use "ALTER EXTENSION pg_topics UPDATE TO '0.8'" to load this file. \quit

-- Until 0.8 consume took the one partition with the largest lag (next_seq
-- minus the committed position) that no other member held, and returned
-- nothing when that partition had no record to read, though others had:
--  * its records after the position were all aborted: _consume_partition
--    did not move the position past them, so the lag stayed and every
--    later call chose the partition again, and the group stopped for good
--    (until someone produced to that partition);
--  * its records after the position belonged to a transaction still open
--    (a long batch, a prepared transaction): the group stopped until that
--    transaction ended.
-- Since 0.8 _consume_partition (C) moves the position past aborted records
-- it reads over and up to the log start (so a partition that retention or
-- TRUNCATE emptied below the position no longer shows a lag to consume),
-- and consume tries the partitions in order of lag, taking the next one
-- when a partition hands out nothing.  The partitions it tried stay locked
-- by the caller until its transaction ends, as the partition it reads from
-- does (other members skip them, and they have nothing to read).
--
-- And a new group with auto_offset_reset 'latest' started at next_seq, so
-- the records of a transaction running at that moment, which committed
-- later, were never delivered to it; since 0.8 it starts at the last stable
-- offset (get_shard_iterator's LATEST likewise, in C).
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
    deadline timestamptz;
    tried integer[];
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
            IF reset = 'latest' THEN
                -- the last stable offset: records of a transaction still
                -- running come before next_seq and are the group's once it
                -- commits (Kafka's read_committed "latest" is the LSO)
                INSERT INTO topics.committed_offsets AS o (group_id, topic, partition, seq)
                SELECT consume.group_id, consume.topic, i.partition, i.last_stable_seq
                FROM topics.partition_info(consume.topic) i
                WHERE NOT EXISTS (SELECT 1 FROM topics.committed_offsets x
                                  WHERE x.group_id = consume.group_id AND x.topic = consume.topic
                                    AND x.partition = i.partition)
                ON CONFLICT ON CONSTRAINT committed_offsets_pkey DO NOTHING;
            ELSE
                INSERT INTO topics.committed_offsets AS o (group_id, topic, partition, seq)
                SELECT consume.group_id, consume.topic, b.partition, b.log_start_seq
                FROM topics.partition_bounds(consume.topic) b
                WHERE NOT EXISTS (SELECT 1 FROM topics.committed_offsets x
                                  WHERE x.group_id = consume.group_id AND x.topic = consume.topic
                                    AND x.partition = b.partition)
                ON CONFLICT ON CONSTRAINT committed_offsets_pkey DO NOTHING;
            END IF;
        END IF;
    END IF;

    LOOP
        IF wait > interval '0' THEN
            gen := topics._wait_generation(consume.topic);   -- before looking
        END IF;
        tried := '{}';
        LOOP
            -- the partition with the most records waiting that no other
            -- member of the group holds and this call has not tried; the
            -- row lock lasts until our transaction ends
            SELECT o.partition, o.seq INTO part, pos
            FROM topics.committed_offsets o
            JOIN topics.partition_bounds(consume.topic) b ON b.partition = o.partition
            WHERE o.group_id = consume.group_id AND o.topic = consume.topic
              AND b.next_seq > o.seq
              AND o.partition <> ALL (tried)
            ORDER BY b.next_seq - o.seq DESC, o.partition
            FOR UPDATE OF o SKIP LOCKED
            LIMIT 1;
            EXIT WHEN NOT FOUND;

            -- the records, and the group's offset moved past the last one
            -- (a position that retention removed goes on at the log start,
            -- as a Kafka consumer resets on OffsetOutOfRange); when the
            -- partition has none to read yet (a transaction still open), or
            -- only aborted ones or none after the log start, which the
            -- offset moves past, the next partition
            RETURN QUERY SELECT * FROM topics._consume_partition(consume.group_id, consume.topic,
                                                                 part, pos, consume.max_records);
            IF FOUND THEN
                RETURN;
            END IF;
            tried := tried || part;
        END LOOP;

        EXIT WHEN clock_timestamp() >= deadline;
        EXIT WHEN NOT topics._wait_for_records(consume.topic, gen, deadline);
    END LOOP;
END;
$$;
