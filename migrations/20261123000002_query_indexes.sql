-- Why: the indexes the read side needs, kept apart from the table definitions so their purpose
-- is visible. Each one serves a query of `history`, `show`, `compare`, `export` or resume.

-- history: runs newest first, optionally since a time.
CREATE INDEX runs_started_at ON runs (started_at_ms DESC);

-- show: the jobs of a run; history filtered by model, newest first.
CREATE INDEX jobs_run ON jobs (run_id);
CREATE INDEX jobs_model ON jobs (model, run_id);

-- resume: "which of these hashes already have a finished row, in any job?"
CREATE INDEX samples_hash ON samples (sample_hash) WHERE error IS NULL;

-- show / compare / export: a job's samples of one dataset in item order, and pairing two jobs'
-- samples by (dataset, item, repeat).
CREATE INDEX samples_job_item ON samples (job_id, dataset, item_index, repeat_index);

-- history filtered by dataset and metric (the UNIQUE key already covers lookups by job).
CREATE INDEX aggregates_dataset_metric ON aggregates (dataset, metric, job_id);

-- show: a run's device readings in time order.
CREATE INDEX telemetry_run_time ON telemetry (run_id, t_ms);
