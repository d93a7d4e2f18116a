/* pg_topics--0.1.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION pg_topics" to load this file. \quit

-- The extension lives in schema "topics" (see pg_topics.control).

------------------------------------------------------------------------
-- The table access method
------------------------------------------------------------------------

CREATE FUNCTION topics.topic_log_handler(internal)
RETURNS table_am_handler
AS 'MODULE_PATHNAME', 'topic_log_handler'
LANGUAGE C STRICT;
COMMENT ON FUNCTION topics.topic_log_handler(internal) IS
'table access method handler of topic_log';

CREATE ACCESS METHOD topic_log TYPE TABLE HANDLER topics.topic_log_handler;
COMMENT ON ACCESS METHOD topic_log IS
'append-only, partitioned, WAL-logged record log with dense per-partition offsets';

------------------------------------------------------------------------
-- Types
------------------------------------------------------------------------

CREATE TYPE topics.record AS (
    partition integer,
    seq bigint,
    ts timestamptz,
    key text,
    value bytea,
    headers jsonb
);
COMMENT ON TYPE topics.record IS
'one record of a topic: partition, offset in the partition (seq), append timestamp, key, value, headers';

CREATE TYPE topics.produce_result AS (
    partition integer,
    seq bigint
);
COMMENT ON TYPE topics.produce_result IS
'where a produced record was stored';

------------------------------------------------------------------------
-- Topic life cycle
------------------------------------------------------------------------

CREATE FUNCTION topics._set_partitions(topic regclass, partitions integer)
RETURNS void
AS 'MODULE_PATHNAME', 'pg_topics_set_partitions'
LANGUAGE C STRICT;
COMMENT ON FUNCTION topics._set_partitions(regclass, integer) IS
'internal: grow a topic to the given number of partitions';

CREATE FUNCTION topics.create_topic(name text, partitions integer DEFAULT 1)
RETURNS regclass
LANGUAGE plpgsql
AS $$
DECLARE
    ident text[];
    qualified text;
    rel regclass;
BEGIN
    IF name IS NULL THEN
        RAISE EXCEPTION 'topic name must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF partitions IS NULL OR partitions < 1 THEN
        RAISE EXCEPTION 'partition count must be at least 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('%s partitions were requested.', coalesce(partitions::text, 'NULL'));
    END IF;
    -- the name follows SQL identifier rules, like a regclass: unquoted
    -- parts fold to lower case, "Quoted" parts keep their case
    ident := parse_ident(name);
    SELECT string_agg(quote_ident(part), '.') INTO qualified FROM unnest(ident) AS part;
    EXECUTE format('CREATE TABLE %s (partition integer, seq bigint, ts timestamptz, '
                   'key text, value bytea, headers jsonb) USING topic_log', qualified);
    rel := qualified::regclass;
    PERFORM topics._set_partitions(rel, partitions);
    RETURN rel;
END;
$$;
COMMENT ON FUNCTION topics.create_topic(text, integer) IS
'create a topic (a table using topic_log) with the given number of partitions';

CREATE FUNCTION topics.alter_topic(topic regclass, partitions integer DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF topic IS NULL THEN
        RAISE EXCEPTION 'topic must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF partitions IS NOT NULL THEN
        -- more partitions only: keys hash modulo the count, so existing
        -- keys may map to new partitions from now on, as in Kafka
        PERFORM topics._set_partitions(topic, partitions);
    END IF;
END;
$$;
COMMENT ON FUNCTION topics.alter_topic(regclass, integer) IS
'change a topic: add partitions (fewer is an error)';

CREATE FUNCTION topics.drop_topic(topic regclass)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF topic IS NULL THEN
        RAISE EXCEPTION 'topic must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_am a ON a.oid = c.relam
                   WHERE c.oid = topic AND a.amname = 'topic_log') THEN
        RAISE EXCEPTION '"%" is not a topic', topic
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Topics are tables that use the topic_log access method.';
    END IF;
    EXECUTE format('DROP TABLE %s', topic);
END;
$$;
COMMENT ON FUNCTION topics.drop_topic(regclass) IS
'drop a topic and all of its records and metadata (same as DROP TABLE)';

------------------------------------------------------------------------
-- Producing
------------------------------------------------------------------------

CREATE FUNCTION topics.produce(topic regclass, key text, value bytea,
                               headers jsonb DEFAULT NULL, partition integer DEFAULT NULL)
RETURNS SETOF topics.produce_result
AS 'MODULE_PATHNAME', 'pg_topics_produce'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION topics.produce(regclass, text, bytea, jsonb, integer) IS
'append one record; the partition comes from the key (Kafka murmur2) unless given';

CREATE FUNCTION topics.produce(topic regclass, key text, value text,
                               headers jsonb DEFAULT NULL, partition integer DEFAULT NULL)
RETURNS SETOF topics.produce_result
AS 'MODULE_PATHNAME', 'pg_topics_produce'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION topics.produce(regclass, text, text, jsonb, integer) IS
'append one record whose value is text, stored as its UTF-8 bytes';

CREATE FUNCTION topics.produce(topic regclass, key text, value jsonb,
                               headers jsonb DEFAULT NULL, partition integer DEFAULT NULL)
RETURNS SETOF topics.produce_result
AS 'MODULE_PATHNAME', 'pg_topics_produce'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION topics.produce(regclass, text, jsonb, jsonb, integer) IS
'append one record whose value is a JSON document, stored as its UTF-8 text';

CREATE FUNCTION topics.produce_batch(topic regclass, keys text[], "values" bytea[],
                                     headers jsonb[] DEFAULT NULL, partition integer DEFAULT NULL)
RETURNS SETOF topics.produce_result
AS 'MODULE_PATHNAME', 'pg_topics_produce_batch'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION topics.produce_batch(regclass, text[], bytea[], jsonb[], integer) IS
'append many records in one call; one result row per input record, in input order';

CREATE FUNCTION topics.produce_batch(topic regclass, keys text[], "values" text[],
                                     headers jsonb[] DEFAULT NULL, partition integer DEFAULT NULL)
RETURNS SETOF topics.produce_result
AS 'MODULE_PATHNAME', 'pg_topics_produce_batch'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION topics.produce_batch(regclass, text[], text[], jsonb[], integer) IS
'append many records whose values are text in one call';

------------------------------------------------------------------------
-- Reading
------------------------------------------------------------------------

CREATE FUNCTION topics.fetch(topic regclass, partition integer, from_seq bigint,
                             max_records integer DEFAULT 1000, max_bytes integer DEFAULT NULL,
                             wait interval DEFAULT '0')
RETURNS SETOF topics.record
AS 'MODULE_PATHNAME', 'pg_topics_fetch'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION topics.fetch(regclass, integer, bigint, integer, integer, interval) IS
'records of one partition with seq >= from_seq in seq order, stopping before the first record of an uncommitted transaction; waits up to "wait" for a commit when there is none';

CREATE FUNCTION topics.partition_info(topic regclass)
RETURNS TABLE(partition integer, log_start_seq bigint, next_seq bigint,
              last_stable_seq bigint, record_count bigint, bytes bigint)
AS 'MODULE_PATHNAME', 'pg_topics_partition_info'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION topics.partition_info(regclass) IS
'per-partition offsets and sizes of one topic';

CREATE VIEW topics.partitions AS
    SELECT c.oid::regclass AS topic, p.*
    FROM pg_class c
    JOIN pg_am a ON a.oid = c.relam AND a.amname = 'topic_log'
    CROSS JOIN LATERAL topics.partition_info(c.oid::regclass) AS p
    WHERE c.relkind = 'r' AND has_table_privilege(c.oid, 'SELECT');
COMMENT ON VIEW topics.partitions IS
'one row per partition of every topic the current user can read: log start, high watermark (next_seq), last stable offset, records and bytes';

CREATE VIEW topics.topics AS
    SELECT c.oid::regclass AS topic,
           n.nspname AS schema_name,
           c.relname AS topic_name,
           (SELECT count(*) FROM topics.partition_info(c.oid::regclass))::integer AS partitions,
           pg_table_size(c.oid) AS bytes
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_am a ON a.oid = c.relam AND a.amname = 'topic_log'
    WHERE c.relkind = 'r' AND has_table_privilege(c.oid, 'SELECT');
COMMENT ON VIEW topics.topics IS
'every topic the current user can read, with its partition count and size';

------------------------------------------------------------------------
-- Kinesis-style shard iterators and the time index
------------------------------------------------------------------------

-- The key that signs shard iterators: random, private to the extension
-- owner, replicated with the database (so iterators work on standbys).
CREATE TABLE topics._secret (secret bytea NOT NULL);
INSERT INTO topics._secret
    SELECT decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex');
REVOKE ALL ON topics._secret FROM PUBLIC;
COMMENT ON TABLE topics._secret IS
'internal: the key that signs shard iterators';

CREATE FUNCTION topics.seq_at_time(topic regclass, partition integer, at timestamptz)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pg_topics_seq_at_time'
LANGUAGE C CALLED ON NULL INPUT STABLE;
COMMENT ON FUNCTION topics.seq_at_time(regclass, integer, timestamptz) IS
'first seq of the partition whose record has ts >= at (next_seq when none), like Kafka''s ListOffsets by timestamp';

CREATE FUNCTION topics.get_shard_iterator(topic regclass, partition integer, iterator_type text,
                                          seq bigint DEFAULT NULL, at timestamptz DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'pg_topics_get_shard_iterator'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION topics.get_shard_iterator(regclass, integer, text, bigint, timestamptz) IS
'a signed, expiring position in a partition: TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER or AT_TIMESTAMP';

CREATE FUNCTION topics.get_records(shard_iterator text, max_records integer DEFAULT 1000,
                                   wait interval DEFAULT '0', OUT records topics.record[], OUT next_shard_iterator text,
                                   OUT millis_behind_latest bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'pg_topics_get_records'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION topics.get_records(text, integer, interval) IS
'records from a shard iterator (up to the last stable offset), the iterator to continue with, and how far behind the newest record they are';

------------------------------------------------------------------------
-- Consumer groups (Kafka)
------------------------------------------------------------------------

CREATE FUNCTION topics.partition_bounds(topic regclass)
RETURNS TABLE(partition integer, log_start_seq bigint, next_seq bigint)
AS 'MODULE_PATHNAME', 'pg_topics_partition_bounds'
LANGUAGE C STRICT STABLE;
COMMENT ON FUNCTION topics.partition_bounds(regclass) IS
'per partition the log start and the next seq (high watermark)';

-- Who may read a topic may commit positions for it: row-level security
-- with the caller's SELECT privilege on the topic as the rule.
CREATE TABLE topics.consumer_groups (
    group_id text NOT NULL,
    topic regclass NOT NULL,
    auto_offset_reset text NOT NULL DEFAULT 'earliest'
        CHECK (auto_offset_reset IN ('earliest', 'latest')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic)
);
COMMENT ON TABLE topics.consumer_groups IS
'consumer groups per topic, with where a new group starts (Kafka''s auto.offset.reset)';

CREATE TABLE topics.committed_offsets (
    group_id text NOT NULL,
    topic regclass NOT NULL,
    partition integer NOT NULL,
    seq bigint NOT NULL CHECK (seq >= 0),
    committed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);
COMMENT ON TABLE topics.committed_offsets IS
'per group, topic and partition: the next seq the group will read';

ALTER TABLE topics.consumer_groups ENABLE ROW LEVEL SECURITY;
ALTER TABLE topics.committed_offsets ENABLE ROW LEVEL SECURITY;
CREATE POLICY readers_of_the_topic ON topics.consumer_groups
    USING (has_table_privilege(topic, 'SELECT'))
    WITH CHECK (has_table_privilege(topic, 'SELECT'));
CREATE POLICY readers_of_the_topic ON topics.committed_offsets
    USING (has_table_privilege(topic, 'SELECT'))
    WITH CHECK (has_table_privilege(topic, 'SELECT'));
GRANT SELECT, INSERT, UPDATE, DELETE ON topics.consumer_groups, topics.committed_offsets TO PUBLIC;

CREATE FUNCTION topics.set_auto_offset_reset(group_id text, topic regclass, auto_offset_reset text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF group_id IS NULL OR topic IS NULL OR auto_offset_reset IS NULL THEN
        RAISE EXCEPTION 'group_id, topic and auto_offset_reset must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF lower(auto_offset_reset) NOT IN ('earliest', 'latest') THEN
        RAISE EXCEPTION 'auto_offset_reset must be earliest or latest, not "%"', auto_offset_reset
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM topics.partition_bounds(topic);     -- a topic, readable by the caller
    INSERT INTO topics.consumer_groups AS g (group_id, topic, auto_offset_reset)
    VALUES (set_auto_offset_reset.group_id, set_auto_offset_reset.topic, lower(set_auto_offset_reset.auto_offset_reset))
    ON CONFLICT ON CONSTRAINT consumer_groups_pkey
    DO UPDATE SET auto_offset_reset = EXCLUDED.auto_offset_reset;
END;
$$;
COMMENT ON FUNCTION topics.set_auto_offset_reset(text, regclass, text) IS
'where a group with no committed position starts: earliest (log start) or latest (next seq)';

CREATE FUNCTION topics.commit(group_id text, topic regclass, partition integer, seq bigint)
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
    SELECT * INTO b FROM topics.partition_bounds(topic) AS pb WHERE pb.partition = commit.partition;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'partition % of topic "%" does not exist', partition, topic
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF seq < 0 OR seq > b.next_seq THEN
        RAISE EXCEPTION 'seq % is out of range for partition % of topic "%"', seq, partition, topic
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('A committed position is the next seq to read, between 0 and the next seq %s.', b.next_seq);
    END IF;
    INSERT INTO topics.consumer_groups AS g (group_id, topic)
    VALUES (commit.group_id, commit.topic)
    ON CONFLICT ON CONSTRAINT consumer_groups_pkey DO NOTHING;
    INSERT INTO topics.committed_offsets AS o (group_id, topic, partition, seq)
    VALUES (commit.group_id, commit.topic, commit.partition, commit.seq)
    ON CONFLICT ON CONSTRAINT committed_offsets_pkey
    DO UPDATE SET seq = EXCLUDED.seq, committed_at = now();
END;
$$;
COMMENT ON FUNCTION topics.commit(text, regclass, integer, bigint) IS
'store the next seq the group reads from a partition, in the caller''s transaction';

CREATE FUNCTION topics.committed(group_id text, topic regclass)
RETURNS TABLE(partition integer, seq bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT o.partition, o.seq FROM topics.committed_offsets o
    WHERE o.group_id = committed.group_id AND o.topic = committed.topic
    ORDER BY o.partition
$$;
COMMENT ON FUNCTION topics.committed(text, regclass) IS
'the committed positions of a group on a topic';

CREATE FUNCTION topics._wait_generation(topic regclass)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pg_topics_wait_generation'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION topics._wait_generation(regclass) IS
'internal: commit generation of a topic, read before looking for records';

CREATE FUNCTION topics._wait_for_records(topic regclass, seen_generation bigint, deadline timestamptz)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pg_topics_wait_for_records'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION topics._wait_for_records(regclass, bigint, timestamptz) IS
'internal: sleep until a commit to the topic moves its generation past seen_generation, or until deadline';

CREATE FUNCTION topics.consume(group_id text, topic regclass, max_records integer DEFAULT 1000,
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

    -- a new group (or new partitions) start where auto_offset_reset says
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
            FOR r IN SELECT * FROM topics.fetch(consume.topic, part, pos, consume.max_records) LOOP
                RETURN NEXT r;
                last := r.seq;
            END LOOP;
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
COMMENT ON FUNCTION topics.consume(text, regclass, integer, interval) IS
'records for a member of a consumer group: from one partition no other member holds, starting at the group''s committed position, which advances in the same transaction';

CREATE VIEW topics.consumer_lag AS
    WITH t AS (SELECT DISTINCT o.topic FROM topics.committed_offsets o)
    SELECT o.group_id, o.topic, o.partition, o.seq AS committed_seq, b.next_seq,
           greatest(b.next_seq - greatest(o.seq, b.log_start_seq), 0) AS lag
    FROM t
    CROSS JOIN LATERAL topics.partition_bounds(t.topic) b
    JOIN topics.committed_offsets o ON o.topic = t.topic AND o.partition = b.partition;
COMMENT ON VIEW topics.consumer_lag IS
'per group, topic and partition: committed position, next seq and how many seqs the group is behind';
GRANT SELECT ON topics.consumer_lag TO PUBLIC;

-- DROP TABLE of a topic removes its groups and positions.  SECURITY DEFINER
-- because row-level security hides the rows of a dropped topic from its
-- dropper; the search_path is pinned.
CREATE FUNCTION topics._forget_dropped_topics()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM topics.committed_offsets o
    USING pg_event_trigger_dropped_objects() d
    WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND o.topic = d.objid;
    DELETE FROM topics.consumer_groups g
    USING pg_event_trigger_dropped_objects() d
    WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND g.topic = d.objid;
END;
$$;
COMMENT ON FUNCTION topics._forget_dropped_topics() IS
'internal: removes consumer groups and positions of dropped topics';
CREATE EVENT TRIGGER pg_topics_forget_dropped ON sql_drop
    EXECUTE FUNCTION topics._forget_dropped_topics();

------------------------------------------------------------------------
-- Guards: a topic keeps the fixed record layout and has no triggers
------------------------------------------------------------------------

CREATE FUNCTION topics._guard_ddl()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'pg_topics_guard_ddl'
LANGUAGE C;
COMMENT ON FUNCTION topics._guard_ddl() IS
'internal: rejects ALTER TABLE, CREATE TRIGGER and CREATE RULE that would change how a topic stores records';

CREATE EVENT TRIGGER pg_topics_guard_ddl ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE TRIGGER', 'CREATE RULE', 'CREATE POLICY')
    EXECUTE FUNCTION topics._guard_ddl();

-- A rewrite (ALTER TABLE ... SET ACCESS METHOD, ALTER COLUMN ... TYPE, a
-- volatile default) would copy the records into new storage: refuse it
-- before it starts.
CREATE FUNCTION topics._guard_rewrite()
RETURNS event_trigger
LANGUAGE plpgsql
AS $$
DECLARE
    rel oid := pg_catalog.pg_event_trigger_table_rewrite_oid();
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c
               JOIN pg_catalog.pg_am a ON a.oid = c.relam
               WHERE c.oid = rel AND a.amname = 'topic_log') THEN
        RAISE EXCEPTION 'cannot rewrite topic "%"', rel::regclass
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Rewriting a topic would copy its records into new storage; topics keep their storage and seqs for their whole life.',
                  HINT = 'Create a new topic and copy the records with INSERT ... SELECT.';
    END IF;
END;
$$;
COMMENT ON FUNCTION topics._guard_rewrite() IS
'internal: rejects table rewrites (SET ACCESS METHOD, ALTER COLUMN TYPE) of topics';

CREATE EVENT TRIGGER pg_topics_guard_rewrite ON table_rewrite
    EXECUTE FUNCTION topics._guard_rewrite();

GRANT USAGE ON SCHEMA topics TO PUBLIC;
-- the views show only the topics the caller may SELECT from
GRANT SELECT ON topics.partitions, topics.topics TO PUBLIC;
