"""Entry file for `spark-submit`: the same CLI, with Spark started by spark-submit.

    spark-submit --master spark://host:7077 \\
        --packages org.apache.hadoop:hadoop-aws:3.5.0 \\
        "$(python -c 'import tweet_triage.spark_submit as m; print(m.__file__)')" \\
        combine --raw s3a://<bucket>/raw/

`tweet_triage.data.spark.spark_session` sees it runs under spark-submit and leaves the master
and driver settings to it (see docs/data.md).
"""

from tweet_triage.cli import main

if __name__ == "__main__":
    main()
