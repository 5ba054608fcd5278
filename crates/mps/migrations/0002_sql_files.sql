-- The files of sql/functions/ applied to this database, each with the SHA-256 of the text that was
-- applied: at start-up (and `mps migrate`) a file runs again only when its text changed.
CREATE TABLE sql_files (
    file       text PRIMARY KEY,
    sha256     text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    applied_at timestamptz NOT NULL DEFAULT now()
);
