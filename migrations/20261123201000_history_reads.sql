-- Why: what `history`, `show`, `compare`, `export` and `report` read beyond the first schema:
-- a per-job performance summary, the category a run evaluated, and the indexes their queries
-- use (checked with EXPLAIN QUERY PLAN in the test suite, so none of them scans `samples`).

-- One row per job, written when the job ends: load and evaluation time, token throughput,
-- latency percentiles, peak host memory and the GPU-use verdict. `detail` keeps the engine's
-- full telemetry (JSON) for later readers; the columns are what listings show.
CREATE TABLE job_stats (
    job_id                    INTEGER PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    batch_size                INTEGER,
    load_ms                   REAL,
    eval_ms                   REAL,
    requests                  INTEGER,
    prompt_tokens             INTEGER,
    output_tokens             INTEGER,
    tokens_per_second         REAL, -- generated tokens per second of decoding
    prefill_tokens_per_second REAL,
    ttft_p50_ms               REAL,
    ttft_p95_ms               REAL,
    latency_p50_ms            REAL,
    latency_p95_ms            REAL,
    latency_p99_ms            REAL,
    peak_rss_bytes            INTEGER,
    gpu_verdict               TEXT,
    detail                    TEXT  -- JSON
);

-- `history --category`: the category is part of a run's settings (`config.category`). A
-- virtual generated column costs no storage and lets an index serve the filter.
ALTER TABLE runs ADD COLUMN category TEXT
    GENERATED ALWAYS AS (json_extract(config, '$.category')) VIRTUAL;
CREATE INDEX runs_category ON runs (category, started_at_ms DESC);
