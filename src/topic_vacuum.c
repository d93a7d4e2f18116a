/*-------------------------------------------------------------------------
 *
 * topic_vacuum.c
 *	  VACUUM of a topic: freeze records so relfrozenxid can advance.
 *
 * A topic has no dead rows (records are never updated or deleted; aborted
 * records are removed with whole pages by retention), so VACUUM's jobs are
 * to protect against transaction-id wraparound and to flag pages that
 * readers may take whole.  For every partition it walks the data page chain
 * from the first page not yet known to be all-frozen (an aggressive VACUUM)
 * or from the first page not yet flagged all-visible (any other; see
 * first_unflagged_page).  Committed records whose xmin precedes the freeze
 * limit (vacuum_freeze_min_age before OldestXmin, as for heap; OldestXmin
 * itself for VACUUM FREEZE) get TREC_XMIN_FROZEN, aborted ones
 * TREC_XMIN_INVALID and a dead line pointer (also when a reader had flagged
 * them, as a hint that a crash can lose), WAL-logged per page through
 * GenericXLog (only the flag bytes change, so the delta is small, unless it
 * is the page's first change since a checkpoint: then the page is logged
 * whole, which is why records are not frozen as soon as they could be).  A
 * full page whose records are all frozen or invalid never changes again:
 * the partition's frozen_upto moves past it and later VACUUMs never read it
 * again.  Pages after it that are flagged all-visible are read again only
 * by aggressive VACUUMs, which freeze their records once old enough.
 *
 * A full page whose records are all settled (committed before every
 * snapshot's horizon, or aborted) is marked all-visible: scans then take
 * every normal line pointer on it without a visibility check each (heap's
 * all-visible pages do the same for it).  When that flag is all that
 * changes, it is set as a hint (see freeze_page).
 *
 * A hot standby's snapshot may be older than this VACUUM's horizon, so the
 * first freeze is preceded by a recovery conflict at the freeze limit (see
 * topic_xlog_snapshot_conflict), and standby readers ignore the all-visible
 * flag (see TopicPageAllVisibleFor).
 *
 * The new relfrozenxid is the oldest xmin left unfrozen, or OldestXmin when
 * none is: every transaction that can still add records has an xid that
 * does not precede OldestXmin.  A VACUUM that skipped pages did not see
 * their xmins and leaves relfrozenxid as it was.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_topics.h"

#include "access/generic_xlog.h"
#include "access/multixact.h"
#include "access/transam.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/procarray.h"

typedef struct VacuumCounters
{
	double		records;		/* records examined */
	double		total;			/* records stored (seq slots in use) */
	BlockNumber frozen_pages;
	TransactionId oldest_unfrozen;
	bool		conflict_logged;	/* standbys told of the freeze horizon */
} VacuumCounters;

/*
 * Freeze what must be frozen on one data page (exclusively locked): records
 * whose xmin precedes freeze_limit, as heap does, so that a VACUUM soon
 * after the records were produced changes nothing that needs WAL.  Aborted
 * records are marked invalid and their line pointers dead, with WAL.  A full
 * page whose records are all settled (committed before every snapshot's
 * horizon, or aborted) is flagged all-visible; when nothing else on it
 * changes, the flag is set as a hint, without WAL, like heap's hint
 * bits: it is the only byte that changes, so a torn write or a crash that
 * loses it leaves a page readers check record by record, as before.  Had it
 * been WAL-logged, a VACUUM reaching the page after a checkpoint would log
 * the whole page (run 18 of the bench: 134 B per record, against the
 * heap's 1.4 B for its visibility map).  Returns true when every record on
 * the page is frozen or invalid.
 */
static bool
freeze_page(Relation rel, Buffer buf, TransactionId oldest_xmin,
			TransactionId freeze_limit, VacuumCounters *counters)
{
	Page		page = BufferGetPage(buf);
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	OffsetNumber off;
	GenericXLogState *xs = NULL;
	Page		wpage = page;
	bool		all_frozen = true;
	bool		settled = true;
	bool		froze = false;
	uint16		want;

	for (off = FirstOffsetNumber; off <= maxoff; off++)
	{
		ItemId		itemid = PageGetItemId(wpage, off);
		char	   *item;
		uint8		flags;
		TransactionId xmin;
		uint8		newflag;

		if (!ItemIdIsNormal(itemid))
			continue;
		counters->records += 1;
		item = (char *) PageGetItem(wpage, itemid);
		flags = (uint8) item[TREC_FLAGS_OFF];
		if (flags & TREC_XMIN_FROZEN)
			continue;

		memcpy(&xmin, item + TREC_XMIN_OFF, sizeof(TransactionId));
		newflag = 0;
		if (flags & TREC_XMIN_INVALID)
			newflag = TREC_XMIN_INVALID;	/* a reader found it aborted */
		else if (TransactionIdIsInProgress(xmin))
			settled = false;
		else if (!TransactionIdDidCommit(xmin))
			newflag = TREC_XMIN_INVALID;	/* aborted (or crashed): final */
		else if (!TransactionIdPrecedes(xmin, oldest_xmin))
			settled = false;	/* committed, not yet seen by every snapshot */
		else if (TransactionIdPrecedes(xmin, freeze_limit))
			newflag = TREC_XMIN_FROZEN;

		if (newflag == 0)
		{
			/* left unfrozen: relfrozenxid must not pass it */
			all_frozen = false;
			if (!TransactionIdIsValid(counters->oldest_unfrozen) ||
				TransactionIdPrecedes(xmin, counters->oldest_unfrozen))
				counters->oldest_unfrozen = xmin;
			continue;
		}
		if (xs == NULL)
		{
			xs = GenericXLogStart(rel);
			wpage = GenericXLogRegisterBuffer(xs, buf, 0);
			item = (char *) PageGetItem(wpage, PageGetItemId(wpage, off));
		}
		item[TREC_FLAGS_OFF] |= newflag;
		froze |= (newflag == TREC_XMIN_FROZEN);

		/*
		 * An aborted record's line pointer is marked dead, with WAL: the
		 * new relfrozenxid will pass its xmin, so that it was aborted must
		 * not rest on the flag alone, which a reader may have set as a hint
		 * (then this page's WAL would not carry it, the byte being
		 * unchanged here, and a crash could lose it).  Readers skip dead
		 * line pointers, and so can take every normal one of an
		 * all-visible page without looking at the records.
		 */
		if (newflag == TREC_XMIN_INVALID)
			ItemIdMarkDead(PageGetItemId(wpage, off));
	}

	/* the page's flags, if it is full and settled */
	want = TopicPageGetOpaque(wpage)->flags;
	if (settled && BlockNumberIsValid(TopicPageGetOpaque(wpage)->next))
		want |= TOPIC_PAGE_ALL_VISIBLE | (all_frozen ? TOPIC_PAGE_ALL_FROZEN : 0);
	if (want != TopicPageGetOpaque(wpage)->flags)
	{
		if (xs == NULL)
		{
			/* nothing else changes: a hint (see above) */
			TopicPageGetOpaque(page)->flags = want;
			MarkBufferDirtyHint(buf, true);
		}
		else
			TopicPageGetOpaque(wpage)->flags = want;
	}
	if (all_frozen && BlockNumberIsValid(TopicPageGetOpaque(wpage)->next))
		counters->frozen_pages++;
	if (froze && !counters->conflict_logged)
	{
		/*
		 * Frozen records are visible to every snapshot, also to a standby's
		 * that began before they committed: before the first freeze reaches
		 * a standby, its snapshots older than the freeze limit must go, as
		 * for heap's freeze records.  Once per VACUUM is enough: a snapshot
		 * a standby takes after this record sees every transaction before
		 * the freeze limit as finished, since all had finished here.
		 */
		TransactionId horizon = freeze_limit;

		TransactionIdRetreat(horizon);
		topic_xlog_snapshot_conflict(rel, horizon);
		counters->conflict_logged = true;
	}
	if (xs)
		GenericXLogFinish(xs);
	return all_frozen;
}

/*
 * Where a non-aggressive VACUUM starts reading partition p: after the last
 * of the pages from "start" on that it finds already flagged all-visible.
 * VACUUM flags pages in chain order, as their records settle, so the
 * flagged ones form a prefix of the pages VACUUM still reads (the pages
 * after frozen_upto); the boundary is found by a binary search over seqs,
 * through the directory, reading a few dozen pages instead of all of them.
 * A flagged page holds no aborted record with a normal line pointer, so
 * what a skipped page may still need is freezing, once its records pass the
 * freeze age: the next aggressive VACUUM (vacuum_freeze_table_age, VACUUM
 * FREEZE, anti-wraparound autovacuum) reads every page after frozen_upto
 * and does it, as heap's aggressive VACUUM reads the all-visible pages its
 * others skip.  Where the flags are not a prefix (a crash lost some, or a
 * long-running transaction held a page back), the search may pass an
 * unflagged page: readers check its records one by one until an aggressive
 * VACUUM flags it.  Retention, which frees pages, cannot run beside VACUUM
 * (both take ShareUpdateExclusiveLock), so the partition's state read at
 * the start serves every probe: appends only add pages after next_seq, and
 * a directory root they split since still leads to every entry through
 * the right-links.
 */
static inline bool
page_flagged(Page page)
{
	return TopicPageAllVisible(page) && BlockNumberIsValid(TopicPageGetOpaque(page)->next);
}

static BlockNumber
first_unflagged_page(Relation rel, int32 p, BlockNumber start, TopicPartitionState *state,
					 int64 next_seq, BufferAccessStrategy bstrategy)
{
	BlockNumber lo_next;
	int64		lo_end;
	int64		hi_seq = next_seq;
	Buffer		buf;
	Page		page;
	TopicPageOpaque opaque;
	int			probes;

	buf = topic_lock_data_page(rel, start, p, BUFFER_LOCK_SHARE, bstrategy);
	page = BufferGetPage(buf);
	opaque = TopicPageGetOpaque(page);
	if (!page_flagged(page))
	{
		UnlockReleaseBuffer(buf);
		return start;
	}
	lo_end = opaque->first_seq + PageGetMaxOffsetNumber(page);
	lo_next = opaque->next;
	UnlockReleaseBuffer(buf);

	/* bounded, like the tree's depth: 64 halvings cover any int64 range */
	for (probes = 0; probes < 64 && lo_end < hi_seq; probes++)
	{
		int64		mid = lo_end + (hi_seq - lo_end) / 2;
		BlockNumber blkno;

		vacuum_delay_point();
		blkno = topic_find_page(rel, p, mid, state);
		if (!BlockNumberIsValid(blkno))
		{
			hi_seq = mid;
			continue;
		}
		buf = topic_lock_data_page(rel, blkno, p, BUFFER_LOCK_SHARE, bstrategy);
		page = BufferGetPage(buf);
		opaque = TopicPageGetOpaque(page);
		if (opaque->first_seq >= lo_end && page_flagged(page))
		{
			/* flagged: the boundary is after it */
			lo_end = opaque->first_seq + PageGetMaxOffsetNumber(page);
			lo_next = opaque->next;
		}
		else if (opaque->first_seq <= mid)
			hi_seq = Max(opaque->first_seq, lo_end);	/* at or before it */
		else
			hi_seq = mid;		/* mid fell in a gap before this page */
		UnlockReleaseBuffer(buf);
	}
	return lo_next;
}

static void
set_frozen_upto(TopicPartitionState *state, void *arg)
{
	state->frozen_upto = *(BlockNumber *) arg;
}

void
topic_vacuum_rel(Relation rel, struct VacuumParams *params,
				 BufferAccessStrategy bstrategy)
{
	TransactionId oldest_xmin;
	MultiXactId oldest_mxact;
	TransactionId freeze_limit;
	MultiXactId multi_cutoff;
	VacuumCounters counters;
	TopicRelCache *cache;
	int			npartitions;
	int			p;
	BlockNumber nblocks;
	TransactionId new_frozen_xid;
	bool		aggressive;
	bool		skipped = false;

	aggressive = vacuum_set_xid_limits(rel,
						  params->freeze_min_age,
						  params->freeze_table_age,
						  params->multixact_freeze_min_age,
						  params->multixact_freeze_table_age,
						  &oldest_xmin, &oldest_mxact,
						  &freeze_limit, &multi_cutoff);

	memset(&counters, 0, sizeof(counters));
	counters.oldest_unfrozen = InvalidTransactionId;

	cache = topic_get_cache(rel);
	npartitions = cache->npartitions;
	for (p = 0; p < npartitions; p++)
	{
		TopicPartitionState state;
		BlockNumber start;
		BlockNumber blkno;
		BlockNumber new_frozen_upto;
		bool		prefix_frozen = true;
		int64		next_seq;

		next_seq = topic_partition_next_seq(rel, p, &state);
		counters.total += (double) (next_seq - state.log_start_seq);
		start = BlockNumberIsValid(state.frozen_upto) ? state.frozen_upto : state.head;
		blkno = new_frozen_upto = start;

		/*
		 * Like heap's VACUUM with its visibility map, a non-aggressive one
		 * skips the pages already flagged all-visible; it then cannot know
		 * the oldest xmin left unfrozen, and leaves relfrozenxid as it is.
		 */
		if (!aggressive && BlockNumberIsValid(start))
		{
			blkno = first_unflagged_page(rel, p, start, &state, next_seq, bstrategy);
			if (blkno != start)
			{
				skipped = true;
				prefix_frozen = false;
			}
		}

		while (BlockNumberIsValid(blkno))
		{
			Buffer		buf;
			Page		page;
			BlockNumber next;
			bool		all_frozen;

			vacuum_delay_point();
			buf = topic_lock_data_page(rel, blkno, p, BUFFER_LOCK_EXCLUSIVE, bstrategy);
			page = BufferGetPage(buf);
			all_frozen = freeze_page(rel, buf, oldest_xmin, freeze_limit, &counters);
			next = TopicPageGetOpaque(page)->next;
			UnlockReleaseBuffer(buf);

			/* a full, all-frozen page is never read by VACUUM again */
			if (prefix_frozen && all_frozen && BlockNumberIsValid(next))
				new_frozen_upto = next;
			else
				prefix_frozen = false;
			blkno = next;
		}

		/* only when it moved: a VACUUM that froze nothing writes nothing */
		if (new_frozen_upto != start && BlockNumberIsValid(new_frozen_upto))
			topic_update_state(rel, p, set_frozen_upto, &new_frozen_upto);
	}

	new_frozen_xid = oldest_xmin;
	if (TransactionIdIsValid(counters.oldest_unfrozen) &&
		TransactionIdPrecedes(counters.oldest_unfrozen, new_frozen_xid))
		new_frozen_xid = counters.oldest_unfrozen;
	if (skipped)
		new_frozen_xid = InvalidTransactionId;	/* unknown: left as it is */

	nblocks = RelationGetNumberOfBlocks(rel);
	vac_update_relstats(rel, nblocks, counters.total, 0, false,
						new_frozen_xid, oldest_mxact, NULL, NULL, false);
	pgstat_report_vacuum(RelationGetRelid(rel), rel->rd_rel->relisshared,
						 (PgStat_Counter) counters.total, 0);

	ereport(params->options & VACOPT_VERBOSE ? INFO : DEBUG2,
			(errmsg("topic \"%s\": %d partitions, %.0f records stored, %.0f examined, %u pages all-frozen; relfrozenxid %s",
					RelationGetRelationName(rel), npartitions, counters.total, counters.records,
					counters.frozen_pages,
					skipped ? "unchanged (all-visible pages skipped)" :
					psprintf("%u", new_frozen_xid))));
}
