-- Stall reasons per period ($5: month or quarter, UTC) in which the stalls began: which causes are growing.
-- Scope as every report: $1 since, $2 until (submission time), $3 team, $4 business_unit; NULL = no filter.
SELECT date_trunc($5::text, started_at, 'UTC') AS period,
       family,
       code,
       count(*)::int AS stalls
FROM report_stall_episodes
WHERE ($1::timestamptz IS NULL OR submitted_at >= $1)
  AND ($2::timestamptz IS NULL OR submitted_at < $2)
  AND ($3::text IS NULL OR team = $3)
  AND ($4::text IS NULL OR business_unit = $4)
GROUP BY 1, family, code
ORDER BY 1, stalls DESC, family, code
