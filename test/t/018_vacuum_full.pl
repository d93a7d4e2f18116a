# VACUUM FULL of a topic, replicated and across crashes.
#
# The new storage is written through WAL like any append (generic WAL for
# its pages, a full image for the metapage and state pages), so a hot
# standby replays it and a crash right after the commit recovers it; with
# wal_level = minimal nothing of it is logged and PostgreSQL syncs the new
# relation file at commit instead.  In each case the records, their seqs
# and the partitions' bounds are those before the rewrite, readers take
# them through every path, and producing goes on at the old next seqs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

# A compacted topic of three partitions with aborted records in the
# middle and at the end, and one value stored out of line.
my $setup = q{
CREATE EXTENSION pg_topics;
SELECT topics.create_topic('vf', 3, cleanup_policy => 'compact');
SELECT count(*) FROM topics.produce_batch('vf',
	ARRAY(SELECT 'k' || (g % 40) FROM generate_series(1, 6000) g),
	ARRAY(SELECT repeat('v', 100) || g FROM generate_series(1, 6000) g));
SELECT count(*) FROM topics.produce('vf', 'big',
	convert_to((SELECT string_agg(md5(g::text), '') FROM generate_series(1, 4000) g), 'UTF8'),
	NULL, 0);
BEGIN;
SELECT count(*) FROM topics.produce_batch('vf', ARRAY['x', 'y'], ARRAY['1', '2'], NULL, 1);
ROLLBACK;
SELECT count(*) FROM topics.produce_batch('vf', ARRAY['k1'], ARRAY['after'], NULL, 1);
BEGIN;
SELECT count(*) FROM topics.produce_batch('vf', ARRAY['x', 'y'], ARRAY['1', '2'], NULL, 2);
ROLLBACK;
SELECT count(*) FROM topics.maintain('vf');
};

# what must not change: every record, and every partition's bounds
my $digest = q{
SELECT count(*) || ' ' || md5(string_agg(t::text, ',' ORDER BY partition, seq))
	|| ' ' || (SELECT string_agg(b::text, ',' ORDER BY partition) FROM topics.partition_bounds('vf') b)
FROM vf t};
# the same records through fetch and a shard iterator
my $readers = q{
SELECT (SELECT count(*) FROM generate_series(0, 2) p,
		LATERAL topics.fetch('vf', p, (SELECT log_start_seq FROM topics.partition_bounds('vf') b
			WHERE b.partition = p), 10000))
	|| ' ' || (SELECT sum(cardinality(records)) FROM generate_series(0, 2) p,
		LATERAL topics.get_records(topics.get_shard_iterator('vf', p, 'TRIM_HORIZON'), 10000))};

sub check_node
{
	my ($node, $name, $before, $count) = @_;
	is($node->safe_psql('postgres', $digest), $before, "$name: same records and bounds");
	is($node->safe_psql('postgres', $readers), "$count $count",
		"$name: fetch and get_records return every record");
}

# --- streaming replication and a crash -----------------------------------

my $primary = topics_node('vf_primary', init => { allows_streaming => 1 },
	conf => ['max_prepared_transactions = 5']);
$primary->start;
$primary->safe_psql('postgres', $setup);
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('vf_standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
# a standby needs at least the primary's max_prepared_transactions
$standby->append_conf('postgresql.conf', 'max_prepared_transactions = 5');
$standby->start;

my $before = $primary->safe_psql('postgres', $digest);
my ($count) = split / /, $before;
my $next = $primary->safe_psql('postgres',
	q{SELECT string_agg(next_seq::text, ',' ORDER BY partition) FROM topics.partition_bounds('vf')});
my $size = $primary->safe_psql('postgres', q{SELECT pg_relation_size('vf')});

$primary->safe_psql('postgres', 'VACUUM FULL vf');
cmp_ok($primary->safe_psql('postgres', q{SELECT pg_relation_size('vf')}),
	'<', $size / 4, 'the compacted topic shrank to under a quarter');
check_node($primary, 'primary', $before, $count);

$primary->wait_for_catchup($standby);
check_node($standby, 'standby', $before, $count);

$primary->stop('immediate');
$primary->start;
check_node($primary, 'primary after a crash', $before, $count);

# producing goes on at the old next seqs (partition 2 ended aborted)
is( $primary->safe_psql('postgres',
		q{SELECT string_agg(p.seq::text, ',' ORDER BY p.partition)
		  FROM generate_series(0, 2) g, LATERAL topics.produce('vf', 'n', 'n'::bytea, NULL, g) p}),
	$next, 'new records take the next seqs of before the rewrite');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', q{SELECT count(*) FROM vf}), $count + 3,
	'the standby has the new records');

# A prepared transaction that produced keeps its lock on the topic until
# COMMIT PREPARED: VACUUM FULL waits for it (it copies committed records
# only), then copies its records too; meanwhile readers queue behind it.
# (The isolation tester cannot see a session waiting for a prepared
# transaction, so this is here.)
$primary->safe_psql('postgres', q{
BEGIN;
SELECT count(*) FROM topics.produce_batch('vf', ARRAY['prep1', 'prep2'], ARRAY['p1', 'p2'], NULL, 1);
PREPARE TRANSACTION 'vf_prepared';
});
my ($vf_out, $vf_err) = ('', '');
my $vacuum = IPC::Run::start(
	[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $primary->connstr('postgres'),
		'-c', 'VACUUM FULL vf' ],
	'>', \$vf_out, '2>', \$vf_err);
ok( $primary->poll_query_until('postgres',
		q{SELECT count(*) > 0 FROM pg_locks WHERE relation = 'vf'::regclass AND NOT granted}),
	'VACUUM FULL waits for the prepared transaction');
$primary->safe_psql('postgres', q{COMMIT PREPARED 'vf_prepared'});
ok($vacuum->finish, 'VACUUM FULL finished after COMMIT PREPARED');
is($primary->safe_psql('postgres', q{SELECT count(*) FROM vf WHERE key LIKE 'prep%'}), '2',
	'the prepared transaction\'s records were copied');
is($primary->safe_psql('postgres', q{SELECT count(*) FROM vf}), $count + 5,
	'and every record before them');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', q{SELECT count(*) FROM vf}), $count + 5,
	'the standby replays it');
$standby->stop;
$primary->stop;

# --- wal_level = minimal: the new file is synced at commit ------------------

my $minimal = topics_node('vf_minimal',
	conf => [ 'wal_level = minimal', 'max_wal_senders = 0', 'wal_skip_threshold = 0' ]);
$minimal->start;
$minimal->safe_psql('postgres', $setup);
$before = $minimal->safe_psql('postgres', $digest);
($count) = split / /, $before;
$minimal->safe_psql('postgres', 'VACUUM FULL vf');

# a topic created, filled and truncated and filled again in one
# transaction: none of it is logged, all of it is synced at commit
$minimal->safe_psql('postgres', q{
BEGIN;
SELECT topics.create_topic('same_xact', 2);
SELECT count(*) FROM topics.produce_batch('same_xact',
	ARRAY(SELECT 'k' || g FROM generate_series(1, 3000) g),
	ARRAY(SELECT repeat('v', 100) FROM generate_series(1, 3000) g));
COMMIT;
BEGIN;
TRUNCATE same_xact;
SELECT count(*) FROM topics.produce_batch('same_xact',
	ARRAY(SELECT 'k' || g FROM generate_series(1, 1000) g),
	ARRAY(SELECT repeat('w', 100) FROM generate_series(1, 1000) g));
COMMIT;
});
my $same_xact = q{
SELECT count(*) || ' ' || (SELECT string_agg(b::text, ',' ORDER BY partition)
	FROM topics.partition_bounds('same_xact') b) FROM same_xact};
my $same_before = $minimal->safe_psql('postgres', $same_xact);
like($same_before, qr/^1000 \(0,\d+,\d+\),\(1,\d+,\d+\)$/,
	'the truncated topic holds the second batch');

$minimal->stop('immediate');
$minimal->start;
is($minimal->safe_psql('postgres', $same_xact), $same_before,
	'wal_level minimal after a crash: the topic made and filled in one transaction');
check_node($minimal, 'wal_level minimal after a crash', $before, $count);
$minimal->stop;

done_testing();
