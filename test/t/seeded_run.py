"""What the seeded drivers of the TAP tests (compaction_model.py,
differential.py) share: their command line, SEED [STEPS] [--host DIR]
[--port N] [--trace] and options of their own, a log of the steps for the
report of a failure, and the exception a failed check raises."""
import sys

LOG = []
_trace = False


class Args:
    """The command line: seed, steps, host, port, trace; flag(name) for an
    option without a value, value(name) for one with (None when absent)."""

    def __init__(self, default_steps, default_port, default_host, valued=()):
        global _trace
        takes_value = ('--host', '--port') + tuple(valued)
        positional = []
        skip = False
        for a in sys.argv[1:]:
            if skip:
                skip = False
            elif a in takes_value:
                skip = True
            elif not a.startswith('--'):
                positional.append(a)
        self.seed = int(positional[0]) if positional else 1
        self.steps = int(positional[1]) if len(positional) > 1 else default_steps
        self.port = int(self.value('--port') or default_port)
        self.host = self.value('--host') or default_host
        self.trace = _trace = self.flag('--trace')

    @staticmethod
    def flag(name):
        return name in sys.argv

    @staticmethod
    def value(name):
        if name not in sys.argv:
            return None
        return sys.argv[sys.argv.index(name) + 1]


def log(s):
    LOG.append(s)
    if _trace:
        print(s, flush=True)


class Fail(Exception):
    pass


def fail(msg):
    raise Fail(msg)


def finish_run(ok, conns, adm, db):
    """Close the driver's connections; drop its database when every check
    passed (a failed one's stays for a look); exit 0 or 1."""
    for c in conns:
        try:
            c.close()
        except Exception:
            pass
    if ok:
        adm.cursor().execute('DROP DATABASE IF EXISTS %s' % db)
    sys.exit(0 if ok else 1)
