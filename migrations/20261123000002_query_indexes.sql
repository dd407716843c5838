-- Why: the indexes the read side needs, kept apart from the table definitions so their purpose
-- is visible. Each one serves a query of `history`, `show`, `compare`, `export` or resume.

-- history: runs newest first, optionally since a time.
CREATE INDEX runs_started_at ON runs (started_at_ms DESC);

-- show: the jobs of a run; history filtered by model, newest first.
CREATE INDEX jobs_run ON jobs (run_id);
CREATE INDEX jobs_model ON jobs (model, run_id);

-- samples need nothing more: their unique key (job_id, dataset, item_index, repeat_index, ...)
-- serves show / compare / export, and resume reads the rows of earlier jobs of the same model
-- (found through jobs_model) by that key's (job_id, dataset) prefix. An index on the hash alone
-- would be random-ordered and slow every insert.

-- history filtered by dataset and metric (the UNIQUE key already covers lookups by job).
CREATE INDEX aggregates_dataset_metric ON aggregates (dataset, metric, job_id);

-- show: a run's device readings in time order.
CREATE INDEX telemetry_run_time ON telemetry (run_id, t_ms);
