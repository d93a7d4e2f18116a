# The maintenance worker: one launcher per cluster applies retention in
# every database that has the extension, logs what it removed, and follows
# pg_topics.maintenance_interval on reload.  It runs each topic's
# maintenance as the topic's owner, with a search_path of pg_catalog only,
# skips a topic it cannot lock and a settings row that names no topic, and
# CREATE EXTENSION refuses a schema topics that somebody else owns.
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

# sessions of db2 default to read-only: retention applies there all the same
# (since 0.9 maintain() refuses a read-only transaction; the worker's are not)
$node->safe_psql('postgres', 'ALTER DATABASE db2 SET default_transaction_read_only = on');

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
ok($node->log_contains(qr/pg_topics: removed \d+ pages \(\d+ records\) from partition 0 of topic public\.events/),
	'the worker logs what it removed');
ok($node->log_contains(qr/pg_topics: maintenance of database "db\d" took [\d.]+ ms/),
	'and how long it took');

# A database owner who is no superuser.  Until 0.9 the worker ran
# topics.maintain() as the bootstrap superuser, with the database's
# search_path, in one query with a ">" of its own: an operator ">" the
# owner put first on that path ran as superuser and made the owner one.
# And one settings row naming a table that is no topic made maintain()
# fail for the whole database, and a topic somebody held a lock on made the
# worker wait (for every database after it too).
# (the worker is off while the topics are set up and one is locked)
$node->append_conf('postgresql.conf', "pg_topics.maintenance_interval = 0");
$node->reload;
$node->safe_psql('postgres', q{
CREATE ROLE dbo LOGIN;
CREATE DATABASE dbx OWNER dbo;
});
$node->safe_psql('dbx', 'CREATE EXTENSION pg_topics');
$node->safe_psql('dbx', q{
SET ROLE dbo;
CREATE SCHEMA evil;
CREATE FUNCTION evil.gt(bigint, integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE dbo SUPERUSER';
    END IF;
    RETURN $1 OPERATOR(pg_catalog.>) $2;
END $$;
CREATE OPERATOR evil.> (leftarg = bigint, rightarg = integer, function = evil.gt);
ALTER DATABASE dbx SET search_path = evil, pg_catalog, public;
CREATE TABLE public.not_a_topic (x int);
SELECT topics.create_topic('public.held', 1, retention_bytes => 8192);
SELECT topics.create_topic('public.trimmed', 1, retention_bytes => 8192);
SELECT topics.create_topic('public.more' || g, 1, retention_bytes => 8192) FROM generate_series(1, 5) g;
});
# a row stored before 0.9 checked that it names a topic (a superuser
# bypasses the check now made)
$node->safe_psql('dbx',
	q{INSERT INTO topics.topic_config (topic, retention) VALUES ('public.not_a_topic', '1 day')});
for my $t (qw(held trimmed more1 more2 more3 more4 more5))
{
	$node->safe_psql('dbx', qq{
SET ROLE dbo;
SELECT count(*) FROM topics.produce_batch('public.$t', array_fill('k'::text, ARRAY[2000]),
    ARRAY(SELECT repeat('v', 100) FROM generate_series(1, 2000)));
});
}
# any role may lock the extension's tables in another database (their
# UPDATE and DELETE are PUBLIC's): until 0.9 the worker of that database
# waited for the lock, and the launcher for it, and no database was
# maintained while the lock was held
my $blocker = $node->background_psql('db1');
$blocker->query_safe('BEGIN');
$blocker->query_safe('LOCK TABLE topics.topic_config IN ACCESS EXCLUSIVE MODE');
my $holder = $node->background_psql('dbx');
$holder->query_safe('BEGIN');
$holder->query_safe('LOCK TABLE public.held IN SHARE MODE');
$node->append_conf('postgresql.conf', "pg_topics.maintenance_interval = 1");
$node->reload;
my $trimmed = q{SELECT log_start_seq FROM topics.partitions WHERE topic = 'public.trimmed'::regclass};
# (the test's own queries in dbx name the operator's schema: the search_path
# set for dbx applies to them too)
ok($node->poll_query_until('dbx', "SELECT ($trimmed) OPERATOR(pg_catalog.>) 0"),
	'the worker trims a topic beside a locked one and a row of no topic, with another database\'s settings locked');
# every topic with settings, not only the first ones (a list built in SPI's
# memory, which SPI_finish freed, ended the worker's loop early)
ok($node->poll_query_until('dbx',
		q{SELECT count(*) = 5 FROM topics.partitions
		  WHERE topic::text LIKE 'more%' AND log_start_seq OPERATOR(pg_catalog.>) 0}),
	'and every other topic with settings');
is($node->safe_psql('dbx',
		q{SELECT log_start_seq FROM topics.partitions WHERE topic = 'public.held'::regclass}),
	'0', 'the locked topic is skipped, not waited for');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'dbo'}),
	'f', 'the database owner did not become superuser');
$holder->query_safe('COMMIT');
$holder->quit;
ok($node->log_contains(qr/canceling statement due to lock timeout/),
	'the worker of the database whose settings were locked gave up waiting');
$blocker->query_safe('COMMIT');
$blocker->quit;
ok($node->poll_query_until('dbx',
		q{SELECT log_start_seq OPERATOR(pg_catalog.>) 0 FROM topics.partitions WHERE topic = 'public.held'::regclass}),
	'the topic is trimmed once the lock is gone');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'dbo'}),
	'f', 'still no superuser');

# a schema topics made beforehand by another role: its owner could replace
# the extension's functions
$node->safe_psql('postgres', 'CREATE DATABASE dby OWNER dbo');
$node->safe_psql('dby', 'SET ROLE dbo; CREATE SCHEMA topics');
my ($ret, $stdout, $stderr) = $node->psql('dby', 'CREATE EXTENSION pg_topics');
isnt($ret, 0, 'CREATE EXTENSION refuses a schema topics owned by another role');
like($stderr, qr/schema "topics" is owned by role "dbo", not by the owner of extension pg_topics/,
	'and says why');
$node->safe_psql('dby', 'ALTER SCHEMA topics OWNER TO CURRENT_USER; CREATE EXTENSION pg_topics');
is($node->safe_psql('dby', q{SELECT extversion <> '' FROM pg_extension WHERE extname = 'pg_topics'}),
	't', 'it installs once the schema is the installer\'s');

# a reload that leaves the interval as it was does not start a new one:
# reloaded every 0.1 s (each poll below), the worker still runs every 2 s
# (until 0.12 each reload restarted the interval, and it never ran)
$node->append_conf('postgresql.conf', "pg_topics.maintenance_interval = 2");
$node->reload;
my $before = $node->safe_psql('db1', $part0);
$node->safe_psql('db1', q{
SELECT count(*) FROM topics.produce_batch('events', array_fill('k'::text, ARRAY[2000]),
    ARRAY(SELECT repeat('w', 100) FROM generate_series(1, 2000)), partition => 0);
});
ok($node->poll_query_until('db1', "SELECT pg_reload_conf() AND ($part0) > $before"),
	'the worker runs while the configuration is reloaded more often than its interval');
# The worker compacts a partition again only once the records produced
# since its last compaction are as many as those it kept (Kafka's
# min.cleanable.dirty.ratio); until 0.13 every run read and hashed the
# whole topic.  A run of db1 is known to have seen what was produced before
# a batch to "ticker" once it trims that batch.
$node->safe_psql('db1', q{
SELECT topics.create_topic('ticker', 1, retention_bytes => 1);
SELECT topics.create_topic('changelog', 1, cleanup_policy => 'compact');
SELECT count(*) FROM topics.produce_batch('changelog', array_fill('b'::text, ARRAY[100]),
    ARRAY(SELECT repeat('b', 100) FROM generate_series(1, 100)));
SELECT count(*) FROM topics.produce_batch('changelog', ARRAY(SELECT 'a' || g FROM generate_series(1, 200) g),
    ARRAY(SELECT repeat('a', 100) FROM generate_series(1, 200)));
});
my $ticker = q{SELECT log_start_seq FROM topics.partitions WHERE topic = 'ticker'::regclass};
my $b_records = q{SELECT count(*) FROM changelog WHERE key = 'b'};
sub db1_run
{
	my $start = $node->safe_psql('db1', q{
SELECT next_seq FROM topics.partitions WHERE topic = 'ticker'::regclass;
SELECT count(*) FROM topics.produce_batch('ticker', array_fill('t'::text, ARRAY[200]),
    ARRAY(SELECT repeat('t', 100) FROM generate_series(1, 200)));});
	$start =~ s/\n.*//s;
	ok($node->poll_query_until('db1', "SELECT ($ticker) > $start"), 'a run of db1 went by');
}
db1_run();
is($node->safe_psql('db1', $b_records), '1', 'the first run compacted the topic');
# 20 updates of b: fewer than the 200 records kept, so the superseded b stays
$node->safe_psql('db1', q{
SELECT count(*) FROM topics.produce_batch('changelog', array_fill('b'::text, ARRAY[20]),
    ARRAY(SELECT repeat('B', 100) FROM generate_series(1, 20)));});
db1_run();
db1_run();
is($node->safe_psql('db1', $b_records), '21', 'runs leave a topic with few new records alone');
# maintain() by hand compacts whenever it is called
$node->safe_psql('db1', q{SELECT count(*) FROM topics.maintain('changelog')});
is($node->safe_psql('db1', "SELECT ($b_records) < 21"), 't', 'maintain() by hand compacts all the same');
# as many new records as were kept: the worker compacts again
$node->safe_psql('db1', q{
SELECT count(*) FROM topics.produce_batch('changelog', array_fill('c'::text, ARRAY[300]),
    ARRAY(SELECT repeat('c', 100) FROM generate_series(1, 300)));});
ok($node->poll_query_until('db1', q{SELECT count(*) < 300 FROM changelog WHERE key = 'c'}),
	'the worker compacts once the new records are as many as the kept ones');

# a launcher ended by pg_terminate_backend comes back (until 0.12 it exited
# with code 0, PostgreSQL unregistered it, and retention stopped until a
# restart)
my $launcher = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE application_name = 'pg_topics maintenance launcher'});
$node->safe_psql('postgres', qq{SELECT pg_terminate_backend($launcher)});
ok($launcher =~ /^\d+$/, 'found the launcher');
ok($node->poll_query_until('postgres', qq{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE application_name = 'pg_topics maintenance launcher' AND pid <> $launcher}),
	'a terminated launcher is started again');
# (off again, and no database's worker running, before the shutdown below)
$node->append_conf('postgresql.conf', "pg_topics.maintenance_interval = 0");
$node->reload;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 AND bool_and(wait_event_type = 'Extension')
	FROM pg_stat_activity WHERE backend_type = 'pg_topics maintenance'}),
	'only the launcher runs, idle');

# a fast shutdown stops the launcher quietly (until 0.10 it logged a FATAL
# "terminating background worker" at every shutdown).  Only the workers'
# FATALs count: the backend of the test's last query may still be exiting
# when the shutdown comes, and is terminated with a FATAL of its own.
my $offset = -s $node->logfile;
$node->stop('fast');
my $shutdown_log = substr(slurp_file($node->logfile), $offset);
like($shutdown_log, qr/database system is shut down/, 'the server shut down');
unlike($shutdown_log, qr/FATAL:  terminating background worker/, 'no FATAL from the maintenance launcher');
done_testing();
