-- Why: a job's measurements beyond its status: estimated vs measured duration and memory, the
-- split of its wall time (prepare, load, engine, storage), tokens per second, the telemetry
-- summary (peak RSS, CPU time, GPU memory, energy) and the per-device GPU-use verdict. Kept as
-- one JSON object so new figures need no schema change.
ALTER TABLE jobs ADD COLUMN measurements TEXT; -- JSON object, NULL until the job ends
