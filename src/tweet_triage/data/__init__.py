"""Stage 3, data: PySpark jobs that sync, combine, filter, process, label and split tweets."""
