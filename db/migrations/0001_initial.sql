-- The read model (initiatives, stage_intervals), the append-only event log (lifecycle_events) and the
-- tables of the built-in ticketing and provisioning adapters.

CREATE TABLE initiatives (
    id                   text PRIMARY KEY,
    workflow_id          text NOT NULL UNIQUE,
    title                text NOT NULL,
    team                 text NOT NULL,
    business_unit        text NOT NULL,
    sponsor              text NOT NULL,
    submitter            text NOT NULL,
    risk_tier            text NOT NULL,
    data_classification  text NOT NULL,
    procurement          text NOT NULL,
    deployment_target    text NOT NULL,
    budget_usd           numeric NOT NULL,
    policy_version       text NOT NULL,
    stage                text NOT NULL,
    status               text NOT NULL,
    stage_entered_at     timestamptz NOT NULL,
    awaiting_roles       text[] NOT NULL DEFAULT '{}',
    reason_code          text,
    poc_spend_usd        numeric NOT NULL DEFAULT 0,
    submitted_at         timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    last_event_seq       integer NOT NULL,
    spec                 jsonb NOT NULL
);

CREATE INDEX initiatives_stage_idx ON initiatives (stage);
CREATE INDEX initiatives_status_idx ON initiatives (status);
CREATE INDEX initiatives_team_idx ON initiatives (team);
CREATE INDEX initiatives_submitted_idx ON initiatives (submitted_at DESC);

CREATE TABLE lifecycle_events (
    event_id        text PRIMARY KEY,
    initiative_id   text NOT NULL REFERENCES initiatives (id),
    seq             integer NOT NULL,
    kind            text NOT NULL,
    stage           text NOT NULL,
    actor           text,
    role            text,
    reason_code     text,
    reason_family   text,
    detail          text NOT NULL DEFAULT '',
    data            jsonb NOT NULL DEFAULT '{}',
    occurred_at     timestamptz NOT NULL,
    policy_version  text NOT NULL,
    verified        boolean NOT NULL DEFAULT false,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX lifecycle_events_initiative_idx ON lifecycle_events (initiative_id, occurred_at, seq);
CREATE INDEX lifecycle_events_kind_idx ON lifecycle_events (kind, occurred_at);

CREATE TABLE stage_intervals (
    id              text PRIMARY KEY,
    initiative_id   text NOT NULL REFERENCES initiatives (id),
    stage           text NOT NULL,
    visit           integer NOT NULL,
    entered_at      timestamptz NOT NULL,
    left_at         timestamptz,
    outcome         text,
    reason_code     text,
    UNIQUE (initiative_id, stage, visit)
);

CREATE INDEX stage_intervals_open_idx ON stage_intervals (initiative_id) WHERE left_at IS NULL;

CREATE TABLE tickets (
    ref              text PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    initiative_id    text NOT NULL,
    system           text NOT NULL,
    kind             text NOT NULL,
    title            text NOT NULL,
    body             text NOT NULL DEFAULT '',
    status           text NOT NULL,
    opened_at        timestamptz NOT NULL DEFAULT now(),
    closed_at        timestamptz,
    comments         jsonb NOT NULL DEFAULT '[]'
);

CREATE INDEX tickets_initiative_idx ON tickets (initiative_id);

CREATE TABLE provisioned_resources (
    ref              text PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    initiative_id    text NOT NULL,
    provider         text NOT NULL,
    environment      text NOT NULL,
    status           text NOT NULL,
    spec             jsonb NOT NULL DEFAULT '{}',
    cost_usd         numeric NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz,
    deprovisioned_at timestamptz
);

CREATE INDEX provisioned_resources_initiative_idx ON provisioned_resources (initiative_id);
