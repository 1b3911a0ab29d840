"""The officials' web interface and JSON API (`dossier serve`): a thin layer over
`pipeline/` and `indexer/`, with its own users, sessions and audit log in the store."""
