"""Stage 2, ingestion: the X filtered stream into Firehose, with nothing lost."""
