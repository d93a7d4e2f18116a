-- pg_topics 0.13 -> 0.14
--
-- A read position outside a partition's log (Kafka's OffsetOutOfRange) has
-- a SQLSTATE of its own, 22T01, in fetch, get_shard_iterator, get_records
-- (the C functions) and here; an expired shard iterator has 22T02.  Both
-- were 22023 (invalid_parameter_value), as a mistaken argument is.  The
-- body of commit is that of 0.13 but for the SQLSTATE.
--
-- The module of 0.14 also seeks a topic with bounds from join clauses
-- (TopicSeek on the inner side of a nested loop), which needs nothing here.
CREATE OR REPLACE FUNCTION topics.commit(group_id text, topic regclass, partition integer, seq bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b record;
BEGIN
    IF group_id IS NULL OR topic IS NULL OR partition IS NULL OR seq IS NULL THEN
        RAISE EXCEPTION 'group_id, topic, partition and seq must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM topics._check_group_id(commit.group_id);
    SELECT * INTO b FROM topics._partition_position(commit.topic, commit.partition);
    IF b.next_seq IS NULL THEN
        RAISE EXCEPTION 'partition % of topic "%" does not exist', partition,
                        (SELECT c.relname FROM pg_class c WHERE c.oid = topic)
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = CASE WHEN b.partitions = 1 THEN 'The topic has 1 partition, numbered 0.'
                                ELSE format('The topic has %s partitions, numbered 0 to %s.',
                                            b.partitions, b.partitions - 1) END,
                  HINT = CASE WHEN b.partitions = 1 THEN 'Use partition 0.'
                              ELSE format('Use a partition from 0 to %s.', b.partitions - 1) END;
    END IF;
    IF seq < 0 OR seq > b.next_seq THEN
        RAISE EXCEPTION 'seq % is out of range for partition % of topic "%"', seq, partition,
                        (SELECT c.relname FROM pg_class c WHERE c.oid = topic)
            USING ERRCODE = '22T01',
                  DETAIL = format('A committed position is the next seq to read, between 0 and the next seq %s.', b.next_seq);
    END IF;
    INSERT INTO topics.consumer_groups AS g (group_id, topic)
    VALUES (commit.group_id, commit.topic)
    ON CONFLICT ON CONSTRAINT consumer_groups_pkey DO NOTHING;
    -- a position that exists moves; a new one notes the partition count
    -- (see consume)
    UPDATE topics.committed_offsets o SET seq = commit.seq, committed_at = now()
    WHERE o.group_id = commit.group_id AND o.topic = commit.topic AND o.partition = commit.partition;
    IF NOT FOUND THEN
        INSERT INTO topics.committed_offsets AS o (group_id, topic, partition, seq, topic_partitions)
        VALUES (commit.group_id, commit.topic, commit.partition, commit.seq, b.partitions)
        ON CONFLICT ON CONSTRAINT committed_offsets_pkey
        DO UPDATE SET seq = EXCLUDED.seq, committed_at = now();
    END IF;
END;
$$;
