"""The Flask web application of wbl-scheduler; filled in by the coordinator-review work."""
