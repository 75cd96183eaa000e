"""The application layer of wbl-scheduler: the `wbl` CLI, synthetic rounds, and later the database glue."""
