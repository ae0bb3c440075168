-- Only running executions are ever looked up by status (heartbeats and the
-- sweep of interrupted ones), so the index holds just those: finished
-- executions, nearly all of them, cost it nothing.
DROP INDEX executions_by_status;
CREATE INDEX executions_running ON executions (started_at) WHERE status = 'running';
