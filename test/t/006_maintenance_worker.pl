# The maintenance worker: one launcher per cluster applies retention in
# every database that has the extension, logs what it removed, and follows
# pg_topics.maintenance_interval on reload.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

my $node = topics_node('worker');
$node->start;

is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_topics maintenance'}),
	'1', 'one launcher runs');

# two databases with the extension, one without
for my $db (qw(db1 db2 plain))
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
}
for my $db (qw(db1 db2))
{
	$node->safe_psql($db, q{
CREATE EXTENSION pg_topics;
SELECT topics.create_topic('events', 2, retention_bytes => 16384);
SELECT topics.create_topic('forever', 1);
});
	for my $round (1 .. 5)
	{
		$node->safe_psql($db, q{
SELECT count(*) FROM topics.produce_batch('events', array_fill('k'::text, ARRAY[400]),
    ARRAY(SELECT repeat('v', 100) FROM generate_series(1, 400)), partition => 0);
SELECT count(*) FROM topics.produce_batch('forever', array_fill('k'::text, ARRAY[400]),
    ARRAY(SELECT repeat('v', 100) FROM generate_series(1, 400)));
});
	}
}
my $part0 = q{SELECT log_start_seq FROM topics.partitions WHERE topic = 'events'::regclass AND partition = 0};
is($node->safe_psql('db1', $part0), '0', 'nothing removed while the worker is off');

# turn it on
$node->append_conf('postgresql.conf', "pg_topics.maintenance_interval = 1");
$node->reload;
for my $db (qw(db1 db2))
{
	ok($node->poll_query_until($db, "SELECT ($part0) > 0"), "$db: the worker applied retention");
	is($node->safe_psql($db,
			q{SELECT bytes <= 16384 + 8192 FROM topics.partitions WHERE topic = 'events'::regclass AND partition = 0}),
		't', "$db: partition 0 within its byte budget");
	is($node->safe_psql($db,
			q{SELECT log_start_seq || '/' || next_seq FROM topics.partitions WHERE topic = 'forever'::regclass}),
		'0/2000', "$db: a topic without retention keeps everything");
	is($node->safe_psql($db,
			qq{SELECT count(*) = max(seq) - min(seq) + 1 AND min(seq) = ($part0) FROM events WHERE partition = 0}),
		't', "$db: what is left is dense from the log start");
}
ok($node->log_contains(qr/pg_topics: removed \d+ pages \(\d+ records\) from partition 0 of topic events/),
	'the worker logs what it removed');
ok($node->log_contains(qr/pg_topics: maintenance of database "db\d" took [\d.]+ ms/),
	'and how long it took');

$node->stop;
done_testing();
