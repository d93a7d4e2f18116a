--
-- partitioner: Kafka's default partitioner (murmur2 of the key's UTF-8 bytes,
-- sign bit masked, modulo the partition count) and round-robin for NULL keys
--
-- Vectors from Kafka's unit tests and independently computed ones: key,
-- Kafka's signed murmur2, and the partition for 1..12 partitions.
CREATE TEMP TABLE pt_vectors (key text, murmur2 integer, parts integer[]);
COPY pt_vectors FROM STDIN;
21	-973932308	{0,0,0,0,0,0,3,4,3,0,5,0}
foobar	-790332482	{0,0,0,2,1,0,0,6,0,6,8,6}
a-little-bit-long-string	-985981536	{0,0,2,0,2,2,1,0,2,2,1,8}
a-little-bit-longer-string	-1486304829	{0,1,2,3,4,5,0,3,2,9,4,11}
lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8	-58897971	{0,1,2,1,2,5,3,5,2,7,2,5}
abc	479470107	{0,1,0,3,2,3,4,3,3,7,6,3}
	275646681	{0,1,0,1,1,3,2,1,0,1,2,9}
a	-1563381124	{0,0,1,0,4,4,5,4,4,4,5,4}
ab	316155434	{0,0,2,2,4,2,0,2,5,4,1,2}
abcd	-1323649548	{0,0,2,0,0,2,5,4,2,0,1,8}
order-1	1221710326	{0,0,1,2,1,4,4,6,7,6,1,10}
order-2	-1055499005	{0,1,0,3,3,3,1,3,0,3,2,3}
user:42	-1493546323	{0,1,1,1,0,1,6,5,7,5,8,1}
用户	358139016	{0,0,0,0,1,0,4,0,0,6,4,0}
ключ	2122343024	{0,0,2,0,4,2,4,0,5,4,10,8}
🙂	925250799	{0,1,0,3,4,3,4,7,3,9,0,3}
key with spaces	1291295160	{0,0,0,0,0,0,1,0,0,0,1,0}
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx	1249054468	{0,0,1,0,3,4,4,4,7,8,2,4}
\.
SELECT count(*) AS vectors, count(*) FILTER (WHERE key = '') AS empty_keys FROM pt_vectors;
-- the vectors agree with themselves: parts[n] = (murmur2 & 0x7fffffff) % n
SELECT count(*) AS inconsistent FROM pt_vectors v, generate_series(1, 12) n
WHERE v.parts[n] <> (v.murmur2 & x'7fffffff'::integer) % n;

-- topics with 1..12 partitions
SELECT count(topics.create_topic('pt_' || n, n)) FROM generate_series(1, 12) n;
SELECT topic_name, partitions FROM topics.topics WHERE topic_name LIKE 'pt\_%'
ORDER BY partitions;

-- topics.produce: every key to every topic, partition chosen by the key
CREATE TEMP TABLE pt_got AS
SELECT n, v.key, v.parts[n] AS expected,
       (topics.produce(('pt_' || n)::regclass, v.key, 'v'::bytea)).partition AS got
FROM pt_vectors v, generate_series(1, 12) n;
SELECT count(*) AS checked FROM pt_got;
SELECT n, key, expected, got FROM pt_got WHERE got IS DISTINCT FROM expected ORDER BY n, key;
-- the records are stored in the partition reported
SELECT count(*) AS misplaced FROM generate_series(1, 12) n, pt_vectors v
WHERE NOT EXISTS (SELECT 1 FROM topics.fetch(('pt_' || n)::regclass, v.parts[n], 0) f
                  WHERE f.key = v.key);

-- the same through produce_batch, INSERT and COPY, on 7 and 12 partitions
SELECT count(*) AS batch_mismatches
FROM (SELECT array_agg(key ORDER BY ord) AS keys, array_agg(parts ORDER BY ord) AS parts
      FROM (SELECT *, row_number() OVER () AS ord FROM pt_vectors) v) a,
     LATERAL topics.produce_batch('pt_7', a.keys,
                                  array_fill('x'::text, ARRAY[cardinality(a.keys)]))
             WITH ORDINALITY AS r(partition, seq, ord)
WHERE r.partition IS DISTINCT FROM a.parts[r.ord][7];
SELECT sum(record_count) AS records FROM topics.partitions WHERE topic = 'pt_7'::regclass;
CREATE TEMP TABLE pt_ins AS
WITH i AS (INSERT INTO pt_12 (key, value) SELECT key, '\x00'::bytea FROM pt_vectors
           RETURNING key, partition)
SELECT * FROM i;
SELECT count(*) AS inserted,
       count(*) FILTER (WHERE i.partition IS DISTINCT FROM v.parts[12]) AS insert_mismatches
FROM pt_ins i JOIN pt_vectors v USING (key);
SELECT topics.create_topic('pt_copy_4', 4);
COPY pt_copy_4 (key, value) FROM STDIN;
21	c
foobar	c
a-little-bit-long-string	c
a-little-bit-longer-string	c
lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8	c
abc	c
	c
a	c
ab	c
abcd	c
order-1	c
order-2	c
user:42	c
用户	c
ключ	c
🙂	c
key with spaces	c
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx	c
\.
SELECT count(*) AS copied,
       count(*) FILTER (WHERE c.partition IS DISTINCT FROM v.parts[4]) AS copy_mismatches
FROM pt_copy_4 c JOIN pt_vectors v USING (key);

-- an explicit partition overrides the key
SELECT * FROM topics.produce('pt_12', 'foobar', 'v'::bytea, NULL, 11);

-- NULL keys go round-robin: an even spread
SELECT topics.create_topic('pt_rr', 3);
SELECT count(*) FROM (SELECT topics.produce('pt_rr', NULL, 'v'::bytea) FROM generate_series(1, 30)) p;
SELECT partition, count(*) FROM pt_rr GROUP BY partition ORDER BY partition;
SELECT count(*) FROM topics.produce_batch('pt_rr', array_fill(NULL::text, ARRAY[30]),
                                          array_fill('v'::text, ARRAY[30]));
SELECT partition, count(*) FROM pt_rr GROUP BY partition ORDER BY partition;
INSERT INTO pt_rr (key, value) SELECT NULL, '\x00' FROM generate_series(1, 30);
SELECT partition, count(*) FROM pt_rr GROUP BY partition ORDER BY partition;
-- an uneven number still differs by at most one per partition
SELECT topics.create_topic('pt_rr5', 5);
SELECT count(*) FROM (SELECT topics.produce('pt_rr5', NULL, 'v'::bytea) FROM generate_series(1, 13)) p;
SELECT count(*) AS partitions_used, max(c) - min(c) AS spread, sum(c) AS records
FROM (SELECT partition, count(*) AS c FROM pt_rr5 GROUP BY partition) s;
-- the one-partition topic takes NULL keys in partition 0
SELECT * FROM topics.produce('pt_1', NULL, 'v'::bytea);

DO $$BEGIN FOR n IN 1..12 LOOP PERFORM topics.drop_topic(('pt_' || n)::regclass); END LOOP; END$$;
DROP TABLE pt_rr, pt_rr5, pt_copy_4;
SELECT count(*) FROM topics.topics WHERE topic_name LIKE 'pt\_%';
