-- API tokens may carry the metrics scope (GET /metrics).
ALTER TYPE "TokenScope" ADD VALUE 'metrics';
