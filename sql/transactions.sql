--
-- transactions: producing inside transactions, read-only transactions, the
-- transactional outbox pattern, and how topics are scanned
--
SELECT topics.create_topic('tx_t', 2);

-- a read-only transaction cannot produce
BEGIN READ ONLY;
SELECT * FROM topics.produce('tx_t', 'ro', 'v', NULL, 0);
ROLLBACK;
BEGIN READ ONLY;
SELECT * FROM topics.produce_batch('tx_t', ARRAY['ro'], ARRAY['v']::text[], NULL, 0);
ROLLBACK;
BEGIN READ ONLY;
INSERT INTO tx_t (key, value) VALUES ('ro', '\x00');
ROLLBACK;
SET default_transaction_read_only = on;
SELECT * FROM topics.produce('tx_t', 'ro', 'v', NULL, 0);
RESET default_transaction_read_only;
SELECT count(*) FROM tx_t;

-- within a transaction the records are visible to later statements, and a
-- rolled back subtransaction takes its records away
BEGIN;
SELECT * FROM topics.produce('tx_t', 'a', 'v', NULL, 0);
SELECT seq, key FROM tx_t WHERE partition = 0 ORDER BY seq;
SAVEPOINT s;
SELECT * FROM topics.produce('tx_t', 'b', 'v', NULL, 0);
SELECT seq, key FROM tx_t WHERE partition = 0 ORDER BY seq;
ROLLBACK TO SAVEPOINT s;
SELECT seq, key FROM tx_t WHERE partition = 0 ORDER BY seq;
SELECT * FROM topics.produce('tx_t', 'c', 'v', NULL, 0);
COMMIT;
SELECT seq, key FROM tx_t WHERE partition = 0 ORDER BY seq;
-- an error inside the transaction aborts all of its records
BEGIN;
SELECT * FROM topics.produce('tx_t', 'd', 'v', NULL, 0);
SELECT * FROM topics.produce('tx_t', 'e', 'v', NULL, 7);
COMMIT;
SELECT seq, key FROM tx_t WHERE partition = 0 ORDER BY seq;
-- an error inside a subtransaction aborts only the subtransaction
DO $$
BEGIN
    PERFORM topics.produce('tx_t', 'f', 'v'::text, NULL, 0);
    BEGIN
        PERFORM topics.produce('tx_t', 'g', 'v'::text, NULL, 0);
        PERFORM 1 / 0;
    EXCEPTION WHEN division_by_zero THEN
        NULL;
    END;
    PERFORM topics.produce('tx_t', 'h', 'v'::text, NULL, 0);
END $$;
SELECT seq, key FROM topics.fetch('tx_t', 0, 0);

-- the transactional outbox: a trigger on an ordinary table produces a record
-- in the same transaction as the row
CREATE TABLE tx_orders (id integer PRIMARY KEY, customer text, amount numeric);
CREATE FUNCTION tx_orders_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM topics.produce('tx_t', NEW.customer, to_jsonb(NEW), jsonb_build_object('op', TG_OP));
    RETURN NEW;
END $$;
CREATE TRIGGER tx_orders_outbox AFTER INSERT OR UPDATE ON tx_orders
    FOR EACH ROW EXECUTE FUNCTION tx_orders_outbox();
INSERT INTO tx_orders VALUES (1, 'foobar', 10.5), (2, 'abc', 20);
BEGIN;
INSERT INTO tx_orders VALUES (3, 'foobar', 99);
ROLLBACK;
UPDATE tx_orders SET amount = 11 WHERE id = 1;
-- 'foobar' maps to partition 0 of 2 and 'abc' to partition 1 (Kafka murmur2);
-- the rolled back order left a gap
SELECT partition, seq, key, convert_from(value, 'UTF8')::jsonb AS value, headers
FROM topics.fetch('tx_t', 0, 0) WHERE headers ? 'op';
SELECT partition, seq, key, convert_from(value, 'UTF8')::jsonb AS value, headers
FROM topics.fetch('tx_t', 1, 0);
DROP TABLE tx_orders;
DROP FUNCTION tx_orders_outbox();

-- scans: TID lookups, parallel sequential scans, cursors
SELECT topics.create_topic('tx_scan', 3);
INSERT INTO tx_scan (partition, key, value)
SELECT g % 3, 'k' || g, convert_to('v' || g, 'UTF8') FROM generate_series(1, 30000) g;
SELECT key FROM tx_scan WHERE ctid = (SELECT ctid FROM tx_scan WHERE key = 'k20001');
SELECT count(*) FROM tx_scan WHERE ctid = '(4294967294,1)';
SELECT count(*), sum(seq), count(DISTINCT key) FROM tx_scan;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT count(*), sum(seq), count(DISTINCT key) FROM tx_scan;
SELECT count(*), sum(seq), count(DISTINCT key) FROM tx_scan;
SELECT partition, count(*), min(seq), max(seq) FROM tx_scan GROUP BY partition ORDER BY partition;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
BEGIN;
DECLARE tx_cur CURSOR FOR SELECT partition, seq, key FROM tx_scan WHERE partition = 2 ORDER BY seq;
FETCH 3 FROM tx_cur;
FETCH 2 FROM tx_cur;
CLOSE tx_cur;
ROLLBACK;
-- a SCROLL cursor goes back and forth (backward scans; through fdf6965 they
-- failed with feature_not_supported): off the start and back, the last
-- record, relative steps across pages
BEGIN;
DECLARE tx_scroll SCROLL CURSOR FOR SELECT partition, seq FROM tx_scan;
FETCH 2 FROM tx_scroll;
FETCH PRIOR FROM tx_scroll;
FETCH PRIOR FROM tx_scroll;
FETCH NEXT FROM tx_scroll;
FETCH LAST FROM tx_scroll;
FETCH NEXT FROM tx_scroll;
FETCH PRIOR FROM tx_scroll;
FETCH BACKWARD 3 FROM tx_scroll;
ROLLBACK;
-- every record backward is the forward order reversed, and 500 random
-- absolute and relative moves land on the record the forward order has there
DO $$
DECLARE
    c refcursor := 'tx_walk';
    fwd text[] := '{}';
    r record;
    n integer;
    k integer;
    d integer;
    i integer;
BEGIN
    OPEN c SCROLL FOR SELECT partition || ':' || seq AS id FROM tx_scan;
    LOOP
        FETCH c INTO r;
        EXIT WHEN NOT FOUND;
        fwd := fwd || r.id;
    END LOOP;
    n := cardinality(fwd);
    FOR i IN REVERSE n..1 LOOP
        FETCH PRIOR FROM c INTO r;
        IF NOT FOUND OR r.id <> fwd[i] THEN
            RAISE EXCEPTION 'backward step % of %: % instead of %', n - i + 1, n, r.id, fwd[i];
        END IF;
    END LOOP;
    FETCH PRIOR FROM c INTO r;
    IF FOUND THEN
        RAISE EXCEPTION 'a record before the first: %', r.id;
    END IF;
    PERFORM setseed(0.25);
    FOR i IN 1..500 LOOP
        k := 1 + floor(random() * n)::integer;
        FETCH ABSOLUTE k FROM c INTO r;
        IF NOT FOUND OR r.id <> fwd[k] THEN
            RAISE EXCEPTION 'absolute %: % instead of %', k, r.id, fwd[k];
        END IF;
        d := floor(random() * 601)::integer - 300;
        FETCH RELATIVE d FROM c INTO r;
        IF k + d BETWEEN 1 AND n THEN
            IF NOT FOUND OR r.id <> fwd[k + d] THEN
                RAISE EXCEPTION 'relative % from %: % instead of %', d, k, r.id, fwd[k + d];
            END IF;
        ELSIF FOUND THEN
            RAISE EXCEPTION 'relative % from % of %: found %', d, k, n, r.id;
        END IF;
    END LOOP;
    CLOSE c;
    RAISE NOTICE 'walked % records of % pages both ways', n,
        pg_relation_size('tx_scan') / current_setting('block_size')::integer;
END
$$;
-- a cursor keeps its snapshot while records are produced
BEGIN;
DECLARE tx_cur CURSOR FOR SELECT count(*) FROM tx_scan;
SELECT * FROM topics.produce('tx_scan', 'late', 'v', NULL, 1);
FETCH ALL FROM tx_cur;
COMMIT;
SELECT count(*) FROM tx_scan;

-- System columns, as heap answers them: xmin is the producing transaction,
-- cmin (and cmax) its command, xmax 0 (a record is never deleted), ctid and
-- tableoid where the record is.  Through every way of reading a topic: a
-- sequential scan, a seek (TopicSeek), a TID scan, a scroll cursor walking
-- back, INSERT ... RETURNING and a sort.  With the library of e62b7f5 and
-- earlier "SELECT xmin" failed ("cannot retrieve a system column in this
-- context").
SELECT topics.create_topic('tx_sys', 2);
BEGIN;
SELECT pg_current_xact_id()::xid AS tx_a \gset
SELECT count(*) FROM topics.produce_batch('tx_sys', ARRAY['a', 'b'], ARRAY['1', '2'], partition => 0);
INSERT INTO tx_sys (partition, key, value) VALUES (0, 'c', '3')
    RETURNING seq, xmin::text = :'tx_a' AS own_xact, cmin, cmax, xmax, ctid;
COMMIT;
BEGIN;
SELECT pg_current_xact_id()::xid AS tx_b \gset
SELECT topics.produce('tx_sys', 'd', '4', partition => 1);
SELECT topics.produce('tx_sys', 'e', '5', partition => 0);
COMMIT;
SELECT partition, seq, key, xmin::text = :'tx_a' AS first_xact, xmin::text = :'tx_b' AS second_xact,
       cmin, cmax, xmax, ctid, tableoid::regclass
FROM tx_sys ORDER BY partition, seq;
-- a seek (TopicSeek), forward and backward
EXPLAIN (COSTS OFF) SELECT seq, xmin FROM tx_sys WHERE partition = 0 AND seq >= 1;
SELECT seq, xmin::text = :'tx_a' AS first_xact, cmin FROM tx_sys WHERE partition = 0 AND seq >= 1;
SELECT seq, xmin::text = :'tx_b' AS second_xact FROM tx_sys WHERE partition = 1 ORDER BY seq DESC LIMIT 1;
-- a seek filtering on xmin, and a TID scan
SELECT seq, key FROM tx_sys WHERE partition = 0 AND seq >= 0
    AND xmin = (SELECT xmin FROM tx_sys WHERE partition = 1 AND seq = 0);
SELECT seq, xmin::text = :'tx_b' AS second_xact FROM tx_sys
    WHERE ctid = (SELECT ctid FROM tx_sys WHERE partition = 1 AND seq = 0);
-- a scroll cursor walking back, and a sort
BEGIN;
DECLARE tx_sys_cur SCROLL CURSOR FOR SELECT seq, xmin::text = :'tx_a' AS first_xact, cmin FROM tx_sys;
FETCH 4 FROM tx_sys_cur;
FETCH PRIOR FROM tx_sys_cur;
COMMIT;
SELECT partition, seq, xmin::text IN (:'tx_a', :'tx_b') AS known_xact
FROM (SELECT partition, seq, xmin FROM tx_sys ORDER BY key DESC) s;
-- frozen records keep their xmin, as heap's do, and VACUUM FULL's copies
-- their xmin and cmin (as heap's rewrite keeps t_cid; its first build gave
-- every copy VACUUM FULL's own command id)
VACUUM (FREEZE) tx_sys;
SELECT seq, xmin::text = :'tx_a' AS first_xact, cmin FROM tx_sys WHERE partition = 0;
VACUUM FULL tx_sys;
SELECT partition, seq, xmin::text = :'tx_a' AS first_xact, xmin::text = :'tx_b' AS second_xact, cmin, cmax
FROM tx_sys ORDER BY partition, seq;
DROP TABLE tx_sys;

DROP TABLE tx_t, tx_scan;
