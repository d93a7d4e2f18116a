# Twenty crashes while 4 producers, 1 aborting producer and 2 consumers of
# a group run.  After each restart (crash recovery):
#  - every acknowledged record (its producer's transaction committed; the
#    producer records it in the heap table "ack" in the same transaction) is
#    present and byte-identical;
#  - nothing else is visible: no record of an aborted or unfinished
#    transaction;
#  - no (partition, seq) is ever used twice, and new records get seqs above
#    every acknowledged one;
#  - the group's committed positions are never ahead of what the consumers
#    processed (consume and the "processed" insert share a transaction), and
#    nothing is processed twice.
# The crash is an immediate shutdown (SIGQUIT to every server process, no
# shutdown checkpoint): the restart replays WAL like after kill -9.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run qw(finish);
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

my $rounds = 20;
my $node = topics_node('crash', conf => ['max_connections = 30']);
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION pg_topics;
SELECT topics.create_topic('crash', 4);
CREATE TABLE ack (partition int, seq bigint, key text, value bytea, PRIMARY KEY (partition, seq));
CREATE TABLE processed (partition int, seq bigint, key text, value bytea, PRIMARY KEY (partition, seq));
});

my $dir = $node->basedir;
open(my $fh, '>', "$dir/produce.sql") or die;
print $fh q{\set k random(1, 1000000000)
WITH p AS (SELECT * FROM topics.produce('crash', 'key-' || :k, decode(md5(:k::text), 'hex')))
INSERT INTO ack SELECT p.partition, p.seq, 'key-' || :k, decode(md5(:k::text), 'hex') FROM p;
};
close $fh;
open($fh, '>', "$dir/abort.sql") or die;
print $fh q{BEGIN;
SELECT count(*) FROM topics.produce_batch('crash', ARRAY['aborted', 'aborted'], ARRAY['x', 'y']);
ROLLBACK;
};
close $fh;
open($fh, '>', "$dir/consume.sql") or die;
print $fh q{BEGIN;
INSERT INTO processed SELECT partition, seq, key, value FROM topics.consume('grp', 'crash', 20);
COMMIT;
};
close $fh;

my $checks = {
	'acknowledged records present and intact' => q{
		SELECT count(*) FROM ack a
		WHERE NOT EXISTS (SELECT 1 FROM crash c WHERE c.partition = a.partition AND c.seq = a.seq
						  AND c.key = a.key AND c.value = a.value)},
	'nothing unacknowledged visible' => q{
		SELECT count(*) FROM crash c
		WHERE NOT EXISTS (SELECT 1 FROM ack a WHERE a.partition = c.partition AND a.seq = c.seq)},
	'no seq used twice' => q{
		SELECT count(*) - count(DISTINCT (partition, seq)) FROM crash},
	'no aborted record visible' => q{
		SELECT count(*) FROM crash WHERE key = 'aborted'},
	'group position never ahead of processing' => q{
		SELECT count(*) FROM ack a JOIN topics.committed('grp', 'crash') o USING (partition)
		WHERE a.seq < o.seq
		  AND NOT EXISTS (SELECT 1 FROM processed p WHERE p.partition = a.partition AND p.seq = a.seq)},
	'processed only acknowledged records' => q{
		SELECT count(*) FROM processed p
		WHERE NOT EXISTS (SELECT 1 FROM ack a WHERE a.partition = p.partition AND a.seq = p.seq
						  AND a.value = p.value)},
	'processed nothing beyond the committed position' => q{
		SELECT count(*) FROM processed p JOIN topics.committed('grp', 'crash') o USING (partition)
		WHERE p.seq >= o.seq},
};

my $acked = 0;
my $failures = 0;
for my $round (1 .. $rounds)
{
	my $processed_before = $node->safe_psql('postgres', 'SELECT count(*) FROM processed');
	my @load = (pgbench_load($node, "$dir/produce.sql", 4), pgbench_load($node, "$dir/abort.sql", 1),
		pgbench_load($node, "$dir/consume.sql", 2));

	# let the load make progress, then crash in the middle of it
	my $target = $acked + 150;
	$node->poll_query_until('postgres', "SELECT count(*) >= $target FROM ack")
	  or die "round $round: producers made no progress";
	$node->poll_query_until('postgres', "SELECT count(*) > $processed_before FROM processed")
	  or die "round $round: consumers made no progress";
	$node->stop('immediate');
	finish($_) for @load;    # they all failed when the server went away
	$node->start;

	my $before = $node->safe_psql('postgres',
		q{SELECT coalesce(json_object_agg(partition, m), '{}') FROM
		  (SELECT partition, max(seq) AS m FROM ack GROUP BY partition) s});
	for my $name (sort keys %$checks)
	{
		my $bad = $node->safe_psql('postgres', $checks->{$name});
		if ($bad ne '0')
		{
			$failures++;
			fail("round $round: $name ($bad violations)");
		}
	}
	# new records continue above every acknowledged seq
	my $above = $node->safe_psql('postgres', q{
		SELECT bool_and(p.seq > coalesce((SELECT max(seq) FROM ack a WHERE a.partition = p.partition), -1))
		FROM generate_series(0, 3) g,
			 LATERAL topics.produce('crash', 'probe', 'p', partition => g) p});
	if ($above ne 't')
	{
		$failures++;
		fail("round $round: a new seq is not above the acknowledged ones");
	}
	# the probes are acknowledged by hand: they committed
	$node->safe_psql('postgres', q{
		INSERT INTO ack SELECT partition, seq, key, value FROM crash c
		WHERE key = 'probe' AND NOT EXISTS (SELECT 1 FROM ack a WHERE a.partition = c.partition AND a.seq = c.seq)});
	$acked = $node->safe_psql('postgres', 'SELECT count(*) FROM ack');
}
is($failures, 0, "$rounds crash rounds without a violation");
cmp_ok($acked, '>=', $rounds * 150, "$acked records acknowledged over $rounds rounds");
my $processed = $node->safe_psql('postgres', 'SELECT count(*) FROM processed');
cmp_ok($processed, '>', 0, "$processed records processed exactly once");
# the topic and the heap table agree after a final clean restart too
$node->restart;
is($node->safe_psql('postgres', $checks->{'acknowledged records present and intact'}), '0',
	'intact after a clean restart');
ok($node->safe_psql('postgres', 'VACUUM crash; SELECT 1') eq '1', 'VACUUM after the crashes');
$node->stop;
done_testing();
