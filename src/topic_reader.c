/*-------------------------------------------------------------------------
 *
 * topic_reader.c
 *	  Reading one partition in seq order from a seq: the walk behind fetch,
 *	  get_records and consume.
 *
 * The reader seeks with topic_find_page (O(log n)), then walks the
 * partition's page chain.  On each page it decides visibility under a share
 * lock, then hands records out with only the pin held, so the caller may do
 * anything between two records (copy into a tuplestore, detoast, return
 * a row to the executor) without blocking producers of the partition.
 *
 * In TOPIC_READ_STABLE mode the walk stops at the first record whose
 * transaction is in progress for the snapshot (Kafka's last stable offset)
 * and skips aborted records; in TOPIC_READ_MVCC mode it returns what the
 * snapshot sees and skips the rest, as a SELECT would, and where retention
 * removed pages it goes on at the log start instead of failing.
 *
 * topic_reader_begin/next/end is the walk as an iterator, for the custom
 * scans that stream rows (TopicFetch, TopicSeek); topic_read_partition drives
 * it with a callback for everything else.  topic_reader_begin_backward walks
 * the other way, for ORDER BY seq DESC.
 *
 * On a hot standby the pin does not protect the records: the primary frees
 * and reuses pages that nobody there has pinned, and replay (generic WAL
 * takes no cleanup lock) overwrites them under a standby's reader.  There
 * the walk copies each page while it holds the share lock and hands records
 * out from the copy.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_topics.h"

#include "access/xlog.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "storage/bufmgr.h"
#include "storage/predicate.h"

/* On a standby, the buffer pages are copied into (see the head of file). */
static void
reader_prepare_copy(TopicReader *r)
{
	if (r->copy == NULL && RecoveryInProgress())
		r->copy = MemoryContextAlloc(GetMemoryChunkContext(r), BLCKSZ);
}

/*
 * Start a walk of "partition" from from_seq (up to to_seq, if to_seq >= 0).
 * No page is read yet.  The reader must be palloc'd, and zeroed before its
 * first walk.
 */
void
topic_reader_begin(TopicReader *r, Relation rel, int32 partition, int64 from_seq,
				   int64 to_seq, Snapshot snapshot, TopicReadMode mode)
{
	TopicPartitionState state;

	r->rel = rel;
	r->partition = partition;
	r->from_seq = from_seq;
	r->to_seq = to_seq;
	r->snapshot = snapshot;
	r->mode = mode;
	r->position = from_seq;
	r->passed_lsn = InvalidXLogRecPtr;
	r->expect = from_seq;
	r->first = true;
	r->follow_log_start = false;
	r->stop = false;
	r->status_cache.valid = false;
	r->buf = InvalidBuffer;
	r->nvis = r->ivis = 0;
	r->blkno = InvalidBlockNumber;
	r->backward = false;
	reader_prepare_copy(r);
	/* a serializable reader reads the topic: see topic_visibility.c */
	PredicateLockRelation(rel, snapshot);

	/*
	 * A transaction still in progress appended before from_seq: nothing from
	 * here on is stable yet (Kafka's last stable offset is below from_seq).
	 */
	if (mode == TOPIC_READ_STABLE &&
		topic_producers_open_before(rel, partition, from_seq, snapshot))
	{
		r->stop = true;
		return;
	}
	topic_get_state(rel, partition, &state);
	if (mode == TOPIC_READ_MVCC && from_seq < state.log_start_seq)
	{
		/* a SELECT starts at the log start: retention removed what is below */
		r->from_seq = r->position = r->expect = from_seq = state.log_start_seq;
	}
	r->blkno = topic_find_page(rel, partition, from_seq, &state);
}

/* Pin the next page of the walk and collect its records to hand out. */
static bool
reader_load_page(TopicReader *r)
{
	Buffer		prev;
	Buffer		buf;
	Page		page;
	TopicPageOpaque opaque;
	OffsetNumber maxoff;
	int64		off64;
	int64		scanned_to;
	bool		all_visible;
	bool		passed = false;
	bool		page_unflushed;
	XLogRecPtr	commit_lsn = InvalidXLogRecPtr;

	/*
	 * Keep the pin on the page we are leaving until the next one is pinned:
	 * retention removes pages in order and stops at a pinned one, so no page
	 * after the first can be removed under the walk, which therefore never
	 * skips records in the middle.
	 */
	prev = r->buf;
	r->buf = InvalidBuffer;
	r->nvis = r->ivis = 0;
	if (r->stop || !BlockNumberIsValid(r->blkno))
	{
		if (BufferIsValid(prev))
			ReleaseBuffer(prev);
		return false;
	}

	for (;;)
	{
		TopicPartitionState state;

		CHECK_FOR_INTERRUPTS();
		buf = topic_lock_live_page(r->rel, r->blkno, r->partition, BUFFER_LOCK_SHARE,
								   NULL, r->expect);
		if (BufferIsValid(buf))
			break;

		/*
		 * Retention removed the page since we found it.  A SELECT goes on at
		 * the new log start, as a scan that began now would, and so does a
		 * stable walk that had not read a page yet when its caller follows
		 * the log start (a shard iterator: Kinesis goes on with what is
		 * left).  Any other stable walk (fetch) fails with the out-of-range
		 * error (Kafka's OffsetOutOfRange) on its first page, and ends at a
		 * later one, which cannot be removed under it (see above).
		 */
		if (r->mode == TOPIC_READ_STABLE && !(r->first && r->follow_log_start))
		{
			if (BufferIsValid(prev))
				ReleaseBuffer(prev);
			if (r->first)
				topic_check_read_position(r->rel, r->partition, r->from_seq);
			r->stop = true;
			return false;
		}
		topic_get_state(r->rel, r->partition, &state);
		r->expect = Max(r->expect, state.log_start_seq);
		r->from_seq = Max(r->from_seq, r->expect);
		r->position = Max(r->position, r->expect);
		r->blkno = topic_find_page(r->rel, r->partition, r->expect, &state);
		if (!BlockNumberIsValid(r->blkno))
		{
			if (BufferIsValid(prev))
				ReleaseBuffer(prev);
			r->stop = true;
			return false;
		}
	}
	if (BufferIsValid(prev))
		ReleaseBuffer(prev);
	r->first = false;
	page = BufferGetPage(buf);
	opaque = TopicPageGetOpaque(page);
	maxoff = PageGetMaxOffsetNumber(page);
	all_visible = TopicPageAllVisibleFor(page, r->snapshot);
	page_unflushed = !all_visible && topic_page_unflushed(buf);
	off64 = Max(TopicSeqOffset(r->from_seq, opaque->first_seq), FirstOffsetNumber);

	/* decide visibility under the lock ... */
	scanned_to = opaque->first_seq + maxoff;
	for (; off64 <= maxoff; off64++)
	{
		OffsetNumber off = (OffsetNumber) off64;
		ItemId		itemid = PageGetItemId(page, off);
		TopicRecordStatus status;
		int64		seq = opaque->first_seq + off - 1;

		if (r->to_seq >= 0 && seq > r->to_seq)
		{
			scanned_to = seq;
			r->stop = true;
			break;
		}
		if (!ItemIdIsNormal(itemid))
		{
			/* aborted, marked by VACUUM (a seq an explicit one skipped: unused) */
			passed |= ItemIdIsDead(itemid);
			continue;
		}
		if (all_visible)
		{
			r->vis[r->nvis++] = off;
			continue;
		}
		status = topic_record_status_cached(r->rel, buf, (char *) PageGetItem(page, itemid),
											r->snapshot, &r->status_cache);
		if (status == TREC_IN_PROGRESS && r->mode == TOPIC_READ_STABLE)
		{
			scanned_to = seq;	/* the last stable offset */
			r->stop = true;
			break;
		}
		if (status != TREC_VISIBLE)
		{
			passed |= status == TREC_ABORTED;
			continue;
		}
		commit_lsn = Max(commit_lsn,
						 topic_record_commit_unflushed(buf, (char *) PageGetItem(page, itemid),
													   page_unflushed));
		r->vis[r->nvis++] = off;
	}
	if (passed)
		r->passed_lsn = Max(r->passed_lsn, BufferGetLSNAtomic(buf));
	r->blkno = opaque->next;
	r->expect = opaque->first_seq + maxoff;
	if (r->copy)
		memcpy(r->copy, page, BLCKSZ);
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	topic_flush_passed(commit_lsn);

	/* ... and hand the records out with only the pin held */
	r->buf = buf;
	r->page = r->copy ? (Page) r->copy : page;
	r->position = Max(r->position, scanned_to);
	return true;
}

/*
 * Start a walk backward (MVCC mode, highest seq first) from to_seq down to
 * from_seq.  Data pages link only forward, so each page is found through
 * the directory; retention removing the head ends the walk there, as those
 * records are gone.
 */
void
topic_reader_begin_backward(TopicReader *r, Relation rel, int32 partition,
							int64 from_seq, int64 to_seq, Snapshot snapshot)
{
	char	   *copy = r->copy;

	memset(r, 0, offsetof(TopicReader, vis));
	r->copy = copy;
	reader_prepare_copy(r);
	r->rel = rel;
	r->partition = partition;
	r->from_seq = from_seq;
	r->to_seq = to_seq;
	r->snapshot = snapshot;
	r->mode = TOPIC_READ_MVCC;
	r->backward = true;
	r->expect = to_seq;			/* the highest seq not walked yet */
	r->buf = InvalidBuffer;
	r->status_cache.valid = false;
	PredicateLockRelation(rel, snapshot);
}

/* Backward: pin the page holding r->expect and collect its records. */
static bool
reader_load_prev_page(TopicReader *r)
{
	if (BufferIsValid(r->buf))
		ReleaseBuffer(r->buf);
	r->buf = InvalidBuffer;
	r->nvis = r->ivis = 0;

	for (;;)
	{
		TopicPartitionState state;
		BlockNumber blkno;
		Buffer		buf;
		Page		page;
		TopicPageOpaque opaque;
		int64		off64;
		int64		lo;
		bool		all_visible;
		bool		page_unflushed;
		XLogRecPtr	commit_lsn = InvalidXLogRecPtr;

		CHECK_FOR_INTERRUPTS();
		if (r->stop || r->expect < r->from_seq || r->expect < 0)
			return false;
		topic_get_state(r->rel, r->partition, &state);
		blkno = topic_find_page_at_or_before(r->rel, r->partition, r->expect, &state);
		if (!BlockNumberIsValid(blkno))
			return false;
		buf = topic_lock_live_page(r->rel, blkno, r->partition, BUFFER_LOCK_SHARE,
								   NULL, r->expect);
		if (!BufferIsValid(buf))
			continue;			/* removed since: look again */
		page = BufferGetPage(buf);
		opaque = TopicPageGetOpaque(page);
		if (opaque->first_seq > r->expect)
		{
			UnlockReleaseBuffer(buf);	/* reused since: look again */
			continue;
		}
		all_visible = TopicPageAllVisibleFor(page, r->snapshot);
		page_unflushed = !all_visible && topic_page_unflushed(buf);
		off64 = Min((int64) PageGetMaxOffsetNumber(page), TopicSeqOffset(r->expect, opaque->first_seq));
		lo = Max((int64) FirstOffsetNumber, TopicSeqOffset(r->from_seq, opaque->first_seq));
		for (; off64 >= lo; off64--)
		{
			OffsetNumber off = (OffsetNumber) off64;
			ItemId		itemid = PageGetItemId(page, off);
			char	   *item;

			if (!ItemIdIsNormal(itemid))
				continue;
			if (all_visible)
			{
				r->vis[r->nvis++] = off;
				continue;
			}
			item = (char *) PageGetItem(page, itemid);
			if (topic_record_status_cached(r->rel, buf, item, r->snapshot,
										   &r->status_cache) != TREC_VISIBLE)
				continue;
			/* handed out once durable: see reader_load_page */
			commit_lsn = Max(commit_lsn,
							 topic_record_commit_unflushed(buf, item, page_unflushed));
			r->vis[r->nvis++] = off;
		}
		r->expect = opaque->first_seq - 1;
		if (r->copy)
			memcpy(r->copy, page, BLCKSZ);
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		topic_flush_passed(commit_lsn);
		r->buf = buf;
		r->page = r->copy ? (Page) r->copy : page;
		return true;
	}
}

/*
 * Load the next page that has records for the walk; false at its end.  The
 * records of a page are handed out by topic_reader_next (pg_topics.h).
 */
bool
topic_reader_next_page(TopicReader *r)
{
	while (r->ivis >= r->nvis)
	{
		if (!(r->backward ? reader_load_prev_page(r) : reader_load_page(r)))
			return false;
	}
	return true;
}

void
topic_reader_end(TopicReader *r)
{
	if (BufferIsValid(r->buf))
		ReleaseBuffer(r->buf);
	r->buf = InvalidBuffer;
	/* before any position past the records walked is used: see below */
	topic_flush_passed(r->passed_lsn);
	r->passed_lsn = InvalidXLogRecPtr;
	r->nvis = r->ivis = 0;
	r->stop = true;
}

/*
 * Make the WAL of the records a walk passed durable before a position past
 * them is handed out (the seq after the last record read, a shard iterator,
 * the last stable offset).  PostgreSQL does not flush WAL when a
 * transaction rolls back, nor at an asynchronous commit (synchronous_commit
 * = off): after a crash that lost the appends of a rolled-back batch, or of
 * a commit not yet flushed, their seqs went to the next records, and a
 * position handed out past them skipped those records (until 0.12).  So the
 * walks note the LSN of a page where they passed an aborted record, and
 * flush it before the position (topic_reader_end, partition_last_stable);
 * and the commit LSN of a committed record whose commit may not be flushed
 * yet (see topic_record_commit_unflushed), flushed before the page's
 * records are handed out (reader_load_page): a position a caller works out
 * from the records themselves ("max(seq) + 1", the last record of a cursor)
 * is then safe too, whichever walk returned them (the table scan does the
 * same).  A standby's WAL came from the primary's disk.
 */
void
topic_flush_passed(XLogRecPtr lsn)
{
	if (!XLogRecPtrIsInvalid(lsn) && !RecoveryInProgress() && XLogNeedsFlush(lsn))
		XLogFlush(lsn);
}

/*
 * Read records of "partition" with seq >= from_seq (and <= to_seq, if to_seq
 * >= 0), calling cb for each until it returns false.  Returns the seq after
 * the last record handed to cb, or, when none was, the seq where reading
 * stopped (the first in-progress record, or the end of the partition).
 */
int64
topic_read_partition(Relation rel, int32 partition, int64 from_seq, int64 to_seq,
					 Snapshot snapshot, TopicReadMode mode, bool follow_log_start,
					 TopicRecordCallback cb, void *arg)
{
	TopicReader *r = palloc0(sizeof(TopicReader));
	Page		page;
	OffsetNumber off;
	int64		position;

	topic_reader_begin(r, rel, partition, from_seq, to_seq, snapshot, mode);
	r->follow_log_start = follow_log_start;
	while (topic_reader_next(r, &page, &off))
	{
		TopicRecord rec;

		topic_record_decode(page, off, &rec);
		if (!cb(&rec, arg))
		{
			r->position = rec.seq;
			break;
		}
	}
	position = r->position;
	topic_reader_end(r);
	if (r->copy)
		pfree(r->copy);
	pfree(r);
	return position;
}

/*
 * Read like topic_read_partition in stable mode, and when that hands over no
 * record (*count still 0) and wait_ms > 0, sleep until a commit to the topic
 * and read again, until wait_ms has passed.  While waiting each read takes
 * the latest snapshot, so records committed after the statement began are
 * seen; a transaction that reads from one snapshot (REPEATABLE READ) does
 * not wait, since nothing new could become visible to it.
 */
int64
topic_read_wait(Relation rel, int32 partition, int64 from_seq, int64 wait_ms,
				bool follow_log_start, TopicRecordCallback cb, void *arg,
				const int64 *count)
{
	bool		waiting = wait_ms > 0 && topic_wait_possible();
	bool		last_look = false;
	TimestampTz deadline = 0;

	if (waiting)
		deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), wait_ms);
	for (;;)
	{
		uint64		gen = 0;
		Snapshot	snapshot;
		int64		position;

		if (waiting)
		{
			/* read the generation before looking, so no commit is missed */
			gen = topic_wait_generation(RelationGetRelid(rel));
			snapshot = RegisterSnapshot(GetLatestSnapshot());
		}
		else
			snapshot = GetActiveSnapshot();
		position = topic_read_partition(rel, partition, from_seq, -1, snapshot,
										TOPIC_READ_STABLE, follow_log_start, cb, arg);
		if (waiting)
			UnregisterSnapshot(snapshot);
		if (!waiting || *count > 0 || last_look)
			return position;
		/* at the deadline, one last look with a new snapshot */
		if (!topic_wait_for_commit(RelationGetRelid(rel), gen, deadline))
			last_look = true;
	}
}
