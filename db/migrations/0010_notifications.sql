-- Notifications. A notice is what a workflow asked to be told (recorded with its events, in the same
-- transaction, under a deterministic id); a delivery is one notice to one recipient over one channel, sent by
-- the API's notifier. Both ids are deterministic, so nothing is recorded or planned twice.
CREATE TABLE notices (
    id             text PRIMARY KEY,               -- <workflow id>/<key>
    initiative_id  text NOT NULL REFERENCES initiatives (id),
    kind           text NOT NULL,
    stage          text NOT NULL,
    visit          timestamptz NOT NULL,           -- when the stage visit it is about began
    roles          text[] NOT NULL DEFAULT '{}',
    people         text[] NOT NULL DEFAULT '{}',
    action         text NOT NULL,
    due_at         timestamptz,
    detail         text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL,           -- when the events it came with happened
    planned_at     timestamptz                     -- when its deliveries were planned (NULL: not yet)
);

CREATE INDEX notices_unplanned_idx ON notices (created_at) WHERE planned_at IS NULL;
CREATE INDEX notices_initiative_idx ON notices (initiative_id, created_at);

CREATE TABLE notification_deliveries (
    id               text PRIMARY KEY,             -- digest of (notice id, channel, recipient)
    notice_id        text NOT NULL REFERENCES notices (id),
    channel          text NOT NULL,                -- email | slack | teams
    recipient        text NOT NULL,                -- an email address, or the chat channel's name
    on_behalf_of     text,                         -- the person a delegate receives it for
    status           text NOT NULL DEFAULT 'pending',
        -- pending: to send; sending: an attempt began; sent; skipped (the gate moved on, or already approved);
        -- failed (gave up after the last attempt); unknown (an SMTP server may have taken it: not sent again)
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    sent_at          timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX notification_deliveries_due_idx ON notification_deliveries (next_attempt_at)
    WHERE status IN ('pending', 'sending');
CREATE INDEX notification_deliveries_notice_idx ON notification_deliveries (notice_id);
