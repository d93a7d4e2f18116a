# Shared set-up of the pg_topics TAP tests: a node with the library
# preloaded (long-poll and the maintenance worker need it) and the
# maintenance worker off unless a test turns it on, so that nothing removes
# records behind a test's back.
package TopicsNode;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use IPC::Run qw(start);
use Test::More;
use Exporter 'import';

our @EXPORT = qw(topics_node pgbench_load python_driver);

# topics_node(NAME, init => {init options}, conf => [extra lines])
# returns the initialized node, not started.
sub topics_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%{ $opts{init} // {} });
	$node->append_conf('postgresql.conf',
		join("\n", "shared_preload_libraries = 'pg_topics'",
			"pg_topics.maintenance_interval = 0", @{ $opts{conf} // [] }) . "\n");
	return $node;
}

# pgbench_load(NODE, SCRIPT, CLIENTS): start pgbench running SCRIPT (a file)
# with CLIENTS clients against NODE for up to five minutes, in the
# background; returns the IPC::Run harness (finish() it after stopping the
# node: the clients fail when the server goes away).
sub pgbench_load
{
	my ($node, $script, $clients) = @_;
	my ($out, $err) = ('', '');
	return start(
		[
			'pgbench', '-n', '-T', '300', '-c', $clients, '-j', $clients,
			'-f', $script, '-h', $node->host, '-p', $node->port, 'postgres'
		],
		'>', \$out, '2>', \$err);
}

# python_driver(): the Python that runs the driver tests' scripts
# (test/t/*.py, psycopg2); skips the whole test when psycopg2 is missing.
sub python_driver
{
	my $python = '/usr/bin/python3';
	plan skip_all => 'python3-psycopg2 is not installed (scripts/test installs it)'
	  if system($python, '-c', 'import psycopg2') != 0;
	return $python;
}

1;
