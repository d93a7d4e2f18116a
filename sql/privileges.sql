--
-- privileges: produce needs INSERT on the topic, fetch needs SELECT
--
CREATE ROLE regress_pgt_priv_none;
CREATE ROLE regress_pgt_priv_writer;
CREATE ROLE regress_pgt_priv_reader;
SELECT topics.create_topic('pv_t', 2);
SELECT * FROM topics.produce('pv_t', 'seed', 'seed', NULL, 0);
GRANT INSERT ON pv_t TO regress_pgt_priv_writer;
GRANT SELECT ON pv_t TO regress_pgt_priv_reader;

-- no privileges at all
SET ROLE regress_pgt_priv_none;
SELECT * FROM topics.produce('pv_t', 'k', 'v', NULL, 0);
\echo :SQLSTATE
SELECT * FROM topics.produce('pv_t', 'k', 'v'::bytea);
\echo :SQLSTATE
SELECT * FROM topics.produce_batch('pv_t', ARRAY['k'], ARRAY['v']::text[]);
\echo :SQLSTATE
SELECT * FROM topics.produce_batch('pv_t', ARRAY[]::text[], ARRAY[]::text[]);
\echo :SQLSTATE
INSERT INTO pv_t (key, value) VALUES ('k', '\x00');
\echo :SQLSTATE
COPY pv_t (key, value) FROM STDIN;
k	\\x00
\.
\echo :SQLSTATE
SELECT * FROM topics.fetch('pv_t', 0, 0);
\echo :SQLSTATE
SELECT count(*) FROM pv_t;
\echo :SQLSTATE
SELECT count(*) FROM topics.partitions WHERE topic::text = 'pv_t';
SELECT count(*) FROM topics.topics WHERE topic_name = 'pv_t';
SELECT * FROM topics.partition_info('pv_t');
\echo :SQLSTATE
-- only a superuser changes the record size limit
SET pg_topics.max_record_bytes = 10;
\echo :SQLSTATE
-- nor can it drop or truncate the topic
\set SHOW_CONTEXT never
SELECT topics.drop_topic('pv_t');
\echo :SQLSTATE
\set SHOW_CONTEXT errors
TRUNCATE pv_t;
\echo :SQLSTATE
RESET ROLE;

-- INSERT only: produce works, reading does not
SET ROLE regress_pgt_priv_writer;
SELECT * FROM topics.produce('pv_t', 'writer', 'w1', NULL, 0);
SELECT * FROM topics.produce('pv_t', 'writer', 'w2'::bytea, '{"by": "writer"}', 1);
SELECT * FROM topics.produce_batch('pv_t', ARRAY['writer', 'writer'], ARRAY['w3', 'w4']::text[], NULL, 1);
INSERT INTO pv_t (partition, key, value) VALUES (0, 'writer', 'w5');
COPY pv_t (partition, key, value) FROM STDIN;
0	writer	w6
\.
SELECT * FROM topics.fetch('pv_t', 0, 0);
\echo :SQLSTATE
SELECT count(*) FROM pv_t;
\echo :SQLSTATE
SELECT count(*) FROM topics.partitions WHERE topic::text = 'pv_t';
RESET ROLE;

-- SELECT only: fetch and the views work, producing does not
SET ROLE regress_pgt_priv_reader;
SELECT partition, seq, key, convert_from(value, 'UTF8') AS value, headers FROM topics.fetch('pv_t', 0, 0);
SELECT partition, seq, key, convert_from(value, 'UTF8') AS value, headers FROM topics.fetch('pv_t', 1, 0);
SELECT partition, next_seq, record_count FROM topics.partitions WHERE topic = 'pv_t'::regclass ORDER BY partition;
SELECT partition, next_seq FROM topics.partition_info('pv_t') ORDER BY partition;
SELECT topic, partitions FROM topics.topics WHERE topic_name = 'pv_t';
SELECT * FROM topics.produce('pv_t', 'reader', 'r', NULL, 0);
\echo :SQLSTATE
SELECT * FROM topics.produce_batch('pv_t', ARRAY['reader'], ARRAY['r']::bytea[]);
\echo :SQLSTATE
INSERT INTO pv_t (key, value) VALUES ('reader', 'r');
\echo :SQLSTATE
RESET ROLE;

-- privileges granted through a role count as well
GRANT regress_pgt_priv_writer TO regress_pgt_priv_none;
SET ROLE regress_pgt_priv_none;
SELECT * FROM topics.produce('pv_t', 'member', 'm', NULL, 1);
RESET ROLE;
REVOKE regress_pgt_priv_writer FROM regress_pgt_priv_none;
-- and revoking takes effect
REVOKE INSERT ON pv_t FROM regress_pgt_priv_writer;
SET ROLE regress_pgt_priv_writer;
SELECT * FROM topics.produce('pv_t', 'writer', 'revoked', NULL, 0);
\echo :SQLSTATE
RESET ROLE;

SELECT partition, seq, key, convert_from(value, 'UTF8') AS value FROM pv_t ORDER BY partition, seq;

DROP TABLE pv_t;
DROP ROLE regress_pgt_priv_none;
DROP ROLE regress_pgt_priv_writer;
DROP ROLE regress_pgt_priv_reader;
