"""The scripting commands of ``omc``, one module per command group.

``common`` holds what every group shares (the global options, the runner that turns failures
into one sentence and an exit code, the database and engine contexts, output); ``parser``
assembles the groups. Groups import ``common`` and nothing else of this package.
"""
