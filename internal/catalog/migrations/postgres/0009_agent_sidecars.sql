-- An agent whose name, email, code or groups change makes the sidecars of
-- its interactions stale: find them by agent, and the stale ones at all.
CREATE INDEX interactions_by_agent ON interactions (tenant, agent_id);
CREATE INDEX interactions_sidecar_stale ON interactions (tenant, start_at) WHERE rev > sidecar_rev;
