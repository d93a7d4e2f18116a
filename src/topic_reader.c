/*-------------------------------------------------------------------------
 *
 * topic_reader.c
 *	  Reading one partition in seq order from a seq: the loop behind fetch,
 *	  get_records and consume.
 *
 * The reader seeks with topic_find_page (O(log n)), then walks the
 * partition's page chain.  On each page it decides visibility under a share
 * lock, then hands records to the callback with only the pin held, so a
 * callback may do anything (copy into a tuplestore, detoast) without
 * blocking producers of the partition.
 *
 * In TOPIC_READ_STABLE mode the walk stops at the first record whose
 * transaction is in progress for the snapshot (Kafka's last stable offset)
 * and skips aborted records; in TOPIC_READ_MVCC mode it returns what the
 * snapshot sees and skips the rest, as a SELECT would.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_topics.h"

#include "miscadmin.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "storage/bufmgr.h"

/*
 * Read records of "partition" with seq >= from_seq (and <= to_seq, if to_seq
 * >= 0), calling cb for each until it returns false.  Returns the seq after
 * the last record handed to cb, or, when none was, the seq where reading
 * stopped (the first in-progress record, or the end of the partition).
 */
int64
topic_read_partition(Relation rel, int32 partition, int64 from_seq, int64 to_seq,
					 Snapshot snapshot, TopicReadMode mode,
					 TopicRecordCallback cb, void *arg)
{
	TopicPartitionState state;
	BlockNumber blkno;
	OffsetNumber *vis = palloc(sizeof(OffsetNumber) * MaxOffsetNumber);
	int64		position = from_seq;
	int64		expect = from_seq;
	bool		first = true;
	TopicStatusCache status_cache = {0};
	bool		stop = false;

	/*
	 * A transaction still in progress appended before from_seq: nothing from
	 * here on is stable yet (Kafka's last stable offset is below from_seq).
	 */
	if (mode == TOPIC_READ_STABLE &&
		topic_producers_open_before(rel, partition, from_seq, snapshot))
	{
		pfree(vis);
		return from_seq;
	}

	topic_get_state(rel, partition, &state);
	blkno = topic_find_page(rel, partition, from_seq, &state);
	while (BlockNumberIsValid(blkno) && !stop)
	{
		Buffer		buf;
		Page		page;
		TopicPageOpaque opaque;
		OffsetNumber maxoff;
		int64		off64;
		int64		scanned_to;
		bool		all_visible;
		int			nvis = 0;
		int			i;

		CHECK_FOR_INTERRUPTS();
		buf = topic_lock_live_page(rel, blkno, partition, BUFFER_LOCK_SHARE, NULL,
								   expect);
		if (!BufferIsValid(buf))
		{
			/*
			 * Retention removed the page since we found it.  What was handed
			 * over is fine; the caller's next read starts below the new log
			 * start and gets the out-of-range error (Kafka's
			 * OffsetOutOfRange).
			 */
			if (first)
				topic_check_read_position(rel, partition, from_seq);
			break;
		}
		first = false;
		page = BufferGetPage(buf);
		opaque = TopicPageGetOpaque(page);
		maxoff = PageGetMaxOffsetNumber(page);
		all_visible = TopicPageAllVisible(page);
		off64 = from_seq - opaque->first_seq + 1;
		if (off64 < FirstOffsetNumber)
			off64 = FirstOffsetNumber;

		/* decide visibility under the lock ... */
		scanned_to = opaque->first_seq + maxoff;
		for (; off64 <= maxoff; off64++)
		{
			OffsetNumber off = (OffsetNumber) off64;
			ItemId		itemid = PageGetItemId(page, off);
			TopicRecordStatus status;
			int64		seq = opaque->first_seq + off - 1;

			if (to_seq >= 0 && seq > to_seq)
			{
				scanned_to = seq;
				stop = true;
				break;
			}
			if (!ItemIdIsNormal(itemid))
				continue;		/* a seq skipped by an explicit seq, or aborted */
			if (all_visible)
			{
				vis[nvis++] = off;
				continue;
			}
			status = topic_record_status_cached(rel, buf, (char *) PageGetItem(page, itemid),
												snapshot, &status_cache);
			if (status == TREC_IN_PROGRESS && mode == TOPIC_READ_STABLE)
			{
				scanned_to = seq;	/* the last stable offset */
				stop = true;
				break;
			}
			if (status != TREC_VISIBLE)
				continue;
			vis[nvis++] = off;
		}
		blkno = opaque->next;
		expect = opaque->first_seq + maxoff;
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);

		/* ... and hand the records over with only the pin held */
		position = Max(position, scanned_to);
		for (i = 0; i < nvis; i++)
		{
			TopicRecord rec;

			topic_record_decode(page, vis[i], &rec);
			if (!cb(&rec, arg))
			{
				position = rec.seq;
				stop = true;
				break;
			}
		}
		ReleaseBuffer(buf);
	}
	pfree(vis);
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
				TopicRecordCallback cb, void *arg, const int64 *count)
{
	bool		waiting = wait_ms > 0 && topic_wait_possible();
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
										TOPIC_READ_STABLE, cb, arg);
		if (waiting)
			UnregisterSnapshot(snapshot);
		if (!waiting || *count > 0 ||
			!topic_wait_for_commit(RelationGetRelid(rel), gen, deadline))
			return position;
	}
}
