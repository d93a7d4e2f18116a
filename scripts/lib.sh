# Shared helpers for scripts/setup, scripts/test and test/bench/run.
# Sourced, not executed.  Everything here must work on a fresh Debian 12
# machine as root (CI) or as a user with sudo (a developer laptop).

PG_MAJOR=15
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
PG_USER=${PG_USER:-postgres}

# The packages the build, the tests and the demo need.  postgresql-15 brings
# the server and creates the postgres user; postgresql-server-dev-15 brings
# PGXS, pg_regress, pg_isolation_regress and the PostgreSQL::Test perl
# modules; libipc-run-perl is what those modules run clusters with;
# python3-psycopg2 is the driver the consumer TAP test uses.
BASE_PACKAGES="postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-contrib
	make gcc libc6-dev libipc-run-perl perl python3 python3-psycopg2 ca-certificates"

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, else through sudo.
as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Run a command as the unprivileged cluster owner (PostgreSQL refuses root).
as_pg() {
	if [ "$(id -un)" = "$PG_USER" ]; then
		env PATH="$PG_BIN:$PATH" "$@"
	else
		as_root runuser -u "$PG_USER" -- env PATH="$PG_BIN:$PATH" HOME=/tmp "$@"
	fi
}

# Install whichever of the given Debian packages are missing (apt-get update
# only when something is missing, so a second run is fast and offline).
ensure_packages() {
	local missing="" p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	say "installing:$missing"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends $missing >/dev/null
}

# Build with PGXS and install into the Debian PostgreSQL 15 tree.
build_and_install() {
	local root=$1
	say "building pg_topics"
	make -C "$root" -s PG_CONFIG="$PG_BIN/pg_config" >/dev/null
	say "installing pg_topics into $($PG_BIN/pg_config --pkglibdir)"
	as_root make -C "$root" -s PG_CONFIG="$PG_BIN/pg_config" install >/dev/null
}

# initdb a throwaway or development cluster owned by $PG_USER.
#   init_cluster DATADIR PORT SOCKETDIR [extra postgresql.conf lines...]
init_cluster() {
	local data=$1 port=$2 sock=$3
	shift 3
	as_pg "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust \
		--encoding=UTF8 --locale=C.UTF-8 >/dev/null
	{
		echo "# pg_topics"
		echo "port = $port"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$sock'"
		echo "shared_preload_libraries = 'pg_topics'"
		for line in "$@"; do echo "$line"; done
	} | as_pg tee -a "$data/postgresql.conf" >/dev/null
}

start_cluster() {
	local data=$1 log=$2
	shift 2
	# any further arguments are NAME=value for the server's environment
	as_pg env "$@" "$PG_BIN/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null ||
		{ cat "$log" >&2; die "could not start the cluster in $data"; }
}

stop_cluster() {
	as_pg "$PG_BIN/pg_ctl" -D "$1" -m fast -w stop >/dev/null 2>&1 || true
}
