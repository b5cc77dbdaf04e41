"""Whether a process still runs: what the sweeps of dead sessions (embedded clusters, shared
records, throwaway databases) ask before they remove anything."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True unless no process ``pid`` exists (one of another user's, which may not be
    signalled, counts as alive: it is never ours to remove)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
