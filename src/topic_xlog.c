/*-------------------------------------------------------------------------
 *
 * topic_xlog.c
 *	  WAL for appends to a data page, and recovery conflicts for freezing.
 *
 * Appends are the hot path, and GenericXLog's way of finding what changed
 * (copy the whole page, then compare it byte by byte with the modified copy)
 * cost more than half of a single-record INSERT in profiles.  An append
 * changes exactly three byte ranges of a page: pd_lower/pd_upper, the new
 * line pointers, and the new item bytes (contiguous, since items grow down
 * from pd_upper).  So this file writes the same generic WAL record that
 * GenericXLogFinish would, a delta of (offset, length, bytes) fragments
 * replayed by core's generic_redo, but builds the delta from those three
 * ranges directly, pointing into the page without copying.
 *
 * Replay therefore still needs nothing from this library, and standbys and
 * crash recovery treat these records exactly like any other generic record.
 * The fragment format is generic_xlog.c's (unchanged since 9.6); the hole
 * between pd_lower and pd_upper is always zero on our pages, as generic_redo
 * leaves it.
 *
 * The same holds for the structural change made once per data page, linking
 * a new tail page (old tail's right-link, the new page, the partition's
 * state) and adding its directory entry: GenericXLog copied and compared two
 * or three whole pages to find a few changed bytes each time, about a tenth
 * of a batch produce in profiles.  topic_xlog_changes writes those records
 * from the byte ranges the caller changed, in the same format.
 *
 * Generic WAL has one gap for a table: its records carry no recovery-conflict
 * horizon, and freezing records needs one (see topic_xlog_snapshot_conflict).
 *
 *-------------------------------------------------------------------------
 */
#include "pg_topics.h"

#include "access/generic_xlog.h"
#include "access/nbtxlog.h"
#include "access/rmgr.h"
#include "access/transam.h"
#include "access/xloginsert.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"

typedef struct TopicFragmentHeader
{
	OffsetNumber offset;
	OffsetNumber length;
} TopicFragmentHeader;

/*
 * Log records appended to the page in buf, which grew from (old_lower,
 * old_upper) to its current pd_lower/pd_upper.  Caller holds the buffer
 * exclusively locked, has modified the page inside a critical section and
 * marked it dirty.
 */
void
topic_xlog_append(Relation rel, Buffer buf, uint16 old_lower, uint16 old_upper)
{
	Page		page = BufferGetPage(buf);
	PageHeader	ph = (PageHeader) page;
	TopicFragmentHeader frag[3];
	XLogRecPtr	lsn;

	Assert(CritSectionCount > 0);
	if (!RelationNeedsWAL(rel))
		return;

	frag[0].offset = offsetof(PageHeaderData, pd_lower);
	frag[0].length = sizeof(ph->pd_lower) + sizeof(ph->pd_upper);
	frag[1].offset = old_lower;
	frag[1].length = ph->pd_lower - old_lower;
	frag[2].offset = ph->pd_upper;
	frag[2].length = old_upper - ph->pd_upper;

	XLogBeginInsert();
	XLogRegisterBuffer(0, buf, REGBUF_STANDARD);
	XLogRegisterBufData(0, (char *) &frag[0], sizeof(TopicFragmentHeader));
	XLogRegisterBufData(0, (char *) page + frag[0].offset, frag[0].length);
	XLogRegisterBufData(0, (char *) &frag[1], sizeof(TopicFragmentHeader));
	XLogRegisterBufData(0, (char *) page + frag[1].offset, frag[1].length);
	XLogRegisterBufData(0, (char *) &frag[2], sizeof(TopicFragmentHeader));
	XLogRegisterBufData(0, (char *) page + frag[2].offset, frag[2].length);
	lsn = XLogInsert(RM_GENERIC_ID, 0);
	PageSetLSN(page, lsn);
}

/*
 * Log changes the caller made to up to four pages (GenericXLog's limit) in a
 * critical section, with the pages exclusively locked and marked dirty: for
 * each page the byte ranges it changed, or nranges = 0 for a page logged
 * whole (a page just initialized).  Writes the generic WAL record that
 * GenericXLogFinish would, so core's generic_redo replays it, and sets the
 * pages' LSN.
 */
void
topic_xlog_changes(Relation rel, const TopicPageChange *changes, int n)
{
	TopicFragmentHeader frag[MAX_GENERIC_XLOG_PAGES][TOPIC_MAX_CHANGE_RANGES];
	XLogRecPtr	lsn;
	int			i;

	Assert(CritSectionCount > 0);
	Assert(n > 0 && n <= MAX_GENERIC_XLOG_PAGES);
	if (!RelationNeedsWAL(rel))
		return;

	XLogBeginInsert();
	for (i = 0; i < n; i++)
	{
		const TopicPageChange *c = &changes[i];
		Page		page = BufferGetPage(c->buf);
		int			j;

		Assert(c->nranges <= TOPIC_MAX_CHANGE_RANGES);
		if (c->nranges == 0)
		{
			XLogRegisterBuffer(i, c->buf, REGBUF_FORCE_IMAGE | REGBUF_STANDARD);
			continue;
		}
		XLogRegisterBuffer(i, c->buf, REGBUF_STANDARD);
		for (j = 0; j < c->nranges; j++)
		{
			Assert(c->offset[j] + c->length[j] <= BLCKSZ);
			frag[i][j].offset = c->offset[j];
			frag[i][j].length = c->length[j];
			XLogRegisterBufData(i, (char *) &frag[i][j], sizeof(TopicFragmentHeader));
			XLogRegisterBufData(i, (char *) page + c->offset[j], c->length[j]);
		}
	}
	lsn = XLogInsert(RM_GENERIC_ID, 0);
	for (i = 0; i < n; i++)
		PageSetLSN(BufferGetPage(changes[i].buf), lsn);
}

/*
 * Before WAL that makes records visible to snapshots that could not see them
 * (freezing: a frozen record is visible to every snapshot), have hot
 * standbys resolve the conflict with their snapshots whose xmin is at or
 * before horizon, the newest xmin the change covers: replay cancels those
 * queries (after max_standby_streaming_delay), as it does before replaying
 * heap's freeze records.  On the primary VACUUM decides by its own horizon,
 * which a standby's snapshot may be older than unless hot_standby_feedback
 * holds it back.
 *
 * Heap's records carry the horizon themselves; generic WAL has no room for
 * it, and a custom resource manager would make every standby fail to
 * recover unless the library is preloaded there.  So this writes one of the
 * two core records that do nothing but resolve such a conflict (gist's
 * PAGE_REUSE is the other): nbtree's XLOG_BTREE_REUSE_PAGE, whose replay
 * (btree_xlog_reuse_page) resolves a snapshot conflict for the relation's
 * database and touches no page.  The block number in it is unused by
 * replay; pg_waldump shows the record as "Btree REUSE_PAGE" of the topic's
 * relfilenode.
 */
void
topic_xlog_snapshot_conflict(Relation rel, TransactionId horizon)
{
	xl_btree_reuse_page xlrec;
	FullTransactionId next;
	uint32		epoch;

	if (!RelationNeedsWAL(rel) || !XLogStandbyInfoActive() ||
		!TransactionIdIsNormal(horizon))
		return;

	/* the epoch of horizon, which precedes the next xid */
	next = ReadNextFullTransactionId();
	epoch = EpochFromFullTransactionId(next);
	if (horizon > XidFromFullTransactionId(next))
		epoch--;

	xlrec.node = rel->rd_node;
	xlrec.block = InvalidBlockNumber;
	xlrec.latestRemovedFullXid = FullTransactionIdFromEpochAndXid(epoch, horizon);

	XLogBeginInsert();
	XLogRegisterData((char *) &xlrec, SizeOfBtreeReusePage);
	XLogInsert(RM_BTREE_ID, XLOG_BTREE_REUSE_PAGE);
}
