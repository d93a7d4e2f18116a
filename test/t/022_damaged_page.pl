# A damaged page in a partition's chain is reported as such, with what the
# page is instead of a data page of the partition: the partition walks of
# partition_info (the last stable offset) and VACUUM stop with
# data_corrupted and a detail for whoever has to find out how it got there.
# The page is damaged by hand while the server is stopped: once zeroed, once
# overwritten with the topic's metapage.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Fcntl qw(SEEK_SET);
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

my $node = topics_node('damaged');
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_topics;
SELECT topics.create_topic('dp', 1);
SELECT count(*) FROM topics.produce_batch('dp',
	ARRAY(SELECT 'k' || g FROM generate_series(1, 2000) g),
	ARRAY(SELECT convert_to(repeat('v', 100), 'UTF8') FROM generate_series(1, 2000) g));
});
# a page in the middle of the chain, and the file it is in
my $block = $node->safe_psql('postgres',
	q{SELECT (ctid::text::point)[0]::integer FROM dp WHERE seq = 1000});
my $file = $node->data_dir . '/' . $node->safe_psql('postgres', q{SELECT pg_relation_filepath('dp')});
$node->safe_psql('postgres', 'CHECKPOINT');

# overwrite block $block of $file with $bytes, the server stopped
sub damage
{
	my ($bytes) = @_;
	$node->stop;
	open(my $fh, '+<', $file) or die "open $file: $!";
	binmode $fh;
	sysseek($fh, $block * 8192, SEEK_SET) or die "seek: $!";
	syswrite($fh, $bytes) == 8192 or die "write: $!";
	close $fh;
	$node->start;
}

sub read_block
{
	my ($n) = @_;
	open(my $fh, '<', $file) or die "open $file: $!";
	binmode $fh;
	sysseek($fh, $n * 8192, SEEK_SET) or die "seek: $!";
	my $bytes;
	sysread($fh, $bytes, 8192) == 8192 or die "read: $!";
	close $fh;
	return $bytes;
}

my $metapage = read_block(0);
damage("\0" x 8192);
for my $walk ([ 'partition_info', 'SELECT * FROM topics.partition_info(\'dp\')' ],
	[ 'VACUUM', 'VACUUM dp' ])
{
	my ($name, $sql) = @$walk;
	my ($ret, $out, $err) = $node->psql('postgres', $sql);
	like($err,
		qr/ERROR:  topic "dp" has an invalid data page at block $block\n.*DETAIL:  A data page of partition 0 was expected; the page is new \(all zeroes\)\./s,
		"$name: a zeroed page is reported as new");
}

damage($metapage);
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT * FROM topics.partition_info('dp')});
like($err,
	qr/ERROR:  topic "dp" has an invalid data page at block $block\n.*DETAIL:  A data page of partition 0 was expected; the page is a meta page of partition -1 \(first seq 0, next block 4294967295, flags 0x0\)\./s,
	'a metapage where a data page should be is named');

$node->stop;
done_testing();
