-- 0002: shared state for per-key rate limits (parley.ratelimit.PostgresRateLimiter): one row per
-- key hash holding its GCRA "theoretical arrival time" (epoch seconds), so every server
-- process draws on the same budget. UNLOGGED: losing it in a crash only resets the budgets.
CREATE UNLOGGED TABLE IF NOT EXISTS parley_rate_limits (
    key_hash bytea PRIMARY KEY,
    tat double precision NOT NULL,
    allowed boolean NOT NULL
);
