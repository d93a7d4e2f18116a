# Long-poll: fetch, consume and get_records with a wait return as soon as a
# producer commits, woken by the commit (not by their timeout: they wait up
# to 5 minutes here, and the test would time out first); an uncommitted
# record does not wake them; cancel and statement_timeout interrupt a wait.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

my $node = topics_node('longpoll', conf => ['max_prepared_transactions = 5']);
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_topics;
SELECT topics.create_topic('lp', 2);
SELECT topics.create_topic('other', 1);
});

my $waiting = q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE application_name = 'waiter' AND state = 'active' AND wait_event_type = 'Extension'};

# Start $query in a waiter session; return once it is waiting in the server.
sub start_waiter
{
	my ($query, %opts) = @_;
	my $w = $node->background_psql('postgres', on_error_stop => 0);
	$w->query_safe("SET application_name = 'waiter'");
	$w->query_safe($opts{setup}) if $opts{setup};
	$w->query_until(qr/started/, "\\echo started\n$query;\n\\echo done\n");
	return $w;
}

# --- fetch: an open producer transaction does not wake it, its commit does
{
	my $w = start_waiter(q{SELECT 'got:' || seq || ':' || key FROM topics.fetch('lp', 0, 0, 10, NULL, '5 min')});
	ok($node->poll_query_until('postgres', $waiting), 'fetch waits on an empty partition');

	my $p = $node->background_psql('postgres');
	$p->query_safe(q{BEGIN; SELECT topics.produce('lp', 'k', 'v', partition => 0);});
	$node->safe_psql('postgres', q{SELECT topics.produce('other', 'k', 'v')});    # another topic
	$node->safe_psql('postgres', q{SELECT topics.produce('lp', 'k1', 'v', partition => 1)});    # another partition
	ok($node->poll_query_until('postgres', $waiting),
		'still waiting while the record is uncommitted (and after commits elsewhere)');
	$p->query_safe('COMMIT');
	my $out = $w->query_until(qr/done/, '');
	like($out, qr/got:0:k/, 'fetch returned the record once its producer committed');
	$p->quit;
	$w->quit;
}

# --- fetch: PREPARE TRANSACTION does not wake it; COMMIT PREPARED, run by a
# session that produced nothing, does
{
	my $w = start_waiter(q{SELECT 'got:' || seq || ':' || key FROM topics.fetch('lp', 0, 1, 10, NULL, '5 min')});
	ok($node->poll_query_until('postgres', $waiting), 'fetch waits past the last record');

	$node->safe_psql('postgres',
		q{BEGIN; SELECT topics.produce('lp', 'prep', 'v', partition => 0); PREPARE TRANSACTION 'lp_prep';});
	ok($node->poll_query_until('postgres', $waiting), 'still waiting while the record is only prepared');
	$node->safe_psql('postgres', q{COMMIT PREPARED 'lp_prep'});
	my $out = $w->query_until(qr/done/, '');
	like($out, qr/got:1:prep/, 'COMMIT PREPARED woke the waiter with the record');
	$w->quit;
}

# --- fetch: blocked behind an open transaction whose records come before a
# committed one, it is woken when that transaction rolls back, and returns
# the committed record (until 0.9 only commits woke waiters: it slept to its
# deadline and returned nothing)
{
	$node->safe_psql('postgres', q{SELECT topics.create_topic('lp_abort', 1)});
	$node->safe_psql('postgres', q{SELECT topics.produce('lp_abort', 'first', 'v')});
	my $p = $node->background_psql('postgres');
	$p->query_safe(q{BEGIN; SELECT topics.produce('lp_abort', 'open', 'v');});
	$node->safe_psql('postgres', q{SELECT topics.produce('lp_abort', 'after', 'v')});
	my $w = start_waiter(q{SELECT 'got:' || seq || ':' || key FROM topics.fetch('lp_abort', 0, 1, 10, NULL, '5 min')});
	ok($node->poll_query_until('postgres', $waiting), 'fetch waits behind the open transaction');
	$p->query_safe('ROLLBACK');
	my $out = $w->query_until(qr/done/, '');
	like($out, qr/got:2:after/, 'the rollback woke it, with the record committed after');
	unlike($out, qr/open/, 'and not the rolled-back one');
	$p->quit;
	$w->quit;
}

# --- fetch: the same when the records are rolled back to a savepoint while
# their producer's transaction goes on (until 2026-12-02 the rollback woke
# nobody, and the record held readers back until the whole transaction ended)
{
	$node->safe_psql('postgres', q{SELECT topics.create_topic('lp_savepoint', 1)});
	$node->safe_psql('postgres', q{SELECT topics.produce('lp_savepoint', 'first', 'v')});
	my $p = $node->background_psql('postgres');
	$p->query_safe(q{BEGIN; SAVEPOINT s; SELECT topics.produce('lp_savepoint', 'open', 'v');});
	$node->safe_psql('postgres', q{SELECT topics.produce('lp_savepoint', 'after', 'v')});
	my $w = start_waiter(
		q{SELECT 'got:' || seq || ':' || key FROM topics.fetch('lp_savepoint', 0, 1, 10, NULL, '5 min')});
	ok($node->poll_query_until('postgres', $waiting), 'fetch waits behind the savepoint\'s record');
	$p->query_safe('ROLLBACK TO SAVEPOINT s');
	my $out = $w->query_until(qr/done/, '');
	like($out, qr/got:2:after/, 'the rollback to the savepoint woke it, with the record committed after');
	unlike($out, qr/open/, 'and not the rolled-back one');
	$p->query_safe('COMMIT');
	$p->quit;
	$w->quit;
}

# --- consume
{
	$node->safe_psql('postgres', q{SELECT topics.set_auto_offset_reset('grp', 'lp', 'latest')});
	$node->safe_psql('postgres', q{SELECT count(*) FROM topics.consume('grp', 'lp', 1)});
	my $w = start_waiter(q{SELECT 'got:' || partition || ':' || seq FROM topics.consume('grp', 'lp', 10, '5 min')});
	ok($node->poll_query_until('postgres', $waiting), 'consume waits when the group is caught up');
	$node->safe_psql('postgres', q{SELECT topics.produce('lp', 'c', 'v', partition => 1)});
	my $out = $w->query_until(qr/done/, '');
	like($out, qr/got:1:1/, 'consume returned the new record');
	is($node->safe_psql('postgres', q{SELECT seq FROM topics.committed('grp', 'lp') WHERE partition = 1}),
		'2', 'and committed the position');
	$w->quit;
}

# --- consume: a member waiting while another member holds the group's only
# partition is woken when the holder's transaction ends, and takes the
# records after the holder's (until 0.10 only producers' commits woke it:
# it slept to its deadline)
{
	$node->safe_psql('postgres', q{SELECT topics.create_topic('lp_members', 1)});
	$node->safe_psql('postgres',
		q{SELECT count(*) FROM topics.produce_batch('lp_members', ARRAY['a', 'b', 'c'], ARRAY['1', '2', '3'])});
	$node->safe_psql('postgres', q{SELECT topics.commit('mg', 'lp_members', 0, 0)});
	my $m1 = $node->background_psql('postgres');
	$m1->query_safe(q{BEGIN; SELECT count(*) FROM topics.consume('mg', 'lp_members', 1);});
	my $w = start_waiter(q{SELECT 'got:' || seq FROM topics.consume('mg', 'lp_members', 10, '5 min')});
	ok($node->poll_query_until('postgres', $waiting), 'a member waits while another holds the partition');
	$m1->query_safe('COMMIT');
	my $out = $w->query_until(qr/done/, '');
	like($out, qr/got:1\s+got:2/, "the holder's commit woke it, with the records after the holder's");
	unlike($out, qr/got:0/, 'and not the record the holder took');
	$m1->quit;
	$w->quit;
}

# --- consume: a group deleted while a member waits is made again when the
# member wakes, as its next call would make it (until 0.11 the member found
# no rows at each wake-up and slept to its deadline), and the deletion wakes
# it (since 0.12; before, the next record did): this "earliest" group reads
# the log again from its start
{
	$node->safe_psql('postgres', q{SELECT topics.create_topic('lp_del', 1);
		SELECT topics.produce('lp_del', 'a', 'x');
		SELECT count(*) FROM topics.consume('dg', 'lp_del', 10);});
	my $w = start_waiter(q{SELECT 'got:' || seq || ':' || key FROM topics.consume('dg', 'lp_del', 10, '5 min')});
	ok($node->poll_query_until('postgres', $waiting), 'consume waits when the group is caught up');
	is($node->safe_psql('postgres', q{SELECT topics.delete_consumer_group('dg', 'lp_del')}),
		't', 'the group is deleted while its member waits');
	my $out = $w->query_until(qr/done/, '');
	like($out, qr/got:0:a/, 'the member made the group again, from the log start, and read');
	$w->quit;
}

# --- consume: deleting a "latest" group wakes a member waiting in it, which
# makes its positions again at once, at the end of the log; a record
# produced after that comes (until 0.12 the member made them only when that
# record woke it, past the record, which the group then skipped)
{
	$node->safe_psql('postgres', q{SELECT topics.create_topic('lp_del_late', 1);
		SELECT topics.produce('lp_del_late', 'old', 'x');
		SELECT topics.set_auto_offset_reset('dl', 'lp_del_late', 'latest');
		SELECT count(*) FROM topics.consume('dl', 'lp_del_late', 10);});
	my $w = start_waiter(q{SELECT 'got:' || seq || ':' || key FROM topics.consume('dl', 'lp_del_late', 10, '5 min')});
	ok($node->poll_query_until('postgres', $waiting), 'a member of the latest group waits');
	is($node->safe_psql('postgres', q{SELECT topics.delete_consumer_group('dl', 'lp_del_late')}),
		't', 'the latest group is deleted while its member waits');
	# the member holds the group's advisory lock once it has made the
	# positions again (in its own transaction, still open as it waits)
	ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_locks l
		JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE a.application_name = 'waiter' AND l.locktype = 'advisory'}),
		'the deletion woke the member, which made the positions again');
	ok($node->poll_query_until('postgres', $waiting), 'and it waits again');
	$node->safe_psql('postgres', q{SELECT topics.produce('lp_del_late', 'new', 'y')});
	my $out = $w->query_until(qr/done/, '');
	like($out, qr/got:1:new/, 'the record produced after the deletion came');
	unlike($out, qr/got:0:/, 'the record before it did not (the group is latest)');
	$w->quit;
}

# --- get_records
{
	my $w = start_waiter(
		q{SELECT 'got:' || cardinality(records) || ':' || (records[1]).key
		  FROM topics.get_records(:'it', 10, '5 min')},
		setup => q{SELECT topics.get_shard_iterator('lp', 0, 'LATEST') AS it \gset});
	ok($node->poll_query_until('postgres', $waiting), 'get_records waits at LATEST');
	$node->safe_psql('postgres', q{SELECT topics.produce_batch('lp', ARRAY['b1', 'b2'], ARRAY['1', '2'], partition => 0)});
	my $out = $w->query_until(qr/done/, '');
	like($out, qr/got:2:b1/, 'get_records returned the batch');
	$w->quit;
}

# --- consume: every look checks the caller's rights on the group (since
# 0.18), so a member waiting when its group is given to another role is
# refused when it wakes, and leaves the group's position where it was for
# the new owner
{
	$node->safe_psql('postgres', q{CREATE ROLE lp_owner_a; CREATE ROLE lp_owner_b;
		SELECT topics.create_topic('lp_own', 1);
		GRANT SELECT ON lp_own TO lp_owner_a, lp_owner_b;
		SET ROLE lp_owner_a;
		SELECT count(*) FROM topics.consume('og', 'lp_own', 10);});
	is($node->safe_psql('postgres', q{SELECT owner FROM topics.consumer_groups WHERE group_id = 'og'}),
		'lp_owner_a', 'the group is the role of the member that made it');
	my $w = start_waiter(q{SELECT 'got:' || seq FROM topics.consume('og', 'lp_own', 10, '5 min')},
		setup => 'SET ROLE lp_owner_a');
	ok($node->poll_query_until('postgres', $waiting), 'the owner\'s member waits');
	$node->safe_psql('postgres', q{SELECT topics.set_consumer_group_owner('og', 'lp_own', 'lp_owner_b');
		SELECT topics.produce('lp_own', 'k', 'v');});
	my $out = $w->query_until(qr/done/, '');
	unlike($out, qr/got:/, 'the member read nothing once the group was given away');
	like($w->{stderr}, qr/permission denied for consumer group "og"/,
		'the member was refused at its next look');
	$w->quit;
	is($node->safe_psql('postgres', q{SELECT seq FROM topics.committed_offsets WHERE group_id = 'og'}),
		'0', 'the group did not move');
	is($node->safe_psql('postgres', q{SET ROLE lp_owner_b;
		SELECT 'got:' || seq || ':' || key FROM topics.consume('og', 'lp_own', 10)}),
		'got:0:k', 'the new owner reads the record');
}

# --- cancel and statement_timeout interrupt a wait
{
	my $w = start_waiter(q{SELECT count(*) FROM topics.fetch('lp', 1, 2, 10, NULL, '5 min')});
	ok($node->poll_query_until('postgres', $waiting), 'waiting before cancel');
	$node->safe_psql('postgres',
		q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'waiter'});
	$w->query_until(qr/done/, '');
	like($w->{stderr}, qr/canceling statement due to user request/, 'pg_cancel_backend interrupts the wait');
	$w->quit;

	my ($ret, $stdout, $stderr) = $node->psql('postgres',
		q{SET statement_timeout = '100ms'; SELECT count(*) FROM topics.fetch('lp', 1, 2, 10, NULL, '5 min')});
	like($stderr, qr/canceling statement due to statement timeout/, 'statement_timeout interrupts the wait');
}

# --- a waiter steps aside for a command that waits for a conflicting lock:
# DROP TABLE, TRUNCATE, alter_topic and LOCK TABLE wait for the long poll's
# ACCESS SHARE, and every producer would queue behind them; the waiter
# returns its empty result instead of sleeping to its deadline (until 0.10 it
# held them up for the whole wait; here the test would time out first)
foreach my $ddl ('DROP TABLE lpd', 'TRUNCATE lpd',
	q{SELECT topics.alter_topic('lpd', partitions => 2)},
	'BEGIN; LOCK TABLE lpd; COMMIT')
{
	foreach my $reader ('fetch', 'get_records', 'consume')
	{
		$node->safe_psql('postgres', q{DROP TABLE IF EXISTS lpd; SELECT topics.create_topic('lpd', 1);
			SELECT count(*) FROM topics.consume('g', 'lpd', 10);});
		my %query = (
			fetch => q{SELECT 'rows:' || count(*) FROM topics.fetch('lpd', 0, 0, 10, NULL, '5 min')},
			get_records => q{SELECT 'rows:' || cardinality(records) FROM topics.get_records(:'it', 10, '5 min')},
			consume => q{SELECT 'rows:' || count(*) FROM topics.consume('g', 'lpd', 10, '5 min')});
		my $w = start_waiter($query{$reader},
			setup => q{SELECT topics.get_shard_iterator('lpd', 0, 'LATEST') AS it \gset});
		ok($node->poll_query_until('postgres', $waiting), "$reader waits before: $ddl");
		# the waiter waits 5 minutes, the command times out first
		$node->safe_psql('postgres', $ddl, timeout => $PostgreSQL::Test::Utils::timeout_default);
		my $out = $w->query_until(qr/done/, '');
		like($out, qr/rows:0/, "$reader returned nothing, at once, for: $ddl");
		is($w->{stderr}, '', "$reader had no error");
		$w->quit;
	}
}

# --- the waiter's transaction keeps its lock: a long poll in a transaction
# block returns, and the command goes on when that transaction ends
{
	$node->safe_psql('postgres', q{DROP TABLE IF EXISTS lpd; SELECT topics.create_topic('lpd', 1);});
	my $w = start_waiter(q{SELECT 'rows:' || count(*) FROM topics.fetch('lpd', 0, 0, 10, NULL, '5 min')},
		setup => 'BEGIN');
	ok($node->poll_query_until('postgres', $waiting), 'fetch waits in a transaction block');
	my $d = $node->background_psql('postgres');
	$d->query_until(qr/started/, "\\echo started\nTRUNCATE lpd;\n\\echo truncated\n");
	my $out = $w->query_until(qr/done/, '');
	like($out, qr/rows:0/, 'the waiter returned when TRUNCATE queued');
	ok( $node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
			WHERE query = 'TRUNCATE lpd;' AND wait_event_type = 'Lock'}),
		'TRUNCATE still waits for the transaction');
	$w->query_safe('COMMIT');
	like($d->query_until(qr/truncated/, ''), qr/truncated/, 'TRUNCATE went on after the commit');
	$d->quit;
	$w->quit;
}

# --- a wait with nothing coming ends at its deadline with no rows
is($node->safe_psql('postgres', q{SELECT count(*) FROM topics.fetch('lp', 1, 2, 10, NULL, '10 ms')}),
	'0', 'a short wait returns nothing when nothing is committed');

$node->stop;
done_testing();
