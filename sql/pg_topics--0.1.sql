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
                             max_records integer DEFAULT 1000, max_bytes integer DEFAULT NULL)
RETURNS SETOF topics.record
AS 'MODULE_PATHNAME', 'pg_topics_fetch'
LANGUAGE C CALLED ON NULL INPUT STABLE;
COMMENT ON FUNCTION topics.fetch(regclass, integer, bigint, integer, integer) IS
'records of one partition with seq >= from_seq in seq order, stopping before the first record of an uncommitted transaction';

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
                                   OUT records topics.record[], OUT next_shard_iterator text,
                                   OUT millis_behind_latest bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'pg_topics_get_records'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION topics.get_records(text, integer) IS
'records from a shard iterator (up to the last stable offset), the iterator to continue with, and how far behind the newest record they are';

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
