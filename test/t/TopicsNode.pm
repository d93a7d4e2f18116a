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

our @EXPORT = qw(topics_node pgbench_load python_driver toast_removal_topics);

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

# toast_removal_topics(NODE, PLAIN, COMPACTED): make the extension and two
# topics of one partition, PLAIN and COMPACTED (cleanup_policy 'compact'),
# each with 20 records whose 5 kB incompressible values are stored out of
# line, then 300 small ones, so that retention's and compaction's runs
# remove the large ones (compaction 16 of them: COMPACTED has them under
# four keys); and stored_values(topic), the values in its TOAST table.
sub toast_removal_topics
{
	my ($node, $plain, $compacted) = @_;
	my $sql = q{
CREATE EXTENSION pg_topics;
SELECT topics.create_topic('PLAIN', 1);
SELECT topics.create_topic('COMPACTED', 1, cleanup_policy => 'compact');
CREATE FUNCTION big(g int) RETURNS bytea LANGUAGE sql AS $$
    SELECT decode(string_agg(md5(g::text || '-' || i), ''), 'hex') FROM generate_series(1, 320) i
$$;
CREATE FUNCTION stored_values(t regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(DISTINCT chunk_id) FROM %s',
                   (SELECT reltoastrelid::regclass FROM pg_class WHERE oid = t)) INTO n;
    RETURN n;
END $$;
SELECT count(*) FROM topics.produce_batch('PLAIN', ARRAY(SELECT 'k' || g FROM generate_series(1, 20) g),
    ARRAY(SELECT big(g) FROM generate_series(1, 20) g));
SELECT count(*) FROM topics.produce_batch('PLAIN', array_fill('s'::text, ARRAY[300]),
    array_fill('\x00'::bytea, ARRAY[300]));
SELECT count(*) FROM topics.produce_batch('COMPACTED', ARRAY(SELECT 'k' || (g % 4) FROM generate_series(1, 20) g),
    ARRAY(SELECT big(g) FROM generate_series(1, 20) g));
SELECT count(*) FROM topics.produce_batch('COMPACTED', array_fill('s'::text, ARRAY[300]),
    array_fill('\x00'::bytea, ARRAY[300]));
};
	$sql =~ s/PLAIN/$plain/g;
	$sql =~ s/COMPACTED/$compacted/g;
	$node->safe_psql('postgres', $sql);
}

1;
