-- Stall reasons per period ($5: month or quarter, UTC) in which the stalls began: which causes are growing.
-- Scope: $1 since, $2 until (submitted_at in [since, until); -infinity / infinity for no bound), $3 team,
-- $4 business_unit (NULL = no filter), $5 month or quarter. $6 and $7 bound the whole months (UTC) read from
-- the counters the writers keep, the whole portfolio's (migration 0014) or, for a team or business unit,
-- theirs (migration 0015): the caller sets them (db/reports_repo.cohort_months); the rest is counted from
-- the rows, in [since, $6) and [$7, until).
WITH counted AS (
    SELECT started_month, family, code, stalls::bigint AS n
    FROM report_stall_months
    WHERE submitted_month >= $6::timestamptz AND submitted_month < $7::timestamptz
      AND $3::text IS NULL AND $4::text IS NULL
    UNION ALL
    SELECT started_month, family, code, stalls
    FROM report_team_stall_months
    WHERE submitted_month >= $6::timestamptz AND submitted_month < $7::timestamptz
      AND ($3::text IS NOT NULL OR $4::text IS NOT NULL)
      AND ($3::text IS NULL OR team = $3) AND ($4::text IS NULL OR business_unit = $4)
    UNION ALL
    SELECT e.started_at, e.family, e.code, 1
    FROM report_stall_episodes e
    WHERE ((e.submitted_at >= $1::timestamptz AND e.submitted_at < $6::timestamptz)
        OR (e.submitted_at >= $7::timestamptz AND e.submitted_at < $2::timestamptz))
      AND ($3::text IS NULL OR e.team = $3) AND ($4::text IS NULL OR e.business_unit = $4)
)
SELECT date_trunc($5::text, started_month, 'UTC') AS period, family, code, sum(n)::int AS stalls
FROM counted
GROUP BY 1, 2, 3
HAVING sum(n) <> 0
ORDER BY 1, stalls DESC, family, code
