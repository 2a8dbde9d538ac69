-- Settings for the transaction a report runs in (SET LOCAL ends with it).
-- Custom plans: the optional filters ("$3 IS NULL OR team = $3") are folded away only when the planner
-- sees the values, so a cached generic plan would scan everything even for one team.
SET LOCAL plan_cache_mode = force_custom_plan;
-- Percentiles and the stall pairing sort up to a few hundred thousand rows: keep the sorts in memory.
SET LOCAL work_mem = '64MB';
-- The report tables are read from memory, not disk: with the default random_page_cost the planner hashes
-- whole tables where looking up one team's few hundred rows by index is several times faster.
SET LOCAL random_page_cost = 1.1;
