--
-- large: big records round-trip byte for byte; text and jsonb values
--
SELECT topics.create_topic('lg_t', 2);
SHOW pg_topics.max_record_bytes;

-- incompressible payloads: md5 output bytes; 1 MiB = 1048576 bytes
CREATE TEMP TABLE lg_payloads (name text, key text, value bytea, headers jsonb);
INSERT INTO lg_payloads
SELECT '100 KB', 'k100k', decode(string_agg(md5(g::text), '' ORDER BY g), 'hex'), NULL
FROM generate_series(1, 6400) g;
INSERT INTO lg_payloads
SELECT 'at limit', 'klimit', substring(decode(string_agg(md5(g::text), '' ORDER BY g), 'hex') FROM 1 FOR 1048576 - 6), NULL
FROM generate_series(1, 65536) g;
INSERT INTO lg_payloads
SELECT 'compressible', 'kcomp', convert_to(repeat('abcdefgh', 100000), 'UTF8'), NULL;
INSERT INTO lg_payloads
SELECT 'big key and headers', repeat('key', 5000),
       decode(string_agg(md5(g::text), '' ORDER BY g), 'hex'),
       jsonb_build_object('trace', repeat('t', 20000), 'n', 42)
FROM generate_series(1, 100) g;
SELECT name, length(key) AS key_bytes, length(value) AS value_bytes,
       length(key) + length(value) AS key_value_bytes
FROM lg_payloads ORDER BY name COLLATE "C";

-- produce them all into partition 0, in a known order
SELECT l.name, p.partition, p.seq
FROM (SELECT * FROM lg_payloads ORDER BY name COLLATE "C") l,
     LATERAL topics.produce('lg_t', l.key, l.value, l.headers, 0) p;

-- fetch returns identical bytes
SELECT l.name, f.seq, length(f.value) AS value_bytes,
       md5(f.value) = md5(l.value) AS value_same, f.key = l.key AS key_same,
       f.headers IS NOT DISTINCT FROM l.headers AS headers_same
FROM topics.fetch('lg_t', 0, 0) f JOIN lg_payloads l ON l.key = f.key
ORDER BY f.seq;
-- so does SELECT
SELECT l.name, t.seq, md5(t.value) = md5(l.value) AS value_same, t.key = l.key AS key_same,
       t.headers IS NOT DISTINCT FROM l.headers AS headers_same
FROM lg_t t JOIN lg_payloads l ON l.key = t.key
ORDER BY t.seq;
-- max_bytes still hands out the first record, whatever its size
SELECT seq, length(value) FROM topics.fetch('lg_t', 0, 1, 10, 1000);

-- one byte over the limit is rejected; a smaller limit rejects the big ones
SELECT * FROM topics.produce('lg_t', 'klimit', (SELECT value || '\x00'::bytea FROM lg_payloads WHERE name = 'at limit'), NULL, 0);
SET pg_topics.max_record_bytes = '100kB';
SELECT * FROM topics.produce('lg_t', 'k', (SELECT value FROM lg_payloads WHERE name = '100 KB'), NULL, 0);
SELECT * FROM topics.produce('lg_t', '', (SELECT value FROM lg_payloads WHERE name = '100 KB'), NULL, 0);
RESET pg_topics.max_record_bytes;
-- raising the limit admits bigger records
SET pg_topics.max_record_bytes = '2MB';
SELECT * FROM topics.produce('lg_t', 'k2m', (SELECT value || value FROM lg_payloads WHERE name = 'at limit'), NULL, 1);
SELECT length(value), md5(value) = (SELECT md5(value || value) FROM lg_payloads WHERE name = 'at limit') AS same
FROM topics.fetch('lg_t', 1, 0);
RESET pg_topics.max_record_bytes;

-- large records round-trip through produce_batch and INSERT too
SELECT topics.create_topic('lg_b', 1);
SELECT * FROM topics.produce_batch('lg_b',
    ARRAY(SELECT key FROM lg_payloads ORDER BY name COLLATE "C"),
    ARRAY(SELECT value FROM lg_payloads ORDER BY name COLLATE "C"),
    ARRAY(SELECT headers FROM lg_payloads ORDER BY name COLLATE "C"));
INSERT INTO lg_b (key, value, headers) SELECT key, value, headers FROM lg_payloads WHERE name = '100 KB';
SELECT f.seq, l.name, md5(f.value) = md5(l.value) AS value_same, f.key = l.key AS key_same,
       f.headers IS NOT DISTINCT FROM l.headers AS headers_same
FROM topics.fetch('lg_b', 0, 0) f JOIN lg_payloads l ON l.key = f.key ORDER BY f.seq;

-- text values are stored as their UTF-8 bytes, jsonb values as their text
SELECT topics.create_topic('lg_text', 1);
SELECT * FROM topics.produce('lg_text', 'plain', 'hello');
SELECT * FROM topics.produce('lg_text', 'utf8', 'héllo wörld ключ 用户 🙂'::text);
SELECT * FROM topics.produce('lg_text', 'json', '{"b": [1, 2.50, {"c": null}], "a": "ü", "a": "dup"}'::jsonb);
SELECT * FROM topics.produce('lg_text', 'big text', repeat('ü', 200000));
SELECT * FROM topics.produce('lg_text', 'big json',
    (SELECT jsonb_agg(jsonb_build_object('i', g, 's', md5(g::text))) FROM generate_series(1, 5000) g));
SELECT * FROM topics.produce_batch('lg_text', ARRAY['batch text'], ARRAY['ünïcödé']::text[]);
SELECT seq, key, value, convert_from(value, 'UTF8') AS text
FROM topics.fetch('lg_text', 0, 0) WHERE seq < 3 OR seq = 5 ORDER BY seq;
SELECT value = convert_to('héllo wörld ключ 用户 🙂', 'UTF8') AS utf8_bytes,
       length(value) AS bytes
FROM lg_text WHERE key = 'utf8';
SELECT convert_from(value, 'UTF8')::jsonb = '{"b": [1, 2.50, {"c": null}], "a": "dup"}'::jsonb AS json_same
FROM lg_text WHERE key = 'json';
SELECT length(value) AS bytes, convert_from(value, 'UTF8') = repeat('ü', 200000) AS text_same
FROM lg_text WHERE key = 'big text';
SELECT convert_from(value, 'UTF8')::jsonb =
       (SELECT jsonb_agg(jsonb_build_object('i', g, 's', md5(g::text))) FROM generate_series(1, 5000) g) AS json_same,
       convert_from(value, 'UTF8') =
       (SELECT jsonb_agg(jsonb_build_object('i', g, 's', md5(g::text))) FROM generate_series(1, 5000) g)::text AS text_same
FROM lg_text WHERE key = 'big json';

-- big records survive VACUUM and VACUUM FREEZE
VACUUM FREEZE lg_t;
SELECT count(*) AS intact FROM topics.fetch('lg_t', 0, 0) f JOIN lg_payloads l ON l.key = f.key
WHERE md5(f.value) = md5(l.value) AND f.headers IS NOT DISTINCT FROM l.headers;

DROP TABLE lg_t, lg_b, lg_text;

-- Key, value and headers of 700 incompressible bytes each: over a page's
-- inline limit together, and each too small to go out of line by itself.
-- Until 0.9 no such record could be stored (an internal error); now fields
-- go out of line, largest first, until the record fits.
SELECT topics.create_topic('lg_three', 1);
CREATE TEMP TABLE lg_rand AS
SELECT string_agg(md5(g::text), '') AS r FROM generate_series(1, 80) g;
SELECT seq FROM topics.produce('lg_three', substr((SELECT r FROM lg_rand), 1, 700),
                               substr((SELECT r FROM lg_rand), 701, 700),
                               jsonb_build_object('h', substr((SELECT r FROM lg_rand), 1, 700)));
INSERT INTO lg_three (key, value, headers)
SELECT substr(r, 1, 700), convert_to(substr(r, 701, 700), 'UTF8'), jsonb_build_object('h', substr(r, 1401, 700))
FROM lg_rand RETURNING seq;
SELECT seq, key = substr((SELECT r FROM lg_rand), 1, 700) AS key_ok,
       length(value) AS value_bytes, length(headers->>'h') AS header_chars
FROM lg_three ORDER BY seq;
DROP TABLE lg_three;
