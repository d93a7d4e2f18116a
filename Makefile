# pg_topics: PGXS build.  `make && make install`, then `make installcheck`
# against a running server (scripts/test does all of it on a throwaway cluster).

EXTENSION = pg_topics
MODULE_big = pg_topics
OBJS = \
	src/pg_topics.o \
	src/topic_storage.o \
	src/topic_xlog.o \
	src/topic_directory.o \
	src/topic_record.o \
	src/topic_visibility.o \
	src/topic_tableam.o \
	src/topic_vacuum.o \
	src/topic_api.o \
	src/murmur2.o

DATA = $(wildcard sql/pg_topics--*.sql)
PGFILEDESC = "pg_topics - log-structured topics for PostgreSQL"

# pg_regress looks in ./sql and ./expected; install scripts live there too,
# so regression tests never share a name with them.
REGRESS = $(filter-out pg_topics--%,$(patsubst sql/%.sql,%,$(wildcard sql/*.sql)))
REGRESS_OPTS = --load-extension=pg_topics
ISOLATION = $(patsubst test/specs/%.spec,%,$(wildcard test/specs/*.spec))
ISOLATION_OPTS = --inputdir=test --outputdir=output_iso --load-extension=pg_topics
TAP_TESTS = 1

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Wall -Werror -Wmissing-prototypes

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS runs prove on ./t; our TAP tests live in test/t.
PROVE_TESTS = test/t/*.pl

# Debian's PostgreSQL is built without --enable-tap-tests, so PGXS's
# prove_installcheck is a no-op there; run prove against the installed
# PostgreSQL::Test::Cluster modules ourselves.
PG_BINDIR := $(shell $(PG_CONFIG) --bindir)
PGXS_DIR := $(dir $(PGXS))..
.PHONY: tapcheck
tapcheck:
	rm -rf '$(CURDIR)'/tmp_check && mkdir -p '$(CURDIR)'/tmp_check
	TESTDIR='$(CURDIR)' PATH="$(PG_BINDIR):$$PATH" PGPORT='6$(DEF_PGPORT)' \
	PG_REGRESS='$(PGXS_DIR)/test/regress/pg_regress' \
	prove -I '$(PGXS_DIR)/test/perl' -I test/t $(PROVE_FLAGS) $(PROVE_TESTS)

EXTRA_CLEAN = output_iso tmp_check results regression.diffs regression.out

# PGXS does not track header dependencies: every object depends on the
# shared header (a stale object with an old struct layout crashes).
$(OBJS): src/pg_topics.h
