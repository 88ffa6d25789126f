"""Entry file for `spark-submit`: the same CLI, with Spark started by spark-submit.

    spark-submit --master spark://host:7077 \\
        --packages org.apache.hadoop:hadoop-aws:3.5.0 \\
        "$(python -c 'import tweet_triage.spark_submit as m; print(m.__file__)')" \\
        combine --raw s3a://<bucket>/raw/

`tweet_triage.data.spark.spark_session` sees it runs under spark-submit and leaves the master
and driver settings to it (see docs/data.md).

spark-submit runs this file as a script, so Python puts its folder, the package itself, first
on sys.path; there the package's own modules would shadow the standard library's (pyspark
imports cProfile, which imports `profile`). That entry goes before anything is imported.
"""

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

from tweet_triage.cli import main

if __name__ == "__main__":
    main()
