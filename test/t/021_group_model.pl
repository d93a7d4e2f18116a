# Consumer groups against a model: test/t/group_model.py interleaves three
# producers (batches in transactions left open, committed or rolled back)
# and three members of one group (consume in transactions left open,
# committed or rolled back) one step at a time, from a seed, with VACUUM,
# VACUUM FULL and new partitions in between, and checks that the group
# never returns nothing while a record is there to read, and that once
# drained it has delivered every committed record exactly once, in seq
# order per partition, no aborted one, and stands at every next seq.
# (Before 0.8 a rolled-back batch at the end of the partition with the
# largest lag failed the first check: consume returned nothing for good.)
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

my $python = '/usr/bin/python3';
if (system($python, '-c', 'import psycopg2') != 0)
{
	plan skip_all => 'python3-psycopg2 is not installed (scripts/test installs it)';
}

my $node = topics_node('model');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_topics');

for my $seed (1 .. 4)
{
	my ($out, $err) = ('', '');
	my $exited_0 = IPC::Run::run(
		[
			$python, dirname(__FILE__) . '/group_model.py',
			$node->host, $node->port, 'postgres', $seed, 500
		],
		'>', \$out, '2>', \$err);
	ok($exited_0 && $out =~ /^seed $seed: 500 steps, .* delivered\n\z/, "seed $seed: no error")
	  or diag($out . $err);
}

$node->stop;
done_testing();
