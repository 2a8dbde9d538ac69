-- Spend against budget (GET /v1/reports/spend): each initiative's budget, PoC spend, what its environments
-- cost as their provisioners reported it, and the monthly run-rate of those still provisioned (their cost per
-- 30 days since each was created, at least a day). A view: the spend report filters and groups it.
CREATE VIEW initiative_spend AS
SELECT i.id, i.title, i.team, i.business_unit, i.submitted_at, i.stage, i.budget_usd, i.poc_spend_usd,
       coalesce(c.provisioned_usd, 0) AS provisioned_usd,
       coalesce(c.run_rate_usd, 0) AS run_rate_usd
FROM initiatives i
-- one pass over the ledger (a hash join), not a lookup per initiative
LEFT JOIN (
    -- float8 arithmetic (date_part, not extract, which is numeric): numeric division made this 0.4 s
    SELECT pr.initiative_id,
           sum(pr.cost_usd) AS provisioned_usd,
           sum(pr.cost_usd::float8 * 30 / greatest(date_part('epoch', now() - pr.created_at) / 86400, 1))
               FILTER (WHERE pr.deprovisioned_at IS NULL AND pr.status NOT IN ('deprovisioned', 'failed'))
               AS run_rate_usd
    FROM provisioned_resources pr
    GROUP BY pr.initiative_id
) c ON c.initiative_id = i.id;
