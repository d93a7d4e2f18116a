/*-------------------------------------------------------------------------
 *
 * topic_directory.c
 *	  The per-partition directory: an append-only B-link tree mapping the
 *	  first seq of every data page to its block.
 *
 * Keys only ever arrive in increasing order, so the tree only grows at its
 * right edge: an entry goes into the rightmost page of a level, a full page
 * gets a right sibling, and the sibling's first key goes one level up (a new
 * root when the level had none).  Every page carries a right-link to its
 * sibling, as in Lehman and Yao's B-link trees, which gives two properties:
 *
 *	- a reader holds one page lock at a time and can never miss a page: if the
 *	  key it looks for is at or past the right sibling's first key, it moves
 *	  right;
 *	- each step of a split is its own generic WAL record (a record covers at
 *	  most four pages).  If a crash (or an error, such as running out of
 *	  disk for the parent's new page) leaves a sibling without its parent
 *	  entry, readers reach it through the right-link, and the partition's
 *	  next append makes the entry: as with nbtree's incomplete splits, the
 *	  new half carries a flag until its parent entry exists (see
 *	  dir_finish_split).
 *
 * Entries are stored as an array in the page contents; pd_lower marks the end
 * of the array, so full page images omit the free space.
 *
 * Only the holder of the partition's tail page lock appends to its directory
 * (see pg_topics.h), so appends of one partition never race each other.
 *
 * Retention trims the tree from the left (topic_dir_trim): once every data
 * page a leaf leads to is removed, the leaf goes to the partition's free
 * list like a removed data page, and its parent counts it as trimmed (the
 * opaque's first_seq field of a directory page, unused otherwise, holds the
 * number of its leading entries whose children are gone); a page whose
 * children are all gone goes the same way, one level up.  So the directory
 * stays proportional to the data the partition keeps, not to everything it
 * ever held.  Entries are never moved, so searches are unchanged; a search
 * that chooses a trimmed entry is below the log start and answers "before
 * everything" (the caller reads from the head).
 *
 * New directory pages, like new data pages, come from the free list first.
 * A search may therefore reach, through a block number it read before the
 * page was freed, a page that is now a data page, a free page, or a
 * directory page at another level or place: the first three it recognises
 * and starts over from the partition's state.  The last cannot mislead it:
 * it went there for a key in a part of the tree retention trimmed, which
 * precedes every key of a page made since, so the page answers "before
 * everything" too (see dir_lookup).
 *
 *-------------------------------------------------------------------------
 */
#include "pg_topics.h"

#include "access/generic_xlog.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"

#define DIR_CAPACITY	TOPIC_DIR_CAPACITY

/* entries a page takes before it splits: all that fit, unless testing */
int			topics_directory_fanout = DIR_CAPACITY;

/* tests: the level at which a split fails after its first WAL record */
int			topics_debug_fail_in_split = -1;

/* leading entries of a directory page whose children retention freed */
#define DIR_TRIMMED(page)	(TopicPageGetOpaque(page)->first_seq)

/* searches that start over after meeting freed pages, before giving up */
#define DIR_MAX_RESTARTS	3

static inline TopicDirEntry *
dir_entries(Page page)
{
	return (TopicDirEntry *) PageGetContents(page);
}

static inline int
dir_count(Page page)
{
	return (int) ((((PageHeader) page)->pd_lower -
				   ((char *) PageGetContents(page) - (char *) page)) /
				  sizeof(TopicDirEntry));
}

static void
dir_page_init(Page page, int32 partition, int level)
{
	topic_page_init(page, TOPIC_PAGE_DIR, partition);
	TopicPageGetOpaque(page)->level = level;
	((PageHeader) page)->pd_lower = (char *) PageGetContents(page) - (char *) page;
}

static inline bool
dir_full(Page page)
{
	return dir_count(page) >= Min(topics_directory_fanout, DIR_CAPACITY);
}

static void
dir_page_add(Page page, const TopicDirEntry *entry)
{
	int			n = dir_count(page);

	Assert(n < DIR_CAPACITY);
	dir_entries(page)[n] = *entry;
	((PageHeader) page)->pd_lower += sizeof(TopicDirEntry);
}

/* Whether page is a directory page of "partition" (at "level" if >= 0). */
static bool
dir_page_is(Page page, int32 partition, int level)
{
	TopicPageOpaque opaque = TopicPageGetOpaque(page);

	return topic_page_is_ours(page) && opaque->kind == TOPIC_PAGE_DIR &&
		opaque->partition == partition && (level < 0 || opaque->level == level);
}

/*
 * Read and lock a directory page of "partition" (at "level", unless level is
 * negative).  Anything but a topic page is corruption.  A topic page that is
 * not such a directory page is corruption too, unless stale_ok: a search
 * reaches pages through block numbers that may be stale (the page freed by
 * topic_dir_trim since, perhaps reused), and gets InvalidBuffer, with
 * nothing locked, for those.
 */
static Buffer
dir_lock(Relation rel, BlockNumber blkno, int32 partition, int mode, int level,
		 bool stale_ok)
{
	Buffer		buf = ReadBuffer(rel, blkno);
	Page		page;

	LockBuffer(buf, mode);
	page = BufferGetPage(buf);
	if (dir_page_is(page, partition, level))
		return buf;
	if (!stale_ok || !topic_page_is_ours(page))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("topic \"%s\" has an invalid directory page at block %u",
						RelationGetRelationName(rel), blkno)));
	UnlockReleaseBuffer(buf);
	return InvalidBuffer;
}

/* A directory page reached through the tree's own links, which are live. */
static Buffer
dir_read(Relation rel, BlockNumber blkno, int32 partition, int mode)
{
	return dir_lock(rel, blkno, partition, mode, -1, false);
}

/* A directory page a search reached: InvalidBuffer if freed since. */
static Buffer
dir_read_live(Relation rel, BlockNumber blkno, int32 partition, uint32 level)
{
	return dir_lock(rel, blkno, partition, BUFFER_LOCK_SHARE, (int) level, true);
}

/*
 * Whether an entry lies at or before the search key: by seq (entry seq <=
 * key), or by time (entry ts_floor < key: every record before the child has
 * a smaller timestamp).  Both orders are monotonic along the directory.
 */
static inline bool
dir_entry_before(const TopicDirEntry *e, int64 key, bool by_ts)
{
	return by_ts ? e->ts_floor < key : e->seq <= key;
}

/* index of the last entry at or before the key, or -1 */
static int
dir_search(Page page, int64 key, bool by_ts)
{
	TopicDirEntry *e = dir_entries(page);
	int			lo = 0;
	int			hi = dir_count(page) - 1;
	int			result = -1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (dir_entry_before(&e[mid], key, by_ts))
		{
			result = mid;
			lo = mid + 1;
		}
		else
			hi = mid - 1;
	}
	return result;
}

/*
 * The data page whose first seq is the largest one <= key (by_ts false), or
 * the last data page whose ts_floor is < key (by_ts true), as far as the
 * directory knows; InvalidBlockNumber when the key precedes every entry
 * still in the tree (the caller then reads from the head).  The page
 * returned may have been removed since: callers check.
 *
 * A page freed under the search (see the head of this file) sends it back
 * to the partition's state, as does a "before everything" answer reached
 * from a root that is no longer the root: a search that read the state long
 * ago could otherwise take a page reused at the old root's level for the
 * root, and read the partition from its head when the directory knows
 * better.  Each start over needs retention to have freed pages meanwhile;
 * after a few, the head is a correct answer too.
 */
static BlockNumber
dir_lookup(Relation rel, int32 partition, const TopicPartitionState *state,
		   int64 seq, bool by_ts, int64 *entry_seq)
{
	BlockNumber root = state->dir_root;
	uint32		root_level = state->dir_level;
	BlockNumber blkno = root;
	uint32		level = root_level;
	int			restarts = 0;

	for (;;)
	{
		Buffer		buf = InvalidBuffer;
		Page		page;
		int			idx;
		int			n;
		int64		trimmed;
		BlockNumber right;
		BlockNumber child;
		int64		child_seq;

		if (BlockNumberIsValid(blkno))
			buf = dir_read_live(rel, blkno, partition, level);
		if (!BufferIsValid(buf))
		{
			TopicPartitionState fresh;

			/* freed under us, or "before everything": look again from the state */
			if (++restarts > DIR_MAX_RESTARTS)
				return InvalidBlockNumber;
			topic_get_state(rel, partition, &fresh);
			if (!BlockNumberIsValid(blkno) && fresh.dir_root == root)
				return InvalidBlockNumber;	/* the answer stands */
			blkno = root = fresh.dir_root;
			level = root_level = fresh.dir_level;
			if (!BlockNumberIsValid(root))
				return InvalidBlockNumber;
			continue;
		}
		page = BufferGetPage(buf);
		idx = dir_search(page, seq, by_ts);
		n = dir_count(page);
		trimmed = DIR_TRIMMED(page);
		right = TopicPageGetOpaque(page)->next;
		child = idx >= 0 ? dir_entries(page)[idx].blkno : InvalidBlockNumber;
		child_seq = idx >= 0 ? dir_entries(page)[idx].seq : -1;
		UnlockReleaseBuffer(buf);

		/* B-link rule: the key may live to the right of this page */
		if (BlockNumberIsValid(right) && (idx == n - 1))
		{
			Buffer		rbuf = dir_read_live(rel, right, partition, level);
			bool		go_right = false;

			if (BufferIsValid(rbuf))
			{
				Page		rpage = BufferGetPage(rbuf);

				go_right = dir_count(rpage) > 0 &&
					dir_entry_before(&dir_entries(rpage)[0], seq, by_ts);
				UnlockReleaseBuffer(rbuf);
			}
			if (go_right)
			{
				blkno = right;
				continue;
			}
		}

		if (level == 0 && BlockNumberIsValid(child))
		{
			if (entry_seq)
				*entry_seq = child_seq;
			return child;
		}

		/* before every entry, or in a part retention trimmed away */
		if (!BlockNumberIsValid(child) || idx < trimmed)
		{
			blkno = InvalidBlockNumber;
			continue;
		}
		blkno = child;
		level--;
	}
}

BlockNumber
topic_dir_lookup(Relation rel, int32 partition, const TopicPartitionState *state,
				 int64 seq, int64 *entry_seq)
{
	return dir_lookup(rel, partition, state, seq, false, entry_seq);
}

BlockNumber
topic_dir_lookup_ts(Relation rel, int32 partition, const TopicPartitionState *state,
					TimestampTz ts)
{
	return dir_lookup(rel, partition, state, (int64) ts, true, NULL);
}

/*
 * The rightmost page at "level", following right-links at every level.  A
 * page on the way whose split was never finished (see dir_finish_split) is
 * reported in *incomplete, with its level (there is at most one: every step
 * of a split finishes the previous one).
 */
static BlockNumber
dir_rightmost(Relation rel, int32 partition, BlockNumber root, int level,
			  BlockNumber *incomplete, int *incomplete_level)
{
	BlockNumber blkno = root;

	if (incomplete)
		*incomplete = InvalidBlockNumber;
	for (;;)
	{
		Buffer		buf = dir_read(rel, blkno, partition, BUFFER_LOCK_SHARE);
		Page		page = BufferGetPage(buf);
		TopicPageOpaque opaque = TopicPageGetOpaque(page);
		int			n = dir_count(page);

		if (incomplete && (opaque->flags & TOPIC_PAGE_SPLIT_INCOMPLETE))
		{
			*incomplete = blkno;
			*incomplete_level = opaque->level;
		}
		if (BlockNumberIsValid(opaque->next))
		{
			blkno = opaque->next;
			UnlockReleaseBuffer(buf);
			continue;
		}
		if (opaque->level == level)
		{
			UnlockReleaseBuffer(buf);
			return blkno;
		}
		Assert(n > 0);

		/*
		 * The last entry leads to the right edge of the level below, which
		 * retention never frees (topic_dir_trim).  Builds before 0.17 could
		 * free it after a split cut short; following the entry then reached
		 * a reused page, which the caller may hold as its new tail page, and
		 * waited for its own lock for good.  Fail instead.
		 */
		if (n - 1 < DIR_TRIMMED(page))
		{
			UnlockReleaseBuffer(buf);
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("directory of partition %d of topic \"%s\" has lost its right edge",
							partition, RelationGetRelationName(rel)),
					 errdetail("Directory page %u at level %u leads only to freed pages.",
							   blkno, opaque->level),
					 errhint("Run VACUUM FULL on the topic to rebuild its directories.")));
		}
		blkno = dir_entries(page)[n - 1].blkno;
		UnlockReleaseBuffer(buf);
	}
}

/*
 * Lock a page whose parent entry is being made, to clear its
 * split-incomplete flag in the same WAL record; InvalidBuffer for none.
 */
static Buffer
dir_lock_child(Relation rel, int32 partition, BlockNumber child)
{
	Buffer		buf;

	if (!BlockNumberIsValid(child))
		return InvalidBuffer;
	buf = dir_read(rel, child, partition, BUFFER_LOCK_EXCLUSIVE);
	if (!(TopicPageGetOpaque(BufferGetPage(buf))->flags & TOPIC_PAGE_SPLIT_INCOMPLETE))
		elog(ERROR, "directory page %u of topic \"%s\" has no split to finish",
			 child, RelationGetRelationName(rel));
	return buf;
}

/*
 * In a critical section: clear "flag" on the page of buf, if there is one,
 * and describe the change in changes[*n].  A page whose parent entry is
 * being made loses TOPIC_PAGE_SPLIT_INCOMPLETE, a data page whose entry is
 * TOPIC_PAGE_NO_DIR_ENTRY.
 */
static void
dir_clear_flag(Buffer buf, uint16 flag, TopicPageChange *changes, int *n)
{
	TopicPageOpaque opaque;

	if (!BufferIsValid(buf))
		return;
	opaque = TopicPageGetOpaque(BufferGetPage(buf));
	opaque->flags &= ~flag;
	MarkBufferDirty(buf);
	topic_change_init(&changes[*n], buf);
	topic_change_add(&changes[*n], &opaque->flags, sizeof(opaque->flags));
	(*n)++;
}

/*
 * In a critical section, after a change that took a page from the free list
 * or the end of the file: log changes[0..n) (room for two more), the
 * partition's state slot st and the child's flag, if any, in one record.
 */
static void
dir_log_with_state(Relation rel, TopicPageChange *changes, int n,
				   Buffer statebuf, TopicPartitionState *st, Buffer childbuf)
{
	MarkBufferDirty(statebuf);
	topic_change_init(&changes[n], statebuf);
	topic_change_add(&changes[n], st, sizeof(TopicPartitionState));
	n++;
	dir_clear_flag(childbuf, TOPIC_PAGE_SPLIT_INCOMPLETE, changes, &n);
	topic_xlog_changes(rel, changes, n);
}

/*
 * A new root above every page of the current top level (the old root and
 * its new sibling, whose split this finishes; more only where a crash under
 * an earlier build, which did not flag splits, left a sibling without its
 * entry), made the
 * partition's root in the same WAL record.
 * The top level's first keys are read first, holding no other lock: they
 * never change, and only we (the appender) add pages to that level.
 */
static void
dir_new_root(Relation rel, int32 partition, const TopicPartitionState *state)
{
	TopicDirEntry *entries = palloc(sizeof(TopicDirEntry) * DIR_CAPACITY);
	int			n = 0;
	BlockNumber blkno = state->dir_root;
	BlockNumber incomplete = InvalidBlockNumber;
	Buffer		rootbuf;
	Buffer		statebuf;
	Buffer		childbuf;
	BlockNumber free_next;
	int			idx;
	TopicPageChange changes[3];
	Page		page;
	TopicPartitionState *st;
	int			i;

	while (BlockNumberIsValid(blkno) && n < DIR_CAPACITY)
	{
		Buffer		buf = dir_read(rel, blkno, partition, BUFFER_LOCK_SHARE);
		Page		child = BufferGetPage(buf);

		if (dir_count(child) > 0)
		{
			entries[n] = dir_entries(child)[0];
			entries[n++].blkno = blkno;
		}
		if (TopicPageGetOpaque(child)->flags & TOPIC_PAGE_SPLIT_INCOMPLETE)
			incomplete = blkno;
		blkno = TopicPageGetOpaque(child)->next;
		UnlockReleaseBuffer(buf);
	}

	rootbuf = topic_take_page(rel, partition, &statebuf, &idx, &free_next);
	childbuf = dir_lock_child(rel, partition, incomplete);
	page = BufferGetPage(rootbuf);
	st = topic_state_ptr(BufferGetPage(statebuf), idx);

	START_CRIT_SECTION();
	dir_page_init(page, partition, state->dir_level + 1);
	for (i = 0; i < n; i++)
		dir_page_add(page, &entries[i]);
	topic_free_list_popped(st, free_next);
	st->dir_root = BufferGetBlockNumber(rootbuf);
	st->dir_level = state->dir_level + 1;
	MarkBufferDirty(rootbuf);
	topic_change_init(&changes[0], rootbuf);
	dir_log_with_state(rel, changes, 1, statebuf, st, childbuf);
	END_CRIT_SECTION();
	if (BufferIsValid(childbuf))
		UnlockReleaseBuffer(childbuf);
	UnlockReleaseBuffer(statebuf);
	UnlockReleaseBuffer(rootbuf);
	pfree(entries);
}

/*
 * Add an entry at the right end of "level", whose rightmost page is blkno,
 * clearing the split-incomplete flag of "child" (the page the entry leads
 * to, when that page is the new half of a split) in the same WAL record.
 * When the page is full, a new right sibling takes the entry; it is flagged
 * split-incomplete until its own parent entry is made, and returned (else
 * InvalidBlockNumber).
 */
static BlockNumber
dir_add_entry(Relation rel, int32 partition, BlockNumber blkno,
			  const TopicDirEntry *entry, BlockNumber child, Buffer databuf)
{
	Buffer		buf = dir_read(rel, blkno, partition, BUFFER_LOCK_EXCLUSIVE);
	Page		page = BufferGetPage(buf);
	TopicPageOpaque opaque = TopicPageGetOpaque(page);
	int			level = opaque->level;
	Buffer		childbuf;
	Buffer		newbuf;
	Buffer		statebuf;
	BlockNumber free_next;
	BlockNumber newblkno;
	int			idx;
	Page		newpage;
	TopicPartitionState *st;
	TopicPageChange changes[4];
	int			nchanges;

	/* each case is one WAL record, from the bytes changed (see topic_xlog.c) */
	if (!dir_full(page))
	{
		uint16		old_lower = ((PageHeader) page)->pd_lower;

		childbuf = dir_lock_child(rel, partition, child);
		START_CRIT_SECTION();
		dir_page_add(page, entry);
		MarkBufferDirty(buf);
		topic_change_init(&changes[0], buf);
		topic_change_add(&changes[0], &((PageHeader) page)->pd_lower, sizeof(LocationIndex));
		topic_change_add(&changes[0], (char *) page + old_lower, sizeof(TopicDirEntry));
		nchanges = 1;
		dir_clear_flag(childbuf, TOPIC_PAGE_SPLIT_INCOMPLETE, changes, &nchanges);
		dir_clear_flag(databuf, TOPIC_PAGE_NO_DIR_ENTRY, changes, &nchanges);
		topic_xlog_changes(rel, changes, nchanges);
		END_CRIT_SECTION();
		if (BufferIsValid(childbuf))
			UnlockReleaseBuffer(childbuf);
		UnlockReleaseBuffer(buf);
		return InvalidBlockNumber;
	}

	/* full: start a right sibling holding the new entry (four pages at most) */
	newbuf = topic_take_page(rel, partition, &statebuf, &idx, &free_next);
	childbuf = dir_lock_child(rel, partition, child);
	newpage = BufferGetPage(newbuf);
	st = topic_state_ptr(BufferGetPage(statebuf), idx);
	START_CRIT_SECTION();
	topic_free_list_popped(st, free_next);
	dir_page_init(newpage, partition, level);
	TopicPageGetOpaque(newpage)->flags |= TOPIC_PAGE_SPLIT_INCOMPLETE;
	dir_page_add(newpage, entry);
	opaque->next = BufferGetBlockNumber(newbuf);
	MarkBufferDirty(buf);
	MarkBufferDirty(newbuf);
	topic_change_init(&changes[0], buf);
	topic_change_add(&changes[0], &opaque->next, sizeof(BlockNumber));
	topic_change_init(&changes[1], newbuf);
	nchanges = 2;
	/* a data page's entry is a leaf's, where there is no child to clear */
	Assert(!BufferIsValid(databuf) || !BufferIsValid(childbuf));
	dir_clear_flag(databuf, TOPIC_PAGE_NO_DIR_ENTRY, changes, &nchanges);
	dir_log_with_state(rel, changes, nchanges, statebuf,
					   st, childbuf);
	END_CRIT_SECTION();

	newblkno = BufferGetBlockNumber(newbuf);
	if (BufferIsValid(childbuf))
		UnlockReleaseBuffer(childbuf);
	UnlockReleaseBuffer(statebuf);
	UnlockReleaseBuffer(newbuf);
	UnlockReleaseBuffer(buf);

	if (topics_debug_fail_in_split == level)
	{
		/*
		 * For tests: fail between the split and its parent entry, as running
		 * out of disk space for the parent's new page would, with the split
		 * flushed to WAL so that a crash now recovers the same state.
		 */
		XLogFlush(XactLastRecEnd);
		elog(ERROR, "pg_topics.debug_fail_in_split: failing after splitting directory page %u at level %d",
			 blkno, level);
	}
	return newblkno;
}

/*
 * Give the new right half of a split, blkno at "level", its parent entry:
 * one level up, or in a new root when the level was the top.  Adding the
 * entry may split the parent in turn, whose new half is finished next.
 *
 * Each step is its own WAL record and clears the flag of the page it links,
 * so after a crash or an error between two steps exactly one page carries
 * the flag; the
 * partition's next append meets it on its way down (dir_rightmost) and
 * finishes the split before adding anything, so every page gets its parent
 * entry, and retention can free it later like any other.
 */
static void
dir_finish_split(Relation rel, int32 partition, int level, BlockNumber blkno)
{
	while (BlockNumberIsValid(blkno))
	{
		TopicPartitionState state;
		TopicDirEntry up;
		Buffer		buf;

		buf = dir_read(rel, blkno, partition, BUFFER_LOCK_SHARE);
		Assert(dir_count(BufferGetPage(buf)) > 0);
		up = dir_entries(BufferGetPage(buf))[0];
		up.blkno = blkno;
		UnlockReleaseBuffer(buf);

		topic_get_state(rel, partition, &state);
		if (level >= (int) state.dir_level)
		{
			dir_new_root(rel, partition, &state);
			return;
		}
		blkno = dir_add_entry(rel, partition,
							  dir_rightmost(rel, partition, state.dir_root, level + 1,
											NULL, NULL),
							  &up, blkno, InvalidBuffer);
		level++;
	}
}

/*
 * Add the entry for a new data page, databuf, and clear its
 * TOPIC_PAGE_NO_DIR_ENTRY flag in the same WAL record.  Caller holds that
 * page, the partition's tail, exclusively (so it is the only one appending
 * to this directory) and no other lock.
 */
void
topic_dir_append(Relation rel, int32 partition, Buffer databuf)
{
	TopicPageOpaque dataopaque = TopicPageGetOpaque(BufferGetPage(databuf));
	TopicPartitionState state;
	TopicDirEntry entry;
	BlockNumber leaf;
	BlockNumber incomplete;
	int			incomplete_level;

	Assert(dataopaque->flags & TOPIC_PAGE_NO_DIR_ENTRY);
	memset(&entry, 0, sizeof(entry));
	entry.seq = dataopaque->first_seq;
	entry.ts_floor = dataopaque->ts_floor;
	entry.blkno = BufferGetBlockNumber(databuf);

	topic_get_state(rel, partition, &state);
	if (!BlockNumberIsValid(state.dir_root))
	{
		Buffer		statebuf;
		BlockNumber free_next;
		int			idx;
		Buffer		buf = topic_take_page(rel, partition, &statebuf, &idx, &free_next);
		GenericXLogState *xs = GenericXLogStart(rel);
		Page		page = GenericXLogRegisterBuffer(xs, buf, GENERIC_XLOG_FULL_IMAGE);
		Page		statepage = GenericXLogRegisterBuffer(xs, statebuf, 0);
		Page		datapage = GenericXLogRegisterBuffer(xs, databuf, 0);
		TopicPartitionState *st = topic_state_ptr(statepage, idx);

		TopicPageGetOpaque(datapage)->flags &= ~TOPIC_PAGE_NO_DIR_ENTRY;
		dir_page_init(page, partition, 0);
		dir_page_add(page, &entry);
		topic_free_list_popped(topic_state_ptr(statepage, idx), free_next);
		st->dir_root = BufferGetBlockNumber(buf);
		st->dir_level = 0;
		GenericXLogFinish(xs);
		UnlockReleaseBuffer(statebuf);
		UnlockReleaseBuffer(buf);
		return;
	}

	leaf = dir_rightmost(rel, partition, state.dir_root, 0, &incomplete, &incomplete_level);
	if (BlockNumberIsValid(incomplete))
	{
		/* a crash interrupted a split: finish it first */
		dir_finish_split(rel, partition, incomplete_level, incomplete);
		topic_get_state(rel, partition, &state);
		leaf = dir_rightmost(rel, partition, state.dir_root, 0, NULL, NULL);
	}
	dir_finish_split(rel, partition, 0,
					 dir_add_entry(rel, partition, leaf, &entry, InvalidBlockNumber,
								   databuf));
}

/*
 * Free one directory page of "partition" whose parent no longer needs it:
 * victim becomes a free page on the partition's free list, and its parent,
 * whose first untrimmed entry it is, counts one more trimmed entry; one WAL
 * record.  Returns false, changing nothing, when a search has the victim
 * pinned right now (the next run frees it) or the tree changed under us.
 */
static bool
dir_free_page(Relation rel, int32 partition, BlockNumber parent, BlockNumber victim,
			  uint32 level)
{
	Buffer		pbuf;
	Buffer		vbuf;
	Buffer		statebuf;
	Page		ppage;
	Page		vpage;
	Page		statepage;
	TopicPartitionState *st;
	GenericXLogState *xs;
	int64		t;
	int			idx;

	/* the freed page's stamp, before any page lock (see topic_retention.c) */
	(void) topic_removal_stamp(rel);
	pbuf = dir_read(rel, parent, partition, BUFFER_LOCK_EXCLUSIVE);
	ppage = BufferGetPage(pbuf);
	t = DIR_TRIMMED(ppage);
	if (t >= dir_count(ppage) || dir_entries(ppage)[t].blkno != victim)
	{
		UnlockReleaseBuffer(pbuf);
		return false;
	}

	/* a search holds a pin only while it reads the page: leave it be */
	vbuf = ReadBuffer(rel, victim);
	if (!ConditionalLockBufferForCleanup(vbuf))
	{
		ReleaseBuffer(vbuf);
		UnlockReleaseBuffer(pbuf);
		return false;
	}
	if (!dir_page_is(BufferGetPage(vbuf), partition, (int) level))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("topic \"%s\" has an invalid directory page at block %u",
						RelationGetRelationName(rel), victim)));

	/* directory pages, then the state page: the lock order of appends */
	statebuf = topic_lock_state_page(rel, partition, BUFFER_LOCK_EXCLUSIVE, &idx);
	xs = GenericXLogStart(rel);
	vpage = GenericXLogRegisterBuffer(xs, vbuf, GENERIC_XLOG_FULL_IMAGE);
	ppage = GenericXLogRegisterBuffer(xs, pbuf, 0);
	statepage = GenericXLogRegisterBuffer(xs, statebuf, 0);
	st = topic_state_ptr(statepage, idx);
	topic_free_list_push(rel, vpage, victim, partition, st);
	DIR_TRIMMED(ppage) = t + 1;
	GenericXLogFinish(xs);
	UnlockReleaseBuffer(statebuf);
	UnlockReleaseBuffer(vbuf);
	UnlockReleaseBuffer(pbuf);
	return true;
}

/*
 * Free the directory pages of "partition" that lead only to removed data
 * pages; live_seq is the first seq of the partition's head page, so every
 * data page starting below it is gone.  Walking down the first untrimmed
 * entry of each level from the root finds the leftmost page of every level
 * still in the tree; the first of them that is no longer needed goes, and
 * the walk starts again: a leaf when its right sibling starts at or before
 * live_seq, a page above when all its children are gone.  The root, the
 * rightmost page of each level and a page whose right sibling still waits
 * for its parent entry (a split cut short) always stay: each is the last
 * entry of its parent, on the way down to the right edge where appends go.
 * Returns the pages freed.
 *
 * The caller holds ShareUpdateExclusiveLock on the topic (retention), so
 * nobody else frees pages of this directory, and no buffer lock.
 */
int64
topic_dir_trim(Relation rel, int32 partition, int64 live_seq)
{
	int64		freed = 0;

	for (;;)
	{
		TopicPartitionState state;
		BlockNumber blkno;
		BlockNumber parent = InvalidBlockNumber;
		BlockNumber victim = InvalidBlockNumber;
		uint32		level;
		bool		parent_edge = false;

		CHECK_FOR_INTERRUPTS();
		topic_get_state(rel, partition, &state);
		if (!BlockNumberIsValid(state.dir_root) || state.dir_level == 0)
			break;

		blkno = state.dir_root;
		level = state.dir_level;
		for (;;)
		{
			Buffer		buf = dir_read(rel, blkno, partition, BUFFER_LOCK_SHARE);
			Page		page = BufferGetPage(buf);
			BlockNumber right = TopicPageGetOpaque(page)->next;
			int64		t = DIR_TRIMMED(page);
			int			n = dir_count(page);
			bool		unneeded = false;

			if (level < state.dir_level && BlockNumberIsValid(right))
			{
				Buffer		rbuf = dir_read(rel, right, partition, BUFFER_LOCK_SHARE);
				Page		rpage = BufferGetPage(rbuf);

				/*
				 * A right sibling still flagged split-incomplete has no
				 * parent entry yet: this page is its parent's last entry,
				 * the way down to the right edge (dir_rightmost), and stays
				 * until the next append finishes the split.  The flag is
				 * only ever cleared, so a sibling seen without it keeps its
				 * entry.  The same holds, flag or not, for a page that is
				 * the last entry of a parent with no right sibling: its own
				 * right sibling has no entry (a crash under a build before
				 * the flag left such pages).  Entries are only added, so
				 * either answer seen here stays true or gets safer.
				 */
				if (!(TopicPageGetOpaque(rpage)->flags & TOPIC_PAGE_SPLIT_INCOMPLETE) &&
					!parent_edge)
				{
					if (level > 0)
						unneeded = t >= n;
					else
						unneeded = dir_count(rpage) > 0 &&
							dir_entries(rpage)[0].seq <= live_seq;
				}
				UnlockReleaseBuffer(rbuf);
			}
			if (unneeded || level == 0 || t >= n)
			{
				if (unneeded)
					victim = blkno;
				UnlockReleaseBuffer(buf);
				break;
			}
			parent = blkno;
			parent_edge = (t == n - 1 && !BlockNumberIsValid(right));
			blkno = dir_entries(page)[t].blkno;
			UnlockReleaseBuffer(buf);
			level--;
		}
		if (!BlockNumberIsValid(victim) ||
			!dir_free_page(rel, partition, parent, victim, level))
			break;
		freed++;
	}
	return freed;
}
