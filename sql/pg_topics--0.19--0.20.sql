-- pg_topics 0.19 -> 0.20
--
-- The comments of two functions say what they return (\df+,
-- obj_description).  seq_at_time's said "next_seq when none", which it has
-- not been since 0.10: when no record has ts >= at it returns the last
-- stable offset, so the records of a transaction still running are not
-- skipped once they commit.  get_records' said "how far behind the newest
-- record", which since 2026-12-02 is the newest record readable now, the
-- last committed one below the last stable offset.  Nothing else changes.

COMMENT ON FUNCTION topics.seq_at_time(regclass, integer, timestamptz) IS
'first seq of the partition whose record has ts >= at, not counting rolled-back records (the last stable offset when none), like Kafka''s ListOffsets by timestamp';

COMMENT ON FUNCTION topics.get_records(text, integer, interval) IS
'records from a shard iterator (up to the last stable offset), the iterator to continue with, and how far behind the newest record readable now they are';
