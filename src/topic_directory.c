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
 *	- each step of a split is its own GenericXLog record (a record covers at
 *	  most four pages).  If a crash leaves a sibling without its parent entry,
 *	  readers and later appends reach it through the right-link.
 *
 * Entries are stored as an array in the page contents; pd_lower marks the end
 * of the array, so full page images omit the free space.
 *
 * Only the holder of the partition's tail page lock appends to its directory
 * (see pg_topics.h), so appends of one partition never race each other.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_topics.h"

#include "access/generic_xlog.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"

#define DIR_CAPACITY	((int) (TOPIC_CONTENT_SIZE / sizeof(TopicDirEntry)))

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

static void
dir_page_add(Page page, const TopicDirEntry *entry)
{
	int			n = dir_count(page);

	Assert(n < DIR_CAPACITY);
	dir_entries(page)[n] = *entry;
	((PageHeader) page)->pd_lower += sizeof(TopicDirEntry);
}

static Buffer
dir_read(Relation rel, BlockNumber blkno, int32 partition, int mode)
{
	Buffer		buf = ReadBuffer(rel, blkno);
	Page		page;
	TopicPageOpaque opaque;

	LockBuffer(buf, mode);
	page = BufferGetPage(buf);
	opaque = TopicPageGetOpaque(page);
	if (PageIsNew(page) || opaque->page_id != TOPIC_PAGE_ID ||
		opaque->kind != TOPIC_PAGE_DIR || opaque->partition != partition)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("topic \"%s\" has an invalid directory page at block %u",
						RelationGetRelationName(rel), blkno)));
	return buf;
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
 * directory knows; InvalidBlockNumber when the key precedes every entry.
 */
static BlockNumber
dir_lookup(Relation rel, const TopicPartitionState *state, int64 seq, bool by_ts)
{
	BlockNumber blkno = state->dir_root;
	int32		partition;
	BlockNumber found = InvalidBlockNumber;

	if (!BlockNumberIsValid(blkno))
		return InvalidBlockNumber;

	/* the partition is implied by the state; read it off the root page */
	{
		Buffer		buf = ReadBuffer(rel, blkno);

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		partition = TopicPageGetOpaque(BufferGetPage(buf))->partition;
		UnlockReleaseBuffer(buf);
	}

	for (;;)
	{
		Buffer		buf = dir_read(rel, blkno, partition, BUFFER_LOCK_SHARE);
		Page		page = BufferGetPage(buf);
		TopicPageOpaque opaque = TopicPageGetOpaque(page);
		int			idx = dir_search(page, seq, by_ts);
		int			n = dir_count(page);
		BlockNumber right = opaque->next;
		uint16		level = opaque->level;
		BlockNumber child = idx >= 0 ? dir_entries(page)[idx].blkno : InvalidBlockNumber;

		UnlockReleaseBuffer(buf);

		/* B-link rule: the key may live to the right of this page */
		if (BlockNumberIsValid(right) && (idx == n - 1))
		{
			Buffer		rbuf = dir_read(rel, right, partition, BUFFER_LOCK_SHARE);
			Page		rpage = BufferGetPage(rbuf);
			bool		go_right = dir_count(rpage) > 0 &&
			dir_entry_before(&dir_entries(rpage)[0], seq, by_ts);

			UnlockReleaseBuffer(rbuf);
			if (go_right)
			{
				blkno = right;
				continue;
			}
		}

		if (!BlockNumberIsValid(child))
			return found;		/* key precedes this subtree */
		if (level == 0)
			return child;
		blkno = child;
	}
}

BlockNumber
topic_dir_lookup(Relation rel, const TopicPartitionState *state, int64 seq)
{
	return dir_lookup(rel, state, seq, false);
}

BlockNumber
topic_dir_lookup_ts(Relation rel, const TopicPartitionState *state, TimestampTz ts)
{
	return dir_lookup(rel, state, (int64) ts, true);
}

/* The rightmost page at "level", following right-links at every level. */
static BlockNumber
dir_rightmost(Relation rel, int32 partition, BlockNumber root, int level)
{
	BlockNumber blkno = root;

	for (;;)
	{
		Buffer		buf = dir_read(rel, blkno, partition, BUFFER_LOCK_SHARE);
		Page		page = BufferGetPage(buf);
		TopicPageOpaque opaque = TopicPageGetOpaque(page);
		int			n = dir_count(page);

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
		blkno = dir_entries(page)[n - 1].blkno;
		UnlockReleaseBuffer(buf);
	}
}

typedef struct RootArgs
{
	BlockNumber root;
	uint32		level;
} RootArgs;

static void
set_root(TopicPartitionState *state, void *arg)
{
	RootArgs   *a = (RootArgs *) arg;

	state->dir_root = a->root;
	state->dir_level = a->level;
}

/*
 * A new root above every page of the current top level (normally the old
 * root and its new sibling; more if an earlier split crashed before its
 * parent entry was made).
 */
static void
dir_new_root(Relation rel, int32 partition, const TopicPartitionState *state)
{
	Buffer		rootbuf = topic_new_buffer(rel);
	GenericXLogState *xs;
	Page		page;
	BlockNumber blkno = state->dir_root;
	RootArgs	args;

	xs = GenericXLogStart(rel);
	page = GenericXLogRegisterBuffer(xs, rootbuf, GENERIC_XLOG_FULL_IMAGE);
	dir_page_init(page, partition, state->dir_level + 1);
	while (BlockNumberIsValid(blkno))
	{
		Buffer		buf = dir_read(rel, blkno, partition, BUFFER_LOCK_SHARE);
		Page		child = BufferGetPage(buf);
		TopicDirEntry e;

		if (dir_count(child) > 0 && dir_count(page) < DIR_CAPACITY)
		{
			e = dir_entries(child)[0];
			e.blkno = blkno;
			dir_page_add(page, &e);
		}
		blkno = TopicPageGetOpaque(child)->next;
		UnlockReleaseBuffer(buf);
	}
	GenericXLogFinish(xs);

	args.root = BufferGetBlockNumber(rootbuf);
	args.level = state->dir_level + 1;
	UnlockReleaseBuffer(rootbuf);
	topic_update_state(rel, partition, set_root, &args);
}

static void
dir_insert(Relation rel, int32 partition, int level, const TopicDirEntry *entry)
{
	TopicPartitionState state;
	BlockNumber blkno;
	Buffer		buf;
	Page		page;
	GenericXLogState *xs;
	Buffer		newbuf;
	Page		newpage;
	TopicDirEntry up;

	topic_get_state(rel, partition, &state);
	blkno = dir_rightmost(rel, partition, state.dir_root, level);
	buf = dir_read(rel, blkno, partition, BUFFER_LOCK_EXCLUSIVE);

	if (dir_count(BufferGetPage(buf)) < DIR_CAPACITY)
	{
		xs = GenericXLogStart(rel);
		page = GenericXLogRegisterBuffer(xs, buf, 0);
		dir_page_add(page, entry);
		GenericXLogFinish(xs);
		UnlockReleaseBuffer(buf);
		return;
	}

	/* full: start a right sibling holding the new entry */
	newbuf = topic_new_buffer(rel);
	xs = GenericXLogStart(rel);
	page = GenericXLogRegisterBuffer(xs, buf, 0);
	newpage = GenericXLogRegisterBuffer(xs, newbuf, GENERIC_XLOG_FULL_IMAGE);
	dir_page_init(newpage, partition, level);
	dir_page_add(newpage, entry);
	TopicPageGetOpaque(page)->next = BufferGetBlockNumber(newbuf);
	GenericXLogFinish(xs);

	up = *entry;
	up.blkno = BufferGetBlockNumber(newbuf);
	UnlockReleaseBuffer(newbuf);
	UnlockReleaseBuffer(buf);

	if (level >= (int) state.dir_level)
		dir_new_root(rel, partition, &state);
	else
		dir_insert(rel, partition, level + 1, &up);
}

/*
 * Add the entry for a new data page.  Caller holds the partition's tail page
 * exclusively (so it is the only one appending to this directory) and no
 * other lock.
 */
void
topic_dir_append(Relation rel, int32 partition, int64 seq, TimestampTz ts_floor,
				 BlockNumber blkno)
{
	TopicPartitionState state;
	TopicDirEntry entry;

	memset(&entry, 0, sizeof(entry));
	entry.seq = seq;
	entry.ts_floor = ts_floor;
	entry.blkno = blkno;

	topic_get_state(rel, partition, &state);
	if (!BlockNumberIsValid(state.dir_root))
	{
		Buffer		buf = topic_new_buffer(rel);
		GenericXLogState *xs = GenericXLogStart(rel);
		Page		page = GenericXLogRegisterBuffer(xs, buf, GENERIC_XLOG_FULL_IMAGE);
		RootArgs	args;

		dir_page_init(page, partition, 0);
		dir_page_add(page, &entry);
		GenericXLogFinish(xs);
		args.root = BufferGetBlockNumber(buf);
		args.level = 0;
		UnlockReleaseBuffer(buf);
		topic_update_state(rel, partition, set_root, &args);
		return;
	}
	dir_insert(rel, partition, 0, &entry);
}
