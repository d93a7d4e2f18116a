# Transactions prepared (PREPARE TRANSACTION) before a restart, a crash or
# a promotion still hold readers back at their records: a reader that
# starts past them (a position committed by hand, an AT_SEQUENCE_NUMBER
# iterator, a fetch from a later seq) gets nothing until they end, as it
# does before the restart, and COMMIT PREPARED wakes a long-poll waiter.
# Until 2026-12-02 the open-producer registry, in shared memory, forgot
# them: such a reader read the records committed after them while they were
# still invisible, and never saw them in order.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

# Each query returns the seqs and keys it read, as "seq:key,seq:key".
my %read = (
	fetch => q{SELECT coalesce(string_agg(seq || ':' || key, ',' ORDER BY seq), '')
		FROM topics.fetch('TOPIC', 0, 1)},
	iterator => q{SELECT coalesce(string_agg((r).seq || ':' || (r).key, ',' ORDER BY (r).seq), '')
		FROM topics.get_records(topics.get_shard_iterator('TOPIC', 0, 'AT_SEQUENCE_NUMBER', 1)) g,
		LATERAL unnest(g.records) r},
	after_iterator => q{SELECT coalesce(string_agg((r).seq || ':' || (r).key, ',' ORDER BY (r).seq), '')
		FROM topics.get_records(topics.get_shard_iterator('TOPIC', 0, 'AFTER_SEQUENCE_NUMBER', 0)) g,
		LATERAL unnest(g.records) r},
	consume => q{BEGIN;
		SELECT topics.commit('GROUP', 'TOPIC', 0, 1);
		SELECT coalesce(string_agg(seq || ':' || key, ',' ORDER BY seq), '')
		FROM topics.consume('GROUP', 'TOPIC');
		ROLLBACK},);

# check_held(NODE, TOPIC, WHAT): every reader starting at seq 1 of TOPIC
# gets nothing while seq 0 is in a prepared transaction; from seq 0 too
sub check_held
{
	my ($node, $topic, $what) = @_;
	for my $reader (sort keys %read)
	{
		(my $sql = $read{$reader}) =~ s/TOPIC/$topic/g;
		$sql =~ s/GROUP/g_$reader/g;
		my $out = $node->safe_psql('postgres', $sql);
		is((split /\n/, $out)[-1] // '', '', "$what: $reader from seq 1 gets nothing");
	}
	is( $node->safe_psql('postgres', qq{SELECT count(*) FROM topics.fetch('$topic', 0, 0)}),
		'0', "$what: fetch from seq 0 gets nothing");
}

# make_held(NODE, TOPIC, GID, IN_SAVEPOINT): seq 0 of TOPIC in a prepared
# transaction (produced in a released savepoint, so that the record's xmin
# is a subtransaction's, with IN_SAVEPOINT), seq 1 committed after it
sub make_held
{
	my ($node, $topic, $gid, $in_savepoint) = @_;
	my ($open, $close) = $in_savepoint ? ('SAVEPOINT s;', 'RELEASE SAVEPOINT s;') : ('', '');
	$node->safe_psql('postgres', qq{
SELECT topics.create_topic('$topic', 1);
BEGIN;
$open
SELECT topics.produce('$topic', 'held', 'v');
$close
PREPARE TRANSACTION '$gid';
SELECT topics.produce('$topic', 'after', 'v');
});
}

my $waiting = q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE application_name = 'waiter' AND state = 'active' AND wait_event_type = 'Extension'};

# start_waiter(NODE, TOPIC): a fetch from seq 1 of TOPIC, waiting up to 5
# minutes (the test would time out first), once it waits in the server
sub start_waiter
{
	my ($node, $topic) = @_;
	my $w = $node->background_psql('postgres');
	$w->query_safe("SET application_name = 'waiter'");
	$w->query_until(qr/started/,
		"\\echo started\nSELECT 'got:' || string_agg(seq || ':' || key, ',' ORDER BY seq) FROM topics.fetch('$topic', 0, 1, 10, NULL, '5 min');\n\\echo done\n"
	);
	ok($node->poll_query_until('postgres', $waiting), "$topic: a fetch from seq 1 waits behind the prepared record");
	return $w;
}

my $node = topics_node('prepared', init => { allows_streaming => 1 },
	conf => ['max_prepared_transactions = 5', 'restart_after_crash = on']);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_topics');
$node->safe_psql('postgres', 'CREATE DATABASE other');

# --- before a restart: the registry knows the transaction
make_held($node, 'pr', 'pr_held');
check_held($node, 'pr', 'before a restart');
# and one in another database that produced nothing
$node->safe_psql('other', q{BEGIN; CREATE TABLE t (); PREPARE TRANSACTION 'other_held';});

# --- after a restart
$node->restart;
check_held($node, 'pr', 'after a restart');

# other topics and a producer's own records are not held back
$node->safe_psql('postgres', q{
SELECT topics.create_topic('free', 1);
SELECT topics.produce('free', 'a', 'v');
SELECT topics.produce('free', 'b', 'v');
});
is($node->safe_psql('postgres', q{SELECT string_agg(key, ',') FROM topics.fetch('free', 0, 1)}),
	'b', 'after a restart: another topic reads from seq 1');
is( $node->safe_psql('postgres', q{
BEGIN;
SELECT topics.produce('free', 'own', 'v');
SELECT string_agg(key, ',') FROM topics.fetch('free', 0, 2);
COMMIT;
}),
	"(0,2)\nown", 'a transaction reads its own record past the others');

# COMMIT PREPARED wakes a waiter that started past the records
my $w = start_waiter($node, 'pr');
$node->safe_psql('postgres', q{COMMIT PREPARED 'pr_held'});
like($w->query_until(qr/done/, ''), qr/got:1:after/, 'COMMIT PREPARED woke it with the record');
$w->quit;
is($node->safe_psql('postgres', q{SELECT string_agg(seq || ':' || key, ',' ORDER BY seq) FROM topics.fetch('pr', 0, 0)}),
	'0:held,1:after', 'both records, in order, once it committed');
$node->safe_psql('other', q{COMMIT PREPARED 'other_held'});

# --- after a backend crashed (the server reinitializes shared memory in
# place), for a record produced in a savepoint; the registry's first use
# after it is a producer's; ROLLBACK PREPARED wakes the waiter
make_held($node, 'pc', 'pc_held', 1);
my $victim = $node->background_psql('postgres');
my $victim_pid = $victim->query_safe('SELECT pg_backend_pid()');
kill 'KILL', $victim_pid;
eval { $victim->quit };
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_prepared_xacts WHERE gid = 'pc_held'}),
	'the server is back after the crash, with the prepared transaction');
$node->safe_psql('postgres', q{SELECT topics.produce('free', 'first use', 'v')});
check_held($node, 'pc', 'after a crash');
$w = start_waiter($node, 'pc');
$node->safe_psql('postgres', q{ROLLBACK PREPARED 'pc_held'});
like($w->query_until(qr/done/, ''), qr/got:1:after/, 'ROLLBACK PREPARED woke it with the record after it');
$w->quit;
is($node->safe_psql('postgres', $read{fetch} =~ s/TOPIC/pc/gr), '1:after',
	'after ROLLBACK PREPARED the record after it is read');

# --- after a standby is promoted (the prepared transaction is replayed)
make_held($node, 'pp', 'pp_held');
$node->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('prepared_standby');
$standby->init_from_backup($node, 'b', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
$node->stop('immediate');
$standby->promote;
check_held($standby, 'pp', 'after a promotion');
$standby->safe_psql('postgres', q{COMMIT PREPARED 'pp_held'});
is($standby->safe_psql('postgres', $read{iterator} =~ s/TOPIC/pp/gr), '1:after',
	'after COMMIT PREPARED on the promoted node the iterator reads on');
$standby->stop;

done_testing();
