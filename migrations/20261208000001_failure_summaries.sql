-- Why: failures that explain themselves. Each failed sample keeps the kind of its failure
-- (`http_400`, `timeout`, `context_overflow`, `engine`, `sandbox`, ...) beside its message, and
-- each (job, dataset) keeps a summary of its failed samples: a count per kind and the first
-- example, written when the dataset's aggregates are. `show`, `history`, `report` and the run's
-- own table read the summary without touching `samples`.

ALTER TABLE samples ADD COLUMN error_kind TEXT; -- NULL for a success (and for failures stored
                                                -- before kinds existed)

CREATE TABLE failures (
    job_id  INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    dataset TEXT    NOT NULL,
    kind    TEXT    NOT NULL,
    count   INTEGER NOT NULL CHECK (count >= 1),
    -- the first failed sample's message, in item order: for HTTP the endpoint, the status and
    -- the server's own words
    example TEXT    NOT NULL,
    PRIMARY KEY (job_id, dataset, kind)
);
