"""Configuration errors (HG-1xxx)."""

from __future__ import annotations

import errno

from xca.errors._base import HieGatewayError

__all__ = [
    "ConfigError",
    "PathAccessError",
    "PortInUseError",
    "path_problem",
]


class ConfigError(HieGatewayError, ValueError):
    """A setting has a value the gateway cannot use; ``detail['setting']`` names it."""

    code = "HG-1001"


class PathAccessError(ConfigError):
    """A file or folder named by a setting or an argument cannot be read or written; ``detail['path']``."""

    code = "HG-1002"


class PortInUseError(HieGatewayError):
    """The address a server (``serve``, ``respond``, ``sandbox``) must listen on is taken by another process;
    ``detail['port']``. Not a bad setting: the same port may be free once that process ends."""

    code = "HG-1003"


# Why a path failed, in the user's terms; other errors keep the system's own wording.
_PATH_PROBLEMS = {
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "exists and is not a folder",
    errno.ENOTDIR: "a part of this path is a file, not a folder",
    errno.EISDIR: "is a folder, a file is expected",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOSPC: "no space left on the device",
    errno.EROFS: "read-only file system",
}


def path_problem(exc: OSError) -> str:
    """What went wrong with the path of ``exc``, as :class:`PathAccessError` messages say it."""
    return _PATH_PROBLEMS.get(exc.errno or 0, exc.strerror or type(exc).__name__)
