"""What every other subpackage stands on: the one user-facing error, careful file io, where the
stores live, config checking against dataclass annotations, run folders, progress lines, and
interrupt handling. Nothing in ``core`` imports another mechunlearn subpackage."""
