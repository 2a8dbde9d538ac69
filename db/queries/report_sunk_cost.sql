-- Sunk cost of scrapped initiatives per scrap reason (family, code) and the stage they were scrapped in:
-- PoC spend reported with the results (initiatives.poc_spend_usd) plus what was provisioned for them
-- (provisioned_resources.cost_usd, whatever the resource's state now).
-- Scope: $1 since, $2 until (submitted_at in [since, until)), $3 team, $4 business_unit; NULL = no filter.
WITH scrapped AS MATERIALIZED (
    SELECT e.initiative_id, e.reason_family, e.reason_code, e.stage, i.poc_spend_usd
    FROM lifecycle_events e
    JOIN initiatives i ON i.id = e.initiative_id
    WHERE e.kind = 'scrapped'
      AND ($1::timestamptz IS NULL OR i.submitted_at >= $1)
      AND ($2::timestamptz IS NULL OR i.submitted_at < $2)
      AND ($3::text IS NULL OR i.team = $3)
      AND ($4::text IS NULL OR i.business_unit = $4)
),
-- Spend and provisioning are summed separately so an initiative's spend is not repeated per resource.
spend AS (
    SELECT reason_family, reason_code, stage, count(*) AS initiatives, sum(poc_spend_usd) AS usd
    FROM scrapped
    GROUP BY reason_family, reason_code, stage
),
provisioning AS (
    SELECT s.reason_family, s.reason_code, s.stage, sum(pr.cost_usd) AS usd
    FROM scrapped s
    JOIN provisioned_resources pr ON pr.initiative_id = s.initiative_id
    GROUP BY s.reason_family, s.reason_code, s.stage
)
SELECT sp.reason_family AS family,
       sp.reason_code AS code,
       sp.stage,
       sp.initiatives::int AS initiatives,
       sp.usd::float8 AS poc_spend_usd,
       coalesce(pv.usd, 0)::float8 AS provisioning_usd,
       (sp.usd + coalesce(pv.usd, 0))::float8 AS total_usd,
       -- summed as numeric here so the grand total has no float rounding
       (sum(sp.usd + coalesce(pv.usd, 0)) OVER ())::float8 AS grand_total_usd
FROM spend sp
LEFT JOIN provisioning pv
    ON pv.reason_family = sp.reason_family AND pv.reason_code = sp.reason_code AND pv.stage = sp.stage
ORDER BY total_usd DESC, family, code, stage
