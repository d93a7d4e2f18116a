/* pg_topics 0.9 -> 0.10: no role but the owner can lock the extension's tables; delete_consumer_group */

\echo Use "ALTER EXTENSION pg_topics UPDATE TO '0.10'" to load this file. \quit

------------------------------------------------------------------------
-- Settings and positions: column privileges, no table-level writes
------------------------------------------------------------------------

-- Until 0.10 PUBLIC held INSERT, UPDATE and DELETE on these tables, with
-- row-level security choosing the rows.  PostgreSQL lets a table-level
-- UPDATE or DELETE privilege take any lock with LOCK TABLE (directly, or
-- through a view the role owns), whatever the policies: any role could
-- lock topics.committed_offsets and hold up every consume and commit, and
-- DROP TABLE of any table (the dropped-topics event trigger deletes from
-- these tables), for as long as its transaction stayed open.  Column
-- privileges do not count for LOCK TABLE, but do for INSERT, UPDATE,
-- INSERT ... ON CONFLICT DO UPDATE and SELECT ... FOR UPDATE (consume's row
-- lock): PUBLIC keeps every write it had, row-level security still limits
-- it to the topics it may read (or owns, for the settings), and LOCK TABLE
-- is left to the owner, except ACCESS SHARE, which SELECT allows and only a
-- DROP or ALTER of the table itself waits for.  DELETE has no column form:
-- a group is deleted with topics.delete_consumer_group, and settings are
-- removed by alter_topic's reset_... arguments.  A column added to these
-- tables later needs its own grant.
REVOKE INSERT, UPDATE, DELETE ON topics.topic_config, topics.consumer_groups,
    topics.committed_offsets FROM PUBLIC;
GRANT INSERT (topic, retention, retention_bytes, cleanup_policy),
      UPDATE (topic, retention, retention_bytes, cleanup_policy)
    ON topics.topic_config TO PUBLIC;
GRANT INSERT (group_id, topic, auto_offset_reset, created_at),
      UPDATE (group_id, topic, auto_offset_reset, created_at)
    ON topics.consumer_groups TO PUBLIC;
GRANT INSERT (group_id, topic, partition, seq, committed_at),
      UPDATE (group_id, topic, partition, seq, committed_at)
    ON topics.committed_offsets TO PUBLIC;

CREATE FUNCTION topics.delete_consumer_group(group_id text, topic regclass)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pg_topics_delete_consumer_group'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION topics.delete_consumer_group(text, regclass) IS
'forget a consumer group on a topic and its committed positions (needs SELECT on the topic); true if the group existed';
