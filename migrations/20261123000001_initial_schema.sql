-- Why: the tables an evaluation writes. A run is one `assay run` invocation; a job is one model
-- on one set of devices within it; samples are per-item results; aggregates are dataset-level
-- metrics; telemetry holds device readings taken while jobs ran.
--
-- Conventions: times are Unix milliseconds (UTC) in INTEGER columns; JSON values are TEXT;
-- booleans are INTEGER 0/1. Statuses are checked so a typo cannot enter the database.

CREATE TABLE runs (
    id             INTEGER PRIMARY KEY,
    started_at_ms  INTEGER NOT NULL,
    finished_at_ms INTEGER,
    status         TEXT    NOT NULL
                   CHECK (status IN ('running', 'completed', 'failed', 'interrupted')),
    tool_version   TEXT    NOT NULL,
    catalog_hash   TEXT    NOT NULL,
    config         TEXT    NOT NULL, -- JSON: resolved settings of the run
    host           TEXT    NOT NULL, -- JSON: CPU, memory, OS
    gpus           TEXT    NOT NULL, -- JSON: GPU inventory ([] on a CPU host)
    error          TEXT
);

CREATE TABLE jobs (
    id                    INTEGER PRIMARY KEY,
    run_id                INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    model                 TEXT    NOT NULL,
    revision              TEXT    NOT NULL,
    weights_hash          TEXT,
    engine                TEXT    NOT NULL,
    dtype                 TEXT    NOT NULL,
    tp                    INTEGER NOT NULL CHECK (tp >= 1),
    devices               TEXT    NOT NULL, -- JSON array of device indices
    memory_estimate_bytes INTEGER,
    memory_measured_bytes INTEGER,
    status                TEXT    NOT NULL
                          CHECK (status IN ('pending', 'running', 'completed', 'failed', 'skipped')),
    error                 TEXT,
    started_at_ms         INTEGER,
    finished_at_ms        INTEGER
);

-- A sample is identified by a content hash over everything that determines its result (model,
-- revision and weights, engine, dtype, tool version, dataset hash, item, rendered prompt,
-- generation settings, repeat). Rows belong to the job that wrote them, and a job holds each
-- hash at most once: writing it again is ignored, except that a failed row is replaced by a
-- later success. A rerun looks hashes up in earlier jobs of the same model and copies finished
-- rows into its own job, so every job is complete on its own for show, compare and export.
--
-- The unique key leads with (job_id, dataset, item_index, repeat_index): rows arrive in about
-- that order, so the index grows at its end. A key led by the random hash would make every
-- batch rewrite pages all over the index (measured: about 5x slower ingest). The same key serves
-- reading a job's samples in item order and pairing two jobs' samples item by item.
CREATE TABLE samples (
    id             INTEGER PRIMARY KEY,
    job_id         INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    sample_hash    TEXT    NOT NULL,
    dataset        TEXT    NOT NULL,
    dataset_hash   TEXT    NOT NULL,
    item_index     INTEGER NOT NULL,
    repeat_index   INTEGER NOT NULL,
    prompt_hash    TEXT    NOT NULL,
    target         TEXT,
    output         TEXT,
    filtered       TEXT    NOT NULL, -- JSON object: filter pipeline name -> filtered output
    loglikelihoods TEXT,             -- JSON array, one per choice (null = -inf)
    scores         TEXT    NOT NULL, -- JSON object: metric key -> score
    error          TEXT,             -- set when the sample failed
    latency_ms     REAL,
    prompt_tokens  INTEGER,
    output_tokens  INTEGER,
    created_at_ms  INTEGER NOT NULL,
    UNIQUE (job_id, dataset, item_index, repeat_index, sample_hash)
);

CREATE TABLE aggregates (
    id               INTEGER PRIMARY KEY,
    job_id           INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    dataset          TEXT    NOT NULL,
    metric           TEXT    NOT NULL,
    filter           TEXT    NOT NULL,
    value            REAL    NOT NULL,
    stderr           REAL,
    n                INTEGER NOT NULL,
    n_scored         INTEGER NOT NULL,
    n_failed         INTEGER NOT NULL,
    partial          INTEGER NOT NULL CHECK (partial IN (0, 1)),
    higher_is_better INTEGER NOT NULL CHECK (higher_is_better IN (0, 1)),
    created_at_ms    INTEGER NOT NULL,
    UNIQUE (job_id, dataset, metric, filter)
);

CREATE TABLE telemetry (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    job_id          INTEGER REFERENCES jobs (id) ON DELETE CASCADE,
    t_ms            INTEGER NOT NULL,
    device          TEXT    NOT NULL, -- gpu0, gpu1, ... or cpu
    util_pct        REAL,
    mem_used_bytes  INTEGER,
    mem_total_bytes INTEGER,
    power_w         REAL,
    temp_c          REAL
);
