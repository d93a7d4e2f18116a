/*-------------------------------------------------------------------------
 *
 * topic_tableam.c
 *	  The topic_log table access method: the TableAmRoutine and its
 *	  callbacks.
 *
 * A topic relation has a fixed set of columns (pg_topics.h, Anum_topic_*).
 * Rows are virtual tuples built from records: partition and seq come from
 * the page a record is on, the other columns from the record.  Scans work
 * page at a time like heap's page mode: under a share lock they decide which
 * records are visible, then return them with only a pin held, the datums
 * pointing into the pinned page.  A serial sequential scan takes the pages
 * of each partition in seq order along the partition's chain, partition
 * after partition (pg_dump's COPY depends on it; see
 * topicam_scan_next_chain_page); parallel scans, ANALYZE and TABLESAMPLE
 * go by block.
 *
 * Inserting (INSERT, COPY, and the produce functions, which call
 * topic_append directly) assigns partition (from the key when not given),
 * seq and ts.  Everything that would change a stored record fails with
 * feature_not_supported: update, delete, row locks, CLUSTER, speculative
 * insertion (VACUUM FULL rewrites a topic: topic_vacuum.c).  Indexes are
 * not supported yet; seeks go through the topic's own directory.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_topics.h"

#include <ctype.h>
#include <math.h>

#include "access/detoast.h"
#include "access/heapam.h"
#include "access/relation.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "access/tsmapi.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "catalog/storage.h"
#include "catalog/storage_xlog.h"
#include "commands/defrem.h"
#include "commands/vacuum.h"
#include "executor/tuptable.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "access/multixact.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/predicate.h"
#include "storage/proc.h"
#include "storage/smgr.h"
#include "utils/acl.h"
#include "utils/attoptcache.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(topic_log_handler);

static const TableAmRoutine topic_methods;
static void topic_slot_set_system(TupleTableSlot *slot, TransactionId xmin,
								  CommandId cid);

typedef struct TopicScanDescData
{
	TableScanDescData base;
	BlockNumber nblocks;		/* blocks in the relation at the start */
	BlockNumber next_block;		/* TABLESAMPLE without a block picker: the
								 * next block */
	bool		started;
	/* a serial scan walks each partition's chain of pages in seq order */
	int32		npartitions;	/* partitions at the start */
	int32		part;			/* partition of the current page, -1 before
								 * the first, npartitions after the last */
	BlockNumber part_tail;		/* its tail when the scan came to it */
	BlockNumber chain_next;		/* page after the current one, or invalid at
								 * the end of the partition */
	int64		expect;			/* first seq after the current page */
	int64		cfirst;			/* first seq of the current page */
	Buffer		cbuf;			/* current page, pinned */
	Page		cpage;			/* where its records are read: the buffer's
								 * page, or the copy */
	char	   *copy;			/* on a standby, a copy of it taken under
								 * its lock: records come from there, as
								 * replay may overwrite the page under a pin
								 * (see topic_reader.c) */
	BlockNumber cblock;
	Buffer		nbuf;			/* the next block, pinned ahead (see
								 * topicam_scan_load_page), or invalid */
	BlockNumber nblock;
	int			nvis;			/* visible offsets on the current page */
	int			ivis;
	BufferAccessStrategy strategy;
	ParallelBlockTableScanWorkerData pbw;
	OffsetNumber analyze_off;	/* ANALYZE: next offset on the current page */
	TopicStatusCache status_cache;	/* for rs_snapshot */
	XLogRecPtr	flush_lsn;		/* to flush before the current page's records
								 * are returned (see topicam_scan_collect) */
	OffsetNumber vis[MaxOffsetNumber];
} TopicScanDescData;

typedef TopicScanDescData *TopicScanDesc;

/* ------------------------------------------------------------------------
 * Helpers shared with the rest of the extension
 * ------------------------------------------------------------------------
 */

bool
topic_relation_is_topic(Relation rel)
{
	return rel->rd_tableam == &topic_methods;
}

Oid
topic_am_oid(void)
{
	return get_am_oid("topic_log", true);
}

static const struct
{
	const char *name;
	Oid			type;
}			topic_columns[Natts_topic] =
{
	{"partition", INT4OID},
	{"seq", INT8OID},
	{"ts", TIMESTAMPTZOID},
	{"key", TEXTOID},
	{"value", BYTEAOID},
	{"headers", JSONBOID},
};

/*
 * A topic stores exactly the columns (partition integer, seq bigint,
 * ts timestamptz, key text, value bytea, headers jsonb), all nullable (the
 * access method fills partition, seq and ts) and without defaults (produce
 * does not evaluate them, so INSERT and produce would disagree).
 */
bool
topic_tupdesc_matches(TupleDesc desc)
{
	int			i;

	if (desc->natts != Natts_topic)
		return false;
	for (i = 0; i < Natts_topic; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->atttypid != topic_columns[i].type ||
			att->attnotnull || att->atthasdef ||
			strcmp(NameStr(att->attname), topic_columns[i].name) != 0)
			return false;
	}
	return true;
}

/*
 * A rewrite (ALTER TABLE ... SET ACCESS METHOD topic_log, VACUUM FULL,
 * REFRESH MATERIALIZED VIEW) fills a transient table that make_new_heap()
 * names "pg_temp_<OID of the table rewritten>" in that table's schema,
 * while the rewrite holds ACCESS EXCLUSIVE on that table.  Returns that
 * table's OID for such a relation, else InvalidOid.  The name alone is not
 * enough: anyone may create a table called pg_temp_<N>, and such a topic
 * would take its partition count from relation N, a count its dump does not
 * carry.  So the table named must also be locked that way by this
 * transaction and have a topic's columns; a topic staged so on purpose is
 * refused by the DDL guard after its CREATE TABLE (check_carried_count).
 */
static Oid
rewrite_source_by_name(Relation rel)
{
	const char *name = RelationGetRelationName(rel);
	char	   *end;
	unsigned long source;
	LOCKTAG		tag;

	if (strncmp(name, "pg_temp_", 8) != 0 || !isdigit((unsigned char) name[8]))
		return InvalidOid;
	errno = 0;
	source = strtoul(name + 8, &end, 10);
	if (errno != 0 || *end != '\0' || source > PG_UINT32_MAX ||
		(Oid) source == RelationGetRelid(rel) ||
		get_rel_namespace((Oid) source) != RelationGetNamespace(rel))
		return InvalidOid;
	SET_LOCKTAG_RELATION(tag, MyDatabaseId, (Oid) source);
	if (!LockHeldByMe(&tag, AccessExclusiveLock))
		return InvalidOid;
	return (Oid) source;
}

Oid
topic_rewrite_source(Relation rel)
{
	Oid			source = rewrite_source_by_name(rel);
	Relation	srcrel;
	bool		matches;

	if (!OidIsValid(source))
		return InvalidOid;
	srcrel = try_relation_open(source, NoLock);
	if (srcrel == NULL)
		return InvalidOid;
	matches = topic_tupdesc_matches(RelationGetDescr(srcrel));
	relation_close(srcrel, NoLock);
	return matches ? source : InvalidOid;
}

/* Whether relid uses access method am (a rewrite of a topic into a topic) */
static bool
relid_uses_am(Oid relid, Oid am)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		result = false;

	if (HeapTupleIsValid(tuple))
	{
		result = ((Form_pg_class) GETSTRUCT(tuple))->relam == am;
		ReleaseSysCache(tuple);
	}
	return result;
}

/*
 * The name to give the user for rel: the table being rewritten rather than
 * the transient table it is copied into (until 0.10 errors during ALTER
 * TABLE ... SET ACCESS METHOD topic_log named "pg_temp_16384").
 */
const char *
topic_user_relname(Relation rel)
{
	Oid			source = rewrite_source_by_name(rel);
	char	   *name = OidIsValid(source) ? get_rel_name(source) : NULL;

	return name ? name : RelationGetRelationName(rel);
}

void
topic_check_tupdesc(Relation rel)
{
	if (!topic_tupdesc_matches(RelationGetDescr(rel)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("table \"%s\" does not have the columns of a topic",
						topic_user_relname(rel)),
				 errdetail("A table using access method topic_log must have exactly the columns "
						   "(partition integer, seq bigint, ts timestamptz, key text, value bytea, headers jsonb), "
						   "without NOT NULL constraints or defaults."),
				 errhint("Create topics with topics.create_topic().")));
}

/*
 * Kafka's default partitioner for a key, and round-robin for null keys.
 * Kafka hashes the key's UTF-8 bytes, so convert from the database encoding
 * first when it is not UTF-8.
 */
int32
topic_choose_partition(Relation rel, struct varlena *key)
{
	static uint32 round_robin = 0;
	static bool rr_started = false;
	int32		npartitions = topic_get_cache(rel)->npartitions;
	char	   *data;
	int			len;

	if (key == NULL)
	{
		if (!rr_started)
		{
			round_robin = (uint32) MyProcPid;
			rr_started = true;
		}
		return (int32) (round_robin++ % (uint32) npartitions);
	}

	data = VARDATA_ANY(key);
	len = VARSIZE_ANY_EXHDR(key);
	if (GetDatabaseEncoding() != PG_UTF8)
	{
		char	   *utf8 = pg_server_to_any(data, len, PG_UTF8);

		if (utf8 != data)
		{
			data = utf8;
			len = strlen(utf8);
		}
	}
	return kafka_partition_for_key(data, len, npartitions);
}

void
topic_store_record_in_slot(TupleTableSlot *slot, const TopicRecord *rec)
{
	ExecClearTuple(slot);
	topic_record_values(rec, slot->tts_values, slot->tts_isnull);
	ExecStoreVirtualTuple(slot);
	topic_slot_set_system(slot, rec->xmin, rec->cid);
}

static void
topic_unsupported(Relation rel, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s is not supported on topic \"%s\"", what,
					RelationGetRelationName(rel)),
			 errdetail("Records of a topic are immutable and stored in append order.")));
}

/* ------------------------------------------------------------------------
 * Slots that decode a record only when a column is asked for
 *
 * A scan stores the page and line pointer of a record in the slot and
 * decodes it on the first slot_getsomeattrs, so count(*) and other queries
 * that use no column never decode a record (as heap tuples are deformed
 * lazily).  Everything else is a virtual slot: the record bytes stay on the
 * page, which the scan keeps pinned until it moves on, exactly as when the
 * values were filled in eagerly; materializing copies them.
 *
 * The slot also answers the system columns a heap tuple has: xmin and cmin
 * from the record's header, read when first asked for (or when the slot is
 * materialized or copied, as the page may go), cmax as cmin and xmax as 0,
 * as heap gives them for a tuple nobody deleted; ctid and tableoid are the
 * slot's own.  With the library of e62b7f5 and earlier, "SELECT xmin"
 * failed ("cannot retrieve a system column in this context").
 * ------------------------------------------------------------------------
 */
typedef struct TopicTupleTableSlot
{
	VirtualTupleTableSlot base;
	Page		page;			/* page of the record held, or NULL once
								 * copied (materialized) or cleared */
	OffsetNumber off;
	bool		has_system;		/* xmin and cid below are the record's */
	TransactionId xmin;
	CommandId	cid;
} TopicTupleTableSlot;

static TupleTableSlotOps TTSOpsTopic;

static void
tts_topic_getsomeattrs(TupleTableSlot *slot, int natts)
{
	TopicTupleTableSlot *tslot = (TopicTupleTableSlot *) slot;

	if (tslot->page == NULL)
		elog(ERROR, "topic slot has no record to decode");
	/* only the columns asked for; the record stays for later requests */
	natts = Min(natts, slot->tts_tupleDescriptor->natts);
	topic_record_deform(tslot->page, tslot->off, Min(natts, Natts_topic),
						slot->tts_values, slot->tts_isnull);
	/* columns a record does not have are null (the guard keeps them out) */
	for (int i = Natts_topic; i < natts; i++)
	{
		slot->tts_values[i] = (Datum) 0;
		slot->tts_isnull[i] = true;
	}
	slot->tts_nvalid = natts;
}

/* Keep xmin and cid of the record held, while its page is still there. */
static void
topic_slot_read_system(TopicTupleTableSlot *tslot)
{
	char	   *item;

	if (tslot->has_system || tslot->page == NULL)
		return;
	item = (char *) PageGetItem(tslot->page, PageGetItemId(tslot->page, tslot->off));
	memcpy(&tslot->xmin, item + TREC_XMIN_OFF, sizeof(TransactionId));
	memcpy(&tslot->cid, item + TREC_CID_OFF, sizeof(CommandId));
	tslot->has_system = true;
}

static void
topic_slot_set_system(TupleTableSlot *slot, TransactionId xmin, CommandId cid)
{
	TopicTupleTableSlot *tslot = (TopicTupleTableSlot *) slot;

	if (slot->tts_ops != &TTSOpsTopic)
		return;
	tslot->xmin = xmin;
	tslot->cid = cid;
	tslot->has_system = true;
}

static Datum
tts_topic_getsysattr(TupleTableSlot *slot, int attnum, bool *isnull)
{
	TopicTupleTableSlot *tslot = (TopicTupleTableSlot *) slot;

	topic_slot_read_system(tslot);
	if (!tslot->has_system)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot retrieve a system column in this context")));
	*isnull = false;
	switch (attnum)
	{
		case MinTransactionIdAttributeNumber:
			return TransactionIdGetDatum(tslot->xmin);
		case MaxTransactionIdAttributeNumber:
			return TransactionIdGetDatum(InvalidTransactionId);
		case MinCommandIdAttributeNumber:
		case MaxCommandIdAttributeNumber:
			return CommandIdGetDatum(tslot->cid);
		default:
			elog(ERROR, "invalid attribute number %d", attnum);
			return (Datum) 0;	/* keep compiler quiet */
	}
}

static void
tts_topic_clear(TupleTableSlot *slot)
{
	((TopicTupleTableSlot *) slot)->page = NULL;
	((TopicTupleTableSlot *) slot)->has_system = false;
	TTSOpsVirtual.clear(slot);
}

static void
tts_topic_materialize(TupleTableSlot *slot)
{
	TopicTupleTableSlot *tslot = (TopicTupleTableSlot *) slot;

	slot_getallattrs(slot);
	topic_slot_read_system(tslot);
	TTSOpsVirtual.materialize(slot);
	tslot->page = NULL;			/* the values are the slot's own now */
}

static void
tts_topic_copyslot(TupleTableSlot *dstslot, TupleTableSlot *srcslot)
{
	TopicTupleTableSlot *dst = (TopicTupleTableSlot *) dstslot;

	TTSOpsVirtual.copyslot(dstslot, srcslot);
	dst->page = NULL;
	dst->has_system = false;
	if (srcslot->tts_ops == &TTSOpsTopic)
	{
		TopicTupleTableSlot *src = (TopicTupleTableSlot *) srcslot;

		topic_slot_read_system(src);
		if (src->has_system)
			topic_slot_set_system(dstslot, src->xmin, src->cid);
	}
}

static HeapTuple
tts_topic_copy_heap_tuple(TupleTableSlot *slot)
{
	slot_getallattrs(slot);
	return TTSOpsVirtual.copy_heap_tuple(slot);
}

static MinimalTuple
tts_topic_copy_minimal_tuple(TupleTableSlot *slot)
{
	slot_getallattrs(slot);
	return TTSOpsVirtual.copy_minimal_tuple(slot);
}

static void
topic_slot_ops_init(void)
{
	TupleTableSlotOps ops = TTSOpsVirtual;

	ops.base_slot_size = sizeof(TopicTupleTableSlot);
	ops.getsomeattrs = tts_topic_getsomeattrs;
	ops.clear = tts_topic_clear;
	ops.materialize = tts_topic_materialize;
	ops.copyslot = tts_topic_copyslot;
	ops.copy_heap_tuple = tts_topic_copy_heap_tuple;
	ops.copy_minimal_tuple = tts_topic_copy_minimal_tuple;
	ops.getsysattr = tts_topic_getsysattr;
	TTSOpsTopic = ops;
}

/*
 * Put a record in a topic slot.  Per row of a scan, so it does what
 * ExecClearTuple would do to the virtual slot without its indirect call:
 * only a materialized slot owns memory to free.
 */
static inline void
topic_slot_set_record(TupleTableSlot *slot, Page page, OffsetNumber off)
{
	TopicTupleTableSlot *tslot = (TopicTupleTableSlot *) slot;

	if (unlikely(TTS_SHOULDFREE(slot)))
		ExecClearTuple(slot);
	tslot->page = page;
	tslot->off = off;
	tslot->has_system = false;
	slot->tts_flags &= ~TTS_FLAG_EMPTY;
	slot->tts_nvalid = 0;
}

/*
 * Put a record in a slot: lazily in a topic slot, else (slots of other
 * kinds, which callers may pass) decoded at once.  The page must stay
 * pinned while the slot holds the record.
 */
static void
topic_store_record_lazy(TupleTableSlot *slot, Page page, OffsetNumber off)
{
	if (slot->tts_ops == &TTSOpsTopic)
		topic_slot_set_record(slot, page, off);
	else
	{
		TopicRecord rec;

		topic_record_decode(page, off, &rec);
		topic_store_record_in_slot(slot, &rec);
	}
}

static const TupleTableSlotOps *
topicam_slot_callbacks(Relation relation)
{
	if (TTSOpsTopic.init == NULL)
		topic_slot_ops_init();
	return &TTSOpsTopic;
}

/* ------------------------------------------------------------------------
 * Sequential scans
 * ------------------------------------------------------------------------
 */

static TableScanDesc
topicam_scan_begin(Relation rel, Snapshot snapshot, int nkeys, ScanKey key,
				   ParallelTableScanDesc pscan, uint32 flags)
{
	TopicScanDesc scan = palloc0(sizeof(TopicScanDescData));

	RelationIncrementReferenceCount(rel);
	scan->base.rs_rd = rel;
	scan->base.rs_snapshot = snapshot;
	scan->base.rs_nkeys = nkeys;
	scan->base.rs_key = key;
	scan->base.rs_flags = flags;
	scan->base.rs_parallel = pscan;
	scan->cbuf = InvalidBuffer;
	scan->cblock = InvalidBlockNumber;
	scan->nbuf = InvalidBuffer;
	if (RecoveryInProgress())
		scan->copy = palloc(BLCKSZ);
	/* pg_stat_*_tables.seq_scan, as heap counts it: at the start and rescans */
	if (flags & SO_TYPE_SEQSCAN)
		pgstat_count_heap_scan(rel);
	/* a serializable scan reads the whole topic (see topic_visibility.c) */
	if (flags & (SO_TYPE_SEQSCAN | SO_TYPE_SAMPLESCAN | SO_TYPE_TIDSCAN | SO_TYPE_TIDRANGESCAN))
		PredicateLockRelation(rel, snapshot);
	return (TableScanDesc) scan;
}

static void
topicam_scan_release_page(TopicScanDesc scan)
{
	if (BufferIsValid(scan->cbuf))
		ReleaseBuffer(scan->cbuf);
	scan->cbuf = InvalidBuffer;
	scan->cblock = InvalidBlockNumber;
	scan->nvis = scan->ivis = 0;
}

static void
topicam_scan_release_ahead(TopicScanDesc scan)
{
	if (BufferIsValid(scan->nbuf))
		ReleaseBuffer(scan->nbuf);
	scan->nbuf = InvalidBuffer;
}

static void
topicam_scan_end(TableScanDesc sscan)
{
	TopicScanDesc scan = (TopicScanDesc) sscan;

	topicam_scan_release_page(scan);
	topicam_scan_release_ahead(scan);
	if (scan->strategy)
		FreeAccessStrategy(scan->strategy);
	RelationDecrementReferenceCount(sscan->rs_rd);
	if (sscan->rs_flags & SO_TEMP_SNAPSHOT)
		UnregisterSnapshot(sscan->rs_snapshot);
	if (scan->copy)
		pfree(scan->copy);
	pfree(scan);
}

static void
topicam_scan_rescan(TableScanDesc sscan, ScanKey key, bool set_params,
					bool allow_strat, bool allow_sync, bool allow_pagemode)
{
	TopicScanDesc scan = (TopicScanDesc) sscan;

	topicam_scan_release_page(scan);
	topicam_scan_release_ahead(scan);
	scan->started = false;
	scan->status_cache.valid = false;
	if (sscan->rs_flags & SO_TYPE_SEQSCAN)
		pgstat_count_heap_scan(sscan->rs_rd);
}

/*
 * Collect the offsets of the records of the locked page the scan's snapshot
 * sees, from offset lo to hi.
 *
 * A record of an asynchronous commit that is not flushed yet is returned
 * only once it is (topicam_scan_set_page flushes): a crash could lose it,
 * and give its seq to another record, which a reader that took
 * "max(seq) + 1" as its position would skip.  The walks of the readers do
 * the same (see topic_flush_passed).
 */
static inline void
topicam_scan_collect(TopicScanDesc scan, Page page, int64 lo, int64 hi)
{
	Relation	rel = scan->base.rs_rd;
	bool		all_visible = TopicPageAllVisibleFor(page, scan->base.rs_snapshot);
	bool		page_unflushed = !all_visible && topic_page_unflushed(scan->cbuf);
	int64		off64;

	for (off64 = lo; off64 <= hi; off64++)
	{
		OffsetNumber off = (OffsetNumber) off64;
		ItemId		itemid = PageGetItemId(page, off);
		char	   *item;

		if (!ItemIdIsNormal(itemid))
			continue;
		if (all_visible)
		{
			scan->vis[scan->nvis++] = off;
			continue;
		}
		item = (char *) PageGetItem(page, itemid);
		if (topic_record_status_cached(rel, scan->cbuf, item, scan->base.rs_snapshot,
									   &scan->status_cache) == TREC_VISIBLE)
		{
			scan->flush_lsn = Max(scan->flush_lsn,
								  topic_record_commit_unflushed(scan->cbuf, item,
																page_unflushed));
			scan->vis[scan->nvis++] = off;
		}
	}
}

/*
 * The page just locked, scan->cbuf since its records were collected, becomes
 * the current one; its lock is released.
 */
static void
topicam_scan_set_page(TopicScanDesc scan, Buffer buf, BlockNumber blkno)
{
	Page		page = BufferGetPage(buf);

	Assert(scan->cbuf == buf);
	scan->cblock = blkno;
	if (scan->copy)
		memcpy(scan->copy, page, BLCKSZ);
	scan->cpage = scan->copy ? (Page) scan->copy : page;
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	topic_flush_passed(scan->flush_lsn);
	scan->flush_lsn = InvalidXLogRecPtr;
}

/*
 * Pin a block and collect the offsets of the records visible to the scan's
 * snapshot, under a share lock that is released before returning: block by
 * block, for parallel scans, ANALYZE and TABLESAMPLE, which choose their
 * blocks themselves.
 */
static void
topicam_scan_load_page(TopicScanDesc scan, BlockNumber blkno)
{
	Buffer		buf;
	Page		page;

	topicam_scan_release_page(scan);
	CHECK_FOR_INTERRUPTS();
	buf = ReadBufferExtended(scan->base.rs_rd, MAIN_FORKNUM, blkno, RBM_NORMAL,
							 scan->strategy);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	scan->cbuf = buf;
	if (topic_page_is_data(page))
		topicam_scan_collect(scan, page, FirstOffsetNumber, PageGetMaxOffsetNumber(page));
	topicam_scan_set_page(scan, buf, blkno);
}

/*
 * Pin the page after the current one ahead, and ask the CPU for the parts
 * of it that loading it reads first: the header and line pointers at the
 * start, the special area and the first records (stored from the end of
 * the page down) at the end.  Finding a block in shared buffers gives no
 * hint of where its page is, so without this the first touches of every
 * page stalled on memory one after another; now they arrive while the
 * executor works through this page's records.  Measured on a 1M-record
 * topic in shared buffers, alternating in one session: 6-8% off the scan's
 * time; pinning ahead without the prefetches, nothing.
 */
static void
topicam_scan_pin_ahead(TopicScanDesc scan, BlockNumber blkno)
{
	scan->nbuf = ReadBufferExtended(scan->base.rs_rd, MAIN_FORKNUM, blkno, RBM_NORMAL,
									scan->strategy);
	scan->nblock = blkno;
#if defined(__GNUC__) || defined(__clang__)
	{
		char	   *next = (char *) BufferGetPage(scan->nbuf);
		int			k;

		/* 256 bytes: the header and 58 line pointers */
		for (k = 0; k < 4; k++)
			__builtin_prefetch(next + 64 * k);
		/* 512 bytes: the special area and the first records */
		for (k = 1; k <= 8; k++)
			__builtin_prefetch(next + BLCKSZ - 64 * k);
	}
#endif
}

/*
 * The locked data page of the walk becomes the current one, with the
 * records from offset lo to hi the snapshot sees; the page before is let
 * go only now, the new one being pinned.
 */
static void
topicam_scan_take_page(TopicScanDesc scan, Buffer buf, BlockNumber blkno,
					   int64 lo, int64 hi)
{
	Page		page = BufferGetPage(buf);
	TopicPageOpaque opaque = TopicPageGetOpaque(page);

	topicam_scan_release_page(scan);
	scan->cbuf = buf;
	topicam_scan_collect(scan, page, lo, hi);
	scan->cfirst = opaque->first_seq;
	scan->expect = opaque->first_seq + PageGetMaxOffsetNumber(page);
	scan->chain_next = blkno == scan->part_tail ? InvalidBlockNumber : opaque->next;
	topicam_scan_set_page(scan, buf, blkno);
}

/*
 * A serial scan returns each partition's records in seq order, partition
 * after partition, as pg_dump's COPY needs them: a restore appends them
 * with their seqs, which must grow.  Block order is not seq order once
 * retention has freed pages that appends reuse (the newest records then sit
 * in the lowest blocks), and until 0.9 a dump of such a topic could not be
 * restored.  So the scan walks each partition's chain of data pages from
 * its head, as the readers do, to the tail it had when the scan came to the
 * partition: a record the snapshot sees was appended before the scan
 * began, on a page that was in the chain by then.
 *
 * Load the next page of the walk: the page after the current one in its
 * partition, or the head of the next partition.  False at the end.  The
 * page is pinned (ahead, usually) before the current one is let go, and
 * retention removes pages from the head and not past a pinned one, so the
 * walk never loses its place in the middle of a partition; at a partition's
 * head, or where a stale link leads to a page retention freed (on a
 * standby, whose pins do not hold replay back), it goes on at the log start.
 */
static bool
topicam_scan_next_chain_page(TopicScanDesc scan)
{
	Relation	rel = scan->base.rs_rd;

	for (;;)
	{
		TopicPartitionState state;
		BlockNumber blkno;
		Buffer		buf;
		Page		page;
		TopicPageOpaque opaque;

		CHECK_FOR_INTERRUPTS();
		if (scan->part >= 0 && scan->part < scan->npartitions &&
			BlockNumberIsValid(scan->chain_next))
			blkno = scan->chain_next;
		else
		{
			if (scan->part + 1 >= scan->npartitions)
			{
				topicam_scan_release_page(scan);
				topicam_scan_release_ahead(scan);
				scan->part = scan->npartitions;
				return false;
			}
			scan->part++;
			topic_get_state(rel, scan->part, &state);
			scan->part_tail = state.tail;
			scan->expect = state.log_start_seq;
			scan->chain_next = blkno = state.head;
			if (!BlockNumberIsValid(blkno))
				continue;
		}

		if (BufferIsValid(scan->nbuf) && scan->nblock == blkno)
		{
			buf = scan->nbuf;
			scan->nbuf = InvalidBuffer;
		}
		else
		{
			topicam_scan_release_ahead(scan);
			buf = ReadBufferExtended(rel, MAIN_FORKNUM, blkno, RBM_NORMAL, scan->strategy);
		}
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (!topic_page_is_live(rel, page, scan->part, scan->expect))
		{
			/* removed since the link or the state was read */
			UnlockReleaseBuffer(buf);
			topic_get_state(rel, scan->part, &state);
			scan->expect = Max(scan->expect, state.log_start_seq);
			scan->chain_next = topic_find_page(rel, scan->part, scan->expect, &state);
			continue;
		}

		opaque = TopicPageGetOpaque(page);
		topicam_scan_take_page(scan, buf, blkno,
							   Max(TopicSeqOffset(scan->expect, opaque->first_seq), FirstOffsetNumber),
							   PageGetMaxOffsetNumber(page));
		if (BlockNumberIsValid(scan->chain_next) && !BufferIsValid(scan->nbuf))
			topicam_scan_pin_ahead(scan, scan->chain_next);
		return true;
	}
}

/*
 * A step of the walk backward: the page before the current one in its
 * partition, found through the directory (pages link only forward), or the
 * last page of the partition before.  False before the first page.  The
 * pages are those the forward walk passes, and a page comes with the same
 * records, so a SCROLL cursor sees one order both ways.
 */
static bool
topicam_scan_prev_chain_page(TopicScanDesc scan)
{
	Relation	rel = scan->base.rs_rd;
	int64		want = scan->part < scan->npartitions ? scan->cfirst - 1 : -1;

	topicam_scan_release_ahead(scan);
	for (;;)
	{
		TopicPartitionState state;
		BlockNumber blkno;
		Buffer		buf;
		Page		page;
		TopicPageOpaque opaque;

		CHECK_FOR_INTERRUPTS();
		if (scan->part < 0)
			return false;
		if (scan->part < scan->npartitions)
		{
			topic_get_state(rel, scan->part, &state);
			blkno = want < state.log_start_seq ? InvalidBlockNumber :
				topic_find_page_at_or_before(rel, scan->part, want, &state);
		}
		else
			blkno = InvalidBlockNumber;
		if (!BlockNumberIsValid(blkno))
		{
			/* the last page of the partition before */
			if (--scan->part < 0)
			{
				topicam_scan_release_page(scan);
				return false;
			}
			topic_get_state(rel, scan->part, &state);
			scan->part_tail = state.tail;
			want = topic_partition_next_seq(rel, scan->part, &state) - 1;
			continue;
		}
		buf = topic_lock_live_page(rel, blkno, scan->part, BUFFER_LOCK_SHARE,
								   scan->strategy, want);
		if (!BufferIsValid(buf))
			continue;			/* removed since: look again */
		page = BufferGetPage(buf);
		opaque = TopicPageGetOpaque(page);
		if (opaque->first_seq > want)
		{
			UnlockReleaseBuffer(buf);	/* reused since: look again */
			continue;
		}
		topicam_scan_take_page(scan, buf, blkno, FirstOffsetNumber,
							   Min((int64) PageGetMaxOffsetNumber(page),
								   TopicSeqOffset(want, opaque->first_seq)));
		return true;
	}
}

/*
 * A scan's (or rescan's) start: the blocks it covers and, when that is a
 * large share of shared buffers, the bulk-read ring.  Every way through the
 * topic starts here: forward (serial or parallel), backward, TABLESAMPLE.
 */
static void
topicam_scan_start(TopicScanDesc scan)
{
	Relation	rel = scan->base.rs_rd;
	ParallelBlockTableScanDesc pbscan =
	(ParallelBlockTableScanDesc) scan->base.rs_parallel;

	scan->started = true;
	if (pbscan)
	{
		table_block_parallelscan_startblock_init(rel, &scan->pbw, pbscan);
		scan->nblocks = pbscan->phs_nblocks;
	}
	else
		scan->nblocks = RelationGetNumberOfBlocks(rel);
	if ((scan->base.rs_flags & SO_ALLOW_STRAT) && scan->strategy == NULL &&
		scan->nblocks > (BlockNumber) (NBuffers / 4))
		scan->strategy = GetAccessStrategy(BAS_BULKREAD);
	scan->npartitions = scan->nblocks > 0 ? topic_get_cache(rel)->npartitions : 0;
	scan->part = -1;
	scan->chain_next = InvalidBlockNumber;
	scan->next_block = 0;
}

/* Return the record at vis[idx] of the current page in the slot. */
static inline bool
topicam_scan_return(TopicScanDesc scan, int idx, TupleTableSlot *slot)
{
	Page		page = scan->cpage;
	OffsetNumber off = scan->vis[idx];

	if (likely(slot->tts_ops == &TTSOpsTopic))
		topic_slot_set_record(slot, page, off);
	else
		topic_store_record_lazy(slot, page, off);
	slot->tts_tableOid = RelationGetRelid(scan->base.rs_rd);
	ItemPointerSet(&slot->tts_tid, scan->cblock, off);
	pgstat_count_heap_getnext(scan->base.rs_rd);
	return true;
}

/*
 * A step backward, for SCROLL cursors (PostgreSQL assumes every sequential
 * scan can go back and adds no Material node for them).  The record last
 * returned, in either direction, is vis[ivis - 1] of the current page; a
 * step back returns the one before it, from earlier blocks when the page
 * has none.  As with heap, a scan that ran off either end starts again:
 * forward at the first block, backward at the last.  Through fdf6965
 * backward scans failed with feature_not_supported.  Not inlined, so that
 * the forward scan's code stays as it was.
 */
static pg_noinline bool
topicam_scan_getprevslot(TopicScanDesc scan, TupleTableSlot *slot)
{
	Assert(scan->base.rs_parallel == NULL);
	if (scan->started && scan->ivis >= 2)
	{
		scan->ivis--;
		return topicam_scan_return(scan, scan->ivis - 1, slot);
	}
	if (!scan->started)
	{
		topicam_scan_start(scan);
		scan->part = scan->npartitions;
	}
	while (topicam_scan_prev_chain_page(scan))
	{
		if (scan->nvis > 0)
		{
			scan->ivis = scan->nvis;
			return topicam_scan_return(scan, scan->ivis - 1, slot);
		}
	}
	topicam_scan_release_page(scan);
	topicam_scan_release_ahead(scan);
	scan->started = false;
	ExecClearTuple(slot);
	return false;
}

static bool
topicam_scan_getnextslot(TableScanDesc sscan, ScanDirection direction,
						 TupleTableSlot *slot)
{
	TopicScanDesc scan = (TopicScanDesc) sscan;

	if (unlikely(ScanDirectionIsBackward(direction)))
		return topicam_scan_getprevslot(scan, slot);

	for (;;)
	{
		if (scan->ivis < scan->nvis)
		{
			if (scan->ivis + TOPIC_PREFETCH_DISTANCE < scan->nvis)
				topic_prefetch_record(scan->cpage,
									  scan->vis[scan->ivis + TOPIC_PREFETCH_DISTANCE]);
			return topicam_scan_return(scan, scan->ivis++, slot);
		}

		if (!scan->started)
			topicam_scan_start(scan);
		if (scan->base.rs_parallel != NULL)
		{
			/* parallel workers share out blocks: no order to keep */
			BlockNumber blkno = table_block_parallelscan_nextpage(scan->base.rs_rd, &scan->pbw,
																  (ParallelBlockTableScanDesc) scan->base.rs_parallel);

			if (BlockNumberIsValid(blkno))
			{
				topicam_scan_load_page(scan, blkno);
				continue;
			}
		}
		else if (topicam_scan_next_chain_page(scan))
			continue;

		topicam_scan_release_page(scan);
		/* a step back from here starts at the last page */
		if (scan->base.rs_parallel == NULL)
			scan->started = false;
		ExecClearTuple(slot);
		return false;
	}
}

/* ------------------------------------------------------------------------
 * Parallel scans: the generic block-based protocol
 * ------------------------------------------------------------------------
 */

static Size
topicam_parallelscan_estimate(Relation rel)
{
	return table_block_parallelscan_estimate(rel);
}

static Size
topicam_parallelscan_initialize(Relation rel, ParallelTableScanDesc pscan)
{
	return table_block_parallelscan_initialize(rel, pscan);
}

static void
topicam_parallelscan_reinitialize(Relation rel, ParallelTableScanDesc pscan)
{
	table_block_parallelscan_reinitialize(rel, pscan);
}

/* ------------------------------------------------------------------------
 * Fetching by TID (TID scans, and the index interface)
 * ------------------------------------------------------------------------
 */

/*
 * Copy the record at tid into slot if it exists and is visible.  The slot
 * is materialized because the buffer is released before returning.
 */
static bool
topicam_fetch_tid(Relation rel, ItemPointer tid, Snapshot snapshot,
				  TupleTableSlot *slot)
{
	BlockNumber blkno = ItemPointerGetBlockNumber(tid);
	OffsetNumber off = ItemPointerGetOffsetNumber(tid);
	Buffer		buf;
	Page		page;
	bool		found = false;

	if (blkno >= RelationGetNumberOfBlocks(rel))
		return false;
	buf = ReadBuffer(rel, blkno);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	if (topic_page_is_data(page) && off >= FirstOffsetNumber &&
		off <= PageGetMaxOffsetNumber(page) &&
		ItemIdIsNormal(PageGetItemId(page, off)) &&
		topic_record_status(rel, buf, (char *) PageGetItem(page, PageGetItemId(page, off)),
							snapshot) == TREC_VISIBLE)
	{
		TopicRecord rec;

		topic_record_decode(page, off, &rec);
		topic_store_record_in_slot(slot, &rec);
		ExecMaterializeSlot(slot);
		slot->tts_tableOid = RelationGetRelid(rel);
		slot->tts_tid = *tid;
		found = true;
	}
	UnlockReleaseBuffer(buf);
	return found;
}

static IndexFetchTableData *
topicam_index_fetch_begin(Relation rel)
{
	IndexFetchTableData *scan = palloc0(sizeof(IndexFetchTableData));

	scan->rel = rel;
	return scan;
}

static void
topicam_index_fetch_reset(IndexFetchTableData *scan)
{
}

static void
topicam_index_fetch_end(IndexFetchTableData *scan)
{
	pfree(scan);
}

static bool
topicam_index_fetch_tuple(struct IndexFetchTableData *scan, ItemPointer tid,
						  Snapshot snapshot, TupleTableSlot *slot,
						  bool *call_again, bool *all_dead)
{
	*call_again = false;
	if (all_dead)
		*all_dead = false;
	return topicam_fetch_tid(scan->rel, tid, snapshot, slot);
}

static bool
topicam_fetch_row_version(Relation rel, ItemPointer tid, Snapshot snapshot,
						  TupleTableSlot *slot)
{
	/* heap locks the one tuple; a lock on the topic is coarser, as safe */
	PredicateLockRelation(rel, snapshot);
	return topicam_fetch_tid(rel, tid, snapshot, slot);
}

static bool
topicam_tuple_tid_valid(TableScanDesc scan, ItemPointer tid)
{
	return ItemPointerIsValid(tid) &&
		ItemPointerGetBlockNumber(tid) < RelationGetNumberOfBlocks(scan->rs_rd);
}

static void
topicam_get_latest_tid(TableScanDesc scan, ItemPointer tid)
{
	/* records are never updated: every version is the latest */
}

static bool
topicam_tuple_satisfies_snapshot(Relation rel, TupleTableSlot *slot,
								 Snapshot snapshot)
{
	TupleTableSlot *tmp = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsVirtual);
	bool		result = topicam_fetch_tid(rel, &slot->tts_tid, snapshot, tmp);

	ExecDropSingleTupleTableSlot(tmp);
	return result;
}

static TransactionId
topicam_index_delete_tuples(Relation rel, TM_IndexDeleteOp *delstate)
{
	topic_unsupported(rel, "index tuple deletion");
	return InvalidTransactionId;
}

/* ------------------------------------------------------------------------
 * Inserting
 * ------------------------------------------------------------------------
 */

/* A varlena argument as a plain (detoasted, possibly short) varlena. */
static struct varlena *
plain_varlena(Datum d)
{
	return (struct varlena *) PG_DETOAST_DATUM_PACKED(d);
}

/*
 * A timestamp a producer gives must be finite and, unless
 * pg_topics.timestamp_after_max is -1, at most that far ahead of the clock
 * (Kafka's message.timestamp.after.max.ms): time-based retention removes
 * whole pages from a partition's head in order, so one record stamped
 * 'infinity' at the head keeps everything after it, and seq_at_time
 * answers from the record's time, not the append's.  Timestamps in the
 * past are fine (a replay of old events), as in Kafka by default.
 */
static void
topic_check_record_ts(TimestampTz ts)
{
	TimestampTz now;

	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("record timestamp must be finite"),
				 errhint("Leave ts NULL to have the append time stored.")));
	if (topics_timestamp_after_max < 0)
		return;
	now = GetCurrentTimestamp();
	if (ts > TimestampTzPlusMilliseconds(now, topics_timestamp_after_max))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("record timestamp is too far in the future"),
				 errdetail("Timestamp %s is more than %s (pg_topics.timestamp_after_max) after the server's clock, %s.",
						   pstrdup(timestamptz_to_str(ts)),
						   GetConfigOptionByName("pg_topics.timestamp_after_max", NULL, false),
						   pstrdup(timestamptz_to_str(now))),
				 errhint("Leave ts NULL to have the append time stored, fix the producer's clock, or raise pg_topics.timestamp_after_max.")));
}

/*
 * An explicit seq is for restoring a dump, copying a topic or replicating
 * one, which its owner does: a seq, once taken, is never handed out again
 * (not even after a rollback or a TRUNCATE), so a role that may only insert
 * could otherwise use up a partition's seqs with one rolled-back INSERT of
 * seq 2^63 - 65537 and stop every producer of it for good (until 0.16, a
 * reviewer's finding).  Checked once per command and topic: a COPY of a
 * dump gives every row a seq.
 */
static void
topic_check_explicit_seq(Relation rel)
{
	static Oid	ok_relid = InvalidOid;
	static Oid	ok_userid = InvalidOid;
	static LocalTransactionId ok_lxid = InvalidLocalTransactionId;
	static CommandId ok_cid = InvalidCommandId;
	Oid			userid = GetUserId();
	CommandId	cid = GetCurrentCommandId(false);

	if (ok_relid == RelationGetRelid(rel) && ok_userid == userid &&
		ok_lxid == MyProc->lxid && ok_cid == cid)
		return;
	if (!pg_class_ownercheck(RelationGetRelid(rel), userid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only the owner of topic \"%s\" may give records a seq",
						RelationGetRelationName(rel)),
				 errdetail("Explicit seqs are for restoring or copying a topic; a seq taken is never handed out again, even after a rollback."),
				 errhint("Leave seq NULL to have it assigned.")));
	ok_relid = RelationGetRelid(rel);
	ok_userid = userid;
	ok_lxid = MyProc->lxid;
	ok_cid = cid;
}

static void
topic_slot_to_record(Relation rel, TupleTableSlot *slot, TopicNewRecord *rec)
{
	Datum	   *values;
	bool	   *isnull;

	slot_getallattrs(slot);
	values = slot->tts_values;
	isnull = slot->tts_isnull;

	memset(rec, 0, sizeof(TopicNewRecord));
	rec->key = isnull[Anum_topic_key - 1] ? NULL : plain_varlena(values[Anum_topic_key - 1]);
	rec->value = isnull[Anum_topic_value - 1] ? NULL : plain_varlena(values[Anum_topic_value - 1]);
	rec->headers = isnull[Anum_topic_headers - 1] ? NULL : plain_varlena(values[Anum_topic_headers - 1]);

	if (isnull[Anum_topic_partition - 1])
		rec->partition = topic_choose_partition(rel, rec->key);
	else
	{
		rec->partition = DatumGetInt32(values[Anum_topic_partition - 1]);
		topic_check_partition(rel, rec->partition);
	}

	rec->seq = -1;
	if (!isnull[Anum_topic_seq - 1])
	{
		topic_check_explicit_seq(rel);
		rec->seq = DatumGetInt64(values[Anum_topic_seq - 1]);
		if (rec->seq < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("seq must not be negative"),
					 errhint("Leave seq NULL to have it assigned.")));
		if (rec->seq > TOPIC_MAX_SEQ)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("seq " INT64_FORMAT " is out of range", rec->seq),
					 errdetail("A seq may be at most " INT64_FORMAT ".", TOPIC_MAX_SEQ),
					 errhint("Leave seq NULL to have it assigned.")));
	}

	rec->ts_given = !isnull[Anum_topic_ts - 1];
	if (rec->ts_given)
	{
		rec->ts = DatumGetTimestampTz(values[Anum_topic_ts - 1]);
		/* a restore (explicit seqs) brings back what was stored */
		if (rec->seq < 0)
			topic_check_record_ts(rec->ts);
	}

	topic_record_prepare(rel, rec);
}

/*
 * Put what the access method assigned back into the slot (RETURNING): the
 * columns it fills in, and the system columns.
 */
static void
topic_record_to_slot(Relation rel, TupleTableSlot *slot, const TopicNewRecord *rec,
					 CommandId cid)
{
	slot->tts_values[Anum_topic_partition - 1] = Int32GetDatum(rec->partition);
	slot->tts_isnull[Anum_topic_partition - 1] = false;
	slot->tts_values[Anum_topic_seq - 1] = Int64GetDatum(rec->seq);
	slot->tts_isnull[Anum_topic_seq - 1] = false;
	slot->tts_values[Anum_topic_ts - 1] = TimestampTzGetDatum(rec->ts);
	slot->tts_isnull[Anum_topic_ts - 1] = false;
	slot->tts_tableOid = RelationGetRelid(rel);
	slot->tts_tid = rec->tid;
	topic_slot_set_system(slot, GetCurrentTransactionId(), cid);
}

static void
topicam_multi_insert(Relation rel, TupleTableSlot **slots, int nslots,
					 CommandId cid, int options, BulkInsertState bistate)
{
	TopicNewRecord *recs = palloc(sizeof(TopicNewRecord) * nslots);
	int			i;

	for (i = 0; i < nslots; i++)
		topic_slot_to_record(rel, slots[i], &recs[i]);
	topic_append(rel, recs, nslots, cid);
	for (i = 0; i < nslots; i++)
		topic_record_to_slot(rel, slots[i], &recs[i], cid);
	pgstat_count_heap_insert(rel, nslots);
	pfree(recs);
}

static void
topicam_tuple_insert(Relation rel, TupleTableSlot *slot, CommandId cid,
					 int options, BulkInsertState bistate)
{
	topicam_multi_insert(rel, &slot, 1, cid, options, bistate);
}

static void
topicam_tuple_insert_speculative(Relation rel, TupleTableSlot *slot,
								 CommandId cid, int options,
								 BulkInsertState bistate, uint32 specToken)
{
	topic_on_conflict_error(RelationGetRelationName(rel));
}

static void
topicam_tuple_complete_speculative(Relation rel, TupleTableSlot *slot,
								   uint32 specToken, bool succeeded)
{
	topic_on_conflict_error(RelationGetRelationName(rel));
}

static TM_Result
topicam_tuple_delete(Relation rel, ItemPointer tid, CommandId cid,
					 Snapshot snapshot, Snapshot crosscheck, bool wait,
					 TM_FailureData *tmfd, bool changingPart)
{
	topic_immutable_error(CMD_DELETE, RelationGetRelationName(rel));
	return TM_Invisible;
}

static TM_Result
topicam_tuple_update(Relation rel, ItemPointer otid, TupleTableSlot *slot,
					 CommandId cid, Snapshot snapshot, Snapshot crosscheck,
					 bool wait, TM_FailureData *tmfd,
					 LockTupleMode *lockmode, bool *update_indexes)
{
	topic_immutable_error(CMD_UPDATE, RelationGetRelationName(rel));
	return TM_Invisible;
}

static TM_Result
topicam_tuple_lock(Relation rel, ItemPointer tid, Snapshot snapshot,
				   TupleTableSlot *slot, CommandId cid, LockTupleMode mode,
				   LockWaitPolicy wait_policy, uint8 flags,
				   TM_FailureData *tmfd)
{
	topic_lock_error(RelationGetRelationName(rel));
	return TM_Invisible;
}

static void
topicam_finish_bulk_insert(Relation rel, int options)
{
}

/* ------------------------------------------------------------------------
 * DDL
 * ------------------------------------------------------------------------
 */

static void
topicam_relation_set_new_filenode(Relation rel, const RelFileNode *newrnode,
								  char persistence, TransactionId *freezeXid,
								  MultiXactId *minmulti)
{
	SMgrRelation srel;
	TopicPartitionState *carry = NULL;
	int			npartitions = 1;

	if (persistence != RELPERSISTENCE_PERMANENT)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("topics must be permanent tables"),
				 errdetail("A topic is a durable log; temporary and unlogged topics are not supported."),
				 errhint("Create the table without TEMPORARY or UNLOGGED.")));
	topic_check_tupdesc(rel);

	/*
	 * TRUNCATE gives the relation new storage while the old one is still its
	 * rd_node: carry every partition's next seq over, so that seqs are never
	 * reused, and record them where a dump carries them too.  A new relation
	 * (CREATE TABLE, or the transient table of a rewrite) starts empty with
	 * one partition; the rewrite of a table into a topic (ALTER TABLE ...
	 * SET ACCESS METHOD topic_log) with as many as the n_distinct option of
	 * the table's partition column says, the count a topic keeps there, so
	 * that the table's rows can go to partitions above 0 (until 0.10 such a
	 * conversion always failed).
	 */
	if (!RelFileNodeEquals(rel->rd_node, *newrnode) &&
		smgrexists(RelationGetSmgr(rel), MAIN_FORKNUM) &&
		smgrnblocks(RelationGetSmgr(rel), MAIN_FORKNUM) > 0)
	{
		carry = topic_read_all_states(rel, &npartitions);
		topic_note_truncation(rel, carry, npartitions);
	}
	else
	{
		Oid			source = topic_rewrite_source(rel);
		AttributeOpts *opts = OidIsValid(source) && !relid_uses_am(source, rel->rd_rel->relam) ?
			get_attribute_options(source, Anum_topic_partition) : NULL;

		if (opts && opts->n_distinct >= 1 && opts->n_distinct <= TOPIC_MAX_PARTITIONS &&
			opts->n_distinct == floor(opts->n_distinct))
			npartitions = (int) opts->n_distinct;
	}

	*freezeXid = RecentXmin;
	*minmulti = GetOldestMultiXactId();

	/*
	 * With wal_level = minimal, nothing of a relfilenode created in this
	 * transaction is WAL-logged: PostgreSQL syncs the file, or logs it whole,
	 * at commit.  Its first pages must not be logged either (until 7ebbe8d
	 * they were): replaying those images after a crash would put back the
	 * empty state pages over the ones appends in the same transaction had
	 * changed, unlogged, and synced at commit.
	 */
	srel = RelationCreateStorage(*newrnode, persistence, true);
	topic_init_storage(srel, XLogIsNeeded(), carry, npartitions);
	if (carry)
		pfree(carry);
}

/*
 * TRUNCATE of a topic created in the same transaction: the storage is reset
 * in place, keeping the seqs as the transactional path does.
 */
static void
topicam_relation_nontransactional_truncate(Relation rel)
{
	int			npartitions;
	TopicPartitionState *carry = topic_read_all_states(rel, &npartitions);

	topic_note_truncation(rel, carry, npartitions);
	topic_reset_storage(rel, carry, npartitions);
	pfree(carry);
}

/* ALTER TABLE ... SET TABLESPACE: copy the blocks as they are. */
static void
topicam_relation_copy_data(Relation rel, const RelFileNode *newrnode)
{
	SMgrRelation dstrel;

	FlushRelationBuffers(rel);
	dstrel = RelationCreateStorage(*newrnode, rel->rd_rel->relpersistence, true);
	RelationCopyStorage(RelationGetSmgr(rel), dstrel, MAIN_FORKNUM,
						rel->rd_rel->relpersistence);
	RelationDropStorage(rel);
	smgrclose(dstrel);
}

/*
 * VACUUM FULL (CLUSTER needs an index, and a topic has none): copy the
 * committed records into the new storage (topic_vacuum_full).
 */
static void
topicam_relation_copy_for_cluster(Relation OldTable, Relation NewTable,
								  Relation OldIndex, bool use_sort,
								  TransactionId OldestXmin,
								  TransactionId *xid_cutoff,
								  MultiXactId *multi_cutoff,
								  double *num_tuples,
								  double *tups_vacuumed,
								  double *tups_recently_dead)
{
	Assert(OldIndex == NULL && !use_sort);
	topic_vacuum_full(OldTable, NewTable, *xid_cutoff, num_tuples, tups_vacuumed);
	*tups_recently_dead = 0;
}

static void
topicam_relation_vacuum(Relation rel, struct VacuumParams *params,
						BufferAccessStrategy bstrategy)
{
	topic_vacuum_rel(rel, params, bstrategy);
}

/* ------------------------------------------------------------------------
 * ANALYZE
 * ------------------------------------------------------------------------
 */

static bool
topicam_scan_analyze_next_block(TableScanDesc sscan, BlockNumber blockno,
								BufferAccessStrategy bstrategy)
{
	TopicScanDesc scan = (TopicScanDesc) sscan;

	topicam_scan_release_page(scan);
	scan->cbuf = ReadBufferExtended(sscan->rs_rd, MAIN_FORKNUM, blockno,
									RBM_NORMAL, bstrategy);
	scan->cblock = blockno;
	scan->analyze_off = FirstOffsetNumber;
	LockBuffer(scan->cbuf, BUFFER_LOCK_SHARE);
	return true;
}

static bool
topicam_scan_analyze_next_tuple(TableScanDesc sscan, TransactionId OldestXmin,
								double *liverows, double *deadrows,
								TupleTableSlot *slot)
{
	TopicScanDesc scan = (TopicScanDesc) sscan;
	Page		page = BufferGetPage(scan->cbuf);

	if (topic_page_is_data(page))
	{
		OffsetNumber maxoff = PageGetMaxOffsetNumber(page);

		while (scan->analyze_off <= maxoff)
		{
			OffsetNumber off = scan->analyze_off++;
			ItemId		itemid = PageGetItemId(page, off);
			char	   *item;
			TopicRecord rec;

			if (!ItemIdIsNormal(itemid))
				continue;
			item = (char *) PageGetItem(page, itemid);
			if (topic_xid_in_progress_now(scan->cbuf, item))
				continue;
			if (item[TREC_FLAGS_OFF] & TREC_XMIN_INVALID)
			{
				*deadrows += 1;
				continue;
			}
			*liverows += 1;
			topic_record_decode(page, off, &rec);
			topic_store_record_in_slot(slot, &rec);
			ExecMaterializeSlot(slot);
			slot->tts_tableOid = RelationGetRelid(sscan->rs_rd);
			ItemPointerSet(&slot->tts_tid, scan->cblock, off);
			return true;
		}
	}
	UnlockReleaseBuffer(scan->cbuf);
	scan->cbuf = InvalidBuffer;
	ExecClearTuple(slot);
	return false;
}

/* ------------------------------------------------------------------------
 * Indexes (not supported yet)
 * ------------------------------------------------------------------------
 */

/* The error for an index on a topic: here, and before CREATE INDEX starts. */
void
topic_indexes_unsupported(const char *relname)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("indexes are not supported on topic \"%s\"", relname),
			 errdetail("Seeks by partition and seq use the topic's own directory."),
			 errhint("Use topics.fetch() to read from a seq, or copy the records into a table to index them.")));
}

static double
topicam_index_build_range_scan(Relation table_rel, Relation index_rel,
							   IndexInfo *index_info, bool allow_sync,
							   bool anyvisible, bool progress,
							   BlockNumber start_blockno, BlockNumber numblocks,
							   IndexBuildCallback callback, void *callback_state,
							   TableScanDesc scan)
{
	topic_indexes_unsupported(RelationGetRelationName(table_rel));
	return 0;
}

static void
topicam_index_validate_scan(Relation table_rel, Relation index_rel,
							IndexInfo *index_info, Snapshot snapshot,
							ValidateIndexState *state)
{
	topic_unsupported(table_rel, "CREATE INDEX CONCURRENTLY");
}

/* ------------------------------------------------------------------------
 * Sizes and planner estimates
 * ------------------------------------------------------------------------
 */

static bool
topicam_relation_needs_toast_table(Relation rel)
{
	/* records up to pg_topics.max_record_bytes can exceed a page */
	return true;
}

static Oid
topicam_relation_toast_am(Relation rel)
{
	return HEAP_TABLE_AM_OID;
}

static void
topicam_estimate_rel_size(Relation rel, int32 *attr_widths,
						  BlockNumber *pages, double *tuples,
						  double *allvisfrac)
{
	table_block_relation_estimate_size(rel, attr_widths, pages, tuples,
									   allvisfrac,
									   TREC_HEADER_SIZE + sizeof(ItemIdData),
									   TOPIC_CONTENT_SIZE);
}

/* ------------------------------------------------------------------------
 * TABLESAMPLE
 *
 * The sampling method picks blocks (or they are read in order) and line
 * pointers on each; a picked record is returned when the scan's snapshot
 * sees it.  The topic's other pages (metapage, state, directory, free
 * pages) have no line pointers to pick.  The page is loaded as a
 * sequential scan loads it, so vis[] holds its visible offsets in order.
 * Through 13decad TABLESAMPLE failed with feature_not_supported.
 * ------------------------------------------------------------------------
 */

static bool
topicam_scan_sample_next_block(TableScanDesc sscan, SampleScanState *scanstate)
{
	TopicScanDesc scan = (TopicScanDesc) sscan;
	TsmRoutine *tsm = scanstate->tsmroutine;
	BlockNumber blkno;

	if (!scan->started)
		topicam_scan_start(scan);
	if (scan->nblocks == 0)
		return false;
	if (tsm->NextSampleBlock)
		blkno = tsm->NextSampleBlock(scanstate, scan->nblocks);
	else if (scan->next_block < scan->nblocks)
		blkno = scan->next_block++;
	else
		blkno = InvalidBlockNumber;
	if (!BlockNumberIsValid(blkno))
	{
		topicam_scan_release_page(scan);
		return false;
	}
	topicam_scan_load_page(scan, blkno);
	return true;
}

static int
offset_cmp(const void *a, const void *b)
{
	return (int) *(const OffsetNumber *) a - (int) *(const OffsetNumber *) b;
}

static bool
topicam_scan_sample_next_tuple(TableScanDesc sscan, SampleScanState *scanstate,
							   TupleTableSlot *slot)
{
	TopicScanDesc scan = (TopicScanDesc) sscan;
	TsmRoutine *tsm = scanstate->tsmroutine;
	Page		page = scan->cpage;
	OffsetNumber maxoff = topic_page_is_data(page) ? PageGetMaxOffsetNumber(page) : 0;

	for (;;)
	{
		OffsetNumber off;
		OffsetNumber *vis;

		CHECK_FOR_INTERRUPTS();
		off = tsm->NextSampleTuple(scanstate, scan->cblock, maxoff);
		if (!OffsetNumberIsValid(off))
		{
			ExecClearTuple(slot);
			return false;
		}
		vis = bsearch(&off, scan->vis, scan->nvis, sizeof(OffsetNumber), offset_cmp);
		if (vis != NULL)		/* a record the snapshot sees */
			return topicam_scan_return(scan, vis - scan->vis, slot);
	}
}

/* ------------------------------------------------------------------------
 * The routine
 * ------------------------------------------------------------------------
 */

static const TableAmRoutine topic_methods = {
	.type = T_TableAmRoutine,

	.slot_callbacks = topicam_slot_callbacks,

	.scan_begin = topicam_scan_begin,
	.scan_end = topicam_scan_end,
	.scan_rescan = topicam_scan_rescan,
	.scan_getnextslot = topicam_scan_getnextslot,

	.parallelscan_estimate = topicam_parallelscan_estimate,
	.parallelscan_initialize = topicam_parallelscan_initialize,
	.parallelscan_reinitialize = topicam_parallelscan_reinitialize,

	.index_fetch_begin = topicam_index_fetch_begin,
	.index_fetch_reset = topicam_index_fetch_reset,
	.index_fetch_end = topicam_index_fetch_end,
	.index_fetch_tuple = topicam_index_fetch_tuple,

	.tuple_insert = topicam_tuple_insert,
	.tuple_insert_speculative = topicam_tuple_insert_speculative,
	.tuple_complete_speculative = topicam_tuple_complete_speculative,
	.multi_insert = topicam_multi_insert,
	.tuple_delete = topicam_tuple_delete,
	.tuple_update = topicam_tuple_update,
	.tuple_lock = topicam_tuple_lock,
	.finish_bulk_insert = topicam_finish_bulk_insert,

	.tuple_fetch_row_version = topicam_fetch_row_version,
	.tuple_get_latest_tid = topicam_get_latest_tid,
	.tuple_tid_valid = topicam_tuple_tid_valid,
	.tuple_satisfies_snapshot = topicam_tuple_satisfies_snapshot,
	.index_delete_tuples = topicam_index_delete_tuples,

	.relation_set_new_filenode = topicam_relation_set_new_filenode,
	.relation_nontransactional_truncate = topicam_relation_nontransactional_truncate,
	.relation_copy_data = topicam_relation_copy_data,
	.relation_copy_for_cluster = topicam_relation_copy_for_cluster,
	.relation_vacuum = topicam_relation_vacuum,
	.scan_analyze_next_block = topicam_scan_analyze_next_block,
	.scan_analyze_next_tuple = topicam_scan_analyze_next_tuple,
	.index_build_range_scan = topicam_index_build_range_scan,
	.index_validate_scan = topicam_index_validate_scan,

	.relation_size = table_block_relation_size,
	.relation_needs_toast_table = topicam_relation_needs_toast_table,
	.relation_toast_am = topicam_relation_toast_am,

	.relation_estimate_size = topicam_estimate_rel_size,

	.scan_bitmap_next_block = NULL,
	.scan_bitmap_next_tuple = NULL,
	.scan_sample_next_block = topicam_scan_sample_next_block,
	.scan_sample_next_tuple = topicam_scan_sample_next_tuple
};

Datum
topic_log_handler(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(&topic_methods);
}
