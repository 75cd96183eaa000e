"""Database models of wbl-scheduler (SQLAlchemy 2.x); filled in by the rounds-in-a-database work."""
