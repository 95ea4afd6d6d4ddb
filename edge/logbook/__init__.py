"""The gateway's operation and maintenance logbook (issue 6 item 7): entries in by ``minegate log add``, a watched
folder and a local ZeroMQ endpoint, tagged with the equipment and place they name, persisted in SQLite, and searched
for the most similar past incidents with the on-gateway text encoder.

``LogStore`` is what the hazard runtime reads (``recent``) and the CLI searches (``similar``).
"""

from edge.logbook.records import EntryFields, LogInputError
from edge.logbook.store import FileCursor, LogStore, LogStoreError, StoredEntry
from edge.logbook.tags import Tagger, Tags

__all__ = ["EntryFields", "FileCursor", "LogInputError", "LogStore", "LogStoreError", "StoredEntry", "Tagger", "Tags"]
