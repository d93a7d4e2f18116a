# Retention frees data pages and the directory pages that led only to them;
# appends take both back from the free list.  Ten crashes (immediate
# shutdown, no checkpoint) while producers and a retention loop run, with a
# directory of three entries a page (pg_topics.directory_fanout) so that it
# is deep and trimmed all the time.  After each restart:
#  - every acknowledged record above the log start reads back intact through
#    fetch, and nothing else is there;
#  - a seek forward and a walk backward from every 5th acknowledged seq
#    find that record (seqs of transactions the crash cut off are gaps);
#  - the directory holds pages in proportion to the data kept, and the file
#    stays small (freed pages are reused, not leaked, across crashes).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run qw(finish);
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

my $rounds = 10;
my $node = topics_node('dirtrim', conf => ['pg_topics.directory_fanout = 3']);
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_topics;
CREATE EXTENSION pageinspect;
SELECT topics.create_topic('dt', 2, retention_bytes => 20 * 8192);
CREATE TABLE ack (partition int, seq bigint, key text, digest text, PRIMARY KEY (partition, seq));
});

my $dir = $node->basedir;
open(my $fh, '>', "$dir/produce.sql") or die;
print $fh q{\set k random(1, 1000000000)
INSERT INTO ack
SELECT p.partition, p.seq, v.key, md5(v.value)
FROM (SELECT 'key-' || :k || '-' || g AS key,
             convert_to(repeat(md5((:k + g)::text), 30), 'UTF8') AS value
      FROM generate_series(1, 8) g) v,
     LATERAL topics.produce('dt', v.key, v.value) p;
};
close $fh;
open($fh, '>', "$dir/retention.sql") or die;
print $fh q{SELECT count(*) FROM topics.maintain('dt');
};
close $fh;

# pages of the topic by kind, from each page's special space
my $kinds = q{
	SELECT coalesce(sum((k = 3)::int), 0) || ',' || coalesce(sum((k = 4)::int), 0)
	       || ',' || count(*)
	FROM generate_series(0, (pg_relation_size('dt') / 8192)::int - 1) b,
	     LATERAL (SELECT get_raw_page('dt', b) AS p) r,
	     LATERAL (SELECT get_byte(r.p, (page_header(r.p)).special + 24) AS k) h};

my $checks = {
	'fetch returns exactly the acknowledged records above the log start' => q{
		SELECT count(*) FROM (
			(SELECT f.partition, f.seq, f.key, md5(f.value)
			 FROM topics.partitions b, LATERAL topics.fetch('dt', b.partition, b.log_start_seq, 1000000) f
			 WHERE b.topic = 'dt'::regclass
			 EXCEPT ALL
			 SELECT a.partition, a.seq, a.key, a.digest FROM ack a JOIN topics.partitions b
			 ON b.topic = 'dt'::regclass AND b.partition = a.partition AND a.seq >= b.log_start_seq)
			UNION ALL
			(SELECT a.partition, a.seq, a.key, a.digest FROM ack a JOIN topics.partitions b
			 ON b.topic = 'dt'::regclass AND b.partition = a.partition AND a.seq >= b.log_start_seq
			 EXCEPT ALL
			 SELECT f.partition, f.seq, f.key, md5(f.value)
			 FROM topics.partitions b, LATERAL topics.fetch('dt', b.partition, b.log_start_seq, 1000000) f
			 WHERE b.topic = 'dt'::regclass)) d},
	'seeks forward and backward find every 5th acknowledged record' => q{
		SELECT count(*) FROM ack a JOIN topics.partitions b
		  ON b.topic = 'dt'::regclass AND b.partition = a.partition AND a.seq >= b.log_start_seq
		WHERE a.seq % 5 = 0
		  AND ((SELECT seq FROM dt WHERE partition = a.partition AND seq >= a.seq ORDER BY seq LIMIT 1)
		       IS DISTINCT FROM a.seq
		    OR (SELECT seq FROM dt WHERE partition = a.partition AND seq <= a.seq ORDER BY seq DESC LIMIT 1)
		       IS DISTINCT FROM a.seq)},
	'seq_at_time before everything is at the log start' => q{
		SELECT count(*) FROM topics.partitions b,
		     LATERAL topics.seq_at_time('dt', b.partition, '2000-01-01') t
		WHERE b.topic = 'dt'::regclass
		  AND NOT (t >= b.log_start_seq
				   AND t <= (SELECT min(seq) FROM ack a
							 WHERE a.partition = b.partition AND a.seq >= b.log_start_seq))},
};

my $acked = 0;
my $failures = 0;
my @blocks;
my $max_dir_ratio = 0;
for my $round (1 .. $rounds)
{
	my @load = (pgbench_load($node, "$dir/produce.sql", 2), pgbench_load($node, "$dir/retention.sql", 1));

	# let the load make progress, then crash in the middle of it
	my $target = $acked + 2000;
	$node->poll_query_until('postgres', "SELECT count(*) >= $target FROM ack")
	  or die "round $round: producers made no progress";
	$node->stop('immediate');
	finish($_) for @load;    # they all failed when the server went away
	$node->start;

	# one retention run after the restart, as the worker would make
	$node->safe_psql('postgres', q{SELECT count(*) FROM topics.maintain('dt')});
	for my $name (sort keys %$checks)
	{
		my $bad = $node->safe_psql('postgres', $checks->{$name});
		if ($bad ne '0')
		{
			$failures++;
			fail("round $round: $name ($bad violations)");
		}
	}
	my ($data, $dirpages, $total) = split /,/, $node->safe_psql('postgres', $kinds);
	push @blocks, $total;
	my $ratio = $dirpages / $data;
	$max_dir_ratio = $ratio if $ratio > $max_dir_ratio;
	$acked = $node->safe_psql('postgres', 'SELECT count(*) FROM ack');
	note("round $round: $acked acknowledged, $data data pages, $dirpages directory pages, $total blocks");
}
is($failures, 0, "$rounds crash rounds with retention and trimming without a violation");
cmp_ok($acked, '>=', $rounds * 2000, "$acked records acknowledged over $rounds rounds");

# without trimming the directory would hold every page ever produced (about
# one directory page per two data pages at this fanout), and without reuse
# the file would hold all of them: it stays far below either.  (How far
# depends on how far retention lags behind the producers at each moment,
# so the bound is loose.)
my $produced = $node->safe_psql('postgres', q{SELECT sum(next_seq)::bigint / 8 FROM topics.partitions});
cmp_ok($max_dir_ratio, '<', 2,
	"directory pages stay in proportion to the data pages kept ($produced data pages produced)");
cmp_ok($blocks[-1], '<', $produced / 4,
	"the file stays small: $blocks[-1] blocks after $produced data pages produced "
	  . "(after each round: @blocks)");
$node->stop;
done_testing();
