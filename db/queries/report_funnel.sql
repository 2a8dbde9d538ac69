-- Funnel: per lifecycle stage, how many initiatives in scope reached it, left it forward, or were scrapped in it.
-- A send-back and re-entry is another visit of the same stage, so every count is of distinct initiatives: the
-- rollup keeps one bit per stage for each question (bit n = stage n in lifecycle order), set by any visit.
-- Initiatives are first counted per combination of bits (a few dozen in any portfolio), then spread over stages.
-- Scope: $1 since, $2 until (submitted_at in [since, until)), $3 team, $4 business_unit; NULL = no filter.
-- The whole portfolio (no filter) is read from report_portfolio_facts, counted by the writers; a part of it is
-- counted now from report_initiative_facts (migration 0005). The branch that does not apply is planned away.
WITH combos AS (
    SELECT reached, advanced, scrapped, initiatives::bigint AS n
    FROM report_portfolio_facts
    -- a combination every initiative has left stays behind with a count of zero
    WHERE initiatives <> 0
      AND $1::timestamptz IS NULL AND $2::timestamptz IS NULL AND $3::text IS NULL AND $4::text IS NULL
    UNION ALL
    SELECT reached, advanced, scrapped, count(*)
    FROM report_initiative_facts
    WHERE NOT ($1::timestamptz IS NULL AND $2::timestamptz IS NULL AND $3::text IS NULL AND $4::text IS NULL)
      AND ($1::timestamptz IS NULL OR submitted_at >= $1)
      AND ($2::timestamptz IS NULL OR submitted_at < $2)
      AND ($3::text IS NULL OR team = $3)
      AND ($4::text IS NULL OR business_unit = $4)
    GROUP BY reached, advanced, scrapped
),
stages (stage, bit) AS (
    VALUES ('proposed', 1), ('poc', 2), ('infra_review', 4), ('it_signoff', 8), ('rollout', 16), ('production', 32)
)
SELECT (SELECT coalesce(sum(n), 0) FROM combos)::int AS total,
       s.stage,
       coalesce(sum(c.n) FILTER (WHERE c.reached & s.bit <> 0), 0)::int AS reached,
       coalesce(sum(c.n) FILTER (WHERE c.advanced & s.bit <> 0), 0)::int AS advanced,
       coalesce(sum(c.n) FILTER (WHERE c.scrapped & s.bit <> 0), 0)::int AS scrapped
FROM stages s
LEFT JOIN combos c ON true
GROUP BY s.stage
