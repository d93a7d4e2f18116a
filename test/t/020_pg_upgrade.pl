# pg_upgrade of a cluster with topics.
#
# pg_upgrade restores the schema (CREATE TABLE ... USING topic_log, which
# makes fresh storage) and then copies the old relation files over the new
# ones, keeping relfilenodes, the commit log and the next transaction ID.
# A topic's pages hold everything about it (partition bounds, directory,
# records with their xmin), so the upgraded cluster must read the same
# records and bounds, decide the visibility of records that no reader had
# hinted yet from the copied commit log, keep consumer groups' positions,
# accept shard iterators issued before (the secret is a table's row and
# the database keeps its OID), and produce at the old next seqs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

# iterators must outlive the upgrade however slow the machine
my @conf = ("pg_topics.shard_iterator_ttl = '1d'");
my $old = topics_node('upg_old', conf => \@conf);
my $new = topics_node('upg_new', conf => \@conf);
$old->start;

# Three partitions with an aborted record in the middle of one, values
# stored out of line, retention that has moved a log start, a compacted
# topic and a consumer group with committed positions.
$old->safe_psql('postgres', q{
CREATE EXTENSION pg_topics;
SELECT topics.create_topic('orders', 3, retention => '7 days');
SELECT count(*) FROM topics.produce_batch('orders',
	ARRAY(SELECT 'k' || g FROM generate_series(1, 3000) g),
	ARRAY(SELECT convert_to(repeat('v', g % 200), 'UTF8') FROM generate_series(1, 3000) g));
INSERT INTO orders (key, value, partition)
SELECT 'big', convert_to((SELECT string_agg(md5(g::text), '') FROM generate_series(1, 2000) g), 'UTF8'), 0;
BEGIN;
SELECT topics.produce('orders', 'aborted', 'x', partition => 1);
ROLLBACK;
SELECT topics.produce('orders', 'after-gap', 'y', partition => 1);
INSERT INTO orders (key, value, ts, partition)
SELECT 'old', 'o', now() - interval '30 days', 2 FROM generate_series(1, 2);
SELECT topics.create_topic('aged', 1, retention => '1 day');
INSERT INTO aged (key, value, ts)
SELECT NULL, convert_to(repeat('a', 500), 'UTF8'), now() - interval '30 days'
FROM generate_series(1, 100);
INSERT INTO aged (key, value) SELECT NULL, 'fresh' FROM generate_series(1, 10);
SELECT topics.create_topic('latest', 1, cleanup_policy => 'compact');
SELECT count(*) FROM topics.produce_batch('latest',
	ARRAY(SELECT 'k' || (g % 10) FROM generate_series(1, 500) g),
	ARRAY(SELECT convert_to(g::text, 'UTF8') FROM generate_series(1, 500) g));
SELECT count(*) FROM topics.maintain('aged');
SELECT count(*) FROM topics.maintain('latest');
SELECT count(*) FROM topics.consume('billing', 'orders', 700);
});

# the late records below are left out: they come after this snapshot
my %q = (
	orders => q{SELECT count(*) || ' ' || md5(string_agg(t::text, ',' ORDER BY partition, seq))
				FROM orders t WHERE key IS DISTINCT FROM 'late'},
	aged => q{SELECT count(*) || ' ' || min(seq) || ' ' || max(seq) FROM aged},
	latest => q{SELECT string_agg(key || '=' || convert_from(value, 'UTF8'), ',' ORDER BY seq) FROM latest},
	other_bounds => q{SELECT string_agg(b::text, ',' ORDER BY topic, partition)
					  FROM topics.partitions b WHERE topic <> 'orders'::regclass},
	positions => q{SELECT string_agg(group_id || ':' || partition || ':' || seq, ',' ORDER BY partition)
				   FROM topics.committed_offsets},
	fetch => q{SELECT string_agg(seq || ':' || coalesce(key, ''), ',')
			   FROM topics.fetch('orders', 1, 980, 20)},
);
my %before = map { $_ => $old->safe_psql('postgres', $q{$_}) } keys %q;
# retention removes whole pages of expired records: the log start moved
cmp_ok((split / /, $before{aged})[1], '>', 0, 'retention moved the log start before the upgrade');
like($before{fetch}, qr/^980:k\d+,.*after-gap$/, 'partition 1 ends with the record after the aborted one');
my $iterator = $old->safe_psql('postgres',
	q{SELECT topics.get_shard_iterator('orders', 1, 'AT_SEQUENCE_NUMBER', 980)});

# The last records are committed and aborted after every read above, and
# nothing reads them before the upgrade: their status is not hinted on the
# page, only kept in the commit log, which pg_upgrade copies.
$old->safe_psql('postgres', q{
SELECT count(*) FROM topics.produce_batch('orders',
	ARRAY(SELECT 'late' FROM generate_series(1, 40)),
	ARRAY(SELECT 'l'::bytea FROM generate_series(1, 40)), NULL, 2);
BEGIN;
SELECT count(*) FROM topics.produce_batch('orders',
	ARRAY(SELECT 'late-aborted' FROM generate_series(1, 5)),
	ARRAY(SELECT 'a'::bytea FROM generate_series(1, 5)), NULL, 2);
ROLLBACK;
});
# partition_bounds reads the partitions' state, not their records
my $bounds = q{SELECT string_agg(b::text, ',' ORDER BY partition) FROM topics.partition_bounds('orders') b};
my $bounds_before = $old->safe_psql('postgres', $bounds);
$old->stop;

my $bindir = $old->config_data('--bindir');
command_ok(
	[
		'pg_upgrade', '--no-sync',
		'-d', $old->data_dir, '-D', $new->data_dir,
		'-b', $bindir, '-B', $bindir,
		'-s', $new->host, '-p', $old->port, '-P', $new->port
	],
	'pg_upgrade succeeds');
$new->start;

is( $new->safe_psql('postgres',
		q{SELECT count(*) FILTER (WHERE key = 'late') || ' ' || count(*) FILTER (WHERE key = 'late-aborted')
		  FROM orders WHERE partition = 2}),
	'40 0', 'records not hinted before the upgrade: the committed ones are visible, the aborted not');
is($new->safe_psql('postgres', $bounds), $bounds_before, 'same partition bounds');
is($new->safe_psql('postgres', $q{$_}), $before{$_}, "same $_") for sort keys %q;
is( $new->safe_psql('postgres',
		qq{SELECT string_agg(r.seq || ':' || coalesce(r.key, ''), ',')
		   FROM topics.get_records('$iterator', 20) g, unnest(g.records) r}),
	$before{fetch}, 'a shard iterator issued before the upgrade reads on');

# the group reads on from its committed positions: every record after
# them once, in seq order, and nothing before them
my $unread = $new->safe_psql('postgres',
	q{SELECT count(*) || ' ' || md5(string_agg(partition || ':' || seq, ',' ORDER BY partition, seq))
	  FROM orders o WHERE seq >= (SELECT seq FROM topics.committed_offsets c
								  WHERE c.group_id = 'billing' AND c.partition = o.partition)});
like($unread, qr/^[1-9]\d* /, 'records after the committed positions');
$new->safe_psql('postgres', q{
CREATE TABLE consumed AS SELECT * FROM topics.consume('billing', 'orders', 500) LIMIT 0;
DO $$
BEGIN
	LOOP
		INSERT INTO consumed SELECT * FROM topics.consume('billing', 'orders', 500);
		EXIT WHEN NOT FOUND;
	END LOOP;
END
$$;
});
is( $new->safe_psql('postgres',
		q{SELECT count(*) || ' ' || md5(string_agg(partition || ':' || seq, ',' ORDER BY partition, seq))
		  FROM consumed}),
	$unread, 'the group resumes at its committed positions');
my $next = $new->safe_psql('postgres',
	q{SELECT string_agg(next_seq::text, ',' ORDER BY partition) FROM topics.partition_bounds('orders')});
is( $new->safe_psql('postgres',
		q{SELECT string_agg(p.seq::text, ',' ORDER BY p.partition)
		  FROM generate_series(0, 2) g, LATERAL topics.produce('orders', 'new', 'n'::bytea, NULL, g) p}),
	$next, 'new records take the next seqs');

# maintenance works on the copied storage: freezing, a rewrite
my $all = q{SELECT count(*) || ' ' || md5(string_agg(t::text, ',' ORDER BY partition, seq)) FROM orders t};
my $all_before = $new->safe_psql('postgres', $all);
$new->safe_psql('postgres', 'VACUUM FREEZE orders');
is($new->safe_psql('postgres', $all), $all_before, 'same records after VACUUM FREEZE');
$new->safe_psql('postgres', 'VACUUM FULL latest');
is($new->safe_psql('postgres', $q{latest}), $before{latest}, 'compacted topic after VACUUM FULL');

$new->stop;
done_testing();
