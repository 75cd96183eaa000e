"""The application layer of wbl-scheduler: the `wbl` CLI and synthetic rounds."""
