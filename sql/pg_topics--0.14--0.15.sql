-- pg_topics 0.14 -> 0.15
--
-- consume and commit in a read-only transaction, and so on a hot standby,
-- fail with what they cannot do and where to do it: they failed in their
-- first write with "cannot execute INSERT in a read-only transaction",
-- which named a statement of theirs rather than the group.  Both call
-- _check_group_id before they write, so the check is there; reading a
-- transaction's state, the function is VOLATILE now (it was IMMUTABLE).
CREATE OR REPLACE FUNCTION topics._check_group_id(group_id text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF group_id = '' THEN
        RAISE EXCEPTION 'group_id must not be empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF octet_length(group_id) > 1024 THEN
        RAISE EXCEPTION 'group_id is too long'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('A group id is at most 1024 bytes; this one has %s.', octet_length(group_id));
    END IF;
    IF current_setting('transaction_read_only')::boolean THEN
        RAISE EXCEPTION 'cannot move consumer group "%" in a read-only transaction', group_id
            USING ERRCODE = 'read_only_sql_transaction',
                  DETAIL = 'Consuming and committing store the group''s positions.',
                  HINT = CASE WHEN pg_is_in_recovery()
                              THEN 'Consumer groups live on the primary; on a standby, read with fetch or get_records.'
                              ELSE 'Run it in a read-write transaction.' END;
    END IF;
END;
$$;
COMMENT ON FUNCTION topics._check_group_id(text) IS
'internal: refuse an empty group id or one over 1024 bytes, and moving a group in a read-only transaction';
