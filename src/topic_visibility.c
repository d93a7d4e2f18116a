/*-------------------------------------------------------------------------
 *
 * topic_visibility.c
 *	  Whether a reader sees a record.
 *
 * Records are never updated or deleted, so visibility depends on xmin alone:
 * a record is visible once its inserting transaction committed (and, for an
 * MVCC snapshot, committed before the snapshot was taken), never visible if
 * it aborted, and visible to its own transaction from the next command on
 * (the stored command id; without it "INSERT INTO t SELECT * FROM t" would
 * read its own output).
 *
 * Hint flags on the record save clog look-ups, with heap's rule for setting
 * the committed hint: not before the commit record is flushed, so that an
 * asynchronous commit lost in a crash cannot leave a record marked committed.
 * Callers hold at least a share lock on the buffer, as for heap hint bits.
 *
 * VACUUM freezes records (TREC_XMIN_FROZEN) and marks aborted ones invalid
 * for good, after which xmin is never consulted: that is what lets
 * relfrozenxid advance.
 *
 * Serializable transactions: a record an MVCC snapshot does not see because
 * its transaction ran concurrently is a read of that transaction's write,
 * which SSI must know of (the rw-conflict out, as heap reports from its
 * visibility checks); without it a reader whose snapshot was taken after a
 * producer appended, but before it committed, would escape the
 * serialization check.  Readers also take a predicate lock on the whole
 * topic when they start (topic_reader_begin, the sequential scan) and
 * appends check it (topic_append), so the conflict is seen in both orders.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_topics.h"

#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "storage/bufmgr.h"
#include "storage/predicate.h"
#include "storage/procarray.h"
#include "utils/snapmgr.h"

static void
set_hint(Buffer buf, char *item, uint8 flag, TransactionId xid)
{
	if (!BufferIsValid(buf))
		return;
	if (flag == TREC_XMIN_COMMITTED)
	{
		XLogRecPtr	commitLSN = TransactionIdGetCommitLSN(xid);

		if (BufferIsPermanent(buf) && XLogNeedsFlush(commitLSN) &&
			BufferGetLSNAtomic(buf) < commitLSN)
			return;				/* not yet flushed: try again another time */
	}
	item[TREC_FLAGS_OFF] |= flag;
	MarkBufferDirtyHint(buf, true);
}

/* Committed or aborted, as of now, for a transaction known not to run. */
static TopicRecordStatus
finished_status(Buffer buf, char *item, TransactionId xmin)
{
	if (TransactionIdDidCommit(xmin))
	{
		set_hint(buf, item, TREC_XMIN_COMMITTED, xmin);
		return TREC_VISIBLE;
	}
	/* aborted, or crashed while running */
	set_hint(buf, item, TREC_XMIN_INVALID, xmin);
	return TREC_ABORTED;
}

/*
 * A record that "snapshot" does not see because xmin ran concurrently: tell
 * SSI (a no-op unless the reader is serializable).
 */
static TopicRecordStatus
concurrent_write(Relation rel, TransactionId xmin, Snapshot snapshot)
{
	if (rel != NULL)
		CheckForSerializableConflictOut(rel, xmin, snapshot);
	return TREC_IN_PROGRESS;
}

/*
 * Status of the record at "item" for "snapshot".  buf is the record's buffer
 * (share-locked, for hints) or InvalidBuffer.
 */
TopicRecordStatus
topic_record_status(Relation rel, Buffer buf, char *item, Snapshot snapshot)
{
	uint8		flags = (uint8) item[TREC_FLAGS_OFF];
	TransactionId xmin;

	if (flags & TREC_XMIN_INVALID)
		return TREC_ABORTED;
	if (flags & TREC_XMIN_FROZEN)
		return TREC_VISIBLE;
	if (snapshot->snapshot_type == SNAPSHOT_ANY)
		return TREC_VISIBLE;

	memcpy(&xmin, item + TREC_XMIN_OFF, sizeof(TransactionId));

	/* the common case: committed, hinted; it cannot be our own transaction */
	if (flags & TREC_XMIN_COMMITTED)
	{
		if (snapshot->snapshot_type == SNAPSHOT_MVCC &&
			XidInMVCCSnapshot(xmin, snapshot))
			return concurrent_write(rel, xmin, snapshot);
		return TREC_VISIBLE;
	}

	if (TransactionIdIsCurrentTransactionId(xmin))
	{
		if (snapshot->snapshot_type == SNAPSHOT_MVCC)
		{
			CommandId	cid;

			memcpy(&cid, item + TREC_CID_OFF, sizeof(CommandId));
			return cid >= snapshot->curcid ? TREC_IN_PROGRESS : TREC_VISIBLE;
		}
		return TREC_VISIBLE;
	}

	if (snapshot->snapshot_type == SNAPSHOT_MVCC)
	{
		if (XidInMVCCSnapshot(xmin, snapshot))
		{
			/* running when the snapshot was taken */
			if (TransactionIdIsInProgress(xmin))
				return concurrent_write(rel, xmin, snapshot);
			if (finished_status(buf, item, xmin) == TREC_VISIBLE)
				return concurrent_write(rel, xmin, snapshot);	/* committed after
																 * the snapshot */
			return TREC_ABORTED;
		}
		if (flags & TREC_XMIN_COMMITTED)
			return TREC_VISIBLE;
		return finished_status(buf, item, xmin);
	}

	/* SnapshotSelf, SnapshotDirty and friends: the latest committed state */
	if (flags & TREC_XMIN_COMMITTED)
		return TREC_VISIBLE;
	if (TransactionIdIsInProgress(xmin))
		return TREC_IN_PROGRESS;
	return finished_status(buf, item, xmin);
}

/*
 * Status as of now, without a snapshot: in progress while the inserting
 * transaction runs (the current one included), else committed or aborted.
 * buf is the record's buffer (share-locked, for hints) or InvalidBuffer.
 * Used for the last stable offset, by ANALYZE, VACUUM FULL, retention and
 * compaction.
 */
TopicRecordStatus
topic_record_status_now(Buffer buf, char *item)
{
	uint8		flags = (uint8) item[TREC_FLAGS_OFF];
	TransactionId xmin;

	if (flags & TREC_XMIN_INVALID)
		return TREC_ABORTED;
	if (flags & (TREC_XMIN_FROZEN | TREC_XMIN_COMMITTED))
		return TREC_VISIBLE;
	memcpy(&xmin, item + TREC_XMIN_OFF, sizeof(TransactionId));
	if (TransactionIdIsCurrentTransactionId(xmin) || TransactionIdIsInProgress(xmin))
		return TREC_IN_PROGRESS;
	return finished_status(buf, item, xmin);
}

/*
 * The commit LSN of a committed record whose commit may not be flushed yet
 * (an asynchronous commit), else InvalidXLogRecPtr.  set_hint leaves such a
 * record unhinted, unless the page's LSN is past the commit (heap's rule:
 * the page cannot be written before the commit is flushed), so a hinted
 * record needs looking at only when the page's LSN is not flushed
 * ("page_unflushed", which the caller finds once a page).  Records of the
 * current transaction need nothing.
 */
XLogRecPtr
topic_record_commit_unflushed(Buffer buf, char *item, bool page_unflushed)
{
	uint8		flags = (uint8) item[TREC_FLAGS_OFF];
	TransactionId xmin;

	if (flags & (TREC_XMIN_FROZEN | TREC_XMIN_INVALID) ||
		((flags & TREC_XMIN_COMMITTED) && !page_unflushed) ||
		!BufferIsPermanent(buf))
		return InvalidXLogRecPtr;
	memcpy(&xmin, item + TREC_XMIN_OFF, sizeof(TransactionId));
	if (TransactionIdIsCurrentTransactionId(xmin))
		return InvalidXLogRecPtr;
	return TransactionIdGetCommitLSN(xmin);
}

/* Whether the WAL up to the page's LSN may not be flushed yet (a primary's). */
bool
topic_page_unflushed(Buffer buf)
{
	return BufferIsPermanent(buf) && !RecoveryInProgress() &&
		XLogNeedsFlush(BufferGetLSNAtomic(buf));
}

bool
topic_xid_in_progress_now(Buffer buf, char *item)
{
	return topic_record_status_now(buf, item) == TREC_IN_PROGRESS;
}

/*
 * topic_record_status for a reader that asks with one snapshot about many
 * records.  Records of one transaction are stored together (a batch, an
 * INSERT ... SELECT, a COPY), so a scan asks about the same committed xmin
 * many times in a row; for a hinted-committed xmin the answer depends only
 * on the xmin and the snapshot, so the last one is remembered.
 */
TopicRecordStatus
topic_record_status_cached(Relation rel, Buffer buf, char *item, Snapshot snapshot,
						   TopicStatusCache *cache)
{
	uint8		flags = (uint8) item[TREC_FLAGS_OFF];
	TransactionId xmin;
	TopicRecordStatus status;

	if ((flags & (TREC_XMIN_COMMITTED | TREC_XMIN_INVALID | TREC_XMIN_FROZEN)) !=
		TREC_XMIN_COMMITTED)
		return topic_record_status(rel, buf, item, snapshot);

	memcpy(&xmin, item + TREC_XMIN_OFF, sizeof(TransactionId));
	if (cache->valid && cache->xmin == xmin)
		return cache->status;
	status = topic_record_status(rel, buf, item, snapshot);
	cache->valid = true;
	cache->xmin = xmin;
	cache->status = status;
	return status;
}
