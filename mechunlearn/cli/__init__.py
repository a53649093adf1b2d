"""The ``mechunlearn`` command line: commands (:mod:`.app`, :mod:`.edit`, :mod:`.unlearn`, :mod:`.concept`,
:mod:`.models`), shared option parsing (:mod:`.options`) and how a command ends (:mod:`.errors`,
:mod:`.environment_errors`).

Nothing outside this subpackage imports it; it calls the library's public jobs in
:mod:`mechunlearn.pipeline`.
"""


def main() -> None:
    """The console script ``mechunlearn`` (imports the commands only when run)."""
    from mechunlearn.cli.app import main as run_app

    run_app()
