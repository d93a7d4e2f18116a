/*-------------------------------------------------------------------------
 *
 * topic_retention.c
 *	  Retention: removing whole old pages from the head of a partition, the
 *	  partition's free list that appends reuse, and the background worker
 *	  that applies every topic's retention settings.
 *
 * Kafka deletes whole segments once they are older than retention.ms or the
 * partition is larger than retention.bytes.  Our segment is a data page: the
 * head page of a partition goes when every record on it is older than the
 * cutoff (or the partition is over its byte budget, or compaction left no
 * record on it), no record on it belongs
 * to a transaction still in progress, and it is not the tail.  Removing it
 * is one WAL record that turns the page into a free page on the partition's
 * free list and moves the partition's head and log start forward; nothing
 * is rewritten, no record is deleted one by one, and there is nothing for
 * VACUUM to do afterwards.  topic_add_tail takes pages from the free list
 * before it extends the file, so a topic under steady produce with
 * retention stays at a bounded size.
 *
 * Readers never see a freed or reused page: a page is freed only under a
 * cleanup lock (nobody holds a pin, so nobody is reading its records
 * without a lock), and every walker reaches pages through
 * topic_lock_live_page, which recognises a page that is no longer the one
 * the stale block number referred to.  A page some reader keeps pinned
 * (an open cursor, say) is left for the next run.
 *
 * Retention takes ShareUpdateExclusiveLock on the topic: it runs beside
 * producers and readers, but not beside VACUUM or another retention run.
 *
 * The maintenance worker: one launcher per cluster (registered from
 * shared_preload_libraries) wakes every pg_topics.maintenance_interval
 * seconds and, one database at a time, starts a short-lived worker that,
 * if the database has the extension, runs the extension's maintain() for
 * each topic with settings (and, since 0.18, each topic whose relfrozenxid
 * is due for an aggressive VACUUM, to settle its free lists), logging what
 * it removed and how long it took.
 * The worker connects as the bootstrap superuser but maintains each topic
 * as the topic's owner, with a search_path of pg_catalog only; until 0.9 it
 * ran maintain() for the whole database as superuser with the database's
 * search_path, which let a database owner run an operator of theirs as
 * superuser.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_topics.h"

#include "access/detoast.h"
#include "access/generic_xlog.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/toast_internals.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "catalog/pg_extension.h"
#include "catalog/indexing.h"
#include "access/genam.h"
#include "utils/fmgroids.h"
#include "catalog/dependency.h"
#include "catalog/pg_type.h"
#include "utils/syscache.h"
#include "utils/lsyscache.h"
#include "parser/parse_func.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_class.h"
#include "catalog/namespace.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "commands/vacuum.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/autovacuum.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/bufmgr.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/procarray.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "common/hashfn.h"
#include "utils/hsearch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(pg_topics_apply_retention);
PG_FUNCTION_INFO_V1(pg_topics_compact);

PGDLLEXPORT void topic_maintenance_launcher_main(Datum arg);
PGDLLEXPORT void topic_maintenance_db_main(Datum arg);

int			topics_maintenance_interval = 60;
int			topics_delete_retention = 86400;	/* seconds */

/* ------------------------------------------------------------------------
 * The free list
 * ------------------------------------------------------------------------
 */

/*
 * The out-of-line values of removed records.
 *
 * Retention frees pages, and compaction marks records dead, in WAL records
 * that do not wait for the transaction, while the records' values in the
 * TOAST table are deleted by the transaction.  Were it to roll back (an
 * error, a cancel, a crash, a ROLLBACK after maintain()), nothing would
 * point to the values any more, and they stayed for good (until 0.17).  So
 * the ids of the values go, in the WAL record of the change that removes
 * their records, onto a free page: the freed page itself, or for compaction
 * one it adds to the free list.  Every page a run of retention, directory
 * trimming or compaction pushes is stamped (in pd_prune_xid, which the
 * access method does not use otherwise) with the transaction that deletes
 * the values.  Appenders take a stamped page only once that transaction has
 * committed.  A run first settles the stamped pages at the front of the
 * list: it deletes again the values of each page whose stamp's transaction
 * did not commit, and stamps it anew; once all committed, it clears the
 * stamps.  (Only those pages: the values of a committed deletion are gone,
 * and once VACUUM removed them their ids may be given to new values.)
 * Pages are pushed at the front, so the stamped pages are the front of the
 * list, and a walk stops at the first page without a stamp.  VACUUM clears the stamps when all committed, and otherwise keeps
 * relfrozenxid at or below those that did not, so that their status can
 * still be looked up; a stamp before relfrozenxid is a committed one.
 */
typedef enum FreeStamp
{
	STAMP_NONE,					/* no values pending */
	STAMP_DONE,					/* their deletion committed */
	STAMP_OURS,					/* being deleted by this transaction */
	STAMP_RUNNING,				/* being deleted by another one */
	STAMP_FAILED				/* the deleting transaction did not commit */
} FreeStamp;

#define FREE_PAGE_IDS(page)		((Oid *) PageGetContents(page))
#define FREE_PAGE_MAX_IDS		((int) (TOPIC_CONTENT_SIZE / sizeof(Oid)))

static FreeStamp
free_page_stamp(Relation rel, Page page)
{
	TransactionId xid = ((PageHeader) page)->pd_prune_xid;
	TransactionId frozen = rel->rd_rel->relfrozenxid;

	if (!TransactionIdIsValid(xid))
		return STAMP_NONE;
	if (TransactionIdIsNormal(frozen) && TransactionIdPrecedes(xid, frozen))
		return STAMP_DONE;
	if (TransactionIdIsCurrentTransactionId(xid))
		return STAMP_OURS;
	if (TransactionIdIsInProgress(xid))
		return STAMP_RUNNING;
	if (TransactionIdDidCommit(xid))
		return STAMP_DONE;
	return STAMP_FAILED;
}

static int
free_page_nids(Page page)
{
	return (((PageHeader) page)->pd_lower - (PageGetContents(page) - (char *) page)) /
		sizeof(Oid);
}

/* Append ids to a free page (registered for WAL, or being initialized). */
static void
free_page_add_ids(Page page, const Oid *ids, int n)
{
	int			have = free_page_nids(page);

	if (n == 0)
		return;
	if (have + n > FREE_PAGE_MAX_IDS)
		elog(ERROR, "pg_topics: %d value ids do not fit a free page holding %d", n, have);
	memcpy(FREE_PAGE_IDS(page) + have, ids, sizeof(Oid) * n);
	((PageHeader) page)->pd_lower += sizeof(Oid) * n;
}

/*
 * The stamp of pages a removal pushes now: the transaction that deletes
 * the values (see above), when the topic has a TOAST table.  Called before
 * the removal locks any page too, so that a transaction id, if it needs
 * one, is not assigned under buffer locks.
 */
TransactionId
topic_removal_stamp(Relation rel)
{
	return OidIsValid(rel->rd_rel->reltoastrelid) ? GetCurrentTransactionId() :
		InvalidTransactionId;
}

/*
 * Whether a removal can stamp pages without assigning a transaction id.  A
 * run that finds nothing to remove takes none (until 0.18 every run took
 * one before it looked: the worker used an id per topic and interval, and
 * brought anti-wraparound VACUUMs on sooner); one that does, finding none
 * yet, lets go of its page, takes one, and looks again.
 */
static bool
removal_stamp_ready(Relation rel)
{
	return !OidIsValid(rel->rd_rel->reltoastrelid) ||
		TransactionIdIsValid(GetCurrentTransactionIdIfAny());
}

/*
 * In a WAL record holding the partition's state page: make "page" (block
 * blkno, exclusively locked, nobody else pinning it) a free page at the
 * front of the partition's free list, stamped for the values of removed
 * records that the removing transaction deletes (see above).
 */
void
topic_free_list_push(Relation rel, Page page, BlockNumber blkno, int32 partition,
					 TopicPartitionState *st)
{
	topic_page_init(page, TOPIC_PAGE_FREE, partition);
	((PageHeader) page)->pd_prune_xid = topic_removal_stamp(rel);
	TopicPageGetOpaque(page)->next = st->free_head;
	st->free_head = blkno;
}

/*
 * In the WAL record that uses a page from topic_take_page: when the page
 * came from the free list, the page after it leads the list now.
 */
void
topic_free_list_popped(TopicPartitionState *st, BlockNumber free_next)
{
	if (BlockNumberIsValid(free_next))
		st->free_head = free_next;
}

/* Whether a page is a free page of the partition. */
static bool
still_free(Page page, int32 partition)
{
	return topic_page_is_ours(page) && TopicPageGetOpaque(page)->kind == TOPIC_PAGE_FREE &&
		TopicPageGetOpaque(page)->partition == partition;
}

/*
 * The first page of a partition's free list, exclusively locked, with the
 * page after it in *next (0 when it is the last); InvalidBuffer when the
 * list is empty, or its first page waits for the deletion of values of
 * removed records (see above).  Called by the partition's appender
 * (holding the tail lock), so nobody else pops; the caller re-checks under
 * the state page lock that the page is still the list's first, since
 * retention may have pushed more pages meanwhile.
 */
Buffer
topic_pop_free_page(Relation rel, int32 partition, BlockNumber *next)
{
	TopicPartitionState state;
	Buffer		buf;
	Page		page;
	FreeStamp	stamp;

	*next = InvalidBlockNumber;
	topic_get_state(rel, partition, &state);
	if (state.free_head == 0 || !BlockNumberIsValid(state.free_head))
		return InvalidBuffer;

	buf = ReadBuffer(rel, state.free_head);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	if (!still_free(page, partition))
	{
		UnlockReleaseBuffer(buf);
		return InvalidBuffer;
	}
	stamp = free_page_stamp(rel, page);
	if (stamp != STAMP_NONE && stamp != STAMP_DONE)
	{
		UnlockReleaseBuffer(buf);
		return InvalidBuffer;
	}
	*next = TopicPageGetOpaque(page)->next;
	return buf;
}

/* A growing array of value ids. */
typedef struct ValueIds
{
	Oid		   *ids;
	int			n;
	int			cap;
} ValueIds;

static void
value_ids_add(ValueIds *v, Oid id)
{
	if (v->n == v->cap)
	{
		v->cap = Max(64, v->cap * 2);
		v->ids = v->ids ? repalloc(v->ids, sizeof(Oid) * v->cap) :
			palloc(sizeof(Oid) * v->cap);
	}
	v->ids[v->n++] = id;
}

/* The ids of the out-of-line values of the record at "off" (with storage). */
static void
collect_value_ids(Page page, OffsetNumber off, ValueIds *v)
{
	TopicRecord rec;
	Datum		fields[3];
	bool		present[3];
	int			i;

	topic_record_decode(page, off, &rec);
	fields[0] = rec.key;
	fields[1] = rec.value;
	fields[2] = rec.headers;
	present[0] = !(rec.flags & TREC_NULL_KEY);
	present[1] = !(rec.flags & TREC_NULL_VALUE);
	present[2] = !(rec.flags & TREC_NULL_HEADERS);
	for (i = 0; i < 3; i++)
	{
		struct varlena *attr = (struct varlena *) DatumGetPointer(fields[i]);
		struct varatt_external ptr;

		if (!present[i] || !VARATT_IS_EXTERNAL_ONDISK(attr))
			continue;
		VARATT_EXTERNAL_GET_POINTER(ptr, attr);
		value_ids_add(v, ptr.va_valueid);
	}
}

/*
 * Delete what is left of the TOAST values "ids" of rel.  A value whose
 * deletion committed is gone, and one of a record that never committed was
 * never there: the latest snapshot shows just what is left, after this
 * transaction's own deletions too.  Ids are only ever of values still
 * there or deleted by a transaction that did not commit: an id whose value
 * VACUUM removed may be given to a new value.
 */
static void
delete_values(Relation rel, const Oid *ids, int n)
{
	Relation	toastrel;
	Relation   *toastidxs;
	int			nindexes;
	int			valid;
	Snapshot	snap;
	int			i;

	if (n == 0 || !OidIsValid(rel->rd_rel->reltoastrelid))
		return;
	CommandCounterIncrement();
	toastrel = table_open(rel->rd_rel->reltoastrelid, RowExclusiveLock);
	valid = toast_open_indexes(toastrel, RowExclusiveLock, &toastidxs, &nindexes);
	snap = RegisterSnapshot(GetLatestSnapshot());
	for (i = 0; i < n; i++)
	{
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tup;

		CHECK_FOR_INTERRUPTS();
		ScanKeyInit(&key, (AttrNumber) 1, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(ids[i]));
		scan = systable_beginscan_ordered(toastrel, toastidxs[valid], snap, 1, &key);
		while ((tup = systable_getnext_ordered(scan, ForwardScanDirection)) != NULL)
			simple_heap_delete(toastrel, &tup->t_self);
		systable_endscan_ordered(scan);
	}
	UnregisterSnapshot(snap);
	toast_close_indexes(toastidxs, nindexes, RowExclusiveLock);
	table_close(toastrel, RowExclusiveLock);
}

/*
 * Settle the stamped pages at the front of a partition's free list (see
 * above).  In a removal (vacuum false): delete again the values of each
 * page whose stamp's transaction did not commit and stamp it with this
 * transaction, or, when all committed, clear the stamps.  In VACUUM: clear
 * them when all committed, else return the oldest stamp that did not
 * commit (InvalidTransactionId for none), which relfrozenxid must not pass.
 * The caller holds ShareUpdateExclusiveLock on the topic: no other removal
 * runs, and appenders only take pages whose stamps committed (the walk
 * stops at a page taken since).
 */
static TransactionId
settle_free_list(Relation rel, int32 partition, bool vacuum)
{
	TopicPartitionState state;
	BlockNumber blkno;
	BlockNumber *pages = NULL;
	int			npages = 0;
	int			cap = 0;
	bool		failed = false;
	TransactionId oldest_failed = InvalidTransactionId;
	int			i;

	/* the stamped front of the list, and whether any stamp failed */
	topic_get_state(rel, partition, &state);
	for (blkno = state.free_head; blkno != 0 && BlockNumberIsValid(blkno);)
	{
		Buffer		buf = ReadBuffer(rel, blkno);
		Page		page;
		FreeStamp	stamp;
		BlockNumber next;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (!still_free(page, partition))
		{
			UnlockReleaseBuffer(buf);
			break;
		}
		stamp = free_page_stamp(rel, page);
		next = TopicPageGetOpaque(page)->next;
		if (stamp == STAMP_FAILED)
		{
			TransactionId xid = ((PageHeader) page)->pd_prune_xid;

			failed = true;
			if (!TransactionIdIsValid(oldest_failed) ||
				TransactionIdPrecedes(xid, oldest_failed))
				oldest_failed = xid;
		}
		UnlockReleaseBuffer(buf);
		if (stamp == STAMP_NONE || stamp == STAMP_RUNNING)
			break;
		if (npages == cap)
		{
			cap = Max(16, cap * 2);
			pages = pages ? repalloc(pages, sizeof(BlockNumber) * cap) :
				palloc(sizeof(BlockNumber) * cap);
		}
		pages[npages++] = blkno;
		blkno = next;
	}

	if (failed && !vacuum)
		(void) topic_removal_stamp(rel);
	for (i = 0; i < npages && !(vacuum && failed); i++)
	{
		Buffer		buf = ReadBuffer(rel, pages[i]);
		Page		page;
		GenericXLogState *xs;
		Page		wpage;
		Oid		   *ids = NULL;
		int			nids = 0;
		FreeStamp	stamp;

		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		stamp = still_free(page, partition) ? free_page_stamp(rel, page) : STAMP_NONE;
		if (failed ? stamp != STAMP_FAILED : stamp != STAMP_DONE)
		{
			/* a committed deletion's page keeps its stamp until all have */
			UnlockReleaseBuffer(buf);
			continue;
		}
		if (failed)
		{
			nids = free_page_nids(page);
			ids = palloc(sizeof(Oid) * Max(nids, 1));
			memcpy(ids, FREE_PAGE_IDS(page), sizeof(Oid) * nids);
		}

		/* stamped anew before the deletion: a crash in between redoes it */
		xs = GenericXLogStart(rel);
		wpage = GenericXLogRegisterBuffer(xs, buf, 0);
		if (failed)
			((PageHeader) wpage)->pd_prune_xid = GetCurrentTransactionId();
		else
		{
			((PageHeader) wpage)->pd_prune_xid = InvalidTransactionId;
			((PageHeader) wpage)->pd_lower = PageGetContents(wpage) - (char *) wpage;
		}
		GenericXLogFinish(xs);
		UnlockReleaseBuffer(buf);
		if (failed)
		{
			delete_values(rel, ids, nids);
			pfree(ids);
		}
	}
	if (pages)
		pfree(pages);
	return vacuum ? oldest_failed : InvalidTransactionId;
}

/*
 * VACUUM: clear the free lists' stamps of committed deletions, and return
 * the oldest stamp of a deletion that did not commit (InvalidTransactionId
 * for none), which relfrozenxid must not pass.
 */
TransactionId
topic_vacuum_free_lists(Relation rel, int npartitions)
{
	TransactionId oldest = InvalidTransactionId;
	int			p;

	for (p = 0; p < npartitions; p++)
	{
		TransactionId x = settle_free_list(rel, p, true);

		if (TransactionIdIsValid(x) &&
			(!TransactionIdIsValid(oldest) || TransactionIdPrecedes(x, oldest)))
			oldest = x;
	}
	return oldest;
}

/* ------------------------------------------------------------------------
 * Removing head pages
 * ------------------------------------------------------------------------
 */

/*
 * Free the directory pages of a partition that lead only to data pages
 * before its head, which are all removed.  Done on every run, not only when
 * pages went, so a page a search had pinned last time goes now.
 */
static int64
trim_directory(Relation rel, int32 partition)
{
	TopicPartitionState state;
	Buffer		buf;
	int64		live_seq;

	topic_get_state(rel, partition, &state);
	if (!BlockNumberIsValid(state.head) || !BlockNumberIsValid(state.dir_root) ||
		state.dir_level == 0)
		return 0;
	buf = topic_lock_data_page(rel, state.head, partition, BUFFER_LOCK_SHARE, NULL);
	live_seq = TopicPageGetOpaque(BufferGetPage(buf))->first_seq;
	UnlockReleaseBuffer(buf);
	return topic_dir_trim(rel, partition, live_seq);
}

/*
 * Remove head pages of one partition that retention no longer keeps: pages
 * whose newest record is older than cutoff (DT_NOBEGIN: no time limit), or,
 * while the partition's data pages exceed retention_bytes (< 0: no limit),
 * the oldest ones.  The tail page always stays, as does any page with a
 * record of a transaction still in progress.  The caller holds
 * ShareUpdateExclusiveLock on the topic.
 */
void
topic_apply_retention(Relation rel, int32 partition, TimestampTz cutoff,
					  int64 retention_bytes, bool drop_empty, TopicRetentionResult *res)
{
	ValueIds	values = {0};

	memset(res, 0, sizeof(TopicRetentionResult));

	/* values an earlier run left when it did not commit (see above) */
	settle_free_list(rel, partition, false);

	for (;;)
	{
		TopicPartitionState state;
		Buffer		buf;
		Buffer		statebuf;
		Page		page;
		TopicPageOpaque opaque;
		OffsetNumber maxoff;
		OffsetNumber off;
		TimestampTz newest = DT_NOBEGIN;
		bool		in_use = false;
		bool		over_bytes;
		int64		nrecords = 0;
		BlockNumber blkno;
		BlockNumber next;
		int64		end_seq;
		GenericXLogState *xs;
		Page		statepage;
		TopicPartitionState *st;
		int			idx;
		int			first_value;

		CHECK_FOR_INTERRUPTS();
		topic_get_state(rel, partition, &state);
		res->log_start_seq = state.log_start_seq;
		if (!BlockNumberIsValid(state.head) || state.head == state.tail)
			break;
		over_bytes = retention_bytes >= 0 &&
			(int64) (state.npages - 1) * BLCKSZ >= retention_bytes;
		if (!over_bytes && cutoff == DT_NOBEGIN && !drop_empty)
			break;

		blkno = state.head;
		buf = ReadBuffer(rel, blkno);
		if (!ConditionalLockBufferForCleanup(buf))
		{
			/* a reader has it pinned: leave it for the next run */
			ReleaseBuffer(buf);
			res->stopped_early = true;
			break;
		}
		page = BufferGetPage(buf);
		opaque = TopicPageGetOpaque(page);
		if (!topic_page_is_data_of(page, partition) ||
			!BlockNumberIsValid(opaque->next))
		{
			UnlockReleaseBuffer(buf);
			break;
		}

		maxoff = PageGetMaxOffsetNumber(page);
		for (off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemId		itemid = PageGetItemId(page, off);
			char	   *item;
			TransactionId xmin;
			TimestampTz ts;
			uint8		flags;

			if (!ItemIdIsNormal(itemid))
				continue;
			item = (char *) PageGetItem(page, itemid);
			memcpy(&xmin, item + TREC_XMIN_OFF, sizeof(TransactionId));
			memcpy(&ts, item + TREC_TS_OFF, sizeof(TimestampTz));
			flags = (uint8) item[TREC_FLAGS_OFF];
			if (!(flags & (TREC_XMIN_COMMITTED | TREC_XMIN_INVALID | TREC_XMIN_FROZEN)) &&
				TransactionIdIsNormal(xmin) && TransactionIdIsInProgress(xmin))
			{
				in_use = true;
				break;
			}
			if (ts > newest)
				newest = ts;
			nrecords++;
		}
		if (in_use ||
			(!over_bytes && !(newest < cutoff) && !(drop_empty && nrecords == 0)))
		{
			res->stopped_early = in_use;
			UnlockReleaseBuffer(buf);
			break;
		}
		if (!removal_stamp_ready(rel))
		{
			UnlockReleaseBuffer(buf);
			(void) topic_removal_stamp(rel);
			continue;
		}

		/*
		 * The out-of-line values of committed records, for the free page
		 * (see above).  Not those of aborted records, never committed, nor
		 * of records compaction removed, which its own free page holds:
		 * once VACUUM removed such a value, its id may be given to a new
		 * value, which deleting the id again would take.  (Until 0.13
		 * deleting an aborted record's failed with "attempted to delete
		 * invisible tuple", after the pages were gone.)
		 */
		first_value = values.n;
		if (OidIsValid(rel->rd_rel->reltoastrelid))
			for (off = FirstOffsetNumber; off <= maxoff; off++)
			{
				ItemId		itemid = PageGetItemId(page, off);

				if (ItemIdIsNormal(itemid) &&
					topic_record_status_now(InvalidBuffer, (char *) PageGetItem(page, itemid)) == TREC_VISIBLE)
					collect_value_ids(page, off, &values);
			}

		next = opaque->next;
		end_seq = opaque->first_seq + maxoff;

		/*
		 * The log start is the first seq of the new head, past any gap of
		 * explicit seqs (or of aborted seqs VACUUM FULL left out) after
		 * this page.  Until 0.9 it was the end of this page: a log start in
		 * such a gap led readers through the directory's entry for this
		 * page, which by then could be reused for newer records of the
		 * partition, and they went on from those, skipping the new head.
		 * The next page cannot go while we hold this one (retention of a
		 * topic runs one at a time, from the head).
		 */
		{
			Buffer		nextbuf = ReadBuffer(rel, next);

			LockBuffer(nextbuf, BUFFER_LOCK_SHARE);
			if (topic_page_is_data_of(BufferGetPage(nextbuf), partition))
				end_seq = Max(end_seq, TopicPageGetOpaque(BufferGetPage(nextbuf))->first_seq);
			UnlockReleaseBuffer(nextbuf);
		}

		/* data page, then state page: the lock order of appends */
		statebuf = topic_lock_state_page(rel, partition, BUFFER_LOCK_EXCLUSIVE, &idx);
		xs = GenericXLogStart(rel);
		page = GenericXLogRegisterBuffer(xs, buf, GENERIC_XLOG_FULL_IMAGE);
		statepage = GenericXLogRegisterBuffer(xs, statebuf, 0);
		st = topic_state_ptr(statepage, idx);

		topic_free_list_push(rel, page, blkno, partition, st);
		free_page_add_ids(page, values.ids + first_value, values.n - first_value);
		st->head = next;
		st->log_start_seq = Max(st->log_start_seq, end_seq);
		st->npages--;
		if (st->stable_hint == blkno)
			st->stable_hint = next;
		if (st->frozen_upto == blkno)
			st->frozen_upto = next;
		res->log_start_seq = st->log_start_seq;
		GenericXLogFinish(xs);
		UnlockReleaseBuffer(statebuf);
		UnlockReleaseBuffer(buf);

		res->pages_removed++;
		res->records_removed += nrecords;
	}

	/* the records are gone; their out-of-line values go with them */
	delete_values(rel, values.ids, values.n);
	if (values.ids)
		pfree(values.ids);

	/* and so do directory pages that led only to removed pages */
	res->dir_pages_freed = trim_directory(rel, partition);
}

/*
 * topics._apply_retention(topic, retention interval, retention_bytes bigint)
 *	 RETURNS TABLE(partition int, pages_removed bigint, records_removed bigint,
 *				   log_start_seq bigint)
 *
 * Apply retention limits to every partition of a topic now.  Like VACUUM it
 * needs ownership of the topic.
 */
Datum
pg_topics_apply_retention(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid;
	Relation	rel;
	TimestampTz cutoff = DT_NOBEGIN;
	int64		retention_bytes = -1;
	int			npartitions;
	int			p;

	topic_require_arg(fcinfo, 0, "topic");
	relid = PG_GETARG_OID(0);
	/* removing records is a change: not in a read-only transaction (0.9) */
	PreventCommandIfReadOnly("topics.maintain()");
	rel = topic_open_owned(relid, ShareUpdateExclusiveLock);

	if (!PG_ARGISNULL(1))
	{
		int64		ms = topic_interval_ms(PG_GETARG_INTERVAL_P(1), "retention");

		cutoff = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), -ms);
	}
	if (!PG_ARGISNULL(2))
	{
		retention_bytes = PG_GETARG_INT64(2);
		if (retention_bytes < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("retention_bytes must not be negative")));
	}

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	npartitions = topic_get_cache(rel)->npartitions;
	for (p = 0; p < npartitions; p++)
	{
		TopicRetentionResult res;
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		topic_apply_retention(rel, p, cutoff, retention_bytes, false, &res);
		values[0] = Int32GetDatum(p);
		values[1] = Int64GetDatum(res.pages_removed + res.dir_pages_freed);
		values[2] = Int64GetDatum(res.records_removed);
		values[3] = Int64GetDatum(res.log_start_seq);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	table_close(rel, NoLock);
	return (Datum) 0;
}

/* ------------------------------------------------------------------------
 * Compaction (cleanup_policy 'compact')
 *
 * Kafka's log compaction keeps at least the latest record of every key.
 * Here a superseded record gets a dead line pointer: its seq stays a gap,
 * every reader skips it, and the records around it keep their seqs.  A
 * tombstone (NULL value) that is the latest of its key goes too once it is
 * older than pg_topics.delete_retention.  Only settled records are touched:
 * below the partition's tail page (Kafka's active segment) and below the
 * first record of a transaction still in progress.  A key's latest
 * committed record counts wherever it is below that first running record,
 * tail page included, but not after it, as Kafka's cleaner maps keys only
 * below the last stable offset: a reader stops at that record, so a record
 * after it cannot stand in yet for the ones it would supersede (until
 * 2026-12-02 it did, and such a reader found no record of the key at all
 * while the transaction ran).  Head pages left with no
 * record are then removed like retention removes pages, so a compacted
 * topic shrinks from its old end; a page in the middle keeps its space (it
 * is not rewritten).  Keys are remembered by a 64-bit hash, as Kafka's
 * cleaner remembers them by digest: two keys with the same hash would be
 * taken for one.
 * ------------------------------------------------------------------------
 */

/*
 * The maintenance worker compacts a partition again only once the records
 * produced since it last did are as many as those it kept then (Kafka's
 * min.cleanable.dirty.ratio, 0.5), or a tombstone it kept is due: until
 * 0.13 every run read every partition of every compacted topic twice and
 * hashed all its keys (4M records: 5 s and 160 MB each minute, though
 * nothing had changed).  What it did is noted in shared memory per
 * (database, relfilenode, partition), so a TRUNCATE or VACUUM FULL, which
 * give the topic new storage, starts afresh; notes do not survive a
 * restart, after which the first run compacts everything, as before.
 * maintain() called by hand always compacts, and notes what it did.
 */
typedef struct CompactionKey
{
	Oid			dbid;
	Oid			relnode;
	int32		partition;
} CompactionKey;

typedef struct CompactionNote
{
	CompactionKey key;
	int64		cleaned_seq;	/* every settled record below was compacted */
	int64		kept;			/* records left below it */
	TimestampTz tombstone_min;	/* oldest tombstone left, DT_NOEND if none */
} CompactionNote;

#define COMPACTION_NOTES 16384

static HTAB *compaction_notes = NULL;
static LWLock *compaction_lock = NULL;
static bool in_maintenance_worker = false;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
compaction_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(hash_estimate_size(COMPACTION_NOTES, sizeof(CompactionNote)));
	RequestNamedLWLockTranche("pg_topics compaction", 1);
}

static void
compaction_shmem_startup(void)
{
	HASHCTL		info;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(CompactionKey);
	info.entrysize = sizeof(CompactionNote);
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	compaction_notes = ShmemInitHash("pg_topics compaction notes", COMPACTION_NOTES,
									 COMPACTION_NOTES, &info, HASH_ELEM | HASH_BLOBS);
	compaction_lock = &(GetNamedLWLockTranche("pg_topics compaction"))->lock;
	LWLockRelease(AddinShmemInitLock);
}

static void
compaction_key(Relation rel, int32 partition, CompactionKey *key)
{
	memset(key, 0, sizeof(*key));
	key->dbid = MyDatabaseId;
	key->relnode = rel->rd_node.relNode;
	key->partition = partition;
}

/* Whether the worker can leave a partition as its last compaction left it. */
static bool
compaction_not_due(Relation rel, int32 partition, TimestampTz tombstone_cutoff)
{
	CompactionKey key;
	CompactionNote *found;
	CompactionNote note;
	TopicPartitionState state;
	int64		next;

	if (compaction_notes == NULL)
		return false;
	compaction_key(rel, partition, &key);
	LWLockAcquire(compaction_lock, LW_SHARED);
	found = hash_search(compaction_notes, &key, HASH_FIND, NULL);
	if (found)
		note = *found;
	LWLockRelease(compaction_lock);
	if (!found)
		return false;
	next = topic_partition_next_seq(rel, partition, &state);
	if (note.cleaned_seq < state.log_start_seq || note.cleaned_seq > next)
		return false;
	return next - note.cleaned_seq < Max(note.kept, 1) &&
		note.tombstone_min >= tombstone_cutoff;
}

static void
compaction_note(Relation rel, int32 partition, int64 cleaned_seq, int64 kept,
				TimestampTz tombstone_min)
{
	CompactionKey key;
	CompactionNote *note;

	if (compaction_notes == NULL)
		return;
	compaction_key(rel, partition, &key);
	LWLockAcquire(compaction_lock, LW_EXCLUSIVE);
	note = hash_search(compaction_notes, &key, HASH_ENTER_NULL, NULL);
	if (note == NULL)
	{
		/* full of notes of dropped or rewritten topics too: start afresh */
		HASH_SEQ_STATUS seq;
		CompactionNote *e;

		hash_seq_init(&seq, compaction_notes);
		while ((e = hash_seq_search(&seq)) != NULL)
			hash_search(compaction_notes, &e->key, HASH_REMOVE, NULL);
		note = hash_search(compaction_notes, &key, HASH_ENTER_NULL, NULL);
	}
	if (note != NULL)
	{
		note->cleaned_seq = cleaned_seq;
		note->kept = kept;
		note->tombstone_min = tombstone_min;
	}
	LWLockRelease(compaction_lock);
}

typedef struct KeyLatest
{
	uint64		hash;			/* hash key */
	int64		seq;			/* latest committed seq of the key */
} KeyLatest;

/*
 * The hash of a record's key, of its text: a key stored compressed or out
 * of line is expanded first.  Until 2026-12-02 the stored bytes were
 * hashed, so every record of a key stored out of line (a TOAST pointer
 * with its own value id) counted as a key of its own and was never
 * compacted, and records of a key compressed by another method
 * (SET COMPRESSION) never superseded each other.
 */
static uint64
key_hash(const TopicRecord *rec)
{
	struct varlena *stored = (struct varlena *) DatumGetPointer(rec->key);
	struct varlena *k = pg_detoast_datum_packed(stored);
	uint64		h = hash_bytes_extended((const unsigned char *) VARDATA_ANY(k),
										VARSIZE_ANY_EXHDR(k), 0x70546f70);

	if (k != stored)
		pfree(k);
	return h;
}

/*
 * Compact one partition; returns the number of records removed.  The caller
 * holds ShareUpdateExclusiveLock on the topic.  "when_due": leave it if its
 * last compaction is recent enough (see CompactionNote).
 */
static int64
topic_compact_partition(Relation rel, int32 partition, TimestampTz tombstone_cutoff,
						bool when_due)
{
	TopicPartitionState state;
	HASHCTL		ctl;
	HTAB	   *latest;
	BlockNumber blkno;
	int64		clean_end = -1;		/* records below this seq are settled */
	bool		past_running = false;	/* pass 1 met a running record */
	int64		removed = 0;
	ValueIds	values = {0};
	BlockNumber grave = InvalidBlockNumber;
	int64		kept = 0;
	TimestampTz tombstone_min = DT_NOEND;

	/*
	 * Values an earlier run left when it did not commit (see above), first:
	 * until 0.18 only a run that was due settled them, so a compacted topic
	 * that nobody produced to any more never did, and kept relfrozenxid.
	 */
	settle_free_list(rel, partition, false);

	topic_get_state(rel, partition, &state);
	if (!BlockNumberIsValid(state.head) || state.head == state.tail)
		return 0;
	if (when_due && compaction_not_due(rel, partition, tombstone_cutoff))
		return 0;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(KeyLatest);
	ctl.hcxt = CurrentMemoryContext;
	latest = hash_create("pg_topics compaction", 1024, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	/* pass 1: the latest committed seq of every key, and the settled end */
	for (blkno = state.head; BlockNumberIsValid(blkno);)
	{
		Buffer		buf = topic_lock_data_page(rel, blkno, partition, BUFFER_LOCK_SHARE, NULL);
		Page		page = BufferGetPage(buf);
		TopicPageOpaque opaque = TopicPageGetOpaque(page);
		OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
		OffsetNumber off;

		CHECK_FOR_INTERRUPTS();
		if (!BlockNumberIsValid(opaque->next) && clean_end < 0)
			clean_end = opaque->first_seq;	/* the tail is never compacted */
		for (off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemId		itemid = PageGetItemId(page, off);
			TopicRecord rec;
			TopicRecordStatus st;
			bool		found;
			KeyLatest  *e;
			uint64		h;

			if (!ItemIdIsNormal(itemid))
				continue;
			st = topic_record_status_now(InvalidBuffer, (char *) PageGetItem(page, itemid));
			if (st == TREC_IN_PROGRESS)
			{
				if (clean_end < 0)
					clean_end = opaque->first_seq + off - 1;
				past_running = true;
			}
			if (st != TREC_VISIBLE || past_running)
				continue;
			topic_record_decode(page, off, &rec);
			if (rec.flags & TREC_NULL_KEY)
				continue;
			h = key_hash(&rec);
			e = hash_search(latest, &h, HASH_ENTER, &found);
			if (!found || rec.seq > e->seq)
				e->seq = rec.seq;
		}
		blkno = opaque->next;
		UnlockReleaseBuffer(buf);
	}

	/* pass 2: mark what is superseded dead, page by page, below clean_end */
	topic_get_state(rel, partition, &state);
	for (blkno = state.head; BlockNumberIsValid(blkno);)
	{
		Buffer		buf = topic_lock_data_page(rel, blkno, partition, BUFFER_LOCK_EXCLUSIVE, NULL);
		Page		page = BufferGetPage(buf);
		TopicPageOpaque opaque = TopicPageGetOpaque(page);
		OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
		OffsetNumber off;
		OffsetNumber dead[MaxOffsetNumber];
		int			ndead = 0;
		int			first_value = values.n;
		int64		kept_before = kept;
		TimestampTz tombstone_min_before = tombstone_min;
		BlockNumber next = opaque->next;

		CHECK_FOR_INTERRUPTS();
		if (opaque->first_seq >= clean_end)
		{
			UnlockReleaseBuffer(buf);
			break;
		}
		for (off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemId		itemid = PageGetItemId(page, off);
			TopicRecord rec;
			KeyLatest  *e;
			uint64		h;

			if (!ItemIdIsNormal(itemid) || opaque->first_seq + off - 1 >= clean_end)
				continue;
			if (topic_record_status_now(InvalidBuffer, (char *) PageGetItem(page, itemid)) != TREC_VISIBLE)
				continue;
			topic_record_decode(page, off, &rec);
			e = NULL;
			if (!(rec.flags & TREC_NULL_KEY))
			{
				h = key_hash(&rec);
				e = hash_search(latest, &h, HASH_FIND, NULL);
			}
			if (e != NULL &&
				(e->seq > rec.seq ||
				 ((rec.flags & TREC_NULL_VALUE) && rec.ts < tombstone_cutoff)))
			{
				dead[ndead++] = off;
				if (OidIsValid(rel->rd_rel->reltoastrelid))
					collect_value_ids(page, off, &values);
				continue;
			}
			/* left: what the next compaction weighs the new records against */
			kept++;
			if ((rec.flags & TREC_NULL_VALUE) && !(rec.flags & TREC_NULL_KEY))
				tombstone_min = Min(tombstone_min, rec.ts);
		}
		if (values.n > first_value && !removal_stamp_ready(rel))
		{
			/* the grave page's stamp (see above): this page again after */
			values.n = first_value;
			kept = kept_before;
			tombstone_min = tombstone_min_before;
			UnlockReleaseBuffer(buf);
			(void) topic_removal_stamp(rel);
			continue;
		}
		if (ndead > 0)
		{
			GenericXLogState *xs = GenericXLogStart(rel);
			Page		wpage = GenericXLogRegisterBuffer(xs, buf, 0);
			int			nvalues = values.n - first_value;
			Buffer		gravebuf = InvalidBuffer;
			Buffer		statebuf = InvalidBuffer;
			int			i;

			for (i = 0; i < ndead; i++)
				ItemIdMarkDead(PageGetItemId(wpage, dead[i]));

			/*
			 * The ids of their out-of-line values go to a free page in the
			 * same record (see above): the one this run pushed, while it has
			 * room, else a new one at the end of the file.  Appenders leave
			 * it alone until this transaction commits.
			 */
			if (nvalues > 0)
			{
				Page		gpage;

				if (BlockNumberIsValid(grave))
				{
					gravebuf = ReadBuffer(rel, grave);
					LockBuffer(gravebuf, BUFFER_LOCK_EXCLUSIVE);
					if (!still_free(BufferGetPage(gravebuf), partition) ||
						free_page_nids(BufferGetPage(gravebuf)) + nvalues > FREE_PAGE_MAX_IDS)
					{
						UnlockReleaseBuffer(gravebuf);
						gravebuf = InvalidBuffer;
					}
				}
				if (BufferIsValid(gravebuf))
					gpage = GenericXLogRegisterBuffer(xs, gravebuf, 0);
				else
				{
					Page		statepage;
					int			idx;

					gravebuf = topic_new_buffer(rel);
					grave = BufferGetBlockNumber(gravebuf);
					statebuf = topic_lock_state_page(rel, partition, BUFFER_LOCK_EXCLUSIVE, &idx);
					gpage = GenericXLogRegisterBuffer(xs, gravebuf, GENERIC_XLOG_FULL_IMAGE);
					statepage = GenericXLogRegisterBuffer(xs, statebuf, 0);
					topic_free_list_push(rel, gpage, grave, partition,
										 topic_state_ptr(statepage, idx));
				}
				free_page_add_ids(gpage, values.ids + first_value, nvalues);
			}
			GenericXLogFinish(xs);
			if (BufferIsValid(statebuf))
				UnlockReleaseBuffer(statebuf);
			if (BufferIsValid(gravebuf))
				UnlockReleaseBuffer(gravebuf);
			removed += ndead;
		}
		UnlockReleaseBuffer(buf);
		blkno = next;
	}
	hash_destroy(latest);
	compaction_note(rel, partition, clean_end, kept, tombstone_min);

	delete_values(rel, values.ids, values.n);
	if (values.ids)
		pfree(values.ids);
	return removed;
}

/*
 * topics._compact(topic) RETURNS TABLE(partition int, records_removed bigint,
 *										 pages_removed bigint, log_start_seq bigint)
 */
Datum
pg_topics_compact(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid;
	Relation	rel;
	int			npartitions;
	int			p;
	TimestampTz tombstone_cutoff;

	topic_require_arg(fcinfo, 0, "topic");
	relid = PG_GETARG_OID(0);
	/* removing records is a change: not in a read-only transaction (0.9) */
	PreventCommandIfReadOnly("topics.maintain()");
	rel = topic_open_owned(relid, ShareUpdateExclusiveLock);
	tombstone_cutoff = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												   -(int64) topics_delete_retention * 1000);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	npartitions = topic_get_cache(rel)->npartitions;
	for (p = 0; p < npartitions; p++)
	{
		TopicRetentionResult res;
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		int64		removed = topic_compact_partition(rel, p, tombstone_cutoff,
													  in_maintenance_worker);

		/* head pages compaction emptied go like retention's */
		topic_apply_retention(rel, p, DT_NOBEGIN, -1, true, &res);
		values[0] = Int32GetDatum(p);
		values[1] = Int64GetDatum(removed);
		values[2] = Int64GetDatum(res.pages_removed + res.dir_pages_freed);
		values[3] = Int64GetDatum(res.log_start_seq);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	table_close(rel, NoLock);
	return (Datum) 0;
}

/* ------------------------------------------------------------------------
 * The maintenance worker
 * ------------------------------------------------------------------------
 */

void
topic_maintenance_worker_register(void)
{
	BackgroundWorker worker;

	DefineCustomIntVariable("pg_topics.maintenance_interval",
							"Seconds between runs of the pg_topics maintenance worker (0 turns it off).",
							"Each run applies the retention settings of every topic in every database that has the extension.",
							&topics_maintenance_interval,
							60,
							0,
							INT_MAX / 1000,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_topics.delete_retention",
							"How long a tombstone (a record with a NULL value) of a compacted topic is kept.",
							"Like Kafka's delete.retention.ms: readers that are behind still see the deletion.",
							&topics_delete_retention,
							86400,
							0,
							INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = compaction_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = compaction_shmem_startup;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_topics");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "topic_maintenance_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_topics maintenance launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pg_topics maintenance");
	RegisterBackgroundWorker(&worker);
}

/*
 * Whether a worker can connect to the database: it allows connections and
 * is not being dropped (a DROP DATABASE marks it with datconnlimit -2).
 */
static bool
database_takes_worker(Form_pg_database db)
{
	return db->datallowconn && db->datconnlimit != -2;
}

/* Databases a maintenance run visits: every one that accepts connections. */
static List *
maintenance_databases(void)
{
	List	   *result = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	MemoryContext outer = CurrentMemoryContext;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (database_takes_worker(db))
		{
			MemoryContext old = MemoryContextSwitchTo(outer);

			result = lappend_oid(result, db->oid);
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return result;
}

/*
 * Whether a database of the list is still there to connect to.  The list is
 * made once per run and the databases are maintained one after another, so
 * one dropped meanwhile would get a worker that failed to connect, with a
 * FATAL in the log (until 0.10).  One dropped between this look and the
 * worker's connection still does.
 */
static bool
database_still_open(Oid dboid)
{
	HeapTuple	tup;
	bool		open = false;

	StartTransactionCommand();
	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dboid));
	if (HeapTupleIsValid(tup))
	{
		open = database_takes_worker((Form_pg_database) GETSTRUCT(tup));
		ReleaseSysCache(tup);
	}
	CommitTransactionCommand();
	return open;
}

/* Run one database's maintenance in a worker of its own and wait for it. */
static void
maintain_database(Oid dboid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	pid_t		pid;

	if (!database_still_open(dboid))
		return;
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_topics");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "topic_maintenance_db_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_topics maintenance of database %u", dboid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "pg_topics maintenance");
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		ereport(LOG,
				(errmsg("pg_topics: could not start a maintenance worker for database %u", dboid),
				 errhint("Raise max_worker_processes.")));
		return;
	}
	if (WaitForBackgroundWorkerStartup(handle, &pid) != BGWH_STARTED)
		return;
	(void) WaitForBackgroundWorkerShutdown(handle);
}

/* The end of an interval that starts at "from" (far off when disabled). */
static TimestampTz
interval_end(TimestampTz from)
{
	return TimestampTzPlusMilliseconds(from, topics_maintenance_interval > 0 ?
									   (int64) topics_maintenance_interval * 1000 :
									   (int64) 3600 * 1000);
}

void
topic_maintenance_launcher_main(Datum arg)
{
	TimestampTz next_run;

	/*
	 * A shutdown ends the launcher between its runs, quietly: with die() as
	 * its SIGTERM handler it logged a FATAL at every fast shutdown (until
	 * 0.10), which monitoring that alerts on FATAL took for a failure.  A
	 * database worker it waits for is stopped by the postmaster itself.
	 */
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("pg_topics maintenance launcher");

	/*
	 * Runs start an interval apart.  A configuration reload starts a new
	 * interval only when it changed pg_topics.maintenance_interval: until
	 * 0.12 every reload did, and a server reloaded more often than the
	 * interval never ran retention at all.
	 */
	next_run = interval_end(GetCurrentTimestamp());
	while (!ShutdownRequestPending)
	{
		TimestampTz now = GetCurrentTimestamp();

		if (topics_maintenance_interval <= 0 || now < next_run)
		{
			long		delay_ms = topics_maintenance_interval > 0 ?
			(long) Min(TimestampDifferenceMilliseconds(now, next_run), 3600L * 1000L) :
			3600L * 1000L;

			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 Max(delay_ms, 1L), PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
			if (ConfigReloadPending)
			{
				int			old_interval = topics_maintenance_interval;

				ConfigReloadPending = false;
				ProcessConfigFile(PGC_SIGHUP);
				if (topics_maintenance_interval != old_interval)
					next_run = interval_end(GetCurrentTimestamp());
			}
			continue;
		}

		{
			List	   *dbs = maintenance_databases();
			ListCell   *lc;

			foreach(lc, dbs)
			{
				CHECK_FOR_INTERRUPTS();
				if (ShutdownRequestPending)
					break;
				maintain_database(lfirst_oid(lc));
			}
			list_free(dbs);
		}
		next_run = interval_end(GetCurrentTimestamp());
	}

	/*
	 * Exit code 1, so that a launcher ended by pg_terminate_backend is
	 * started again after bgw_restart_time, as it was when it died with a
	 * FATAL; with 0 (0.10 and 0.11) PostgreSQL unregistered it, and no
	 * retention ran until the next restart.  At a shutdown nothing restarts,
	 * and the exit is logged at LOG, as the logical replication launcher's.
	 */
	proc_exit(1);
}

/* A topic the worker maintains, and the role it does so as. */
typedef struct MaintainedTopic
{
	Oid			relid;
	Oid			owner;
} MaintainedTopic;

/* pg_extension.extnamespace (get_extension_schema is static before 16) */
static Oid
extension_schema(Oid extoid)
{
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			result = InvalidOid;

	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		result = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

/*
 * The topics with settings in this database, and the query that maintains
 * one, naming the extension's own maintain(): found through the extension's
 * schema by OID and checked to belong to the extension, so that neither a
 * schema renamed and replaced nor a look-alike earlier on some search_path
 * is called.  NIL when the database has no (complete) extension.
 */
static List *
maintenance_topics(char **query)
{
	List	   *result = NIL;
	Oid			extoid;
	Oid			nsp;
	char	   *nspname;
	Oid			config;
	Oid			fn;
	Oid			argtype = REGCLASSOID;
	Oid			ageargtype = INT4OID;
	Datum		agearg;
	int			freeze_age;
	MemoryContext outer = CurrentMemoryContext;
	StringInfoData buf;
	uint64		i;

	extoid = get_extension_oid("pg_topics", true);
	if (!OidIsValid(extoid))
		return NIL;
	nsp = extension_schema(extoid);
	nspname = get_namespace_name(nsp);
	if (nspname == NULL)
		return NIL;
	config = get_relname_relid("topic_config", nsp);
	fn = LookupFuncName(list_make2(makeString(nspname), makeString("maintain")),
						1, &argtype, true);
	if (!OidIsValid(config) || getExtensionOfObject(RelationRelationId, config) != extoid ||
		!OidIsValid(fn) || getExtensionOfObject(ProcedureRelationId, fn) != extoid)
		return NIL;

	/*
	 * The topics with settings (rows of other relations are ignored: RLS
	 * allows any), and those whose relfrozenxid is old enough that the next
	 * VACUUM of the table would be aggressive: a removal that did not
	 * commit leaves values that only a run of retention or compaction
	 * deletes, and until it has, VACUUM keeps relfrozenxid at or before
	 * that transaction (see above).  Until 0.18 a topic without settings,
	 * such as one whose settings were reset after the run, was never
	 * maintained again, and its relfrozenxid stayed back for good.
	 */
	freeze_age = Min(vacuum_freeze_table_age, (int) (autovacuum_freeze_max_age * 0.95));
	initStringInfo(&buf);
	appendStringInfo(&buf,
					 "SELECT k.oid, k.relowner FROM pg_catalog.pg_class k "
					 "JOIN pg_catalog.pg_am a ON a.oid OPERATOR(pg_catalog.=) k.relam "
					 "WHERE a.amname OPERATOR(pg_catalog.=) 'topic_log' "
					 "AND k.relkind OPERATOR(pg_catalog.=) 'r' "
					 "AND (EXISTS (SELECT 1 FROM %s c WHERE c.topic OPERATOR(pg_catalog.=) k.oid) "
					 "OR pg_catalog.age(k.relfrozenxid) OPERATOR(pg_catalog.>) $1) ORDER BY 1",
					 quote_qualified_identifier(nspname, "topic_config"));
	SPI_connect();
	agearg = Int32GetDatum(freeze_age);
	if (SPI_execute_with_args(buf.data, 1, &ageargtype, &agearg, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "pg_topics: reading the topics' settings failed");
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		MaintainedTopic *t = MemoryContextAlloc(outer, sizeof(MaintainedTopic));

		MemoryContext spi = MemoryContextSwitchTo(outer);

		t->relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		t->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		/* the list outlives SPI_finish, which frees SPI's memory */
		result = lappend(result, t);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();

	resetStringInfo(&buf);
	appendStringInfo(&buf,
					 "SELECT topic::pg_catalog.text, partition, pages_removed, records_removed, log_start_seq "
					 "FROM %s($1) WHERE pages_removed OPERATOR(pg_catalog.>) 0 "
					 "OR records_removed OPERATOR(pg_catalog.>) 0",
					 quote_qualified_identifier(nspname, "maintain"));
	*query = MemoryContextStrdup(outer, buf.data);
	return result;
}

/*
 * Maintain one topic, in a transaction of its own, as its owner, as
 * autovacuum runs a table's index expressions as the table's owner: the
 * worker is a superuser, and what maintain() runs must not be.  A topic
 * somebody holds a conflicting lock on (another maintain, VACUUM, LOCK
 * TABLE) is skipped until the next run rather than waited for, as autovacuum
 * skips a table it cannot lock, so that one busy topic holds up neither the
 * other topics nor the other databases.  Returns the partitions changed.
 */
static uint64
maintain_topic(MaintainedTopic *t, const char *query)
{
	Oid			save_userid;
	int			save_sec_context;
	uint64		changed = 0;
	uint64		i;
	Oid			argtype = REGCLASSOID;
	Datum		arg = ObjectIdGetDatum(t->relid);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(t->owner,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	if (!ConditionalLockRelationOid(t->relid, ShareUpdateExclusiveLock))
	{
		ereport(DEBUG1,
				(errmsg("pg_topics: skipping maintenance of topic %u, lock not available",
						t->relid)));
	}
	else if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(t->relid)))
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		SPI_connect();
		if (SPI_execute_with_args(query, 1, &argtype, &arg, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "pg_topics: maintain() failed");
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;

			ereport(LOG,
					(errmsg("pg_topics: removed %s pages (%s records) from partition %s of topic %s, log start now %s",
							SPI_getvalue(tup, desc, 3), SPI_getvalue(tup, desc, 4),
							SPI_getvalue(tup, desc, 2), SPI_getvalue(tup, desc, 1),
							SPI_getvalue(tup, desc, 5))));
		}
		changed = SPI_processed;
		SPI_finish();
		PopActiveSnapshot();
	}
	SetUserIdAndSecContext(save_userid, save_sec_context);
	CommitTransactionCommand();
	return changed;
}

void
topic_maintenance_db_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	TimestampTz start;
	MemoryContext workcxt;
	List	   *topics;
	char	   *query = NULL;
	char	   *dbname;
	ListCell   *lc;
	uint64		changed = 0;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("pg_topics maintenance");
	in_maintenance_worker = true;	/* compacts when due (CompactionNote) */

	/*
	 * The worker is connected as the bootstrap superuser, with the settings
	 * of the database, which its owner may set (ALTER DATABASE ... SET
	 * search_path): like autovacuum, it searches pg_catalog only, and names
	 * everything else with its schema.
	 */
	SetConfigOption("search_path", "", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * Nor may a lock anybody holds keep it waiting: any role may lock the
	 * extension's tables (their UPDATE and DELETE are granted to PUBLIC,
	 * with row-level security), and until 0.9 a LOCK TABLE of
	 * topics.topic_config held in one database stopped retention in every
	 * database, the launcher waiting for each worker in turn.  A topic's own
	 * lock is tried without waiting (maintain_topic); any other wait ends
	 * with an error after a while, and the next run tries again.
	 */
	SetConfigOption("lock_timeout", "2s", PGC_SUSET, PGC_S_OVERRIDE);
	/* retention applies in a database whose sessions default to read-only */
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_OVERRIDE);

	workcxt = AllocSetContextCreate(TopMemoryContext, "pg_topics maintenance",
									ALLOCSET_DEFAULT_SIZES);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	{
		MemoryContext old = MemoryContextSwitchTo(workcxt);

		topics = maintenance_topics(&query);
		dbname = get_database_name(dboid);
		MemoryContextSwitchTo(old);
	}
	PopActiveSnapshot();
	CommitTransactionCommand();

	pgstat_report_activity(STATE_RUNNING, "pg_topics maintenance");
	start = GetCurrentTimestamp();
	foreach(lc, topics)
	{
		MaintainedTopic *t = lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		PG_TRY();
		{
			changed += maintain_topic(t, query);
		}
		PG_CATCH();
		{
			/* report it and go on with the next topic */
			HOLD_INTERRUPTS();
			errcontext("maintenance of topic %u", t->relid);
			EmitErrorReport();
			AbortOutOfAnyTransaction();
			FlushErrorState();
			MemoryContextSwitchTo(workcxt);
			RESUME_INTERRUPTS();
		}
		PG_END_TRY();
	}
	if (changed > 0)
		ereport(LOG,
				(errmsg("pg_topics: maintenance of database \"%s\" took %.1f ms",
						dbname, (double) (GetCurrentTimestamp() - start) / 1000.0)));
	pgstat_report_activity(STATE_IDLE, NULL);
	proc_exit(0);
}
