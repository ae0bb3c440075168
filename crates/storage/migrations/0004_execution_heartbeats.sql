-- Which server runs an execution, and when it last said so: a running
-- execution whose server stopped heartbeating is marked failed by any server.
ALTER TABLE executions ADD COLUMN owner TEXT;
ALTER TABLE executions ADD COLUMN heartbeat_at BIGINT;
