/*-------------------------------------------------------------------------
 *
 * topic_iterator.c
 *	  Kinesis-style shard iterators (get_shard_iterator, get_records) and
 *	  the time index (seq_at_time, Kafka's ListOffsets by timestamp).
 *
 * A shard iterator is a position (database, topic, partition, seq) with an
 * expiry time, signed with HMAC-SHA256 under a secret kept in
 * topics._secret (created with random bytes by CREATE EXTENSION, readable by
 * nobody but its owner; it is replicated to standbys, so iterators work there
 * too).  The iterator text is base64 of the position and the first 16 bytes
 * of the MAC: opaque to clients and tamper-evident.  An iterator is a
 * position, not a capability: get_records still checks SELECT on the topic.
 *
 * The time index: every directory entry carries the highest timestamp of the
 * partition before its page (ts_floor), a monotonic value even when producers
 * give their own timestamps.  The first record with ts >= t lies on the last
 * page whose ts_floor < t or the page after it, so seq_at_time is a directory
 * descent plus at most two data pages.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_topics.h"

#include "utils/syscache.h"

#include "access/genam.h"
#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "common/base64.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "datatype/timestamp.h"
#include "utils/typcache.h"

PG_FUNCTION_INFO_V1(pg_topics_seq_at_time);
PG_FUNCTION_INFO_V1(pg_topics_get_shard_iterator);
PG_FUNCTION_INFO_V1(pg_topics_get_records);

#define ITERATOR_VERSION	1
#define ITERATOR_POS_SIZE	(1 + 4 + 4 + 4 + 8 + 8)
#define ITERATOR_MAC_SIZE	16
#define ITERATOR_RAW_SIZE	(ITERATOR_POS_SIZE + ITERATOR_MAC_SIZE)
#define GET_RECORDS_MAX		10000	/* Kinesis's GetRecords limit */
#define GET_RECORDS_MAX_BYTES (10 * 1024 * 1024)	/* and its 10 MB */

int			topics_shard_iterator_ttl = 300000; /* ms, Kinesis's 5 minutes */

typedef struct ShardPosition
{
	Oid			dbid;
	Oid			relid;
	int32		partition;
	int64		seq;
	TimestampTz expires;
} ShardPosition;

/* ------------------------------------------------------------------------
 * Time index
 * ------------------------------------------------------------------------
 */

/*
 * The first seq of the partition whose record has ts >= at, counting every
 * stored record but those of aborted transactions, or the last stable offset
 * when there is none yet.  Until 0.10 it was the next seq: records of a
 * transaction still running, stamped before "at", come before it, so an
 * AT_TIMESTAMP iterator of "now" (or a fetch from seq_at_time) never
 * returned them once they committed, where LATEST (the last stable offset
 * since 0.8) does.  Records of a transaction still running count (they may
 * yet commit); aborted ones did count until VACUUM marked them dead, so the
 * answer changed with VACUUM, and before it an AT_TIMESTAMP iterator began
 * at an aborted record and returned the records after it that were stamped
 * before "at" (producers may give older timestamps).
 */
int64
topic_seq_at_time(Relation rel, int32 partition, TimestampTz at)
{
	TopicPartitionState state;
	int64		next = topic_partition_next_seq(rel, partition, &state);
	BlockNumber blkno = InvalidBlockNumber;
	bool		from_dir;

	if (!BlockNumberIsValid(state.head))
		return next;
	if (BlockNumberIsValid(state.dir_root))
		blkno = topic_dir_lookup_ts(rel, partition, &state, at);
	if (!BlockNumberIsValid(blkno))
		blkno = state.head;
	from_dir = blkno != state.head;

	while (BlockNumberIsValid(blkno))
	{
		Buffer		buf;
		Page		page;
		TopicPageOpaque opaque;
		OffsetNumber maxoff;
		OffsetNumber off;

		CHECK_FOR_INTERRUPTS();
		buf = topic_lock_live_page(rel, blkno, partition, BUFFER_LOCK_SHARE, NULL,
								   state.log_start_seq);
		if (BufferIsValid(buf) && from_dir &&
			TopicPageGetOpaque(BufferGetPage(buf))->ts_floor >= at)
		{
			/*
			 * An earlier record already has ts >= at: the directory entry
			 * was of a page retention removed and an append reused (or the
			 * earlier record is one retention removed).  Only the page the
			 * directory gave is checked so: the walk from the head follows
			 * live links, and checking its pages too (until 0.9) made it
			 * start over for good when a removed record had a later ts.
			 */
			UnlockReleaseBuffer(buf);
			buf = InvalidBuffer;
		}
		if (!BufferIsValid(buf))
		{
			/* start over from the head, which retention may have moved */
			topic_get_state(rel, partition, &state);
			blkno = state.head;
			from_dir = false;
			continue;
		}
		page = BufferGetPage(buf);
		opaque = TopicPageGetOpaque(page);
		maxoff = PageGetMaxOffsetNumber(page);
		for (off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemId		itemid = PageGetItemId(page, off);
			int64		seq = opaque->first_seq + off - 1;
			char	   *item;
			TimestampTz ts;

			if (!ItemIdIsNormal(itemid) || seq < state.log_start_seq)
				continue;
			item = (char *) PageGetItem(page, itemid);
			memcpy(&ts, item + TREC_TS_OFF, sizeof(TimestampTz));
			if (ts >= at && topic_record_status_now(buf, item) != TREC_ABORTED)
			{
				UnlockReleaseBuffer(buf);
				return seq;
			}
		}
		blkno = opaque->next;
		UnlockReleaseBuffer(buf);
	}
	return topic_partition_last_stable(rel, partition, next);
}

/*
 * The ts of the newest record a reader can get now from seq "from" up to
 * "stable" (the last stable offset), the tip get_records measures
 * millis_behind_latest to; false when there is none, every record left
 * there having been rolled back.  The newest by seq, not the largest ts:
 * producers may give older timestamps.  Until 2026-12-02 it was the tail
 * page's last stored record, whatever its transaction's fate: one still
 * open, or rolled back and not yet vacuumed, with a later ts (an INSERT may
 * set any), made a reader look behind a tip it would never get, and a tail
 * page of rolled-back records only gave none (then the answer was 1).  A
 * backward walk from the stable offset, in a snapshot of now, finds it.
 */
static bool
newest_readable_ts(Relation rel, int32 partition, int64 from, int64 stable,
				   TimestampTz *ts)
{
	TopicReader *r;
	Snapshot	snapshot;
	Page		page;
	OffsetNumber off;
	bool		found;

	if (from >= stable)
		return false;
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	r = palloc0(sizeof(TopicReader));
	topic_reader_begin_backward(r, rel, partition, from, stable - 1, snapshot);
	found = topic_reader_next(r, &page, &off);
	if (found)
		memcpy(ts, (char *) PageGetItem(page, PageGetItemId(page, off)) + TREC_TS_OFF,
			   sizeof(TimestampTz));
	topic_reader_end(r);
	if (r->copy)
		pfree(r->copy);
	pfree(r);
	UnregisterSnapshot(snapshot);
	return found;
}

/* ------------------------------------------------------------------------
 * Signing
 * ------------------------------------------------------------------------
 */

/*
 * The key that signs iterators is a row the extension's script stores: only
 * a superuser can have removed it, but say how to make a new one rather
 * than fail with an internal error.
 */
static void
secret_missing(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("the key that signs shard iterators is missing"),
			 errdetail_internal("%s", why),
			 errhint("Store a new key as a superuser: INSERT INTO topics._secret SELECT decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'); iterators issued before are then refused.")));
}

/*
 * The iterator secret of this database, read at every use (a row on one
 * page, with the latest committed snapshot): until 0.18 a backend read it
 * once, so a key replaced to revoke the iterators issued under it (UPDATE
 * topics._secret) went on signing and accepting them in every backend that
 * had used it before.
 */
static const uint8 *
iterator_secret(int *len)
{
	static uint8 *cached = NULL;
	static int	cached_len = 0;
	Oid			relid = topic_extension_relid("_secret");
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		isnull;
	Datum		d;
	bytea	   *secret;

	if (!OidIsValid(relid))
		secret_missing("Table topics._secret is missing.");

	/* direct read: the table is private to its owner on purpose */
	rel = table_open(relid, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	tup = systable_getnext(scan);
	if (!HeapTupleIsValid(tup))
		secret_missing("Table topics._secret is empty.");
	d = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull);
	if (isnull)
		secret_missing("Table topics._secret holds a null key.");
	secret = DatumGetByteaPP(d);
	if (cached == NULL || cached_len != VARSIZE_ANY_EXHDR(secret))
	{
		if (cached)
			pfree(cached);
		cached_len = VARSIZE_ANY_EXHDR(secret);
		cached = MemoryContextAlloc(TopMemoryContext, Max(cached_len, 1));
	}
	memcpy(cached, VARDATA_ANY(secret), cached_len);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	*len = cached_len;
	return cached;
}

static void
iterator_mac(const uint8 *pos, uint8 *mac)
{
	int			keylen;
	const uint8 *key = iterator_secret(&keylen);
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);
	uint8		full[PG_SHA256_DIGEST_LENGTH];

	if (ctx == NULL ||
		pg_hmac_init(ctx, key, keylen) < 0 ||
		pg_hmac_update(ctx, pos, ITERATOR_POS_SIZE) < 0 ||
		pg_hmac_final(ctx, full, sizeof(full)) < 0)
		elog(ERROR, "pg_topics: could not compute the shard iterator signature: %s",
			 ctx ? pg_hmac_error(ctx) : "out of memory");
	pg_hmac_free(ctx);
	memcpy(mac, full, ITERATOR_MAC_SIZE);
}

static void
put_bytes(uint8 **p, const void *v, int n)
{
	memcpy(*p, v, n);
	*p += n;
}

static void
get_bytes(const uint8 **p, void *v, int n)
{
	memcpy(v, *p, n);
	*p += n;
}

static text *
iterator_encode(const ShardPosition *pos)
{
	uint8		raw[ITERATOR_RAW_SIZE];
	uint8	   *p = raw;
	uint8		version = ITERATOR_VERSION;
	int			enclen = pg_b64_enc_len(ITERATOR_RAW_SIZE);
	char	   *enc = palloc(enclen + 1);
	int			n;

	put_bytes(&p, &version, 1);
	put_bytes(&p, &pos->dbid, 4);
	put_bytes(&p, &pos->relid, 4);
	put_bytes(&p, &pos->partition, 4);
	put_bytes(&p, &pos->seq, 8);
	put_bytes(&p, &pos->expires, 8);
	iterator_mac(raw, p);

	n = pg_b64_encode((char *) raw, ITERATOR_RAW_SIZE, enc, enclen);
	if (n < 0)
		elog(ERROR, "pg_topics: could not encode a shard iterator");
	enc[n] = '\0';
	return cstring_to_text(enc);
}

static void
invalid_iterator(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid shard iterator"),
			 errdetail("%s", why),
			 errhint("Get an iterator with topics.get_shard_iterator().")));
}

/*
 * An expired iterator is still a signed position, so the error says where
 * it stood: a Kinesis client resumes from the last sequence number it kept,
 * and here the call that renews the iterator can be copied from the hint.
 * The topic's name is looked up without a lock; get_records reports a
 * dropped topic the same way when the iterator is still valid.  Only a
 * caller that may read the topic learns where the iterator stood: one
 * that may not (it lost SELECT, or holds an iterator someone else took)
 * gets what get_records would tell it of a valid one, nothing more.
 */
static void
iterator_expired(const ShardPosition *pos)
{
	char	   *relname = get_rel_name(pos->relid);
	char	   *nspname = relname ? get_namespace_name(get_rel_namespace(pos->relid)) : NULL;
	const char *expired = timestamptz_to_str(pos->expires);

	if (relname == NULL || nspname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_TOPIC_EXPIRED_ITERATOR),
				 errmsg("shard iterator has expired"),
				 errdetail("It expired at %s, and its topic no longer exists.", expired),
				 errhint("Get an iterator with topics.get_shard_iterator().")));
	else if (pg_class_aclcheck(pos->relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK ||
			 pg_namespace_aclcheck(get_rel_namespace(pos->relid), GetUserId(),
								   ACL_USAGE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_TOPIC_EXPIRED_ITERATOR),
				 errmsg("shard iterator has expired"),
				 errdetail("It expired at %s.", expired),
				 errhint("Get an iterator with topics.get_shard_iterator().")));
	else
	{
		char	   *topic = quote_qualified_identifier(nspname, relname);

		ereport(ERROR,
				(errcode(ERRCODE_TOPIC_EXPIRED_ITERATOR),
				 errmsg("shard iterator has expired"),
				 errdetail("It stood at seq " INT64_FORMAT " of partition %d of topic %s and expired at %s; iterators are valid for pg_topics.shard_iterator_ttl after they are issued.",
						   pos->seq, pos->partition, topic, expired),
				 errhint("Get a new one with topics.get_shard_iterator(%s, %d, 'AT_SEQUENCE_NUMBER', " INT64_FORMAT ").",
						 quote_literal_cstr(topic), pos->partition, pos->seq)));
	}
}

static void
iterator_decode(text *it, ShardPosition *pos)
{
	char	   *s = text_to_cstring(it);
	int			len = strlen(s);
	int			declen = pg_b64_dec_len(len);
	uint8	   *raw = palloc(declen + 1);
	const uint8 *p = raw;
	uint8		version;
	uint8		mac[ITERATOR_MAC_SIZE];
	int			n;

	n = pg_b64_decode(s, len, (char *) raw, declen);
	if (n != ITERATOR_RAW_SIZE)
		invalid_iterator("The iterator is not one that pg_topics issued.");
	get_bytes(&p, &version, 1);
	if (version != ITERATOR_VERSION)
		invalid_iterator("The iterator has an unknown format version.");
	iterator_mac(raw, mac);
	/* in constant time: how many leading bytes match must not show */
	if (timingsafe_bcmp(mac, raw + ITERATOR_POS_SIZE, ITERATOR_MAC_SIZE) != 0)
		invalid_iterator("The iterator's signature does not match: it was changed, or issued by another database.");
	get_bytes(&p, &pos->dbid, 4);
	get_bytes(&p, &pos->relid, 4);
	get_bytes(&p, &pos->partition, 4);
	get_bytes(&p, &pos->seq, 8);
	get_bytes(&p, &pos->expires, 8);
	if (pos->dbid != MyDatabaseId)
		invalid_iterator("The iterator was issued in another database.");
	if (GetCurrentTimestamp() >= pos->expires)
		iterator_expired(pos);
}

static text *
make_iterator(Relation rel, int32 partition, int64 seq)
{
	ShardPosition pos;

	pos.dbid = MyDatabaseId;
	pos.relid = RelationGetRelid(rel);
	pos.partition = partition;
	pos.seq = seq;
	pos.expires = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
											  topics_shard_iterator_ttl);
	return iterator_encode(&pos);
}

/* ------------------------------------------------------------------------
 * SQL functions
 * ------------------------------------------------------------------------
 */

/* seq_at_time(topic, partition, at) */
Datum
pg_topics_seq_at_time(PG_FUNCTION_ARGS)
{
	Relation	rel;
	int32		partition;
	int64		result;

	topic_require_arg(fcinfo, 0, "topic");
	topic_require_arg(fcinfo, 1, "partition");
	topic_require_arg(fcinfo, 2, "at");
	rel = topic_open(PG_GETARG_OID(0), AccessShareLock, ACL_SELECT);
	partition = PG_GETARG_INT32(1);
	topic_check_partition(rel, partition);
	result = topic_seq_at_time(rel, partition, PG_GETARG_TIMESTAMPTZ(2));
	table_close(rel, NoLock);
	PG_RETURN_INT64(result);
}

/* An argument of get_shard_iterator that "type" needs, or does not take. */
static void
iterator_arg_error(const char *type, const char *arg, bool needed)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 needed ?
			 errmsg("iterator type %s needs %s", type, arg) :
			 errmsg("iterator type %s does not take %s", type, arg)));
}

/*
 * get_shard_iterator(topic, partition, iterator_type, seq, at)
 */
Datum
pg_topics_get_shard_iterator(PG_FUNCTION_ARGS)
{
	Relation	rel;
	int32		partition;
	char	   *type;
	bool		has_seq = !PG_ARGISNULL(3);
	bool		has_at = !PG_ARGISNULL(4);
	int64		seq = has_seq ? PG_GETARG_INT64(3) : 0;
	TopicPartitionState state;
	int64		next;
	int64		start;
	text	   *result;

	topic_require_arg(fcinfo, 0, "topic");
	topic_require_arg(fcinfo, 1, "partition");
	topic_require_arg(fcinfo, 2, "iterator_type");
	type = text_to_cstring(PG_GETARG_TEXT_PP(2));
	partition = PG_GETARG_INT32(1);

	rel = topic_open(PG_GETARG_OID(0), AccessShareLock, ACL_SELECT);
	topic_check_partition(rel, partition);
	next = topic_partition_next_seq(rel, partition, &state);

	if (pg_strcasecmp(type, "TRIM_HORIZON") == 0 || pg_strcasecmp(type, "LATEST") == 0)
	{
		if (has_seq || has_at)
			iterator_arg_error(pg_strcasecmp(type, "LATEST") == 0 ? "LATEST" : "TRIM_HORIZON",
							   has_seq ? "seq" : "at", false);
		/*
		 * LATEST is the last stable offset, not next_seq: records of a
		 * transaction still running come before next_seq, and an iterator
		 * past them would never return them once it commits (Kafka's
		 * read_committed "latest" is the LSO too).
		 */
		start = pg_strcasecmp(type, "LATEST") == 0 ?
			topic_partition_last_stable(rel, partition, next) : state.log_start_seq;
	}
	else if (pg_strcasecmp(type, "AT_SEQUENCE_NUMBER") == 0 ||
			 pg_strcasecmp(type, "AFTER_SEQUENCE_NUMBER") == 0)
	{
		bool		after = pg_strcasecmp(type, "AFTER_SEQUENCE_NUMBER") == 0;

		if (!has_seq)
			iterator_arg_error(after ? "AFTER_SEQUENCE_NUMBER" : "AT_SEQUENCE_NUMBER",
							   "seq", true);
		if (has_at)
			iterator_arg_error(after ? "AFTER_SEQUENCE_NUMBER" : "AT_SEQUENCE_NUMBER",
							   "at", false);
		if (seq < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("seq must not be negative")));
		/*
		 * The seq the caller gave is checked first: for AFTER, seq + 1 of
		 * the largest bigint overflowed (until 0.9), and an error should
		 * name the seq the caller gave.
		 */
		topic_check_read_position(rel, partition, seq);
		if (after && seq >= next)
			ereport(ERROR,
					(errcode(ERRCODE_TOPIC_OFFSET_OUT_OF_RANGE),
					 errmsg("seq " INT64_FORMAT " is out of range for an AFTER_SEQUENCE_NUMBER iterator of partition %d of topic \"%s\"",
							seq, partition, RelationGetRelationName(rel)),
					 errdetail("No seq after " INT64_FORMAT " has been given out yet: the partition's next seq is " INT64_FORMAT ".",
							   seq, next),
					 errhint("Use AT_SEQUENCE_NUMBER with seq " INT64_FORMAT " (or LATEST) to read what comes next.",
							 next)));
		start = after ? seq + 1 : seq;

		/*
		 * A position the caller took from next_seq (partition_bounds) may
		 * be past rolled-back or asynchronously committed records whose WAL
		 * is not flushed yet: the walk to the last stable offset flushes
		 * it (see topic_flush_passed), so that a crash cannot give their
		 * seqs to records this iterator would then skip.
		 */
		if (start > 0)
			(void) topic_partition_last_stable(rel, partition, next);
	}
	else if (pg_strcasecmp(type, "AT_TIMESTAMP") == 0)
	{
		if (!has_at)
			iterator_arg_error("AT_TIMESTAMP", "at", true);
		if (has_seq)
			iterator_arg_error("AT_TIMESTAMP", "seq", false);
		start = topic_seq_at_time(rel, partition, PG_GETARG_TIMESTAMPTZ(4));
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown shard iterator type \"%s\"", type),
				 errhint("Use TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER or AT_TIMESTAMP.")));

	result = make_iterator(rel, partition, start);
	table_close(rel, NoLock);
	PG_RETURN_TEXT_P(result);
}

/*
 * Collects records as composite datums for get_records' records[]: up to
 * max of them and, like Kinesis, 10 MB of keys, values and headers (the
 * first record always comes).  Without the byte limit a call over large
 * records built an array past PostgreSQL's 1 GB limit and failed, every
 * time, after allocating it all: 10,000 records of 200 kB.
 *
 * Each record is formed, copied into the buffer that becomes the array and
 * freed at once, so its memory serves the next one: until 2026-12-02 every
 * record stayed formed on its own until construct_array copied them all
 * into the array, twice the memory of the records at the peak (and, where
 * page faults are dear, the faults of both: a third of a 1000-record call's
 * time on the test VM went to them).  The buffer is sized from the first
 * record for max of its size; pages a call does not fill are never touched.
 */
typedef struct ArrayCollect
{
	TupleDesc	rectype;
	char	   *buf;			/* the array: its header, then the elements */
	Size		len;			/* bytes of buf in use */
	Size		cap;
	int64		n;
	int			max;
	int64		bytes;
	TimestampTz last_ts;
} ArrayCollect;

#define COLLECT_HEADER		ARR_OVERHEAD_NONULLS(1)

/* Room for "need" more bytes of elements. */
static void
collect_reserve(ArrayCollect *ac, Size need)
{
	Size		cap;

	if (ac->buf != NULL && ac->len + need <= ac->cap)
		return;
	if (ac->buf == NULL)
	{
		cap = COLLECT_HEADER + Min(need * ac->max, (Size) 16 * 1024 * 1024);
		cap = Max(cap, COLLECT_HEADER + need);
		ac->buf = palloc(cap);
		memset(ac->buf, 0, COLLECT_HEADER);
		ac->len = COLLECT_HEADER;
	}
	else
	{
		cap = Max(ac->cap * 2, ac->len + need);
		ac->buf = repalloc(ac->buf, cap);
	}
	ac->cap = cap;
}

static bool
collect_array(const TopicRecord *rec, void *arg)
{
	ArrayCollect *ac = (ArrayCollect *) arg;
	Datum		values[Natts_topic];
	bool		nulls[Natts_topic];
	HeapTuple	tup;
	Size		need;
	Size		sz;

	if (ac->n >= ac->max)
		return false;
	sz = topic_record_payload_size(rec);
	if (ac->n > 0 && ac->bytes + (int64) sz > GET_RECORDS_MAX_BYTES)
		return false;
	ac->bytes += sz;
	topic_record_values(rec, values, nulls);

	/* detoast: the array outlives the scan of the topic */
	tup = toast_build_flattened_tuple(ac->rectype, values, nulls);
	need = att_align_nominal(tup->t_len, TYPALIGN_DOUBLE);
	collect_reserve(ac, need);
	memcpy(ac->buf + ac->len, tup->t_data, tup->t_len);
	memset(ac->buf + ac->len + tup->t_len, 0, need - tup->t_len);
	heap_freetuple(tup);
	ac->len += need;
	ac->n++;
	ac->last_ts = rec->ts;
	return true;
}

/* The records[] array of the records collected. */
static Datum
collect_finish(ArrayCollect *ac, Oid rectypid)
{
	ArrayType  *array;

	if (ac->n == 0)
		return PointerGetDatum(construct_empty_array(rectypid));
	array = (ArrayType *) ac->buf;
	SET_VARSIZE(array, ac->len);
	array->ndim = 1;
	array->dataoffset = 0;		/* no nulls */
	array->elemtype = rectypid;
	ARR_DIMS(array)[0] = (int) ac->n;
	ARR_LBOUND(array)[0] = 1;
	return PointerGetDatum(array);
}

/*
 * get_records(shard_iterator, max_records): exactly one row with the
 * records (up to the last stable offset), the iterator that continues right
 * after them, and how far behind the partition's newest record they are.
 */
Datum
pg_topics_get_records(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	ShardPosition pos;
	Relation	rel;
	int32		max_records;
	int64		wait_ms;
	ArrayCollect ac;
	Oid			rectypid;
	int64		position;
	int64		next;
	TopicPartitionState state;
	int64		behind = 0;
	TimestampTz newest;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	topic_require_arg(fcinfo, 0, "shard_iterator");
	topic_require_arg(fcinfo, 1, "max_records");
	topic_require_arg(fcinfo, 2, "wait");
	max_records = PG_GETARG_INT32(1);
	wait_ms = topic_interval_ms(PG_GETARG_INTERVAL_P(2), "wait");
	if (max_records < 1 || max_records > GET_RECORDS_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_records must be between 1 and %d", GET_RECORDS_MAX)));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	iterator_decode(PG_GETARG_TEXT_PP(0), &pos);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(pos.relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the topic of this shard iterator no longer exists"),
				 errhint("Get a new iterator with topics.get_shard_iterator().")));
	rel = topic_open(pos.relid, AccessShareLock, ACL_SELECT);
	topic_check_partition(rel, pos.partition);
	/*
	 * Retention removed records since the iterator was issued: like Kinesis,
	 * continue with what is left, here and in the walk, which follows the
	 * log start if retention moves it again before the first page is read.
	 */
	next = topic_partition_next_seq(rel, pos.partition, &state);
	if (pos.seq < state.log_start_seq)
		pos.seq = state.log_start_seq;
	else if (pos.seq > next)
		topic_check_read_position(rel, pos.partition, pos.seq);

	rectypid = get_element_type(TupleDescAttr(tupdesc, 0)->atttypid);
	memset(&ac, 0, sizeof(ac));
	ac.rectype = lookup_rowtype_tupdesc_copy(rectypid, -1);
	ac.max = max_records;
	position = topic_read_wait(rel, pos.partition, pos.seq, wait_ms, true, collect_array,
							   &ac, &ac.n);

	/*
	 * Behind only while records readable now remain: past the last stable
	 * offset lie records of transactions still open (and the committed
	 * records after them), which the next call cannot return either, and
	 * rolled-back records are never returned; until 2026-12-02 their ts
	 * counted, so a caught-up Kinesis client saw itself behind and polled
	 * without sleeping until the producer committed.
	 */
	next = topic_partition_next_seq(rel, pos.partition, &state);
	if (ac.n > 0 &&
		newest_readable_ts(rel, pos.partition, position,
						   topic_partition_last_stable(rel, pos.partition, next), &newest))
	{
		if (newest > ac.last_ts)
			behind = (newest - ac.last_ts) / 1000;

		/*
		 * Records of one batch (produce_batch, a multi-row INSERT, COPY) or
		 * one millisecond share their ts, so records left to read could show
		 * 0, which a Kinesis client reads as caught up and sleeps on (until
		 * 0.10).  Records readable now (below the last stable offset) are at
		 * least 1 ms behind.
		 */
		if (behind < 1)
			behind = 1;
	}

	values[0] = collect_finish(&ac, rectypid);
	values[1] = PointerGetDatum(make_iterator(rel, pos.partition, position));
	values[2] = Int64GetDatum(behind);
	table_close(rel, NoLock);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
