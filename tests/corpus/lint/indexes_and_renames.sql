-- Hand-written index work and renames.

CREATE INDEX events_created_at_idx ON events (created_at);

CREATE INDEX CONCURRENTLY events_kind_idx ON events (kind);

CREATE INDEX IF NOT EXISTS events_payload_idx ON events USING gin (payload);

CREATE INDEX accounts_active_idx ON accounts (id) WHERE deleted_at IS NULL;

CREATE INDEX accounts_lower_email_idx ON accounts (lower(email));

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS invoices_number_idx ON invoices (number);

DROP INDEX events_account_id_idx;

DROP INDEX IF EXISTS invoices_issued_on_idx;

DROP INDEX CONCURRENTLY invoices_account_id_idx;

DROP INDEX CONCURRENTLY IF EXISTS accounts_email_idx;

REINDEX INDEX invoices_issued_on_idx;

REINDEX INDEX CONCURRENTLY invoices_issued_on_idx;

REINDEX TABLE events;

ALTER INDEX accounts_email_idx RENAME TO accounts_email_lookup_idx;

ALTER INDEX IF EXISTS events_account_id_idx RENAME TO events_account_idx;

-- truth: breaks-app
ALTER TABLE accounts RENAME COLUMN plan TO plan_code;

-- truth: breaks-app
ALTER TABLE invoices RENAME TO bills;

-- truth: breaks-app
ALTER TABLE "User" RENAME COLUMN "name" TO "displayName";

-- truth: breaks-app
ALTER TABLE IF EXISTS "Comment" RENAME TO "PostComment";

ALTER TABLE accounts RENAME CONSTRAINT accounts_pkey TO accounts_id_pkey;

ALTER TABLE plans RENAME CONSTRAINT plans_pkey TO plans_code_pkey;

-- truth: breaks-app
ALTER VIEW active_accounts RENAME TO live_accounts;

ALTER TRIGGER accounts_audit ON accounts RENAME TO accounts_audit_update;

-- truth: breaks-app
ALTER TABLE accounts DROP COLUMN legacy_code;

-- truth: breaks-app
ALTER TABLE invoices DROP COLUMN IF EXISTS note;

-- truth: breaks-app
DROP TABLE audit_log;

CLUSTER events USING events_pkey;

ANALYZE accounts;
