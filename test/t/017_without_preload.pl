# pg_topics without shared_preload_libraries: the library loads in each
# session that uses it, and everything works but what needs its shared
# memory (long-poll waits, the open-producer registry, the maintenance
# worker), which says so.  Until 0.6 the library defined a PGC_POSTMASTER
# setting whenever it loaded, which ends a session with FATAL when it is
# not preloaded: CREATE EXTENSION itself failed.
#
# The node also runs with wal_level = logical, to show what the
# publication guard (sql/publications.sql) is for: a logical slot decodes
# a heap table's insert and nothing of a topic's records.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('nopreload');
$node->init;
$node->append_conf('postgresql.conf', "wal_level = logical\n");
$node->start;
is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'), '',
	'nothing preloaded');

$node->safe_psql('postgres', q{
CREATE EXTENSION pg_topics;
SELECT topics.create_topic('np', 2);
});
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM topics.produce_batch('np', '{a,b,c}'::text[], '{1,2,3}'::text[], partition => 0)}),
	'3', 'produce_batch');
is($node->safe_psql('postgres', q{SELECT string_agg(key, ',' ORDER BY seq) FROM topics.fetch('np', 0, 0)}),
	'a,b,c', 'fetch');
is($node->safe_psql('postgres', q{SELECT string_agg(key, ',' ORDER BY seq) FROM np WHERE partition = 0 AND seq >= 1}),
	'b,c', 'SELECT by seq');
is($node->safe_psql('postgres', q{SELECT count(*) FROM topics.consume('g', 'np', 10)}),
	'3', 'consume');
is($node->safe_psql('postgres', q{
	SELECT cardinality(records) FROM topics.get_records(topics.get_shard_iterator('np', 0, 'TRIM_HORIZON'), 10)}),
	'3', 'get_records');

# what needs the preload says so
my ($ret, $out, $err) = $node->psql('postgres',
	q{SELECT count(*) FROM topics.fetch('np', 0, 3, wait => '1 s')});
isnt($ret, 0, 'a long-poll fetch fails');
like($err, qr/waiting for records requires pg_topics in shared_preload_libraries/,
	'and says it needs the preload');

# a logical slot sees the heap table's insert, and no record of the topic
$node->safe_psql('postgres', q{
CREATE TABLE heap_t (i int);
SELECT pg_create_logical_replication_slot('s', 'test_decoding');
SELECT count(*) FROM topics.produce_batch('np', '{d,e}'::text[], '{4,5}'::text[], partition => 1);
INSERT INTO heap_t VALUES (42);
});
my $changes = $node->safe_psql('postgres',
	q{SELECT string_agg(data, ' | ') FROM pg_logical_slot_get_changes('s', NULL, NULL)
	  WHERE data NOT LIKE 'BEGIN%' AND data NOT LIKE 'COMMIT%'});
is($changes, 'table public.heap_t: INSERT: i[integer]:42',
	'logical decoding: the heap insert, nothing of the topic');
is($node->safe_psql('postgres', q{SELECT count(*) FROM np WHERE partition = 1}), '2',
	'while the topic holds the records');

# CREATE INDEX CONCURRENTLY in a session that has not loaded the library
# (psql runs each command in a new session): the event trigger at
# ddl_command_start refuses it before it commits the index's catalog entry
# (since 0.11; until then an invalid index was left behind)
my ($cic_ret, $cic_out, $cic_err) = $node->psql('postgres', 'CREATE INDEX CONCURRENTLY np_key ON np (key)');
isnt($cic_ret, 0, 'CREATE INDEX CONCURRENTLY on a topic fails');
like($cic_err, qr/indexes are not supported on topic "np"/, 'with the topic\'s error');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_index WHERE indrelid = 'np'::regclass}),
	'0', 'and leaves no index behind');

$node->stop;
done_testing();
