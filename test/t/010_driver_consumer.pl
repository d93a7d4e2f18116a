# A consumer written against a real Postgres driver (Python psycopg2,
# test/t/consumer.py) long-polls a consumer group while this test produces
# from another connection: it gets every record exactly once, in seq order
# per partition, and the group's committed positions end at the high
# watermark.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run qw(start finish timeout);
use File::Basename qw(dirname);
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

my $python = python_driver();

my $node = topics_node('driver');
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_topics;
SELECT topics.create_topic('orders', 3);
SELECT count(*) FROM topics.produce_batch('orders',
    ARRAY(SELECT 'early-' || g FROM generate_series(1, 50) g),
    ARRAY(SELECT 'v' || g FROM generate_series(1, 50) g));
});

my $n = 50 + 20 * 25;
my ($out, $err) = ('', '');
my $consumer = start(
	[ $python, dirname(__FILE__) . '/consumer.py', $node->host, $node->port, 'postgres', 'billing', 'orders', $n ],
	'>', \$out, '2>', \$err,
	timeout($PostgreSQL::Test::Utils::timeout_default));

# the consumer drains the early records, then long-polls
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE application_name = 'pyconsumer' AND state = 'active' AND wait_event_type = 'Extension'}),
	'the driver consumer is long-polling');
is($node->safe_psql('postgres', q{SELECT sum(seq) FROM topics.committed('billing', 'orders')}),
	'50', 'it committed the early records');

# produce the rest from another connection, in 20 transactions
for my $i (1 .. 20)
{
	$node->safe_psql('postgres', qq{
SELECT count(*) FROM topics.produce_batch('orders',
    ARRAY(SELECT 'late-$i-' || g FROM generate_series(1, 25) g),
    ARRAY(SELECT 'v' || g FROM generate_series(1, 25) g));});
}
ok(finish($consumer), 'the consumer received everything and exited 0') or diag($err);

my @lines = split /\n/, $out;
is(scalar(@lines), $n, "$n records received");
my (%seen, %last, $dups, $order);
$dups = $order = 0;
for my $line (@lines)
{
	my ($p, $seq, $key) = split / /, $line;
	$dups++ if $seen{"$p/$seq"}++;
	$order++ if defined $last{$p} && $seq <= $last{$p};
	$last{$p} = $seq;
}
is($dups, 0, 'no record received twice');
is($order, 0, 'per-partition seq order');
my $expected = $node->safe_psql('postgres',
	q{SELECT string_agg(partition || ' ' || seq || ' ' || key, E'\n' ORDER BY partition, seq) FROM orders});
is(join("\n", sort { my @a = split / /, $a; my @b = split / /, $b; $a[0] <=> $b[0] || $a[1] <=> $b[1] } @lines),
	$expected, 'exactly the records of the topic');
is($node->safe_psql('postgres', q{SELECT bool_and(lag = 0) FROM topics.consumer_lag WHERE group_id = 'billing'}),
	't', 'the group has no lag left');

$node->stop;
done_testing();
