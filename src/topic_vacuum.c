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

#include "access/detoast.h"
#include "access/generic_xlog.h"
#include "access/multixact.h"
#include "access/transam.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

typedef struct VacuumCounters
{
	double		records;		/* records examined */
	double		total;			/* records stored (seq slots in use) */
	BlockNumber frozen_pages;
	TransactionId oldest_unfrozen;
	bool		conflict_logged;	/* standbys told of the freeze horizon */
} VacuumCounters;

/*
 * Frozen records are visible to every snapshot, also to a standby's that
 * began before they committed: before the first freeze reaches a standby,
 * its snapshots older than the freeze limit must go, as for heap's freeze
 * records.  Once per VACUUM is enough: a snapshot a standby takes after this
 * record sees every transaction before the freeze limit as finished, since
 * all had finished here.
 */
static void
log_freeze_conflict(Relation rel, TransactionId freeze_limit)
{
	TransactionId horizon = freeze_limit;

	TransactionIdRetreat(horizon);
	topic_xlog_snapshot_conflict(rel, horizon);
}

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
		log_freeze_conflict(rel, freeze_limit);
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

	/* before relfrozenxid can pass the xid of a growth (see pg_topics.h) */
	topic_settle_growth(rel);

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

	/*
	 * Free pages stamped by a removal whose transaction did not commit: the
	 * next removal deletes their records' out-of-line values, and must
	 * still find the stamp's status (see topic_retention.c).
	 */
	{
		TransactionId pending = topic_vacuum_free_lists(rel, npartitions);

		if (TransactionIdIsValid(pending) && TransactionIdPrecedes(pending, new_frozen_xid))
			new_frozen_xid = pending;

		/*
		 * Say so once the stamp is older than the freeze limit: the
		 * maintenance worker settles it when the topic's relfrozenxid is
		 * due for an aggressive VACUUM, but not when it is off, and VACUUM
		 * itself deletes nothing (it has no transaction id to do it with).
		 */
		if (TransactionIdIsValid(pending) && TransactionIdPrecedes(pending, freeze_limit))
			ereport(WARNING,
					(errmsg("relfrozenxid of topic \"%s\" is held back by a removal of records that did not commit",
							RelationGetRelationName(rel)),
					 errdetail("Transaction %u removed records of the topic and did not commit; "
							   "until the next run of retention or compaction deletes their out-of-line values, "
							   "relfrozenxid stays at or before it.",
							   pending),
					 errhint("Run SELECT topics.maintain(%s).",
							 quote_literal_cstr(quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
																		   RelationGetRelationName(rel))))));
	}
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

/* ------------------------------------------------------------------------
 * VACUUM FULL
 * ------------------------------------------------------------------------
 */

/* Records copied per append: a few pages' worth, in their own context. */
#define FULL_BATCH_RECORDS	1024
#define FULL_BATCH_BYTES	(4 * 1024 * 1024)

typedef struct FullCopy
{
	Relation	new_rel;
	MemoryContext batch_cxt;
	TopicNewRecord *recs;
	int			nrecs;
	Size		bytes;
	TransactionId freeze_limit;
	bool		froze;			/* a record written frozen */
} FullCopy;

static void
full_flush(FullCopy *copy)
{
	if (copy->nrecs == 0)
		return;
	topic_append(copy->new_rel, copy->recs, copy->nrecs, GetCurrentCommandId(true));
	copy->nrecs = 0;
	copy->bytes = 0;
	MemoryContextReset(copy->batch_cxt);
}

/*
 * A field of a stored record, copied.  One TOAST keeps out of line is
 * fetched and decompressed, so that topic_record_fit can store it out of
 * line again (it compresses and moves only plain fields); one compressed
 * inline stays so.
 */
static struct varlena *
full_field(Datum d)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(d);

	if (VARATT_IS_EXTERNAL(v))
		return detoast_attr(v);
	return (struct varlena *) DatumGetPointer(datumCopy(d, false, -1));
}

/*
 * Queue a copy of a committed record, or, when dead, a placeholder (no
 * fields, a dead line pointer) that keeps its seq in use.
 */
static void
full_add(FullCopy *copy, const TopicRecord *rec, bool dead)
{
	MemoryContext old = MemoryContextSwitchTo(copy->batch_cxt);
	TopicNewRecord *nr = &copy->recs[copy->nrecs];

	memset(nr, 0, sizeof(TopicNewRecord));
	nr->partition = rec->partition;
	nr->seq = rec->seq;
	nr->ts_given = true;
	nr->ts = rec->ts;
	if (dead)
	{
		/* no xmin: this transaction's, under a dead line pointer */
		nr->xmin_flags = TREC_XMIN_INVALID;
		nr->dead = true;
	}
	else
	{
		nr->xmin = rec->xmin;
		nr->cid = rec->cid;
		if (!(rec->flags & TREC_NULL_KEY))
			nr->key = full_field(rec->key);
		if (!(rec->flags & TREC_NULL_VALUE))
			nr->value = full_field(rec->value);
		if (!(rec->flags & TREC_NULL_HEADERS))
			nr->headers = full_field(rec->headers);

		/* the new relfrozenxid is the freeze limit: nothing older unfrozen */
		if ((rec->flags & TREC_XMIN_FROZEN) ||
			TransactionIdPrecedes(rec->xmin, copy->freeze_limit))
		{
			nr->xmin_flags = TREC_XMIN_FROZEN;
			copy->froze = true;
		}
		else
			nr->xmin_flags = TREC_XMIN_COMMITTED;
	}
	topic_record_fit(copy->new_rel, nr);
	MemoryContextSwitchTo(old);

	copy->bytes += nr->itemsz;
	if (++copy->nrecs >= FULL_BATCH_RECORDS || copy->bytes >= FULL_BATCH_BYTES)
		full_flush(copy);
}

/*
 * VACUUM FULL (relation_copy_for_cluster; a topic has no index to CLUSTER
 * on): copy the committed records into the new storage that will replace
 * the old, with their partitions, seqs, timestamps and xmins, leaving out
 * the aborted ones and those compaction removed.  Their seqs become unused
 * line pointers, four bytes each instead of the record, so this is how the
 * space of a compacted topic's middle pages comes back.  Every partition
 * keeps its log start and its next seq: aborted records at its end leave
 * one placeholder with a dead line pointer, as seqs are never reused (a
 * consumer may have moved past them).  Fields TOAST keeps out of line are
 * fetched and stored again into the new TOAST relation.  Records whose xmin
 * precedes freeze_limit (the new relfrozenxid) are written frozen, the
 * others with their xmin, hinted committed; no transaction can be adding
 * records, as the caller holds AccessExclusiveLock.
 *
 * Not MVCC-safe, as for heap: a snapshot older than the rewrite sees the
 * frozen records.  Standbys are told of the freeze limit before it
 * commits, as for VACUUM's freezing.
 */
void
topic_vacuum_full(Relation old_rel, Relation new_rel, TransactionId freeze_limit,
				  double *num_tuples, double *tups_vacuumed)
{
	int			npartitions;
	TopicPartitionState *states = topic_read_all_states(old_rel, &npartitions);
	TopicPartitionState *start = palloc(sizeof(TopicPartitionState) * npartitions);
	BufferAccessStrategy bstrategy = GetAccessStrategy(BAS_BULKREAD);
	FullCopy	copy;
	int			p;

	/*
	 * The new storage, empty and just created in this transaction: made
	 * again with the old partition count, each partition empty at its log
	 * start.
	 */
	for (p = 0; p < npartitions; p++)
		start[p].next_seq_base = states[p].log_start_seq;
	topic_reset_storage(new_rel, start, npartitions);

	memset(&copy, 0, sizeof(copy));
	copy.new_rel = new_rel;
	copy.freeze_limit = freeze_limit;
	copy.batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "topic VACUUM FULL",
										   ALLOCSET_DEFAULT_SIZES);
	copy.recs = palloc(sizeof(TopicNewRecord) * FULL_BATCH_RECORDS);
	*num_tuples = 0;
	*tups_vacuumed = 0;

	for (p = 0; p < npartitions; p++)
	{
		int64		next_seq = states[p].next_seq_base;
		int64		copied_to = states[p].log_start_seq;	/* next seq in use */
		TimestampTz last_ts = 0;
		BlockNumber blkno = states[p].head;

		while (BlockNumberIsValid(blkno))
		{
			Buffer		buf = topic_lock_data_page(old_rel, blkno, p, BUFFER_LOCK_SHARE,
												   bstrategy);
			Page		page = BufferGetPage(buf);
			OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
			OffsetNumber off;

			/*
			 * Under ACCESS EXCLUSIVE nothing changes the page (this copy sets
			 * no hints on it): the pin is enough to read it while appending
			 * to the new storage and fetching values from TOAST, which must
			 * not happen under a buffer lock.
			 */
			LockBuffer(buf, BUFFER_LOCK_UNLOCK);
			vacuum_delay_point();
			for (off = FirstOffsetNumber; off <= maxoff; off++)
			{
				ItemId		itemid = PageGetItemId(page, off);
				TopicRecord rec;
				TopicRecordStatus status;

				if (!ItemIdIsNormal(itemid))
				{
					/* removed by compaction, or an aborted record VACUUM marked */
					if (ItemIdIsDead(itemid))
						*tups_vacuumed += 1;
					continue;
				}
				topic_record_decode(page, off, &rec);
				if (rec.seq < states[p].log_start_seq)
					continue;	/* before the log start: gone already */
				last_ts = Max(last_ts, rec.ts);

				/* no hints on the page, which is not locked */
				status = topic_record_status_now(InvalidBuffer, (char *) PageGetItem(page, itemid));
				if (status == TREC_IN_PROGRESS)
					elog(ERROR, "record " INT64_FORMAT " of partition %d of topic \"%s\" belongs to running transaction %u",
						 rec.seq, p, RelationGetRelationName(old_rel), rec.xmin);
				if (status == TREC_ABORTED)
				{
					*tups_vacuumed += 1;
					continue;
				}
				full_add(&copy, &rec, false);
				*num_tuples += 1;
				copied_to = rec.seq + 1;
			}
			blkno = TopicPageGetOpaque(page)->next;

			/* the batch's fields are copies: the page may go */
			ReleaseBuffer(buf);
		}

		/*
		 * Seqs are never reused: when the partition ends with records left
		 * out, a placeholder takes its last seq (with the partition's latest
		 * ts, which keeps time seeks' floors as they were).
		 */
		if (copied_to < next_seq)
		{
			TopicRecord placeholder;

			memset(&placeholder, 0, sizeof(placeholder));
			placeholder.partition = p;
			placeholder.seq = next_seq - 1;
			placeholder.ts = last_ts;
			full_add(&copy, &placeholder, true);
		}
		full_flush(&copy);
	}

	if (copy.froze)
		log_freeze_conflict(new_rel, freeze_limit);

	FreeAccessStrategy(bstrategy);
	MemoryContextDelete(copy.batch_cxt);
	pfree(copy.recs);
	pfree(start);
	pfree(states);
}
