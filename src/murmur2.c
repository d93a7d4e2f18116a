/*-------------------------------------------------------------------------
 *
 * murmur2.c
 *	  Kafka's default partitioner: murmur2 of the key bytes, made positive,
 *	  modulo the partition count.
 *
 * This must agree bit for bit with org.apache.kafka.common.utils.Utils.murmur2
 * so that a key lands in the partition a Kafka client would pick; the
 * regression tests check it against Kafka's published vectors.  Java has no
 * unsigned ints, so the arithmetic is done in uint32 (wrapping multiply, which
 * is what Java's int multiply does) and ">>>" becomes an unsigned shift.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_topics.h"

int32
kafka_murmur2(const char *data, int len)
{
	const uint32 seed = 0x9747b28c;
	const uint32 m = 0x5bd1e995;
	const int	r = 24;
	const unsigned char *p = (const unsigned char *) data;
	uint32		h = seed ^ (uint32) len;
	int			len4 = len / 4;
	int			i;

	for (i = 0; i < len4; i++)
	{
		int			i4 = i * 4;
		uint32		k = (uint32) p[i4] |
			((uint32) p[i4 + 1] << 8) |
			((uint32) p[i4 + 2] << 16) |
			((uint32) p[i4 + 3] << 24);

		k *= m;
		k ^= k >> r;
		k *= m;
		h *= m;
		h ^= k;
	}

	/* the remaining 0-3 bytes, falling through like Kafka's switch */
	switch (len % 4)
	{
		case 3:
			h ^= (uint32) p[(len & ~3) + 2] << 16;
			/* FALLTHROUGH */
		case 2:
			h ^= (uint32) p[(len & ~3) + 1] << 8;
			/* FALLTHROUGH */
		case 1:
			h ^= (uint32) p[len & ~3];
			h *= m;
	}

	h ^= h >> 13;
	h *= m;
	h ^= h >> 15;

	return (int32) h;
}

/*
 * Kafka's Utils.toPositive(murmur2(key)) % numPartitions.  toPositive masks
 * the sign bit (it does not negate), so this is not abs().
 */
int32
kafka_partition_for_key(const char *data, int len, int32 npartitions)
{
	uint32		h = (uint32) kafka_murmur2(data, len);

	return (int32) ((h & 0x7fffffff) % (uint32) npartitions);
}
