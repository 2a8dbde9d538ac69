-- Ticket webhook deliveries already applied (digest of the signed body), so a replayed delivery does nothing.
CREATE TABLE webhook_deliveries (
    digest       text PRIMARY KEY,
    system       text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
