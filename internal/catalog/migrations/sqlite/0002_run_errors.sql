-- A run that failed before or while it worked (a revoked credential, VCC down)
-- keeps its error, so every serve process shows the same tenant health.
ALTER TABLE runs ADD COLUMN error TEXT NOT NULL DEFAULT '';
