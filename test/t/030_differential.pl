# A seeded differential test (differential.py): a topic of 1 to 4 partitions
# and a heap table "twin" with the same columns and a primary key on
# (partition, seq), written in the same transactions (produce with bytea,
# text and jsonb values, produce_batch with NULL keys and an explicit
# partition, INSERT ... VALUES and INSERT ... SELECT with producer-given
# timestamps out of order, COPY; commits, rollbacks, savepoints rolled back
# or released, and a second connection whose producing transaction stays
# open across steps), with VACUUM, VACUUM FREEZE, VACUUM FULL, ANALYZE and
# now and then one partition more (alter_topic) between steps.  The twin gets
# the partition, seq and ts the topic assigned; seqs must be dense per
# partition and keys must go where Kafka's partitioner puts them.  Then every
# kind of read must give the twin's answer: seeks forward and backward,
# predicates on key, ts, value and headers, aggregates, windows, joins with
# a VALUES list and LATERAL seeks, prepared statements, parallel plans,
# cursors (SCROLL ones backward), EXCEPT ALL of the whole tables, REPEATABLE
# READ across a commit, reads inside the producing transaction
# (partition_info and seq_at_time there too), fetch (max_bytes, LATERAL),
# seq_at_time, shard iterators of every type (millis_behind_latest
# included), fetch readers and iterators followed across steps,
# topics.partitions and a consumer group (every committed record
# once).  fetch, get_records and consume stop at the last stable offset (the
# open transaction's first record); SELECT follows MVCC.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use File::Basename qw(dirname);
use IPC::Run;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

my $python = python_driver();

# prepared transactions: the open producer is sometimes prepared and
# finished later by another session
my $node = topics_node('differential', conf => ['max_prepared_transactions = 10']);
$node->start;

# Seeds 3, 6, 7 and 12 make topics of 2, 1, 3 and 4 partitions, with
# pg_topics.directory_fanout 4, 3, the default and 3 in the producing
# sessions (deep directories from few pages).
my $steps = 250;
for my $seed (3, 6, 7, 12)
{
	my ($out, $err) = ('', '');
	my $exited_0 = IPC::Run::run(
		[
			$python, dirname(__FILE__) . '/differential.py',
			$seed, $steps, '--host', $node->host, '--port', $node->port
		],
		'>', \$out, '2>', \$err);
	ok($exited_0 && $out =~ /^seed $seed: $steps steps OK;/m,
		"seed $seed: the topic answered every read as its heap twin did")
	  or diag($out . $err);
}

$node->stop;
done_testing();
